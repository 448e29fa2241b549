#!/usr/bin/env python3
"""How fast search and "find similar" are, next to the brute-force numpy search tools such as rclip use.

Run: .venv/bin/python bench/bench_search.py [--sizes 50000,200000,1000000] [--queries 200]

For each size, a synthetic catalog of clustered 512-d vectors (the default
model's width), with a real file (empty) behind every path, goes through
photobrain's own code: ``index.store.update_index`` builds the index the way
``tag`` does. Prints, per size:
  1. the index type, build time, size on disk, and its memory once mapped;
  2. vector search alone (one FAISS thread), p50/p95, and recall@10 against exact search;
  3. brute-force numpy search on the same vectors (``vectors @ query`` then a sort), p50/p95;
and at every size, through a warm ``photobrain serve``:
  4. its start-up time and resident memory (ready, and idle-warm after the queries); text queries end to end
     (HTTP, the ONNX text tower of ViT-B-32-256, vector search, keyword search, files resolved), p50/p95;
and at the largest size:
  5. ``similar`` on an indexed file, p50/p95;
  7. ``photobrain search QUERY`` from the command line through the service, whole process, and what it imported;
     the text encoding alone, ONNX Runtime against torch on 1 and 2 threads, with their embeddings' cosine and
     whether the exact top-10 over the catalog's vectors is the same;
and at 200k (or the size nearest it):
  6. the cold command line ``photobrain similar FILE``, whole process, and whether it imported torch.
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
sys.path.insert(0, str(ROOT / "bench"))
from random_weights import random_checkpoint  # noqa: E402

ARCH = "ViT-B-32-256"
DIM = 512
WORDS = "beach mountain harbour forest city street market garden lake river snow desert bridge tower".split()


def clustered(count: int, seed: int, clusters: int = 2000) -> np.ndarray:
    centres = np.random.default_rng(7).standard_normal((clusters, DIM)).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((count, DIM), dtype=np.float32)
    for start in range(0, count, 100_000):
        n = min(100_000, count - start)
        block = centres[rng.integers(clusters, size=n)] + 0.9 * rng.standard_normal((n, DIM)).astype(np.float32)
        out[start:start + n] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def make_catalog(work: Path, vectors: np.ndarray, fingerprint: str) -> tuple[Path, list[Path]]:
    """A catalog as `tag` leaves it: files (real, empty), images, embeddings, vector ids, keyword text."""
    from index.catalog import Catalog

    library = work / "library"
    catalog_path = work / "catalog.db"
    paths = []
    with Catalog.open(catalog_path) as catalog:
        model_id = catalog.model_id(fingerprint, f"clip:{ARCH}/random", DIM)
        for i, vector in enumerate(vectors):
            folder = library / f"{2000 + i // 50_000}" / f"{i // 1000:04d}"
            if i % 1000 == 0:
                folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"IMG_{i:07d}.jpg"
            path.touch()
            paths.append(path)
            digest = f"{i:032x}"
            catalog.record_image(digest, 6000, 4000, "JPEG")
            catalog.record_file(path, size=0, mtime_ns=path.stat().st_mtime_ns, digest=digest, status="ok")
            catalog.store_embedding(digest, model_id, vector)
            catalog.set_text(path, folders=f"{2000 + i // 50_000} {i // 1000:04d}",
                             tags=f"{WORDS[i % len(WORDS)]} ; {WORDS[(i * 7) % len(WORDS)]}",
                             keywords="Anna" if i % 997 == 0 else "")
            if i % 20_000 == 0:
                catalog.commit()
        catalog.commit()
    return catalog_path, paths


def percentiles(samples: list[float]) -> str:
    a = np.asarray(samples) * 1000
    return f"p50 {np.percentile(a, 50):7.2f} ms  p95 {np.percentile(a, 95):7.2f} ms"


def rss_mb() -> float:
    """Resident memory now (Linux), in MB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def bench_size(work: Path, size: int, queries: int, fingerprint: str) -> dict:
    from index.catalog import Catalog
    from index.store import files_for, update_index
    from index.vectors import VectorIndex, single_threaded

    vectors = clustered(size, seed=size)
    started = time.perf_counter()
    catalog_path, paths = make_catalog(work, vectors, fingerprint)
    made = time.perf_counter() - started
    started = time.perf_counter()
    with Catalog.open(catalog_path) as catalog:
        update_index(catalog, catalog.find_model(fingerprint), fingerprint)
    built = time.perf_counter() - started
    files = files_for(catalog_path, fingerprint)
    single_threaded()
    before = rss_mb()
    started = time.perf_counter()
    index = VectorIndex.load(files.index)
    loaded = time.perf_counter() - started
    probe = clustered(queries, seed=size + 1)
    timings, found = [], []
    for q in probe:
        t = time.perf_counter()
        _, ids = index.search(q, 10)
        timings.append(time.perf_counter() - t)
        found.append(ids[0])
    mapped = rss_mb() - before
    # what search does: the index's candidates re-scored exactly with the catalog's vectors
    from index.search import Searcher
    from index.store import load_background

    reranked, refined = [], []
    with Catalog.open(catalog_path, exclusive=False) as catalog:
        searcher = Searcher(catalog, catalog.find_model(fingerprint), index, load_background(catalog_path, fingerprint),
                            model_label="bench")
        for q in probe:
            t = time.perf_counter()
            top = searcher._semantic(q, 10, None, cutoff=-1e9)[:10]
            reranked.append(time.perf_counter() - t)
            refined.append([int(digest, 16) for digest, _, _ in top])
    # brute force as rclip does it: one matrix-vector product over every feature, then a sort
    brute, exact = [], []
    for q in probe:
        t = time.perf_counter()
        scores = vectors @ q
        top = np.argsort(-scores)[:10]
        brute.append(time.perf_counter() - t)
        exact.append(top)
    with Catalog.open(catalog_path, exclusive=False) as catalog:  # vector ids as the catalog gave them
        vid_of = dict(catalog.db.execute("SELECT hash, vid FROM vectors"))
    ids_of_rows = np.asarray([vid_of[f"{i:032x}"] for i in range(size)], dtype=np.int64)
    recall = float(np.mean([len(set(ids_of_rows[e]) & set(f)) / 10 for e, f in zip(exact, found, strict=True)]))
    recall_refined = float(np.mean([len(set(e) & set(f)) / 10 for e, f in zip(exact, refined, strict=True)]))
    print(f"\n{size:,} images (catalog made in {made:.0f} s, {catalog_path.stat().st_size / 1e6:.0f} MB)")
    print(f"  1. index {index.info.kind}" + (f" ({index.info.nlist} lists, nprobe {index.info.nprobe})"
                                             if index.info.kind != "flat" else "")
          + f": built in {built:.1f} s, {files.index.stat().st_size / 1e6:.0f} MB on disk, opened in "
          f"{1000 * loaded:.1f} ms (memory-mapped; {mapped:.0f} MB resident after {queries} queries)")
    print(f"  2. vector search, 1 FAISS thread: index alone {percentiles(timings)}, recall@10 vs exact {recall:.3f};")
    print(f"     with the candidates re-scored from the catalog (what search does) {percentiles(reranked)}, "
          f"recall@10 {recall_refined:.3f}")
    print(f"  3. brute-force numpy (vectors @ query, then a sort; numpy's threads): {percentiles(brute)}"
          f"; holds {vectors.nbytes / 1e6:.0f} MB of float32 vectors in memory")
    return {"catalog": catalog_path, "paths": paths}


