"""Model weights: which model to use, where its weights are, and fetching them once.

``photobrain models pull`` downloads open_clip weights into the cache and
records them in ``models/manifest.json``; tagging then loads that file and
never goes online. ``--pretrained FILE`` uses a checkpoint the user has.
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .brains.local import ModelError, ModelSpec
from .places import cache_dir

# Chosen on evidence (README, "Choosing the default model"): the best published
# zero-shot quality per CPU-second among the open_clip models measured here.
DEFAULT_ARCHITECTURE = "ViT-B-32-256"
DEFAULT_PRETRAINED = "datacomp_s34b_b86k"
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")


@dataclass(frozen=True)
class CachedModel:
    architecture: str
    pretrained: str
    path: Path
    size: int


def manifest_path() -> Path:
    return cache_dir() / "models" / "manifest.json"


def cached_models() -> list[CachedModel]:
    try:
        entries = json.loads(manifest_path().read_text())
    except (OSError, ValueError):
        return []
    models = [CachedModel(e["architecture"], e["pretrained"], Path(e["path"]), e["size"]) for e in entries]
    return [m for m in models if m.path.is_file()]


def _record(model: CachedModel) -> None:
    entries = [m for m in cached_models() if (m.architecture, m.pretrained) != (model.architecture, model.pretrained)]
    entries.append(model)
    manifest_path().parent.mkdir(parents=True, exist_ok=True)
    data = [{"architecture": m.architecture, "pretrained": m.pretrained, "path": str(m.path), "size": m.size}
            for m in entries]
    temp = manifest_path().with_suffix(".tmp")
    temp.write_text(json.dumps(data, indent=2))
    temp.replace(manifest_path())


def looks_like_file(pretrained: str) -> bool:
    return "/" in pretrained or pretrained.endswith(CHECKPOINT_SUFFIXES) or Path(pretrained).is_file()


def resolve(model: str | None, pretrained: str | None, *, download: bool = True,
            log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> ModelSpec:
    """The model to tag with, its weights on disk. Downloads them first if allowed and needed.

    Raises :class:`ModelError` naming ``photobrain models pull`` and
    ``--pretrained FILE`` when the weights are neither cached nor downloadable.
    """
    architecture = model or DEFAULT_ARCHITECTURE
    short = Path(architecture).stem if architecture.endswith(".json") else architecture
    if pretrained and looks_like_file(pretrained):
        checkpoint = Path(pretrained).expanduser()
        if not checkpoint.is_file():
            raise ModelError(checkpoint, "checkpoint file not found", "check the --pretrained path")
        return ModelSpec(architecture, checkpoint.resolve(), f"clip:{short}/{checkpoint.name}")
    tag = pretrained or (DEFAULT_PRETRAINED if architecture == DEFAULT_ARCHITECTURE else "")
    if not tag:
        raise ModelError(None, f"no pretrained weights named for {architecture}",
                         "add --pretrained TAG (see 'photobrain models list') or --pretrained FILE")
    for cached in cached_models():
        if (cached.architecture, cached.pretrained) == (architecture, tag):
            return ModelSpec(architecture, cached.path, f"clip:{short}/{tag}")
    if not download or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise ModelError(None, f"the weights for {architecture}/{tag} are not downloaded",
                         f"run 'photobrain models pull {architecture} --pretrained {tag}' on a machine with "
                         "internet access, or pass --pretrained FILE with a checkpoint you have")
    cached = pull(architecture, tag, log=log)
    return ModelSpec(architecture, cached.path, f"clip:{short}/{tag}")


def pull(architecture: str, tag: str, *, log: Callable[[str], None]) -> CachedModel:
    """Download open_clip weights into the cache (once) and record them."""
    try:
        import open_clip
        from open_clip.pretrained import download_pretrained

        cfg = open_clip.get_pretrained_cfg(architecture, tag)
        if not cfg:
            raise ModelError(None, f"open_clip knows no pretrained weights {architecture}/{tag}",
                             "see 'photobrain models list --available'")
        source = cfg.get("hf_hub") or cfg.get("url", "")
        size = _remote_size(cfg, architecture, tag)
        size_text = f"{size / 1e6:.0f} MB" if size else "size unknown"
        log(f"photobrain: downloading the weights of {architecture}/{tag} ({size_text}) from {source} "
            f"into {cache_dir() / 'models'}; this happens once")
        try:
            path = Path(download_pretrained(cfg, cache_dir=str(cache_dir() / "models")))
        except Exception as exc:  # network and hub errors come in many types
            raise ModelError(None, f"cannot download the weights of {architecture}/{tag} ({_first_line(exc)})",
                             "connect to the internet and run 'photobrain models pull', or pass --pretrained FILE "
                             "with a checkpoint you have") from exc
    except ImportError as exc:
        raise ModelError(None, f"open_clip is not installed ({exc})", "run scripts/setup.sh") from exc
    cached = CachedModel(architecture, tag, path, path.stat().st_size)
    _record(cached)
    return cached


def _remote_size(cfg: dict, architecture: str, tag: str) -> int | None:
    """Ask the hub for the file's size; fail fast (no retries) when it cannot be reached."""
    if "hf_hub" not in cfg:
        return None
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    model_id, filename = os.path.split(cfg["hf_hub"])
    try:
        return get_hf_file_metadata(hf_hub_url(model_id, filename or "open_clip_pytorch_model.bin")).size
    except Exception as exc:  # connection refused, DNS failure, proxy, timeout, ...
        if "connect" in type(exc).__name__.lower() or "timeout" in type(exc).__name__.lower() or isinstance(exc, OSError):
            raise ModelError(None, f"cannot reach the model hub to download {architecture}/{tag} ({_first_line(exc)})",
                             "connect to the internet and run 'photobrain models pull', or pass --pretrained FILE "
                             "with a checkpoint you have") from exc
        return None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def available() -> list[tuple[str, str]]:
    import open_clip

    return list(open_clip.list_pretrained())

