"""What names a model: its architecture and weights file (no torch, no numpy: commands that only name one stay light)."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from xmp.errors import PhotobrainError


class ModelError(PhotobrainError):
    """A model that cannot be loaded; the hint names the command or flag that fixes it."""


@dataclass(frozen=True)
class ModelSpec:
    """An open_clip architecture (a name, or a model config JSON file) and its weights (a checkpoint file)."""

    architecture: str
    checkpoint: Path
    label: str  # provenance, e.g. "clip:ViT-B-32-256/datacomp_s34b_b86k"

    def fingerprint(self) -> str:
        """Identifies these weights: the catalog keys embeddings by it."""
        st = self.checkpoint.stat()
        digest = hashlib.sha256(f"{self.architecture}\0{st.st_size}\0".encode())
        with open(self.checkpoint, "rb") as fh:
            digest.update(fh.read(1 << 20))
            if st.st_size > 2 << 20:
                fh.seek(-(1 << 20), os.SEEK_END)
                digest.update(fh.read())
        return digest.hexdigest()[:16]
