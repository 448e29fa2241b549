#!/usr/bin/env python3
"""What the launcher page feels like: queries through its HTTP API, keystroke to first thumbnail in Chromium,
and thumbnails made (cold) and cached (warm).

Run: .venv/bin/python bench/bench_launcher.py [--sizes 50000,1000000] [--queries 200] [--typed 30]

Per size, a synthetic catalog of clustered 512-d vectors (bench_search.make_catalog) behind a warm
``photobrain serve`` running ViT-B-32-256's text tower (random weights, real compute). Every file of the
50,000-photo library is a hard link to one real 24-megapixel JPEG (6000 x 4000, 9 MB), so each result's
thumbnail is really made from a camera-sized photo (a larger library's files stay empty: only queries are
timed there). Prints:
  1. ``GET /api/search`` (what the page asks as the user types) end to end over HTTP, p50/p95,
     ``GET /api/similar`` on an indexed file, and the filters' lists (``GET /api/facets``) counted afresh;
  2. ``GET /thumb/HASH``: cold (made from the 24 MP JPEG, the cache empty) and warm (from the cache), p50/p95,
     and the cache's size per thumbnail;
  3. in Debian's Chromium (headless), from the keystroke that ends a query to the first result's thumbnail
     painted (the page's own performance.now() marks, the 150 ms typing pause included), p50/p95, with the
     thumbnail cache cold and then warm.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_search import ARCH, WORDS, clustered, make_catalog, percentiles, start_service  # noqa: E402
from random_weights import random_checkpoint  # noqa: E402

PHOTO_SIZE = (6000, 4000)


def camera_photo(path: Path) -> Path:
    """A 24 MP JPEG with detail in it (a sample photo scaled up), as a camera writes one."""
    from PIL import Image

    with Image.open(ROOT / "samples/landscapes/autumn valley.jpg") as sample:
        sample.convert("RGB").resize(PHOTO_SIZE, Image.Resampling.BICUBIC).save(path, quality=92)
    return path


def real_files(catalog_path: Path, paths: list[Path], photo: Path) -> None:
    """Every library file becomes a hard link to the camera photo (at most 60,000 links to one inode), recorded
    in the catalog as it now is (as 'tag' would have: not a changed file)."""
    from index.catalog import Catalog

    sources: list[Path] = []
    for i, path in enumerate(paths):
        if i % 60_000 == 0:
            sources.append(photo.with_name(f"photo-{i}.jpg"))
            shutil.copy(photo, sources[-1])
        path.unlink()
        os.link(sources[-1], path)
    with Catalog.open(catalog_path) as catalog:  # after the last link: each one changes the inode's ctime
        for i, path in enumerate(paths):
            st = path.stat()
            catalog.record_file(path, size=st.st_size, mtime_ns=st.st_mtime_ns, ctime_ns=st.st_ctime_ns,
                                inode=st.st_ino, digest=f"{i:032x}", status="ok")
        catalog.commit()


def start(catalog: Path, checkpoint: Path, env: dict) -> dict:
    server, _ = start_service(catalog, checkpoint, env)  # the catalog records no library: nothing is watched
    info = json.loads(catalog.with_name(catalog.name + ".service.json").read_text())
    info["process"] = server
    return info


def get(info: dict, path: str) -> bytes:
    request = urllib.request.Request(f"http://127.0.0.1:{info['port']}{path}",
                                     headers={"Authorization": f"Bearer {info['token']}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()


def api_queries(info: dict, paths: list[Path], queries: int) -> list[str]:
    from urllib.parse import quote

    texts = [f"{WORDS[i % len(WORDS)]} at {['dawn', 'noon', 'dusk', 'night'][i % 4]} {i}" for i in range(queries)]
    search, similar, hashes = [], [], []
    for text in texts:
        t = time.perf_counter()
        answer = json.loads(get(info, f"/api/search?q={quote(text)}&n=60&cutoff=-100"))
        search.append(time.perf_counter() - t)
        hashes.extend(hit["hash"] for hit in answer["hits"][:6])
    rng = np.random.default_rng(0)
    for i in rng.integers(len(paths), size=queries):
        t = time.perf_counter()
        get(info, f"/api/similar?path={quote(str(paths[i]))}&n=60")
        similar.append(time.perf_counter() - t)
    library = paths[0].parent.parent.parent
    t = time.perf_counter()
    facets = json.loads(get(info, f"/api/facets?in={quote(str(library))}"))
    counted = time.perf_counter() - t
    print(f"  1. GET /api/search (60 results) {percentiles(search)}; GET /api/similar {percentiles(similar)}; "
          f"GET /api/facets (the filters' lists, counted once a minute) {1000 * counted:.0f} ms "
          f"({len(facets['folders'])} folders)")
    return list(dict.fromkeys(hashes))


def thumbnails(info: dict, hashes: list[str], cache: Path) -> None:
    shutil.rmtree(cache, ignore_errors=True)
    cold, warm = [], []
    for digest in hashes[:60]:
        t = time.perf_counter()
        get(info, f"/thumb/{digest}")
        cold.append(time.perf_counter() - t)
    for digest in hashes[:60]:
        t = time.perf_counter()
        get(info, f"/thumb/{digest}")
        warm.append(time.perf_counter() - t)
    stored = list(cache.glob("*/*.jpg"))
    size = sum(p.stat().st_size for p in stored) / max(1, len(stored))
    print(f"  2. thumbnail of a 24 MP JPEG: cold (made) {percentiles(cold)}; warm (cached) {percentiles(warm)}; "
          f"{size / 1000:.0f} KB each on disk ({len(stored)} made; the 500 MB default holds ~{500e6 / size:,.0f})")


def in_chromium(info: dict, typed: int, cache: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    code = json.loads(urllib.request.urlopen(urllib.request.Request(
        f"http://127.0.0.1:{info['port']}/login-code", data=b"",
        headers={"Authorization": f"Bearer {info['token']}"}), timeout=10).read())["url"]
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="photobrain-chromium-")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,860",
                     f"--user-data-dir={profile}", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    try:
        driver.get(code)
        driver.execute_script("document.getElementById('cutoff').value = '-100'")
        box = driver.find_element(By.ID, "q")

        def run(words: list[str]) -> list[float]:
            driver.execute_script("window.photobrainTimings = []")
            for i, text in enumerate(words):
                box.send_keys(Keys.CONTROL, "a")
                box.send_keys(text)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    timings = driver.execute_script("return window.photobrainTimings")
                    if len(timings) > i:
                        break
                    time.sleep(0.01)
                time.sleep(0.2)
            timings = driver.execute_script("return window.photobrainTimings")
            return [(t["painted"] - t["typed"]) / 1000 for t in timings]

        words = [f"{WORDS[i % len(WORDS)]} {['morning', 'evening', 'rain', 'sun'][i % 4]} {i}" for i in range(typed)]
        shutil.rmtree(cache, ignore_errors=True)
        cold = run(words)
        driver.execute_cdp_cmd("Network.clearBrowserCache", {})
        warm = run(words)
        print(f"  3. Chromium, keystroke to first thumbnail painted (150 ms typing pause included): thumbnails cold "
              f"{percentiles(cold)}; warm (service cache) {percentiles(warm)}  [{len(cold)}/{len(warm)} queries]")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="50000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--typed", type=int, default=30)
    args = parser.parse_args()
    from sidecar.brains.local import LocalBrain
    from sidecar.brains.spec import ModelSpec
    from sidecar.vocab_embed import export_tower

    print(f"machine: {os.cpu_count()} cores; text model {ARCH} (random weights, real compute)")
    with tempfile.TemporaryDirectory(prefix="photobrain-launcher-") as tmp:
        base = Path(tmp)
        checkpoint = random_checkpoint(base, ARCH)
        fingerprint = ModelSpec(ARCH, checkpoint, "").fingerprint()
        env = {**os.environ, "PHOTOBRAIN_CACHE": str(base / "cache"), "PHOTOBRAIN_CONFIG": str(base / "none.toml")}
        os.environ["PHOTOBRAIN_CACHE"] = env["PHOTOBRAIN_CACHE"]
        export_tower(LocalBrain(ModelSpec(ARCH, checkpoint, "")), fingerprint)
        photo = camera_photo(base / "camera.jpg")
        for size in (int(s) for s in args.sizes.split(",")):
            work = base / f"n{size}"
            started = time.perf_counter()
            catalog, paths = make_catalog(work, clustered(size, seed=size), fingerprint)
            real = size <= 60_000
            if real:
                real_files(catalog, paths, photo)
            print(f"\n{size:,} photos (catalog made in {time.perf_counter() - started:.0f} s"
                  + (", every file a 24 MP JPEG)" if real else ", files empty: queries only)"))
            info = start(catalog, checkpoint, env)
            try:
                hashes = api_queries(info, paths, args.queries)
                if real:
                    thumbnails(info, hashes, base / "cache" / "thumbs")
                    in_chromium(info, args.typed, base / "cache" / "thumbs")
            finally:
                info["process"].terminate()
                info["process"].wait()
            shutil.rmtree(work)


if __name__ == "__main__":
    main()
