"""The cloud brain's part of a tag run: consent, the privacy ledger, cost, and sending photos a few at a time.

Strictly opt-in. Nothing here runs, and google-genai is never imported, unless the user chose
``--brain gemini`` or ``--brain both``, has an API key, and has consented for this library (a catalog).

* Consent is remembered in the catalog with the version of the explanation it was given for; a new
  explanation (``TERMS_VERSION``) asks again.
* The privacy ledger is an append-only JSON-lines file beside the catalog, mode 0600: one line before
  every request leaves the machine (written and flushed to disk first), one line with its outcome,
  tokens and cost. ``photobrain privacy`` reads it.
* The first request of a run goes out alone: a refused key or retired model stops the run there, with
  nothing more sent. After it, up to ``concurrency`` requests are in flight.
"""
from __future__ import annotations

import json
import os
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xmp.errors import PhotobrainError

from .brains.gemini import DEFAULT_MODEL, MAX_SIDE, CloudAnswer, CloudError, CloudStop

if TYPE_CHECKING:
    from index.catalog import Catalog

BRAINS = ("local", "gemini", "both")
PROVIDER = "Google, through the Gemini API (generativelanguage.googleapis.com)"
TERMS_URL = "https://ai.google.dev/gemini-api/terms"
#: the version of the explanation below: consent given for an older one is asked again
TERMS_VERSION = "2026-11-27"
CONSENT_KEY = "cloud_consent"

#: USD per 1M tokens (input, output), Gemini API paid-tier list prices; another model needs ``gemini_price``
#: in the config. Free keys cost nothing (and come with other terms: see the consent text).
PRICES: dict[str, tuple[float, float]] = {
    "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.0-flash-lite": (0.075, 0.30),
    "gemini-2.0-flash": (0.10, 0.40),
}
IMAGE_TOKENS = 258          # an image with both sides at most 384 px
PROMPT_TOKENS_GUESS = 150   # the instruction text; the ledger's measured mean replaces these guesses
OUTPUT_TOKENS_GUESS = 250
LEDGER_TAIL = 1 << 20       # the mean tokens per photo come from the ledger's last megabyte (about 4,000 answers)


@dataclass(frozen=True)
class CloudOptions:
    brain: str = "local"  # local | gemini | both
    model: str = DEFAULT_MODEL
    api_key: str | None = None
    max_cost: float | None = None  # USD for this run
    concurrency: int = 4
    price: tuple[float, float] | None = None  # USD per 1M tokens in/out, when the model is not in PRICES

    @property
    def uses_cloud(self) -> bool:
        return self.brain in ("gemini", "both")

    @property
    def source(self) -> str:
        """The provenance of tags and captions this model writes (``photobrain:Source`` in the XMP)."""
        return f"gemini:{self.model}"

    def unit_price(self) -> tuple[float, float] | None:
        return self.price or PRICES.get(self.model)


def ledger_path(catalog: Path) -> Path:
    return Path(f"{catalog}.cloud-ledger.jsonl")


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


# --- consent ------------------------------------------------------------------------------------

def consent_text(options: CloudOptions, catalog: Path) -> str:
    return f"""\
photobrain is about to send photos to a cloud service (--brain {options.brain}). Please read this once.

What leaves this machine, for each photo not answered before:
  - a new JPEG made from the photo's pixels alone, at most {MAX_SIDE} px on the long side (8-45 KB):
    no EXIF, no GPS position, no camera serial, no XMP keywords or captions, no ICC profile,
    no file name and no folder name;
  - a fixed instruction asking for keywords, a caption and alt text, naming the top-level
    branches of your vocabulary (such as "animal, place, activity").
To whom: {PROVIDER}, model {options.model}, billed to the API key you gave photobrain.
What Google's terms say ({TERMS_URL}):
  - unpaid (free tier) keys: Google may use what you send, photos included, to improve its
    products, and human reviewers may read it;
  - paid keys (a Cloud project with billing enabled): not used to improve Google's products;
    kept for up to 55 days to detect abuse. Users in the EEA, Switzerland and the UK get the
    paid terms on any key.
What stays here: your originals, the on-device tags and the search index. Every request is
written to {ledger_path(catalog)} before it is sent; 'photobrain privacy' shows them all.
'photobrain tag --estimate' shows the cost before anything is sent; --max-cost caps a run.
Your answer is remembered for this library (catalog {catalog});
'photobrain privacy --revoke' withdraws it."""


def consent_given(catalog: Catalog) -> dict | None:
    raw = catalog.setting(CONSENT_KEY)
    if raw is None:
        return None
    try:
        consent = json.loads(raw)
    except ValueError:
        return None
    return consent if isinstance(consent, dict) and consent.get("terms") == TERMS_VERSION else None


def record_consent(catalog: Catalog, options: CloudOptions, how: str) -> None:
    catalog.set_setting(CONSENT_KEY, json.dumps({"provider": "gemini", "model": options.model, "date": _now(),
                                                  "terms": TERMS_VERSION, "how": how}))


