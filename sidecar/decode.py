"""Decoding images for the model: fast (reduced-size JPEG decode) and right (orientation, modes).

The model sees ~224 px; decoding a 24-megapixel JPEG at full size is most of
the cost of tagging. Pillow's draft mode lets libjpeg decode at 1/2, 1/4 or
1/8 scale directly, as long as both sides stay at least the size asked for.
"""
from __future__ import annotations

import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from xmp import HEIF, RAW, CorruptImageError
from xmp.errors import PhotobrainError
from xmp.formats import sniff, suffix
from xmp.hashing import jpeg_coding_segments
from xmp.regular import MAX_IMAGE_BYTES, read_image_file, refuse_non_image

DEFAULT_MAX_MEGAPIXELS = 250
#: Photos and panoramas stay well under this; a 1 x 1,048,576 "image" is an attack on the decoder's memory
MAX_ASPECT = 50
#: What one image may take on disk: 8 bytes a pixel (16-bit RGBA, uncompressed) at the megapixel limit, plus
#: room for metadata and previews
BYTES_PER_PIXEL_ON_DISK = 8
METADATA_ROOM = 64 << 20


class ImageTooLargeError(PhotobrainError):
    """Larger than the decompression-bomb limit."""


def file_limit(max_megapixels: float) -> int:
    """The largest image file read at ``max_megapixels`` (2 GB at the default 250 MP)."""
    return int(max_megapixels * 1_000_000 * BYTES_PER_PIXEL_ON_DISK) + METADATA_ROOM


