"""Finding the images a command was pointed at."""
from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from xmp import is_image

# what xmp's atomic writes leave beside a file if the process dies between writing and renaming
# (xmp.write.temp_name: ``.NAME.PID-RANDOM.photobrain-tmp``; earlier versions wrote no process id)
_LEFTOVER = re.compile(r"^\..+\.(?:(\d+)-)?[0-9a-f]{8}\.photobrain-tmp$")
LEFTOVER_AGE = 3600  # seconds: without a process id to ask, younger ones may belong to a run writing right now
STALE_AGE = 86400  # no write takes a day: a process of that id alive now is another program


def is_leftover(name: str, st: os.stat_result, now: float | None = None) -> bool:
    """Whether ``name`` is a temporary file of a photobrain write that will never finish.

    Its process is gone (a crash, a kill -9: cleaned at the next run), or it is older than a day (by its ctime:
    ``--keep-mtime`` gives a temporary file the photo's old mtime); one without a process id in its name (an
    earlier version's) once its mtime is an hour old.
    """
    match = _LEFTOVER.match(name)
    if match is None or not stat.S_ISREG(st.st_mode):
        return False
    now = time.time() if now is None else now
    if match.group(1) is None:
        return now - st.st_mtime > LEFTOVER_AGE
    return now - st.st_ctime > STALE_AGE or not alive(int(match.group(1)))


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs. (Never ``os.kill`` on Windows: there any signal but Ctrl-C/Break terminates.)"""
    if pid == os.getpid():
        return True
    if os.name == "nt":
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # type: ignore[attr-defined]
        if not handle:
            return False
        ctypes.windll.kernel32.CloseHandle(handle)  # type: ignore[attr-defined]
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except OverflowError:  # no process can have that id
        return False
    return True


def iter_images(paths: Iterable[Path]) -> Iterator[Path]:
    """Yield image files under ``paths`` in a stable order (see :func:`scan`)."""
    for path, _ in scan(paths):
        yield path


def scan(paths: Iterable[Path], leftovers: list[Path] | None = None) -> Iterator[tuple[Path, os.stat_result | None]]:
    """Yield ``(path, stat)`` for the image files under ``paths``, sorted within each folder.

    Files named directly are yielded as they are, images or not (the caller
    reports those it cannot use; stat is None for one that does not exist).
    Folders are walked recursively: hidden folders and files, ``.xmp``
    sidecars and photobrain's temporary files are skipped, a symlinked folder
    is followed once (a loop is not followed again), and any name the file
    system allows, including bytes that are not UTF-8, comes through.
    ``leftovers`` collects photobrain temporary files older than an hour that
    an interrupted write left behind (see :func:`remove_leftovers`).
    """
    seen: set[tuple[int, int]] = set()
    for path in paths:
        path = Path(path)
        if path.is_dir():
            yield from _walk(path, seen, leftovers)
        else:
            try:
                yield path, path.stat()
            except OSError:
                yield path, None


def _walk(folder: Path, seen: set[tuple[int, int]], leftovers: list[Path] | None) -> Iterator[tuple[Path, os.stat_result]]:
    try:
        st = folder.stat()
    except OSError:
        return
    if (st.st_dev, st.st_ino) in seen:
        return
    seen.add((st.st_dev, st.st_ino))
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    subfolders = []
    for entry in entries:
        if entry.name.startswith("."):
            if leftovers is not None and _LEFTOVER.match(entry.name):
                try:
                    if is_leftover(entry.name, entry.stat(follow_symlinks=False)):
                        leftovers.append(Path(entry.path))
                except OSError:
                    pass
            continue
        try:
            if entry.is_dir():
                subfolders.append(Path(entry.path))
            elif entry.is_file() and is_image(Path(entry.name)):
                yield Path(entry.path), entry.stat()
        except OSError:
            continue
    for sub in subfolders:
        yield from _walk(sub, seen, leftovers)


def remove_leftovers(leftovers: list[Path]) -> int:
    """Delete temporary files interrupted writes left (never an original: they are only ever copies)."""
    removed = 0
    for path in leftovers:
        try:
            path.unlink()
            removed += 1
        except OSError:
            pass
    return removed
