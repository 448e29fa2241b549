"""Keyword paths: splitting, joining, comparing and sanitising them per field."""
from __future__ import annotations

import re
import unicodedata

from .model import TagPath

#: Separators of the hierarchical fields, by field name.
PIPE = "|"
SLASH = "/"
MAX_COMPONENT = 64


def split(value: str, sep: str) -> TagPath:
    return tuple(part for part in value.split(sep) if part.strip())


def key(path: TagPath) -> TagPath:
    """Comparison key: digiKam turns a "/" inside a component into "\\"."""
    return tuple(part.strip().replace("/", "\\") for part in path)


def join(path: TagPath, sep: str) -> str:
    if sep == SLASH:
        return SLASH.join(part.replace("/", "\\") for part in path)
    return PIPE.join(path)


_SPACES = re.compile(r"\s+")


def sanitize_component(text: str) -> str:
    """Make a tag name from a vocabulary or a model safe for every keyword field.

    ``|`` and ``/`` would split it into a hierarchy in Lightroom or digiKam,
    control characters break some readers, and IIM keywords hold 64 bytes.
    """
    text = unicodedata.normalize("NFC", text)
    text = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    text = text.replace("|", "-").replace("/", "-").replace("\\", "-")
    text = _SPACES.sub(" ", text).strip()
    while len(text.encode("utf-8")) > MAX_COMPONENT:
        text = text[:-1].rstrip()
    return text


def sanitize_path(path: TagPath) -> TagPath:
    return tuple(part for part in (sanitize_component(p) for p in path) if part)