def read_image(path: Path, *, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> tuple[bytes, os.stat_result]:
    """The bytes of the image file ``path`` and its stat, read only when they can be an image worth decoding.

    Refused before reading the whole file: anything but a regular file (FIFO, device, folder), a file over
    :func:`file_limit`, one whose first bytes are no image format (empty, text, HTML: said so), and one whose
    header already declares more than ``max_megapixels`` or a shape no photo has.
    Raises :class:`CorruptImageError` or :class:`ImageTooLargeError` naming the file.
    """
    def declared(head: bytes) -> None:
        if suffix(path) not in RAW | HEIF:
            peeked = _peek(head)
            check_size(path, None if peeked is None else peeked[:2], max_megapixels)

    limit = file_limit(max_megapixels)
    if limit >= MAX_IMAGE_BYTES:
        return read_image_file(path, check=declared)
    return read_image_file(path, limit=limit, what="file at this --max-megapixels", check=declared)


def header_digest(path: Path, data: bytes) -> str | None:
    """A digest of what decides the image's pixels besides its image data: the size, mode and format its header
    declares and, for a JPEG, its coding tables (quantisation, Huffman, frame). Read from the header alone.

    Two files with the same content hash and the same header digest decode to the same pixels, so a copy or a
    moved file need not be decoded again to know it decodes. None when the header cannot be read (decode it).
    """
    if suffix(path) in RAW:
        return "raw"  # the content hash covers the whole raw file
    _register_heif()
    facts = _peek(data)
    if facts is None:
        return None
    digest = hashlib.blake2b(":".join(map(str, facts)).encode(), digest_size=8)
    if sniff(data) == "jpeg":
        for segment in jpeg_coding_segments(data):
            digest.update(segment)
    return digest.hexdigest()


def _peek(data: bytes) -> tuple[int, int, str, str | None] | None:
    """(width, height, mode, format) as the image's header declares them, without decoding; None when Pillow
    cannot read the header from ``data`` (decode() then says what is wrong)."""
    Image.MAX_IMAGE_PIXELS = None  # check_size() says it better; decode() sets Pillow's own check again
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                return image.size[0], image.size[1], image.mode, image.format
    except Exception:  # any header Pillow cannot read
        return None


def check_size(path: Path, size: tuple[int, int] | None, max_megapixels: float) -> None:
    """Refuse, before decoding, an image over ``max_megapixels`` or of a shape no photo has (over 50:1)."""
    if size is None:
        return
    width, height = size
    if width * height > max_megapixels * 1_000_000:
        raise ImageTooLargeError(path, f"{width}x{height} is {width * height / 1e6:.0f} megapixels, over the "
                                 f"{max_megapixels:g} MP limit against decompression bombs",
                                 "raise it with --max-megapixels if you trust this file")
    if min(width, height) < 1 or max(width, height) > MAX_ASPECT * min(width, height):
        raise CorruptImageError(path, f"{width}x{height} pixels: an aspect ratio over {MAX_ASPECT}:1 is not a photo "
                                "photobrain can tag", "crop it in an image editor if it is one")


@dataclass(frozen=True)
class Decoded:
    image: Image.Image  # RGB, upright, at least ``min_side`` on its shorter side where the original was
    width: int          # the original's size, upright
    height: int
    format: str


_heif_registered = False


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
        except ImportError:  # HEIC then fails per file with a clear message
            pass
        _heif_registered = True


def decode(path: Path, data: bytes, *, min_side: int = 224, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> Decoded:
    """Decode ``data`` (the bytes of ``path``) to an upright RGB image with shorter side >= ``min_side``.

    Raw files are decoded through their largest embedded JPEG preview.
    Raises :class:`CorruptImageError` or :class:`ImageTooLargeError` naming the file.
    """
    _register_heif()
    if path.suffix.lower() in RAW:
        data = _raw_preview(path, data)
    else:
        refuse_non_image(path, data)
    Image.MAX_IMAGE_PIXELS = int(max_megapixels * 1_000_000)  # Pillow refuses twice this before decoding
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own check, below
            image: Image.Image = Image.open(io.BytesIO(data))
            fmt = image.format or "unknown"
            width, height = image.size
            check_size(path, (width, height), max_megapixels)
            if fmt == "JPEG" and isinstance(image, ImageFile.ImageFile):
                image.draft("RGB", (min_side, min_side))
            image.load()
            orientation = image.getexif().get(0x0112, 1)  # read before the cut: a TIFF keeps it in its own tags
            image = _smaller(image, min_side)
    except (ImageTooLargeError, CorruptImageError):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(path, f"over the {max_megapixels:g} MP limit against decompression bombs ({exc})",
                                 "raise it with --max-megapixels if you trust this file") from exc
    except UnidentifiedImageError as exc:
        raise CorruptImageError(path, f"cannot decode the image: {sniff(data).upper()} data Pillow does not "
                                "recognise (damaged, or a variant it cannot read)",
                                "check the file opens in an image viewer") from exc
    except (OSError, SyntaxError, ValueError, MemoryError) as exc:
        raise CorruptImageError(path, f"cannot decode the image ({exc})",
                                "check the file opens in an image viewer") from exc
    method = _TRANSPOSE.get(orientation)
    if method is not None:
        image = image.transpose(method)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return Decoded(_to_rgb(image), width, height, fmt)


#: EXIF orientation -> the transpose that makes the image upright (as ImageOps.exif_transpose)
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}


def _smaller(image: Image.Image, min_side: int) -> Image.Image:
    """``image`` cut to what the model sees and shrunk, so that only one full-size copy is ever held.

    The model takes the centre square of the image scaled to ``min_side``: a long panorama is first cut to
    (at most) twice its height around the centre, then an image still over four times the size the model
    needs is shrunk by a whole factor (box filter) before any conversion copies it.
    """
    width, height = image.size
    short = min(width, height)
    if max(width, height) > 2 * short:
        keep = 2 * short
        box = ((width - keep) // 2, 0, (width - keep) // 2 + keep, height) if width > height else \
              (0, (height - keep) // 2, width, (height - keep) // 2 + keep)
        image = image.crop(box)
    factor = min(image.size) // (2 * min_side)
    if factor >= 2:
        try:
            image = image.reduce(factor)
        except ValueError:  # a mode reduce() does not take (16-bit): converted at full size, as before
            pass
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # Pillow's own I;16 -> L conversion clips at 255 (a white image): scale instead.
        array = np.asarray(image, dtype=np.uint32)
        peak = 65535 if image.mode != "I" or array.max() > 255 else 255
        image = Image.fromarray((array * 255 // peak).astype(np.uint8), "L")
    elif image.mode == "F":
        image = Image.fromarray(np.clip(np.asarray(image), 0, 255).astype(np.uint8), "L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        # transparent areas become neutral white rather than whatever colour they hide
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return image.convert("RGB")


def _raw_preview(path: Path, data: bytes) -> bytes:
    """The largest JPEG embedded in a raw file (every raw format carries one for the camera screen)."""
    best: tuple[int, bytes] | None = None
    start = data.find(b"\xff\xd8\xff")
    while start != -1:
        try:
            with Image.open(io.BytesIO(data[start:])) as candidate:
                if candidate.format == "JPEG":
                    pixels = candidate.size[0] * candidate.size[1]
                    if best is None or pixels > best[0]:
                        best = (pixels, data[start:])
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            pass
        start = data.find(b"\xff\xd8\xff", start + 3)
    if best is None:
        raise CorruptImageError(path, "this raw file has no embedded JPEG preview photobrain can read",
                                "export a JPEG or TIFF of it to tag it")
    return best[1]
