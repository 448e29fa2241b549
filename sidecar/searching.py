"""Putting a searcher together: the catalog, the model's index, and the model itself only when needed.

``similar`` on a file the catalog knows uses its stored vector: no torch
import, no model load. A text query, or a file the catalog does not know,
loads the model on first need (a resident ``photobrain serve`` keeps it).
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index.catalog import Catalog
from index.search import Searcher
from xmp.errors import PhotobrainError

from . import torch_child
from .models import resolve
from .vocab_embed import ensure_tower, export_tower

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    from .brains.local import LocalBrain
    from .brains.text_tower import TextTower
from .brains.spec import ModelSpec


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
    return open_with_models(settings, threads=threads, log=log)[0]


def open_with_models(settings: SearchSettings, *, threads: int | None = None, resident: bool = False,
                     log: Callable[[str], None] = lambda m: None) -> tuple[Searcher, Models]:
    """:func:`open_searcher`, and the models it embeds with (``resident``: ``photobrain serve``, which never
    imports torch; see :class:`Models`)."""
    from index.store import load_background, update_index
    from index.vectors import single_threaded

    catalog, spec, model_fp, model_id = open_model(settings)
    single_threaded()
    index = update_index(catalog, model_id, model_fp, log=log)  # memory-maps it as it is when up to date
    background = load_background(settings.catalog, model_fp)
    if index is None or background is None:
        catalog.close()
        raise PhotobrainError(settings.catalog, "the search index is missing", "run 'photobrain index rebuild'")
    models = Models(spec, model_fp, threads=threads, resident=resident, log=log)
    searcher = Searcher(catalog, model_id, index, background, model_label=spec.label,
                        embed_text=models.embed_text, embed_image=models.embed_image)
    return searcher, models


IMAGE_IDLE_SECONDS = 60.0  # a resident service ends its image process after this long without an unknown file


class Models:
    """The model parts a query needs, loaded on first need; in a resident service, given back when idle.

    Text queries run on the model's ONNX text tower (``brains.text_tower``: no torch, about 10 ms and a
    few hundred MB less) where it has one; a model without one uses torch. An image the catalog does not
    know needs the image tower, which only torch has: a one-shot command loads it in-process; a resident
    service runs it in a child process that ends after ``IMAGE_IDLE_SECONDS`` without use, so torch never
    stays in the service's memory. ``release_idle`` drops the text tower after ``idle_unload`` seconds
    without a query (it comes back in well under a second).
    """

    def __init__(self, spec: ModelSpec, model_fp: str, *, threads: int | None = None, resident: bool = False,
                 log: Callable[[str], None] = lambda m: None):
        import threading

        self.spec, self.model_fp, self.threads, self.resident, self.log = spec, model_fp, threads, resident, log
        self.brain: LocalBrain | None = None
        self.tower: TextTower | None = None
        self._images: ProcessPoolExecutor | None = None  # the resident service's image process
        self._lock = threading.Lock()
        self.last_text = self.last_image = 0.0

    # -- text --------------------------------------------------------------------------------------

    def embed_text(self, query: str) -> np.ndarray:
        import time

        with self._lock:
            self.last_text = time.monotonic()
            tower = self._tower()
            if tower is not None:
                return tower.embed_text(query)
            return self._brain().embed_texts([query])[0]

    def _tower(self) -> TextTower | None:
        if self.tower is None:
            from .brains import text_tower

            self.tower = text_tower.load_tower(self.model_fp, threads=self.threads)
            if self.tower is None and not text_tower.tower_files(self.model_fp).meta.exists():
                self._export_tower()
                self.tower = text_tower.load_tower(self.model_fp, threads=self.threads)
        return self.tower

    def _export_tower(self) -> None:
        """Make the model's text tower once: in a child process for a resident service (torch stays out of it),
        here where torch is loaded anyway to answer this query."""
        if self.resident:
            ensure_tower(self.spec, self.model_fp, log=self.log)
        else:
            self.log("photobrain: preparing the text tower for search (once for this model)")
            export_tower(self._brain(), self.model_fp)

    # -- images ------------------------------------------------------------------------------------

    def embed_image(self, path: Path, data: bytes | None = None) -> np.ndarray:
        """The embedding of the photo at ``path`` (``data``: its bytes when already read, else read here)."""
        import time

        from .decode import read_image

        if data is None:
            data, _ = read_image(Path(path))  # a regular file, within the bounds a tag run keeps (never a FIFO)
        with self._lock:
            self.last_image = time.monotonic()
            if not self.resident:
                return torch_child.embed_image_with(self._brain(), Path(path), data)
            images = self._images = self._images or torch_child.pool()
            try:
                return images.submit(torch_child.embed_image, self.spec, str(path), data).result()
            except BrokenProcessPool:  # its decoder crashed on this file (or memory ran out): a new one next time
                self._images = None
                raise PhotobrainError(path, "the image could not be decoded (the decoder crashed on it)",
                                      "check the file in an image viewer") from None

    def _brain(self) -> LocalBrain:
        if self.brain is None:
            from .brains.local import LocalBrain

            self.brain = LocalBrain(self.spec, threads=self.threads)
        return self.brain

    # -- giving memory back ------------------------------------------------------------------------

    def release_idle(self, idle_unload: float | None, now: float | None = None) -> list[str]:
        """Give back what has not been used for a while; returns what was released (for the log)."""
        import time

        now = time.monotonic() if now is None else now
        released = []
        with self._lock:
            image_idle = min(IMAGE_IDLE_SECONDS, idle_unload) if idle_unload is not None else IMAGE_IDLE_SECONDS
            if self._images is not None and now - self.last_image >= image_idle:
                self._images.shutdown(wait=True)
                self._images = None
                released.append("image model")
            if idle_unload is not None and now - self.last_text >= idle_unload and (self.tower or self.brain):
                self.tower = self.brain = None
                released.append("text model")
        if released:
            give_back_memory()
        return released

    def close(self) -> None:
        with self._lock:
            if self._images is not None:
                self._images.shutdown(wait=False, cancel_futures=True)
                self._images = None


def give_back_memory() -> None:
    """Collect garbage and return freed heap pages to the system (glibc keeps them otherwise)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


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
