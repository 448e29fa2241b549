#!/usr/bin/env python3
"""CPU cost of candidate open_clip architectures on this machine.

Weights are random (none can be downloaded here), which does not change the
compute cost. Prints, per model: image-encoder ms per image (batch 16, at
the model's input size) on all threads and on one, text-encoder ms per
prompt, and parameter count. Quality figures come from open_clip's published
zero-shot results and are quoted in the README next to these.

    .venv/bin/python bench/bench_models.py [MODEL ...]
"""
from __future__ import annotations

import sys
import time

CANDIDATES = ["ViT-B-32", "ViT-B-32-256", "MobileCLIP-S1", "MobileCLIP-S2", "MobileCLIP2-S2", "ViT-B-16", "MobileCLIP-B"]


def timed(fn, repeat: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main(models: list[str]) -> None:
    import open_clip
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads available")
    print(f"{'model':<16} {'input':>5} {'img ms (all)':>13} {'img ms (1 thr)':>15} {'text ms':>8} {'params M':>9}")
    all_threads = torch.get_num_threads()
    for name in models:
        model = open_clip.create_model(name, pretrained=None).eval()
        size = model.visual.image_size if hasattr(model.visual, "image_size") else 224
        size = size[0] if isinstance(size, (tuple, list)) else size
        images = torch.randn(16, 3, size, size)
        tokens = open_clip.get_tokenizer(name)(["a photo of a red bicycle against a sunset"] * 16)
        with torch.inference_mode():
            torch.set_num_threads(all_threads)
            img_all = timed(lambda m=model, x=images: m.encode_image(x), 3) / 16
            torch.set_num_threads(1)
            img_one = timed(lambda m=model, x=images: m.encode_image(x), 2) / 16
            torch.set_num_threads(all_threads)
            txt = timed(lambda m=model, t=tokens: m.encode_text(t), 3) / 16
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"{name:<16} {size:>5} {img_all * 1000:>13.1f} {img_one * 1000:>15.1f} {txt * 1000:>8.1f} {params:>9.0f}",
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or CANDIDATES)
