"""Finding the images a command was pointed at."""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from xmp import is_image


def iter_images(paths: Iterable[Path]) -> Iterator[Path]:
    """Yield image files under ``paths`` in a stable order.

    Files named directly are yielded as they are (the caller reports those
    that are not images); folders are walked recursively, skipping hidden
    folders and files, sidecars and photobrain's temporary files, and never
    following a symlinked folder twice.
    """
    for path in paths:
        path = Path(path)
        if path.is_dir():
            yield from _walk(path)
        else:
            yield path


def _walk(root: Path) -> Iterator[Path]:
    seen: set[tuple[int, int]] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            candidate = Path(folder) / name
            if not name.startswith(".") and is_image(candidate):
                yield candidate
