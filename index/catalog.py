"""The catalog: one SQLite database (WAL) of files, images, embeddings and tags.

Images are keyed by the content hash of their image data (``xmp.content_hash``),
so a moved, renamed or duplicated file is the same image. Embeddings are the
source of truth for the vector index; tags are what photobrain chose.
Paths are stored as bytes, so any name the file system allows round-trips.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .database import (
    CatalogDamagedError,
    CatalogError,
    CatalogFullError,
    CatalogInUseError,
    QueryError,
    connect,
    translate,
)
from .migrations import MIGRATIONS, SCHEMA_VERSION

__all__ = ["Catalog", "CatalogDamagedError", "CatalogError", "CatalogFullError", "CatalogInUseError", "FileRow",
           "LibraryRow", "ModelRow", "CloudRow", "deepest_library", "decode_path", "encode_path", "is_within"]

VID_MASK = (1 << 63) - 1




@dataclass(frozen=True)
class FileRow:
    path: Path
    size: int
    mtime_ns: int
    hash: str | None
    status: str
    tagset: str | None
    ctime_ns: int | None = None  # None: recorded before schema 6
    inode: int | None = None
    error: str | None = None
    hint: str | None = None

    def same_file(self, st: os.stat_result) -> bool:
        """Whether ``st`` is the file as recorded: size, mtime, ctime and inode (size and mtime for an old row)."""
        if (self.size, self.mtime_ns) != (st.st_size, st.st_mtime_ns):
            return False
        return self.ctime_ns is None or (self.ctime_ns, self.inode) == (st.st_ctime_ns, st.st_ino)


@dataclass(frozen=True)
class CloudRow:
    """A cloud model's answer for one image (``status`` answered or refused)."""

    model: str
    status: str
    keywords: list[tuple[str, ...]]
    caption: str
    alt_text: str
    reason: str | None
    answered: str


@dataclass(frozen=True)
class LibraryRow:
    """A library root: a folder the user tagged, with its profile (how it is tagged)."""

    id: int
    root: Path
    profile: dict
    created: str
    updated: str
    last_run: str | None
    last_summary: dict | None

    def holds(self, path: Path) -> bool:
        """True when ``path`` (absolute) is the root or lies below it."""
        return is_within(path, self.root)


@dataclass(frozen=True)
class ModelRow:
    id: int
    fingerprint: str
    label: str
    dim: int
    embeddings: int


def now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def encode_path(path: Path) -> bytes:
    return os.fsencode(os.path.abspath(path))


def decode_path(blob: bytes) -> Path:
    return Path(os.fsdecode(blob))


def is_within(path: Path, root: Path) -> bool:
    """True when ``path`` is ``root`` or lies below it (both absolute), compared as the catalog stores paths."""
    inner, outer = encode_path(path), encode_path(root)
    return inner == outer or inner.startswith(outer.rstrip(b"/") + b"/")


def deepest_library(libraries: Iterable[LibraryRow], path: Path) -> LibraryRow | None:
    """The library ``path`` lies in: the deepest of ``libraries`` whose root is at or above it."""
    path = Path(os.path.abspath(path))
    return max((lib for lib in libraries if lib.holds(path)), key=lambda lib: len(encode_path(lib.root)), default=None)


