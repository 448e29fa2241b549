"""Where each model's vector index lives, and keeping it in step with the catalog.

The index is a derived artefact: the catalog's embeddings are the source of
truth. It lives in a folder beside the catalog (``catalog.db.index/``), one
``model-<fingerprint>.faiss`` per model with a ``.json`` description (type,
size, tuning, the last catalog sequence number it holds) and a background
sample of library vectors for the relevance cutoff.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xmp.errors import PhotobrainError

from .catalog import Catalog
from .vectors import FLAT_LIMIT, VectorIndex

BACKGROUND = 4096  # library vectors kept to score a query against the library as a whole


@dataclass(frozen=True)
class IndexFiles:
    index: Path
    state: Path
    background: Path

    @property
    def info(self) -> Path:
        """The index's description, written beside it by :meth:`VectorIndex.save`."""
        return self.index.with_suffix(".json")

    def existing(self) -> list[Path]:
        return [p for p in (self.index, self.info, self.state, self.background) if p.exists()]


def index_folder(catalog_path: Path) -> Path:
    return catalog_path.with_name(catalog_path.name + ".index")


def files_for(catalog_path: Path, model_fp: str) -> IndexFiles:
    base = index_folder(catalog_path) / f"model-{model_fp}"
    return IndexFiles(base.with_suffix(".faiss"), base.with_suffix(".state.json"), base.with_suffix(".background.npy"))


def index_state(catalog_path: Path, model_fp: str) -> dict | None:
    try:
        return json.loads(files_for(catalog_path, model_fp).state.read_text())
    except (OSError, ValueError):
        return None


def update_index(catalog: Catalog, model_id: int, model_fp: str, *, rebuild: bool = False,
                 log: Callable[[str], None] = lambda m: None) -> VectorIndex | None:
    """Bring the model's index up to date with the catalog: add what is new, or rebuild when the type is outgrown.

    Returns None when the catalog holds no embedding of this model.
    """
    files = files_for(catalog.path, model_fp)
    state = None if rebuild else index_state(catalog.path, model_fp)
    last = catalog.last_seq(model_id)
    # every stored or replaced embedding takes a new sequence number, and deleting a model deletes its index:
    # the same number means nothing changed (and no count of the embeddings is needed to know it)
    if state is not None and files.index.exists() and state.get("seq") == last:
        return VectorIndex.load(files.index)
    count = catalog.embedding_count(model_id)
    if count == 0:
        return None
    index = None
    if state is not None and files.index.exists() and not _outgrown(state, count):
        try:
            index = VectorIndex.load(files.index, mmap=False)
            background = np.load(files.background)
        except (PhotobrainError, OSError, ValueError):
            index = None
        if index is not None:
            seen = int(state["count"])
            rng = np.random.default_rng(seen)
            for ids, vectors, _ in catalog.embeddings_since(model_id, int(state["seq"])):
                index.add(vectors, ids)
                background, seen = _reservoir(background, vectors, seen, rng)
            _save_background(files.background, background)
    if index is None:
        log(f"photobrain: building the search index ({count} images)")
        ids, vectors = _all_embeddings(catalog, model_id)
        index = VectorIndex.build(vectors, ids)
        _save_background(files.background, _sample(vectors))
    index.save(files.index)
    _write_state(files.state, {"seq": last, "count": count, "kind": index.info.kind,
                               "trained_on": index.info.trained_on})
    return index


def _outgrown(state: dict, count: int) -> bool:
    """A flat index past FLAT_LIMIT, or an IVF index whose quantiser saw under a quarter of today's library."""
    if state.get("kind") == "flat":
        return count >= FLAT_LIMIT
    return count > 4 * int(state.get("trained_on") or 0)


def _all_embeddings(catalog: Catalog, model_id: int) -> tuple[np.ndarray, np.ndarray]:
    id_parts, vector_parts = [], []
    for ids, vectors, _ in catalog.embeddings_since(model_id, -1):
        id_parts.append(ids)
        vector_parts.append(vectors)
    return np.concatenate(id_parts), np.concatenate(vector_parts)


def _sample(vectors: np.ndarray, seed: int = 0) -> np.ndarray:
    if len(vectors) <= BACKGROUND:
        return vectors.copy()
    return vectors[np.random.default_rng(seed).choice(len(vectors), BACKGROUND, replace=False)]


def _reservoir(background: np.ndarray, new: np.ndarray, seen: int,
               rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Keep ``background`` a uniform sample of the library as ``new`` vectors join it."""
    rows = list(background)
    for vector in new:
        seen += 1
        if len(rows) < BACKGROUND:
            rows.append(vector)
        else:
            slot = int(rng.integers(seen))
            if slot < BACKGROUND:
                rows[slot] = vector
    return np.asarray(rows, dtype=np.float32), seen


def _save_background(path: Path, sample: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp.npy")
    np.save(temp, np.asarray(sample, dtype=np.float32))
    os.replace(temp, path)


def load_background(catalog_path: Path, model_fp: str) -> np.ndarray | None:
    try:
        return np.load(files_for(catalog_path, model_fp).background)
    except (OSError, ValueError):
        return None


def _write_state(path: Path, state: dict) -> None:
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps(state, indent=2))
    os.replace(temp, path)


def remove_index(catalog_path: Path, model_fp: str) -> int:
    """Delete a model's index files; returns the bytes freed."""
    freed = 0
    for path in files_for(catalog_path, model_fp).existing():
        try:
            freed += path.stat().st_size
            path.unlink()
        except OSError:
            pass
    return freed
