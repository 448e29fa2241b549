"""Driving a real digiKam 7.9 headless (Xvfb) and reading back what it imported.

Recipe from shared/XMP_INTEROP.md: own HOME and XDG folders, a digikamrc that
skips the first-run wizard, a first start that creates the SQLite database,
a collection added straight into ``AlbumRoots``, and a second start that
scans it and records ``Settings.Scanned`` when done.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path


class SchemaInitError(RuntimeError):
    """digiKam's first start failed to create its database schema."""


class DigiKam:
    def __init__(self, workdir: Path, *, read_sidecars: bool, compatible_names: bool = False):
        self.workdir = workdir
        self.db_dir = workdir / "db"
        for sub in ("home", "config", "data", "cache", "db"):
            (workdir / sub).mkdir(parents=True, exist_ok=True)
        (workdir / "config" / "digikamrc").write_text(
            "[General Settings]\nVersion=7.9.0\nShow Splash=false\nScan At Start=true\n\n"
            "[Album Settings]\nAlbum Sort Order=0\n\n"
            f"[Database Settings]\nDatabase Type=QSQLITE\nDatabase Name={self.db_dir}/\n"
            f"Database Name Thumbnails={self.db_dir}/\nDatabase Name Face={self.db_dir}/\n"
            f"Database Name Similarity={self.db_dir}/\n\n"
            "[Metadata Settings]\n"
            f"Use XMP Sidecar For Reading={'true' if read_sidecars else 'false'}\n"
            f"Use Compatible File Name={'true' if compatible_names else 'false'}\n")
        (workdir / "config" / "digikam_systemrc").write_text("[System]\ndisableFaceEngine=true\ndisableOpenCL=true\n")
        self.env = {**os.environ, "HOME": str(workdir / "home"), "XDG_CONFIG_HOME": str(workdir / "config"),
                    "XDG_DATA_HOME": str(workdir / "data"), "XDG_CACHE_HOME": str(workdir / "cache"),
                    "XDG_RUNTIME_DIR": str(workdir / "home"), "QTWEBENGINE_DISABLE_SANDBOX": "1"}
        self.env.pop("DISPLAY", None)

    @property
    def db(self) -> Path:
        return self.db_dir / "digikam4.db"

    def import_collection(self, collection: Path, *, expected_images: int, timeout: float = 180) -> dict[str, set[str]]:
        """Let digiKam scan ``collection``; return image file name -> tag paths ("AI/animal/dog")."""
        for attempt in range(3):
            try:
                if not self.db.exists():
                    self._run_until(self._schema_ready(), timeout)
                self._add_collection(collection)
                self._run_until(self._scanned(expected_images), timeout)
                return self.image_tags()
            except SchemaInitError:
                # digiKam now and then fails to create its schema ("cannot process schema initialization") and
                # then waits forever: start again on a fresh database folder
                if attempt == 2:
                    raise
                for leftover in self.db_dir.iterdir():
                    leftover.unlink()
        raise AssertionError("unreachable")

    def _schema_ready(self):
        """True a little after digiKam has written the settings its schema set-up ends with: stopping it earlier
        leaves a half-made schema that the next start cannot use."""
        ready_at: list[float] = []

        def ready() -> bool:
            row = self._query("SELECT count(*) FROM Settings WHERE keyword IN "
                              "('DBVersion', 'DBVersionRequired', 'databaseUUID', 'Locale')")
            if not ready_at and row is not None and row[0] == 4:
                ready_at.append(time.monotonic())
            return bool(ready_at) and time.monotonic() - ready_at[0] > 3

        return ready

    def _add_collection(self, collection: Path) -> None:
        with sqlite3.connect(self.db) as con:
            con.execute("INSERT INTO AlbumRoots (label, status, type, identifier, specificPath) VALUES (?, 0, 3, ?, '/')",
                        ("photos", f"networkshareid:?mountpath={collection}"))
            con.execute("DELETE FROM Settings WHERE keyword = 'Scanned'")

    def _scanned(self, expected_images: int):
        def scanned() -> bool:
            done = self._query("SELECT value FROM Settings WHERE keyword = 'Scanned'")
            count = self._query("SELECT count(*) FROM Images")
            return bool(done) and count is not None and count[0] >= expected_images

        return scanned

    def image_tags(self) -> dict[str, set[str]]:
        with sqlite3.connect(self.db) as con:
            tags = {tid: (pid, name) for tid, pid, name in con.execute("SELECT id, pid, name FROM Tags")}
            internal = {tid for (tid,) in con.execute("SELECT tagid FROM TagProperties WHERE property = 'internalTag'")}
            rows = con.execute("SELECT i.name, it.tagid FROM Images i JOIN ImageTags it ON it.imageid = i.id").fetchall()
        result: dict[str, set[str]] = {}
        for image, tagid in rows:
            parts, node, skip = [], tagid, False
            while node in tags:
                if node in internal or tags[node][1] == "_Digikam_Internal_Tags_":
                    skip = True
                pid, name = tags[node]
                parts.append(name)
                node = pid
            if not skip:
                result.setdefault(image, set()).add("/".join(reversed(parts)))
        return result

    def ratings_and_labels(self) -> dict[str, tuple[int | None, set[str]]]:
        """Image file name -> (rating, digiKam's internal label tags such as "Color Label Red")."""
        with sqlite3.connect(self.db) as con:
            ratings = dict(con.execute("SELECT i.name, n.rating FROM Images i JOIN ImageInformation n "
                                       "ON n.imageid = i.id").fetchall())
            labels = con.execute("SELECT i.name, t.name FROM Images i JOIN ImageTags it ON it.imageid = i.id "
                                 "JOIN Tags t ON t.id = it.tagid "
                                 "WHERE t.name LIKE 'Color Label %' OR t.name LIKE 'Pick Label %'").fetchall()
        out: dict[str, tuple[int | None, set[str]]] = {name: (rating, set()) for name, rating in ratings.items()}
        for name, label in labels:
            out.setdefault(name, (None, set()))[1].add(label)
        return out

    def titles(self) -> dict[str, str]:
        """Image file name -> the title digiKam shows (read from dc:title)."""
        with sqlite3.connect(self.db) as con:
            return dict(con.execute("SELECT i.name, c.comment FROM Images i JOIN ImageComments c ON c.imageid = i.id "
                                    "WHERE c.type = 3").fetchall())

    def captions(self) -> dict[str, str]:
        """Image file name -> the caption digiKam shows (its "comment", read from dc:description)."""
        with sqlite3.connect(self.db) as con:
            return dict(con.execute("SELECT i.name, c.comment FROM Images i JOIN ImageComments c ON c.imageid = i.id "
                                    "WHERE c.type = 1").fetchall())

    def _query(self, sql: str):
        if not self.db.exists():
            return None
        try:
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=1) as con:
                return con.execute(sql).fetchone()
        except sqlite3.Error:
            return None

    def _run_until(self, condition, timeout: float) -> None:
        log_path = self.workdir / "digikam.log"
        log_start = log_path.stat().st_size if log_path.exists() else 0  # earlier starts wrote the part before
        log = open(log_path, "ab")
        process = subprocess.Popen(["xvfb-run", "-a", "digikam", "--database-directory", f"{self.db_dir}/"],
                                   env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while not condition():
                if b"cannot process schema initialization" in log_path.read_bytes()[log_start:]:
                    raise SchemaInitError(f"digiKam could not create its database; see {self.workdir / 'digikam.log'}")
                if process.poll() is not None:
                    raise RuntimeError(f"digiKam exited early ({process.returncode}); see {self.workdir / 'digikam.log'}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"digiKam did not finish in {timeout:.0f} s; see {self.workdir / 'digikam.log'}")
                time.sleep(0.5)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            log.close()
