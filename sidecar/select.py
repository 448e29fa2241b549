"""Choosing tags from an image embedding: a documented multi-label rule.

CLIP similarities are not probabilities, and a softmax over the vocabulary
picks one winner where a photo shows many things. photobrain compares each
concept with the image's own similarity distribution instead:

    s_c  = cosine(image, concept)            concept = mean of its prompt embeddings
    z_c  = (s_c - mean_c s) / std_c s         how far c stands out for this image
    p_c  = 1 / (1 + exp(-slope * (z_c - center)))   the stored confidence, 0..1

The mean and standard deviation are over the vocabulary's reference
concepts: all of them, or, for a vocabulary that extends the built-in one,
the built-in concepts, so that adding concepts leaves every other
concept's confidence as it was.

A concept is tagged when ``p_c >= threshold`` (default 0.5, i.e. z >= 3:
three standard deviations above this image's average concept; a vocabulary
may set a concept's own threshold), at most
``max_tags`` of them, best first (ties by path, so the result is
deterministic). A tagged concept implies the vocabulary's concepts above it
in the hierarchy, which are tagged too with the best child's confidence.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .vocab import Vocabulary


@dataclass(frozen=True)
class SelectionRule:
    threshold: float = 0.5
    max_tags: int = 10
    center: float = 3.0
    slope: float = 2.0

    def fingerprint(self) -> str:
        return f"t{self.threshold:g}-m{self.max_tags}-c{self.center:g}-s{self.slope:g}"


@dataclass(frozen=True)
class Selected:
    path: tuple[str, ...]  # relative to the AI root
    score: float
    implied: bool = False


def concept_matrix(prompt_vectors: np.ndarray, vocab: Vocabulary) -> np.ndarray:
    """Average each concept's prompt embeddings (in vocabulary order) and normalise."""
    rows, start = [], 0
    for concept in vocab.concepts:
        count = len(concept.prompt_texts())
        mean = prompt_vectors[start:start + count].mean(axis=0)
        rows.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
        start += count
    return np.asarray(rows, dtype=np.float32)


def confidences(image_vectors: np.ndarray, concepts: np.ndarray, rule: SelectionRule,
                reference: np.ndarray | None = None) -> np.ndarray:
    """p_c for every image (row) and concept (column); ``reference``: the concepts the mean and std are taken over."""
    sims = image_vectors.astype(np.float32) @ concepts.T
    basis = sims if reference is None else sims[:, reference]
    z = (sims - basis.mean(axis=1, keepdims=True)) / np.maximum(basis.std(axis=1, keepdims=True), 1e-6)
    return 1.0 / (1.0 + np.exp(-rule.slope * (z - rule.center)))


def select(image_vectors: np.ndarray, concepts: np.ndarray, vocab: Vocabulary, rule: SelectionRule) -> list[list[Selected]]:
    """Tags for each image (rows of ``image_vectors``)."""
    by_path = {c.path: i for i, c in enumerate(vocab.concepts)}
    thresholds = np.array([np.inf if c.excluded else rule.threshold if c.threshold is None else c.threshold
                           for c in vocab.concepts], dtype=np.float32)
    reference = np.array([c.reference for c in vocab.concepts], dtype=bool)
    results = []
    for row in confidences(image_vectors, concepts, rule, reference):
        chosen = sorted((i for i in np.flatnonzero(row >= thresholds)),
                        key=lambda i: (-row[i], vocab.concepts[i].path))[:rule.max_tags]
        tags: dict[tuple[str, ...], Selected] = {}
        for i in chosen:
            path = vocab.concepts[i].path
            tags[path] = Selected(path, round(float(row[i]), 4))
        for i in chosen:
            path = vocab.concepts[i].path
            for depth in range(len(path) - 1, 0, -1):
                parent = path[:depth]
                if parent in by_path and parent not in tags and not vocab.concepts[by_path[parent]].excluded:
                    tags[parent] = Selected(parent, round(float(row[i]), 4), implied=True)
        results.append(sorted(tags.values(), key=lambda t: (-t.score, t.path)))
    return results
