#!/usr/bin/env python3
"""A real query through `photobrain serve` while local clients try to stall it.

Run: .venv/bin/python bench/bench_service.py [--slow 50]

samples/ is tagged (tiny model: the service's own work, not the model's, is measured), the service is
started, and 30 text queries are timed over raw sockets: first alone, then with one idle connection and
--slow clients that send half a request line and stop. Prints median and worst wall time of each.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slow", type=int, default=50)
    args = parser.parse_args()
    import tiny_clip

    from sidecar.tagger import TagOptions, run_tag

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        model = tiny_clip.build(base / "model")
        os.environ.update(PHOTOBRAIN_CACHE=str(base / "cache"), PHOTOBRAIN_CONFIG=str(base / "none.toml"))
        shutil.copytree(ROOT / "samples", base / "library", ignore=shutil.ignore_patterns("*.xmp", "*.md"))
        run_tag(TagOptions(paths=(base / "library",), catalog=base / "c.db", model=str(model.config_path),
                           pretrained=str(model.checkpoint_path), write="none", threshold=0.05, jobs=1),
                log=lambda m: None)
        service = subprocess.Popen([sys.executable, "-m", "sidecar", "serve", "--catalog", str(base / "c.db"),
                                    "--model", str(model.config_path), "--pretrained", str(model.checkpoint_path)],
                                   stderr=subprocess.PIPE, text=True)
        try:
            service.stderr.readline()  # "listening ..."
            info = json.loads((base / "c.db.service.json").read_text())
            port = info["port"]
            body = json.dumps({"query": "red flower", "n": 20, "model": str(model.config_path),
                               "pretrained": str(model.checkpoint_path)}).encode()
            request = (f"POST /search HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {info['token']}\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n").encode() + body

            def query() -> float:
                started = time.perf_counter()
                with socket.create_connection(("127.0.0.1", port)) as conn:
                    conn.sendall(request)
                    while conn.recv(65536):
                        pass
                return (time.perf_counter() - started) * 1000

            query()
            alone = [query() for _ in range(30)]
            stalling = [socket.create_connection(("127.0.0.1", port)) for _ in range(args.slow + 1)]
            for conn in stalling[1:]:
                conn.sendall(b"POST /search HTTP/1.1\r\nX-Slow: ")
            loaded = [query() for _ in range(30)]
            for conn in stalling:
                conn.close()
        finally:
            service.terminate()
            service.wait()
    print(f"query alone:                        median {statistics.median(alone):6.1f} ms, worst {max(alone):6.1f} ms")
    print(f"with 1 idle and {args.slow} slow clients:       median {statistics.median(loaded):6.1f} ms, "
          f"worst {max(loaded):6.1f} ms")


if __name__ == "__main__":
    main()
