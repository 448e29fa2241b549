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

from .brains.spec import ModelError, ModelSpec
from .places import cache_dir
from .progress import Progress

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
            log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
            progress: Progress | None = None) -> ModelSpec:
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
    cached = pull(architecture, tag, log=log, progress=progress)
    return ModelSpec(architecture, cached.path, f"clip:{short}/{tag}")


def hub_endpoint() -> str:
    """Where open_clip's weights come from: the Hugging Face hub (``HF_ENDPOINT`` names a mirror)."""
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def check_reachable(url: str, architecture: str, tag: str, timeout: float = 1.5) -> None:
    """Fail in about a second, before torch is imported, when the weights' host cannot be reached at all."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        reason = "no network" if isinstance(exc, socket.gaierror) else (exc.strerror or type(exc).__name__)
        raise ModelError(None, f"cannot reach {host} to download the weights of {architecture}/{tag} ({reason})",
                         "connect to the internet and run 'photobrain models pull', or pass --pretrained FILE "
                         "with a checkpoint you have (HF_ENDPOINT names a mirror of the hub)") from exc


def pull(architecture: str, tag: str, *, log: Callable[[str], None], progress: Progress | None = None) -> CachedModel:
    """Download open_clip weights into the cache (once), with a progress line naming the source, and record them."""
    checked = {_host(hub_endpoint())}
    check_reachable(hub_endpoint(), architecture, tag)  # before torch: offline fails in about a second
    try:
        import open_clip
    except ImportError as exc:
        raise ModelError(None, f"open_clip is not installed ({exc})", "run scripts/setup.sh") from exc
    cfg = open_clip.get_pretrained_cfg(architecture, tag)
    if not cfg:
        raise ModelError(None, f"open_clip knows no pretrained weights {architecture}/{tag}",
                         "see 'photobrain models list --available'")
    folder = cache_dir() / "models" / f"{architecture}-{tag}".replace("/", "_")
    path = None
    for url in _candidate_urls(cfg):
        if _host(url) not in checked:  # weights elsewhere than on the hub (an open_clip 'url' entry)
            check_reachable(url, architecture, tag)
            checked.add(_host(url))
        path = _download(url, folder, architecture, tag, log, progress)
        if path is not None:
            break
    if path is None:
        raise ModelError(None, f"the weights of {architecture}/{tag} are not on {hub_endpoint()}",
                         "check HF_ENDPOINT, or pass --pretrained FILE with a checkpoint you have")
    cached = CachedModel(architecture, tag, path, path.stat().st_size)
    _record(cached)
    return cached


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc


def _candidate_urls(cfg: dict) -> list[str]:
    """The files open_clip would fetch for ``cfg``, in its order: safetensors first, then the PyTorch file."""
    if cfg.get("hf_hub"):
        model_id, filename = os.path.split(cfg["hf_hub"])
        filename = filename or "open_clip_pytorch_model.bin"
        names = [filename]
        if filename.endswith((".bin", ".pth", ".pt")):
            names.insert(0, "open_clip_model.safetensors" if filename == "open_clip_pytorch_model.bin"
                         else filename.rsplit(".", 1)[0] + ".safetensors")
        return [f"{hub_endpoint()}/{model_id}/resolve/main/{name}" for name in names]
    return [cfg["url"]] if cfg.get("url") else []


def _download(url: str, folder: Path, architecture: str, tag: str, log: Callable[[str], None],
              progress: Progress | None) -> Path | None:
    """Stream ``url`` into ``folder`` (a ``.part`` file renamed at the end); None when the server has no such file."""
    import urllib.error
    import urllib.request

    name = url.rsplit("/", 1)[-1].split("?", 1)[0] or "weights.bin"
    request = urllib.request.Request(url, headers={"User-Agent": "photobrain"})
    try:
        response = urllib.request.urlopen(request, timeout=30)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403, 404):
            return None
        raise ModelError(None, f"cannot download the weights of {architecture}/{tag} from {url} (HTTP {exc.code})",
                         "try again later, or pass --pretrained FILE with a checkpoint you have") from exc
    except (OSError, ValueError) as exc:
        raise ModelError(None, f"cannot download the weights of {architecture}/{tag} from {url} ({_first_line(exc)})",
                         "connect to the internet and run 'photobrain models pull', or pass --pretrained FILE "
                         "with a checkpoint you have") from exc
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    part = folder / (name + ".part")
    with response:
        size = int(response.headers.get("Content-Length") or 0)
        log(f"photobrain: downloading the weights of {architecture}/{tag} ({f'{size / 1e6:.0f} MB' if size else 'size unknown'})"
            f" from {url} into {folder}; this happens once")
        if progress:
            progress.start(max(1, round(size / 1e6)))
        done = 0
        try:
            with open(part, "wb") as out:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    done += len(chunk)
                    if progress and size:
                        progress.update(round(done / 1e6) - progress.done_count)
        except (OSError, ValueError) as exc:
            part.unlink(missing_ok=True)
            raise ModelError(None, f"the download of {architecture}/{tag} from {url} broke off after "
                             f"{done / 1e6:.0f} MB ({_first_line(exc)})",
                             "run 'photobrain models pull' again") from exc
        finally:
            if progress:
                progress.done()
    if size and done != size:
        part.unlink(missing_ok=True)
        raise ModelError(None, f"the download of {architecture}/{tag} from {url} ended after {done} of {size} bytes",
                         "run 'photobrain models pull' again")
    part.replace(target)
    return target


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def available() -> list[tuple[str, str]]:
    import open_clip

    return list(open_clip.list_pretrained())

