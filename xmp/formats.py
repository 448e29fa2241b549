"""Which files photobrain treats as images, and where their metadata may go."""
from __future__ import annotations

from pathlib import Path

#: Formats exiv2 writes into safely and photo managers read embedded XMP from.
EMBEDDABLE = frozenset({".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".png", ".webp", ".dng"})

#: Proprietary raw formats: never rewritten, tags go to a sidecar.
RAW = frozenset({
    ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf",
    ".rw2", ".pef", ".srw", ".x3f", ".3fr", ".iiq", ".erf", ".mef", ".mos", ".mrw",
    ".kdc", ".dcr", ".rwl", ".raw", ".gpr",
})

#: HEIF family: readable, but exiv2's writing support is not trusted: sidecar in auto mode.
HEIF = frozenset({".heic", ".heif", ".hif", ".avif"})

IMAGE_SUFFIXES = EMBEDDABLE | RAW | HEIF


def suffix(path: Path) -> str:
    return path.suffix.lower()


def is_image(path: Path) -> bool:
    return suffix(path) in IMAGE_SUFFIXES


def can_embed(path: Path) -> bool:
    return suffix(path) in EMBEDDABLE


def sniff(data: bytes) -> str:
    """Name the container format from the first bytes: jpeg, png, webp, tiff, bmff or unknown."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[4:8] == b"ftyp":
        return "bmff"
    return "unknown"