def revoke_consent(catalog: Catalog) -> bool:
    had = catalog.setting(CONSENT_KEY) is not None
    catalog.db.execute("DELETE FROM meta WHERE key = ?", (f"setting:{CONSENT_KEY}",))
    catalog.commit()
    return had


def require_key(options: CloudOptions) -> str:
    if not options.api_key:
        raise PhotobrainError(None, f"--brain {options.brain} needs a Gemini API key",
                              "set GEMINI_API_KEY, or gemini_api_key in the config file (get a key at "
                              "https://aistudio.google.com/apikey); --brain local needs none and sends nothing")
    return options.api_key


# --- the privacy ledger ---------------------------------------------------------------------------

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


# --- cost -------------------------------------------------------------------------------------------

def cost(options: CloudOptions, input_tokens: int, output_tokens: int) -> float:
    price = options.unit_price()
    return 0.0 if price is None else (input_tokens * price[0] + output_tokens * price[1]) / 1e6


def tokens_per_photo(entries: list[dict], model: str) -> tuple[int, int, bool]:
    """(input, output) tokens one photo takes: the mean the ledger measured for ``model``, else a guess."""
    answered = [e for e in entries if e.get("event") == "result" and e.get("model") == model
                and e.get("outcome") == "answered" and e.get("input_tokens")]
    if answered:
        return (round(sum(e["input_tokens"] for e in answered) / len(answered)),
                round(sum(e.get("output_tokens", 0) for e in answered) / len(answered)), True)
    return IMAGE_TOKENS + PROMPT_TOKENS_GUESS, OUTPUT_TOKENS_GUESS, False


def check_budget(options: CloudOptions) -> None:
    if options.max_cost is not None and options.unit_price() is None:
        raise PhotobrainError(None, f"photobrain does not know the price of {options.model!r}, so it cannot keep "
                              "to --max-cost", "set gemini_price = [INPUT, OUTPUT] (USD per million tokens) in the "
                              "config file")


# --- sending ----------------------------------------------------------------------------------------

class _Cancelled(Exception):
    """The run stopped before this photo was sent."""


class _Senders:
    """A few daemon threads running queued calls: after Ctrl-C the process exits without waiting for the network
    (a request cut off so shows in the ledger as sent, with no outcome)."""

    def __init__(self, workers: int):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"photobrain-cloud-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Any, *args: Any) -> Future:
        future: Future = Future()
        self._queue.put((future, fn, args))
        return future

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

    def shutdown(self, *, wait: bool) -> None:
        while True:  # what has not started is cancelled
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].cancel()
        for _ in self._threads:
            self._queue.put(None)
        if wait:
            for thread in self._threads:
                thread.join()


@dataclass
class CloudTally:
    requests: int = 0
    answered: int = 0
    refused: int = 0     # withheld for the photo's content: recorded, not sent again
    unanswered: int = 0  # no usable answer this time: sent again by the next run
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    would_send: int = 0  # dry run
    stopped: str | None = None
    stopped_hint: str | None = None
    notes: list[str] = field(default_factory=list)


