"""``progress.follow``: what ``photobrain action tag`` and the service's tag runs (the Lightroom plug-in's
progress bar) read from a tag run's stderr, written by ``Progress`` in lines mode."""
from __future__ import annotations

import sys

from sidecar.progress import follow

CHILD = """
import sys, time
from sidecar.progress import Progress
print("photobrain: new library /photos: default settings", file=sys.stderr, flush=True)
bar = Progress(label="reading files")
bar.start(3)
for _ in range(3):
    time.sleep(0.6)
    bar.update(1)
bar.done()
print('{"summary": {"tagged": 3}}')
sys.exit(1)
"""


def test_follow_reads_the_progress_lines_a_run_writes_and_hands_on_everything_else():
    seen: list[tuple[str, int, int]] = []
    said: list[str] = []
    started = []
    code, output = follow([sys.executable, "-c", CHILD], progress=lambda *p: seen.append(p), line=said.append,
                          started=started.append)
    assert code == 1 and output.strip() == '{"summary": {"tagged": 3}}'
    assert len(started) == 1 and started[0].returncode == 1
    assert said == ["photobrain: new library /photos: default settings"]
    assert seen[0] == ("reading files", 0, 3) and seen[-1] == ("reading files", 3, 3)
    assert [done for _, done, _ in seen] == sorted(done for _, done, _ in seen)
