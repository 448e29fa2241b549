#!/usr/bin/env python3
"""kill -9 aimed at the write phase of `photobrain tag`: no photo may lose a pixel or a user keyword.

Run: .venv/bin/python bench/bench_kill.py [--kills 40] [--mode auto|sidecar] [--copies 3]

(auto: embedded where the format allows, as the default; the HEIC sample gets a sidecar.)

A library of --copies copies of samples/ is tagged once; then, --kills times, a tag run with another
--max-tags (so every photo's tags change and each file is rewritten from stored embeddings) is started,
and once its first file has been rewritten it is killed with SIGKILL (with its worker processes) after a
random time within the write phase (measured on an unkilled run first). After every kill each photo is
checked: its image data (the content hash over the bytes that encode the pixels) and its user keywords
are what they were before any run. A last run without a kill must finish cleanly and leave no temporary
file behind.

Prints: kills, how many landed in the middle of the write phase, files checked, image data and user
keywords intact, temporary files left after the last run, wall time.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from xmp import content_hash, read_metadata, summarize  # noqa: E402


def state(path: Path) -> tuple[str, list[str]]:
    return content_hash(path), sorted(summarize(read_metadata(path)).user_keywords)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=40)
    parser.add_argument("--mode", choices=["auto", "sidecar"], default="auto")
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        import tiny_clip

        model = tiny_clip.build(base / "model")
        library = base / "library"
        for copy in range(args.copies):
            shutil.copytree(ROOT / "samples", library / f"copy {copy}", ignore=shutil.ignore_patterns("*.xmp", "*.md"))
        photos = sorted(p for p in library.rglob("*") if p.is_file())
        original = {p: state(p) for p in photos}
        env = {**os.environ, "HOME": str(base / "home"), "XDG_DATA_HOME": str(base / "data"),
               "XDG_CACHE_HOME": str(base / "cache"), "XDG_CONFIG_HOME": str(base / "config"),
               "PHOTOBRAIN_CATALOG": str(base / "catalog.db")}
        command = [sys.executable, "-m", "sidecar", "tag", str(library), "--write", args.mode, "--model",
                   str(model.config_path), "--pretrained", str(model.checkpoint_path), "-q"]
        command += ["--threshold", "0.05"]
        subprocess.run([*command, "--max-tags", "10"], env=env, check=True, capture_output=True)
        watched = [*photos, *(p.with_name(p.name + ".xmp") for p in photos)]

        def mtimes() -> dict[Path, int]:
            return {p: p.stat().st_mtime_ns if p.exists() else 0 for p in watched}

        def start(max_tags: int) -> tuple[subprocess.Popen, dict[Path, int], float]:
            """A tag run, returned once it rewrote its first file (with the time it did)."""
            before = mtimes()
            process = subprocess.Popen([*command, "--max-tags", str(max_tags)], env=env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, start_new_session=True)
            deadline = time.monotonic() + 120
            while process.poll() is None and time.monotonic() < deadline:
                if any((p.stat().st_mtime_ns if p.exists() else 0) != before[p] for p in watched):
                    break
                time.sleep(0.002)
            return process, before, time.monotonic()

        process, _, first_write = start(6)  # how long a write phase lasts, unkilled
        process.wait()
        span = time.monotonic() - first_write
        kills = mid_write = checked = pixels_ok = keywords_ok = left_by_kills = 0
        for n in range(args.kills):
            # another number of tags each time: every photo's tags change
            process, before, _ = start((4, 8, 5, 9)[n % 4])
            time.sleep(rng.uniform(0, 0.9 * span))
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                kills += 1
                changed = sum((p.stat().st_mtime_ns if p.exists() else 0) != before[p] for p in watched)
                mid_write += 0 < changed < len(photos)
            process.wait()
            left_by_kills += len(list(library.rglob(".*photobrain-tmp")))
            for photo in photos:
                now = state(photo)
                checked += 1
                pixels_ok += now[0] == original[photo][0]
                keywords_ok += now[1] == original[photo][1]
        last = subprocess.run([*command, "--max-tags", "10"], env=env, capture_output=True, text=True)
        leftovers = [p for p in library.rglob(".*photobrain-tmp")]
        final_ok = all(state(p) == original[p] for p in photos)
    print(f"photos {len(photos)} ({args.copies} copies of samples/), mode {args.mode}, write phase {span:.2f} s")
    print(f"kills {kills} of {args.kills} runs, {mid_write} in the middle of the write phase")
    print(f"checks {checked}: image data intact {pixels_ok}, user keywords intact {keywords_ok}")
    print(f"temporary files seen after the kills {left_by_kills} (dead runs': removed by the runs after); after the last run "
          f"{len(leftovers)}")
    print(f"last run exit {last.returncode}; all intact after it: {final_ok}")
    print(f"wall {time.monotonic() - started:.0f} s")
    sys.exit(0 if pixels_ok == keywords_ok == checked and final_ok and not leftovers and last.returncode == 0 else 1)


if __name__ == "__main__":
    main()
