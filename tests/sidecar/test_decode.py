"""Decoding for the model: reduced size, upright, every mode turned into sensible RGB."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES, sample_files
from PIL import Image

from sidecar.decode import ImageTooLargeError, decode
from xmp import CorruptImageError


@pytest.mark.parametrize("sample", sample_files(), ids=lambda p: p.relative_to(SAMPLES).as_posix())
def test_every_sample_decodes_to_rgb_at_least_the_model_size(sample: Path):
    decoded = decode(sample, sample.read_bytes(), min_side=224)
    assert decoded.image.mode == "RGB"
    assert min(decoded.image.size) >= min(224, decoded.width, decoded.height)
    assert np.asarray(decoded.image).std() > 5  # a real picture, not a blank


def test_jpeg_is_decoded_at_reduced_size_with_the_same_look():
    sample = SAMPLES / "landscapes/autumn valley.jpg"
    fast = decode(sample, sample.read_bytes(), min_side=224).image
    with Image.open(sample) as full:
        reference = full.convert("RGB").resize(fast.size, Image.Resampling.BOX)
    assert fast.size == (400, 267)  # 1/2 scale of 800x533: both sides still >= 224
    difference = np.abs(np.asarray(fast, dtype=float) - np.asarray(reference, dtype=float)).mean()
    assert difference < 4


def test_exif_orientation_is_applied():
    decoded = decode(SAMPLES / "animals/dogs at the window.jpg",
                     (SAMPLES / "animals/dogs at the window.jpg").read_bytes())
    assert decoded.image.height > decoded.image.width  # stored sideways, shown upright
    assert (decoded.width, decoded.height) == (533, 800)


def test_sixteen_bit_is_scaled_not_clipped():
    sample = SAMPLES / "landscapes/foggy pier.png"
    with Image.open(sample) as im:
        assert im.mode == "I;16"
    pixels = np.asarray(decode(sample, sample.read_bytes()).image)
    assert 40 < pixels.mean() < 200  # Pillow's own conversion would give a white image


def test_cmyk_becomes_natural_rgb():
    sample = SAMPLES / "animals/nuthatch.jpg"
    pixels = np.asarray(decode(sample, sample.read_bytes()).image, dtype=float)
    assert pixels[..., 2].mean() > pixels[..., 0].mean() - 40  # not the inverted colours of a naive conversion
    assert 60 < pixels.mean() < 220


def test_transparency_becomes_white():
    image = Image.new("RGBA", (300, 300), (255, 0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    pixels = np.asarray(decode(Path("clear.png"), buffer.getvalue()).image)
    assert (pixels == 255).all()


def test_raw_files_use_their_embedded_preview(tmp_path: Path):
    preview = (SAMPLES / "food/fig.jpg").read_bytes()
    thumbnail = (SAMPLES / "documents/scanned page.png").read_bytes()
    raw = b"II*\x00" + bytes(500) + b"\xff\xd8\xff junk" + preview + bytes(100) + thumbnail
    decoded = decode(Path("IMG_0001.CR2"), raw)
    assert (decoded.width, decoded.height) == (800, 541)
    with pytest.raises(CorruptImageError) as err:
        decode(Path("IMG_0002.NEF"), b"II*\x00" + bytes(1000))
    assert "IMG_0002.NEF" in str(err.value) and "preview" in err.value.reason


def test_decompression_bombs_are_refused_with_the_option_that_lifts_them():
    buffer = io.BytesIO()
    Image.new("L", (12000, 10000)).save(buffer, "PNG")
    with pytest.raises(ImageTooLargeError) as err:
        decode(Path("huge.png"), buffer.getvalue(), max_megapixels=100)
    assert "120 megapixels" in err.value.reason and "--max-megapixels" in err.value.hint
    assert decode(Path("huge.png"), buffer.getvalue(), max_megapixels=200).width == 12000


def test_truncated_and_non_images_are_clear_errors():
    data = (SAMPLES / "people/astronaut.png").read_bytes()
    with pytest.raises(CorruptImageError) as err:
        decode(Path("astronaut.png"), data[: len(data) // 3])
    assert "astronaut.png" in str(err.value)
    with pytest.raises(CorruptImageError):
        decode(Path("notes.jpg"), b"hello")
