"""The one place SQLite's errors become photobrain's: a full disk, a damaged file, a busy catalog, said in words.

Every catalog connection is a :class:`Connection`: its ``execute``, ``executemany``, ``executescript``,
``commit`` and the rows of its cursors raise :class:`~index.catalog.CatalogError` subclasses naming the
catalog file and the fix, never a bare ``sqlite3.OperationalError``.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from xmp.errors import PhotobrainError


class CatalogError(PhotobrainError):
    """The catalog cannot be opened or used."""


class CatalogInUseError(CatalogError):
    """Another photobrain process holds the catalog."""


class CatalogFullError(CatalogError):
    """The disk holding the catalog is full: the catalog itself is fine."""


class CatalogDamagedError(CatalogError):
    """The catalog file is damaged (or is no SQLite database at all)."""


class QueryError(CatalogError):
    """SQLite refused a statement (no such table in an old catalog read as it is, an FTS expression it cannot
    parse): callers that expect it catch this, and nothing worse."""


DAMAGED_HINT = ("run 'photobrain catalog check' to see what is damaged; 'photobrain catalog rebuild' sets the "
                "damaged file aside and rebuilds the catalog from your photos and their XMP")


def translate(path: Path, exc: sqlite3.Error) -> CatalogError:
    """``exc`` as the error a user can act on."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_FULL") or "disk is full" in str(exc):
        return CatalogFullError(path, "the disk holding the catalog is full; the catalog itself is fine, and what "
                                      "was done before is kept", "free some space on that disk and run the command "
                                                                 "again")
    if name.startswith("SQLITE_NOTADB") or "not a database" in str(exc):
        return CatalogDamagedError(path, "this file is not a photobrain catalog (not an SQLite database), or one "
                                         "damaged from its first page", "pass the --catalog you tagged with; if this "
                                         "is your catalog, 'photobrain catalog rebuild' sets it aside and rebuilds it")
    if name.startswith("SQLITE_CORRUPT") or "malformed" in str(exc):
        return CatalogDamagedError(path, f"the catalog file is damaged ({exc})", DAMAGED_HINT)
    if name.startswith("SQLITE_BUSY") or "locked" in str(exc):
        return CatalogError(path, f"the catalog is busy ({exc})", "wait for the other photobrain command to finish")
    if name.startswith("SQLITE_READONLY"):
        return CatalogError(path, "the catalog cannot be written (read-only file or folder)",
                            "make it writable, or choose another catalog with --catalog")
    if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")):
        return CatalogError(path, f"the catalog cannot be read or written ({exc})",
                            "check the disk holding it (mounted, writable, healthy)")
    if isinstance(exc, sqlite3.OperationalError) and name in ("", "SQLITE_ERROR"):
        return QueryError(path, f"the catalog could not do what was asked ({exc})", DAMAGED_HINT)
    return CatalogError(path, f"the catalog could not do what was asked ({exc})", DAMAGED_HINT)


class Cursor(sqlite3.Cursor):
    """A cursor whose rows raise photobrain's errors (a damaged page shows up while rows are read)."""

    def _path(self) -> Path:
        return self.connection.path  # type: ignore[attr-defined]

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.Error as exc:
            raise translate(self._path(), exc) from exc

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.Error as exc:
            raise translate(self._path(), exc) from exc

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.Error as exc:
            raise translate(self._path(), exc) from exc

    def fetchmany(self, size: int | None = None) -> list[Any]:
        try:
            return super().fetchmany(size) if size is not None else super().fetchmany()
        except sqlite3.Error as exc:
            raise translate(self._path(), exc) from exc


class Connection(sqlite3.Connection):
    """A catalog connection (``sqlite3.connect(..., factory=Connection)``) that knows its file's path."""

    path: Path = Path("catalog")

    def _cursor(self, method: str, *args: Any) -> Cursor:
        cursor = self.cursor(Cursor)
        try:
            getattr(cursor, method)(*args)
        except sqlite3.Error as exc:
            raise translate(self.path, exc) from exc
        return cursor  # type: ignore[return-value]

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:  # type: ignore[override]
        return self._cursor("execute", sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> Cursor:  # type: ignore[override]
        return self._cursor("executemany", sql, parameters)

    def executescript(self, script: str, /) -> Cursor:  # type: ignore[override]
        return self._cursor("executescript", script)

    def commit(self) -> None:
        try:
            super().commit()
        except sqlite3.Error as exc:
            raise translate(self.path, exc) from exc

    def __exit__(self, *exc_info: Any) -> Any:  # ``with db:`` commits (or rolls back) in C: translate that too
        try:
            return super().__exit__(*exc_info)
        except sqlite3.Error as exc:
            raise translate(self.path, exc) from exc


def connect(path: Path, target: str | Path, **kwargs: Any) -> Connection:
    """A :class:`Connection` to ``target`` (a path, or a ``file:`` URI with ``uri=True``) for the catalog ``path``."""
    try:
        db = sqlite3.connect(target, factory=Connection, check_same_thread=False, **kwargs)
    except sqlite3.Error as exc:
        raise translate(path, exc) from exc
    db.path = Path(path)
    return db  # type: ignore[return-value]
