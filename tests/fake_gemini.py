"""A loopback fake of the Gemini API for tests: the real google-genai client talks to it."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ENVIRONMENT = ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GEMINI_BASE_URL",
               "GOOGLE_GENAI_API_VERSION", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
               "all_proxy")
"""What the SDK reads from the environment: tests clear it so nothing points anywhere but the fake."""


GOOD = {"keywords": [["animal", "bird", "heron"], ["place", "lake"]], "caption": "A heron stands  at a lake.",
        "alt_text": "Grey heron in shallow water."}


def ok(answer: dict | str = GOOD, finish: str = "STOP") -> tuple[int, dict]:
    text = answer if isinstance(answer, str) else json.dumps(answer)
    return 200, {"candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": finish}],
                 "usageMetadata": {"promptTokenCount": 300, "candidatesTokenCount": 60, "totalTokenCount": 360}}


def error(code: int, status: str, message: str, *details: dict) -> tuple[int, dict]:
    return code, {"error": {"code": code, "status": status, "message": message, "details": list(details)}}


RETRY_7S = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
PER_MINUTE = {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
              "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]}
PER_DAY = {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
           "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}
BAD_KEY = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}


class FakeGemini:
    """Answers generateContent with the scripted (status, body[, delay]) replies in order; records each request."""

    def __init__(self):
        self.script: list[tuple] = []
        self.requests: list[dict] = []
        self.active = self.most_active = 0  # requests being answered at once, and the most seen
        lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    status, reply, *delay = fake.script.pop(0) if fake.script else fake.default
                    fake.active += 1
                    fake.most_active = max(fake.most_active, fake.active)
                try:
                    if delay:
                        time.sleep(delay[0])
                finally:
                    with lock:
                        fake.active -= 1
                data = json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

        self.default: tuple = ok()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
