"""``photobrain action similar|search|tag``: what the right-click entries of file managers and photo managers run.

An entry has no terminal: whatever happens is told in a desktop notification and written to ``actions.log`` in
photobrain's data folder. Arguments are the files as the file manager hands them: absolute or relative paths,
or ``file://`` URIs (Nemo's ``%U``, which no quoting rule of any file manager can bend).

``tag`` gathers: Windows Explorer starts one process per selected file, and a user may choose "Tag with
photobrain" twice. Each invocation leaves its files in a queue; the first one that finds no tag run going waits
a moment for the others, then tags everything queued in one ``photobrain tag`` (one model in memory), again while
more arrive. The others return at once.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlsplit

from xmp.errors import PhotobrainError

from .files import alive
from .notify import Notifier
from .progress import follow

GATHER_SECONDS = 1.0  # how long the first invocation waits for its siblings' files (Explorer starts them ~50 ms apart)
UPDATE_SECONDS = 2.0  # at most one progress notification this often
TITLE = "photobrain"


def places() -> tuple[Path, Path]:
    """The actions' log and their tag queue folder."""
    from .places import data_dir

    return data_dir() / "actions.log", data_dir() / "actions" / "tag-queue"


def argument_path(argument: str, *, windows: bool = os.name == "nt") -> Path:
    """A file manager's argument as an absolute path: a ``file://`` URI is decoded to the file's own bytes."""
    if windows and argument.endswith('"'):
        # Explorer's "%1" for a drive's root is "D:\", which the C runtime reads as D: and a quote
        argument = argument[:-1] + "\\"
    if argument.startswith("file://"):
        parts = urlsplit(argument)
        if parts.netloc not in ("", "localhost"):
            raise PhotobrainError(None, f"{argument} is on another machine ({parts.netloc})",
                                  "photobrain works on files of this computer; copy the photo here first")
        return Path(os.fsdecode(unquote_to_bytes(parts.path)))
    return Path(argument if windows and argument[1:3] == ":\\" else os.path.abspath(argument))


def new_in_a_library(catalog: Path, path: Path) -> bool:
    """A photo inside one of the catalog's libraries that the catalog does not hold yet: "Find similar" tags it
    first (as the service's background tagging would, minutes later), so that it has photos like it to show."""
    from index.catalog import Catalog
    from xmp.formats import is_image

    if not path.is_file() or not is_image(path):
        return False
    opened = Catalog.open_readonly(catalog)
    if opened is None:
        return False
    try:
        row = opened.file_row(path)
        return (row is None or row.status != "ok") and opened.library_of(path) is not None
    finally:
        opened.close()


# -- tag: gathered, run as one 'photobrain tag', told in notifications -------------------------------------------

def tag(arguments: list[str], notifier: Notifier, *, queue: Path, gather: float = GATHER_SECONDS,
        command: list[str] | None = None) -> int:
    """Queue ``arguments`` and, unless another invocation is tagging, tag everything queued; the exit status."""
    paths = [argument_path(a) for a in arguments]
    missing = [p for p in paths if not os.path.lexists(p)]
    for path in missing:
        notifier.show(TITLE, f"cannot tag {path}: no such file or folder")
    paths = [p for p in paths if p not in missing]
    if not paths:
        return 1 if missing else 0
    queue.mkdir(parents=True, exist_ok=True)
    ticket = queue / f"{time.time_ns()}-{os.getpid()}.paths"
    partial = ticket.with_suffix(".part")
    partial.write_bytes(b"\0".join(os.fsencode(p) for p in paths))
    os.replace(partial, ticket)  # a reader sees a ticket whole or not at all
    lock = queue.parent / "tag.lock"
    status = 1 if missing else 0
    while _take(lock):
        try:
            while True:
                batch = _gather(queue, gather)
                if not batch:
                    break
                status = max(status, run_tag(batch, notifier, command=command))
        finally:
            lock.unlink(missing_ok=True)
        if not any(queue.glob("*.paths")):  # one queued after the last gather and before the unlock: go again
            break
    else:
        notifier.log(f"queued {len(paths)} item(s) for the tag run already going")
    return status


def _take(lock: Path) -> bool:
    """Become the invocation that tags: the lock names this process; a lock of a process gone is taken over."""
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            try:
                holder = int(lock.read_text() or 0)
            except (OSError, ValueError):
                holder = 0
            if holder and alive(holder):
                return False
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as out:
            out.write(str(os.getpid()))
        return True
    return False


def _gather(queue: Path, quiet: float) -> list[Path]:
    """Every queued path, once no new ticket came for ``quiet`` seconds; the tickets are consumed."""
    seen = -1
    tickets: list[Path] = []
    while True:
        tickets = sorted(queue.glob("*.paths"))
        if len(tickets) == seen:
            break
        seen = len(tickets)
        time.sleep(quiet)
    paths: list[Path] = []
    for ticket in tickets:
        try:
            data = ticket.read_bytes()
            ticket.unlink()
        except OSError:
            continue
        paths.extend(Path(os.fsdecode(item)) for item in data.split(b"\0") if item)
    return list(dict.fromkeys(paths))


def run_tag(paths: list[Path], notifier: Notifier, *, command: list[str] | None = None,
            clock: Callable[[], float] = time.monotonic) -> int:
    """One ``photobrain tag --json`` over ``paths``: a notification when it starts, its progress, its outcome."""
    what = paths[0].name if len(paths) == 1 else f"{len(paths)} items"
    notifier.show(TITLE, f"Tagging {what}…", progress=0)
    words = [*(command or [sys.executable, "-m", "sidecar"]), "tag", "--json", "--", *map(str, paths)]
    started = last = clock()
    new_libraries: list[str] = []

    def progress(label: str, done: int, total: int) -> None:
        nonlocal last
        if total and clock() - last >= UPDATE_SECONDS:
            last = clock()
            notifier.show(TITLE, f"{label.capitalize()} {what}: {done} of {total}", progress=100 * done // total)

    def line(text: str) -> None:
        notifier.log(text)
        if text.startswith("photobrain: new library "):
            new_libraries.append(text.removeprefix("photobrain: new library ").split(":")[0])

    code, output = follow(words, progress=progress, line=line)
    notifier.show(TITLE, outcome_text(output, code, clock() - started, new_libraries, notifier.log_path))
    return code


def outcome_text(output: str, code: int, seconds: float, new_libraries: list[str], log: Path | None) -> str:
    """One or two sentences on what a tag run did, from its ``--json`` answer."""
    try:
        data = json.loads(output)
    except ValueError:
        return f"Tagging failed (exit {code}): see {log}"
    runs = data.get("libraries", [data])
    counts: dict[str, int] = {}
    for run in runs:
        for key, value in (run.get("summary") or {}).items():
            counts[key] = counts.get(key, 0) + int(value)
    photos = sum(counts.get(k, 0) for k in ("tagged", "unchanged", "moved", "duplicate"))
    parts = [f"{counts[k]} {k}" for k in ("tagged", "unchanged", "moved", "duplicate", "skipped", "failed")
             if counts.get(k)]
    where = ", ".join(Path(run["library"]).name or run["library"] for run in runs if run.get("library"))
    text = (f"Tagged {photos} photo{'s' if photos != 1 else ''} in {where or 'your library'} in {seconds:.0f} s"
            + (f" ({', '.join(parts)})" if parts else "") + ".")
    if new_libraries:
        text += f" New library {', '.join(new_libraries)}, with the default settings."
    if counts.get("failed") or code not in (0,):
        text += f" What failed and why: {log}"
    return text
