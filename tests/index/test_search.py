"""The search core on vectors spread like a real CLIP model's: the relevance cutoff and the fusion of channels."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.catalog import Catalog
from index.search import Searcher
from index.store import load_background, update_index

DIM = 64


@pytest.fixture
def library(tmp_path: Path):
    """300 photos (empty files) with well-spread unit vectors; photo 7 carries the user keyword "Anna"."""
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((300, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    catalog = Catalog.open(tmp_path / "catalog.db")
    model_id = catalog.model_id("fp", "clip:test", DIM)
    paths = []
    for i, vector in enumerate(vectors):
        path = tmp_path / "photos" / f"IMG_{i:04d}.jpg"
        path.parent.mkdir(exist_ok=True)
        path.touch()
        paths.append(path)
        catalog.record_image(f"h{i}", 1, 1, "JPEG")
        catalog.record_file(path, size=0, mtime_ns=path.stat().st_mtime_ns, digest=f"h{i}", status="ok")
        catalog.store_embedding(f"h{i}", model_id, vector)
        catalog.set_text(path, folders="photos", tags="", keywords="Anna" if i == 7 else "")
    catalog.commit()
    index = update_index(catalog, model_id, "fp")
    background = load_background(catalog.path, "fp")
    assert index is not None and background is not None
    searcher = Searcher(catalog, model_id, index, background, model_label="clip:test")
    yield searcher, vectors, paths
    catalog.close()


def test_a_query_that_means_one_photo_finds_it_and_little_else(library):
    searcher, vectors, paths = library
    rng = np.random.default_rng(1)
    query = vectors[17] + 0.6 * rng.standard_normal(DIM).astype(np.float32) / np.sqrt(DIM)
    searcher.embed_text = lambda q: query / np.linalg.norm(query)
    hits = searcher.search("anything", n=20).hits
    assert hits[0].path == str(paths[17]) and hits[0].why == "semantic" and hits[0].z >= 3
    assert len(hits) <= 3


def test_a_query_that_matches_nothing_does_not_rank_the_library(library):
    searcher, vectors, _ = library
    found = 0
    for seed in range(20):
        direction = np.random.default_rng(100 + seed).standard_normal(DIM).astype(np.float32)
        searcher.embed_text = lambda q, d=direction: d / np.linalg.norm(d)
        found += len(searcher.search("anything", n=20).hits)
        assert len(searcher.search("anything", n=20, cutoff=-100).hits) == 20  # no cutoff: the library, ranked
    assert found <= 20 * 300 * 0.005  # z >= 3 is about one photo in 700 when nothing is relevant


def test_a_photo_found_both_ways_ranks_above_one_found_either_way(library):
    searcher, vectors, paths = library
    # "Anna" means photo 7 to the keyword channel; the text tower thinks of photo 3 and, a little less, photo 7
    query = vectors[3] + 0.8 * vectors[7]
    searcher.embed_text = lambda q: query / np.linalg.norm(query)
    hits = searcher.search("Anna", n=5).hits
    assert [(h.path, h.why) for h in hits[:2]] == [(str(paths[7]), "both"), (str(paths[3]), "semantic")]
    assert hits[0].score == pytest.approx(1.0, abs=0.05)


def test_an_ivf_index_with_exact_rescoring_keeps_recall_at_10_above_098(tmp_path: Path):
    from index.vectors import VectorIndex

    rng = np.random.default_rng(4)
    centres = rng.standard_normal((60, DIM)).astype(np.float32)
    def sample(count: int) -> np.ndarray:
        v = centres[rng.integers(60, size=count)] + 0.35 * rng.standard_normal((count, DIM)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    vectors = sample(6000)
    with Catalog.open(tmp_path / "catalog.db") as catalog:
        model_id = catalog.model_id("fp", "clip:test", DIM)
        for i, vector in enumerate(vectors):
            catalog.store_embedding(f"h{i}", model_id, vector)
        catalog.commit()
        ids = np.concatenate([i for i, _, _ in catalog.embeddings_since(model_id, -1)])
        index = VectorIndex.build(vectors, ids, kind="ivf-sq8")
        searcher = Searcher(catalog, model_id, index, vectors[:1000], model_label="clip:test")
        queries = sample(100)
        alone, rescored = [], []
        for q in queries:
            exact = {f"h{i}" for i in np.argsort(-(vectors @ q))[:10]}
            _, found = index.search(q, 10)
            by_id = catalog.vectors_of(found[0], model_id)
            alone.append(len(exact & {by_id[int(i)][0] for i in found[0]}) / 10)
            rescored.append(len(exact & {h for h, _, _ in searcher._semantic(q, 10, None, cutoff=-1e9)[:10]}) / 10)
    assert np.mean(rescored) >= 0.98 and np.mean(rescored) >= np.mean(alone)
