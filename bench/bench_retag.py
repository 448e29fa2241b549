#!/usr/bin/env python3
"""How fast retag is: scoring stored embeddings against the vocabulary, and a whole catalog-only retag.

Run: .venv/bin/python bench/bench_retag.py [--images 100000]

Prints:
  1. scoring N stored 512-d embeddings against the built-in vocabulary (1,930 concepts) with the tag rule,
     in the chunks retag uses;
  2. a whole `photobrain retag --write none --threshold 0.6` over a catalog of N tagged files (real, empty files;
     the vocabulary's text embeddings already cached, as after any tag run): wall time, images decoded;
  3. the same retag again: nothing changes, no file is written.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from random_weights import random_checkpoint  # noqa: E402

ARCH = "ViT-B-32-256"
DIM = 512


def unit(rows: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((rows, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=100_000)
    args = parser.parse_args()

    from index.catalog import Catalog
    from sidecar.brains.spec import ModelSpec
    from sidecar.select import SelectionRule, select
    from sidecar.settings import Config, resolve_settings
    from sidecar.tagger import TagOptions, settings_fingerprint
    from sidecar.vocab import load_vocabulary

    vocab = load_vocabulary()
    concepts = unit(len(vocab.concepts), 1)
    vectors = unit(args.images, 2)
    rule = SelectionRule()
    started = time.perf_counter()
    for start in range(0, len(vectors), 1024):
        select(vectors[start:start + 1024], concepts, vocab, rule)
    scoring = time.perf_counter() - started
    print(f"machine: {os.cpu_count()} cores")
    print(f"1. scoring {args.images:,} stored embeddings against {len(vocab.concepts):,} concepts: {scoring:.1f} s")

    with tempfile.TemporaryDirectory(prefix="photobrain-retag-") as tmp:
        work = Path(tmp)
        checkpoint = random_checkpoint(work, ARCH)
        spec = ModelSpec(ARCH, checkpoint, "")
        fingerprint = spec.fingerprint()
        cache = work / "cache"
        (cache / "text").mkdir(parents=True)
        np.save(cache / "text" / f"{fingerprint}-{vocab.fingerprint()}.npy", concepts)  # as a tag run leaves it
        library = work / "library"
        options = TagOptions(paths=(library,), catalog=work / "catalog.db", write="none")
        tagset = settings_fingerprint(fingerprint, vocab, rule, options)
        with Catalog.open(options.catalog) as catalog:
            model_id = catalog.model_id(fingerprint, f"clip:{ARCH}/random", DIM)
            for i, vector in enumerate(vectors):
                folder = library / f"{i // 1000:03d}"
                if i % 1000 == 0:
                    folder.mkdir(parents=True)
                path = folder / f"IMG_{i:06d}.jpg"
                path.touch()
                st = path.stat()
                digest = f"{i:032x}"
                catalog.record_image(digest, 6000, 4000, "JPEG")
                catalog.record_file(path, size=st.st_size, mtime_ns=st.st_mtime_ns, digest=digest, status="ok",
                                    tagset=tagset)
                catalog.store_embedding(digest, model_id, vector)
            # the library as a tag run records it (retag without PATH retags every library)
            settings = resolve_settings({"model": ARCH, "pretrained": str(checkpoint), "write": "none"}, None, Config(),
                                        catalog=options.catalog)
            catalog.add_library(library, {**settings.profile_values(), "model_fingerprint": fingerprint})
            catalog.commit()
        env = {**os.environ, "PHOTOBRAIN_CACHE": str(cache), "PHOTOBRAIN_CONFIG": str(work / "none.toml")}
        command = [sys.executable, "-m", "sidecar", "retag", "--catalog", str(options.catalog), "--model", ARCH,
                   "--pretrained", str(checkpoint), "--write", "none", "--threshold", "0.6", "-q", "--json"]
        for label in ("2. retag --threshold 0.6 (whole command)", "3. the same retag again (nothing to do)"):
            started = time.perf_counter()
            out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
            elapsed = time.perf_counter() - started
            if out.returncode != 0:
                raise SystemExit(out.stderr[-2000:])
            result = json.loads(out.stdout)
            print(f"{label}: {elapsed:.1f} s over {args.images:,} files; images decoded: {result['embedded']}; "
                  f"{result['summary']}")


if __name__ == "__main__":
    main()
