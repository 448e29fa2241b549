"""A corpus of bad, odd and hostile library entries, built at test time in a temporary folder (small on disk).

Each entry says what a run must do with it: ``tagged`` (a good photo, whatever its name or place), ``failed``
(reported, with a reason containing ``reason``), or ``ignored`` (a folder walk passes it by without a word:
hidden files, FIFOs and devices inside a folder). Nothing may end the run, hang, or eat the machine.
"""
from __future__ import annotations

import os
import shutil
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from conftest import SAMPLES

GOOD_JPEG = SAMPLES / "landscapes/boats at evening glow.jpg"
OTHER_JPEG = SAMPLES / "animals/nuthatch.jpg"
GOOD_PNG = SAMPLES / "landscapes/foggy pier.png"


@dataclass(frozen=True)
class Entry:
    path: Path          # as the run reports it (the library folder walked, or named on the command line)
    expect: str         # tagged | failed | ignored
    reason: str = ""    # a few words the failure's reason must contain (lower case)


def png(width: int, height: int, *, mode: int = 0, rows: bytes | None = None, crc_ok: bool = True) -> bytes:
    """A PNG written by hand: grey (colour type 0) rows of zeros unless given; huge ones stay tiny on disk."""
    def chunk(kind: bytes, body: bytes, good: bool = True) -> bytes:
        crc = zlib.crc32(kind + body) ^ (0 if good else 0xFFFF)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc & 0xFFFFFFFF)

    channels = {0: 1, 2: 3}[mode]
    if rows is None:
        compressor = zlib.compressobj(9)
        row = b"\x00" * (1 + width * channels)
        parts = [compressor.compress(row) for _ in range(height)]
        body = b"".join(parts) + compressor.flush()
    else:
        body = zlib.compress(rows, 9)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, mode, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body, crc_ok) + chunk(b"IEND", b"")


def jpeg_with_size(data: bytes, width: int, height: int) -> bytes:
    """``data`` (a JPEG) with its frame header claiming another size: same scan data, so the same content hash."""
    pos = 2
    while pos < len(data):
        marker, length = data[pos + 1], struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            return data[:pos + 5] + struct.pack(">HH", height, width) + data[pos + 9:]
        pos += 2 + length
    raise ValueError("no SOF marker")


def jpeg_broken_huffman(data: bytes) -> bytes:
    """``data`` with its Huffman tables scrambled (they sit before the scan: the content hash stays the same)."""
    out = bytearray(data)
    pos = 2
    while pos < len(out):
        marker, length = out[pos + 1], struct.unpack(">H", out[pos + 2:pos + 4])[0]
        if marker == 0xC4:
            for i in range(pos + 5, pos + 2 + length):
                out[i] = 0xFF
        if marker == 0xDA:
            break
        pos += 2 + length
    return bytes(out)


def build(folder: Path, outside: Path) -> tuple[list[Entry], list[Path]]:
    """Make the corpus in ``folder`` (a library) and a photo in ``outside`` that a link points at.

    Returns the entries and the extra paths to name on the command line (a FIFO, a device).
    """
    folder.mkdir(parents=True)
    outside.mkdir(parents=True, exist_ok=True)
    entries: list[Entry] = []
    good = GOOD_JPEG.read_bytes()

    def put(name: str | bytes, data: bytes, expect: str, reason: str = "") -> Path:
        path = Path(os.fsdecode(os.path.join(os.fsencode(folder), os.fsencode(name))))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        entries.append(Entry(path, expect, reason))
        return path

    # good photos with names and places old archives have
    put("plain.jpg", good, "tagged")
    put("pier.png", GOOD_PNG.read_bytes(), "tagged")
    put(b"caf\xe9 latin-1.jpg", OTHER_JPEG.read_bytes(), "tagged")            # not UTF-8
    put(b"\xff\xfe archive/inside.jpg", good, "tagged")                        # a folder whose name is not UTF-8
    put("l" * 236 + ".jpg", good, "tagged")                                    # 240 bytes: the file system's limit is 255
    put("evil\nerror: forged line.jpg", good, "tagged")                        # a newline must not split a message
    put("tab\tand \x1b[31mescape.jpg", good, "tagged")
    # not images, or damaged ones
    put("empty.jpg", b"", "failed", "empty")
    put("forged\nerror: all is fine.jpg", b"not a photo\n", "failed", "text")    # its message stays one line
    put("notes.jpg", b"shopping list: milk, eggs\n" * 20, "failed", "text")
    put("page.png", b"<!DOCTYPE html><html><body>404</body></html>\n", "failed", "html page")
    put("random.tif", bytes(range(256)) * 8, "failed", "unknown")
    put("truncated.jpg", good[:len(good) // 2], "failed", "")
    put("huffman.jpg", jpeg_broken_huffman(good), "failed", "decode")      # same image-data hash as plain.jpg
    put("claims-huge.jpg", jpeg_with_size(good, 65000, 65000), "failed", "megapixels")  # same hash too
    put("bad-crc.png", png(64, 64, crc_ok=False), "failed", "")
    put("needle.png", png(1, 1_048_576), "failed", "aspect")                 # 2 KB, a million pixels tall
    put("sliver.png", png(30_000, 1), "failed", "aspect")                    # 100 bytes
    put("wall.png", png(20_000, 20_000), "failed", "megapixels")             # 400 MP claimed, tiny on disk
    for name, size, reason in (("zeros.jpg", 1_900_000_000, "zero bytes"),   # under the size bound: its head says
                               ("huge.jpg", 2_200_000_000, "bytes is over")):  # over it: not even opened for reading
        sparse = folder / name                                                # sparse on disk: nothing is written
        with open(sparse, "wb") as fh:
            fh.truncate(size)
        entries.append(Entry(sparse, "failed", reason))
    # sidecars that must not be read whole, or at all
    put("zero-sidecar.jpg", good, "failed", "not a regular file")
    os.symlink("/dev/zero", folder / "zero-sidecar.jpg.xmp")
    put("big-sidecar.jpg", good, "failed", "bytes is over")
    with open(folder / "big-sidecar.jpg.xmp", "wb") as fh:
        fh.truncate(64 << 20)
    put("fifo-sidecar.jpg", good, "failed", "not a regular file")
    os.mkfifo(folder / "fifo-sidecar.jpg.xmp")
    # things a folder walk passes by
    os.mkfifo(folder / "pipe.jpg")
    entries.append(Entry(folder / "pipe.jpg", "ignored"))
    (folder / "folder.jpg").mkdir()
    entries.append(Entry(folder / "folder.jpg", "ignored"))
    os.symlink(folder / "nowhere.jpg", folder / "dangling.jpg")
    entries.append(Entry(folder / "dangling.jpg", "ignored"))
    # a link to a photo outside the library: never replaced by a regular file
    target = outside / "outside.jpg"
    shutil.copyfile(OTHER_JPEG, target)
    os.symlink(target, folder / "link-out.jpg")
    entries.append(Entry(folder / "link-out.jpg", "linked"))
    # named on the command line: a FIFO and a character device are refused, not read
    fifo = outside / "named-pipe.jpg"
    os.mkfifo(fifo)
    return entries, [fifo, Path("/dev/zero")]
