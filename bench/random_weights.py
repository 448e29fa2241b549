"""A checkpoint of seeded random weights for a real open_clip architecture: what every bench measures with.

Real CLIP weights cannot be downloaded where the benches run; compute and memory of an architecture are the
same with random weights, so the figures are real (only the tags are meaningless).
"""
from __future__ import annotations

from pathlib import Path


def random_checkpoint(folder: Path, architecture: str = "ViT-B-32-256", seed: int = 0) -> Path:
    import open_clip
    import torch

    torch.manual_seed(seed)
    checkpoint = folder / f"{architecture}-random.pt"
    torch.save(open_clip.create_model(architecture, pretrained=None).state_dict(), checkpoint)
    return checkpoint
