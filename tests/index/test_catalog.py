"""The catalog database: schema versions, locking, and paths of any kind."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from index.catalog import SCHEMA_VERSION, Catalog, CatalogError, CatalogInUseError


def test_a_new_catalog_is_at_the_current_schema_in_wal_mode(tmp_path: Path):
    with Catalog.open(tmp_path / "c.db") as catalog:
        assert catalog.schema_version == SCHEMA_VERSION
        assert catalog.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_catalog_from_a_newer_photobrain_is_refused_untouched(tmp_path: Path):
    path = tmp_path / "c.db"
    Catalog.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(CatalogError) as err:
        Catalog.open(path)
    assert "newer photobrain" in err.value.reason and err.value.path == str(path)


def test_not_a_database_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "c.db"
    path.write_text("my shopping list")
    with pytest.raises(CatalogError) as err:
        Catalog.open(path)
    assert "--catalog" in err.value.hint


def test_only_one_writer_at_a_time(tmp_path: Path):
    with Catalog.open(tmp_path / "c.db"):
        with pytest.raises(CatalogInUseError):
            Catalog.open(tmp_path / "c.db")
    Catalog.open(tmp_path / "c.db").close()  # free again once the first one closed


def test_paths_of_any_kind_round_trip_and_prefix_queries_stay_in_their_folder(tmp_path: Path):
    odd = Path(os.fsdecode(os.fsencode(tmp_path) + b"/photos/caf\xe9 \xff.jpg"))
    with Catalog.open(tmp_path / "c.db") as catalog:
        catalog.record_image("h1", 10, 10, "JPEG")
        for path in (odd, tmp_path / "photos/a.jpg", tmp_path / "photos-2/b.jpg"):
            catalog.record_file(path, size=1, mtime_ns=2, digest="h1", status="ok")
        catalog.store_embedding("h1", catalog.model_id("fp", "clip:x", 3), np.array([1, 0, 0], dtype=np.float32))
        catalog.commit()
        rows = catalog.files_under([tmp_path / "photos"])
        assert set(rows) == {odd, tmp_path / "photos/a.jpg"}
        assert os.fsencode(next(iter(p for p in rows if p.name.startswith("caf")))) == os.fsencode(odd)
        assert catalog.embedding("h1", 1).tolist() == [1.0, 0.0, 0.0]
        assert catalog.counts()["files"] == 3


def test_a_version_1_catalog_is_migrated_and_its_images_get_vector_ids(tmp_path: Path):
    from index.catalog import MIGRATIONS

    path = tmp_path / "c.db"
    with sqlite3.connect(path) as db:
        db.executescript(MIGRATIONS[1])
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        db.execute("INSERT INTO images VALUES ('h1', 10, 10, 'JPEG', 'now')")
        db.execute("INSERT INTO models VALUES (1, 'fp', 'clip:test', 4)")
        db.execute("INSERT INTO embeddings VALUES ('h1', 1, ?)", (np.ones(4, np.float32).tobytes(),))
    with Catalog.open(path) as catalog:
        assert catalog.schema_version == SCHEMA_VERSION
        (vid,) = catalog.db.execute("SELECT vid FROM vectors WHERE hash = 'h1'").fetchone()  # given on migration
        assert catalog.vector_id("h1") == vid and catalog.vectors_of([vid], 1)[vid][0] == "h1"
        ids, vectors, _ = next(catalog.embeddings_since(1, -1))
        assert list(ids) == [vid] and vectors.tolist() == [[1.0] * 4]
        catalog.store_embedding("h2", 1, np.zeros(4, np.float32))
        assert [list(i) for i, _, _ in catalog.embeddings_since(1, 0)] == [[catalog.vector_id("h2")]]


def test_two_images_never_share_a_vector_id(tmp_path: Path):
    with Catalog.open(tmp_path / "c.db") as catalog:
        wanted = catalog.vector_id("first")
        catalog.db.execute("DELETE FROM vectors")
        catalog.db.execute("INSERT INTO vectors VALUES (?, 'squatter')", (wanted,))  # a collision, forced
        assert catalog.vector_id("first") == wanted + 1
        assert catalog.vector_id("first") == wanted + 1  # stable once given
        hashes = dict(catalog.db.execute("SELECT vid, hash FROM vectors").fetchall())
        assert hashes == {wanted: "squatter", wanted + 1: "first"}


def test_the_folders_below_a_library_are_counted_two_levels_deep_whatever_their_names(tmp_path: Path):
    root = tmp_path / "Pictures library"
    odd = os.fsdecode(b"caf\xe9 (latin-1)")  # a name that is not UTF-8
    files = [root / "2024" / "spring" / "a.jpg", root / "2024" / "spring" / "deep" / "b.jpg", root / "2024" / "c.jpg",
             root / odd / "d.jpg", root / "top.jpg", tmp_path / "Pictures library2" / "2024" / "e.jpg"]
    with Catalog.open(tmp_path / "catalog.db") as catalog:
        for path in files:
            catalog.record_file(path, size=1, mtime_ns=1, digest=None, status="ok")
        catalog.record_file(root / "2024" / "gone.jpg", size=1, mtime_ns=1, digest=None, status="missing")
        assert catalog.folders_under(root) == [(root / "2024", 3), (root / "2024" / "spring", 2), (root / odd, 1)]
