"""What the service accepts: a request's body read within its limits, and a search request checked field by field.

Everything malformed raises :class:`BadRequest`, which the service answers with its status (400, or 408, 411,
413) and the reason.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

MAX_BODY = 64 * 1024      # bytes: a query and a few options
MAX_UPLOAD = 200 << 20    # bytes: an image dropped onto the launcher page
MAX_QUERY = 1000          # characters of a text query
MAX_RESULTS = 1000


class BadRequest(Exception):
    """A request the service answers 400 (or ``status``) with its reason."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.status = status


def read_body(headers, body, limit: int) -> bytes:
    """A request's body, whole, at most ``limit`` bytes; raises :class:`BadRequest` with the reason."""
    length_header = headers.get("Content-Length")
    if length_header is None:
        raise BadRequest("a Content-Length header is needed", 411)
    try:
        length = int(length_header)
    except ValueError:
        raise BadRequest("Content-Length is not a number") from None
    if length < 0:
        raise BadRequest("Content-Length is negative")
    if length > limit:
        raise BadRequest(f"the request body is over {limit} bytes", 413)
    try:
        data = body.read(length)
    except (OSError, TimeoutError):
        raise BadRequest("the request body did not arrive in time", 408) from None
    if len(data) < length:
        raise BadRequest("the request body is shorter than its Content-Length")
    return data


def parse_request(endpoint: str, headers, body) -> dict[str, Any]:
    """The checked request of a POST to ``endpoint``; raises :class:`BadRequest` with the reason."""
    request = _json_object(read_body(headers, body, MAX_BODY))
    checked: dict[str, Any] = {"model": request.get("model"), "pretrained": request.get("pretrained"),
                               "default_model": request.get("default_model") is True}
    n = request.get("n", 20)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_RESULTS:
        raise BadRequest(f"n must be a whole number from 1 to {MAX_RESULTS}")
    cutoff = request.get("cutoff", 3.0)
    if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float)) or not math.isfinite(cutoff):
        raise BadRequest("cutoff must be a finite number")
    checked.update(n=n, cutoff=float(cutoff), **{"in": _absolute(request.get("in"), "in", optional=True)})
    if endpoint == "/search":
        query = request.get("query")
        if not isinstance(query, str) or not query.strip():
            raise BadRequest("query must be a non-empty string")
        if len(query) > MAX_QUERY:
            raise BadRequest(f"the query is over {MAX_QUERY} characters")
        try:
            query.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest("the query is not valid Unicode (a lone surrogate)") from None
        checked["query"] = query
    else:
        checked["path"] = _absolute(request.get("path"), "path", optional=False)
    return checked


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        request = json.loads(data or b"{}", parse_constant=_no_constant)
    except RecursionError:
        raise BadRequest("the request is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the request is not JSON ({exc})") from None
    if not isinstance(request, dict):
        raise BadRequest("the request must be a JSON object")
    return request


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _absolute(value: Any, name: str, *, optional: bool) -> Path | None:
    """A path from a request: absolute (a relative one would be resolved against the service's own folder)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > 4096:
        raise BadRequest(f"{name} must be a path")
    if any("\ud800" <= c <= "\udfff" and not "\udc80" <= c <= "\udcff" for c in value) or "\x00" in value:
        raise BadRequest(f"{name} is not a path this system can name")
    if not os.path.isabs(value):
        raise BadRequest(f"{name} must be an absolute path")
    return Path(value)


MAX_PHOTOS_BODY = 32 << 20  # bytes: the paths of a few hundred thousand selected photos
MAX_PHOTOS = 200_000


def parse_photos(headers, body) -> dict[str, Any]:
    """A tag or keywords request: ``{"paths": [...], "rejected": {path: [[component, ...], ...]}}`` (the AI
    keywords the user removed from each photo), or ``{"job": ID}``; raises :class:`BadRequest`."""
    request = _json_object(read_body(headers, body, MAX_PHOTOS_BODY))
    if "job" in request:
        if not isinstance(request["job"], str) or not request["job"]:
            raise BadRequest("job must be the id a tag request answered with")
        return {"job": request["job"]}
    paths = request.get("paths")
    if not isinstance(paths, list) or not paths or len(paths) > MAX_PHOTOS:
        raise BadRequest(f"paths must be a list of 1 to {MAX_PHOTOS} photo paths")
    checked = [_absolute(p, "every path", optional=False) for p in paths]  # never None: not optional
    rejected = request.get("rejected") or {}
    if not isinstance(rejected, dict):
        raise BadRequest("rejected must map a photo's path to the keywords removed from it")
    removed: dict[Path, list[list[str]]] = {}
    for path, keywords in rejected.items():
        if not isinstance(keywords, list) or not all(
                isinstance(k, list) and k and all(isinstance(w, str) and w and "/" not in w for w in k)
                for k in keywords):
            raise BadRequest("each rejected keyword must be a list of names from the root down (no '/' in a name)")
        photo = _absolute(path, "a rejected photo's path", optional=False)
        assert photo is not None
        removed[photo] = keywords
    return {"paths": checked, "rejected": removed}
