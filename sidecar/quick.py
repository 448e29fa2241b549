"""Asking a running ``photobrain serve`` from the command line, without the catalog, numpy or torch.

``photobrain search QUERY`` with no --in/--model/--pretrained needs nothing
but the service file beside the catalog: the service answers with the
library's own model (it says so in the file: ``default_model``). Anything
else (no service, another model, a folder to search in) takes the full path
in ``search_cli``.
"""
from __future__ import annotations

import http.client
import json
from pathlib import Path

from xmp.errors import PhotobrainError


def service_file(catalog: Path) -> Path:
    return Path(catalog).with_name(Path(catalog).name + ".service.json")


def read_service(catalog: Path) -> dict | None:
    try:
        info = json.loads(service_file(catalog).read_text())
        int(info["port"]), str(info["token"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info if isinstance(info, dict) else None


def exchange(info: dict, method: str, endpoint: str, payload: dict | None = None, *,
             timeout: float = 30.0) -> tuple[int, dict] | None:
    """(status, JSON answer) of one request to the running service with its token; None when it does not answer
    (not running: a stale file; gone meanwhile) or the answer is not a JSON object."""
    body = json.dumps(payload) if payload is not None else ""
    connection = http.client.HTTPConnection("127.0.0.1", int(info["port"]), timeout=timeout)
    try:
        connection.request(method, endpoint, body=body if method == "POST" else None, headers={
            "Authorization": f"Bearer {info['token']}", "Content-Type": "application/json"})
        response = connection.getresponse()
        answer = json.loads(response.read() or b"{}")
    except (TimeoutError, OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        connection.close()
    return (response.status, answer) if isinstance(answer, dict) else None


def post(info: dict, endpoint: str, payload: dict, *, timeout: float = 30.0) -> dict | None:
    """The service's answer to ``payload`` (a dict), or None when it cannot answer (gone, another model)."""
    exchanged = exchange(info, "POST", endpoint, payload, timeout=timeout)
    if exchanged is None:
        return None
    status, answer = exchanged
    if status == 422:
        raise PhotobrainError(answer.get("path"), answer.get("error", "the search failed"), answer.get("hint"))
    if status != 200:
        return None
    answer["served_by"] = "service"
    return answer


def ask_default(catalog: Path, endpoint: str, payload: dict) -> dict | None:
    """Through the catalog's service when it runs the library's own model; None otherwise."""
    info = read_service(catalog)
    if info is None or not info.get("default_model"):
        return None
    return post(info, endpoint, {**payload, "default_model": True})
