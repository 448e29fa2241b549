"""The FAISS index: types by size, ids, recall of the inverted-file index, memory-mapped loading."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.vectors import FLAT_LIMIT, VectorIndex, nlist_for


def clustered(count: int, dim: int = 64, clusters: int = 200, seed: int = 0) -> np.ndarray:
    centres = np.random.default_rng(12345).standard_normal((clusters, dim)).astype(np.float32)
    rng = np.random.default_rng(seed)
    vectors = centres[rng.integers(clusters, size=count)] + 0.6 * rng.standard_normal((count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def exact_ids(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    return list(ids[np.argsort(-(vectors @ query))[:k]])


def test_a_small_library_gets_exact_search_with_the_catalog_ids():
    vectors = clustered(500)
    ids = np.arange(500, dtype=np.int64) * 7919 + (1 << 40)
    index = VectorIndex.build(vectors, ids)
    assert index.info.kind == "flat"
    scores, found = index.search(vectors[17], 5)
    assert found[0][0] == ids[17] and scores[0][0] == pytest.approx(1.0, abs=1e-5)
    assert list(found[0]) == exact_ids(vectors, ids, vectors[17], 5)


def test_a_large_library_gets_an_ivf_sq8_index_tuned_to_the_recall_target(tmp_path: Path):
    count = FLAT_LIMIT + 4000
    vectors = clustered(count, seed=1)
    ids = np.arange(count, dtype=np.int64) + 1000
    index = VectorIndex.build(vectors, ids)
    assert index.info.kind == "ivf-sq8" and index.info.nlist == nlist_for(count)
    # tuned, not exhaustive: a small share of the lists is searched, with the tuning queries' recall recorded
    assert index.info.nprobe <= index.info.nlist // 8 and index.info.recall_at_10 >= 0.95
    # independent check on fresh queries: recall@10 against exact search
    queries = clustered(100, seed=2)
    _, found = index.search(queries, 10)
    recall = np.mean([len(set(f) & set(exact_ids(vectors, ids, q, 10))) / 10 for q, f in zip(queries, found, strict=True)])
    assert recall >= 0.95
    index.save(tmp_path / "ivf.faiss")
    loaded = VectorIndex.load(tmp_path / "ivf.faiss")  # memory-mapped
    assert loaded.info == index.info
    assert np.array_equal(loaded.search(queries, 10)[1], found)
    assert loaded.memory_bytes < count * vectors.shape[1] * 4 / 2  # 8-bit codes: well under the float32 vectors


def test_search_can_be_restricted_to_some_ids():
    vectors = clustered(300)
    ids = np.arange(300, dtype=np.int64)
    index = VectorIndex.build(vectors, ids)
    allowed = np.array([3, 50, 299], dtype=np.int64)
    _, found = index.search(vectors[0], 10, only=allowed)
    assert set(found[0][found[0] >= 0]) == {3, 50, 299}


def test_adding_a_replaced_vector_does_not_list_it_twice(tmp_path: Path):
    vectors = clustered(100)
    ids = np.arange(100, dtype=np.int64)
    index = VectorIndex.build(vectors, ids)
    index.add(vectors[5:6] * -1, ids[5:6])
    assert index.info.count == 100
    _, found = index.search(vectors[5], 100)
    assert list(found[0]).count(5) == 1
    index.save(tmp_path / "flat.faiss")
    assert VectorIndex.load(tmp_path / "flat.faiss").info.count == 100


def test_an_unreadable_index_names_the_rebuild_command(tmp_path: Path):
    from xmp.errors import PhotobrainError

    broken = tmp_path / "model.faiss"
    broken.write_bytes(b"not an index")
    broken.with_suffix(".json").write_text('{"kind": "flat", "count": 1, "dim": 4}')
    with pytest.raises(PhotobrainError) as err:
        VectorIndex.load(broken)
    assert "index rebuild" in err.value.hint
