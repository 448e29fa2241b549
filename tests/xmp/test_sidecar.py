"""Sidecar writes: originals untouched, darktable's work kept, shared names respected."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import FIXED_NOW, SAMPLES, exiftool, exiv2_types

from xmp import AITag, ConcurrentChangeError, MetadataReadError, TagRequest, WriteOptions, read_metadata, summarize, write_tags

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def request(*leaves: str) -> TagRequest:
    return TagRequest(tags=tuple(AITag(("thing", leaf), 0.25, "clip:test", "v1") for leaf in leaves))


def write(path: Path, req: TagRequest, **options):
    return write_tags(path, req, WriteOptions(**{"mode": "sidecar", **options}), clock=lambda: FIXED_NOW)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    target = tmp_path / "boats.jpg"
    shutil.copy2(SAMPLES / "landscapes/boats at evening glow.jpg", target)
    return target


def test_sidecar_mode_never_touches_the_original(photo: Path):
    data, mtime = photo.read_bytes(), photo.stat().st_mtime_ns
    result = write(photo, request("boat"))
    assert result.targets == [photo.with_name("boats.jpg.xmp")]
    assert photo.read_bytes() == data and photo.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("naming,names", [("ext", ["boats.jpg.xmp"]), ("base", ["boats.xmp"]),
                                          ("both", ["boats.jpg.xmp", "boats.xmp"])])
def test_sidecar_names(photo: Path, naming: str, names: list[str]):
    write(photo, request("boat"), sidecar_name=naming)
    assert sorted(p.name for p in photo.parent.glob("*.xmp")) == names
    for name in names:
        tags = exiftool(photo.parent / name)
        # the user's embedded hierarchy is copied, since a sidecar replaces embedded XMP in digiKam; the flat
        # "Anna" was never in it (digiKam did not show it) and is not promoted into it
        assert tags["XMP-digiKam:TagsList"] == ["Places/England/Lake District", "Things/boats", "AI/thing/boat"]
        assert tags["XMP-dc:Subject"] == ["Lake District", "boats", "Anna", "boat"]
        assert tags["XMP-xmp:Rating"] == 4 and tags["XMP-xmp:Label"] == "Green"  # copies of the embedded ones
        types = exiv2_types(photo.parent / name)
        assert types["Xmp.lr.hierarchicalSubject"] == "XmpBag" and types["Xmp.digiKam.TagsList"] == "XmpSeq"


def test_both_sidecars_are_kept_identical(photo: Path):
    write(photo, request("boat"), sidecar_name="both")
    write(photo, request("boat", "lake"), sidecar_name="both")
    ext, base = (exiftool(photo.parent / n, "-XMP:all") for n in ("boats.jpg.xmp", "boats.xmp"))
    ext.pop("SourceFile"), base.pop("SourceFile")
    assert ext == base and "AI|thing|lake" in ext["XMP-lr:HierarchicalSubject"]


def test_new_sidecar_matches_golden(tmp_path: Path):
    from golden.regenerate import new_sidecar

    assert new_sidecar(tmp_path) == (GOLDEN / "new-sidecar.xmp").read_text(encoding="utf-8")


def test_darktable_history_keeps_every_byte(tmp_path: Path):
    from golden.regenerate import darktable_sidecar

    before = (GOLDEN / "darktable-input.xmp").read_text(encoding="utf-8")
    after = darktable_sidecar(tmp_path)
    assert after == (GOLDEN / "darktable-output.xmp").read_text(encoding="utf-8")

    def history(text: str) -> str:
        return re.search(r"<darktable:history>.*?</darktable:history>", text, re.S).group(0)

    assert history(after) == history(before)
    # every darktable attribute is still there, unchanged
    attributes = re.compile(r'darktable:\w+="[^"]*"')
    assert attributes.findall(after) == attributes.findall(before)
    # and darktable's own reader (exiv2) sees the same history
    dt_before = {k: v for k, v in exiftool(GOLDEN / "darktable-input.xmp").items() if "darktable" in k}
    dt_after = {k: v for k, v in exiftool(tmp_path / "IMG_0002.CR2.xmp").items() if "darktable" in k}
    assert dt_before == dt_after
    assert exiftool(tmp_path / "IMG_0002.CR2.xmp")["XMP-lr:HierarchicalSubject"] == [
        "darktable|format|cr2", "AI|animal|dog", "AI|scene|lake"]  # "holiday" is not promoted (see test_plan)


LIGHTROOM_RAW_SIDECAR = """<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0-c000">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
   xmp:Rating="3"
   crs:Exposure2012="+0.35">
   <dc:subject>
    <rdf:Bag>
     <rdf:li>Asturias</rdf:li>
     <rdf:li>Trip</rdf:li>
    </rdf:Bag>
   </dc:subject>
   <lr:hierarchicalSubject>
    <rdf:Bag>
     <rdf:li>Trip|Asturias</rdf:li>
    </rdf:Bag>
   </lr:hierarchicalSubject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """IMG_1.CR2 and IMG_1.JPG side by side, with Lightroom's IMG_1.xmp for the raw."""
    raw, jpeg = tmp_path / "IMG_1.CR2", tmp_path / "IMG_1.JPG"
    raw.write_bytes(b"raw data")
    shutil.copy2(SAMPLES / "animals/ladybird.jpg", jpeg)
    (tmp_path / "IMG_1.xmp").write_text(LIGHTROOM_RAW_SIDECAR, encoding="utf-8")
    return raw, jpeg