def start_service(catalog: Path, checkpoint: Path | None, env: dict) -> tuple[subprocess.Popen, float]:
    """``photobrain serve`` on ``catalog`` (the library's own model when ``checkpoint`` is None); seconds to ready."""
    model = ["--model", ARCH, "--pretrained", str(checkpoint)] if checkpoint else []
    t = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "sidecar", "serve", "--catalog", str(catalog), *model],
                              cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    seen = ""
    while "listening" not in seen:
        line = server.stderr.readline()
        if not line:
            raise SystemExit(f"serve did not start: {seen}{server.stderr.read()}")
        seen += line
    return server, time.perf_counter() - t


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def texts_for(queries: int) -> list[str]:
    return [f"a photo of a {WORDS[i % len(WORDS)]} at {['dawn', 'noon', 'dusk', 'night'][i % 4]} number {i}"
            for i in range(queries)]


def service_memory(size: int, catalog: Path, checkpoint: Path, env: dict, queries: int) -> None:
    """Start-up time and resident memory of a warm, then idle, service; text query latency (figure 4)."""
    from sidecar.searching import SearchSettings
    from sidecar.service import call_service

    settings = SearchSettings(catalog=catalog, model=ARCH, pretrained=str(checkpoint))
    server, ready = start_service(catalog, checkpoint, env)
    try:
        started = resident_mb(server.pid)
        search = []
        for text in texts_for(queries):
            t = time.perf_counter()
            result = call_service(settings, "/search", {"query": text, "n": 20, "in": None, "cutoff": 3.0})
            search.append(time.perf_counter() - t)
            assert result is not None and result.served_by == "service"
        repeated = []
        for text in texts_for(queries)[:50]:
            t = time.perf_counter()
            call_service(settings, "/search", {"query": text, "n": 20, "in": None, "cutoff": 3.0})
            repeated.append(time.perf_counter() - t)
        print(f"  4. warm service at {size:,}: ready in {ready:.1f} s; resident {started:.0f} MB once ready, "
              f"{resident_mb(server.pid):.0f} MB idle-warm after {queries} text queries (no torch in it: "
              f"{'yes' if 'libtorch' not in Path(f'/proc/{server.pid}/maps').read_text() else 'NO'})")
        print(f"     text query end to end {percentiles(search)}; a query asked again (recent-query cache) "
              f"{percentiles(repeated)}")
    finally:
        server.terminate()
        server.wait()


