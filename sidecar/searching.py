"""Putting a searcher together: the catalog, the model's index, and the model itself only when needed.

``similar`` on a file the catalog knows uses its stored vector: no torch
import, no model load. A text query, or a file the catalog does not know,
loads the model on first need (a resident ``photobrain serve`` keeps it).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index.catalog import Catalog
from index.search import Searcher
from xmp.errors import PhotobrainError

from .models import resolve

if TYPE_CHECKING:
    from .brains.local import LocalBrain
from .brains.local import ModelSpec


@dataclass(frozen=True)
class SearchSettings:
    catalog: Path
    model: str | None = None
    pretrained: str | None = None


def open_model(settings: SearchSettings) -> tuple[Catalog, ModelSpec, str, int]:
    """The catalog (opened to read) and the model its photos were tagged with: (catalog, spec, fingerprint, id).

    Needs no torch: the weights file is only fingerprinted.
    """
    catalog = Catalog.open_existing(settings.catalog)
    try:
        spec = resolve(settings.model, settings.pretrained, download=False)
        model_fp = spec.fingerprint()
        model_id = catalog.find_model(model_fp)
        if model_id is None:
            raise PhotobrainError(settings.catalog, f"no photo in this catalog has been tagged with {spec.label}",
                                  "run 'photobrain tag' with this model, or pass the --model/--pretrained you tagged with")
    except BaseException:
        catalog.close()
        raise
    return catalog, spec, model_fp, model_id


def open_searcher(settings: SearchSettings, *, threads: int | None = None,
                  log: Callable[[str], None] = lambda m: None) -> Searcher:
    """A searcher over ``settings.catalog`` for the configured model (updating its index if the catalog moved on)."""
    from index.store import load_background, update_index
    from index.vectors import single_threaded

    catalog, spec, model_fp, model_id = open_model(settings)
    single_threaded()
    index = update_index(catalog, model_id, model_fp, log=log)  # memory-maps it as it is when up to date
    background = load_background(settings.catalog, model_fp)
    if index is None or background is None:
        catalog.close()
        raise PhotobrainError(settings.catalog, "the search index is missing", "run 'photobrain index rebuild'")
    model = _LazyModel(spec, threads)
    return Searcher(catalog, model_id, index, background, model_label=spec.label,
                    embed_text=model.embed_text, embed_image=model.embed_image)


class _LazyModel:
    """The open_clip model, loaded on the first text query or unknown file."""

    def __init__(self, spec: ModelSpec, threads: int | None):
        self.spec, self.threads = spec, threads
        self.brain: LocalBrain | None = None

    def _brain(self) -> LocalBrain:
        if self.brain is None:
            from .brains.local import LocalBrain

            self.brain = LocalBrain(self.spec, threads=self.threads)
        return self.brain

    def embed_text(self, query: str) -> np.ndarray:
        return self._brain().embed_texts([query])[0]

    def embed_image(self, path: Path, data: bytes | None = None) -> np.ndarray:
        """The embedding of the photo at ``path`` (``data``: its bytes when already read, else read here)."""
        from .decode import decode, read_image

        if data is None:
            data, _ = read_image(Path(path))  # a regular file, within the bounds a tag run keeps (never a FIFO)
        brain = self._brain()
        image = decode(Path(path), data, min_side=brain.input_size).image
        return brain.embed_images([image])[0]


def open_file(path: str) -> None:
    """Show a result in the desktop's default viewer."""
    import shutil
    import subprocess
    import sys

    if sys.platform == "darwin":
        command = ["open", path]
    elif os.name == "nt":
        os.startfile(path)  # type: ignore[attr-defined]
        return
    else:
        opener = shutil.which("xdg-open")
        if opener is None:
            raise PhotobrainError(path, "no program to open files with (xdg-open is missing)",
                                  "install xdg-utils, or leave out --open")
        command = [opener, path]
    subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def index_refresher(searcher: Searcher) -> Callable[[], None]:
    """A function that reloads ``searcher``'s index when a ``tag`` run (or a rebuild) replaced it on disk.

    A resident service calls it before each request, so photos tagged while it runs are found.
    """
    from index.store import files_for, load_background
    from index.vectors import VectorIndex

    catalog_path = searcher.catalog.path
    (model_fp,) = searcher.catalog.db.execute("SELECT fingerprint FROM models WHERE id = ?",
                                              (searcher.model_id,)).fetchone()
    files = files_for(catalog_path, model_fp)

    def stamp() -> int | None:
        try:
            return files.state.stat().st_mtime_ns
        except OSError:
            return None

    seen = [stamp()]

    def refresh() -> None:
        now = stamp()
        if now is None or now == seen[0]:
            return
        background = load_background(catalog_path, model_fp)
        searcher.index = VectorIndex.load(files.index)
        if background is not None:
            searcher.background = background
        seen[0] = now

    return refresh
