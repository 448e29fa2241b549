"""A JPEG's metadata segments: its XMP packet, read and replaced in its APP1 segment as text, and its IPTC digest.

Going through exiv2 re-serialises the whole packet: every property is reformatted and the toolkit
(``x:xmptk``) becomes exiv2's. Replacing the segment's text instead keeps every byte photobrain does
not own, as sidecars are kept (``packet.update_packet``), so an ``untag`` gives the packet back as it was.
"""
from __future__ import annotations

import hashlib
import re
import struct
from xml.etree import ElementTree

from .hashing import jpeg_segments

SIGNATURE = b"http://ns.adobe.com/xap/1.0/\x00"
#: An APP1 segment holds at most 65533 bytes after its length field.
MAX_PACKET = 0xFFFF - 2 - len(SIGNATURE)
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"


def _segments(header: bytes):
    """The segments of a header cut before its first SOS (one is put back so the walk knows where to stop)."""
    return jpeg_segments(header + b"\xff\xda\x00\x02")


def xmp_segment(header: bytes) -> tuple[int, int] | None:
    """Start and end of the (first, standard) XMP segment, or None."""
    for marker, start, end in _segments(header):
        if marker == 0xE1 and header[start + 4:start + 4 + len(SIGNATURE)] == SIGNATURE:
            return start, end
    return None


def read_packet(header: bytes) -> str | None:
    """The XMP packet exactly as stored, or None when the JPEG has none (or not as UTF-8 text)."""
    found = xmp_segment(header)
    if found is None:
        return None
    try:
        return header[found[0] + 4 + len(SIGNATURE):found[1]].decode("utf-8")
    except UnicodeDecodeError:
        return None


def replace_packet(header: bytes, packet: str | None) -> bytes | None:
    """``header`` with its XMP segment holding ``packet`` (None: no segment). None when it cannot fit."""
    found = xmp_segment(header)
    if packet is None:
        return header if found is None else header[:found[0]] + header[found[1]:]
    data = packet.encode("utf-8")
    if len(data) > MAX_PACKET:
        data = _without_padding(packet).encode("utf-8")
        if len(data) > MAX_PACKET:
            return None  # needs extended XMP: left to exiv2
    segment = b"\xff\xe1" + struct.pack(">H", 2 + len(SIGNATURE) + len(data)) + SIGNATURE + data
    if found is not None:
        return header[:found[0]] + segment + header[found[1]:]
    # a new segment goes after JFIF/Exif (APP0/APP1), where readers expect it
    at = 2
    for marker, _, end in _segments(header):
        if marker not in (0xE0, 0xE1):
            break
        at = end
    return header[:at] + segment + header[at:]


def _without_padding(packet: str) -> str:
    return re.sub(r"\s+(<\?xpacket end=)", r"\n\1", packet)


def is_empty(packet: str) -> bool:
    """True when the packet states no property at all (every rdf:Description is bare)."""
    try:
        root = ElementTree.fromstring(packet.encode("utf-8"))
    except ElementTree.ParseError:
        return False
    for description in root.iter(f"{RDF}Description"):
        if len(description) or any(name != f"{RDF}about" for name in description.attrib):
            return False
    return True


def refresh_iptc_digest(jpeg: bytes) -> bytes:
    """Bring a JPEG's Photoshop IPTCDigest up to date with its IIM block.

    exiv2 rewrites IIM keywords but leaves the digest stale; readers then take
    the IIM data as edited by an XMP-unaware tool and prefer it over XMP.  The
    digest is the MD5 of the IIM resource, patched in place (same length).
    """
    pos = 2
    while pos + 4 <= len(jpeg) and jpeg[pos] == 0xFF:
        marker = jpeg[pos + 1]
        if marker in (0xDA, 0xD9):
            break
        (length,) = struct.unpack(">H", jpeg[pos + 2:pos + 4])
        body_start, body_end = pos + 4, pos + 2 + length
        if marker == 0xED and jpeg[body_start:body_start + 14] == b"Photoshop 3.0\x00":
            resources = _irb_resources(jpeg, body_start + 14, body_end)
            if 0x0404 in resources and 0x0425 in resources:
                (iim_start, iim_len), (digest_start, digest_len) = resources[0x0404], resources[0x0425]
                if digest_len == 16:
                    digest = hashlib.md5(jpeg[iim_start:iim_start + iim_len]).digest()
                    return jpeg[:digest_start] + digest + jpeg[digest_start + 16:]
        pos = body_end
    return jpeg


def _irb_resources(data: bytes, pos: int, end: int) -> dict[int, tuple[int, int]]:
    found = {}
    while pos + 12 <= end and data[pos:pos + 4] == b"8BIM":
        (rid,) = struct.unpack(">H", data[pos + 4:pos + 6])
        name_len = data[pos + 6]
        pos += 6 + ((name_len + 2) & ~1)  # Pascal string, padded to even length
        (size,) = struct.unpack(">I", data[pos:pos + 4])
        found[rid] = (pos + 4, size)
        pos += 4 + size + (size & 1)
    return found
