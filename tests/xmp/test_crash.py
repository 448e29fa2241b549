"""A process killed in the middle of a write leaves the old file or the new one, never a broken one."""
from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLES

from xmp import content_hash, read_metadata, summarize

SOURCE = SAMPLES / "landscapes/boats at evening glow.jpg"

CHILD = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from pathlib import Path
    from xmp import AITag, TagRequest, WriteOptions, write_tags
    import xmp.write

    when = sys.argv[2]
    real_replace = os.replace
    def dying_replace(src, dst):
        if when == "after":
            real_replace(src, dst)
        os.kill(os.getpid(), signal.SIGKILL)
    if when != "never":
        xmp.write.os.replace = dying_replace
    paths = [Path(p) for p in sys.argv[3:]]
    n = 0
    while True:
        for path in paths:
            leaf = "dog" if n % 2 else "cat"
            write_tags(path, TagRequest(tags=(AITag(("animal", leaf), 0.5, "clip:test", "v1"),)),
                       WriteOptions(mode="embed"))
            n += 1
        if when != "never":
            break
""")


def run_child(when: str, *paths: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD.format(root=str(ROOT)), "x", when, *map(str, paths)])


def ai_tags(path: Path) -> list[str]:
    return [t["path"] for t in summarize(read_metadata(path)).ai_tags]


def test_killed_before_the_rename_leaves_the_original(tmp_path: Path):
    target = tmp_path / "boats.jpg"
    shutil.copy2(SOURCE, target)
    original = target.read_bytes()
    child = run_child("before", target)
    assert child.wait(timeout=60) == -signal.SIGKILL
    assert target.read_bytes() == original
    # the half-done copy is a hidden temp file, never a file that looks like a photo
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == ["boats.jpg"]


def test_killed_after_the_rename_leaves_the_complete_new_file(tmp_path: Path):
    target = tmp_path / "boats.jpg"
    shutil.copy2(SOURCE, target)
    child = run_child("after", target)
    assert child.wait(timeout=60) == -signal.SIGKILL
    assert content_hash(target) == content_hash(SOURCE)
    assert ai_tags(target) == ["AI/animal/cat"]


@pytest.mark.parametrize("seed", range(4))
def test_killed_at_a_random_moment_leaves_every_file_whole(tmp_path: Path, seed: int):
    files = []
    for i in range(3):
        files.append(tmp_path / f"boats-{i}.jpg")
        shutil.copy2(SOURCE, files[-1])
    expected_hash = content_hash(SOURCE)
    child = run_child("never", *files)
    time.sleep(1.0 + random.Random(seed).random() * 1.5)  # past start-up, into the write loop
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    for path in files:
        assert content_hash(path) == expected_hash
        assert ai_tags(path) in ([], ["AI/animal/cat"], ["AI/animal/dog"])
        assert summarize(read_metadata(path)).user_keywords == ["Lake District", "boats", "Anna"]
