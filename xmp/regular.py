"""Reading files safely: regular files only, never blocking, never more than a stated size.

Everything photobrain reads from a library (images, sidecars) comes through
:func:`read_regular`. A FIFO, a device (``/dev/zero``), a socket or a folder
under a photo's name is refused without being read, and a file larger than
the bound for its kind is refused before a byte of it is held in memory.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from .errors import CorruptImageError, MetadataReadError
from .formats import RAW, sniff, suffix

#: A sidecar is text; darktable's with a long history is a few hundred KB
MAX_SIDECAR_BYTES = 16 << 20
#: A ceiling for any image file read whole: exiv2 reads nothing larger (the tagger's own bound, from
#: --max-megapixels, is about the same at the default 250 MP)
MAX_IMAGE_BYTES = (2 << 30) - 1
#: What photobrain reads of a file before deciding whether the rest is worth reading
HEAD_BYTES = 64 << 10


class UnreadableError(MetadataReadError):
    """The system could not read the file (permissions, an I/O error): it may pass."""


class NotRegularFileError(MetadataReadError):
    """A FIFO, device, socket or folder where a file was expected."""


class TooLargeError(MetadataReadError):
    """Larger than photobrain reads for a file of its kind."""


Stamp = tuple[int, int, int, int]


def stamp(st: os.stat_result) -> Stamp:
    """What the OS says cheaply about a file's identity: size, mtime, ctime and inode.

    An editor can keep a file's size and put its mtime back to the nanosecond; it cannot put back the ctime
    (the kernel sets it on every change) nor, when it saves by renaming a new file into place, the inode.
    """
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def open_regular(path: Path, *, limit: int, what: str = "file") -> tuple[int, os.stat_result]:
    """Open ``path`` for reading (a file descriptor, blocking) after checking it is a regular file within ``limit``.

    Opening never blocks: a FIFO without a writer is opened non-blocking and refused.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise UnreadableError(path, f"cannot read the {what} ({exc.strerror or exc})") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFileError(path, f"not a regular file: this is {kind_of(st.st_mode)}",
                                      "photobrain reads only regular files; move it out of the library")
        if st.st_size > limit:
            raise TooLargeError(path, f"{st.st_size:,} bytes is over the {limit:,} bytes photobrain reads for one "
                                      f"{what}", _limit_hint(what))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_regular(path: Path, *, limit: int, what: str = "file") -> tuple[bytes, os.stat_result]:
    """The whole content of the regular file ``path`` and its stat, refusing other files and ones over ``limit``."""
    fd, st = open_regular(path, limit=limit, what=what)
    with os.fdopen(fd, "rb") as fh:
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            raise UnreadableError(path, f"cannot read the {what} ({exc.strerror or exc})") from exc
    if len(data) > limit:  # it grew since it was opened
        raise TooLargeError(path, f"over the {limit:,} bytes photobrain reads for one {what}", _limit_hint(what))
    return data, st


def read_image_file(path: Path, *, limit: int = MAX_IMAGE_BYTES, what: str = "image file",
                    check: Callable[[bytes], None] | None = None) -> tuple[bytes, os.stat_result]:
    """The bytes of the image file ``path`` and its stat, the rest read only when its first bytes are an image.

    Refused before the whole file is read: anything but a regular file, a file over ``limit``, and one whose
    first bytes are no image format (an empty file, text, HTML: said so). Raw files are not sniffed (their
    containers vary); ``check`` may refuse more from the first bytes (a header declaring a decompression bomb).
    """
    fd, st = open_regular(path, limit=limit, what=what)
    with os.fdopen(fd, "rb") as fh:
        try:
            head = fh.read(HEAD_BYTES)
            if suffix(path) not in RAW:
                refuse_non_image(path, head)
            if check is not None:
                check(head)
            return head + fh.read(), st
        except OSError as exc:
            raise UnreadableError(path, f"cannot read the file ({exc.strerror or exc})") from exc


def refuse_non_image(path: Path, data: bytes) -> None:
    """Raise :class:`CorruptImageError` saying what ``data`` (a file's first bytes) is, unless an image format."""
    if sniff(data) == "unknown":
        raise CorruptImageError(path, f"not an image: {describe_content(data[:HEAD_BYTES])}",
                                "photo files only: JPEG, PNG, TIFF, WebP, HEIC, DNG and raw formats")


def image_and_stat(path: Path, data: bytes | None) -> tuple[bytes, os.stat_result]:
    """``data`` (the image's bytes, already read) or the file read now, with the file's stat as it is now."""
    if data is None:
        return read_image_file(path)
    try:
        return data, os.stat(path)
    except OSError as exc:
        raise UnreadableError(path, f"cannot read the file ({exc.strerror or exc})") from exc


def _limit_hint(what: str) -> str:
    if what == "sidecar":
        return "this is not an XMP sidecar photobrain will read: move it away"
    if "--max-megapixels" in what:
        return "raise --max-megapixels if this is a photo you trust"
    return "exiv2 reads no file over 2 GB: export a smaller copy to tag it"


def describe_content(data: bytes) -> str:
    """What the first bytes of a file that is no image look like, in words: empty, text, HTML, or unknown."""
    if not data:
        return "the file is empty (0 bytes)"
    if not data.strip(b"\x00"):
        return "the file holds only zero bytes"
    head = data[:512]
    stripped = head.lstrip().lower()
    if stripped.startswith((b"<!doctype html", b"<html")):
        return "the file is an HTML page, not an image"
    if stripped.startswith(b"<?xml") or stripped.startswith(b"<x:xmpmeta"):
        return "the file is XML text, not an image"
    text = None
    for cut in range(4):  # the first 512 bytes may end inside a UTF-8 character
        try:
            text = head[:len(head) - cut].decode("utf-8")
            break
        except UnicodeDecodeError:
            continue
    if text is not None and all(c.isprintable() or c in "\r\n\t" for c in text):
        return "the file is text, not an image"
    return f"unknown format (first bytes {head[:8].hex(' ')})"