def service_figures(work: Path, catalog: Path, paths: list[Path], checkpoint: Path, env: dict, queries: int) -> None:
    from sidecar.searching import SearchSettings
    from sidecar.service import call_service

    settings = SearchSettings(catalog=catalog, model=ARCH, pretrained=str(checkpoint))
    server, _ = start_service(catalog, checkpoint, env)
    try:
        similar = []
        rng = np.random.default_rng(0)
        for i in rng.integers(len(paths), size=queries):
            t = time.perf_counter()
            result = call_service(settings, "/similar", {"path": str(paths[i]), "n": 20, "in": None, "cutoff": 3.0})
            similar.append(time.perf_counter() - t)
            assert result is not None and result.same == [str(paths[i])]
        print(f"  5. warm service, similar on an indexed file: {percentiles(similar)}")
    finally:
        server.terminate()
        server.wait()
    cold_search(catalog, env)
    text_encoding(checkpoint, catalog, env, queries)


PEAK = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, done.returncode)")


def cold_search(catalog: Path, env: dict) -> None:
    """``photobrain search QUERY`` from the command line: without a service (cold), and while one runs."""
    times, peaks = [], []
    for i in range(3):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", PEAK, sys.executable, "-m", "sidecar", "search", f"lake {i}",
                              "--catalog", str(catalog), "-n", "10"], cwd=ROOT, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        peak, code = out.stdout.split()
        assert code == "0", out.stderr
        peaks.append(int(peak) / 1024)
    print(f"  6b. 'photobrain search QUERY' without a service (cold, whole process): median {np.median(times):.2f} s, "
          f"peak memory {max(peaks):.0f} MB")
    server, _ = start_service(catalog, None, env)  # the library's own model: the client needs no catalog
    try:
        times, imported = [], set()
        for i in range(10):
            t = time.perf_counter()
            out = subprocess.run([sys.executable, "-X", "importtime", "-m", "sidecar", "search",
                                  f"harbour at dusk {i}", "--catalog", str(catalog), "-n", "10"],
                                 cwd=ROOT, env=env, capture_output=True, text=True)
            times.append(time.perf_counter() - t)
            if out.returncode != 0:
                raise SystemExit(out.stderr[-2000:])
            imported.update(m for m in ("torch", "numpy", "index.catalog", "faiss") if f"| {m}\n" in out.stderr)
        print(f"  7. 'photobrain search QUERY' from the command line through the service (whole process): median "
              f"{np.median(times):.2f} s, max {max(times):.2f} s; imported: {', '.join(sorted(imported)) or 'none of '}"
              f"{'' if imported else 'torch, numpy, the catalog, faiss'}")
    finally:
        server.terminate()
        server.wait()


