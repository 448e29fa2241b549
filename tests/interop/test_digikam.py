"""A real digiKam imports photobrain's AI tags as AI/... tags and keeps the user's keywords."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import FIXED_NOW, SAMPLES
from digikam import DigiKam

from xmp import AITag, TagRequest, WriteOptions, write_tags

pytestmark = pytest.mark.interop

# distinct images (digiKam treats byte-identical files as one), one per format it reads XMP from
PHOTOS = {
    "boats.jpg": "landscapes/boats at evening glow.jpg",  # carries the user's own keywords
    "ladybird.jpg": "animals/ladybird.jpg",
    "astronaut.png": "people/astronaut.png",
    "cameraman.tif": "people/cameraman.tif",
    "cat.webp": "animals/chelsea the cat.webp",
}
AI = {
    "boats.jpg": [("scene", "lake"), ("object", "boat")],
    "ladybird.jpg": [("animal", "insect", "ladybird")],
    "astronaut.png": [("people", "portrait")],
    "cameraman.tif": [("object", "camera"), ("style", "black and white")],
    "cat.webp": [("animal", "cat")],
}
# what digiKam shows of boats.jpg's own keywords: its hierarchy (the flat "Anna" is only in dc:subject, which digiKam
# does not read when a hierarchical field exists; photobrain does not promote it, see test_keyword_trees.py)
USER = {"Places/England/Lake District", "Things/boats"}


def library(root: Path, names) -> Path:
    folder = root / "photos"
    folder.mkdir()
    for name in names:
        shutil.copy2(SAMPLES / PHOTOS[name], folder / name)
    return folder


def tag(folder: Path, options: WriteOptions) -> None:
    for name, paths in AI.items():
        if (folder / name).exists():
            request = TagRequest(tags=tuple(AITag(p, 0.3, "clip:test", "v1") for p in paths))
            write_tags(folder / name, request, options, clock=lambda: FIXED_NOW)


def expected(name: str) -> set[str]:
    return {"AI/" + "/".join(p) for p in AI[name]}


def test_digikam_imports_embedded_ai_tags_and_keeps_user_keywords(tmp_path: Path):
    folder = library(tmp_path, PHOTOS)
    tag(folder, WriteOptions(mode="embed"))
    seen = DigiKam(tmp_path / "digikam", read_sidecars=False).import_collection(folder, expected_images=len(PHOTOS))
    for name in PHOTOS:
        assert expected(name) <= seen.get(name, set()), name
    assert USER <= seen["boats.jpg"]


@pytest.mark.parametrize("naming", ["ext", "base"])
def test_digikam_reads_ai_tags_from_sidecars(tmp_path: Path, naming: str):
    names = ["boats.jpg", "ladybird.jpg"]
    folder = library(tmp_path, names)
    before = {name: (folder / name).read_bytes() for name in names}
    tag(folder, WriteOptions(mode="sidecar", sidecar_name=naming))
    sidecar = {"ext": "boats.jpg.xmp", "base": "boats.xmp"}[naming]
    assert (folder / sidecar).exists()
    digikam = DigiKam(tmp_path / "digikam", read_sidecars=True, compatible_names=naming == "base")
    seen = digikam.import_collection(folder, expected_images=len(names))
    for name in names:
        assert expected(name) <= seen.get(name, set()), name
        assert (folder / name).read_bytes() == before[name]
    # the sidecar replaces the embedded XMP in digiKam: the user's keywords must be in it too
    assert USER <= seen["boats.jpg"]


def test_digikam_shows_a_cloud_caption_and_keeps_the_users_own(tmp_path: Path):
    """What the cloud brain writes (tags with gemini provenance, a caption) is what digiKam shows; a caption the
    user wrote stays theirs."""
    names = ["ladybird.jpg", "cat.webp"]
    folder = library(tmp_path, names)
    cloud = "gemini:gemini-2.5-flash-lite"
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-dc:Description=My cat Chelsea, in her words.",
                    str(folder / "cat.webp")], check=True)  # a caption of the user's, written by another app
    for name in names:
        request = TagRequest(tags=(AITag(("animal", "insect"), None, cloud),), caption="A small red beetle on a leaf.",
                             alt_text="Ladybird on a green leaf.", caption_source=cloud)
        write_tags(folder / name, request, WriteOptions(mode="embed"), clock=lambda: FIXED_NOW)
    digikam = DigiKam(tmp_path / "digikam", read_sidecars=False)
    seen = digikam.import_collection(folder, expected_images=len(names))
    assert "AI/animal/insect" in seen["ladybird.jpg"] and "AI/animal/insect" in seen["cat.webp"]
    captions = digikam.captions()
    assert captions["ladybird.jpg"] == "A small red beetle on a leaf."
    assert captions["cat.webp"] == "My cat Chelsea, in her words."
