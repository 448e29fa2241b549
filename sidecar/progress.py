"""A progress line on stderr: done/total, images per second, ETA. Silent when not a terminal.

With ``PHOTOBRAIN_PROGRESS=lines`` in the environment (set by ``photobrain action tag``, which shows a desktop
notification instead of a terminal line), a line ``photobrain-progress LABEL DONE TOTAL`` is written at most
once a second instead, whatever stderr is.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import TextIO


def follow(words: list[str], *, progress: Callable[[str, int, int], None], line: Callable[[str], None],
           started: Callable[[subprocess.Popen], None] = lambda process: None) -> tuple[int, str]:
    """Run a photobrain command (``tag --json``) with ``PHOTOBRAIN_PROGRESS=lines``: each progress line goes to
    ``progress(label, done, total)``, every other line of its stderr to ``line``; its exit code and stdout.
    What ``photobrain action tag`` and the service's tag runs for the Lightroom plug-in both follow."""
    with tempfile.TemporaryFile() as stdout:
        process = subprocess.Popen(words, stdout=stdout, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                   env={**os.environ, "PHOTOBRAIN_PROGRESS": "lines"},
                                   creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
        started(process)
        assert process.stderr is not None
        for raw in process.stderr:
            text = raw.decode("utf-8", "surrogateescape").rstrip("\n")
            if text.startswith("photobrain-progress "):
                *label, done, total = text.split(" ")[1:]
                progress(" ".join(label), int(done), int(total))
            else:
                line(text)
        code = process.wait()
        stdout.seek(0)
        return code, stdout.read().decode("utf-8", "surrogateescape")


class Progress:
    def __init__(self, stream: TextIO = sys.stderr, *, enabled: bool | None = None, label: str = "tagging",
                 unit: str = "img"):
        self.stream = stream
        self.lines = enabled is not False and os.environ.get("PHOTOBRAIN_PROGRESS") == "lines"
        self.enabled = self.lines or (stream.isatty() if enabled is None else enabled)
        self.label, self.unit = label, unit
        self.total = self.done_count = 0
        self._start = self._last = 0.0

    def start(self, total: int) -> None:
        self.total, self.done_count = total, 0
        self._start = self._last = time.monotonic()
        self._draw(force=True)

    def update(self, n: int) -> None:
        self.done_count += n
        self._draw()

    def another(self, label: str, unit: str) -> Progress:
        """A progress line for another stage, shown where this one is."""
        return Progress(self.stream, enabled=self.enabled, label=label, unit=unit)

    def done(self) -> None:
        self._draw(force=True)
        if self.enabled and self.total and not self.lines:
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or not self.total or (not force and now - self._last < (1.0 if self.lines else 0.2)):
            return
        self._last = now
        if self.lines:
            self.stream.write(f"photobrain-progress {self.label} {self.done_count} {self.total}\n")
            self.stream.flush()
            return
        elapsed = max(now - self._start, 1e-9)
        rate = self.done_count / elapsed
        remaining = (self.total - self.done_count) / rate if rate > 0 else 0
        eta = time.strftime("%H:%M:%S", time.gmtime(remaining)) if rate > 0 else "--:--:--"
        width = 30
        filled = int(width * self.done_count / self.total)
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done_count}/{self.total} "
                          f"{rate:5.1f} {self.unit}/s  ETA {eta} ")
        self.stream.flush()
