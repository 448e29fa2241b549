"""``photobrain serve``: the model and index kept warm for search, on loopback only.

The service listens on 127.0.0.1 on a random port. Beside the catalog it
writes ``<catalog>.service.json`` (readable by the user only: mode 0600)
with the port, its process id and a random token. Every request must carry
``Authorization: Bearer <token>``, or the launcher page's session cookie
(``launcher/access.py``: how a browser gets one, and what is refused
whatever is presented: other addresses, a foreign ``Host``, another page's
``Origin``).

API (JSON in, JSON out): ``POST /search`` ``{"query", "n", "in", "cutoff"}``,
``POST /similar`` ``{"path", "n", "in", "cutoff"}``, ``GET /status``,
``POST /login-code``; the launcher page and its endpoints (``launcher/site.py``). For the Lightroom plug-in,
to token holders only (``tag_jobs.py``): ``POST /keywords`` ``{"paths"}`` (each photo's AI keywords),
``POST /tag`` ``{"paths", "rejected"}`` (start a tag run), ``POST /tag/status`` and ``POST /tag/cancel``
``{"job"}``.
``search`` and ``similar`` on the command line use the service when it runs
for the same catalog and model, and work in-process otherwise. With ``watch``
it also tags photos that arrive in the libraries (``watch.py``).

No local process can stall it: each connection has its own thread (at most
``MAX_CONNECTIONS``; more are answered 503 at once), a request must arrive
whole within ``REQUEST_SECONDS`` (an idle or trickling connection is closed),
bodies over ``MAX_BODY`` bytes are answered 413 without being read, and a
malformed request is answered 400 with its reason. The searcher (model,
index, catalog) answers one query at a time behind a lock: a query takes
milliseconds, so the lock is never what a client waits on for long.
The standard library's threading server was measured against this (see
README, "The resident service"): it keeps a real query under 50 ms with 50
slow clients connected, so no web framework is needed.
"""
from __future__ import annotations

import html
import json
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from index.search import Hit, Searcher, SearchResult
from xmp.errors import PhotobrainError

from .launcher.access import Access
from .launcher.desktop import Desktop
from .launcher.site import Site
from .launcher.thumbs import DEFAULT_LIMIT as DEFAULT_THUMBNAIL_LIMIT
from .memory import resident_memory
from .output import json_text
from .quick import post, read_service, service_file
from .searching import SearchSettings, index_refresher, open_with_models
from .service_requests import MAX_BODY, MAX_UPLOAD, BadRequest, parse_photos, parse_request, read_body
from .tag_jobs import TagJobs, keywords_for

MAX_CONNECTIONS = 64      # connections served at once; each is a thread
REQUEST_SECONDS = 10.0    # to send a whole request (headers and body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, handler):
        super().__init__(address, handler)
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):  # full: say so at once rather than queue behind stalled clients
            try:
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address) -> None:  # a client that went away: nothing to print
        pass


# --- server ---------------------------------------------------------------------------------------

DEFAULT_IDLE_UNLOAD = 900.0  # seconds without a query after which the text model is given back


def serve(settings: SearchSettings, *, port: int = 0, ready: Callable[[dict], None] = lambda info: None,
          log: Callable[[str], None] = lambda m: None, idle_unload: float | None = DEFAULT_IDLE_UNLOAD,
          default_model: bool = False, watch: bool = False, thumbnail_limit: int = DEFAULT_THUMBNAIL_LIMIT,
          desktop: Desktop | None = None) -> None:
    """Run the search service until SIGINT/SIGTERM. Loads the text model first, so the first query is warm too.

    torch never enters this process (see ``searching.Models``): the text tower runs on ONNX Runtime and an
    unknown file's image embedding in a child process. ``idle_unload``: seconds without a query after which
    the text model is given back (None: kept). ``default_model``: the model is the library's own (no
    --model/--pretrained), so a client that names none may be answered without reading the catalog.
    ``watch``: tag photos that arrive in the catalog's libraries (``watch.Watcher``). The launcher page and
    its thumbnails (at most ``thumbnail_limit`` bytes in the cache) are served too (``launcher.site``).
    """
    from .launcher.site import Site
    from .launcher.thumbs import Thumbnails
    from .places import cache_dir

    searcher, models = open_with_models(settings, log=log, resident=True)
    models.embed_text("warm up")  # load the text model and run it once
    server = _Server(("127.0.0.1", port), BaseHTTPRequestHandler)
    access = Access(server.server_address[1])
    lock = threading.Lock()  # the model, the index and the catalog connection answer one query at a time
    refresh = index_refresher(searcher)
    watcher = None
    if watch:
        from .watch import Watcher

        watcher = Watcher(settings.catalog, log=log)
    site = Site(searcher, lock, refresh, Thumbnails(cache_dir() / "thumbs", limit=thumbnail_limit),
                desktop=desktop, pending=watcher.state if watcher else lambda: {"watching": []})
    jobs = TagJobs(settings.catalog, log=log)
    server.RequestHandlerClass = _handler(searcher, access, settings, site, refresh, lock, default_model, jobs)
    info = {"pid": os.getpid(), "port": access.port, "token": access.token,
            "catalog": str(Path(os.path.abspath(settings.catalog))), "model": settings.model,
            "pretrained": settings.pretrained, "default_model": default_model,
            "log": os.environ.get("PHOTOBRAIN_SERVICE_LOG")}
    path = service_file(settings.catalog)
    _write_private(path, info)

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    # whoever started the service may ignore SIGINT (a background job of a shell, an application's helper), and
    # an ignored signal stays ignored in every child: a client's tag run could then not be cancelled (an
    # interrupt, as Ctrl-C). Handled here, it is the default again in each child.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    housekeeping = threading.Event()

    def keep_house() -> None:
        while not housekeeping.wait(min(5.0, (idle_unload or 10.0) / 2)):
            released = models.release_idle(idle_unload)
            if released:
                log(f"photobrain serve: idle, gave back the {' and the '.join(released)}")

    threading.Thread(target=keep_house, daemon=True, name="photobrain-idle").start()
    try:
        if watcher is not None:
            watcher.start()
        ready(info)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        housekeeping.set()
        if watcher is not None:
            watcher.stop()
        server.server_close()
        models.close()
        try:
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass
        searcher.catalog.close()


