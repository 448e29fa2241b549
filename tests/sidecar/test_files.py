"""Scanning a library: what counts as a photo, and names of every kind."""
from __future__ import annotations

import os
from pathlib import Path

from sidecar.files import scan


def test_scan_finds_photos_and_skips_what_is_not_one(tmp_path: Path):
    for name in ["a.jpg", "b.JPEG", "c.CR2", "d.heic", "e.dng", "f.png.xmp", "g.xmp", "notes.txt", ".hidden.jpg",
                 ".a.jpg.1234.photobrain-tmp", "sub/h.tif", ".trash/i.jpg", "sub/deeper/j.webp"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = sorted(p.relative_to(tmp_path).as_posix() for p, _ in scan([tmp_path]))
    assert found == ["a.jpg", "b.JPEG", "c.CR2", "d.heic", "e.dng", "sub/deeper/j.webp", "sub/h.tif"]


def test_scan_survives_symlink_loops_and_odd_names(tmp_path: Path):
    (tmp_path / "album").mkdir()
    (tmp_path / "album" / "loop").symlink_to(tmp_path)
    odd = os.fsencode(tmp_path / "album") + b"/caf\xe9 \xff.jpg"  # Latin-1 bytes: not UTF-8
    with open(odd, "wb") as fh:
        fh.write(b"x")
    (tmp_path / "album" / "日本 photo  (1).jpg").write_bytes(b"x")
    found = [p for p, _ in scan([tmp_path])]
    assert len(found) == 2
    assert os.fsencode(found[0]) == odd or os.fsencode(found[1]) == odd
