#!/usr/bin/env python3
"""How fast `photobrain tag` is on this machine, next to the machine's bound and a naive pipeline.

Run: .venv/bin/python bench/bench_tag.py [--images N] [--unchanged N] [--moved N]

Model: ViT-B-32-256 (the default architecture) with random weights saved as
a checkpoint: the compute is the same as with the real weights, which cannot
be downloaded here. Images: 24-megapixel JPEGs (6000x4000, about 9 MB), made
from a sample photo with fine noise so they compress like camera files.

Prints:
  1. single-threaded CPU time per image: draft-mode decode + preprocess, full decode + preprocess, model;
     the machine's bound = cores / (draft decode + model), and the draft path's embedding fidelity;
  2. `photobrain tag` end to end with --write none, sidecar and embed: the whole command's wall time,
     and its steady-state rate (from its first finished batch to its last: start-up excluded);
  3. a naive pipeline on the same images and model (full decode, open_clip preprocess, one process,
     torch on all cores);
  4. re-running `tag` over many unchanged files (whole process, start-up included);
  5. moving a folder of tagged files and re-running: model calls and time.
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

ARCH = "ViT-B-32-256"


def make_jpegs(folder: Path, count: int, size=(6000, 4000), seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    base = Image.open(ROOT / "samples/landscapes/autumn valley.jpg").convert("RGB").resize(size, Image.Resampling.BICUBIC)
    base_pixels = np.asarray(base, dtype=np.int16)
    rng = np.random.default_rng(seed)
    noise = rng.integers(-14, 15, size=base_pixels.shape, dtype=np.int16)  # sensor-like grain: camera-sized files
    paths = []
    for i in range(count):
        image = Image.fromarray(np.clip(base_pixels + np.roll(noise, 97 * i + seed, axis=1), 0, 255).astype(np.uint8))
        path = folder / f"IMG_{i:05d}.jpg"
        image.save(path, quality=94)
        paths.append(path)
    return paths


def cpu_seconds(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def single_threaded_costs(paths: list[Path], checkpoint: Path) -> dict:
    import torch

    from sidecar.brains.local import LocalBrain, ModelSpec
    from sidecar.decode import decode

    torch.set_num_threads(1)
    brain = LocalBrain(ModelSpec(ARCH, checkpoint, "bench"), threads=1)
    sample = paths[: min(8, len(paths))]
    datas = [p.read_bytes() for p in sample]

    def draft():
        return [brain.preprocess(decode(p, d, min_side=brain.input_size).image) for p, d in zip(sample, datas, strict=True)]

    def full():
        return [brain.preprocess(Image.open(io.BytesIO(d)).convert("RGB")) for d in datas]

    draft_cpu = cpu_seconds(draft) / len(sample)
    full_cpu = cpu_seconds(full) / len(sample)
    tensors = torch.stack(draft())
    with torch.inference_mode():
        brain.model.encode_image(tensors[:2])  # warm-up
        model_cpu = cpu_seconds(lambda: brain.model.encode_image(tensors)) / len(sample)
        fast = brain.model.encode_image(tensors)
        slow = brain.model.encode_image(torch.stack(full()))
    cosine = torch.nn.functional.cosine_similarity(fast, slow).min().item()
    return {"draft_ms": draft_cpu * 1000, "full_ms": full_cpu * 1000, "model_ms": model_cpu * 1000,
            "cosine_min": cosine}


def run_tag_cli(library: Path, checkpoint: Path, catalog: Path, env: dict, *extra: str) -> tuple[float, dict]:
    """Wall time of a whole `photobrain tag` command, and its --json result."""
    import json

    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "sidecar", "tag", str(library), "--model", ARCH,
                          "--pretrained", str(checkpoint), "--catalog", str(catalog), "-q", "--json", *extra],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"photobrain tag failed:\n{out.stdout}\n{out.stderr}")
    return elapsed, json.loads(out.stdout)


def naive_pipeline(paths: list[Path], checkpoint: Path) -> float:
    import open_clip
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    model, _, preprocess = open_clip.create_model_and_transforms(ARCH, pretrained=str(checkpoint))
    model.eval()
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(paths), 16):
            batch = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in paths[i:i + 16]])
            model.encode_image(batch)
    return len(paths) / (time.perf_counter() - start)


def unchanged_rerun(work: Path, count: int, checkpoint: Path, env: dict) -> float:
    """Catalog `count` files as tagged with the current settings, then time a whole `photobrain tag` over them."""
    from index.catalog import Catalog
    from sidecar.brains.spec import ModelSpec
    from sidecar.select import SelectionRule
    from sidecar.tagger import TagOptions, settings_fingerprint
    from sidecar.vocab import load_vocabulary

    library = work / "unchanged"
    small = io.BytesIO()
    Image.new("RGB", (32, 32), (90, 120, 200)).save(small, "JPEG")
    for i in range(count):
        folder = library / f"{i // 1000:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"IMG_{i:06d}.jpg").write_bytes(small.getvalue())
    options = TagOptions(paths=(library,), catalog=work / "unchanged.db")
    tagset = settings_fingerprint(ModelSpec(ARCH, checkpoint, "").fingerprint(), load_vocabulary(), SelectionRule(),
                                  options)
    with Catalog.open(options.catalog) as catalog:
        for path in sorted(library.rglob("*.jpg")):
            st = path.stat()
            catalog.record_image(f"h{st.st_ino}", 32, 32, "JPEG")
            catalog.record_file(path, size=st.st_size, mtime_ns=st.st_mtime_ns, digest=f"h{st.st_ino}", status="ok",
                                tagset=tagset)
        catalog.commit()
    return run_tag_cli(library, checkpoint, options.catalog, env)[0]


def moved_rerun(work: Path, count: int, checkpoint: Path, env: dict) -> tuple[int, float]:
    library = work / "moving"
    for i in range(count):
        folder = library / "2024"
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (256, 192), (i % 256, (i // 256) % 256, 77)).save(folder / f"IMG_{i:05d}.jpg", quality=90)
    catalog = work / "moving.db"
    run_tag_cli(library, checkpoint, catalog, env, "--write", "sidecar")
    shutil.move(library / "2024", library / "2024 holidays")
    elapsed, result = run_tag_cli(library, checkpoint, catalog, env, "--write", "sidecar")
    assert result["summary"]["moved"] == count, result["summary"]
    return result["embedded"], elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=48, help="24 MP images for the throughput runs (N and 2N)")
    parser.add_argument("--unchanged", type=int, default=50_000)
    parser.add_argument("--moved", type=int, default=1_000)
    args = parser.parse_args()
    if args.images < 24:
        parser.error("--images must be at least 24: the steady state is measured between batches of 8 per worker")
    import open_clip
    import torch

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="photobrain-bench-") as tmp:
        work = Path(tmp)
        torch.manual_seed(0)
        checkpoint = work / f"{ARCH}-random.pt"
        torch.save(open_clip.create_model(ARCH, pretrained=None).state_dict(), checkpoint)
        env = {**os.environ, "PHOTOBRAIN_CACHE": str(work / "cache"), "PHOTOBRAIN_CONFIG": str(work / "none.toml")}

        print(f"machine: {cores} cores; model {ARCH} (random weights, real compute); torch {torch.__version__}")
        print(f"making {args.images} 24-megapixel JPEGs ...", flush=True)
        first = make_jpegs(work / "set-a", args.images, seed=1)
        second = first[: max(8, args.images // 4)]
        size_mb = np.mean([p.stat().st_size for p in first]) / 1e6
        costs = single_threaded_costs(first, checkpoint)
        bound = cores / ((costs["draft_ms"] + costs["model_ms"]) / 1000)
        print(f"\n1. single-threaded CPU per image ({size_mb:.1f} MB JPEG, 6000x4000):")
        print(f"   draft decode + preprocess {costs['draft_ms']:7.1f} ms")
        print(f"   full decode + preprocess  {costs['full_ms']:7.1f} ms")
        print(f"   model ({ARCH})      {costs['model_ms']:7.1f} ms")
        print(f"   machine bound = {cores} / (draft + model) = {bound:.2f} images/s")
        print(f"   draft vs full path: embeddings' cosine similarity >= {costs['cosine_min']:.6f}")

        # the vocabulary's text embeddings are computed once per model: warm that cache first
        warm = work / "warm"
        make_jpegs(warm, 1, size=(640, 480), seed=3)
        run_tag_cli(warm, checkpoint, work / "warm.db", env, "--write", "none")  # also warms the OS file cache
        print(f"\n2. photobrain tag over {args.images} images, {cores} workers; steady state = images/s from the "
              "first finished batch to the last (start-up excluded):")
        steady = {}
        for mode in ("none", "sidecar", "embed"):
            lib = work / f"library-{mode}"
            shutil.copytree(work / "set-a", lib)
            wall, result = run_tag_cli(lib, checkpoint, work / f"all-{mode}.db", env, "--write", mode)
            steady[mode] = result["steady_images_per_second"]
            print(f"   --write {mode:<8} whole command {wall:5.1f} s ({args.images / wall:5.2f} images/s); steady state "
                  f"{steady[mode]:5.2f} images/s = {100 * steady[mode] / bound:.0f}% of the machine bound", flush=True)
            shutil.rmtree(lib)

        naive = naive_pipeline(second, checkpoint)
        print(f"\n3. naive pipeline (full decode, open_clip preprocess, one process, {cores} torch threads): "
              f"{naive:.2f} images/s")
        print(f"   photobrain (--write embed) is {steady['embed'] / naive:.1f}x faster")

        if args.unchanged:
            elapsed = unchanged_rerun(work, args.unchanged, checkpoint, env)
            print(f"\n4. re-running tag over {args.unchanged} unchanged files: {elapsed:.2f} s (whole command)")
        if args.moved:
            calls, elapsed = moved_rerun(work, args.moved, checkpoint, env)
            print(f"\n5. moving a folder of {args.moved} tagged files and re-running: {calls} model calls, "
                  f"{elapsed:.1f} s")


if __name__ == "__main__":
    main()