def _write_private(path: Path, info: dict) -> None:
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(info, fh)
    os.replace(temp, path)


def refusal(client: str, headers, port: int, token: str) -> tuple[int, str] | None:
    """Why a command-line request must be refused (status, reason), or None (see ``launcher.access``)."""
    return Access(port, token).refusal(client, headers)


SECURITY_HEADERS = {
    # the page may load and ask nothing but the service itself; no frame may hold it
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin", "Cross-Origin-Opener-Policy": "same-origin",
}
PAGES = ("/", "/similar")  # what a browser opens; answered with a page that says how to get in when refused
SIGN_IN_AGAIN = ("<!doctype html><meta charset=utf-8><title>photobrain</title><p>{reason}.</p>"
                 "<p>Open photobrain from its menu entry, or run <code>photobrain launcher</code>.</p>")


def _handler(searcher: Searcher, access: Access, settings: SearchSettings, site: Site,
             refresh: Callable[[], None], lock: threading.Lock, default_model: bool = False,
             jobs: TagJobs | None = None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "photobrain"
        timeout = REQUEST_SECONDS  # on every read of the socket: an idle connection is closed

        def setup(self) -> None:
            super().setup()
            # and for the whole request: a client trickling a byte at a time is cut off too
            self._cutoff = threading.Timer(REQUEST_SECONDS, self._cut)
            self._cutoff.daemon = True
            self._cutoff.start()

        def finish(self) -> None:
            self._cutoff.cancel()
            try:
                super().finish()
            except OSError:
                pass

        def _cut(self) -> None:
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def log_message(self, format, *args) -> None:  # quiet: results are the client's business
            pass

        def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                for name, value in {"Cache-Control": "no-store", **SECURITY_HEADERS, **(headers or {})}.items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            except OSError:  # the client went away
                pass

        def _reply(self, status: int, body: dict) -> None:
            self._send(status, json_text(body, indent=None).encode("utf-8"), "application/json")

        def _refused(self, path: str, **kind) -> bool:
            refused = access.refusal(str(self.client_address[0]), self.headers, **kind)
            if refused is None:
                return False
            if self.command == "GET" and path in PAGES:
                page = SIGN_IN_AGAIN.format(reason=html.escape(refused[1][:1].upper() + refused[1][1:]))
                self._send(refused[0], page.encode(), "text/html; charset=utf-8")
            else:
                self._reply(refused[0], {"error": refused[1]})
            return True

        def do_GET(self) -> None:
            self._cutoff.cancel()
            url = urlsplit(self.path)
            if url.path == "/login":
                self._login(parse_qs(url.query))
                return
            if self._refused(url.path):
                return
            if url.path == "/status":
                with lock:
                    self._reply(200, {"model": searcher.model_label, "index": searcher.index.info.kind,
                                      "images": searcher.index.info.count, "pid": os.getpid(),
                                      "memory_mb": _megabytes(resident_memory()), "uptime": round(time.monotonic() - STARTED),
                                      "watch": site.pending()})
                return
            reply = site.get(url.path, parse_qs(url.query, keep_blank_values=True))
            self._send(reply.status, reply.body, reply.content_type, reply.headers)

        do_HEAD = do_GET

        def _login(self, query: dict[str, list[str]]) -> None:
            """Exchange a one-time code for the page's cookie and go on to the page (``next``, on this service)."""
            if self._refused("/", login=True):
                return
            session = access.redeem((query.get("code") or [""])[-1])
            if session is None:
                page = SIGN_IN_AGAIN.format(reason="This sign-in address was used already or has expired")
                self._send(403, page.encode(), "text/html; charset=utf-8")
                return
            target = (query.get("next") or ["/"])[-1]
            if not target.startswith("/") or target.startswith(("//", "/\\")):
                target = "/"
            self._send(303, b"", "text/plain", {"Location": target, "Set-Cookie": access.set_cookie(session)})

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            try:
                if self._refused(path, changes_state=True):
                    return
                if path == "/login-code":
                    if access.who(self.headers) != "token":
                        self._reply(403, {"error": "only a client holding the token file may ask for a sign-in address"})
                        return
                    code = access.new_code()
                    self._reply(200, {"code": code, "url": f"http://127.0.0.1:{access.port}/login?code={code}"})
                    return
                if path in PHOTO_ENDPOINTS:
                    if access.who(self.headers) != "token":
                        self._reply(403, {"error": "only a client holding the token file may tag or read keywords"})
                        return
                    photos = parse_photos(self.headers, self.rfile)
                    self._cutoff.cancel()
                    self._photos(path, photos)
                    return
                if path.startswith("/api/"):
                    body = read_body(self.headers, self.rfile, MAX_UPLOAD if path == "/api/similar-image" else MAX_BODY)
                    self._cutoff.cancel()
                    reply = site.post(path, body, self.headers)
                    self._send(reply.status, reply.body, reply.content_type, reply.headers)
                    return
                if path not in ("/search", "/similar"):
                    self._reply(404, {"error": "unknown endpoint"})
                    return
                request = parse_request(path, self.headers, self.rfile)
            except BadRequest as exc:
                self._reply(exc.status, {"error": str(exc)})
                return
            finally:
                self._cutoff.cancel()  # the request is in (or refused): what follows is the service's own time
            if request.get("default_model") and default_model:
                pass  # a client that names no model, to a service running the library's own
            elif (request.get("model"), request.get("pretrained")) != (settings.model, settings.pretrained):
                self._reply(409, {"error": "this service runs another model"})
                return
            try:
                with lock:
                    refresh()  # a tag run since the last request replaced the index: answer from the new one
                    result = answer(searcher, path, request)
            except PhotobrainError as exc:
                self._reply(422, {"error": exc.reason, "path": exc.path, "hint": exc.hint})
                return
            self._reply(200, result.to_dict())

        def _photos(self, path: str, request: dict[str, Any]) -> None:
            assert jobs is not None
            if path == "/keywords":
                self._reply(200, keywords_for(settings.catalog, request.get("paths") or []))
                return
            if path == "/tag":
                if "paths" not in request:
                    self._reply(400, {"error": "paths must be a list of photo paths"})
                    return
                started = jobs.start(request["paths"], request["rejected"])
                self._reply(409 if started.get("busy") else 200, started)
                return
            if "job" not in request:
                self._reply(400, {"error": "job must be the id a tag request answered with"})
                return
            found = (jobs.status if path == "/tag/status" else jobs.cancel)(request["job"])
            self._reply(200 if found else 404, found or {"error": "no such tag run (the service was restarted?)"})

    return Handler


PHOTO_ENDPOINTS = ("/keywords", "/tag", "/tag/status", "/tag/cancel")


STARTED = time.monotonic()


def _megabytes(count: int | None) -> int | None:
    return None if count is None else round(count / 1e6)


def answer(searcher: Searcher, endpoint: str, request: dict[str, Any]) -> SearchResult:
    """The search or similar a checked request asks for."""
    if endpoint == "/search":
        return searcher.search(request["query"], n=request["n"], in_folder=request["in"], cutoff=request["cutoff"])
    return searcher.similar(request["path"], n=request["n"], in_folder=request["in"], cutoff=request["cutoff"])


# --- client ---------------------------------------------------------------------------------------

def call_service(settings: SearchSettings, endpoint: str, payload: dict, *, timeout: float = 30.0) -> SearchResult | None:
    """Ask a running service; None when none runs for this catalog and model (the caller works in-process)."""
    info = read_service(settings.catalog)
    if info is None:
        return None
    answer = post(info, endpoint, {**payload, "model": settings.model, "pretrained": settings.pretrained},
                  timeout=timeout)
    if answer is None:
        return None
    hits = [Hit(**hit) for hit in answer.pop("hits")]
    return SearchResult(hits=hits, **answer)
