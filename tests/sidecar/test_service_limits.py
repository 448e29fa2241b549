"""No local process can stall `photobrain serve`: idle and slow connections, oversized and malformed requests."""
from __future__ import annotations

import json
import os
import socket
import time

import pytest
from test_searching import start_service, stop_service, tagged  # noqa: F401 (a fixture)

from sidecar.service import service_file
from sidecar.service_requests import MAX_BODY, MAX_QUERY


@pytest.fixture(scope="module")
def running(tagged, tiny_model):  # noqa: F811
    """One service for the module: every attack below is made on the same process, which must keep answering."""
    process = start_service(tagged, tagged / "catalog.db", tiny_model)
    yield process, json.loads(service_file(tagged / "catalog.db").read_text())
    stop_service(process, tagged / "catalog.db")
    assert "Traceback" not in process.stderr.read()


@pytest.fixture
def service(running):
    return running[1]


def post(info: dict, path: str, body: bytes, *, headers: dict | None = None, timeout: float = 10) -> tuple[int, dict]:
    """A raw POST (no client library smoothing anything over): status and JSON answer."""
    port, token = info["port"], info["token"]
    head = {"Host": f"127.0.0.1:{port}", "Authorization": f"Bearer {token}", "Content-Length": str(len(body)),
            **(headers or {})}
    request = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(request.encode() + body)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    payload = data.split(b"\r\n\r\n", 1)[1]
    return status, json.loads(payload) if payload else {}


def query(info: dict, tiny_clip, text: str = "red flower") -> bytes:
    return json.dumps({"query": text, "n": 5, "model": str(tiny_clip.config_path),
                       "pretrained": str(tiny_clip.checkpoint_path)}).encode()


def timed_search(info: dict, tiny_clip) -> float:
    started = time.monotonic()
    status, answer = post(info, "/search", query(info, tiny_clip))
    assert status == 200 and answer["hits"], answer
    return time.monotonic() - started


def test_an_idle_connection_and_fifty_slow_clients_do_not_stall_a_real_query(service, tiny_clip):
    port = service["port"]
    idle = socket.create_connection(("127.0.0.1", port))  # connects, sends nothing, no token needed
    slow = []
    for i in range(50):  # slowloris: headers that never end, and an authorised body that never comes
        conn = socket.create_connection(("127.0.0.1", port))
        if i % 2:
            conn.sendall(b"POST /search HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        else:
            conn.sendall(f"POST /search HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer "
                         f"{service['token']}\r\nContent-Length: 5000\r\n\r\n{{\"query\"".encode())
        slow.append(conn)
    try:
        timed_search(service, tiny_clip)  # warm
        assert max(timed_search(service, tiny_clip) for _ in range(3)) < 1.0
    finally:
        for conn in [idle, *slow]:
            conn.close()


def test_a_connection_that_never_finishes_its_request_is_closed(service):
    conn = socket.create_connection(("127.0.0.1", service["port"]), timeout=30)
    started = time.monotonic()
    conn.sendall(b"POST /search HTTP/1.1\r\n")
    while True:  # a byte now and then: each read succeeds, the whole request never arrives
        try:
            conn.sendall(b"X")
            if conn.recv(1, socket.MSG_DONTWAIT) == b"":
                break
        except BlockingIOError:
            pass
        except OSError:
            break
        time.sleep(0.5)
        assert time.monotonic() - started < 25, "a trickling client kept its connection"
    conn.close()


def test_oversized_bodies_and_queries_are_refused_at_once(service, tiny_clip):
    port, token = service["port"], service["token"]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        started = time.monotonic()
        conn.sendall(f"POST /search HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
                     f"Content-Length: {100 * 1024 * 1024}\r\n\r\n".encode())  # announces 100 MB, sends none
        answer = conn.recv(4096)
        assert answer.startswith(b"HTTP/1.0 413") and time.monotonic() - started < 1.0
    status, answer = post(service, "/search", query(service, tiny_clip, "a" * (MAX_QUERY + 1)))
    assert status == 400 and "over" in answer["error"]
    assert post(service, "/search", b"x" * (MAX_BODY + 1))[0] == 413


MALFORMED = {
    "a list": b"[1, 2]",
    "null": b"null",
    "a string": b'"query"',
    "not JSON": b"{query: dog}",
    "n not a number": b'{"query": "dog", "n": "abc"}',
    "n a boolean": b'{"query": "dog", "n": true}',
    "n huge": b'{"query": "dog", "n": 1e309}',
    "n negative": b'{"query": "dog", "n": -5}',
    "cutoff infinite": b'{"query": "dog", "cutoff": 1e309}',
    "cutoff NaN": b'{"query": "dog", "cutoff": NaN}',
    "query missing": b'{"n": 5}',
    "query a number": b'{"query": 5}',
    "query empty": b'{"query": "   "}',
    "lone surrogate": b'{"query": "\\ud800"}',
    "deep nesting": b'{"query": ' + b"[" * 30000 + b"]" * 30000 + b"}",
    "bad UTF-8": b'{"query": "\xff\xfe"}',
    "in relative": b'{"query": "dog", "in": "samples"}',
    "in not a string": b'{"query": "dog", "in": ["/"]}',
}
MALFORMED_SIMILAR = {
    "no path": b'{"n": 5}',
    "relative path": b'{"path": "landscapes/storm.jpg"}',
    "path a number": b'{"path": 5}',
    "path with NUL": b'{"path": "/tmp/a\\u0000b.jpg"}',
}


@pytest.mark.parametrize("endpoint,body", [("/search", b) for b in MALFORMED.values()]
                         + [("/similar", b) for b in MALFORMED_SIMILAR.values()],
                         ids=[*MALFORMED, *MALFORMED_SIMILAR])
def test_every_malformed_request_is_answered_400_with_a_reason(service, endpoint, body):
    status, answer = post(service, endpoint, body)
    assert status in (400, 413) and answer["error"], answer


def test_similar_on_a_fifo_a_device_or_a_folder_answers_and_does_not_hang(service, tiny_clip, tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    model = {"model": str(tiny_clip.config_path), "pretrained": str(tiny_clip.checkpoint_path)}
    for path, reason in ((fifo, "not a regular file"), ("/dev/zero", "not a regular file"), (tmp_path, "folder")):
        status, answer = post(service, "/similar", json.dumps({"path": str(path), **model}).encode(), timeout=20)
        assert status == 422 and reason in answer["error"], answer
    timed_search(service, tiny_clip)  # and it still answers


def test_the_service_is_still_up_and_quick_after_every_attack(running, tiny_clip):
    process, info = running
    for body in MALFORMED.values():
        post(info, "/search", body)
    assert process.poll() is None
    assert timed_search(info, tiny_clip) < 1.0
