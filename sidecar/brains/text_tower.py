"""The text tower on ONNX Runtime: text queries without torch, in a fraction of the memory and time.

A resident service (and ``search``) only needs the model's text tower. On
torch that means a 500 MB import and about 35 ms a query on this kind of CPU,
weight-bound at batch size one. :func:`export` (run once per model, where
torch is loaded anyway: ``models pull``, the vocabulary preparation of the
first ``tag``) writes the tower as a float32 ONNX graph, checked against
torch on the vocabulary's prompts (cosine >= ``FLOAT_MIN_COSINE``), with the
token-embedding table beside it as a ``.npy`` file that is memory-mapped: a
query touches a few rows of it, not 100 MB. (An int8 tower, ONNX Runtime's
dynamic quantisation, was measured and rejected: per tensor its embeddings
fell to a cosine of 0.9985 with torch's on the default architecture; per
channel to 0.9991, answering in 3.8 ms rather than 9, but the exact top-10
over 100,000 clustered vectors stayed the same for only 101 of 200 queries,
against 200 of 200 in float32.)
:class:`TextTower` runs it with ONNX Runtime and the torch-free CLIP
tokenizer; it needs neither torch nor open_clip.

The export is used only if it was checked against torch when it was made
(``meta.json`` records the figures); otherwise callers fall back to torch.
"""
from __future__ import annotations

import json
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..places import cache_dir

if TYPE_CHECKING:
    from .local import LocalBrain

FORMAT = 1
FLOAT_MIN_COSINE = 0.99999  # the same computation as torch's: anything less is a broken export
QUERY_CACHE = 256           # recent queries kept (a launcher asks the same prefixes again and again)


@dataclass(frozen=True)
class TowerFiles:
    folder: Path

    @property
    def graph(self) -> Path:
        return self.folder / "text.onnx"

    @property
    def table(self) -> Path:
        return self.folder / "token_embedding.npy"

    @property
    def meta(self) -> Path:
        return self.folder / "meta.json"

    def usable(self) -> dict | None:
        """The export's record when it is complete and passed its check, else None."""
        try:
            meta = json.loads(self.meta.read_text())
        except (OSError, ValueError):
            return None
        if meta.get("format") != FORMAT or not meta.get("ok") or not self.graph.is_file() or not self.table.is_file():
            return None
        return meta


def tower_files(model_fp: str) -> TowerFiles:
    return TowerFiles(cache_dir() / "text" / f"{model_fp}-tower{FORMAT}")


def onnx_runtime_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


class TextTower:
    """Text embeddings (L2-normalised float32) from an exported tower. Thread-safe for one caller at a time."""

    def __init__(self, files: TowerFiles, meta: dict, *, threads: int | None = None, graph: Path | None = None):
        from .clip_tokens import ClipTokenizer

        self.session = _session(graph or files.graph, threads or min(os.cpu_count() or 1, 4))
        self.table = np.load(files.table, mmap_mode="r")
        self.tokenizer = ClipTokenizer(Path(meta["bpe"]), meta["context_length"])
        self.meta = meta
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()

    def embed_text(self, text: str) -> np.ndarray:
        cached = self._recent.get(text)
        if cached is None:
            cached = self.embed_texts([text])[0]
            self._recent[text] = cached
            if len(self._recent) > QUERY_CACHE:
                self._recent.popitem(last=False)
        else:
            self._recent.move_to_end(text)
        return cached

    def embed_texts(self, texts: Sequence[str], batch_size: int = 64,
                    progress: Callable[[int], None] | None = None) -> np.ndarray:
        tokens = [self.tokenizer.encode(t) for t in texts]
        return _normalise(run_batches(tokens, self._run, batch_size, progress))

    def _run(self, batch: list[list[int]]) -> np.ndarray:
        length = max(len(t) for t in batch)
        ids = np.zeros((len(batch), length), dtype=np.int64)
        for row, t in enumerate(batch):
            ids[row, :len(t)] = t
        x = np.asarray(self.table[ids], dtype=np.float32)  # a few rows of the memory-mapped table
        eot = np.array([len(t) - 1 for t in batch], dtype=np.int64)
        return self.session.run(None, {"x": x, "eot": eot})[0]


