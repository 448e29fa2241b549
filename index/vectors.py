"""The vector index over image embeddings: FAISS, and the only module that imports it.

Vectors are L2-normalised, so inner product is cosine similarity. The index
type follows the library's size (measured with ``bench/bench_search.py`` on
this project's 2-core machine, 512-d vectors, one FAISS thread per query):

* below ``FLAT_LIMIT`` images, exact search (``IndexFlatIP``): nothing to
  train, perfect recall, and under 2 ms per query at that size;
* from there on, an inverted-file index with 8-bit scalar quantisation
  (``IVF{nlist},SQ8``): about a quarter of the memory of exact search and
  sub-millisecond queries at a million images. ``nprobe`` is tuned at build
  time on the library's own vectors: the smallest whose recall@10 against
  exact search reaches ``TUNING_RECALL`` (0.99), or comes within 0.005 of
  what the widest search reaches (8-bit codes blur near-ties, and on tightly
  clustered vectors no nprobe gets past about 0.98). Search then re-scores
  the candidates exactly with the catalog's float32 vectors.

Index files are memory-mapped when opened for searching, so starting a
search costs no read of the whole index.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from xmp.errors import PhotobrainError

FLAT_LIMIT = 50_000
TARGET_RECALL = 0.98
TUNING_RECALL = 0.99  # aimed for on the tuning queries: fresh queries then keep above TARGET_RECALL (measured)
NPROBES = (4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256)


class IndexError_(PhotobrainError):
    """A vector index that cannot be built, read or searched."""


@dataclass
class IndexInfo:
    kind: str            # "flat" or "ivf-sq8"
    count: int
    dim: int
    nlist: int = 0
    nprobe: int = 0
    recall_at_10: float = 1.0
    trained_on: int = 0  # vectors the IVF quantiser was trained on (the library's size then)


def nlist_for(count: int) -> int:
    """Inverted lists for ``count`` vectors: about 2*sqrt(count), a power of two, 64 to 8192."""
    target = 2 * np.sqrt(max(count, 1))
    return int(min(8192, max(64, 2 ** round(np.log2(target)))))


class VectorIndex:
    """A FAISS index whose ids are the catalog's vector ids."""

    def __init__(self, index: faiss.Index, info: IndexInfo):
        self.index = index
        self.info = info

    # -- building --------------------------------------------------------------------------------

    @classmethod
    def build(cls, vectors: np.ndarray, ids: np.ndarray, *, kind: str | None = None, seed: int = 0) -> VectorIndex:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        count, dim = vectors.shape if vectors.ndim == 2 else (0, 0)
        kind = kind or ("flat" if count < FLAT_LIMIT else "ivf-sq8")
        if kind == "flat":
            flat = faiss.IndexIDMap(faiss.IndexFlatIP(dim))
            if count:
                flat.add_with_ids(vectors, ids)
            return cls(flat, IndexInfo("flat", count, dim))
        nlist = nlist_for(count)
        if count < 39 * nlist:
            raise IndexError_(None, f"{count} vectors are too few for an inverted-file index of {nlist} lists")
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit,
                                              faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        rng = np.random.default_rng(seed)
        sample = vectors[rng.choice(count, size=min(count, 64 * nlist), replace=False)]
        index.train(sample)
        index.add_with_ids(vectors, ids)
        built = cls(index, IndexInfo("ivf-sq8", count, dim, nlist=nlist, trained_on=count))
        built.tune(vectors, ids, rng)
        return built

    def tune(self, vectors: np.ndarray, ids: np.ndarray, rng: np.random.Generator, queries: int = 200) -> None:
        """Pick the smallest nprobe whose recall@10 against exact search reaches TUNING_RECALL, or comes within
        0.005 of what the widest search reaches when 8-bit quantisation keeps recall below that.

        Queries are library vectors with as much noise again added (cosine about 0.7 to the original), so
        that a query's neighbourhood is not just itself.
        """
        count, dim = vectors.shape
        picks = vectors[rng.choice(count, size=min(queries, count), replace=False)]
        noise = rng.standard_normal(picks.shape).astype(np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        probe = _normalised(picks + noise)
        exact = ids[_exact_top(vectors, probe, 10)]
        ivf = faiss.extract_index_ivf(self.index)
        candidates = [p for p in NPROBES if p <= ivf.nlist] or [ivf.nlist]
        recalls = {}
        for nprobe in reversed(candidates):  # the widest first: 8-bit codes cap recall a little below 1
            ivf.nprobe = nprobe
            recalls[nprobe] = _recall(exact, self.index.search(probe, 10)[1])
        goal = min(TUNING_RECALL, recalls[candidates[-1]] - 0.005)
        chosen = next(p for p in candidates if recalls[p] >= goal)
        ivf.nprobe = chosen
        self.info.nprobe, self.info.recall_at_10 = chosen, round(recalls[chosen], 4)

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        self.index.remove_ids(faiss.IDSelectorBatch(ids))  # a replaced embedding must not appear twice
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        self.info.count = int(self.index.ntotal)

    # -- searching -------------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int, *, only: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(cosine similarities, vector ids) of the ``k`` nearest, best first; ids of -1 mark no result.

        ``only``: restrict the search to these vector ids (a folder of the library).
        """
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, int(self.index.ntotal) or 1))
        if self.info.kind == "flat":
            params = faiss.SearchParameters()
        else:
            params = faiss.SearchParametersIVF()
            params.nprobe = self.info.nprobe
        if only is not None:
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(only, dtype=np.int64))
            params.sel = selector
        scores, ids = self.index.search(queries, k, params=params)
        return scores, ids

    @property
    def memory_bytes(self) -> int:
        """What the index's data take (codes, ids, centroids), in memory or mapped."""
        if self.info.kind == "flat":
            return self.info.count * (self.info.dim * 4 + 8)
        return self.info.count * (self.info.dim + 8) + self.info.nlist * self.info.dim * 4

    # -- files -----------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the index and its description beside each other, each replaced atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(path.name + ".tmp")
        faiss.write_index(self.index, str(temp))
        os.replace(temp, path)
        info = path.with_suffix(".json")
        info_temp = info.with_name(info.name + ".tmp")
        info_temp.write_text(json.dumps(asdict(self.info), indent=2))
        os.replace(info_temp, info)

    @classmethod
    def load(cls, path: Path, *, mmap: bool = True) -> VectorIndex:
        try:
            info = IndexInfo(**json.loads(path.with_suffix(".json").read_text()))
            flags = 0
            if mmap:
                flags = faiss.IO_FLAG_MMAP_IFC if info.kind == "flat" else faiss.IO_FLAG_MMAP
            index = faiss.read_index(str(path), flags)
        except (OSError, ValueError, TypeError, RuntimeError) as exc:
            raise IndexError_(path, f"cannot read the search index ({exc})",
                              "run 'photobrain index rebuild'") from exc
        return cls(index, info)


def single_threaded() -> None:
    """One FAISS thread: a single query is faster on one thread than on two here, and leaves a core free."""
    faiss.omp_set_num_threads(1)


def _normalised(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def _exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_rows = np.zeros((len(queries), k), dtype=np.int64)
    for start in range(0, len(vectors), 100_000):
        scores = queries @ vectors[start:start + 100_000].T
        if scores.shape[1] > k:
            top = np.argpartition(-scores, k, axis=1)[:, :k]
        else:
            top = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
        merged_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, axis=1)], axis=1)
        merged_rows = np.concatenate([best_rows, top + start], axis=1)
        order = np.argsort(-merged_scores, axis=1)[:, :k]
        best_scores = np.take_along_axis(merged_scores, order, axis=1)
        best_rows = np.take_along_axis(merged_rows, order, axis=1)
    return best_rows


def _recall(exact_ids: np.ndarray, found_ids: np.ndarray) -> float:
    return float(np.mean([len(set(e) & set(f)) / len(e) for e, f in zip(exact_ids, found_ids, strict=True)]))
