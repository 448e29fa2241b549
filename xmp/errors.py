"""photobrain's own exceptions.

Every error names the file it is about and, where there is one, the option or
command that gets the user past it; the CLI prints ``error: <path>: <reason>``
and the hint.  Libraries' own exceptions (pyexiv2's RuntimeError, OSError)
are turned into these at the boundary.
"""
from __future__ import annotations

import os


class PhotobrainError(Exception):
    """Base class: an error about one file (or the whole run when path is None)."""

    def __init__(self, path: os.PathLike[str] | str | None, reason: str, hint: str | None = None):
        super().__init__(reason)
        self.path = None if path is None else os.fspath(path)
        self.reason = reason
        self.hint = hint

    def __str__(self) -> str:
        return self.reason if self.path is None else f"{shown(self.path)}: {self.reason}"


def reason_about(exc: PhotobrainError, path: os.PathLike[str] | str) -> str:
    """Why ``path`` failed, naming the other file (a sidecar) when that is the one ``exc`` is about."""
    if exc.path is not None and os.fsencode(exc.path) != os.fsencode(path):
        return f"{shown(exc.path)}: {exc.reason}"
    return exc.reason


def shown(path: os.PathLike[str] | str) -> str:
    """A path as a message prints it: as it is when plain, quoted with escapes when it holds a control character
    (a newline in a file name must not start a line of its own) or bytes that are not UTF-8 (shown as ``\\xNN``).
    """
    text = os.fspath(path)
    if text.isprintable() and not any("\udc80" <= c <= "\udcff" for c in text):
        return text
    out = []
    for c in text:
        if "\udc80" <= c <= "\udcff":  # a byte that is not UTF-8, as os.fsdecode keeps it
            out.append(f"\\x{ord(c) - 0xDC00:02x}")
        elif c in "\\'":
            out.append("\\" + c)
        elif not c.isprintable() and c != " ":
            out.append(repr(c)[1:-1])
        else:
            out.append(c)
    return "'" + "".join(out) + "'"


class MetadataReadError(PhotobrainError):
    """The file's metadata (or a sidecar) cannot be read."""


class CorruptImageError(MetadataReadError):
    """The file is not a readable image: truncated, damaged or not an image at all."""


class MetadataWriteError(PhotobrainError):
    """Metadata could not be written; the original is untouched."""


class ReadOnlyError(MetadataWriteError):
    """The file (or its folder) must not or cannot be written."""


class VerificationError(MetadataWriteError):
    """A rewritten file failed its check (image data or keywords); nothing was replaced."""


class ConcurrentChangeError(MetadataWriteError):
    """Another program changed the file while photobrain was writing it; nothing was replaced."""
