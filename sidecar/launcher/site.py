"""The launcher page and its API, served by ``photobrain serve`` (see ``service.py`` for the server itself).

Everything the page shows comes from here, and only about files the catalog holds: a path that is not a
catalogued, existing, regular file is answered 404 whatever it names (``..`` is resolved first), and a
thumbnail is asked for by content hash, never by path. Endpoints (GET unless said):

* ``/``, ``/similar`` - the page (one HTML file, its script and style under ``/page/``; nothing from elsewhere)
* ``/api/search?q=&n=&in=&keyword=&cutoff=`` and ``/api/similar?path=&...`` - results, best first
* ``POST /api/similar-image`` - the bytes of a dropped image: photos like it
* ``/api/file?path=`` - one photo's tags (the user's, the model's, the cloud's), caption, size and date
* ``/api/facets?in=`` - library roots, folders and common tags, for the filters
* ``/api/status`` - counts and what background tagging has pending
* ``/thumb/<hash>`` - a thumbnail (``thumbs.Thumbnails``)
* ``POST /api/open``, ``POST /api/reveal`` ``{"path"}`` - hand a catalogued photo to the desktop
"""
from __future__ import annotations

import json
import math
import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from index.search import Searcher, SearchResult
from xmp.errors import PhotobrainError

from .desktop import Desktop
from .thumbs import LARGE, SIZE, Thumbnails

PAGE = Path(__file__).with_name("page")
STATIC = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8",
          "icon.svg": "image/svg+xml"}
MAX_QUERY = 1000
MAX_RESULTS = 1000
DEFAULT_RESULTS = 60
HASH = re.compile(r"[0-9a-f]{16,128}")
FACETS_SECONDS = 60.0  # the filters' lists are computed at most this often


