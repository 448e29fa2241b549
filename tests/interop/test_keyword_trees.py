"""Libraries that already have keyword trees: after photobrain, digiKam and darktable show what they showed
before plus the AI tags (nothing renamed, split or promoted), and after untag what they showed before."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXED_NOW
from darktable import darktable_import
from digikam import DigiKam
from PIL import Image

from xmp import AITag, TagRequest, WriteOptions, write_tags
from xmp.untag import remove_tags

pytestmark = pytest.mark.interop

# file -> exiftool arguments that give it the keywords a real library has
LIBRARY = {
    # Lightroom (default "include on export" of containing keywords, and a synonym)
    "lightroom.jpg": ["-XMP-lr:HierarchicalSubject=People|Family|Anna", "-XMP-lr:HierarchicalSubject=places|Spain|Gijón",
                      *(f"-XMP-dc:Subject={k}" for k in ("Anna", "Family", "People", "Gijón", "Spain", "places",
                                                         "Annie"))],
    # digiKam: TagsList, the Lightroom field and leaves in dc:subject
    "digikam.jpg": ["-XMP-digiKam:TagsList=Events/Wedding", "-XMP-lr:HierarchicalSubject=Events|Wedding",
                    "-XMP-dc:Subject=Wedding"],
    # flat keywords only, one of them the leaf of an AI tag to come
    "flat.jpg": ["-XMP-dc:Subject=painting", "-XMP-dc:Subject=Magda"],
    # IPTC IIM keywords only
    "iptc.jpg": ["-IPTC:Keywords=Harbour", "-IPTC:Keywords=Santander"],
    # flat keywords with the fields' separators and non-ASCII inside
    "separators.jpg": [*(f"-XMP-dc:Subject={k}" for k in ("c/d", "a|b", "x\\y", "e,f", "g;h", "Ünïcødé 日本"))],
    # a hierarchy with separators inside its components, written by Lightroom
    "bands.jpg": ["-XMP-lr:HierarchicalSubject=Bands|AC/DC", "-XMP-dc:Subject=AC/DC", "-XMP-dc:Subject=Bands"],
}
AI = {
    "lightroom.jpg": [("people", "portrait")],
    "digikam.jpg": [("event", "wedding")],
    "flat.jpg": [("object", "art", "painting")],
    "iptc.jpg": [("place", "water", "harbor")],
    "separators.jpg": [("style", "abstract")],
    "bands.jpg": [("event", "concert")],
}


def make_library(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for n, (name, args) in enumerate(LIBRARY.items()):  # distinct pixels: digiKam merges identical files
        pixels = np.random.default_rng(n).integers(0, 255, (48, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / name, quality=90)
        subprocess.run(["exiftool", "-q", "-overwrite_original", *args, str(folder / name)], check=True)
    return folder


def tag(folder: Path, options: WriteOptions) -> None:
    for name, paths in AI.items():
        request = TagRequest(tags=tuple(AITag(p, 0.4, "clip:test", "v1") for p in paths))
        write_tags(folder / name, request, options, clock=lambda: FIXED_NOW)


def ai_paths(name: str, sep: str = "/") -> set[str]:
    return {sep.join(("AI", *p)) for p in AI[name]}


def digikam_view(folder: Path, workdir: Path, **settings) -> dict[str, set[str]]:
    return DigiKam(workdir, **settings).import_collection(folder, expected_images=len(LIBRARY))


def test_digikam_shows_what_it_showed_before_plus_the_ai_tags_and_after_untag_what_it_showed_before(tmp_path: Path):
    folder = make_library(tmp_path / "photos")
    before = digikam_view(folder, tmp_path / "dk-before", read_sidecars=False)
    # the shapes were read as their apps meant them (a check of the fixtures, and of digiKam's reading)
    assert before["lightroom.jpg"] == {"People/Family/Anna", "places/Spain/Gijón"}
    assert before["separators.jpg"] >= {"a|b", "x\\y", "e,f", "g;h", "Ünïcødé 日本"}
    tag(folder, WriteOptions(mode="embed"))
    after = digikam_view(folder, tmp_path / "dk-after", read_sidecars=False)
    for name in LIBRARY:
        assert after.get(name, set()) == before.get(name, set()) | ai_paths(name), name
    for name in LIBRARY:
        remove_tags(folder / name)
    again = digikam_view(folder, tmp_path / "dk-untagged", read_sidecars=False)
    assert again == before


def test_a_new_sidecar_carries_the_rating_labels_and_title_digikam_would_otherwise_lose(tmp_path: Path):
    folder = make_library(tmp_path / "photos")
    rated = folder / "flat.jpg"
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-xmp:Rating=4", "-XMP-xmp:Label=Red",
                    "-XMP-dc:Title=Magda's painting", "-XMP-dc:Rights=(c) Magda", str(rated)], check=True)
    before = DigiKam(tmp_path / "dk-before", read_sidecars=False)
    seen_before = before.import_collection(folder, expected_images=len(LIBRARY))
    assert before.ratings_and_labels()["flat.jpg"] == (4, {"Color Label Red"})
    data = {name: (folder / name).read_bytes() for name in LIBRARY}
    tag(folder, WriteOptions(mode="sidecar"))
    assert {name: (folder / name).read_bytes() for name in LIBRARY} == data  # originals untouched
    after = DigiKam(tmp_path / "dk-after", read_sidecars=True)
    seen_after = after.import_collection(folder, expected_images=len(LIBRARY))
    for name in LIBRARY:
        assert seen_after.get(name, set()) == seen_before.get(name, set()) | ai_paths(name), name
    assert after.ratings_and_labels()["flat.jpg"] == (4, {"Color Label Red"})
    assert after.titles()["flat.jpg"] == "Magda's painting"


def test_digikam_shows_a_jpeg_without_its_raws_keywords(tmp_path: Path):
    folder = make_library(tmp_path / "photos")
    jpeg = folder / "IMG_1.JPG"
    shutil.move(folder / "digikam.jpg", jpeg)
    (folder / "IMG_1.CR2").write_bytes(b"raw data digiKam cannot show")
    (folder / "IMG_1.xmp").write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:lr="http://ns.adobe.com/lightroom/1.0/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="2">'
        '<dc:subject><rdf:Bag><rdf:li>Asturias</rdf:li><rdf:li>Trip</rdf:li></rdf:Bag></dc:subject>'
        '<lr:hierarchicalSubject><rdf:Bag><rdf:li>Trip|Asturias</rdf:li></rdf:Bag></lr:hierarchicalSubject>'
        '</rdf:Description></rdf:RDF></x:xmpmeta>', encoding="utf-8")
    lightroom = (folder / "IMG_1.xmp").read_bytes()
    for naming in ("ext", "base", "both"):
        write_tags(jpeg, TagRequest(tags=(AITag(("event", "wedding"), 0.4, "clip:test", "v1"),)),
                   WriteOptions(mode="auto", sidecar_name=naming), clock=lambda: FIXED_NOW)
    assert (folder / "IMG_1.xmp").read_bytes() == lightroom  # the raw's sidecar: not the JPEG's to write
    # digiKam reading the JPEG's own XMP shows its keywords and its AI tag, nothing of the raw's. (With sidecar
    # reading on, digiKam 7.9 prefers IMG_1.xmp for every file of that name: the README says so.)
    seen = DigiKam(tmp_path / "dk", read_sidecars=False).import_collection(folder, expected_images=len(LIBRARY))
    assert seen["IMG_1.JPG"] == {"Events/Wedding", "AI/event/wedding"}


def test_darktable_imports_what_it_imported_before_plus_the_ai_tags(tmp_path: Path):
    folder = make_library(tmp_path / "photos")
    before = {name: darktable_import(folder / name, tmp_path / "dt" / name)[0] for name in LIBRARY}
    assert before["lightroom.jpg"] == {"People|Family|Anna", "places|Spain|Gijón"}
    tag(folder, WriteOptions(mode="embed"))
    for name in LIBRARY:
        tags, _, _ = darktable_import(folder / name, tmp_path / "dt" / name)
        assert tags == before[name] | ai_paths(name, "|"), name


def test_darktable_reads_rating_labels_and_keywords_from_a_new_sidecar_and_keeps_its_own_sidecar(tmp_path: Path):
    folder = make_library(tmp_path / "photos")
    rated = folder / "lightroom.jpg"
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-xmp:Rating=4", "-XMP-xmp:Label=Red", str(rated)],
                   check=True)
    tags_before, rating, labels = darktable_import(rated, tmp_path / "dt-before")
    assert rating == 4 and labels == {0}  # 0: red
    tag(folder, WriteOptions(mode="sidecar"))
    sidecar = folder / "lightroom.jpg.xmp"
    tags, rating, labels = darktable_import(rated, tmp_path / "dt-after", sidecar)
    assert tags == tags_before | ai_paths("lightroom.jpg", "|")
    assert rating == 4 and labels == {0}


def test_darktable_reads_its_own_sidecar_with_the_ai_tags_added_and_its_history_kept(tmp_path: Path):
    from conftest import ROOT

    folder = make_library(tmp_path / "photos")
    photo = folder / "flat.jpg"
    sidecar = folder / "flat.jpg.xmp"
    # darktable's own sidecar: edit history, its automatic tags, and a tag of the user's
    text = (ROOT / "tests/golden/darktable-input.xmp").read_text(encoding="utf-8")
    sidecar.write_text(text.replace("IMG_0001.CR2", "flat.jpg"), encoding="utf-8")
    tags_before, rating_before, _ = darktable_import(photo, tmp_path / "dt-before", sidecar)
    history_before = exiftool_history(sidecar)
    tag(folder, WriteOptions(mode="sidecar"))
    tags, rating, _ = darktable_import(photo, tmp_path / "dt-after", sidecar)
    assert tags == tags_before | ai_paths("flat.jpg", "|")
    assert rating == rating_before and exiftool_history(sidecar) == history_before
    remove_tags(photo)
    assert darktable_import(photo, tmp_path / "dt-untagged", sidecar)[0] == tags_before


def exiftool_history(sidecar: Path) -> str:
    return subprocess.run(["exiftool", "-s3", "-XMP-darktable:History", str(sidecar)], capture_output=True,
                          text=True, check=True).stdout
