"""Importing a photo (and its sidecar) with the real darktable 4.2, headless, and reading what it imported.

``darktable-cli IMAGE [SIDECAR] OUT --core --library DB`` imports the image into a library database of
its own, reading its XMP the way darktable's import does, and exports it; the tags, rating and colour
labels it recorded are then read from that library (tags live in ``data.db`` beside it).
"""
from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

INTERNAL = ("darktable|",)  # darktable's own automatic tags (format, changed, exported...)


def darktable_import(image: Path, workdir: Path, sidecar: Path | None = None) -> tuple[set[str], int, set[int]]:
    """What darktable imports for ``image``: (tags with "|" as the separator, rating, colour label numbers)."""
    if workdir.exists():
        shutil.rmtree(workdir)
    (workdir / "conf").mkdir(parents=True)
    (workdir / "out").mkdir()
    command = ["darktable-cli", str(image), *([str(sidecar)] if sidecar else []), str(workdir / "out" / "x.jpg"),
               "--core", "--configdir", str(workdir / "conf"), "--library", str(workdir / "library.db")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env={"HOME": str(workdir), "PATH": "/usr/bin:/bin"})
    if done.returncode != 0:
        raise RuntimeError(f"darktable-cli failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}")
    with sqlite3.connect(workdir / "library.db") as con:
        con.execute(f"ATTACH '{workdir / 'conf' / 'data.db'}' AS d")
        tags = {name for (name,) in con.execute("SELECT t.name FROM tagged_images ti JOIN d.tags t ON t.id = ti.tagid")
                if not name.startswith(INTERNAL)}
        (flags,) = con.execute("SELECT flags FROM images").fetchone()
        labels = {c for (c,) in con.execute("SELECT color FROM color_labels")}
    return tags, flags & 0x7, labels
