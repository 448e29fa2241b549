#!/usr/bin/env python3
"""How long the built-in vocabulary takes to prepare for the default model, and what an edit costs.

Run: .venv/bin/python bench/bench_vocab.py

The default ViT-B-32-256 with random weights (real compute), a fresh cache each time, through
``sidecar.vocab_embed.concepts_for`` (what ``tag`` and ``models pull`` run). Prints:
  1. the first preparation (torch in a child process, shared openings computed once), whole;
  2. the same prompts through torch whole (open_clip, padding trimmed), as before; and through the ONNX tower;
  3. the concept embeddings of 1 and of the tower against 2's (cosine, the worst concept);
  then the tower's own export (once per model, after the first run's photos, or in ``models pull``);
  4. a vocabulary that extends the built-in one with one concept (and a synonym): what it encodes and how long;
  5. a second run: everything cached.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from random_weights import random_checkpoint  # noqa: E402

ARCH = "ViT-B-32-256"


def main() -> None:
    import torch

    from sidecar.brains.local import LocalBrain
    from sidecar.brains.spec import ModelSpec
    from sidecar.brains.text_tower import load_tower
    from sidecar.select import concept_matrix
    from sidecar.vocab import load_vocabulary, parse
    from sidecar.vocab_embed import concepts_for, ensure_tower, prompts_of

    print(f"machine: {os.cpu_count()} cores; {ARCH} (random weights, real compute); torch {torch.__version__} "
          f"on {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory(prefix="photobrain-vocab-") as tmp:
        base = Path(tmp)
        checkpoint = random_checkpoint(base, ARCH)
        spec = ModelSpec(ARCH, checkpoint, "bench")
        fingerprint = spec.fingerprint()
        vocab = load_vocabulary()
        prompts = prompts_of(vocab)
        os.environ["PHOTOBRAIN_CACHE"] = str(base / "cache")
        said: list[str] = []
        t = time.perf_counter()
        ours = concepts_for(spec, fingerprint, vocab, log=said.append)
        first = time.perf_counter() - t
        print(f"  1. first preparation, {len(prompts)} prompts of {len(vocab)} concepts: {first:.1f} s, whole "
              "(a child process starts, loads torch and the model, encodes, ends)")
        brain = LocalBrain(spec)
        t = time.perf_counter()
        theirs = concept_matrix(brain.embed_texts(prompts), vocab)
        print(f"  2. the same prompts through torch whole (padding trimmed, model loaded): {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        ensure_tower(spec, fingerprint)
        exported = time.perf_counter() - t
        tower = load_tower(fingerprint)
        assert tower is not None
        t = time.perf_counter()
        by_tower = concept_matrix(tower.embed_texts(prompts), vocab)
        print(f"     and through the ONNX text tower: {time.perf_counter() - t:.1f} s")
        for name, matrix in (("1 (shared openings)", ours), ("the tower", by_tower)):
            cosine = (matrix * theirs).sum(axis=1)
            print(f"  3. {name} vs 2, concept embeddings: cosine min {cosine.min():.7f}, mean {cosine.mean():.7f}")
        print(f"     the tower's export and check, in a child process: {exported:.1f} s")
        edited = parse("@extends builtin\n[animal/amphibian]\naxolotl (mexican walking fish)\n", "edit")
        said.clear()
        t = time.perf_counter()
        concepts_for(spec, fingerprint, edited, log=said.append)
        print(f"  4. one concept added (extends builtin): {time.perf_counter() - t:.2f} s; {said[0].split(': ', 1)[1]}")
        said.clear()
        t = time.perf_counter()
        concepts_for(spec, fingerprint, vocab, log=said.append)
        print(f"  5. again, all cached: {time.perf_counter() - t:.2f} s{'' if not said else ' (UNEXPECTED: ' + said[0] + ')'}")


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"(bench wall {time.monotonic() - started:.0f} s)")
