"""A content hash of the image data only, stable across metadata edits.

Any hash of the whole file changes as soon as a keyword is embedded, so the
catalog keys images by the bytes that encode their pixels (see
``XMP_INTEROP.md``): JPEG scan data, PNG IDAT payloads, WebP image chunks,
TIFF/DNG strips and tiles.  Raw files are never rewritten by photobrain, so
their whole file is the key.  HEIF/AVIF: the extents of the coded image
items (``iloc``), not Exif or XMP items.  The hash is BLAKE2b-128, hex encoded.
"""
from __future__ import annotations

import hashlib
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

from .errors import CorruptImageError
from .formats import RAW, sniff, suffix

DIGEST_SIZE = 16


def content_hash(path: Path, data: bytes | None = None) -> str:
    """Hash the image data of ``path`` (or of ``data``, its bytes, if given).

    Raises :class:`CorruptImageError` when the image data cannot be located,
    for example in a truncated file.
    """
    if data is None:
        data = Path(path).read_bytes()
    digest = hashlib.blake2b(digest_size=DIGEST_SIZE)
    for chunk in image_data(path, data):
        digest.update(chunk)
    return digest.hexdigest()


def image_data(path: Path, data: bytes) -> list[memoryview]:
    """The byte ranges of ``data`` that encode the image (what :func:`content_hash` hashes)."""
    kind = sniff(data)
    try:
        if suffix(Path(path)) in RAW or kind == "unknown":
            return [memoryview(data)]
        if kind == "bmff":
            return list(_bmff_image_items(data))
        if kind == "jpeg":
            return [_jpeg_scan(data)]
        if kind == "png":
            return list(_png_image_chunks(data))
        if kind == "webp":
            return list(_webp_image_chunks(data))
        return list(_tiff_image_data(data))
    except (IndexError, struct.error, ValueError) as exc:
        raise CorruptImageError(path, f"cannot locate the image data ({exc}); the file looks truncated or damaged") from exc


def jpeg_header_length(data: bytes) -> int | None:
    """Offset of a JPEG's first SOS marker: everything before it is metadata and tables."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0xDA:
            return pos
        if marker == 0xD9 or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            return None
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        pos += 2 + length
    return None


def jpeg_segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(marker, start, end) of each segment of a JPEG's header, up to its first SOS."""
    pos, end = 2, jpeg_header_length(data) or 0
    while pos + 4 <= end:
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        yield marker, pos, pos + 2 + length
        pos += 2 + length


def jpeg_coding_segments(data: bytes) -> list[bytes]:
    """The header segments that decide a JPEG's pixels (tables, frame, restart interval): all but APPn and COM.

    The content hash covers the scan data; a metadata write must leave these unchanged too.
    """
    return [data[start:end] for marker, start, end in jpeg_segments(data)
            if not (0xE0 <= marker <= 0xEF or marker == 0xFE)]


_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")  # a real marker inside entropy-coded data


def _jpeg_scan(data: bytes) -> memoryview:
    """Bytes from the first SOS marker through the primary image's EOI."""
    pos = 2
    n = len(data)
    start = None
    while pos < n:
        if data[pos] != 0xFF:
            raise ValueError(f"JPEG marker expected at offset {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # EOI
            if start is None:
                raise ValueError("EOI before any scan")
            return memoryview(data)[start:pos + 2]
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if pos + 2 + length > n:
            raise ValueError("segment runs past the end of the file")
        if marker == 0xDA:  # SOS: header, then entropy-coded data up to the next real marker
            if start is None:
                start = pos
            marker_at = _MARKER.search(data, pos + 2 + length)
            if marker_at is None:
                raise ValueError("scan data runs to the end of the file")
            pos = marker_at.start()
            continue
        pos += 2 + length
    raise ValueError("no end-of-image marker")


_PNG_CRITICAL = {b"IHDR", b"PLTE", b"IDAT", b"IEND"}


def _png_image_chunks(data: bytes):
    pos = 8
    found = False
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if pos + 12 + length > len(data):
            raise ValueError(f"PNG chunk {kind!r} runs past the end of the file")
        if kind in _PNG_CRITICAL and zlib.crc32(memoryview(data)[pos + 4:pos + 8 + length]) != struct.unpack(
                ">I", data[pos + 8 + length:pos + 12 + length])[0]:
            # libpng, and so most viewers and editors, refuse a critical chunk whose checksum is wrong
            raise ValueError(f"PNG chunk {kind.decode('latin-1')} is damaged (its CRC does not match)")
        if kind in (b"IDAT", b"JDAT", b"JDAA"):
            found = True
            yield memoryview(data)[pos + 8:pos + 8 + length]
        if kind == b"IEND":
            break
        pos += 12 + length
    if not found:
        raise ValueError("no IDAT chunk")


_WEBP_IMAGE = {b"VP8 ", b"VP8L", b"ALPH", b"ANIM", b"ANMF"}


def _webp_image_chunks(data: bytes):
    pos = 12
    end = min(len(data), 8 + struct.unpack("<I", data[4:8])[0])
    found = False
    while pos + 8 <= end:
        kind, length = struct.unpack("<4sI", data[pos:pos + 8])
        if pos + 8 + length > len(data):
            raise ValueError(f"WebP chunk {kind!r} runs past the end of the file")
        if kind in _WEBP_IMAGE:
            found = True
            yield memoryview(data)[pos + 8:pos + 8 + length]
        pos += 8 + length + (length & 1)
    if not found:
        raise ValueError("no image chunk")


_STRIP_OFFSETS, _STRIP_COUNTS, _TILE_OFFSETS, _TILE_COUNTS, _SUB_IFDS = 273, 279, 324, 325, 330
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}


