"""The one place pyexiv2 is imported: loading it, and turning its errors into ours."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import CorruptImageError, MetadataWriteError, PhotobrainError
from .model import NAMESPACE_PREFIX, NAMESPACE_URI


@lru_cache(maxsize=1)
def pyexiv2() -> Any:
    import pyexiv2 as module  # imported lazily: `photobrain --help` should stay fast

    module.set_log_level(4)  # exiv2 warnings would interleave with our own report
    try:
        module.registerNs(NAMESPACE_URI, NAMESPACE_PREFIX)
    except Exception:  # already registered by a previous import in this process
        pass
    return module


class Exiv2Image:
    """Metadata of an in-memory file (image or XMP sidecar) through exiv2."""

    def __init__(self, path: Path, data: bytes):
        self.path = path
        try:
            self._image = pyexiv2().ImageData(data)
        except (RuntimeError, ValueError) as exc:  # ValueError: over exiv2's 2 GB
            raise CorruptImageError(path, f"exiv2 cannot read this file ({_clean(exc)})",
                                    "check that it is a complete image; a sidecar is written with --write sidecar") from exc

    def read_xmp(self) -> dict[str, Any]:
        return self._call("read XMP from", self._image.read_xmp)

    def read_iptc(self) -> dict[str, Any]:
        return self._call("read IPTC from", self._image.read_iptc)

    def read_raw_xmp(self) -> str:
        return self._call("read XMP from", self._image.read_raw_xmp)

    def modify_raw_xmp(self, packet: str) -> None:
        self._call("write XMP into", self._image.modify_raw_xmp, packet, error=MetadataWriteError)

    def modify_iptc(self, values: dict[str, Any]) -> None:
        self._call("write IPTC into", self._image.modify_iptc, values, error=MetadataWriteError)

    def get_bytes(self) -> bytes:
        return self._call("serialise", self._image.get_bytes, error=MetadataWriteError)

    def close(self) -> None:
        self._image.close()

    def _call(self, what: str, fn: Any, *args: Any, error: type[PhotobrainError] = CorruptImageError) -> Any:
        try:
            return fn(*args)
        except (RuntimeError, UnicodeDecodeError) as exc:
            raise error(self.path, f"exiv2 could not {what} this file ({_clean(exc)})") from exc


def _clean(exc: BaseException) -> str:
    return re.sub(r"\s+", " ", str(exc)).strip()
