"""The resident service's life cycle from outside: is it running, start it detached, stop it, sign a browser in.

Torch-, numpy- and catalog-free like ``quick``: ``photobrain launcher`` on a warm service takes a fraction of a
second. A service started here runs in its own session (closing the terminal does not end it) and logs to
``serve.log`` in photobrain's data folder.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from xmp.errors import PhotobrainError

from .quick import exchange, read_service, service_file

START_SECONDS = 300.0  # a first start may prepare the model's text tower (about 15 s) on a slow disk


def ask(info: dict, method: str, path: str, *, timeout: float = 5.0) -> dict | None:
    """A running service's JSON answer (with the token), or None when it does not answer 200."""
    exchanged = exchange(info, method, path, {} if method == "POST" else None, timeout=timeout)
    return exchanged[1] if exchanged is not None and exchanged[0] == 200 else None


def running(catalog: Path) -> dict | None:
    """The service file of the catalog's running service, with its ``/status`` answer under ``status``."""
    info = read_service(catalog)
    if info is None:
        return None
    status = ask(info, "GET", "/status")
    if status is None or status.get("pid") not in (None, info.get("pid")):
        return None
    return {**info, "status": status}


def log_file() -> Path:
    from .places import data_dir

    return data_dir() / "serve.log"


def start(catalog: Path, *, extra: list[str] | None = None, wait: float = START_SECONDS) -> dict:
    """Start ``photobrain serve`` for ``catalog`` detached and wait until it answers; what ``running`` says."""
    log = log_file()
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "sidecar", "serve", "--catalog", str(catalog), *(extra or [])]
    with open(log, "ab") as out:
        out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n".encode())
        out.flush()
        # Windows: no console of its own, and not ended with the console of whoever started it (the Lightroom
        # plug-in's cmd.exe); elsewhere its own session does the same
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0) | getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, creationflags=flags,
                                   start_new_session=True, env={**os.environ, "PHOTOBRAIN_SERVICE_LOG": str(log)})
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PhotobrainError(catalog, f"the service did not start: {_last_error(log)}",
                                  f"see {log}; 'photobrain serve' in a terminal shows the same")
        info = read_service(catalog)
        if info is not None and info.get("pid") == process.pid:
            found = running(catalog)
            if found is not None:
                return found
        time.sleep(0.1)
    process.terminate()
    raise PhotobrainError(catalog, f"the service did not answer within {wait:.0f} s", f"see {log}")


def _last_error(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or ["it ended without a word"])[-1].removeprefix("error: ")


def stop(catalog: Path, *, wait: float = 15.0) -> int | None:
    """Stop the catalog's running service (SIGTERM, as Ctrl-C); its process id, or None when none ran."""
    found = running(catalog)
    if found is None:
        return None
    pid = int(found["pid"])
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return None
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and service_file(catalog).exists():
        time.sleep(0.1)
    if service_file(catalog).exists():
        raise PhotobrainError(catalog, f"the service (process {pid}) did not stop within {wait:.0f} s",
                              f"end it with 'kill {pid}'")
    return pid


def sign_in_url(info: dict, target: str = "/") -> str:
    """A one-time address that signs the browser in and shows ``target`` (a path on the service)."""
    answer = ask(info, "POST", "/login-code")
    if answer is None or "url" not in answer:
        raise PhotobrainError(service_file(Path(info["catalog"])), "the service did not hand out a sign-in address",
                              "stop it with 'photobrain serve --stop' and run this again")
    return f"{answer['url']}&next={quote(target, safe='')}"


def page_address(catalog: Path, target: str = "/", *, log=lambda m: None) -> str:
    """A one-time sign-in address for ``target`` on the catalog's service, starting the service (detached) when
    none runs: what ``photobrain launcher`` and the right-click entries open."""
    return sign_in_url(ensure(catalog, log=log), target)


def ensure(catalog: Path, *, log=lambda m: None) -> dict:
    """The catalog's running service (what ``running`` says), started (detached) when none runs: what the
    launcher, the right-click entries and ``serve --start`` (the Lightroom plug-in) rely on."""
    found = running(catalog)
    if found is None:
        if not catalog.exists():
            raise PhotobrainError(catalog, "no catalog yet: nothing to search", "tag a folder first: photobrain tag FOLDER")
        log(f"photobrain: starting the service for {catalog} (log: {log_file()})")
        found = start(catalog)
    return found


def page_target(*, similar: str | None = None, query: str | None = None, folder: str | None = None) -> str:
    """The page's own address (path and query) for a search, a similar search, scoped to a folder."""
    from urllib.parse import urlencode

    target = "/"
    if similar is not None:
        target = "/similar?" + urlencode({"path": os.path.abspath(similar)})
    elif query:
        target = "/?" + urlencode({"q": query})
    if folder is not None:
        target += ("&" if "?" in target else "?") + urlencode({"in": os.path.abspath(folder)})
    return target
