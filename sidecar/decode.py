"""Decoding images for the model: fast (reduced-size JPEG decode) and right (orientation, modes).

The model sees ~224 px; decoding a 24-megapixel JPEG at full size is most of
the cost of tagging. Pillow's draft mode lets libjpeg decode at 1/2, 1/4 or
1/8 scale directly, as long as both sides stay at least the size asked for.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from xmp import RAW, CorruptImageError
from xmp.errors import PhotobrainError

DEFAULT_MAX_MEGAPIXELS = 250


class ImageTooLargeError(PhotobrainError):
    """Larger than the decompression-bomb limit."""


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
    Image.MAX_IMAGE_PIXELS = int(max_megapixels * 1_000_000)  # Pillow refuses twice this before decoding
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own check, below
            image: Image.Image = Image.open(io.BytesIO(data))
            fmt = image.format or "unknown"
            width, height = image.size
            if width * height > max_megapixels * 1_000_000:
                raise ImageTooLargeError(path, f"{width}x{height} is {width * height / 1e6:.0f} megapixels, over the "
                                         f"{max_megapixels:g} MP limit against decompression bombs",
                                         "raise it with --max-megapixels if you trust this file")
            if fmt == "JPEG" and isinstance(image, ImageFile.ImageFile):
                image.draft("RGB", (min_side, min_side))
            image.load()
    except ImageTooLargeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(path, f"over the {max_megapixels:g} MP limit against decompression bombs ({exc})",
                                 "raise it with --max-megapixels if you trust this file") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise CorruptImageError(path, f"cannot decode the image ({exc})",
                                "check the file opens in an image viewer") from exc
    orientation = image.getexif().get(0x0112, 1)
    image = ImageOps.exif_transpose(image)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return Decoded(_to_rgb(image), width, height, fmt)


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