def run_batches(tokens: list[list[int]], run: Callable[[list[list[int]]], np.ndarray], batch_size: int,
                progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Encode token lists in batches of similar length (padding is dead work); rows come back in input order."""
    order = sorted(range(len(tokens)), key=lambda i: (len(tokens[i]), tokens[i]))
    out: np.ndarray | None = None
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        vectors = np.asarray(run([tokens[i] for i in idx]), dtype=np.float32)
        if out is None:
            out = np.zeros((len(tokens), vectors.shape[1]), dtype=np.float32)
        out[idx] = vectors
        if progress:
            progress(len(idx))
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def load_tower(model_fp: str, *, threads: int | None = None) -> TextTower | None:
    """The exported text tower of this model, or None (not exported, failed its check, or no ONNX Runtime)."""
    files = tower_files(model_fp)
    meta = files.usable()
    if meta is None or not onnx_runtime_available():
        return None
    try:
        return TextTower(files, meta, threads=threads)
    except Exception:  # a damaged or foreign file: torch does the work instead  # noqa: BLE001
        return None


# -- export (needs torch and open_clip) -------------------------------------------------------------------


def export(brain: LocalBrain, model_fp: str, prompts: Sequence[str],
           log: Callable[[str], None] = lambda m: None) -> dict:
    """Write and check this model's ONNX text tower; returns its record (``ok`` False: not usable, torch it is)."""
    files = tower_files(model_fp)
    files.folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    record: dict = {"format": FORMAT, "ok": False, "model": brain.spec.label}
    try:
        record.update(_export(brain, files, list(prompts)))
    except Exception as exc:  # an architecture the wrapper does not know, an exporter limit, no onnxruntime  # noqa: BLE001
        record["reason"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''}"
    record["seconds"] = round(time.monotonic() - started, 1)
    temp = files.meta.with_suffix(".tmp")
    temp.write_text(json.dumps(record, indent=2))
    temp.replace(files.meta)
    if not record["ok"]:
        log(f"photobrain: the fast text tower cannot be used for this model ({record.get('reason')}); torch is used")
    return record


def _export(brain: LocalBrain, files: TowerFiles, prompts: list[str]) -> dict:
    import onnxruntime  # noqa: F401  (fail before the work when it is missing)
    import open_clip.tokenizer
    import torch

    from .clip_tokens import ClipTokenizer

    model = brain.model
    if not isinstance(brain.tokenizer, open_clip.tokenizer.SimpleTokenizer):
        raise ValueError("the model's tokenizer is not CLIP's")
    bpe = open_clip.tokenizer.default_bpe()
    ours = ClipTokenizer(Path(bpe), brain.tokenizer.context_length)
    theirs = brain.tokenizer(prompts)
    for text, row in zip(prompts, theirs, strict=True):
        mine = ours.encode(text)
        if row[:len(mine)].tolist() != mine or bool((row[len(mine):] != 0).any()):
            raise ValueError(f"tokenizer disagrees with open_clip on {text!r}")
    table = model.token_embedding.weight.detach().float().numpy()
    np.save(files.table.with_suffix(".tmp.npy"), table)
    files.table.with_suffix(".tmp.npy").replace(files.table)

    wrapper = _Tower(model).eval()
    for parameter in wrapper.parameters():
        parameter.requires_grad_(False)
    sample = [ours.encode(p) for p in prompts[:2]] or [[ours.sot, ours.eot]]
    length = max(len(t) for t in sample)
    ids = torch.zeros((len(sample), length), dtype=torch.long)
    for row, t in enumerate(sample):
        ids[row, :len(t)] = torch.tensor(t)
    x = model.token_embedding(ids).float()
    eot = torch.tensor([len(t) - 1 for t in sample])
    float_path = files.folder / "text-float32.onnx"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, (x, eot), str(float_path), dynamo=False, input_names=["x", "eot"],
                          output_names=["features"], opset_version=17,
                          dynamic_axes={"x": {0: "batch", 1: "length"}, "eot": {0: "batch"}, "features": {0: "batch"}})
    reference = brain.embed_texts(prompts)  # torch, the tower's source
    tokens = [ours.encode(p) for p in prompts]
    tower = TextTower(files, {"bpe": bpe, "context_length": ours.context_length}, graph=float_path)
    cosine = float((_normalise(run_batches(tokens, tower._run, 64)) * reference).sum(axis=1).min())
    if cosine < FLOAT_MIN_COSINE:
        raise ValueError(f"the exported tower does not match torch (min cosine {cosine:.6f})")
    float_path.replace(files.graph)
    return {"ok": True, "weights": "float32", "min_cosine": cosine, "checked_prompts": len(prompts), "bpe": bpe,
            "context_length": ours.context_length}


def _session(path: Path, threads: int | None = None):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or min(os.cpu_count() or 1, 4)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # a resident service: no arena holding on to a query's peak (measured 16 MB less, no slower). Weight
    # prepacking stays: without it the tower holds 65 MB less and answers 3x slower (31 ms against 10 ms)
    options.enable_cpu_mem_arena = False
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _tower_module():
    import torch

    from .local import block_qkv, block_rest

    class Tower(torch.nn.Module):
        """open_clip's text transformer from token embeddings on, written out so that it exports with dynamic shapes."""

        def __init__(self, model):
            super().__init__()
            self.positional_embedding = model.positional_embedding
            self.register_buffer("attn_mask", model.attn_mask.float(), persistent=False)
            self.blocks = model.transformer.resblocks
            self.ln_final = model.ln_final
            projection = model.text_projection
            self.projection = projection if isinstance(projection, torch.nn.Linear) else None
            if self.projection is None:
                self.projection_matrix = projection
            if getattr(model, "text_pool_type", "argmax") != "argmax":
                raise ValueError(f"text pooling {model.text_pool_type!r} is not supported")

        def forward(self, x, eot):
            length = x.shape[1]
            x = x + self.positional_embedding[:length]
            mask = self.attn_mask[:length, :length]
            for block in self.blocks:
                if not isinstance(block.attn, torch.nn.MultiheadAttention):
                    raise ValueError("not a standard attention block")
                q, k, v = block_qkv(block, x)
                weights = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5) + mask  # written out: it exports
                x = block_rest(block, x, weights.softmax(-1) @ v)
            x = self.ln_final(x)
            x = x[torch.arange(x.shape[0]), eot]
            return self.projection(x) if self.projection is not None else x @ self.projection_matrix

    return Tower


def _Tower(model):
    return _tower_module()(model)
