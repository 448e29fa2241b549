"""A full disk, a damaged catalog, a folder where the lock file goes: clear words and the right advice, never a
traceback, and a way back (`photobrain catalog check`, `photobrain catalog rebuild`)."""
from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLES, sample_copies

import index.catalog
import sidecar.cli
from xmp import read_metadata, summarize

PHOTOS = ["landscapes/storm.jpg", "plants/red flower.jpg", "animals/nuthatch.jpg", "food/fig.jpg",
          "city/facade.jpg", "night/rocket launch pad.jpg"]


@pytest.fixture
def library(tmp_path: Path) -> Path:
    return sample_copies(tmp_path / "library", PHOTOS)


def photobrain(tmp_path: Path, tiny_clip, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PHOTOBRAIN_CACHE": str(tmp_path / "cache"), "PHOTOBRAIN_CONFIG": str(tmp_path / "none.toml"),
           "PHOTOBRAIN_CATALOG": str(tmp_path / "catalog.db")}
    model = ["--model", str(tiny_clip.config_path), "--pretrained", str(tiny_clip.checkpoint_path)]
    command = [*args, *model] if args[0] in ("tag", "search", "similar") else list(args)
    return subprocess.run([sys.executable, "-m", "sidecar", *command], capture_output=True, text=True, env=env,
                          timeout=300)


def damage(catalog: Path, pages: int = 8, seed: int = 8) -> None:
    """Overwrite ``pages`` random pages (not the first: SQLite would not even call it a database) with noise."""
    size, page = catalog.stat().st_size, 16384
    rng = random.Random(seed)
    with open(catalog, "r+b") as fh:
        for n in rng.sample(range(1, size // page), min(pages, size // page - 1)):
            fh.seek(n * page)
            fh.write(rng.randbytes(page))


def test_a_damaged_catalog_is_named_and_rebuilt_from_the_photos(tmp_path, library, tiny_clip):
    assert photobrain(tmp_path, tiny_clip, "tag", str(library), "--threshold", "0.05").returncode == 0
    before = {p.name: sorted(t["path"] for t in summarize(read_metadata(p)).ai_tags) for p in library.iterdir()}
    catalog = tmp_path / "catalog.db"
    damage(catalog)
    for args in (("search", "red flower"), ("similar", str(library / "storm.jpg")), ("status",)):
        done = photobrain(tmp_path, tiny_clip, *args)
        assert done.returncode == 1, (args, done.stderr)
        assert "the catalog file is damaged" in done.stderr and "photobrain catalog rebuild" in done.stderr
        assert "unexpected" not in done.stderr and "Traceback" not in done.stderr
    checked = photobrain(tmp_path, tiny_clip, "catalog", "check", "--json")
    assert checked.returncode == 1 and not json.loads(checked.stdout)["ok"]

    rebuilt = photobrain(tmp_path, tiny_clip, "catalog", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "kept libraries: 1 rows" in rebuilt.stderr  # how the library is tagged survived
    assert list(tmp_path.glob("catalog.db.damaged-*"))  # the old file is set aside, not deleted
    assert photobrain(tmp_path, tiny_clip, "catalog", "check").returncode == 0
    found = photobrain(tmp_path, tiny_clip, "search", "red flower", "--json")
    assert found.returncode == 0 and json.loads(found.stdout)["hits"]
    # the photos' tags are what they were: the rebuild read them, it did not change them
    assert {p.name: sorted(t["path"] for t in summarize(read_metadata(p)).ai_tags)
            for p in library.iterdir()} == before


def test_status_reads_the_whole_catalog_to_say_it_is_whole(tmp_path, library, tiny_clip):
    assert photobrain(tmp_path, tiny_clip, "tag", str(library), "--threshold", "0.05").returncode == 0
    whole = photobrain(tmp_path, tiny_clip, "status", "--json")
    assert whole.returncode == 0 and json.loads(whole.stdout)["integrity"] == "ok"
    catalog = tmp_path / "catalog.db"
    with sqlite3.connect(catalog) as db:  # a page of the AI tags, which none of status's counts reads
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (page,) = db.execute("SELECT pageno FROM dbstat WHERE name = 'tags' AND pagetype = 'leaf'").fetchone()
    with open(catalog, "r+b") as fh:
        fh.seek((page - 1) * 16384)
        fh.write(b"\x0d\x00\x00\xff\xff" + bytes(16379))  # a leaf header claiming 65535 cells
    damaged = photobrain(tmp_path, tiny_clip, "status")
    assert damaged.returncode == 1 and "integrity damaged" in damaged.stdout
    assert "photobrain catalog rebuild" in damaged.stderr


def test_a_whole_catalog_is_not_rebuilt_by_mistake(tmp_path, library, tiny_clip):
    assert photobrain(tmp_path, tiny_clip, "tag", str(library), "--threshold", "0.05").returncode == 0
    done = photobrain(tmp_path, tiny_clip, "catalog", "rebuild")
    assert done.returncode == 1 and "the catalog is whole" in done.stderr
    assert not list(tmp_path.glob("catalog.db.damaged-*"))


def test_a_folder_in_place_of_the_lock_file_is_named_with_the_fix(tmp_path, library, tiny_clip):
    (tmp_path / "catalog.db.lock").mkdir()
    done = photobrain(tmp_path, tiny_clip, "tag", str(library))
    assert done.returncode == 1 and "unexpected" not in done.stderr
    assert "catalog.db.lock is a folder" in done.stderr and f"remove {tmp_path / 'catalog.db.lock'}" in done.stderr


def test_a_full_disk_under_the_catalog_is_said_in_words_and_loses_nothing(tmp_path, library, tiny_clip, monkeypatch,
                                                                          capsys):
    monkeypatch.setenv("PHOTOBRAIN_CACHE", str(tmp_path / "cache"))
    command = ["photobrain", "tag", str(library), "--catalog", str(tmp_path / "catalog.db"), "--model",
               str(tiny_clip.config_path), "--pretrained", str(tiny_clip.checkpoint_path), "--threshold", "0.05",
               "--jobs", "1"]
    monkeypatch.setattr(sys, "argv", command)
    assert exit_code(sidecar.cli.main) == 0  # a first run, with room
    for photo in sorted(SAMPLES.rglob("*.jpg")):  # the user adds a folder of photos
        shutil.copy2(photo, library / f"new {photo.name}")
    pixels = {p.name: p.read_bytes()[-4096:] for p in library.iterdir()}
    real = index.catalog.connect

    def on_a_full_disk(path, target, **kwargs):
        db = real(path, target, **kwargs)
        # SQLite's own "database or disk is full" as soon as the catalog needs one more page than it has
        db.execute("PRAGMA max_page_count = " + str(db.execute("PRAGMA page_count").fetchone()[0]))
        return db

    monkeypatch.setattr(index.catalog, "connect", on_a_full_disk)
    code = exit_code(sidecar.cli.main)
    err = capsys.readouterr().err
    assert code == 1, err
    assert "the disk holding the catalog is full" in err and "free some space" in err
    assert "unexpected" not in err and "move the file away" not in err
    for photo in library.iterdir():  # every photo whole: at worst its tags were written and not yet recorded
        assert photo.read_bytes()[-4096:] == pixels[photo.name]
    monkeypatch.setattr(index.catalog, "connect", real)  # space freed: the same command finishes the job
    assert exit_code(sidecar.cli.main) == 0, capsys.readouterr().err


def exit_code(main) -> int:
    try:
        main()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0
