"""Golden XMP files: exactly what photobrain writes for fixed inputs.

Run ``python tests/golden/regenerate.py`` after a deliberate change to the
output format, and review the diff before committing it.
"""
from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOLDEN = HERE
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from xmp import AITag, TagRequest, WriteOptions, write_tags  # noqa: E402
from xmp.exiv2 import Exiv2Image  # noqa: E402

NOW = "2026-01-02T03:04:05+00:00"
REQUEST = TagRequest(tags=(AITag(("animal", "dog"), 0.3125, "clip:ViT-B-32", "v1"),
                           AITag(("scene", "lake"), 0.2511, "clip:ViT-B-32", "v1")),
                     caption="Boats on a lake", alt_text="Wooden rowing boats on a lake shore at dusk")


def embedded_packet(workdir: Path) -> str:
    target = workdir / "boats.jpg"
    shutil.copy2(ROOT / "samples/landscapes/boats at evening glow.jpg", target)
    write_tags(target, REQUEST, WriteOptions(mode="embed"), clock=lambda: NOW)
    image = Exiv2Image(target, target.read_bytes())
    try:
        # exiv2 writes the packet on one line with padding: one element a line is reviewable
        return re.sub(r">\s+<", ">\n<", image.read_raw_xmp().strip()) + "\n"
    finally:
        image.close()


def new_sidecar(workdir: Path) -> str:
    target = workdir / "IMG_0001.CR2"
    target.write_bytes(b"not parsed: raw files are never opened for writing")
    write_tags(target, REQUEST, WriteOptions(mode="sidecar"), clock=lambda: NOW)
    return (workdir / "IMG_0001.CR2.xmp").read_text(encoding="utf-8")


def darktable_sidecar(workdir: Path) -> str:
    target = workdir / "IMG_0002.CR2"
    target.write_bytes(b"raw")
    shutil.copy(GOLDEN / "darktable-input.xmp", workdir / "IMG_0002.CR2.xmp")
    write_tags(target, REQUEST, WriteOptions(mode="sidecar"), clock=lambda: NOW)
    return (workdir / "IMG_0002.CR2.xmp").read_text(encoding="utf-8")


OUTPUTS = {"embedded-boats.xmp": embedded_packet, "new-sidecar.xmp": new_sidecar,
           "darktable-output.xmp": darktable_sidecar}

if __name__ == "__main__":
    for name, make in OUTPUTS.items():
        with tempfile.TemporaryDirectory() as tmp:
            (GOLDEN / name).write_text(make(Path(tmp)), encoding="utf-8")
            print(f"wrote {GOLDEN / name}")
