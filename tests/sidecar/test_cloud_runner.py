"""The cloud runner's gate and concurrency with a stand-in brain (the real client is tested in test_gemini/test_cloud_tag)."""
from __future__ import annotations

import threading
import time
from concurrent.futures import wait
from pathlib import Path

import pytest
from conftest import SAMPLES

from sidecar.brains.gemini import CloudAnswer, CloudStop
from sidecar.cloud import CloudOptions, CloudRunner, Ledger, read_ledger

PHOTO = SAMPLES / "food/fig.jpg"


class StandIn:
    """Answers like GeminiBrain.describe: calls on_send, then answers (or raises what it is told to)."""

    def __init__(self, fail_with: Exception | None = None, delay: float = 0.05):
        self.fail_with, self.delay = fail_with, delay
        self.calls = 0
        self.active = self.most_active = 0
        self._lock = threading.Lock()

    def describe(self, jpeg: bytes, branches: list[str], *, on_send) -> CloudAnswer:
        on_send(1)
        with self._lock:
            self.calls += 1
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            time.sleep(self.delay)
            if self.fail_with is not None:
                raise self.fail_with
            return CloudAnswer([("animal", "bird")], "A bird.", "A small bird.", "m", len(jpeg), 300, 60)
        finally:
            with self._lock:
                self.active -= 1


def runner(tmp_path: Path, brain: StandIn, concurrency: int = 4) -> CloudRunner:
    return CloudRunner(CloudOptions(brain="both", api_key="k", concurrency=concurrency),
                       Ledger(tmp_path / "ledger.jsonl"), ["animal"], brain=brain)


def test_a_photo_that_cannot_be_read_first_does_not_hold_up_the_others(tmp_path):
    brain = StandIn()
    cloud = runner(tmp_path, brain)
    futures = [cloud.submit("gone", tmp_path / "deleted.jpg")] + [cloud.submit(f"h{i}", PHOTO) for i in range(6)]
    done, pending = wait([f for f in futures if f is not None], timeout=20)
    assert not pending  # before the fix the others waited for ever on the first photo's answer
    with pytest.raises(OSError):
        futures[0].result()
    assert all(f.result().caption == "A bird." for f in futures[1:])
    cloud.shutdown()


def test_an_error_that_would_repeat_costs_one_request_whatever_the_concurrency(tmp_path):
    brain = StandIn(CloudStop(None, "Gemini refused the API key"))
    cloud = runner(tmp_path, brain, concurrency=8)
    futures = [cloud.submit(f"h{i}", PHOTO) for i in range(8)]
    wait(futures, timeout=20)
    assert brain.calls == 1 and cloud.stopped
    assert cloud.submit("later", PHOTO) is None
    entries = read_ledger(tmp_path / "ledger.jsonl")
    assert [e["event"] for e in entries] == ["sent", "result"] and entries[1]["outcome"] == "stopped"
    cloud.shutdown()


def test_once_a_request_came_back_the_rest_go_in_parallel(tmp_path):
    brain = StandIn(delay=0.3)
    cloud = runner(tmp_path, brain, concurrency=3)
    futures = [cloud.submit(f"h{i}", PHOTO) for i in range(7)]
    wait(futures, timeout=20)
    assert brain.calls == 7 and brain.most_active == 3
    assert cloud.tally.requests == 7 and cloud.tally.input_tokens == 7 * 300
    cloud.shutdown()
