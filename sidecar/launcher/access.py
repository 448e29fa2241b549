"""Who may ask the service: command-line clients with the token file, the launcher page with a cookie.

A browser cannot read the token file, so ``photobrain launcher`` asks the service (with the token) for a
one-time address, ``/login?code=...``, and opens it: the service exchanges the code (single use, valid for
``CODE_SECONDS``) for a session cookie (HttpOnly, SameSite=Strict, named after the service's port because
browsers share cookies between the ports of a host) and redirects to the page. Still refused, whatever
is presented: any address but loopback, a ``Host`` other than the service's own (DNS rebinding), an
``Origin`` other than the service's own (another page, even on this machine), a cross-site fetch
(``Sec-Fetch-Site``), and a state-changing request from a browser without its own ``Origin``.
"""
from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
CODE_SECONDS = 120.0     # a login address works once, within this time
MAX_CODES = 32           # unused login codes kept at once (the oldest go first)
MAX_SESSIONS = 64        # browser sessions kept at once (the oldest go first)


@dataclass
class Access:
    """The service's secrets: the bearer token, unused login codes and the browser sessions they became."""

    port: int
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    codes: dict[str, float] = field(default_factory=dict)      # code -> expiry (monotonic)
    sessions: dict[str, float] = field(default_factory=dict)   # session -> when it was made
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def cookie_name(self) -> str:
        return f"photobrain-{self.port}"

    @property
    def origins(self) -> tuple[str, ...]:
        return (f"http://127.0.0.1:{self.port}", f"http://localhost:{self.port}")

    def new_code(self) -> str:
        """A one-time login code (for a client holding the token)."""
        code = secrets.token_urlsafe(24)
        with self.lock:
            now = time.monotonic()
            self.codes = {c: t for c, t in self.codes.items() if t > now}
            while len(self.codes) >= MAX_CODES:
                self.codes.pop(next(iter(self.codes)))
            self.codes[code] = now + CODE_SECONDS
        return code

    def redeem(self, code: str) -> str | None:
        """A new session for a valid, unused code (which is used up); None otherwise."""
        with self.lock:
            expiry = self.codes.pop(code, None) if isinstance(code, str) else None
            if expiry is None or expiry < time.monotonic():
                return None
            session = secrets.token_urlsafe(32)
            while len(self.sessions) >= MAX_SESSIONS:
                self.sessions.pop(next(iter(self.sessions)))
            self.sessions[session] = time.time()
            return session

    def set_cookie(self, session: str) -> str:
        return f"{self.cookie_name}={session}; HttpOnly; SameSite=Strict; Path=/"

    def who(self, headers) -> str | None:
        """``"token"`` (a command-line client), ``"cookie"`` (the page) or None."""
        supplied = headers.get("Authorization") or ""
        if supplied and hmac.compare_digest(supplied.encode(), f"Bearer {self.token}".encode()):
            return "token"
        try:
            cookie = SimpleCookie(headers.get("Cookie") or "")
        except CookieError:
            return None
        morsel = cookie.get(self.cookie_name)
        if morsel is not None:
            with self.lock:
                if any(hmac.compare_digest(morsel.value.encode(), s.encode()) for s in self.sessions):
                    return "cookie"
        return None

    def refusal(self, client: str, headers, *, changes_state: bool = False, login: bool = False) -> tuple[int, str] | None:
        """Why a request must be refused (status, reason), or None when it may be answered."""
        if client not in LOOPBACK:
            return 403, "only this machine may ask"
        if headers.get("Host") not in (f"127.0.0.1:{self.port}", f"localhost:{self.port}"):
            return 403, "unexpected Host header"
        origin = headers.get("Origin")
        if origin is not None and origin not in self.origins:
            return 403, "requests from other web pages are not accepted"
        if (headers.get("Sec-Fetch-Site") or "same-origin") not in ("same-origin", "none"):
            return 403, "requests from other web pages are not accepted"
        if login:
            return None
        who = self.who(headers)
        if who is None:
            return 401, "missing or wrong token (open the page with 'photobrain launcher')"
        if who == "cookie" and changes_state and origin is None:
            return 403, "a browser request that changes something must come from the page itself"
        return None