def _tiff_image_data(data: bytes):
    order = "<" if data[:2] == b"II" else ">"
    (first,) = struct.unpack(order + "I", data[4:8])
    seen: set[int] = set()
    queue = [first]
    found = False
    while queue:
        offset = queue.pop(0)
        if offset == 0 or offset in seen:
            continue
        seen.add(offset)
        tags, next_ifd = _read_ifd(data, order, offset)
        for offsets_tag, counts_tag in ((_STRIP_OFFSETS, _STRIP_COUNTS), (_TILE_OFFSETS, _TILE_COUNTS)):
            if offsets_tag in tags and counts_tag in tags:
                for start, count in zip(tags[offsets_tag], tags[counts_tag], strict=True):
                    if start + count > len(data):
                        raise ValueError("image strip runs past the end of the file")
                    found = True
                    yield memoryview(data)[start:start + count]
        queue.extend(tags.get(_SUB_IFDS, []))
        queue.append(next_ifd)
    if not found:
        raise ValueError("no image strips or tiles")


def _read_ifd(data: bytes, order: str, offset: int) -> tuple[dict[int, list[int]], int]:
    (count,) = struct.unpack(order + "H", data[offset:offset + 2])
    wanted = {_STRIP_OFFSETS, _STRIP_COUNTS, _TILE_OFFSETS, _TILE_COUNTS, _SUB_IFDS}
    tags: dict[int, list[int]] = {}
    for i in range(count):
        entry = offset + 2 + 12 * i
        tag, kind, n = struct.unpack(order + "HHI", data[entry:entry + 8])
        if tag not in wanted or kind not in (3, 4, 13, 16):
            continue
        size = _TYPE_SIZES[kind]
        fmt = {3: "H", 4: "I", 13: "I", 16: "Q"}[kind]
        where = entry + 8
        if size * n > 4:
            (where,) = struct.unpack(order + "I", data[entry + 8:entry + 12])
        tags[tag] = list(struct.unpack(order + fmt * n, data[where:where + size * n]))
    (next_ifd,) = struct.unpack(order + "I", data[offset + 2 + 12 * count:offset + 6 + 12 * count])
    return tags, next_ifd


_METADATA_ITEMS = {b"Exif", b"mime", b"uri "}


def _boxes(data: bytes, start: int, end: int):
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", data[pos + 8:pos + 16])
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"box {kind!r} runs past its container")
        yield kind, pos + header, pos + size
        pos += size


def _uint(data: bytes, pos: int, size: int) -> tuple[int, int]:
    return (int.from_bytes(data[pos:pos + size], "big") if size else 0), pos + size


def _bmff_image_items(data: bytes):
    """HEIF/AVIF: the bytes of every coded image item, located through ``iloc``."""
    meta = next(((s, e) for kind, s, e in _boxes(data, 0, len(data)) if kind == b"meta"), None)
    if meta is None:
        raise ValueError("no meta box")
    children = {kind: (s, e) for kind, s, e in _boxes(data, meta[0] + 4, meta[1])}
    if b"iinf" not in children or b"iloc" not in children:
        raise ValueError("no item information or location box")
    item_types = {}
    start, end = children[b"iinf"]
    version = data[start]
    first = start + 4 + (2 if version == 0 else 4)
    for kind, s, _ in _boxes(data, first, end):
        if kind == b"infe" and data[s] >= 2:
            item_id, pos = _uint(data, s + 4, 2 if data[s] == 2 else 4)
            item_types[item_id] = data[pos + 2:pos + 6]
    idat = children.get(b"idat", (0, 0))
    start, _ = children[b"iloc"]
    version = data[start]
    pos = start + 4
    offset_size, length_size = data[pos] >> 4, data[pos] & 15
    base_size, index_size = data[pos + 1] >> 4, (data[pos + 1] & 15 if version in (1, 2) else 0)
    count, pos = _uint(data, pos + 2, 2 if version < 2 else 4)
    found = False
    for _ in range(count):
        item_id, pos = _uint(data, pos, 2 if version < 2 else 4)
        method = 0
        if version in (1, 2):
            method, pos = _uint(data, pos, 2)
            method &= 15
        pos += 2  # data_reference_index
        base, pos = _uint(data, pos, base_size)
        extents, pos = _uint(data, pos, 2)
        for _ in range(extents):
            pos += index_size
            offset, pos = _uint(data, pos, offset_size)
            length, pos = _uint(data, pos, length_size)
            if item_types.get(item_id) in _METADATA_ITEMS:
                continue
            origin = base + offset + (idat[0] if method == 1 else 0)
            if method == 2 or origin + length > len(data):
                raise ValueError(f"item {item_id} cannot be located")
            found = True
            yield memoryview(data)[origin:origin + length]
    if not found:
        raise ValueError("no image item")
