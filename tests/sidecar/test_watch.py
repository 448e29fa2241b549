"""Background tagging: photos arriving in a watched library are tagged once they settle, in batches."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sidecar.watch import Watcher


@pytest.fixture
def watched(tmp_path, tiny_clip, monkeypatch):
    """A library of two photos tagged (tags embedded where the format allows) with the tiny model."""
    from conftest import sample_copies

    monkeypatch.setenv("PHOTOBRAIN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PHOTOBRAIN_CONFIG", str(tmp_path / "none.toml"))
    library = sample_copies(tmp_path / "library", ["plants/dandelions.jpg", "landscapes/storm.jpg"])
    catalog = tmp_path / "catalog.db"
    tag(catalog, library, "--model", str(tiny_clip.config_path), "--pretrained", str(tiny_clip.checkpoint_path),
        "--threshold", "0.05")
    return library, catalog


def tag(catalog: Path, *args) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "sidecar", "tag", "--catalog", str(catalog), "-q", "--jobs", "1",
                           *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done


def until(condition, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_a_photo_copied_in_slowly_is_tagged_once_after_it_stops_growing(watched):
    from conftest import SAMPLES

    from xmp import read_metadata, summarize

    library, catalog = watched
    watcher = Watcher(catalog, settle=1.5)
    watcher.start()
    try:
        assert watcher.state()["watching"] == [str(library)]
        data = (SAMPLES / "landscapes/autumn valley.jpg").read_bytes()
        arriving = library / "card" / "IMG_0001.jpg"
        arriving.parent.mkdir()
        with open(arriving, "wb") as out:  # a card reader: a chunk, a pause shorter than the settle time, ...
            for start in range(0, len(data), len(data) // 6 + 1):
                out.write(data[start:start + len(data) // 6 + 1])
                out.flush()
                time.sleep(0.5)
                assert watcher.state()["batches"] == []  # nothing is tagged while the file still grows
        (batch,) = until(lambda: watcher.state()["batches"])
        assert batch["files"] == [str(arriving)] and batch["exit"] == 0
        assert batch["statuses"] == {str(arriving): "tagged"} and batch["embedded"] == 1
        summary = summarize(read_metadata(arriving))
        assert summary.ai_tags  # tagged with the library's profile: embedded into the JPEG
        time.sleep(4)  # the tag run's own write into the file is no new arrival
        assert len(watcher.state()["batches"]) == 1 and watcher.state()["pending"] == 0
    finally:
        watcher.stop()


def test_a_moved_or_renamed_photo_is_recognised_without_the_model(watched):
    library, catalog = watched
    watcher = Watcher(catalog, settle=0.5)
    watcher.start()
    try:
        (library / "2024" / "spring").mkdir(parents=True)
        moved = library / "2024" / "spring" / "dandelions in May.jpg"
        os.rename(library / "dandelions.jpg", moved)
        (batch,) = until(lambda: watcher.state()["batches"])
        assert batch["statuses"] == {str(moved): "moved"} and batch["embedded"] == 0
    finally:
        watcher.stop()
    status = json.loads(subprocess.run([sys.executable, "-m", "sidecar", "status", "--catalog", str(catalog), "--json"],
                                       capture_output=True, text=True).stdout)
    assert status["counts"]["files"] == 2 and status["counts"]["missing"] == 1


def test_a_burst_of_ten_thousand_files_is_a_few_processes_not_one_per_file(tmp_path, watched):
    library, catalog = watched
    calls = tmp_path / "calls.jsonl"
    recorder = tmp_path / "record.py"  # stands in for 'photobrain': notes what it was asked to tag
    recorder.write_text(f"import json, sys\nopen({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
                        "print('{}')\n")
    watcher = Watcher(catalog, settle=1.0, command=[sys.executable, str(recorder)])
    watcher.start()
    try:
        burst = library / "import"
        staging = tmp_path / "staging"
        staging.mkdir()
        source = library / "storm.jpg"
        for i in range(5000):  # half copied in one by one, half arriving as a folder moved in whole
            os.link(source, staging / f"IMG_{i:05d}.jpg")
        burst.mkdir()
        for i in range(5000, 10000):
            os.link(source, burst / f"IMG_{i:05d}.jpg")
        os.rename(staging, library / "moved in")
        until(lambda: watcher.state()["tagged"] >= 10_000, timeout=120)
        time.sleep(2.5)
    finally:
        watcher.stop()
    runs = [json.loads(line) for line in calls.read_text().splitlines()]
    asked = [arg for run in runs for arg in run if arg.endswith(".jpg")]
    assert len(asked) == len(set(asked)) == 10_000  # every file exactly once
    assert len(runs) <= 40 and max(len(run) for run in runs) <= 500 + 10  # batches of at most 500
    assert all(run[:1] == ["tag"] and "--catalog" in run for run in runs)


def test_a_library_tagged_with_no_watch_is_left_alone(tmp_path, watched, tiny_clip):
    from conftest import sample_copies

    library, catalog = watched
    quiet = sample_copies(tmp_path / "archive", ["landscapes/forest path.jpg"])
    tag(catalog, quiet, "--model", str(tiny_clip.config_path), "--pretrained", str(tiny_clip.checkpoint_path),
        "--no-watch")
    watcher = Watcher(catalog, settle=0.5)
    watcher.start()
    try:
        assert watcher.state()["watching"] == [str(library)]
        shutil.copy(quiet / "forest path.jpg", quiet / "another.jpg")
        time.sleep(3)
        assert watcher.state()["batches"] == [] and watcher.state()["pending"] == 0
    finally:
        watcher.stop()
    # and tagging it again without the flag keeps what the library recorded
    tag(catalog, quiet)
    watcher = Watcher(catalog)
    watcher.start()
    watcher.stop()
    assert watcher.roots == [library]


def test_a_library_tagged_while_the_service_runs_is_watched_too_but_not_its_hidden_folders(tmp_path, watched, tiny_clip):
    from conftest import SAMPLES, sample_copies

    library, catalog = watched
    watcher = Watcher(catalog, settle=0.5, libraries_every=1.0)
    watcher.start()
    try:
        later = sample_copies(tmp_path / "holiday", ["landscapes/forest path.jpg"])
        tag(catalog, later, "--model", str(tiny_clip.config_path), "--pretrained", str(tiny_clip.checkpoint_path))
        until(lambda: str(later) in watcher.state()["watching"])
        (library / ".dtrash").mkdir()  # a photo manager's trash: not the user's photos
        shutil.copy(SAMPLES / "landscapes/storm.jpg", library / ".dtrash" / "deleted.jpg")
        shutil.copy(SAMPLES / "landscapes/storm.jpg", later / "new.jpg")
        (batch,) = until(lambda: watcher.state()["batches"])
        assert batch["files"] == [str(later / "new.jpg")]
        time.sleep(2)
        assert len(watcher.state()["batches"]) == 1
    finally:
        watcher.stop()