def text_encoding(checkpoint: Path, catalog: Path, env: dict, queries: int) -> None:
    """The text tower alone: ONNX Runtime (what search and the service use) against torch, and their agreement."""
    import torch

    from index.catalog import Catalog
    from sidecar.brains.local import LocalBrain
    from sidecar.brains.spec import ModelSpec
    from sidecar.brains.text_tower import load_tower

    spec = ModelSpec(ARCH, checkpoint, "bench")
    os.environ["PHOTOBRAIN_CACHE"] = env["PHOTOBRAIN_CACHE"]
    tower = load_tower(spec.fingerprint())
    assert tower is not None, "the service made no text tower"
    brain = LocalBrain(spec)
    texts = texts_for(queries)
    timings: dict[str, list[float]] = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        tower = load_tower(spec.fingerprint(), threads=threads)
        for name, encode in ((f"ONNX Runtime, {threads} thread(s)", lambda t, tower=tower: tower.embed_texts([t])),
                             (f"torch trimmed, {threads} thread(s)", lambda t: brain.embed_texts([t]))):
            encode("warm up")
            runs = timings.setdefault(name, [])
            for text in texts[:100]:
                t = time.perf_counter()
                encode(text)
                runs.append(time.perf_counter() - t)
    print("     text encoding alone: " + "; ".join(f"{name} {percentiles(runs)}" for name, runs in timings.items()))
    ours, theirs = tower.embed_texts(texts), brain.embed_texts(texts)
    cosine = (ours * theirs).sum(axis=1)
    with Catalog.open_existing(catalog) as opened:
        rows = opened.db.execute("SELECT vector FROM embeddings LIMIT 100000").fetchall()
    vectors = np.frombuffer(b"".join(r[0] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    same = sum(set(np.argsort(-(vectors @ a))[:10]) == set(np.argsort(-(vectors @ b))[:10])
               for a, b in zip(ours, theirs, strict=True))
    print(f"     ONNX vs torch on the {len(texts)} bench queries: cosine min {cosine.min():.6f}; "
          f"same exact top-10 (over {len(vectors):,} of the catalog's vectors) for {same} of {len(texts)}")


def cold_similar(catalog: Path, paths: list[Path], checkpoint: Path, env: dict) -> None:
    times, imported = [], set()
    for path in paths[: 5]:
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-X", "importtime", "-m", "sidecar", "similar", str(path), "--catalog",
                              str(catalog), "--model", ARCH, "--pretrained", str(checkpoint), "-n", "10", "--json"],
                             cwd=ROOT, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        if out.returncode != 0:
            raise SystemExit(out.stderr[-2000:])
        imported.update(m for m in ("torch", "open_clip") if f"| {m}\n" in out.stderr)
        json.loads(out.stdout)
    print(f"  6. cold command line 'photobrain similar FILE' (whole process): median {np.median(times):.2f} s, "
          f"max {max(times):.2f} s; imported torch: {'yes' if 'torch' in imported else 'no'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="50000,200000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    import torch

    from sidecar.brains.spec import ModelSpec

    print(f"machine: {os.cpu_count()} cores; {DIM}-d clustered vectors; text model {ARCH} (random weights, real "
          f"compute); torch {torch.__version__}")
    with tempfile.TemporaryDirectory(prefix="photobrain-search-") as tmp:
        base = Path(tmp)
        checkpoint = random_checkpoint(base, ARCH)
        fingerprint = ModelSpec(ARCH, checkpoint, "").fingerprint()
        # the config names the model, as a user's library profile would: 'serve' and 'search' need no flags
        (base / "config.toml").write_text(f"model = {ARCH!r}\npretrained = {str(checkpoint)!r}\n")
        env = {**os.environ, "PHOTOBRAIN_CACHE": str(base / "cache"), "PHOTOBRAIN_CONFIG": str(base / "config.toml")}
        os.environ["PHOTOBRAIN_CACHE"] = env["PHOTOBRAIN_CACHE"]
        from sidecar.brains.local import LocalBrain
        from sidecar.vocab_embed import export_tower

        export_tower(LocalBrain(ModelSpec(ARCH, checkpoint, "")), fingerprint)  # as 'models pull' leaves it
        cold_size = min(sizes, key=lambda s: abs(s - 200_000))
        for size in sizes:
            work = base / f"n{size}"
            made = bench_size(work, size, args.queries, fingerprint)
            if size == cold_size:
                cold_similar(made["catalog"], made["paths"], checkpoint, env)
            service_memory(size, made["catalog"], checkpoint, env, args.queries)
            if size == max(sizes):
                service_figures(work, made["catalog"], made["paths"], checkpoint, env, args.queries)
            shutil.rmtree(work)


if __name__ == "__main__":
    main()
