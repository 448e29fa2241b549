#!/usr/bin/env python3
"""Peak memory of a tagging worker: reading and decoding one image, and the worker as a whole.

Run: .venv/bin/python bench/bench_memory.py [--worker]   (--worker: only the whole-worker figures)

Last, a whole worker of the default ViT-B-32-256 (random weights): torch and open_clip imported, the
model loaded as a worker loads it (image tower only) and 8 photos of 24 MP embedded in one batch; its peak
next to the same with the text tower kept (as before workers dropped it).

Each image is read and decoded (sidecar.decode.read_image + decode, as a tag worker does) in a fresh
process; printed is the process's peak resident memory above what it held after its imports, and the
wall time. The images are made here: a 24 MP JPEG, PNGs of 100 and 225 megapixels (RGB, hand-written so
that they stay small on disk), and the "needle" PNGs that used to exhaust memory (1 x 30,000 and
1 x 1,048,576 pixels; now refused from their header).
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from random_weights import random_checkpoint  # noqa: E402

sys.path.insert(0, str(ROOT / "tests" / "hostile"))
sys.path.insert(0, str(ROOT / "tests"))

CHILD = """
import resource, sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from sidecar.decode import decode, read_image
from xmp.errors import PhotobrainError
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.monotonic()
try:
    data, _ = read_image(Path(sys.argv[1]))
    decoded = decode(Path(sys.argv[1]), data, min_side=224)
    outcome = f"{{decoded.width}}x{{decoded.height}} -> {{decoded.image.size[0]}}x{{decoded.image.size[1]}}"
except PhotobrainError as exc:
    outcome = "refused: " + exc.reason
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"{{(peak - base) / 1024:.0f}}\\t{{time.monotonic() - started:.2f}}\\t{{outcome}}")
"""


WORKER = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
def high_water():  # this process's own peak (ru_maxrss would count the parent's size when it was forked)
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
t = time.monotonic()
import open_clip, torch
imported = high_water()
from sidecar.tagger import _Embedder
from sidecar.brains.spec import ModelSpec
embedder = _Embedder(ModelSpec("ViT-B-32-256", Path(sys.argv[1]), "bench"), {{}}, 250, threads=None)
if sys.argv[3] == "full":
    from sidecar.brains.local import LocalBrain
    embedder.brain = LocalBrain(embedder.spec)
items = embedder.process(sys.argv[2].split("|"))
assert all(i.vector is not None for i in items), [i.reason for i in items]
peak = high_water()
print(f"{{imported / 1024:.0f}}\t{{peak / 1024:.0f}}\t{{time.monotonic() - t:.1f}}")
"""


def worker(folder: Path) -> None:
    import numpy as np
    from PIL import Image

    checkpoint = random_checkpoint(folder, "ViT-B-32-256")
    photos = []
    for i in range(8):
        pixels = np.random.default_rng(i).integers(0, 255, (4000, 6000, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"w{i}.jpg", quality=90)
        photos.append(str(folder / f"w{i}.jpg"))
    for kind in ("image", "full"):
        out = subprocess.run([sys.executable, "-c", WORKER.format(root=str(ROOT)), str(checkpoint), "|".join(photos),
                              kind], capture_output=True, text=True, check=True).stdout.strip()
        imported, peak, wall = out.split("\t")
        label = "worker as tag runs it (image tower only)" if kind == "image" else "with the text tower kept"
        print(f"{label:<44} imports {imported} MB, peak {peak} MB after 8 x 24 MP ({wall} s)")


def main() -> None:
    from corpus import png
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        import numpy as np

        noise = np.random.default_rng(1).integers(0, 255, (4000, 6000, 3), dtype=np.uint8)
        Image.fromarray(noise).save(folder / "24mp.jpg", quality=90)
        del noise
        cases = {"24 MP JPEG (6000x4000, noise)": folder / "24mp.jpg"}
        for name, (w, h) in {"100 MP PNG (10000x10000 RGB)": (10000, 10000),
                             "225 MP PNG (15000x15000 RGB)": (15000, 15000),
                             "1 x 30,000 PNG": (1, 30000), "1 x 1,048,576 PNG": (1, 1_048_576)}.items():
            path = folder / (name.split(" (")[0].replace(" ", "_").replace(",", "") + ".png")
            path.write_bytes(png(w, h, mode=2) if w * h > 1_000_000 else png(w, h))
            cases[name] = path
        print(f"{'image':<32}{'file MB':>8}{'peak MB':>9}{'wall s':>8}  outcome")
        for name, path in cases.items():
            out = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT)), str(path)],
                                 capture_output=True, text=True, check=True).stdout.strip()
            peak, wall, outcome = out.split("\t")
            print(f"{name:<32}{path.stat().st_size / 1e6:>8.1f}{peak:>9}{wall:>8}  {outcome}")
        worker(folder)


if __name__ == "__main__":
    started = time.monotonic()
    if sys.argv[1:] == ["--worker"]:
        with tempfile.TemporaryDirectory() as tmp:
            worker(Path(tmp))
    else:
        main()
    print(f"(bench wall {time.monotonic() - started:.0f} s)")
