"""Work that needs torch, done in a spawned child process, so that the caller never holds torch.

``photobrain serve`` embeds a photo the catalog does not know here, and the first ``tag`` of a model
exports its text tower here: torch and the model (about 1.3 GB with the default one) go away with the
child, and the service and tag's main process stay light.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .brains.spec import ModelSpec

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    from .brains.local import LocalBrain


def pool() -> ProcessPoolExecutor:
    """A pool of one spawned process (never a fork of a process that holds sqlite connections or threads)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))


_BRAINS: dict[ModelSpec, LocalBrain] = {}


def _brain(spec: ModelSpec) -> LocalBrain:
    if spec not in _BRAINS:
        from .brains.local import LocalBrain

        _BRAINS.clear()
        _BRAINS[spec] = LocalBrain(spec)
    return _BRAINS[spec]


def embed_image(spec: ModelSpec, path: str, data: bytes) -> np.ndarray:
    """(In the child.) The embedding of the photo ``data`` read from ``path``."""
    return embed_image_with(_brain(spec), Path(path), data)


def embed_image_with(brain: LocalBrain, path: Path, data: bytes) -> np.ndarray:
    from .decode import decode

    image = decode(path, data, min_side=brain.input_size).image
    return brain.embed_images([image])[0]


def embed_prompts(spec: ModelSpec, prompts: list[str]) -> np.ndarray:
    """(In the child.) Text embeddings of vocabulary prompts, shared openings computed once."""
    return _brain(spec).embed_prompts(prompts)


def export_tower(spec: ModelSpec, model_fp: str, prompts: list[str] | None = None) -> dict:
    """(In the child.) Export and check the model's ONNX text tower; its record."""
    from .vocab_embed import export_tower as export

    return export(_brain(spec), model_fp, prompts)