@pytest.mark.parametrize("naming", ["ext", "base", "both"])
def test_a_raw_and_jpeg_pair_never_mix_their_keywords(pair, naming: str):
    raw, jpeg = pair
    folder = raw.parent
    raw_result = write(raw, request("raw-subject"), sidecar_name=naming)
    jpeg_result = write(jpeg, request("jpeg-subject"), sidecar_name=naming)
    base = folder / "IMG_1.xmp"
    base_tags = exiftool(base)
    if naming == "ext":
        assert base.read_text(encoding="utf-8") == LIGHTROOM_RAW_SIDECAR
    else:  # IMG_1.xmp is the raw's: its tags go there, the JPEG's never do
        assert "AI/thing/raw-subject" in base_tags["XMP-digiKam:TagsList"]
        assert raw_result.targets[-1] == base
    assert "jpeg-subject" not in str(base_tags)
    # the JPEG's own sidecar: its tag, nothing of the raw's (Trip|Asturias, rating, develop settings)
    assert jpeg_result.targets == [folder / "IMG_1.JPG.xmp"]
    jpeg_tags = exiftool(folder / "IMG_1.JPG.xmp")
    assert jpeg_tags["XMP-digiKam:TagsList"] == ["AI/thing/jpeg-subject"]
    assert "Asturias" not in str(jpeg_tags) and "raw-subject" not in str(jpeg_tags)
    assert all("Image" not in entry for entry in jpeg_tags["XMP-photobrain:Tags"])  # one image's file: no name
    assert (jpeg_result.note is not None) == (naming != "ext")  # the rule chose another name: said once per run
    view = summarize(read_metadata(jpeg))
    assert view.user_keywords == [] and view.user_hierarchy == []
    assert [t["path"] for t in view.ai_tags] == ["AI/thing/jpeg-subject"]
    # the raw keeps the user's keywords and gains its own tag
    raw_view = summarize(read_metadata(raw))
    assert raw_view.user_hierarchy == ["Trip/Asturias"] and raw_view.rating == "3"
    if naming == "both":  # both names of the raw's sidecar hold the same keywords and provenance
        ext_view, base_view = (exiftool(folder / n, "-XMP-dc:all", "-XMP-lr:all", "-XMP-digiKam:all",
                                        "-XMP-photobrain:all", "-XMP-xmp:Rating") for n in ("IMG_1.CR2.xmp", "IMG_1.xmp"))
        ext_view.pop("SourceFile"), base_view.pop("SourceFile")
        # added to Lightroom's file (untag takes it out again); the new sidecar is photobrain's as a whole
        assert base_view.pop("XMP-photobrain:Created") == ["digiKam:TagsList"]
        assert base_view.pop("XMP-photobrain:Declared")  # the namespaces it declared there, for untag
        assert ext_view == base_view
    # untag of the JPEG leaves the raw's sidecar exactly as the raw's tag run left it
    before = base.read_bytes() if naming != "ext" else None
    from xmp.untag import remove_tags

    remove_tags(jpeg)
    assert not (folder / "IMG_1.JPG.xmp").exists()
    if before is not None:
        assert (folder / "IMG_1.xmp").read_bytes() == before


def test_two_images_of_one_name_without_a_raw_share_no_sidecar(tmp_path: Path):
    jpeg, tiff = tmp_path / "IMG_2.JPG", tmp_path / "IMG_2.TIF"
    shutil.copy2(SAMPLES / "animals/ladybird.jpg", jpeg)
    shutil.copy2(SAMPLES / "people/cameraman.tif", tiff)
    write(jpeg, request("one"), sidecar_name="base")
    write(tiff, request("two"), sidecar_name="base")
    assert not (tmp_path / "IMG_2.xmp").exists()
    assert exiftool(tmp_path / "IMG_2.JPG.xmp")["XMP-digiKam:TagsList"] == ["AI/thing/one"]
    assert exiftool(tmp_path / "IMG_2.TIF.xmp")["XMP-digiKam:TagsList"] == ["AI/thing/two"]


