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
"""
from __future__ import annotations

import hmac
import http.client
import json
import os
import secrets
import signal
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from index.search import Hit, Searcher, SearchResult
from xmp.errors import PhotobrainError

from .searching import SearchSettings, index_refresher, open_searcher

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def service_file(catalog: Path) -> Path:
    return Path(catalog).with_name(Path(catalog).name + ".service.json")


# --- server ---------------------------------------------------------------------------------------

def serve(settings: SearchSettings, *, port: int = 0, ready: Callable[[dict], None] = lambda info: None,
          log: Callable[[str], None] = lambda m: None) -> None:
    """Run the search service until SIGINT/SIGTERM. Loads the model first, so the first query is warm too."""
    searcher = open_searcher(settings, log=log)
    assert searcher.embed_text is not None
    searcher.embed_text("warm up")  # load the model and run the text tower once
    token = secrets.token_urlsafe(32)
    server = HTTPServer(("127.0.0.1", port), BaseHTTPRequestHandler)
    server.RequestHandlerClass = _handler(searcher, token, settings, server.server_address[1], index_refresher(searcher))
    info = {"pid": os.getpid(), "port": server.server_address[1], "token": token,
            "catalog": str(Path(os.path.abspath(settings.catalog))), "model": settings.model,
            "pretrained": settings.pretrained}
    path = service_file(settings.catalog)
    _write_private(path, info)

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        ready(info)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
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
             refresh: Callable[[], None]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "photobrain"

        def log_message(self, format, *args) -> None:  # quiet: results are the client's business
            pass

        def _reply(self, status: int, body: dict) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _allowed(self) -> bool:
            refused = refusal(str(self.client_address[0]), self.headers, port, token)
            if refused:
                self._reply(refused[0], {"error": refused[1]})
                return False
            return True

        def do_GET(self) -> None:
            if not self._allowed():
                return
            if self.path != "/status":
                self._reply(404, {"error": "unknown endpoint"})
                return
            self._reply(200, {"model": searcher.model_label, "index": searcher.index.info.kind,
                              "images": searcher.index.info.count})

        def do_POST(self) -> None:
            if not self._allowed():
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
            except (ValueError, OSError):
                self._reply(400, {"error": "the request is not JSON"})
                return
            if (request.get("model"), request.get("pretrained")) != (settings.model, settings.pretrained):
                self._reply(409, {"error": "this service runs another model"})
                return
            refresh()  # a tag run since the last request replaced the index: answer from the new one
            folder = Path(request["in"]) if request.get("in") else None
            n, cutoff = int(request.get("n", 20)), float(request.get("cutoff", 3.0))
            try:
                if self.path == "/search":
                    result = searcher.search(str(request.get("query", "")), n=n, in_folder=folder, cutoff=cutoff)
                elif self.path == "/similar":
                    result = searcher.similar(Path(request["path"]), n=n, in_folder=folder, cutoff=cutoff)
                else:
                    self._reply(404, {"error": "unknown endpoint"})
                    return
            except PhotobrainError as exc:
                self._reply(422, {"error": exc.reason, "path": exc.path, "hint": exc.hint})
                return
            self._reply(200, result.to_dict())

    return Handler


# --- client ---------------------------------------------------------------------------------------

def call_service(settings: SearchSettings, endpoint: str, payload: dict, *, timeout: float = 30.0) -> SearchResult | None:
    """Ask a running service; None when none runs for this catalog and model (the caller works in-process)."""
    try:
        info = json.loads(service_file(settings.catalog).read_text())
        port, token = int(info["port"]), str(info["token"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    body = json.dumps({**payload, "model": settings.model, "pretrained": settings.pretrained})
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", endpoint, body=body, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        response = connection.getresponse()
        answer = json.loads(response.read() or b"{}")
    except (TimeoutError, OSError, http.client.HTTPException, ValueError):
        return None  # not running (a stale file), or gone meanwhile
    finally:
        connection.close()
    if response.status == 422:
        raise PhotobrainError(answer.get("path"), answer.get("error", "the search failed"), answer.get("hint"))
    if response.status != 200:
        return None
    hits = [Hit(**hit) for hit in answer.pop("hits")]
    answer["served_by"] = "service"
    return SearchResult(hits=hits, **answer)
