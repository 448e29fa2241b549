"""A vocabulary's concept embeddings for a model: prompt text embeddings, cached per prompt.

Every concept is the mean of its prompts' text embeddings (``select.concept_matrix``).
The built-in vocabulary has about 5,100 prompts; encoding them is the one
slow step before a first ``tag`` can start. So:

- each prompt's embedding is cached on its own (``<cache>/text/<model>-prompts.*``):
  editing a vocabulary, or extending the built-in one, encodes only the
  prompts that are new, on the ONNX text tower when the model has one;
- a first preparation runs torch in a child process, sharing the openings
  prompts have in common (see :func:`concepts_for`), with a progress bar;
- ``photobrain models pull`` prepares the built-in vocabulary and the text
  tower right after the download, so the first ``tag`` starts tagging at once.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

import numpy as np

from .brains.spec import ModelSpec
from .places import cache_dir
from .progress import Progress
from .select import concept_matrix
from .vocab import Vocabulary

if TYPE_CHECKING:
    from .brains.local import LocalBrain

CHUNK = 256          # prompts per progress step on the text tower
BATCH = 512          # prompts per call to the torch child (its progress step)
FEW = 1000           # up to this many new prompts go through the text tower (no torch) when the model has one
EXPORT_CHECK = 256   # prompts the exported tower is checked on against torch


class PromptCache:
    """Prompt text -> embedding for one model, in two files written atomically (a list of texts and a matrix)."""

    def __init__(self, model_fp: str):
        folder = cache_dir() / "text"
        self.texts_path = folder / f"{model_fp}-prompts.json"
        self.vectors_path = folder / f"{model_fp}-prompts.npy"
        self.vectors: dict[str, np.ndarray] = {}
        try:
            texts = json.loads(self.texts_path.read_text(encoding="utf-8"))
            matrix = np.load(self.vectors_path)
            if isinstance(texts, list) and len(texts) == len(matrix):
                self.vectors = dict(zip(texts, matrix, strict=True))
        except (OSError, ValueError):
            pass

    def missing(self, prompts: Sequence[str]) -> list[str]:
        return list(dict.fromkeys(p for p in prompts if p not in self.vectors))

    def add(self, prompts: Sequence[str], vectors: np.ndarray) -> None:
        self.vectors.update(zip(prompts, vectors.astype(np.float32), strict=True))

    def save(self) -> None:
        self.texts_path.parent.mkdir(parents=True, exist_ok=True)
        texts = list(self.vectors)
        matrix = np.stack([self.vectors[t] for t in texts]) if texts else np.zeros((0, 0), np.float32)
        temp_vectors = self.vectors_path.with_suffix(".tmp.npy")
        np.save(temp_vectors, matrix)
        temp_texts = self.texts_path.with_suffix(".tmp")
        temp_texts.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        temp_vectors.replace(self.vectors_path)
        temp_texts.replace(self.texts_path)  # last: a reader pairs the texts with the matrix only if lengths agree

    def matrix(self, prompts: Sequence[str]) -> np.ndarray:
        return np.stack([self.vectors[p] for p in prompts])


def prompts_of(vocab: Vocabulary) -> list[str]:
    return [p for c in vocab.concepts for p in c.prompt_texts()]


def concepts_for(spec: ModelSpec, model_fp: str, vocab: Vocabulary, *, progress: Progress | None = None,
                 log: Callable[[str], None] = lambda m: None) -> np.ndarray:
    """The concept matrix of ``vocab`` for this model, encoding only the prompts not cached yet.

    A few new prompts (an edited vocabulary) go through the ONNX text tower when the model has one: no
    torch, well under a second. Many (a first run) go through torch in a child process, each shared opening
    computed once (``LocalBrain.embed_prompts``: measured 1.7x faster than encoding every prompt whole, and
    faster than the tower, which cannot share them); the child goes away with torch when they are done.
    """
    from .brains import text_tower

    prompts = prompts_of(vocab)
    cache = PromptCache(model_fp)
    missing = sorted(cache.missing(prompts))  # alphabetical: prompts that open alike go to the same batch
    if not missing:
        return concept_matrix(cache.matrix(prompts), vocab)
    started = time.monotonic()
    whole = len(missing) == len(set(prompts))
    log(f"photobrain: preparing the vocabulary for this model: {len(missing)} "
        f"{'prompts' if whole else 'new prompts'} of {len(vocab)} concepts" + ("; this happens once" if whole else ""))
    if progress:
        progress.start(len(missing))
    tower = text_tower.load_tower(model_fp) if len(missing) <= FEW else None
    try:
        if tower is not None:
            _encode_into(cache, missing, tower.embed_texts, CHUNK, progress, log)
        else:
            from . import torch_child

            with torch_child.pool() as pool:
                _encode_into(cache, missing, lambda part: pool.submit(torch_child.embed_prompts, spec, part).result(),
                             BATCH, progress, log)
    finally:
        if progress:
            progress.done()
        _save(cache, log)
    log(f"photobrain: vocabulary ready in {time.monotonic() - started:.0f} s")
    return concept_matrix(cache.matrix(prompts), vocab)


def _encode_into(cache: PromptCache, prompts: list[str], encode: Callable[[list[str]], np.ndarray], size: int,
                 progress: Progress | None, log: Callable[[str], None]) -> None:
    saved = time.monotonic()
    for start in range(0, len(prompts), size):
        part = prompts[start:start + size]
        cache.add(part, encode(part))
        if progress:
            progress.update(len(part))
        if time.monotonic() - saved > 10 and start + size < len(prompts):
            _save(cache, log)  # keep what is done should the run be stopped
            saved = time.monotonic()


def _save(cache: PromptCache, log: Callable[[str], None]) -> None:
    try:
        cache.save()
    except OSError as exc:
        log(f"photobrain: cannot cache the vocabulary embeddings in {cache.texts_path.parent} ({exc.strerror})")


def ensure_tower(spec: ModelSpec, model_fp: str, log: Callable[[str], None] = lambda m: None) -> bool:
    """Export the model's ONNX text tower if it never was (in a child process); True when one is usable."""
    from .brains import text_tower

    files = text_tower.tower_files(model_fp)
    if not files.meta.exists() and text_tower.onnx_runtime_available():
        from . import torch_child

        log("photobrain: preparing the text tower for search (once for this model)")
        try:
            with torch_child.pool() as pool:
                record = pool.submit(torch_child.export_tower, spec, model_fp).result()
        except (BrokenProcessPool, OSError) as exc:  # the child died (out of memory): search loads torch instead
            record = {"ok": False, "reason": f"the export process ended ({exc})"}
        if not record.get("ok"):
            log(f"photobrain: the fast text tower cannot be used for this model ({record.get('reason')}); "
                "search loads torch instead")
    return files.usable() is not None


def export_tower(brain: LocalBrain, model_fp: str, prompts: Sequence[str] | None = None,
                 log: Callable[[str], None] = lambda m: None) -> dict:
    """Export this model's ONNX text tower, checked against torch on a sample of ``prompts`` (the built-in ones)."""
    from .brains import text_tower
    from .vocab import load_vocabulary

    prompts = list(prompts) if prompts else prompts_of(load_vocabulary())
    return text_tower.export(brain, model_fp, prompts[:: max(1, len(prompts) // EXPORT_CHECK)], log)
