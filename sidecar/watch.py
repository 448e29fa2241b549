"""Background tagging: photos that arrive in a library are tagged by the resident service, as they settle.

The service watches every library root of its catalog (watchdog: inotify, FSEvents or
ReadDirectoryChangesW) unless the library's profile says ``watch: false`` (``photobrain tag FOLDER
--no-watch``). A file event only marks the file pending; a file is tagged once its size and mtime have
stayed the same for ``settle`` seconds (a card reader copies slowly), in batches of at most ``batch``
files, each batch one ``photobrain tag`` process at low priority (``nice``, one worker), so a burst of
10,000 files is a handful of processes, never one per file, and torch never enters the service. A moved
or renamed file is recognised by its content hash in the catalog: the tag run records it as ``moved`` and
embeds nothing. A tag run's own embedded writes (which change the image file) are not taken for new
arrivals: a settled file the catalog already holds as it is now (size, mtime, ctime, inode) is left alone.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEventHandler

from xmp.formats import is_image

SETTLE_SECONDS = 5.0   # a file must keep its size and mtime this long before it is tagged
BATCH = 500            # files per tag process (a command line of ~100 KB at most)
CHECK_SECONDS = 1.0    # how often pending files are looked at
HISTORY = 20           # batches remembered for status
LIBRARIES_SECONDS = 30.0  # how often the catalog's list of libraries is read again (one tagged meanwhile)


def _stamp(path: Path) -> tuple[int, int] | None:
    """(size, mtime) of a regular file; None for anything else, or nothing."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns) if stat.S_ISREG(st.st_mode) else None


