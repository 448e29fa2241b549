"""``photobrain status``: what the catalog and its search indexes hold."""
from __future__ import annotations

import json
from pathlib import Path

from .catalog import Catalog
from .repair import check
from .store import files_for


def library_status(catalog_path: Path) -> dict:
    """Counts (files, unique images, duplicates, missing, failed), models, indexes, sizes on disk, the last run."""
    catalog_path = Path(catalog_path)
    with Catalog.open_existing(catalog_path) as catalog:
        db = catalog.db
        one = lambda sql: int(db.execute(sql).fetchone()[0])  # noqa: E731
        files = one("SELECT count(*) FROM files WHERE status = 'ok'")
        images = one("SELECT count(DISTINCT hash) FROM files WHERE status = 'ok'")
        counts = {"files": files, "images": images, "duplicates": files - images,
                  "missing": one("SELECT count(*) FROM files WHERE status = 'missing'"),
                  "failed": one("SELECT count(*) FROM files WHERE status = 'failed'")}
        models = []
        for model in catalog.models():
            index_files = files_for(catalog_path, model.fingerprint)
            index = None
            try:
                info = json.loads(index_files.info.read_text())
                info["bytes"] = sum(p.stat().st_size for p in index_files.existing())
                index = info
            except (OSError, ValueError):
                pass
            models.append({"label": model.label, "fingerprint": model.fingerprint, "dim": model.dim,
                           "embeddings": model.embeddings, "index": index})
        libraries = _libraries(catalog)
        cloud = catalog.cloud_counts()
        row = db.execute("SELECT command, started, finished, summary FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        last_run = dict(zip(("command", "started", "finished", "summary"), row, strict=True)) if row else None
        if last_run is not None:
            last_run["summary"] = run_summary(last_run["summary"])
    sizes = sum(p.stat().st_size for p in (catalog_path, Path(f"{catalog_path}-wal")) if p.exists())
    return {"catalog": str(catalog_path), "catalog_bytes": sizes, "counts": counts, "models": models,
            "cloud_answers": cloud, "last_run": last_run, "libraries": libraries,
            "integrity": _integrity(catalog_path, sizes)}


#: status reads a catalog up to this size whole to say it is whole (quick_check: 0.4 s a GB, warm); a larger one is
#: left to 'photobrain catalog check'
GLANCE_BYTES = 1 << 30


def _integrity(catalog_path: Path, size: int) -> str:
    """"ok", "damaged: ..." or "not checked ..." (a catalog too large to read for a status)."""
    if size > GLANCE_BYTES:
        return "not checked (a large catalog: run 'photobrain catalog check')"
    result = check(catalog_path, limit=3, quick=True)
    return "ok" if result.ok else "damaged: " + "; ".join(result.problems)


def libraries_of(catalog_path: Path) -> list[dict]:
    """The catalog's libraries (see :func:`library_status`); none when there is no catalog."""
    opened = Catalog.open_readonly(catalog_path)
    if opened is None:
        return []
    with opened:
        return _libraries(opened)


def _libraries(catalog: Catalog) -> list[dict]:
    return [{"root": str(lib.root), "exists": lib.root.is_dir(), "profile": lib.profile,
             "counts": catalog.library_counts(lib.root), "created": lib.created, "last_run": lib.last_run,
             "last_summary": lib.last_summary} for lib in catalog.libraries()]


def run_summary(text: str | None) -> dict | None:
    """A run's stored summary as a dict (JSON; runs before 0.1 stored Python's repr of the dict)."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        import ast

        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return None
    return value if isinstance(value, dict) else None
