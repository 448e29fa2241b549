"""The hostile corpus through `photobrain tag`, embedded and in sidecars: no entry ends the run, nothing hangs,
memory stays bounded, every bad entry is reported with its reason, every good photo is tagged."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import Entry, build

import sidecar.tagger
from sidecar.tagger import TagOptions, run_tag
from xmp import read_metadata, summarize

#: the stated bound for any one process of the run (tiny model): the main process with torch, or a worker
PEAK_BYTES = 1_500_000_000
TIMEOUT = 180  # a hang ends the test, it does not stall the suite

# runs photobrain and reports the largest resident set of it and its worker processes (ru_maxrss: KiB)
MEASURED = ("import resource, subprocess, sys\n"
            "done = subprocess.run(sys.argv[1:])\n"
            "print('peak-kib', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
            "sys.exit(done.returncode)\n")


def photobrain(*args: str | Path, env_dir: Path) -> tuple[subprocess.CompletedProcess, int]:
    env = {**os.environ, "PHOTOBRAIN_CACHE": str(env_dir / "cache"), "PHOTOBRAIN_CONFIG": str(env_dir / "none.toml"),
           "PHOTOBRAIN_CATALOG": str(env_dir / "catalog.db")}
    command = [sys.executable, "-c", MEASURED, sys.executable, "-m", "sidecar", *map(os.fsencode, args)]
    done = subprocess.run(command, capture_output=True, env=env, timeout=TIMEOUT)
    err = done.stderr.decode("utf-8", "surrogateescape")
    peak = int(err.rsplit("peak-kib", 1)[1].split()[0]) * 1024
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout, err), peak


@pytest.fixture(scope="module")
def model_args(tiny_model) -> list[str]:
    return ["--model", str(tiny_model.config_path), "--pretrained", str(tiny_model.checkpoint_path)]


def outcomes(stdout: bytes) -> dict[bytes, dict]:
    data = json.loads(stdout)
    files = [f for lib in data.get("libraries", [data]) for f in lib["files"]]
    return {os.fsencode(f["path"]): f for f in files}


@pytest.mark.parametrize("mode", ["embed", "sidecar"])
def test_every_entry_is_reported_or_tagged_and_the_run_goes_on(mode, tmp_path, model_args):
    entries, named = build(tmp_path / "library", tmp_path / "elsewhere")
    outside = tmp_path / "elsewhere/outside.jpg"
    outside_bytes = outside.read_bytes()
    done, peak = photobrain("tag", tmp_path / "library", *named, "--write", mode, "--threshold", "0.05", "--json",
                            *model_args, env_dir=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "unexpected" not in done.stderr
    # every message line is one of ours: a crafted name cannot forge a line of its own
    for line in done.stderr.splitlines():
        assert line.startswith(("error: ", "  hint: ", "photobrain: ", "peak-kib")), line
    assert peak < PEAK_BYTES, f"a process of the run peaked at {peak / 1e6:.0f} MB"
    seen = outcomes(done.stdout)
    for entry in entries:
        check(entry, seen.get(os.fsencode(entry.path)), mode)
    for path in named:  # a FIFO and a device named on the command line: refused, never read, no library made
        assert seen[os.fsencode(path)]["status"] == "failed"
        assert "not a regular file" in seen[os.fsencode(path)]["reason"]
    libraries = subprocess.run([sys.executable, "-m", "sidecar", "libraries", "--json"], capture_output=True,
                               env={**os.environ, "PHOTOBRAIN_CATALOG": str(tmp_path / "catalog.db")}, check=True)
    roots = [lib["root"] for entry in json.loads(libraries.stdout) for lib in entry["libraries"]]
    assert roots == [str(tmp_path / "library")]
    # the link to a photo outside the library is still a link, and that photo is untouched
    link = tmp_path / "library/link-out.jpg"
    assert link.is_symlink() and outside.read_bytes() == outside_bytes

    # a second run says the same about every bad entry
    again, _ = photobrain("tag", tmp_path / "library", *named, "--write", mode, "--threshold", "0.05", "--json",
                          *model_args, env_dir=tmp_path)
    assert again.returncode == 1 and "Traceback" not in again.stderr
    failed = {p: f["reason"] for p, f in outcomes(again.stdout).items() if f["status"] == "failed"}
    assert failed == {p: f["reason"] for p, f in seen.items() if f["status"] == "failed"}


def check(entry: Entry, outcome: dict | None, mode: str) -> None:
    name = entry.path.name
    if entry.expect == "ignored":
        assert outcome is None, f"{name!r} should be passed by: {outcome}"
        return
    assert outcome is not None, f"{name!r} is missing from the report"
    if entry.expect == "linked":
        if mode == "embed":  # never written through to a file outside the library
            assert outcome["status"] == "failed" and "outside the library" in outcome["reason"]
        else:  # its sidecar goes beside the link
            assert outcome["status"] in ("tagged", "duplicate")
            assert entry.path.with_name(name + ".xmp").is_file()
        return
    if entry.expect == "failed":
        assert outcome["status"] == "failed", f"{name!r}: {outcome}"
        assert entry.reason in outcome["reason"].lower(), f"{name!r}: {outcome['reason']}"
        assert not outcome["written"]
        return
    assert outcome["status"] in ("tagged", "duplicate"), f"{name!r}: {outcome}"
    assert outcome["tags"]
    if mode == "sidecar":
        assert entry.path.with_name(name + ".xmp").is_file()
    written = summarize(read_metadata(entry.path))
    assert sorted(t["path"] for t in written.ai_tags) == sorted(outcome["tags"])


def test_a_file_that_failed_is_not_read_again_until_it_changes(tmp_path, tiny_clip, monkeypatch):
    entries, _ = build(tmp_path / "library", tmp_path / "elsewhere")
    options = TagOptions(paths=(tmp_path / "library",), catalog=tmp_path / "catalog.db", jobs=1, threshold=0.05,
                         model=str(tiny_clip.config_path), pretrained=str(tiny_clip.checkpoint_path), write="sidecar",
                         library=tmp_path / "library")
    first = run_tag(options)
    read: list[str] = []
    real = sidecar.tagger.read_image

    def counting(path, **kwargs):
        read.append(os.fsdecode(path))
        return real(path, **kwargs)

    monkeypatch.setattr(sidecar.tagger, "read_image", counting)
    second = run_tag(options)
    failed_first = {f.path: f.reason for f in first.files if f.status == "failed"}
    assert {f.path: f.reason for f in second.files if f.status == "failed"} == failed_first
    # read again: only the photos whose sidecar is what failed (a sidecar's changes do not show on the photo)
    sidecar_failures = {e.path.name for e in entries if e.path.name.endswith("-sidecar.jpg")}
    assert {Path(p).name for p in read} == sidecar_failures
    # a changed file is read again
    read.clear()
    empty = tmp_path / "library/empty.jpg"
    empty.write_bytes((tmp_path / "library/plain.jpg").read_bytes())
    third = run_tag(options)
    assert [Path(p).name for p in read if "empty" in p] == ["empty.jpg"]
    assert next(f for f in third.files if f.path == str(empty)).status in ("tagged", "duplicate")


def test_a_copy_is_decoded_only_when_its_header_differs_from_the_good_files(tmp_path, tiny_clip, monkeypatch):
    from corpus import GOOD_JPEG, jpeg_broken_huffman, jpeg_with_size

    library = tmp_path / "library"
    library.mkdir()
    good = GOOD_JPEG.read_bytes()
    (library / "plain.jpg").write_bytes(good)
    options = TagOptions(paths=(library,), catalog=tmp_path / "catalog.db", jobs=1, threshold=0.05,
                         model=str(tiny_clip.config_path), pretrained=str(tiny_clip.checkpoint_path), write="sidecar",
                         library=library)
    run_tag(options)
    # later the user copies it, and two damaged copies turn up: all three share its image-data hash
    (library / "copy.jpg").write_bytes(good)
    (library / "huffman.jpg").write_bytes(jpeg_broken_huffman(good))
    (library / "claims-huge.jpg").write_bytes(jpeg_with_size(good, 65000, 65000))
    decoded: list[str] = []
    real = sidecar.tagger.decode

    def counting(path, data, **kwargs):
        decoded.append(Path(path).name)
        return real(path, data, **kwargs)

    monkeypatch.setattr(sidecar.tagger, "decode", counting)
    result = {Path(f.path).name: f for f in run_tag(options).files}
    assert result["copy.jpg"].status == "duplicate" and result["copy.jpg"].tags
    assert result["huffman.jpg"].status == "failed" and result["claims-huge.jpg"].status == "failed"
    assert not (library / "huffman.jpg.xmp").exists() and not (library / "claims-huge.jpg.xmp").exists()
    # the good copy is known to decode (same header): not decoded; claims-huge is refused from its header
    assert decoded == ["huffman.jpg"]