class Catalog:
    """An open catalog, locked for this process: ``with Catalog.open(path) as catalog: ...``."""

    def __init__(self, path: Path, connection: sqlite3.Connection, lock_fd: int | None):
        self.path = path
        self.db = connection
        self._lock_fd = lock_fd
        self._seq = 0

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
            try:
                lock_fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                what = "is a folder" if isinstance(exc, IsADirectoryError) else f"cannot be opened ({exc.strerror})"
                raise CatalogError(path, f"the catalog's lock file {path}.lock {what}",
                                   f"remove {path}.lock (photobrain makes a new one) and run the command again"
                                   if isinstance(exc, IsADirectoryError) else "check the catalog folder is writable") \
                    from exc
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(lock_fd)
                raise CatalogInUseError(path, "the catalog is in use by another photobrain command",
                                        "wait for it to finish, or use another catalog with --catalog") from None
        try:
            # one thread at a time, but not always the one that opened it (the service's request threads)
            db = connect(path, path, timeout=30)
            # big pages for a new catalog: seven 2 KB embeddings fill a 16 KB page, one fills a 4 KB page half
            db.execute("PRAGMA page_size=16384")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            # reads through a memory map: re-scoring 40 search candidates took 1.2 ms with read() calls, 0.24 ms so
            db.execute("PRAGMA mmap_size=68719476736")
            db.execute("PRAGMA foreign_keys=ON")
            catalog = cls(path, db, lock_fd)
            catalog._migrate()
        except CatalogError:
            if lock_fd is not None:
                os.close(lock_fd)
            raise
        return catalog

    @classmethod
    def open_existing(cls, path: Path, *, exclusive: bool = False) -> Catalog:
        """Open the catalog a tag run made; a clear error when there is none (never creates one)."""
        if not Path(path).exists():
            raise CatalogError(path, "there is no catalog here yet",
                               "run 'photobrain tag PATH' first, or pass the --catalog you tagged with")
        return cls.open(path, exclusive=exclusive)

    @classmethod
    def snapshot(cls, path: Path) -> Catalog:
        """An in-memory copy of the catalog at ``path`` (or an empty one): for dry runs, which must write nothing."""
        memory = connect(path, ":memory:")
        if Path(path).exists():
            source = connect(path, f"file:{path}?mode=ro", uri=True)
            try:
                source.backup(memory)
            except sqlite3.Error as exc:
                raise translate(Path(path), exc) from exc
            finally:
                source.close()
        catalog = cls(Path(path), memory, None)
        catalog._migrate()
        return catalog

    @classmethod
    def open_readonly(cls, path: Path) -> Catalog | None:
        """The catalog at ``path`` for reading only, as it is (no migration, no lock); None if there is none."""
        if not Path(path).exists():
            return None
        db = connect(path, f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            db.execute("SELECT count(*) FROM meta").fetchone()
        except CatalogError:
            db.close()
            raise
        return cls(Path(path), db, None)

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
            if target == 2:
                for (digest,) in self.db.execute("SELECT DISTINCT hash FROM embeddings").fetchall():
                    self.vector_id(digest)
                self.db.commit()
        self._seq = int(self.db.execute("SELECT coalesce(max(seq), 0) FROM embeddings").fetchone()[0])

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

    def models(self) -> list[ModelRow]:
        """Every model the catalog knows, with how many embeddings it holds."""
        return [ModelRow(int(i), fp, label, int(dim), int(n)) for i, fp, label, dim, n in self.db.execute(
            "SELECT m.id, m.fingerprint, m.label, m.dim, (SELECT count(*) FROM embeddings e WHERE e.model_id = m.id) "
            "FROM models m ORDER BY m.id")]

    def drop_model(self, model_id: int) -> tuple[int, int]:
        """Delete a model's embeddings and tags (and the model); returns (embeddings, tags) deleted."""
        with self.db:
            embeddings = self.db.execute("DELETE FROM embeddings WHERE model_id = ?", (model_id,)).rowcount
            tags = self.db.execute("DELETE FROM tags WHERE model_id = ?", (model_id,)).rowcount
            self.db.execute("DELETE FROM models WHERE id = ?", (model_id,))
        return embeddings, tags

    def find_model(self, fingerprint: str) -> int | None:
        row = self.db.execute("SELECT id FROM models WHERE fingerprint = ?", (fingerprint,)).fetchone()
        return None if row is None else int(row[0])

    # files -----------------------------------------------------------------------------------

    def files_under(self, roots: Iterable[Path]) -> dict[Path, FileRow]:
        """Every file row at or below ``roots``, keyed by absolute path."""
        rows: dict[Path, FileRow] = {}
        for root in roots:
            prefix = encode_path(root)
            query = f"SELECT {_FILE_COLUMNS} FROM files WHERE path = ? OR (path >= ? AND path < ?)"
            for row in self.db.execute(query, (prefix, prefix + b"/", prefix + b"0")):
                file_row = _file_row(row)
                rows[file_row.path] = file_row
        return rows

    def file_row(self, path: Path) -> FileRow | None:
        row = self.db.execute(f"SELECT {_FILE_COLUMNS} FROM files WHERE path = ?", (encode_path(path),)).fetchone()
        return None if row is None else _file_row(row)

    def paths_of(self, digest: str, *, include_missing: bool = False) -> list[Path]:
        sql = "SELECT path FROM files WHERE hash = ?" + ("" if include_missing else " AND status != 'missing'")
        return [decode_path(b) for (b,) in self.db.execute(sql + " ORDER BY path", (digest,))]

    def record_file(self, path: Path, *, size: int, mtime_ns: int, digest: str | None, status: str,
                    error: str | None = None, tagset: str | None = None, run: int | None = None,
                    ctime_ns: int | None = None, inode: int | None = None, hint: str | None = None) -> None:
        self.db.execute(
            "INSERT INTO files (path, size, mtime_ns, ctime_ns, inode, hash, status, error, hint, tagset, run, updated) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET size = excluded.size, "
            "mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, inode = excluded.inode, hash = excluded.hash, "
            "status = excluded.status, error = excluded.error, hint = excluded.hint, tagset = excluded.tagset, "
            "run = excluded.run, updated = excluded.updated",
            (encode_path(path), size, mtime_ns, ctime_ns, inode, digest, status, _text(error), _text(hint), tagset, run,
             now()))

    def fill_stamps(self, stamps: Iterable[tuple[Path, int, int]]) -> None:
        """Record (path, ctime_ns, inode) for rows written before schema 6 whose size and mtime still match."""
        self.db.executemany("UPDATE files SET ctime_ns = ?, inode = ? WHERE path = ? AND ctime_ns IS NULL",
                            [(ctime, inode, encode_path(p)) for p, ctime, inode in stamps])

    def mark_missing(self, paths: Iterable[Path]) -> None:
        self.db.executemany("UPDATE files SET status = 'missing', updated = ? WHERE path = ?",
                            [(now(), encode_path(p)) for p in paths])

    # images, embeddings, tags ------------------------------------------------------------------

    def record_image(self, digest: str, width: int, height: int, fmt: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO images (hash, width, height, format, added) VALUES (?, ?, ?, ?, ?)",
                        (digest, width, height, fmt, now()))

    def set_header(self, digest: str, header: str) -> None:
        """Record the header digest of an image that decoded (one embedded before schema 6 had none)."""
        self.db.execute("UPDATE images SET header = ? WHERE hash = ? AND header IS NULL", (header, digest))

    def hashes_with_embedding(self, model_id: int) -> set[str]:
        return {h for (h,) in self.db.execute("SELECT hash FROM embeddings WHERE model_id = ?", (model_id,))}

    def headers_with_embedding(self, model_id: int) -> dict[str, str | None]:
        """Image hash -> header digest (None when not recorded yet) of every image embedded with the model."""
        return dict(self.db.execute("SELECT e.hash, i.header FROM embeddings e LEFT JOIN images i ON i.hash = e.hash "
                                    "WHERE e.model_id = ?", (model_id,)))

    def store_embedding(self, digest: str, model_id: int, vector: np.ndarray) -> None:
        self.vector_id(digest)
        self._seq += 1
        self.db.execute("INSERT OR REPLACE INTO embeddings (hash, model_id, vector, seq) VALUES (?, ?, ?, ?)",
                        (digest, model_id, np.asarray(vector, dtype=np.float32).tobytes(), self._seq))

    def vector_id(self, digest: str) -> int:
        """The image's FAISS id: 63 bits of a hash of its content hash; the next free one on a collision."""
        row = self.db.execute("SELECT vid FROM vectors WHERE hash = ?", (digest,)).fetchone()
        if row is not None:
            return int(row[0])
        vid = int.from_bytes(hashlib.blake2b(digest.encode(), digest_size=8).digest(), "big") >> 1
        while self.db.execute("SELECT 1 FROM vectors WHERE vid = ?", (vid,)).fetchone() is not None:
            vid = (vid + 1) & VID_MASK
        self.db.execute("INSERT INTO vectors (vid, hash) VALUES (?, ?)", (vid, digest))
        return vid

    def vectors_of(self, vids: Iterable[int], model_id: int) -> dict[int, tuple[str, np.ndarray]]:
        """vector id -> (content hash, stored embedding) for the given ids."""
        rows = self._rows_in("SELECT v.vid, v.hash, e.vector FROM vectors v CROSS JOIN embeddings e ON e.hash = v.hash "
                             "WHERE e.model_id = ? AND v.vid IN ({})", (model_id,), [int(v) for v in vids])
        return {vid: (digest, np.frombuffer(blob, dtype=np.float32)) for vid, digest, blob in rows}

    def embeddings_since(self, model_id: int, seq: int, batch: int = 50_000) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
        """(vector ids, vectors, highest seq) in batches, for every embedding of ``model_id`` stored after ``seq``."""
        cursor = self.db.execute("SELECT v.vid, e.vector, e.seq FROM embeddings e JOIN vectors v ON v.hash = e.hash "
                                 "WHERE e.model_id = ? AND e.seq > ? ORDER BY e.seq", (model_id, seq))
        while rows := cursor.fetchmany(batch):
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
            yield ids, vectors, int(rows[-1][2])

    def embedding_count(self, model_id: int) -> int:
        return int(self.db.execute("SELECT count(*) FROM embeddings WHERE model_id = ?", (model_id,)).fetchone()[0])

    def last_seq(self, model_id: int) -> int:
        row = self.db.execute("SELECT coalesce(max(seq), 0) FROM embeddings WHERE model_id = ?", (model_id,)).fetchone()
        return int(row[0])

    def embeddings_of(self, digests: list[str], model_id: int) -> dict[str, np.ndarray]:
        """Stored embeddings of many images at once (content hash -> vector)."""
        rows = self._rows_in("SELECT hash, vector FROM embeddings WHERE model_id = ? AND hash IN ({})", (model_id,),
                             digests)
        return {digest: np.frombuffer(blob, dtype=np.float32) for digest, blob in rows}

    def _rows_in(self, sql: str, params: tuple, values: list) -> Iterator[tuple]:
        """Rows of ``sql`` whose ``IN ({})`` takes ``values``, 500 at a time (SQLite's limit on parameters)."""
        for start in range(0, len(values), 500):
            chunk = values[start:start + 500]
            yield from self.db.execute(sql.format(",".join("?" * len(chunk))), (*params, *chunk))

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

    def forget_tags(self, path: Path) -> None:
        """The file's XMP no longer holds photobrain's tags: the next ``tag`` writes them again."""
        blob = encode_path(path)
        self.db.execute("UPDATE files SET tagset = NULL WHERE path = ?", (blob,))
        self.db.execute("UPDATE file_text SET tags = '' WHERE rowid = (SELECT id FROM files WHERE path = ?)", (blob,))

    # rejections: AI tags the user deleted --------------------------------------------------------

    def rejections_of(self, digest: str) -> list[str]:
        return [p for (p,) in self.db.execute("SELECT path FROM rejections WHERE hash = ? ORDER BY path", (digest,))]

    def add_rejections(self, digest: str, paths: Iterable[str]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO rejections VALUES (?, ?)", [(digest, p) for p in paths])

    def forget_rejections(self, digest: str) -> None:
        self.db.execute("DELETE FROM rejections WHERE hash = ?", (digest,))

    def hash_of(self, path: Path) -> str | None:
        row = self.db.execute("SELECT hash FROM files WHERE path = ?", (encode_path(path),)).fetchone()
        return None if row is None else row[0]

    # libraries: the folders the user tagged, each with its profile -------------------------------------

    def libraries(self) -> list[LibraryRow]:
        """Every library root, outermost first; none in a catalog from before libraries (read-only look)."""
        try:
            rows = self.db.execute("SELECT id, root, profile, created, updated, last_run, last_summary FROM libraries "
                                   "ORDER BY root").fetchall()
        except QueryError:
            return []
        return [LibraryRow(int(i), decode_path(root), json.loads(profile), created, updated, last_run,
                           json.loads(summary) if summary else None)
                for i, root, profile, created, updated, last_run, summary in rows]

    def library_of(self, path: Path) -> LibraryRow | None:
        """The library ``path`` lies in: the deepest root at or above it."""
        return deepest_library(self.libraries(), path)

    def add_library(self, root: Path, profile: dict) -> int:
        with self.db:
            cursor = self.db.execute("INSERT INTO libraries (root, profile, created, updated) VALUES (?, ?, ?, ?)",
                                     (encode_path(root), json.dumps(profile, sort_keys=True), now(), now()))
        assert cursor.lastrowid is not None
        return int(cursor.lastrowid)

    def set_profile(self, library: int, profile: dict) -> None:
        with self.db:
            self.db.execute("UPDATE libraries SET profile = ?, updated = ? WHERE id = ?",
                            (json.dumps(profile, sort_keys=True), now(), library))

    def remove_library(self, library: int) -> None:
        with self.db:
            self.db.execute("DELETE FROM libraries WHERE id = ?", (library,))

    def library_ran(self, library: int, summary: dict) -> None:
        with self.db:
            self.db.execute("UPDATE libraries SET last_run = ?, last_summary = ? WHERE id = ?",
                            (now(), json.dumps(summary), library))

    def move_library(self, library: int, old_root: Path, new_root: Path) -> int:
        """The library's folder moved: its root and every file row below it follow; returns the files moved."""
        old, new = encode_path(old_root), encode_path(new_root)
        rows = self.db.execute("SELECT id, path FROM files WHERE path = ? OR (path >= ? AND path < ?)",
                               (old, old + b"/", old + b"0")).fetchall()
        with self.db:
            self.db.executemany("UPDATE files SET path = ? WHERE id = ?", [(new + bytes(p)[len(old):], i) for i, p in rows])
            self.db.execute("UPDATE libraries SET root = ?, updated = ? WHERE id = ?", (new, now(), library))
        return len(rows)

    def library_counts(self, root: Path) -> dict[str, int]:
        """Files at or below ``root`` by status (ok, failed, missing)."""
        prefix = encode_path(root)
        counts = {"ok": 0, "failed": 0, "missing": 0}
        counts.update({status: int(n) for status, n in self.db.execute(
            "SELECT status, count(*) FROM files WHERE path = ? OR (path >= ? AND path < ?) GROUP BY status",
            (prefix, prefix + b"/", prefix + b"0"))})
        return counts

    def rename_rejections(self, old_root: str, new_root: str) -> None:
        """The keyword root changed: the user's rejections follow (AI/animal/dog becomes Auto/animal/dog)."""
        rows = [(h, p) for h, p in self.db.execute("SELECT hash, path FROM rejections") if p.startswith(old_root + "/")]
        with self.db:
            self.db.executemany("INSERT OR IGNORE INTO rejections VALUES (?, ?)",
                                [(h, new_root + p[len(old_root):]) for h, p in rows])

    # settings remembered per catalog (per library) -------------------------------------------------

    def setting(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (f"setting:{key}",)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, key: str, value: str) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"setting:{key}", value))

    # cloud answers -------------------------------------------------------------------------------

    def store_cloud_answer(self, digest: str, model: str, *, status: str, keywords: Iterable[tuple[str, ...]] = (),
                           caption: str = "", alt_text: str = "", reason: str | None = None) -> None:
        self.db.execute("INSERT OR REPLACE INTO cloud_answers VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (digest, model, status, json.dumps([list(k) for k in keywords], ensure_ascii=False),
                         caption, alt_text, reason, now()))

    def cloud_settled(self, model: str) -> set[str]:
        """Hashes of images ``model`` answered (or refused for their content): never sent to it again."""
        try:
            return {h for (h,) in self.db.execute("SELECT hash FROM cloud_answers WHERE model = ?", (model,))}
        except QueryError:  # a read-only look at a catalog from before the cloud brain
            return set()

    def cloud_answer(self, digest: str) -> CloudRow | None:
        """The latest answer any cloud model gave for an image (refusals only when there is no answer)."""
        row = self.db.execute(
            "SELECT model, status, keywords, caption, alt_text, reason, answered FROM cloud_answers WHERE hash = ? "
            "ORDER BY status = 'answered' DESC, answered DESC LIMIT 1", (digest,)).fetchone()
        if row is None:
            return None
        model, status, keywords, caption, alt_text, reason, answered = row
        return CloudRow(model, status, [tuple(k) for k in json.loads(keywords)], caption, alt_text, reason, answered)

    def has_cloud_answers(self) -> bool:
        try:
            return self.db.execute("SELECT 1 FROM cloud_answers LIMIT 1").fetchone() is not None
        except QueryError:  # a read-only look at a catalog from before the cloud brain
            return False

    def cloud_counts(self) -> dict[str, int]:
        return {status: int(n) for status, n in self.db.execute(
            "SELECT status, count(*) FROM cloud_answers GROUP BY status")}

    # the keyword channel ------------------------------------------------------------------------

    def set_text(self, path: Path, *, folders: str | None, tags: str, keywords: str | None = None,
                 caption: str | None = None) -> None:
        """What the keyword search knows of a file; ``folders``/``keywords``/``caption`` of None keep the stored ones."""
        row = self.db.execute("SELECT id FROM files WHERE path = ?", (encode_path(path),)).fetchone()
        if row is None:
            return
        file_id = int(row[0])
        old = self.db.execute("SELECT keywords, caption, folders FROM file_text WHERE rowid = ?", (file_id,)).fetchone()
        if old is not None:
            keywords = old[0] if keywords is None else keywords
            caption = old[1] if caption is None else caption
            folders = old[2] if folders is None else folders
            self.db.execute("DELETE FROM file_text WHERE rowid = ?", (file_id,))
        self.db.execute("INSERT INTO file_text (rowid, name, folders, keywords, tags, caption) VALUES (?, ?, ?, ?, ?, ?)",
                        (file_id, _text(Path(path).name), _text(folders) or "", _text(keywords) or "", _text(tags),
                         _text(caption) or ""))

    def keyword_matches(self, expression: str, limit: int) -> list[tuple[Path, str, float]]:
        """(path, content hash, bm25 rank: lower is better) of files whose text matches an FTS5 ``expression``.

        Columns are weighted: the user's keywords first, then AI tags, caption, file name, folders.
        """
        try:
            rows = self.db.execute(
                "SELECT f.path, f.hash, bm25(file_text, 2.0, 1.0, 10.0, 4.0, 3.0) AS rank FROM file_text "
                "JOIN files f ON f.id = file_text.rowid WHERE file_text MATCH ? AND f.status = 'ok' "
                "ORDER BY rank LIMIT ?", (expression, limit)).fetchall()
        except QueryError:  # an expression FTS5 cannot parse matches nothing
            return []
        return [(decode_path(blob), digest, float(rank)) for blob, digest, rank in rows]

    def with_keyword(self, paths: Iterable[Path], keyword: str) -> set[Path]:
        """Those of ``paths`` whose own keywords or AI tags hold ``keyword`` (every word of it, stemmed)."""
        words = re.findall(r"\w+", keyword.lower())
        wanted = [encode_path(p) for p in paths]
        if not words or not wanted:
            return set()
        expression = "{keywords tags} : (" + " AND ".join(f'"{w}"' for w in words) + ")"
        found: set[Path] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            try:
                rows = self.db.execute(
                    "SELECT f.path FROM file_text JOIN files f ON f.id = file_text.rowid WHERE file_text MATCH ? "
                    f"AND f.path IN ({','.join('?' * len(chunk))})", (expression, *chunk)).fetchall()
            except QueryError:
                return set()
            found.update(decode_path(b) for (b,) in rows)
        return found

    def common_tags(self, sample: int = 200_000, limit: int = 300) -> list[tuple[str, int]]:
        """The AI tags most often given (counted over at most ``sample`` tag rows: bounded on a huge catalog)."""
        rows = self.db.execute("SELECT path, count(*) AS n FROM (SELECT path FROM tags WHERE implied = 0 LIMIT ?) "
                               "GROUP BY path ORDER BY n DESC, path LIMIT ?", (sample, limit)).fetchall()
        return [(str(p), int(n)) for p, n in rows]

    def folders_under(self, root: Path) -> list[tuple[Path, int]]:
        """The folders one and two levels below ``root`` with how many photos each holds (below it, too).

        Counted by SQLite on the paths' bytes (about 1.3 s for a million files; a Python loop took 4 s for a
        fifth of them)."""
        prefix = encode_path(root)
        rows = self.db.execute(
            "WITH r AS (SELECT substr(path, ?) AS rest FROM files WHERE status = 'ok' AND path >= ? AND path < ?), "
            "one AS (SELECT substr(rest, 1, instr(rest, x'2f') - 1) AS a, substr(rest, instr(rest, x'2f') + 1) AS tail "
            "FROM r WHERE instr(rest, x'2f') > 0) "
            "SELECT a, CASE WHEN instr(tail, x'2f') > 0 THEN substr(tail, 1, instr(tail, x'2f') - 1) END, count(*) "
            "FROM one GROUP BY 1, 2", (len(prefix) + 2, prefix + b"/", prefix + b"0")).fetchall()
        counts: dict[Path, int] = {}
        for first, second, count in rows:
            folder = root / os.fsdecode(bytes(first))
            counts[folder] = counts.get(folder, 0) + count
            if second is not None:
                counts[folder / os.fsdecode(bytes(second))] = count
        return sorted(counts.items())

    def image_info(self, digest: str) -> tuple[int, int, str] | None:
        """(width, height, format) of an image, as decoded when it was tagged."""
        row = self.db.execute("SELECT width, height, format FROM images WHERE hash = ?", (digest,)).fetchone()
        return None if row is None else (int(row[0] or 0), int(row[1] or 0), str(row[2] or ""))

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
        for row in self.db.execute(f"SELECT {_FILE_COLUMNS} FROM files ORDER BY path"):
            yield _file_row(row)


_FILE_COLUMNS = "path, size, mtime_ns, hash, status, tagset, ctime_ns, inode, error, hint"


def _file_row(row: tuple) -> FileRow:
    return FileRow(decode_path(row[0]), *row[1:])


def _text(value: str | None) -> str | None:
    """Text as SQLite can store it (UTF-8).

    A file name's bytes that are not UTF-8 (kept by ``os.fsdecode`` as lone surrogates) become the characters
    they are in Windows-1252, the encoding old archives' names most often are in; any other lone surrogate
    becomes U+FFFD.
    """
    if value is None or value.isascii():
        return value
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return "".join(_character(c) for c in value)


def _character(c: str) -> str:
    if "\udc80" <= c <= "\udcff":
        return bytes([ord(c) - 0xDC00]).decode("cp1252", "replace")
    return "\ufffd" if "\ud800" <= c <= "\udfff" else c
