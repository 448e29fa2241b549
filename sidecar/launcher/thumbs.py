"""Thumbnails for the launcher page, cached on disk by content hash.

A thumbnail is made once per image (not per file: duplicates and moved files share it) from a draft
decode (JPEG decodes at 1/2 to 1/8 scale straight away) or, for a raw file, its embedded preview, turned
upright, at most ``SIZE`` pixels on its longer side, saved as JPEG in ``<cache>/thumbs``. The folder is
a cache: it can be deleted at any time, and it is kept under ``limit`` bytes by dropping the thumbnails
used least recently (a served thumbnail's mtime is touched) whenever it grows past the limit.
"""
from __future__ import annotations

import io
import os
import secrets
import threading
import warnings
from pathlib import Path

from PIL import Image, ImageFile, ImageOps

from xmp.errors import PhotobrainError

SIZE = 360                        # pixels, the longer side: sharp in a grid cell on a HiDPI screen
LARGE = 1200                      # the detail view's preview
DEFAULT_LIMIT = 500 * 1000 * 1000  # bytes on disk
MAX_PIXELS = 250_000_000          # as the tagger's default --max-megapixels


class Thumbnails:
    """Make, cache and serve thumbnails; at most ``workers`` decodes at once (the rest wait their turn)."""

    def __init__(self, folder: Path, *, limit: int = DEFAULT_LIMIT, workers: int | None = None):
        self.folder, self.limit = Path(folder), limit
        self._decodes = threading.BoundedSemaphore(workers or max(1, min(4, os.cpu_count() or 1)))
        self._lock = threading.Lock()
        self._size: int | None = None  # bytes in the folder, counted once, then kept up to date

    def file(self, digest: str, size: int = SIZE) -> Path:
        return self.folder / digest[:2] / f"{digest}-{size}.jpg"

    def get(self, digest: str, source: Path, size: int = SIZE) -> tuple[bytes, bool]:
        """The JPEG thumbnail of image ``digest`` (whose file is ``source``) and whether it came from the cache."""
        cached = self.file(digest, size)
        try:
            data = cached.read_bytes()
            os.utime(cached)  # recently used: kept when the cache is trimmed
            return data, True
        except OSError:
            pass
        with self._decodes:
            data = make_thumbnail(source, size)
        self._store(cached, data)
        return data, False

    def _store(self, cached: Path, data: bytes) -> None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            temp = cached.with_name(f".{cached.name}.{secrets.token_hex(4)}")
            temp.write_bytes(data)
            os.replace(temp, cached)
        except OSError:  # a full or read-only cache: the page still gets its thumbnail
            return
        with self._lock:
            if self._size is None:
                self._size = sum(size for _, size, _ in self._entries())
            else:
                self._size += len(data)
            if self._size > self.limit:
                self._size = self._trim()

    def _entries(self) -> list[tuple[Path, int, float]]:
        found = []
        for path in self.folder.glob("*/*.jpg"):
            try:
                st = path.stat()
            except OSError:
                continue
            found.append((path, st.st_size, st.st_mtime))
        return found

    def _trim(self) -> int:
        """Drop the least recently used thumbnails until the cache holds 80 % of its limit; the bytes left."""
        entries = sorted(self._entries(), key=lambda e: e[2])
        total = sum(size for _, size, _ in entries)
        for path, size, _ in entries:
            if total <= 0.8 * self.limit:
                break
            try:
                path.unlink()
                total -= size
            except OSError:
                pass
        return total


def make_thumbnail(path: Path, size: int = SIZE) -> bytes:
    """A JPEG of ``path`` at most ``size`` pixels on its longer side, upright. Raises PhotobrainError naming it."""
    from xmp.formats import RAW
    from xmp.regular import read_image_file

    from ..decode import _raw_preview, _register_heif, _to_rgb

    _register_heif()
    data, _ = read_image_file(path)
    if path.suffix.lower() in RAW:
        data = _raw_preview(path, data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = MAX_PIXELS
            image: Image.Image = Image.open(io.BytesIO(data))
            if isinstance(image, ImageFile.ImageFile) and image.format == "JPEG":
                image.draft("RGB", (size, size))  # decode at the smallest scale still at least this large
            image.load()
            image = ImageOps.exif_transpose(image)
            if image.mode not in ("RGB", "L"):
                image = _to_rgb(image)  # 16-bit scaled, transparency on white, as the model sees it
            image.thumbnail((size, size), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            image.save(out, "JPEG", quality=82, optimize=True)
    except (OSError, SyntaxError, ValueError, MemoryError, Image.DecompressionBombError) as exc:
        raise PhotobrainError(path, f"cannot make a thumbnail ({exc})", "check the file opens in an image viewer") from exc
    return out.getvalue()

