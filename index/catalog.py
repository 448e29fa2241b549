"""The catalog: one SQLite database (WAL) of files, images, embeddings and tags.

Images are keyed by the content hash of their image data (``xmp.content_hash``),
so a moved, renamed or duplicated file is the same image. Embeddings are the
source of truth for the vector index; tags are what photobrain chose.
Paths are stored as bytes, so any name the file system allows round-trips.
"""
from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from xmp.errors import PhotobrainError

SCHEMA_VERSION = 1

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE images (
        hash TEXT PRIMARY KEY,
        width INTEGER, height INTEGER, format TEXT,
        added TEXT NOT NULL
    );
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        path BLOB NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        hash TEXT REFERENCES images(hash),
        status TEXT NOT NULL,          -- ok | failed | missing
        error TEXT,
        tagset TEXT,                   -- fingerprint of the model, vocabulary and settings last applied
        run INTEGER,
        updated TEXT NOT NULL
    );
    CREATE INDEX files_hash ON files(hash);
    CREATE TABLE models (
        id INTEGER PRIMARY KEY,
        fingerprint TEXT NOT NULL UNIQUE,
        label TEXT NOT NULL,
        dim INTEGER NOT NULL
    );
    CREATE TABLE embeddings (
        hash TEXT NOT NULL,
        model_id INTEGER NOT NULL REFERENCES models(id),
        vector BLOB NOT NULL,
        PRIMARY KEY (hash, model_id)
    ) WITHOUT ROWID;
    CREATE TABLE tags (
        hash TEXT NOT NULL,
        model_id INTEGER NOT NULL REFERENCES models(id),
        path TEXT NOT NULL,            -- full path, "/"-joined, e.g. AI/animal/mammal/dog
        score REAL NOT NULL,
        implied INTEGER NOT NULL,
        source TEXT NOT NULL,
        vocab TEXT NOT NULL,
        PRIMARY KEY (hash, model_id, path)
    ) WITHOUT ROWID;
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        command TEXT NOT NULL,
        started TEXT NOT NULL,
        finished TEXT,
        summary TEXT
    );
    """,
}


class CatalogError(PhotobrainError):
    """The catalog cannot be opened or used."""


class CatalogInUseError(CatalogError):
    """Another photobrain process holds the catalog."""


@dataclass(frozen=True)
class FileRow:
    path: Path
    size: int
    mtime_ns: int
    hash: str | None
    status: str
    tagset: str | None


def now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def encode_path(path: Path) -> bytes:
    return os.fsencode(os.path.abspath(path))


def decode_path(blob: bytes) -> Path:
    return Path(os.fsdecode(blob))


class Catalog:
    """An open catalog, locked for this process: ``with Catalog.open(path) as catalog: ...``."""

    def __init__(self, path: Path, connection: sqlite3.Connection, lock_fd: int | None):
        self.path = path
        self.db = connection
        self._lock_fd = lock_fd

    @classmethod
    def open(cls, path: Path, *, exclusive: bool = True) -> Catalog:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CatalogError(path, f"cannot create the catalog folder ({exc.strerror})",
                               "choose another place with --catalog or PHOTOBRAIN_CATALOG") from exc
        lock_fd = None
        if exclusive:
            lock_fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(lock_fd)
                raise CatalogInUseError(path, "the catalog is in use by another photobrain command",
                                        "wait for it to finish, or use another catalog with --catalog") from None
        try:
            db = sqlite3.connect(path, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            catalog = cls(path, db, lock_fd)
            catalog._migrate()
        except sqlite3.DatabaseError as exc:
            if lock_fd is not None:
                os.close(lock_fd)
            raise CatalogError(path, f"not a usable photobrain catalog ({exc})",
                               "move the file away (photobrain builds a new one) or pass --catalog") from exc
        return catalog

    @classmethod
    def snapshot(cls, path: Path) -> Catalog:
        """An in-memory copy of the catalog at ``path`` (or an empty one): for dry runs, which must write nothing."""
        memory = sqlite3.connect(":memory:")
        if Path(path).exists():
            try:
                source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
                try:
                    source.backup(memory)
                finally:
                    source.close()
            except sqlite3.DatabaseError as exc:
                raise CatalogError(path, f"not a usable photobrain catalog ({exc})",
                                   "move the file away (photobrain builds a new one) or pass --catalog") from exc
        catalog = cls(Path(path), memory, None)
        catalog._migrate()
        return catalog

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _migrate(self) -> None:
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise CatalogError(self.path, f"the catalog was made by a newer photobrain (schema {version})",
                               "upgrade photobrain, or use another catalog with --catalog")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self.db:
                self.db.executescript("BEGIN;" + MIGRATIONS[target] +
                                      f"INSERT OR REPLACE INTO meta VALUES ('schema_version', '{target}'); COMMIT;")

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])

    # runs ------------------------------------------------------------------------------------

    def start_run(self, command: str) -> int:
        with self.db:
            cursor = self.db.execute("INSERT INTO runs (command, started) VALUES (?, ?)", (command, now()))
        assert cursor.lastrowid is not None
        return int(cursor.lastrowid)

    def finish_run(self, run: int, summary: str) -> None:
        with self.db:
            self.db.execute("UPDATE runs SET finished = ?, summary = ? WHERE id = ?", (now(), summary, run))

    # models ----------------------------------------------------------------------------------

    def model_id(self, fingerprint: str, label: str, dim: int) -> int:
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO models (fingerprint, label, dim) VALUES (?, ?, ?)",
                            (fingerprint, label, dim))
        return int(self.db.execute("SELECT id FROM models WHERE fingerprint = ?", (fingerprint,)).fetchone()[0])

    def find_model(self, fingerprint: str) -> int | None:
        row = self.db.execute("SELECT id FROM models WHERE fingerprint = ?", (fingerprint,)).fetchone()
        return None if row is None else int(row[0])

    # files -----------------------------------------------------------------------------------

    def files_under(self, roots: Iterable[Path]) -> dict[Path, FileRow]:
        """Every file row at or below ``roots``, keyed by absolute path."""
        rows: dict[Path, FileRow] = {}
        for root in roots:
            prefix = encode_path(root)
            query = ("SELECT path, size, mtime_ns, hash, status, tagset FROM files "
                     "WHERE path = ? OR (path >= ? AND path < ?)")
            for blob, size, mtime, digest, status, tagset in self.db.execute(
                    query, (prefix, prefix + b"/", prefix + b"0")):
                path = decode_path(blob)
                rows[path] = FileRow(path, size, mtime, digest, status, tagset)
        return rows

    def paths_of(self, digest: str, *, include_missing: bool = False) -> list[Path]:
        sql = "SELECT path FROM files WHERE hash = ?" + ("" if include_missing else " AND status != 'missing'")
        return [decode_path(b) for (b,) in self.db.execute(sql + " ORDER BY path", (digest,))]

    def record_file(self, path: Path, *, size: int, mtime_ns: int, digest: str | None, status: str,
                    error: str | None = None, tagset: str | None = None, run: int | None = None) -> None:
        self.db.execute(
            "INSERT INTO files (path, size, mtime_ns, hash, status, error, tagset, run, updated) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET size = excluded.size, "
            "mtime_ns = excluded.mtime_ns, hash = excluded.hash, status = excluded.status, error = excluded.error, "
            "tagset = excluded.tagset, run = excluded.run, updated = excluded.updated",
            (encode_path(path), size, mtime_ns, digest, status, error, tagset, run, now()))

    def mark_missing(self, paths: Iterable[Path]) -> None:
        self.db.executemany("UPDATE files SET status = 'missing', updated = ? WHERE path = ?",
                            [(now(), encode_path(p)) for p in paths])

    # images, embeddings, tags ------------------------------------------------------------------

    def record_image(self, digest: str, width: int, height: int, fmt: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO images (hash, width, height, format, added) VALUES (?, ?, ?, ?, ?)",
                        (digest, width, height, fmt, now()))

    def hashes_with_embedding(self, model_id: int) -> set[str]:
        return {h for (h,) in self.db.execute("SELECT hash FROM embeddings WHERE model_id = ?", (model_id,))}

    def store_embedding(self, digest: str, model_id: int, vector: np.ndarray) -> None:
        self.db.execute("INSERT OR REPLACE INTO embeddings (hash, model_id, vector) VALUES (?, ?, ?)",
                        (digest, model_id, np.asarray(vector, dtype=np.float32).tobytes()))

    def embedding(self, digest: str, model_id: int) -> np.ndarray | None:
        row = self.db.execute("SELECT vector FROM embeddings WHERE hash = ? AND model_id = ?",
                              (digest, model_id)).fetchone()
        return None if row is None else np.frombuffer(row[0], dtype=np.float32)

    def replace_tags(self, digest: str, model_id: int, tags: Iterable[tuple[str, float, bool]],
                     source: str, vocab: str) -> None:
        self.db.execute("DELETE FROM tags WHERE hash = ? AND model_id = ?", (digest, model_id))
        self.db.executemany("INSERT INTO tags VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [(digest, model_id, path, score, int(implied), source, vocab)
                             for path, score, implied in tags])

    def tags_of(self, digest: str, model_id: int) -> list[tuple[str, float, bool]]:
        return [(p, s, bool(i)) for p, s, i in self.db.execute(
            "SELECT path, score, implied FROM tags WHERE hash = ? AND model_id = ? ORDER BY score DESC, path",
            (digest, model_id))]

    def commit(self) -> None:
        self.db.commit()

    def counts(self) -> dict[str, int]:
        one = lambda sql: int(self.db.execute(sql).fetchone()[0])  # noqa: E731
        return {
            "files": one("SELECT count(*) FROM files WHERE status = 'ok'"),
            "failed": one("SELECT count(*) FROM files WHERE status = 'failed'"),
            "missing": one("SELECT count(*) FROM files WHERE status = 'missing'"),
            "images": one("SELECT count(*) FROM images"),
            "embeddings": one("SELECT count(*) FROM embeddings"),
        }

    def iter_files(self) -> Iterator[FileRow]:
        for blob, size, mtime, digest, status, tagset in self.db.execute(
                "SELECT path, size, mtime_ns, hash, status, tagset FROM files ORDER BY path"):
            yield FileRow(decode_path(blob), size, mtime, digest, status, tagset)
