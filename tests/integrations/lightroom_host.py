"""Lightroom, as far as the photobrain plug-in can tell: its code in a real Lua 5.1 (lupa) against the SDK
stand-in ``lightroom_sdk.lua``, with HTTP, the shell and files of this machine (the real service, the real
``photobrain serve --start``)."""
from __future__ import annotations

import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import lupa.lua51 as lua51

STUB = Path(__file__).with_name("lightroom_sdk.lua")


class Lightroom:
    def __init__(self, plugin: Path, temp: Path, env: dict[str, str]):
        self.plugin, self.env = plugin, env
        self.lua = lua51.LuaRuntime(unpack_returned_tuples=True)
        self.http_log: list[tuple[str, str]] = []
        host = self.lua.table_from({"http": self._http, "execute": self._execute, "sleep": time.sleep,
                                    "exists": lambda p: Path(p).exists(), "read": self._read, "temp": str(temp)})
        self.sdk = self.lua.execute(STUB.read_text())["new"](host, str(plugin))
        self.catalog = self.sdk.catalog

    # -- the host ----------------------------------------------------------------------------------------------

    def _read(self, path: str) -> str | None:
        try:
            return Path(path).read_text(encoding="utf-8")
        except OSError:
            return None

    def _execute(self, line: str) -> int:
        # started with SIGINT ignored, as a background job of a shell is (and an application's helper may be):
        # what is ignored stays ignored in every child, which photobrain must undo where it needs the signal
        return subprocess.run(["/bin/sh", "-c", line], env=self.env, stdin=subprocess.DEVNULL, timeout=300,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)).returncode

    def _http(self, method, url, body, headers, timeout):
        self.http_log.append((method, url))
        request = urllib.request.Request(url, data=body.encode() if body is not None else None, method=method,
                                         headers=dict(h.split(": ", 1) for h in headers.values()))
        try:
            with urllib.request.urlopen(request, timeout=timeout or 30) as response:
                return self.lua.table_from({"status": response.status, "body": response.read().decode()})
        except urllib.error.HTTPError as error:
            return self.lua.table_from({"status": error.code, "body": error.read().decode()})
        except OSError as error:
            return self.lua.table_from({"error": str(error)})

    # -- the catalog, as a test sets it up and reads it --------------------------------------------------------

    def add_photo(self, path: Path, keywords: list[list[str]] = (), virtual: bool = False):
        return self.sdk.addPhoto(str(path), self.lua.table_from([self.lua.table_from(k) for k in keywords]), virtual)

    def select(self, *photos) -> None:
        self.sdk.target = self.lua.table_from(list(photos))

    def run(self, script: str) -> None:
        self.sdk.run(script)

    @staticmethod
    def path_of(keyword) -> str:
        names = []
        while keyword is not None:
            names.insert(0, keyword.name)
            keyword = keyword.parent
        return "/".join(names)

    def keywords(self, photo) -> list[str]:
        return sorted(self.path_of(k) for k in photo.keywords.values())

    def keyword_tree(self) -> list[str]:
        """Every keyword in the catalog by its path (a keyword made twice shows twice)."""
        found: list[str] = []

        def walk(keywords, above: str) -> None:
            for keyword in keywords.values():
                path = f"{above}/{keyword.name}" if above else keyword.name
                found.append(path)
                walk(keyword.children, path)

        walk(self.catalog.keywords, "")
        return found

    def collections(self) -> dict[str, tuple[str | None, list[str]]]:
        return {c.name: (c.parent.name if c.parent else None, [p.path for p in c.photos.values()])
                for c in self.catalog.collections.values()}

    def field(self, photo) -> str | None:
        return photo.props["aiKeywords"]

    def calls(self) -> list[dict]:
        return [{"name": c.name, "block": c.block, "detail": c.detail} for c in self.sdk.calls.values()]

    def messages(self) -> list[tuple[str, str]]:
        return [(m.style, m.text) for m in self.sdk.messages.values()]

    def bezels(self) -> list[str]:
        return list(self.sdk.bezels.values())

    def errors(self) -> list[str]:
        return list(self.sdk.errors.values())

    def executed(self) -> list[str]:
        return list(self.sdk.executed.values())

    def remove_keyword(self, photo, path: str) -> None:
        """The user takes a keyword off a photo in Lightroom."""
        for keyword in photo.keywords.values():
            if self.path_of(keyword) == path:
                self.lua.eval("function(photo, keyword, sdk) sdk.writing = true; photo:removeKeyword(keyword); "
                              "sdk.writing = false end")(photo, keyword, self.sdk)
                return
        raise AssertionError(f"{path} is not on the photo")
