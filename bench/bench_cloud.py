#!/usr/bin/env python3
"""What the opt-in cloud brain costs on this machine, against a loopback fake of the Gemini API.

Run: .venv/bin/python bench/bench_cloud.py [--images N] [--latency S]

No request leaves the machine: the fake answers every request after ``--latency`` seconds (a stand-in
for the real service's time per image; measure your own with `photobrain privacy --json`).

Prints:
  1. per photo: CPU time to make the JPEG that is sent (decode at reduced size, resize to 384 px,
     encode), and its size, for the bundled sample photos and for 24-megapixel JPEGs;
  2. `photobrain tag --write sidecar` over N 24-megapixel JPEGs: --brain local, then --brain both with
     1, 4 and 8 requests in flight (cloud_jobs): whole-command wall time, and the bound set by the
     service alone (N x latency / jobs, plus the first request, which goes out alone);
  3. a re-run of --brain both over the same photos: requests sent (none: every photo is answered).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_tag import ARCH, make_jpegs  # noqa: E402
from fake_gemini import ENVIRONMENT, FakeGemini, ok  # noqa: E402

from sidecar.brains.gemini import prepare_image  # noqa: E402


def preparation(paths: list[Path]) -> tuple[float, list[int]]:
    """Median CPU ms to prepare one photo for sending, and the sizes sent."""
    times, sizes = [], []
    for path in paths:
        data = path.read_bytes()
        start = time.process_time()
        jpeg = prepare_image(path, data)
        times.append((time.process_time() - start) * 1000)
        sizes.append(len(jpeg))
    return float(np.median(times)), sizes


def tag(library: Path, checkpoint: Path, catalog: Path, env: dict, *extra: str) -> tuple[float, dict]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "sidecar", "tag", str(library), "--model", ARCH, "--pretrained",
                          str(checkpoint), "--catalog", str(catalog), "--write", "sidecar", "-q", "--json", *extra],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"photobrain tag failed:\n{out.stdout}\n{out.stderr}")
    return elapsed, json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=48, help="24 MP images for the tag runs")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds the fake service takes per request")
    args = parser.parse_args()
    import open_clip
    import torch

    samples = sorted(p for p in (ROOT / "samples").rglob("*") if p.suffix.lower() in (".jpg", ".png", ".webp"))
    fake = FakeGemini()
    fake.default = (*ok(), args.latency)
    with tempfile.TemporaryDirectory(prefix="photobrain-bench-") as tmp:
        work = Path(tmp)
        torch.manual_seed(0)
        checkpoint = work / f"{ARCH}-random.pt"
        torch.save(open_clip.create_model(ARCH, pretrained=None).state_dict(), checkpoint)
        photos = make_jpegs(work / "set", args.images, seed=1)

        print(f"machine: {os.cpu_count()} cores; model {ARCH} (random weights, real compute); fake service "
              f"latency {args.latency:g} s per request")
        sample_ms, sample_sizes = preparation(samples)
        big_ms, big_sizes = preparation(photos[:12])
        print("\n1. preparing the JPEG that is sent (median CPU per photo; bytes sent):")
        print(f"   {len(samples)} sample photos: {sample_ms:5.1f} ms; {min(sample_sizes) / 1000:.1f} to "
              f"{max(sample_sizes) / 1000:.1f} KB, median {np.median(sample_sizes) / 1000:.1f} KB")
        print(f"   24 MP JPEGs:      {big_ms:5.1f} ms; median {np.median(big_sizes) / 1000:.1f} KB")

        env = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT}
        env.update(PHOTOBRAIN_CACHE=str(work / "cache"), GOOGLE_GEMINI_BASE_URL=fake.url, GEMINI_API_KEY="bench")
        warm = work / "warm"
        make_jpegs(warm, 1, size=(640, 480), seed=3)
        tag(warm, checkpoint, work / "warm.db", {**env, "PHOTOBRAIN_CONFIG": str(work / "none.toml")})

        print(f"\n2. photobrain tag --write sidecar over {args.images} 24 MP JPEGs (whole command):")
        runs: list[tuple[str, int | None]] = [("local", None), ("both", 1), ("both", 4), ("both", 8)]
        rerun = (0, 0.0)
        for brain, jobs in runs:
            config = work / f"config-{jobs}.toml"
            config.write_text(f"cloud_jobs = {jobs or 4}\n")
            library = work / f"library-{brain}-{jobs}"
            shutil.copytree(work / "set", library)
            catalog = work / f"{brain}-{jobs}.db"
            sent = len(fake.requests)
            wall, result = tag(library, checkpoint, catalog, {**env, "PHOTOBRAIN_CONFIG": str(config)},
                               "--brain", brain, "--yes-cloud")
            if brain == "local":
                print(f"   --brain local                 {wall:6.1f} s ({args.images / wall:5.2f} photos/s)")
                continue
            assert jobs is not None
            bound = args.latency + (args.images - 1) * args.latency / jobs
            print(f"   --brain both, {jobs} in flight     {wall:6.1f} s ({args.images / wall:5.2f} photos/s); "
                  f"{len(fake.requests) - sent} requests; the service alone needs {bound:5.1f} s", flush=True)
            if jobs == 4:
                sent = len(fake.requests)
                again, _ = tag(library, checkpoint, catalog, {**env, "PHOTOBRAIN_CONFIG": str(config)},
                               "--brain", "both")
                rerun = (len(fake.requests) - sent, again)
            shutil.rmtree(library)
        print(f"\n3. re-run of --brain both over the same photos: {rerun[0]} requests, {rerun[1]:.1f} s")
    fake.close()


if __name__ == "__main__":
    main()
