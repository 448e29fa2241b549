"""Printing results: JSON that is valid UTF-8 whatever the file names are."""
from __future__ import annotations

import json
from typing import Any

from xmp.errors import shown

__all__ = ["json_text", "shown"]


def json_text(data: Any, *, indent: int | None = 2) -> str:
    """``data`` as JSON, non-ASCII text as it is.

    A file name whose bytes are not UTF-8 reaches Python as a string with lone surrogates (``os.fsdecode``);
    those are written as ``\\udcXX`` escapes, which keeps the output valid UTF-8 and gives a Python reader
    (``os.fsencode``) the name's exact bytes back.
    """
    text = json.dumps(data, ensure_ascii=False, indent=indent)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