class Refused(Exception):
    """A request the page API answers with ``status`` and the reason."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.status = status


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: Any) -> Reply:
        from ..output import json_text

        return cls(status, json_text(data, indent=None).encode("utf-8"))


class Site:
    """The page's endpoints over a warm searcher. ``lock`` guards the searcher's catalog connection and models."""

    def __init__(self, searcher: Searcher, lock: threading.Lock, refresh: Callable[[], None], thumbs: Thumbnails, *,
                 desktop: Desktop | None = None, pending: Callable[[], dict] = lambda: {}):
        self.searcher, self.lock, self.refresh, self.thumbs = searcher, lock, refresh, thumbs
        self.desktop = desktop or Desktop()
        self.pending = pending
        self._facets: dict[str, tuple[float, dict]] = {}

    # -- dispatch ---------------------------------------------------------------------------------

    def get(self, path: str, query: dict[str, list[str]]) -> Reply:
        try:
            if path in ("/", "/similar"):
                return Reply(200, (PAGE / "index.html").read_bytes(), "text/html; charset=utf-8")
            if path.startswith("/page/") and path[6:] in STATIC:
                return Reply(200, (PAGE / path[6:]).read_bytes(), STATIC[path[6:]],
                             {"Cache-Control": "private, max-age=300"})
            if path.startswith("/thumb/"):
                return self._thumb(path[7:], LARGE if (query.get("size") or [""])[-1] == "large" else SIZE)
            api = {"/api/search": self._search, "/api/similar": self._similar, "/api/file": self._file,
                   "/api/facets": self._facets_of, "/api/status": self._status}.get(path)
            if api is None:
                raise Refused("no such page", 404)
            return Reply.json(200, api(_Query(query)))
        except Refused as exc:
            return Reply.json(exc.status, {"error": str(exc)})
        except PhotobrainError as exc:
            return Reply.json(422, {"error": exc.reason, "path": exc.path, "hint": exc.hint})

    def post(self, path: str, body: bytes, headers) -> Reply:
        try:
            if path == "/api/similar-image":
                return Reply.json(200, self._similar_image(body, headers))
            action = {"/api/open": self.desktop.open, "/api/reveal": self.desktop.reveal}.get(path)
            if action is None:
                raise Refused("no such endpoint", 404)
            try:
                request = json.loads(body or b"{}")
            except (ValueError, UnicodeDecodeError):
                raise Refused("the request is not JSON") from None
            if not isinstance(request, dict):
                raise Refused("the request must be a JSON object")
            with self.lock:
                target = self._catalogued(request.get("path"))
            action(target)
            return Reply.json(200, {"done": path.rsplit("/", 1)[1], "path": str(target)})
        except Refused as exc:
            return Reply.json(exc.status, {"error": str(exc)})
        except PhotobrainError as exc:
            return Reply.json(422, {"error": exc.reason, "path": exc.path, "hint": exc.hint})

    # -- results ----------------------------------------------------------------------------------

    def _search(self, q: _Query) -> dict:
        text = q.text("q", MAX_QUERY)
        if not text.strip():
            raise Refused("q must be a non-empty query")
        n, folder, keyword, cutoff = q.common()
        with self.lock:
            self.refresh()
            result = self.searcher.search(text, n=_wider(n, keyword), in_folder=folder, cutoff=cutoff)
            return self._shown(result, n, keyword)

    def _similar(self, q: _Query) -> dict:
        n, folder, keyword, cutoff = q.common()
        with self.lock:
            self.refresh()
            target = self._catalogued(q.text("path", 4096))
            result = self.searcher.similar(target, n=_wider(n, keyword), in_folder=folder, cutoff=cutoff)
            return self._shown(result, n, keyword)

    def _similar_image(self, body: bytes, headers) -> dict:
        """Photos like a dropped image: its stored vector when the catalog knows its image data, else embedded."""
        if not body:
            raise Refused("drop an image file: the request has no data")
        name = unquote(headers.get("X-Filename") or "dropped.jpg")
        suffix = Path(name).suffix.lower()
        if not re.fullmatch(r"\.[a-z0-9]{1,8}", suffix):
            suffix = ".jpg"
        q = _Query({key: [unquote(headers.get(header))] for key, header in (
            ("n", "X-Results"), ("cutoff", "X-Cutoff"), ("in", "X-In"), ("keyword", "X-Keyword")) if headers.get(header)})
        n, folder, keyword, cutoff = q.common()
        with tempfile.TemporaryDirectory(prefix="photobrain-drop-") as private:
            dropped = Path(private) / f"dropped{suffix}"
            dropped.write_bytes(body)
            with self.lock:
                self.refresh()
                result = self.searcher.similar(dropped, n=_wider(n, keyword), in_folder=folder, cutoff=cutoff)
                result.query = name
                result.same = [p for p in result.same if not p.startswith(private)]
                return self._shown(result, n, keyword)

    def _shown(self, result: SearchResult, n: int, keyword: str | None) -> dict:
        """The result as the page shows it: a name, folder and thumbnail address per hit; the keyword filter."""
        hits = result.hits
        if keyword:
            keep = self.searcher.catalog.with_keyword([Path(h.path) for h in hits], keyword)
            hits = [h for h in hits if Path(h.path) in keep]
        hits = hits[:n]
        data = result.to_dict()
        data["hits"] = [{**h.__dict__, "name": Path(h.path).name, "folder": str(Path(h.path).parent),
                         "thumb": f"/thumb/{h.hash}"} for h in hits]
        digest = self.searcher.catalog.hash_of(Path(result.same[0])) if result.same else None
        data["same"] = [{"path": p, "name": Path(p).name, "thumb": f"/thumb/{digest}" if digest else None}
                        for p in result.same]
        return data

    # -- one photo --------------------------------------------------------------------------------

    def _file(self, q: _Query) -> dict:
        from xmp import read_metadata, summarize

        with self.lock:
            path = self._catalogued(q.text("path", 4096))
            digest = self.searcher.catalog.hash_of(path)
            info = self.searcher.catalog.image_info(digest) if digest else None
        summary = summarize(read_metadata(path))
        model: list[dict] = []
        cloud: list[dict] = []
        for tag in summary.ai_tags:
            (cloud if str(tag.get("source") or "").startswith("gemini:") else model).append(tag)
        st = path.stat()
        return {"path": str(path), "name": path.name, "folder": str(path.parent), "hash": digest,
                "thumb": f"/thumb/{digest}" if digest else None, "bytes": st.st_size,
                "modified": time.strftime("%Y-%m-%d %H:%M", time.localtime(st.st_mtime)), "taken": _taken(path),
                "width": info[0] if info else None, "height": info[1] if info else None,
                "format": info[2] if info else None,
                "tags": {"user": summary.user_hierarchy + [k for k in summary.user_keywords
                                                           if not any(h.endswith("/" + k) or h == k
                                                                      for h in summary.user_hierarchy)],
                         "model": sorted(model, key=lambda t: -(t.get("score") or 0)),
                         "cloud": sorted(cloud, key=lambda t: -(t.get("score") or 0))},
                "caption": next(iter(summary.captions.values()), ""), "rating": summary.rating,
                "rejected": summary.rejected}

    def _thumb(self, digest: str, size: int) -> Reply:
        if not HASH.fullmatch(digest):
            raise Refused("no such thumbnail", 404)
        with self.lock:
            paths = self.searcher.catalog.paths_of(digest)
        for path in paths:
            if _regular(path):
                data, cached = self.thumbs.get(digest, path, size)
                return Reply(200, data, "image/jpeg", {"Cache-Control": "private, max-age=86400",
                                                       "X-Thumbnail": "cached" if cached else "made"})
        raise Refused("no such thumbnail", 404)

    # -- filters and status -----------------------------------------------------------------------

    def _facets_of(self, q: _Query) -> dict:
        folder = q.path("in")
        key = str(folder)
        cached = self._facets.get(key)
        if cached and time.monotonic() - cached[0] < FACETS_SECONDS:
            return cached[1]
        # on a connection of its own, outside the searcher's lock: counting a large library's folders (a fraction
        # of a second at a million photos) must not hold up the queries typed meanwhile
        from index.catalog import Catalog

        catalog = Catalog.open_readonly(self.searcher.catalog.path)
        if catalog is None:
            raise Refused("the catalog is gone", 404)
        with catalog:
            roots = [lib.root for lib in catalog.libraries()]
            data = {"roots": [str(r) for r in roots if r.is_dir()],
                    "folders": [{"path": str(f), "count": c} for f, c in catalog.folders_under(folder)] if folder else [],
                    "keywords": [{"keyword": t.split("/")[-1], "path": t, "count": c} for t, c in catalog.common_tags()]}
        self._facets[key] = (time.monotonic(), data)
        return data

    def _status(self, q: _Query) -> dict:
        with self.lock:
            counts = self.searcher.catalog.counts()
            return {"model": self.searcher.model_label, "index": self.searcher.index.info.kind,
                    "images": self.searcher.index.info.count, "files": counts["files"], "watch": self.pending()}

    def _catalogued(self, value: Any) -> Path:
        """A path the catalog holds as a photo that is there now; 404 for anything else (caller holds the lock)."""
        if not isinstance(value, str) or not value or "\x00" in value or len(value) > 4096:
            raise Refused("path must be a path")
        if not os.path.isabs(value):
            raise Refused("path must be an absolute path")
        path = Path(os.path.normpath(value))
        row = self.searcher.catalog.file_row(path)
        if row is None or row.status != "ok" or not _regular(path):
            raise Refused("not a photo in the catalog: tag its folder first, or drop the file onto the page", 404)
        return path


class _Query:
    """A request's query string, checked one parameter at a time."""

    def __init__(self, values: dict[str, list[str]]):
        self.values = values

    def text(self, name: str, limit: int) -> str:
        value = (self.values.get(name) or [""])[-1]
        if len(value) > limit:
            raise Refused(f"{name} is over {limit} characters")
        return value

    def path(self, name: str) -> Path | None:
        value = self.text(name, 4096)
        if not value:
            return None
        if not os.path.isabs(value) or "\x00" in value:
            raise Refused(f"{name} must be an absolute path")
        return Path(os.path.normpath(value))

    def number(self, name: str, default: float) -> float:
        value = self.text(name, 32)
        if not value:
            return default
        try:
            number = float(value)
        except ValueError:
            raise Refused(f"{name} must be a number") from None
        if not math.isfinite(number):
            raise Refused(f"{name} must be a finite number")
        return number

    def common(self) -> tuple[int, Path | None, str | None, float]:
        n = self.number("n", DEFAULT_RESULTS)
        if n != int(n) or not 1 <= n <= MAX_RESULTS:
            raise Refused(f"n must be a whole number from 1 to {MAX_RESULTS}")
        return int(n), self.path("in"), self.text("keyword", 200).strip() or None, self.number("cutoff", 3.0)


def _wider(n: int, keyword: str | None) -> int:
    """How many results to ask for: more when a keyword filter will drop some."""
    return min(MAX_RESULTS, n * 5) if keyword else n


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def _taken(path: Path) -> str | None:
    """When the photo was taken (EXIF DateTimeOriginal), read from its header only; None when it does not say."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            value = image.getexif().get_ifd(0x8769).get(0x9003)
    except Exception:  # noqa: BLE001 - any format Pillow cannot read simply has no date here
        return None
    if not isinstance(value, str) or not re.match(r"\d{4}:\d\d:\d\d \d\d:\d\d", value):
        return None
    return value[:10].replace(":", "-") + value[10:16]
