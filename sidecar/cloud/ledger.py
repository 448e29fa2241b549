"""The privacy ledger: an append-only JSON-lines file beside the catalog, mode 0600.

One line is written, and flushed to disk, before each request leaves the machine (time, content
hash, bytes, model, host, attempt); a second records its outcome, tokens and estimated cost. If the
ledger cannot be written, nothing is sent. ``photobrain privacy`` reads it.
"""
from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..brains.gemini import CloudStop

LEDGER_TAIL = 1 << 20       # the mean tokens per photo come from the ledger's last megabyte (about 4,000 answers)


def ledger_path(catalog: Path) -> Path:
    return Path(f"{catalog}.cloud-ledger.jsonl")


def now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


class Ledger:
    """Append-only JSON lines, one before each request leaves the machine and one with its outcome."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, entry: dict) -> None:
        line = (json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        with self._lock:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, line)
                    os.fsync(fd)  # on disk before the request is sent
                finally:
                    os.close(fd)
            except OSError as exc:
                raise CloudStop(self.path, f"cannot write the privacy ledger ({exc.strerror})",
                                "nothing is sent unless it is logged first: free space or fix the folder's "
                                "permissions") from exc


def read_ledger(path: Path, *, tail: int | None = None) -> list[dict]:
    """The ledger's entries; with ``tail``, only those in its last ``tail`` bytes (a big ledger is not read whole)."""
    entries = []
    try:
        with open(path, "rb") as fh:
            if tail is not None:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(max(0, size - tail))
                if size > tail:
                    fh.readline()  # the first line is cut
            for raw in fh:
                line = raw.decode("utf-8", "replace")
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a crash
                if isinstance(entry, dict):
                    entries.append(entry)
    except FileNotFoundError:
        pass
    return entries


def summarize_ledger(entries: list[dict]) -> dict[str, Any]:
    sent = [e for e in entries if e.get("event") == "sent"]
    results = [e for e in entries if e.get("event") == "result"]
    outcomes: dict[str, int] = {}
    for entry in results:
        outcomes[entry.get("outcome", "?")] = outcomes.get(entry.get("outcome", "?"), 0) + 1
    return {
        "requests": len(sent),
        "photos": len({e.get("hash") for e in sent}),
        "bytes": sum(int(e.get("bytes", 0)) for e in sent),
        "first": sent[0]["time"] if sent else None,
        "last": sent[-1]["time"] if sent else None,
        "models": sorted({str(e.get("model")) for e in sent}),
        "hosts": sorted({str(e.get("host")) for e in sent}),
        "input_tokens": sum(int(e.get("input_tokens", 0)) for e in results),
        "output_tokens": sum(int(e.get("output_tokens", 0)) for e in results),
        "cost_usd": round(sum(float(e.get("cost_usd", 0.0)) for e in results), 6),
        "outcomes": outcomes,
    }
