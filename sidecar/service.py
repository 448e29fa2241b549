"""``photobrain serve``: the model and index kept warm for search, on loopback only.

The service listens on 127.0.0.1 on a random port. Beside the catalog it
writes ``<catalog>.service.json`` (readable by the user only: mode 0600)
with the port, its process id and a random token. Every request must carry
``Authorization: Bearer <token>``; requests from any address but loopback,
with a ``Host`` other than ``127.0.0.1:<port>``/``localhost:<port>`` (DNS
rebinding), or with any ``Origin`` header (a web page) are refused.

API (JSON in, JSON out): ``POST /search`` ``{"query", "n", "in", "cutoff"}``,
``POST /similar`` ``{"path", "n", "in", "cutoff"}``, ``GET /status``.
``search`` and ``similar`` on the command line use the service when it runs
for the same catalog and model, and work in-process otherwise.

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

import hmac
import json
import math
import os
import secrets
import signal
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from index.search import Hit, Searcher, SearchResult
from xmp.errors import PhotobrainError

from .output import json_text
from .quick import post, read_service, service_file
from .searching import SearchSettings, index_refresher, open_with_models

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
MAX_CONNECTIONS = 64      # connections served at once; each is a thread
REQUEST_SECONDS = 10.0    # to send a whole request (headers and body)
MAX_BODY = 64 * 1024      # bytes: a query and a few options
MAX_QUERY = 1000          # characters of a text query
MAX_RESULTS = 1000


class BadRequest(Exception):
    """A request the service answers 400 (or ``status``) with its reason."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.status = status


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
          default_model: bool = False) -> None:
    """Run the search service until SIGINT/SIGTERM. Loads the text model first, so the first query is warm too.

    torch never enters this process (see ``searching.Models``): the text tower runs on ONNX Runtime and an
    unknown file's image embedding in a child process. ``idle_unload``: seconds without a query after which
    the text model is given back (None: kept). ``default_model``: the model is the library's own (no
    --model/--pretrained), so a client that names none may be answered without reading the catalog.
    """
    searcher, models = open_with_models(settings, log=log, resident=True)
    models.embed_text("warm up")  # load the text model and run it once
    token = secrets.token_urlsafe(32)
    server = _Server(("127.0.0.1", port), BaseHTTPRequestHandler)
    server.RequestHandlerClass = _handler(searcher, token, settings, server.server_address[1],
                                          index_refresher(searcher), default_model)
    info = {"pid": os.getpid(), "port": server.server_address[1], "token": token,
            "catalog": str(Path(os.path.abspath(settings.catalog))), "model": settings.model,
            "pretrained": settings.pretrained, "default_model": default_model}
    path = service_file(settings.catalog)
    _write_private(path, info)

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    housekeeping = threading.Event()

    def keep_house() -> None:
        while not housekeeping.wait(min(5.0, (idle_unload or 10.0) / 2)):
            released = models.release_idle(idle_unload)
            if released:
                log(f"photobrain serve: idle, gave back the {' and the '.join(released)}")

    threading.Thread(target=keep_house, daemon=True, name="photobrain-idle").start()
    try:
        ready(info)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        housekeeping.set()
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
    """Why a request must be refused (status, reason), or None when it may be answered."""
    if client not in LOOPBACK:
        return 403, "only this machine may ask"
    if headers.get("Origin") is not None:
        return 403, "requests from web pages are not accepted"
    if headers.get("Host") not in (f"127.0.0.1:{port}", f"localhost:{port}"):
        return 403, "unexpected Host header"
    supplied = headers.get("Authorization") or ""
    if not hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode()):
        return 401, "missing or wrong token"
    return None


def _handler(searcher: Searcher, token: str, settings: SearchSettings, port: int,
             refresh: Callable[[], None], default_model: bool = False) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()  # the model, the index and the catalog connection answer one query at a time

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

        def _reply(self, status: int, body: dict) -> None:
            data = json_text(body, indent=None).encode("utf-8")
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client went away
                pass

        def _allowed(self) -> bool:
            refused = refusal(str(self.client_address[0]), self.headers, port, token)
            if refused:
                self._reply(refused[0], {"error": refused[1]})
                return False
            return True

        def do_GET(self) -> None:
            self._cutoff.cancel()
            if not self._allowed():
                return
            if self.path != "/status":
                self._reply(404, {"error": "unknown endpoint"})
                return
            with lock:
                self._reply(200, {"model": searcher.model_label, "index": searcher.index.info.kind,
                                  "images": searcher.index.info.count})

        def do_POST(self) -> None:
            try:
                if not self._allowed():
                    return
                if self.path not in ("/search", "/similar"):
                    self._reply(404, {"error": "unknown endpoint"})
                    return
                request = parse_request(self.path, self.headers, self.rfile)
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
                    result = answer(searcher, self.path, request)
            except PhotobrainError as exc:
                self._reply(422, {"error": exc.reason, "path": exc.path, "hint": exc.hint})
                return
            self._reply(200, result.to_dict())

    return Handler


def parse_request(endpoint: str, headers, body) -> dict[str, Any]:
    """The checked request of a POST to ``endpoint``; raises :class:`BadRequest` with the reason."""
    length_header = headers.get("Content-Length")
    if length_header is None:
        raise BadRequest("a Content-Length header is needed", 411)
    try:
        length = int(length_header)
    except ValueError:
        raise BadRequest("Content-Length is not a number") from None
    if length < 0:
        raise BadRequest("Content-Length is negative")
    if length > MAX_BODY:
        raise BadRequest(f"the request body is over {MAX_BODY} bytes", 413)
    try:
        data = body.read(length)
    except (OSError, TimeoutError):
        raise BadRequest("the request body did not arrive in time", 408) from None
    if len(data) < length:
        raise BadRequest("the request body is shorter than its Content-Length")
    try:
        request = json.loads(data or b"{}", parse_constant=_no_constant)
    except RecursionError:
        raise BadRequest("the request is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the request is not JSON ({exc})") from None
    if not isinstance(request, dict):
        raise BadRequest("the request must be a JSON object")
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
