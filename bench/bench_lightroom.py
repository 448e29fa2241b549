#!/usr/bin/env python3
"""What the Lightroom plug-in feels like: each menu item from the click to its end, as the plug-in's own code
runs it (real Lua 5.1 through lupa, the SDK stand-in of the tests, LrHttp on a real ``photobrain serve``).

Run: .venv/bin/python bench/bench_lightroom.py [--new 20] [--repeat 5]

The library: samples/ (33 photos) tagged with ViT-B-32-256 (seeded random weights: real compute) and
``--write none`` (what the plug-in's README suggests for a Lightroom library), plus ``--new`` camera-sized
(24 MP) JPEGs that arrive afterwards. The plug-in is installed as on a Mac. Prints:
  1. Find similar photos with no service running (the plug-in starts it), then warm (median of --repeat);
  2. Search photos... warm (median);
  3. Tag selected photos on the new photos (the model loads in the tag run), its peak memory, and the
     service's memory after;
  4. Tag selected photos again on every photo (all tagged already: no model), and Remove AI keywords.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "integrations"))
from bench_tag import ARCH, make_jpegs  # noqa: E402
from lightroom_host import Lightroom  # noqa: E402
from random_weights import random_checkpoint  # noqa: E402


class PeakMemory:
    """The largest resident memory, summed, of the tag run and its workers: the processes whose command line
    holds ``--paths-from`` and the multiprocessing workers they start (polled every 50 ms)."""

    MARKERS = (b"--paths-from", b"multiprocessing")

    def __init__(self):
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.wait(0.05):
            total = 0
            for entry in Path("/proc").iterdir():
                try:
                    if entry.name.isdigit() and any(m in (entry / "cmdline").read_bytes() for m in self.MARKERS):
                        for line in (entry / "status").read_text().splitlines():
                            if line.startswith("VmRSS:"):
                                total += int(line.split()[1]) * 1024
                except OSError:
                    continue
            self.peak = max(self.peak, total)


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--new", type=int, default=20, help="new 24 MP photos to tag")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="photobrain-bench-lightroom-"))
    home = work / "home"
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_DATA_HOME": str(home / ".local/share"), "XDG_CACHE_HOME": str(home / ".cache"),
           "PHOTOBRAIN_CONFIG": str(work / "none.toml")}
    env.pop("PHOTOBRAIN_CATALOG", None)
    env.pop("PHOTOBRAIN_CACHE", None)
    library = work / "Photos"
    shutil.copytree(ROOT / "samples", library, ignore=shutil.ignore_patterns("*.xmp", "*.md"))
    checkpoint = random_checkpoint(work)
    print(f"preparing: tagging samples/ with {ARCH} (random weights), --write none ...", flush=True)
    subprocess.run([sys.executable, "-m", "sidecar", "tag", str(library), "--model", ARCH, "--pretrained",
                    str(checkpoint), "--write", "none", "-q"], env=env, check=True, capture_output=True)
    subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; from integrations import installer; "
                    "from integrations.entries import default_program; "
                    "installer.install(installer.plan_for('lightroom', default_program(), Path.home(), 'darwin'))"],
                   env=env, check=True, capture_output=True)
    plugin = home / "Library/Application Support/Adobe/Lightroom/Modules/photobrain.lrplugin"
    new = make_jpegs(library / "card", args.new)
    (work / "tmp").mkdir()

    lr = Lightroom(plugin, work / "tmp", env)
    lr.sdk.prefs.cutoff = -100  # every photo, ranked: the collection is as large as it gets here
    photos = [lr.add_photo(p) for p in sorted(library.rglob("*")) if p.is_file()]
    by_path = {p.path: p for p in photos}
    lr.select(by_path[str(library / "landscapes/autumn valley.jpg")])

    def check() -> None:
        assert not lr.errors() and not [m for m in lr.messages() if m[0] == "critical"], (lr.errors(), lr.messages())

    try:
        cold = timed(lambda: lr.run("FindSimilar.lua"))
        check()
        warm = [timed(lambda: lr.run("FindSimilar.lua")) for _ in range(args.repeat)]
        size = len(next(iter(lr.collections().values()))[1])
        print(f"Find similar photos: {cold:.2f} s with the service started by the plug-in, "
              f"{statistics.median(warm) * 1000:.0f} ms warm (median of {args.repeat}); collection of {size} photos")
        lr.sdk.dialog = lr.lua.table_from({"button": "ok", "values": lr.lua.table_from({"query": "red bicycle at sunset"})})
        searches = [timed(lambda: lr.run("SearchPhotos.lua")) for _ in range(args.repeat)]
        check()
        print(f"Search photos...: {statistics.median(searches) * 1000:.0f} ms warm (median of {args.repeat}), "
              "dialog answered at once")

        lr.select(*[by_path[str(p)] for p in new])
        with PeakMemory() as peak:
            tag = timed(lambda: lr.run("TagPhotos.lua"))
        check()
        info = json.loads((home / ".local/share/photobrain/catalog.db.service.json").read_text())
        status = json.loads(subprocess.run(["curl", "-s", "-H", f"Authorization: Bearer {info['token']}",
                                            f"http://127.0.0.1:{info['port']}/status"], capture_output=True,
                                           text=True).stdout)
        print(f"Tag selected photos, {args.new} new 24 MP photos: {tag:.1f} s ({tag / args.new:.2f} s a photo, "
              f"the model's load included); tag run peak {peak.peak / 1e9:.2f} GB; service {status['memory_mb']} MB "
              f"after; {lr.bezels()[-1]}")

        lr.select(*photos)
        with PeakMemory() as peak:
            again = timed(lambda: lr.run("TagPhotos.lua"))
        check()
        print(f"Tag selected photos again, all {len(photos)} photos (tagged already): {again:.1f} s, "
              f"tag run peak {peak.peak / 1e6:.0f} MB; {lr.bezels()[-1]}")
        remove = timed(lambda: lr.run("RemoveKeywords.lua"))
        check()
        print(f"Remove AI keywords, {len(photos)} photos: {remove:.2f} s; {lr.bezels()[-1]}")
    finally:
        subprocess.run([sys.executable, "-m", "sidecar", "serve", "--stop"], env=env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