class CloudRunner:
    """Sends prepared photos to the cloud model from a few threads; the caller collects answers in its thread.

    ``brain`` (a GeminiBrain, or a stand-in with the same ``describe``) is made on first use.
    """

    def __init__(self, options: CloudOptions, ledger: Ledger, branches: list[str], *, brain: Any = None,
                 base_url: str | None = None):
        self.options, self.ledger, self.branches = options, ledger, branches
        self._brain, self._base_url = brain, base_url
        self.tally = CloudTally()
        self._pool: _Senders | None = None
        self._inflight: dict[str, Future] = {}
        self._stopping = threading.Event()
        self._opened = threading.Event()   # set once the first request came back: then the others may go
        self._first_taken = False
        self._lock = threading.Lock()
        self._per_photo = cost(options, *tokens_per_photo(read_ledger(ledger.path, tail=LEDGER_TAIL),
                                                           options.model)[:2])
        self.stop_error: CloudError | None = None

    @property
    def stopped(self) -> bool:
        return self.stop_error is not None

    def submit(self, digest: str, path: Path) -> Future | None:
        """Ask about the photo at ``path`` (content hash ``digest``); None once the run must send nothing more."""
        if self.stop_error is not None:
            return None
        if digest in self._inflight:
            return self._inflight[digest]  # a duplicate in the same run is asked once
        max_cost = self.options.max_cost
        if max_cost is not None:
            with self._lock:
                committed = self.tally.cost_usd + self._per_photo * (1 + sum(not f.done() for f in self._inflight.values()))
            if committed > max_cost:
                # what is in flight already fits the budget and goes on; nothing more is sent
                self.stop(CloudStop(None, f"the budget for this run (--max-cost {max_cost:g} USD) is reached",
                                    "raise --max-cost"), cancel=False)
                return None
        if self._pool is None:
            if self._brain is None:
                from .brains.gemini import GeminiBrain

                self._brain = GeminiBrain(require_key(self.options), self.options.model, base_url=self._base_url)
            self._pool = _Senders(max(1, self.options.concurrency))
        first, self._first_taken = not self._first_taken, True
        future = self._pool.submit(self._ask, digest, Path(path), first)
        self._inflight[digest] = future
        return future

    def forget(self, digest: str) -> None:
        self._inflight.pop(digest, None)

    def stop(self, error: CloudError, *, cancel: bool = True) -> None:
        """Send nothing more; with ``cancel``, not even what is queued (the error would repeat)."""
        if self.stop_error is None:
            self.stop_error = error
            self.tally.stopped, self.tally.stopped_hint = error.reason, error.hint
        if cancel:
            self._stopping.set()
            self._opened.set()

    def shutdown(self, wait_for_running: bool = True) -> None:
        """Cancel what is queued; wait for requests on the wire unless interrupted (Ctrl-C does not wait)."""
        self._stopping.set()
        self._opened.set()
        if self._pool is not None:
            self._pool.shutdown(wait=wait_for_running)

    # -- in a worker thread ----------------------------------------------------------------------

    def _ask(self, digest: str, path: Path, first: bool) -> CloudAnswer:
        from .brains.gemini import CloudRefused, prepare_image

        if not first:
            self._opened.wait()
        if self._stopping.is_set():
            raise _Cancelled()
        jpeg = prepare_image(path, path.read_bytes())
        host = _host(self._base_url)

        def on_send(attempt: int) -> None:
            if self._stopping.is_set():
                raise _Cancelled()
            self.ledger.append({"event": "sent", "time": _now(), "hash": digest, "bytes": len(jpeg),
                                "model": self.options.model, "host": host, "attempt": attempt})
            with self._lock:
                self.tally.requests += 1

        outcome, reason, answer = "answered", None, None
        try:
            answer = self._brain.describe(jpeg, self.branches, on_send=on_send)
            return answer
        except CloudStop as exc:
            outcome, reason = "stopped", exc.reason
            self.stop(exc)
            raise
        except CloudRefused as exc:
            outcome, reason = "refused", exc.reason
            raise
        finally:
            self._opened.set()
            if outcome != "answered" or answer is not None:
                tokens = (answer.input_tokens, answer.output_tokens) if answer else (0, 0)
                spent = cost(self.options, *tokens)
                with self._lock:
                    self.tally.input_tokens += tokens[0]
                    self.tally.output_tokens += tokens[1]
                    self.tally.cost_usd += spent
                entry = {"event": "result", "time": _now(), "hash": digest, "model": self.options.model,
                         "outcome": outcome, "input_tokens": tokens[0], "output_tokens": tokens[1],
                         "cost_usd": round(spent, 8)}
                if reason:
                    entry["reason"] = reason
                self.ledger.append(entry)


def is_cancelled(exc: BaseException) -> bool:
    return isinstance(exc, _Cancelled)


def _host(base_url: str | None) -> str:
    url = base_url or os.environ.get("GOOGLE_GEMINI_BASE_URL") or "https://generativelanguage.googleapis.com"
    return url.split("://", 1)[-1].split("/", 1)[0]


# --- the estimate -----------------------------------------------------------------------------------

def estimate(paths: tuple[Path, ...], catalog_path: Path, options: CloudOptions) -> dict[str, Any]:
    """How many photos under ``paths`` a cloud run would send, with tokens and cost; reads no image, sends nothing."""
    from index.catalog import Catalog
    from xmp import is_image

    from .files import scan

    catalog = Catalog.open_readonly(catalog_path)
    try:
        known = catalog.files_under(Path(os.path.abspath(p)) for p in paths) if catalog else {}
        settled = catalog.cloud_settled(options.source) if catalog else set()
    finally:
        if catalog is not None:
            catalog.close()
    images = answered = unread = 0
    queued: set[str] = set()
    for path, st in scan(paths):
        if st is None or not is_image(path):
            continue
        images += 1
        row = known.get(Path(os.path.abspath(path)))
        if row is not None and row.hash and row.status == "ok" and (row.size, row.mtime_ns) == (
                st.st_size, st.st_mtime_ns):
            if row.hash in settled:
                answered += 1
            else:
                queued.add(row.hash)
        else:
            unread += 1
    to_send = len(queued) + unread
    per_in, per_out, measured = tokens_per_photo(read_ledger(ledger_path(catalog_path), tail=LEDGER_TAIL),
                                                 options.model)
    price = options.unit_price()
    return {"model": options.model, "images": images, "answered_before": answered, "to_send": to_send,
            "not_read_yet": unread, "tokens_per_photo": {"input": per_in, "output": per_out, "measured": measured},
            "input_tokens": to_send * per_in, "output_tokens": to_send * per_out,
            "price_per_million": list(price) if price else None,
            "cost_usd": round(cost(options, to_send * per_in, to_send * per_out), 6) if price else None}