def test_a_tag_the_user_deleted_is_not_added_again(photo: Path):
    write(photo, request("boat", "lake"))
    sidecar = photo.with_name("boats.jpg.xmp")
    # the user removes "lake" in their photo manager (here: with exiftool, in every field)
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-dc:Subject-=lake",
                    "-XMP-lr:HierarchicalSubject-=AI|thing|lake", "-XMP-digiKam:TagsList-=AI/thing/lake",
                    str(sidecar)], check=True)
    result = write(photo, request("boat", "lake"))
    assert result.rejected == ["AI/thing/lake"]
    tags = exiftool(sidecar)
    assert "AI/thing/lake" not in tags["XMP-digiKam:TagsList"] and "lake" not in tags["XMP-dc:Subject"]
    assert summarize(read_metadata(photo)).rejected == ["AI/thing/lake"]
    assert not write(photo, request("boat", "lake")).changed


def test_a_broken_sidecar_is_reported_and_left_alone(photo: Path):
    sidecar = photo.with_name("boats.jpg.xmp")
    sidecar.write_text("<x:xmpmeta><rdf:RDF>unterminated")
    with pytest.raises(MetadataReadError) as err:
        write(photo, request("boat"))
    assert err.value.path == str(sidecar)
    assert sidecar.read_text() == "<x:xmpmeta><rdf:RDF>unterminated"


def test_sidecar_written_by_exiftool_is_edited_in_place(photo: Path):
    sidecar = photo.with_name("boats.jpg.xmp")
    subprocess.run(["exiftool", "-q", "-XMP-dc:Subject=from exiftool", "-XMP-xmp:Rating=2",
                    "-XMP-photoshop:City=Keswick", "-XMP-lr:HierarchicalSubject=Places|Keswick", str(sidecar)],
                   check=True)
    write(photo, request("boat"))
    tags = exiftool(sidecar)
    assert tags["XMP-xmp:Rating"] == 2 and tags["XMP-photoshop:City"] == "Keswick"
    assert "from exiftool" in tags["XMP-dc:Subject"] and "boat" in tags["XMP-dc:Subject"]


def test_a_sidecar_changed_by_another_program_meanwhile_is_not_overwritten(photo: Path, monkeypatch):
    import xmp.write

    write(photo, request("boat"))
    sidecar = photo.with_name("boats.jpg.xmp")
    real_plan = xmp.write.plan_keywords

    def plan_while_darktable_saves(*args, **kwargs):
        subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-xmp:Rating=1", str(sidecar)], check=True)
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(xmp.write, "plan_keywords", plan_while_darktable_saves)
    with pytest.raises(ConcurrentChangeError):
        write(photo, request("lake"))
    assert exiftool(sidecar)["XMP-xmp:Rating"] == 1
    assert "AI/thing/boat" in exiftool(sidecar)["XMP-digiKam:TagsList"]


def test_a_sidecar_created_by_another_program_meanwhile_is_not_overwritten(photo: Path, monkeypatch):
    import xmp.write

    sidecar = photo.with_name("boats.jpg.xmp")
    real_plan = xmp.write.plan_keywords

    def plan_while_darktable_imports(*args, **kwargs):
        shutil.copy(GOLDEN / "darktable-input.xmp", sidecar)
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(xmp.write, "plan_keywords", plan_while_darktable_imports)
    with pytest.raises(ConcurrentChangeError):
        write(photo, request("boat"))
    assert sidecar.read_bytes() == (GOLDEN / "darktable-input.xmp").read_bytes()


@pytest.mark.parametrize("sidecar_text", ["darktable", "lightroom"])
def test_tag_then_untag_gives_an_existing_sidecar_back_byte_for_byte(tmp_path: Path, sidecar_text: str):
    from xmp.untag import remove_tags

    raw = tmp_path / "IMG_7.CR2"
    raw.write_bytes(b"raw data")
    if sidecar_text == "darktable":
        sidecar, text = tmp_path / "IMG_7.CR2.xmp", (GOLDEN / "darktable-input.xmp").read_text(encoding="utf-8")
    else:
        sidecar, text = tmp_path / "IMG_7.xmp", LIGHTROOM_RAW_SIDECAR
    sidecar.write_text(text, encoding="utf-8")
    before = sidecar.read_bytes()
    write(raw, request("boat", "lake"), sidecar_name="ext" if sidecar_text == "darktable" else "base")
    tagged = sidecar.read_text(encoding="utf-8")
    assert "xmlns:digiKam=" in tagged and "xmlns:photobrain=" in tagged
    remove_tags(raw)
    assert sidecar.read_bytes() == before  # no photobrain or digiKam namespace declaration left behind