class Watcher:
    """Watches a catalog's libraries and tags what arrives; ``state()`` says what is pending."""

    def __init__(self, catalog: Path, *, log: Callable[[str], None] = lambda m: None, settle: float = SETTLE_SECONDS,
                 batch: int = BATCH, command: list[str] | None = None, libraries_every: float = LIBRARIES_SECONDS):
        self.catalog, self.log, self.settle, self.batch = Path(catalog), log, settle, batch
        self.libraries_every = libraries_every
        # the photobrain command the batches run (this interpreter's, so a venv's photobrain tags)
        self.command = command or [sys.executable, "-m", "sidecar"]
        self.roots: list[Path] = []
        self._pending: dict[Path, tuple[float, tuple[int, int] | None]] = {}  # path -> (last event, last stamp seen)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._tagging = 0
        self._tagged = 0
        self._history: deque[dict] = deque(maxlen=HISTORY)
        self._observer: Any = None
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        from watchdog.observers import Observer

        observer = Observer()
        observer.daemon = True
        observer.start()
        self._observer = observer
        self._handler = _Events(self)
        self._watches: dict[Path, Any] = {}
        self._follow_libraries()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="photobrain-watch")
        self._thread.start()
        if self.roots:
            self.log(f"photobrain serve: watching {len(self.roots)} librar{'y' if len(self.roots) == 1 else 'ies'} "
                     "for new photos")

    def stop(self) -> None:
        self._stop.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _follow_libraries(self) -> None:
        """Watch the libraries the catalog records now (one tagged since the service started, too)."""
        roots = self._watched_roots()
        for root in roots:
            if root not in self._watches:
                try:
                    self._watches[root] = self._observer.schedule(self._handler, str(root), recursive=True)
                except OSError as exc:  # gone meanwhile, or out of inotify watches: said, and tried again later
                    self.log(f"photobrain serve: cannot watch {root} ({exc})")
        for root in [r for r in self._watches if r not in roots]:
            self._observer.unschedule(self._watches.pop(root))
        self.roots = [r for r in roots if r in self._watches]

    def _watched_roots(self) -> list[Path]:
        from index.catalog import Catalog

        from .settings import recorded

        catalog = Catalog.open_readonly(self.catalog)
        if catalog is None:
            return []
        with catalog:
            libraries = catalog.libraries()
        return [lib.root for lib in libraries if recorded(lib.profile, "watch") is not False and lib.root.is_dir()]

    # -- events (watchdog's thread) ---------------------------------------------------------------

    def arrived(self, path: Path) -> None:
        """A file event (created, written, moved here): the file is pending, a folder's photos are."""
        if path.is_dir():
            from .files import iter_images

            for found in iter_images([path]):
                self.arrived(found)
            return
        if not is_image(path) or any(part.startswith(".") for part in self._below_root(path)):
            return  # hidden files and folders (a photo manager's trash, thumbnails, photobrain's temporary files)
        with self._lock:
            self._pending[path] = (time.monotonic(), self._pending.get(path, (0.0, None))[1])

    def _below_root(self, path: Path) -> tuple[str, ...]:
        for root in self.roots:
            try:
                return path.relative_to(root).parts
            except ValueError:
                continue
        return path.parts[-1:]

    # -- batches (the watcher's own thread) -------------------------------------------------------

    def _loop(self) -> None:
        followed = time.monotonic()
        while not self._stop.wait(CHECK_SECONDS):
            if time.monotonic() - followed > self.libraries_every:
                followed = time.monotonic()
                self._follow_libraries()
            ready = self._settled()
            for start in range(0, len(ready), self.batch):
                if self._stop.is_set():
                    return
                self._run(ready[start:start + self.batch])

    def _settled(self) -> list[Path]:
        """Pending files whose size and mtime have not moved for ``settle`` seconds (taken off the queue), less
        those the catalog already holds as they are: a tag run's own writes, ours or one the user started."""
        now = time.monotonic()
        ready = []
        with self._lock:
            for path, (event, seen) in list(self._pending.items()):
                stamp = _stamp(path)
                if stamp is None:  # gone again (a temporary file, moved on)
                    del self._pending[path]
                elif stamp != seen:
                    self._pending[path] = (now, stamp)  # still growing: wait a full settle time from now
                elif now - event >= self.settle:
                    del self._pending[path]
                    ready.append(path)
        ready = self._not_tagged(ready)
        with self._lock:
            self._tagging = len(ready)
        return sorted(ready)

    def _not_tagged(self, paths: list[Path]) -> list[Path]:
        if not paths:
            return paths
        from index.catalog import Catalog

        catalog = Catalog.open_readonly(self.catalog)
        if catalog is None:
            return paths
        left = []
        with catalog:
            for path in paths:
                row = catalog.file_row(path)
                try:
                    known = row is not None and row.status == "ok" and row.same_file(path.stat())
                except OSError:
                    known = True  # gone meanwhile: nothing to tag
                if not known:
                    left.append(path)
        return left

    def _run(self, paths: list[Path]) -> None:
        started = time.monotonic()
        self.log(f"photobrain serve: tagging {len(paths)} new photo(s) in the background")
        command = [*self.command, "tag", "--catalog", str(self.catalog), "--jobs", "1", "--json", *map(str, paths)]
        entry: dict = {"files": [str(p) for p in paths], "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        try:
            done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                  preexec_fn=_lower_priority if os.name == "posix" else None)
            entry.update(_outcome(done.stdout), exit=done.returncode)
            if done.returncode not in (0, 1):
                entry["error"] = (done.stderr.strip().splitlines() or ["the tag run failed"])[-1]
                self.log(f"photobrain serve: background tagging failed: {entry['error']}")
        except OSError as exc:
            entry.update(exit=None, error=str(exc))
        entry["seconds"] = round(time.monotonic() - started, 2)
        with self._lock:
            self._tagging = max(0, self._tagging - len(paths))
            self._tagged += len(paths)
            self._history.append(entry)

    # -- what status shows ------------------------------------------------------------------------

    def state(self) -> dict:
        with self._lock:
            return {"watching": [str(r) for r in self.roots], "pending": len(self._pending), "tagging": self._tagging,
                    "tagged": self._tagged, "batches": list(self._history)}


def _outcome(stdout: str) -> dict:
    """What a batch's ``tag --json`` reported: its counts, embedded images and each file's status."""
    try:
        data = json.loads(stdout)
    except ValueError:
        return {}
    runs = data.get("libraries", [data]) if isinstance(data, dict) else []
    summary: dict[str, int] = {}
    statuses: dict[str, str] = {}
    embedded = 0
    for run in runs:
        for key, count in (run.get("summary") or {}).items():
            summary[key] = summary.get(key, 0) + int(count)
        embedded += int(run.get("embedded") or 0)
        for entry in run.get("files") or []:
            statuses[entry.get("path")] = entry.get("status")
    return {"summary": summary, "embedded": embedded, "statuses": statuses}


def _lower_priority() -> None:  # in the child, before it runs: the user's own work comes first
    try:
        os.nice(10)
    except OSError:
        pass


class _Events(FileSystemEventHandler):
    """watchdog's callbacks, reduced to "this path arrived" (a folder: when it was created or moved here)."""

    def __init__(self, watcher: Watcher):
        super().__init__()
        self.watcher = watcher

    def dispatch(self, event) -> None:
        kind = event.event_type
        if kind == "moved":
            self.watcher.arrived(Path(os.fsdecode(event.dest_path)))
        elif kind == "created" or (kind in ("modified", "closed") and not event.is_directory):
            self.watcher.arrived(Path(os.fsdecode(event.src_path)))
