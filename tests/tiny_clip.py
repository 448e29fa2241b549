"""A tiny open_clip architecture with seeded random weights, saved as a checkpoint.

Real CLIP weights cannot be downloaded where the tests run. The model here is
a registered open_clip config (a real ViT + text transformer, just small)
whose weights come from a fixed seed; it is saved with ``torch.save`` and
loaded back through ``open_clip.create_model_and_transforms(name,
pretrained=FILE)``, the path a user's downloaded checkpoint takes. Embeddings
are meaningless but deterministic, which is what pipeline tests need.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

MODEL_NAME = "photobrain-tiny-test"
CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


@dataclass(frozen=True)
class TinyClip:
    name: str
    config_path: Path
    checkpoint_path: Path


def register(config_dir: Path) -> Path:
    """Write the model config and register it with open_clip (idempotent)."""
    import open_clip

    config_dir.mkdir(parents=True, exist_ok=True)
    config_path = config_dir / f"{MODEL_NAME}.json"
    config_path.write_text(json.dumps(CONFIG, indent=2))
    open_clip.add_model_config(config_path)
    return config_path


def build(directory: Path, seed: int = 1234) -> TinyClip:
    """Create the config and a checkpoint of seeded random weights in ``directory``."""
    import open_clip
    import torch

    config_path = register(directory)
    torch.manual_seed(seed)
    model = open_clip.create_model(MODEL_NAME, pretrained=None)
    checkpoint = directory / f"{MODEL_NAME}-seed{seed}.pt"
    torch.save({"state_dict": model.state_dict()}, checkpoint)
    return TinyClip(MODEL_NAME, config_path, checkpoint)
