"""The content hash follows the image data, not the metadata around it."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import SAMPLES, sample_files

from xmp import CorruptImageError, content_hash


@pytest.mark.parametrize("sample", sample_files(), ids=lambda p: p.relative_to(SAMPLES).as_posix())
def test_hash_survives_metadata_edits_by_other_tools(tmp_path: Path, sample: Path):
    target = tmp_path / sample.name
    shutil.copy2(sample, target)
    before = content_hash(target)
    args = ["-XMP-dc:Subject+=edited elsewhere", "-EXIF:Artist=someone", "-XMP-xmp:Rating=3"]
    if target.suffix.lower() in (".jpg", ".tif"):
        args.append("-IPTC:Keywords+=iim")
    subprocess.run(["exiftool", "-q", "-q", "-overwrite_original", *args, str(target)], check=True)
    assert target.read_bytes() != sample.read_bytes()  # the file really changed...
    assert content_hash(target) == before  # ...its image data did not


def test_different_images_hash_differently():
    hashes = {content_hash(p) for p in sample_files()}
    assert len(hashes) == len(sample_files())


def test_jpeg_previews_appended_after_the_image_are_not_part_of_it(tmp_path: Path):
    sample = SAMPLES / "animals/ladybird.jpg"
    target = tmp_path / "with-preview.jpg"
    target.write_bytes(sample.read_bytes() + (SAMPLES / "food/fig.jpg").read_bytes())
    assert content_hash(target) == content_hash(sample)


@pytest.mark.parametrize("sample", ["animals/ladybird.jpg", "people/astronaut.png", "people/cameraman.tif",
                                    "animals/chelsea the cat.webp", "plants/yellow flower.heic"])
def test_truncated_files_raise_an_error_naming_the_file(tmp_path: Path, sample: str):
    data = (SAMPLES / sample).read_bytes()
    target = tmp_path / Path(sample).name
    target.write_bytes(data[:len(data) // 2])
    with pytest.raises(CorruptImageError) as err:
        content_hash(target)
    assert err.value.path == str(target) and "truncated" in err.value.reason


def test_raw_files_hash_whole(tmp_path: Path):
    raw = tmp_path / "IMG_1.NEF"
    raw.write_bytes(b"II*\x00 pretend raw")
    first = content_hash(raw)
    raw.write_bytes(b"II*\x00 pretend raw, changed")
    assert content_hash(raw) != first
