"""Sending prepared photos a few at a time, from daemon threads; the caller collects the answers in its thread.

The first request of a run goes out alone: a refused key or retired model stops the run there, with
nothing more sent. After it, up to ``concurrency`` requests are in flight.
"""
from __future__ import annotations

import os
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..brains.gemini import CloudAnswer, CloudError, CloudRefused, CloudStop, CloudWithheld, GeminiBrain, prepare_image
from .consent import require_key
from .ledger import LEDGER_TAIL, Ledger, now, read_ledger
from .options import CloudOptions, cost, tokens_per_photo


class Cancelled(Exception):
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


class CloudRunner:
    """Sends prepared photos to the cloud model from a few threads; the caller collects answers in its thread.

    ``brain`` (a GeminiBrain, or a stand-in with the same ``describe``) is made on first use.
    """

    def __init__(self, options: CloudOptions, ledger: Ledger, branches: list[str], *, brain: Any = None):
        self.options, self.ledger, self.branches = options, ledger, branches
        self._brain = brain
        self.tally = CloudTally()
        self._pool: _Senders | None = None
        self._inflight: dict[str, Future] = {}
        self._stopping = threading.Event()
        self._proven = threading.Event()   # a request came back without an error that would repeat
        self._probe = threading.Lock()     # held by the one request in flight until then
        self._lock = threading.Lock()
        # the budget check's price of one more photo: only a run with --max-cost reads the ledger for it
        self._per_photo = 0.0 if options.max_cost is None else cost(
            options, *tokens_per_photo(read_ledger(ledger.path, tail=LEDGER_TAIL), options.model)[:2])
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
                self._brain = GeminiBrain(require_key(self.options), self.options.model)
            self._pool = _Senders(max(1, self.options.concurrency))
        future = self._pool.submit(self._ask, digest, Path(path))
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

    def shutdown(self, wait_for_running: bool = True) -> None:
        """Cancel what is queued; wait for requests on the wire unless interrupted (Ctrl-C does not wait)."""
        self._stopping.set()
        if self._pool is not None:
            self._pool.shutdown(wait=wait_for_running)

    # -- in a worker thread ----------------------------------------------------------------------

    def _ask(self, digest: str, path: Path) -> CloudAnswer:
        # Until a request has come back without an error that would repeat, requests go out one at a time: a
        # refused key or retired model then costs one request, whatever the concurrency. A photo that could
        # not be read sends nothing and proves nothing: the next one in line goes out alone in its place.
        probe = False
        if not self._proven.is_set():
            self._probe.acquire()
            if self._proven.is_set():
                self._probe.release()
            else:
                probe = True
        sent = False
        try:
            if self._stopping.is_set():
                raise Cancelled()
            jpeg = prepare_image(path, path.read_bytes())
            host = _host()

            def on_send(attempt: int) -> None:
                nonlocal sent
                if self._stopping.is_set():
                    raise Cancelled()
                self.ledger.append({"event": "sent", "time": now(), "hash": digest, "bytes": len(jpeg),
                                    "model": self.options.model, "host": host, "attempt": attempt})
                sent = True
                with self._lock:
                    self.tally.requests += 1

            return self._describe(digest, jpeg, on_send)
        finally:
            if probe:
                if sent and not self._stopping.is_set():
                    self._proven.set()
                self._probe.release()

    def _describe(self, digest: str, jpeg: bytes, on_send: Any) -> CloudAnswer:
        """Ask, and log the outcome of what was sent (nothing is logged for a request that never left)."""
        outcome, reason, answer = "answered", None, None
        try:
            answer = self._brain.describe(jpeg, self.branches, on_send=on_send)
            return answer
        except CloudStop as exc:
            outcome, reason = "stopped", exc.reason
            self.stop(exc)
            raise
        except CloudWithheld as exc:
            outcome, reason = "withheld", exc.reason
            raise
        except CloudRefused as exc:
            outcome, reason = "no answer", exc.reason
            raise
        finally:
            if outcome != "answered" or answer is not None:
                tokens = (answer.input_tokens, answer.output_tokens) if answer else (0, 0)
                spent = cost(self.options, *tokens)
                with self._lock:
                    self.tally.input_tokens += tokens[0]
                    self.tally.output_tokens += tokens[1]
                    self.tally.cost_usd += spent
                entry = {"event": "result", "time": now(), "hash": digest, "model": self.options.model,
                         "outcome": outcome, "input_tokens": tokens[0], "output_tokens": tokens[1],
                         "cost_usd": round(spent, 8)}
                if reason:
                    entry["reason"] = reason
                self.ledger.append(entry)


def _host() -> str:
    """Where requests go: the SDK's own GOOGLE_GEMINI_BASE_URL setting, else the Gemini API."""
    url = os.environ.get("GOOGLE_GEMINI_BASE_URL") or "https://generativelanguage.googleapis.com"
    return url.split("://", 1)[-1].split("/", 1)[0]
