"""The tiny test model loads the way a user's checkpoint does, and is deterministic."""
from __future__ import annotations

import tiny_clip as tc
from conftest import SAMPLES
from PIL import Image


def embed(checkpoint, image_path):
    import open_clip
    import torch

    tc.register(checkpoint.config_path.parent)
    model, _, preprocess = open_clip.create_model_and_transforms(tc.MODEL_NAME, pretrained=str(checkpoint.checkpoint_path))
    model.eval()
    with torch.no_grad(), Image.open(image_path) as im:
        image = model.encode_image(preprocess(im.convert("RGB")).unsqueeze(0))
        text = model.encode_text(open_clip.get_tokenizer(tc.MODEL_NAME)(["a dog", "a lake"]))
    return image, text


def test_checkpoint_loads_through_open_clip_and_is_deterministic(tiny_clip, tmp_path):
    import torch

    image, text = embed(tiny_clip, SAMPLES / "animals/ladybird.jpg")
    assert image.shape == (1, tc.CONFIG["embed_dim"]) and text.shape == (2, tc.CONFIG["embed_dim"])
    again = tc.build(tmp_path)  # same seed, built again: same weights
    image2, text2 = embed(again, SAMPLES / "animals/ladybird.jpg")
    assert torch.equal(image, image2) and torch.equal(text, text2)
    other, _ = embed(tc.build(tmp_path / "other", seed=7), SAMPLES / "animals/ladybird.jpg")
    assert not torch.allclose(image, other)  # the weights really come from the checkpoint
