"""Embedded writes: what photo managers read back, and that nothing else changes."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import FIXED_NOW, SAMPLES, exiftool, exiv2_types, raw_xmp, sample_files
from PIL import Image

from xmp import (
    AITag,
    ConcurrentChangeError,
    CorruptImageError,
    MetadataWriteError,
    ReadOnlyError,
    TagRequest,
    VerificationError,
    WriteOptions,
    can_embed,
    content_hash,
    read_metadata,
    summarize,
    write_tags,
)

TAGS = TagRequest(tags=(AITag(("animal", "dog"), 0.3125, "clip:ViT-B-32", "v1"),
                        AITag(("scene", "lake"), 0.2511, "clip:ViT-B-32", "v1")),
                  caption="Boats on a lake", alt_text="Wooden rowing boats on a lake shore at dusk")
KEYWORDED = "landscapes/boats at evening glow.jpg"
EMBED = WriteOptions(mode="embed")


def clock() -> str:
    return FIXED_NOW


def write(path: Path, request: TagRequest = TAGS, options: WriteOptions = EMBED):
    return write_tags(path, request, options, clock=clock)


def pixels(path: Path) -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    with Image.open(path) as im:
        return im.mode.encode() + im.tobytes()


# exiftool groups that are photobrain's to change, and the file system's
OWNED = {"XMP-dc:Subject", "XMP-lr:HierarchicalSubject", "XMP-digiKam:TagsList", "XMP-dc:Description",
         "XMP-iptcCore:AltTextAccessibility", "IPTC:Keywords", "Photoshop:IPTCDigest",
         # layout, not content: a WebP that gains XMP needs the extended header's XMP flag,
         # and a rewritten TIFF has its strips elsewhere (their bytes are checked by the hash)
         "RIFF:WebP_Flags", "IFD0:StripOffsets", "IFD0:TileOffsets"}


def other_metadata(path: Path) -> dict:
    tags = exiftool(path, "-a", "-u")
    return {k: v for k, v in tags.items()
            if k not in OWNED and not k.startswith(("System:", "File:", "ExifTool:", "XMP-photobrain:", "XMP-x:"))
            and k not in ("SourceFile", "Composite:ImageSize", "Composite:Megapixels")}


EMBEDDABLE_SAMPLES = [p for p in sample_files() if can_embed(p)]


def test_samples_not_embedded_into_get_a_sidecar_in_auto_mode(tmp_path: Path):
    others = [p for p in sample_files() if not can_embed(p)]
    assert others, "samples/ should hold a format photobrain does not write into (HEIC)"
    for sample in others:
        target = tmp_path / sample.name
        shutil.copy2(sample, target)
        result = write(target, options=WriteOptions(mode="auto"))
        assert result.mode == "sidecar" and target.read_bytes() == sample.read_bytes()
        assert "AI/animal/dog" in exiftool(target.with_name(target.name + ".xmp"))["XMP-digiKam:TagsList"]


@pytest.mark.parametrize("sample", EMBEDDABLE_SAMPLES, ids=lambda p: p.relative_to(SAMPLES).as_posix())
def test_every_sample_keeps_its_image_and_other_metadata(tmp_path: Path, sample: Path):
    target = tmp_path / sample.name
    shutil.copy2(sample, target)
    before_hash, before_pixels, before_other = content_hash(target), pixels(target), other_metadata(target)
    before_keywords = summarize(read_metadata(target)).user_keywords

    result = write(target)

    assert result.changed and result.mode == "embed"
    assert content_hash(target) == before_hash
    assert pixels(target) == before_pixels
    assert other_metadata(target) == before_other
    tags = exiftool(target)
    subjects = tags.get("XMP-dc:Subject", [])
    subjects = subjects if isinstance(subjects, list) else [subjects]
    assert {"dog", "lake"} <= set(subjects)
    assert set(before_keywords) <= set(subjects)
    assert {"AI/animal/dog", "AI/scene/lake"} <= set(tags["XMP-digiKam:TagsList"])
    assert summarize(read_metadata(target)).user_keywords == before_keywords


def test_field_types_are_what_digikam_requires(tmp_path: Path):
    target = tmp_path / "boats.jpg"
    shutil.copy2(SAMPLES / KEYWORDED, target)
    write(target)
    types = exiv2_types(target)
    assert types["Xmp.dc.subject"] == "XmpBag"
    assert types["Xmp.lr.hierarchicalSubject"] == "XmpBag"
    assert types["Xmp.digiKam.TagsList"] == "XmpSeq"
    assert types["Xmp.dc.description"] == "LangAlt"
    # exiv2 -pa names types from its schema; the packet itself must say so too
    packet = raw_xmp(target)
    for element, kind in (("dc:subject", "Bag"), ("lr:hierarchicalSubject", "Bag"), ("digiKam:TagsList", "Seq")):
        start = packet.index(f"<{element}>")
        assert packet[start:start + 80].split("<rdf:")[1].startswith(kind), element


def test_exiftool_reads_the_users_and_the_ai_keywords(tmp_path: Path):
    target = tmp_path / "boats.jpg"
    shutil.copy2(SAMPLES / KEYWORDED, target)
    write(target)
    tags = exiftool(target)
    assert tags["XMP-dc:Subject"] == ["Lake District", "boats", "Anna", "dog", "lake"]
    assert tags["XMP-lr:HierarchicalSubject"] == [
        "Places|England|Lake District", "Things|boats", "AI|animal|dog", "AI|scene|lake"]
    assert tags["XMP-xmp:Rating"] == 4 and tags["XMP-xmp:Label"] == "Green"
    assert tags["IPTC:Keywords"] == ["Lake District", "boats", "Anna"]  # darktable would make leaves top-level tags
    assert tags["XMP-dc:Description"] == "Boats on a lake"
    # the IPTC digest matches the new IIM block, so readers keep trusting XMP
    digest = exiftool(target, "-IPTCDigest", "-CurrentIPTCDigest")
    assert digest["Photoshop:IPTCDigest"] == digest["File:CurrentIPTCDigest"]


def test_provenance_round_trips_through_exiftool(tmp_path: Path):
    target = tmp_path / "boats.jpg"
    shutil.copy2(SAMPLES / KEYWORDED, target)
    write(target)
    prov = exiftool(target, "-XMP-photobrain:all")
    first = prov["XMP-photobrain:Tags"][0]
    assert (first["Path"], float(first["Score"]), first["Source"], first["Vocab"]) == (
        "AI/animal/dog", 0.3125, "clip:ViT-B-32", "v1")
    assert str(first["Date"]).replace(":", "-", 2).startswith("2026-01-02")
    # exiftool rewriting the file (another app touching it) keeps photobrain's record
    os.system(f"exiftool -q -overwrite_original -XMP-xmp:Rating=5 '{target}'")
    summary = summarize(read_metadata(target))
    assert [t["path"] for t in summary.ai_tags] == ["AI/animal/dog", "AI/scene/lake"]
    assert summary.rating == "5"


def test_golden_embedded_packet(tmp_path: Path):
    from golden.regenerate import GOLDEN, embedded_packet

    assert embedded_packet(tmp_path) == (GOLDEN / "embedded-boats.xmp").read_text(encoding="utf-8")


def test_writing_twice_changes_nothing(tmp_path: Path):
    target = tmp_path / "boats.jpg"
    shutil.copy2(SAMPLES / KEYWORDED, target)
    write(target)
    data, mtime = target.read_bytes(), target.stat().st_mtime_ns
    second = write(target)
    assert not second.changed and second.targets == []
    assert target.read_bytes() == data and target.stat().st_mtime_ns == mtime


def test_mtime_changes_by_default_and_can_be_kept(tmp_path: Path):
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    for p in (a, b):
        shutil.copy2(SAMPLES / KEYWORDED, p)
        os.utime(p, (1_600_000_000, 1_600_000_000))
    write(a)
    write(b, options=WriteOptions(mode="embed", keep_mtime=True))
    assert a.stat().st_mtime != 1_600_000_000
    assert b.stat().st_mtime == 1_600_000_000


def test_permissions_are_kept(tmp_path: Path):
    target = tmp_path / "boats.jpg"
    shutil.copy2(SAMPLES / KEYWORDED, target)
    target.chmod(0o640)
    write(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_dry_run_writes_nothing(tmp_path: Path):
    target = tmp_path / "boats.jpg"
    shutil.copy2(SAMPLES / KEYWORDED, target)
    data = target.read_bytes()
    result = write(target, options=WriteOptions(mode="embed", dry_run=True))
    assert result.changed and result.targets == [target] and result.added == ["AI/animal/dog", "AI/scene/lake"]
    assert target.read_bytes() == data and not list(tmp_path.glob("*.xmp"))


def test_read_only_file_is_an_error_in_embed_mode_and_gets_a_sidecar_in_auto(tmp_path: Path):
    target = tmp_path / "boats.jpg"
    shutil.copy2(SAMPLES / KEYWORDED, target)
    target.chmod(0o444)
    data = target.read_bytes()
    with pytest.raises(ReadOnlyError) as err:
        write(target)
    assert str(target) in str(err.value) and "--write sidecar" in err.value.hint
    result = write(target, options=WriteOptions(mode="auto"))
    assert result.mode == "sidecar" and "read-only" in result.note
    assert target.read_bytes() == data
    assert "AI/animal/dog" in exiftool(tmp_path / "boats.jpg.xmp")["XMP-digiKam:TagsList"]


@pytest.mark.parametrize("cut", [0.5, 0.98])
def test_truncated_file_is_reported_and_left_alone(tmp_path: Path, cut: float):
    data = (SAMPLES / KEYWORDED).read_bytes()
    target = tmp_path / "truncated.jpg"
    target.write_bytes(data[:int(len(data) * cut)])
    with pytest.raises(CorruptImageError) as err:
        write(target)
    assert err.value.path == str(target)
    assert target.read_bytes() == data[:int(len(data) * cut)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["truncated.jpg"]


def test_not_an_image_is_reported(tmp_path: Path):
    target = tmp_path / "notes.jpg"
    target.write_text("shopping list")
    with pytest.raises(CorruptImageError) as err:
        write(target)
    assert "notes.jpg" in str(err.value)
    assert target.read_text() == "shopping list"


def test_raw_files_are_never_embedded_into(tmp_path: Path):
    raw = tmp_path / "IMG_1.CR2"
    raw.write_bytes(b"II*\x00" + bytes(200))
    with pytest.raises(MetadataWriteError) as err:
        write(raw)
    assert "--write sidecar" in err.value.hint
    result = write(raw, options=WriteOptions(mode="auto"))
    assert result.mode == "sidecar" and (tmp_path / "IMG_1.CR2.xmp").exists()
    assert raw.read_bytes() == b"II*\x00" + bytes(200)


@pytest.mark.parametrize("sample", [KEYWORDED, "people/astronaut.png"])
def test_a_write_that_would_change_the_image_data_is_refused(tmp_path: Path, monkeypatch, sample: str):
    import xmp.write

    target = tmp_path / Path(sample).name
    shutil.copy2(SAMPLES / sample, target)
    original = target.read_bytes()

    def corrupting(real):
        def corrupt(*args):
            data = bytearray(real(*args))
            data[-100] ^= 0x55  # a changed byte in what decides the pixels (JPEG tables, PNG image data)
            return bytes(data)
        return corrupt

    # a JPEG's header is made by photobrain's own XMP splice, other formats by exiv2
    monkeypatch.setattr(xmp.write.jpeg_xmp, "replace_packet", corrupting(xmp.write.jpeg_xmp.replace_packet))
    monkeypatch.setattr(xmp.write.Exiv2Image, "get_bytes", corrupting(xmp.write.Exiv2Image.get_bytes))
    with pytest.raises(VerificationError) as err:
        write(target)
    assert "image data" in err.value.reason
    assert target.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


@pytest.mark.parametrize("damage", ["flipped byte", "cut short", "extra bytes"])
def test_scan_data_that_does_not_reach_the_disk_intact_is_refused(tmp_path: Path, monkeypatch, damage: str):
    # A JPEG write sends exiv2 only the header and writes the scan data back itself: what lands on disk
    # is read back and compared with the original's scan data byte for byte.
    import xmp.write

    target = tmp_path / "boats.jpg"
    shutil.copy2(SAMPLES / KEYWORDED, target)
    original = target.read_bytes()
    real_replace = xmp.write._atomic_replace

    def damaging_replace(path, chunks, verify, **kwargs):
        scan = bytearray(chunks[-1])
        if damage == "flipped byte":
            scan[len(scan) // 2] ^= 0x01
        elif damage == "cut short":
            del scan[-1000:]
        else:
            scan += b"\0"
        return real_replace(path, [*chunks[:-1], bytes(scan)], verify, **kwargs)

    monkeypatch.setattr(xmp.write, "_atomic_replace", damaging_replace)
    with pytest.raises(VerificationError) as err:
        write(target)
    assert "image data" in err.value.reason
    assert target.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_a_write_whose_keywords_do_not_read_back_is_refused(tmp_path: Path, monkeypatch):
    import xmp.write

    target = tmp_path / "boats.jpg"
    shutil.copy2(SAMPLES / KEYWORDED, target)
    original = target.read_bytes()
    # the packet that lands in the file is not the one planned (for a JPEG photobrain splices it in itself)
    monkeypatch.setattr(xmp.write.jpeg_xmp, "replace_packet", lambda head, packet: head)
    with pytest.raises(VerificationError):
        write(target)
    assert target.read_bytes() == original


def test_a_file_changed_by_another_program_during_the_write_is_not_replaced(tmp_path: Path, monkeypatch):
    import xmp.write

    target = tmp_path / "boats.jpg"
    shutil.copy2(SAMPLES / KEYWORDED, target)
    real_read_source = xmp.write.read_source

    def meanwhile(path, data, label):
        with open(target, "ab") as fh:  # another app saves the original while we verify
            fh.write(b"\0")
        return real_read_source(path, data, label)

    monkeypatch.setattr(xmp.write, "read_source", meanwhile)
    with pytest.raises(ConcurrentChangeError):
        write(target)
    assert target.read_bytes().endswith(b"\0")  # their version, not ours


def test_a_file_changed_between_reading_and_writing_is_not_overwritten(tmp_path: Path, monkeypatch):
    import xmp.write

    target = tmp_path / "boats.jpg"
    shutil.copy2(SAMPLES / KEYWORDED, target)
    real_plan = xmp.write.plan_keywords

    def plan_while_user_edits(*args, **kwargs):
        subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-dc:Subject+=added meanwhile", str(target)],
                       check=True)
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(xmp.write, "plan_keywords", plan_while_user_edits)
    with pytest.raises(ConcurrentChangeError):
        write(target)
    assert "added meanwhile" in exiftool(target)["XMP-dc:Subject"]


def test_an_embedded_tag_then_untag_gives_the_jpeg_back_byte_for_byte(tmp_path: Path):
    from xmp.untag import remove_tags

    target = tmp_path / "boats.jpg"
    shutil.copy2(SAMPLES / KEYWORDED, target)
    original = target.read_bytes()
    toolkit = exiftool(target)["XMP-x:XMPToolkit"]
    write(target)
    assert exiftool(target)["XMP-x:XMPToolkit"] == toolkit  # the packet is edited as text, not re-serialised
    remove_tags(target)
    assert target.read_bytes() == original


def test_a_jpeg_without_xmp_has_none_again_after_untag(tmp_path: Path):
    from xmp.untag import remove_tags

    target = tmp_path / "fig.jpg"
    shutil.copy2(SAMPLES / "food/fig.jpg", target)
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP:all=", str(target)], check=True)
    original = target.read_bytes()
    write(target)
    assert "XMP-digiKam:TagsList" in exiftool(target)
    remove_tags(target)
    assert target.read_bytes() == original


def test_a_leaf_an_earlier_photobrain_put_in_iim_keywords_goes_with_its_tag(tmp_path: Path):
    target = tmp_path / "boats.jpg"
    shutil.copy2(SAMPLES / KEYWORDED, target)
    write(target, TagRequest(tags=(AITag(("animal", "dog"), 0.3, "clip:test", "v1"),)))
    # earlier photobrain versions also added the leaf to the IIM keywords
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-IPTC:Keywords+=dog", str(target)], check=True)
    toolkit = exiftool(target)["XMP-x:XMPToolkit"]
    write(target, TagRequest(tags=(AITag(("animal", "cat"), 0.3, "clip:test", "v1"),)))
    tags = exiftool(target)
    assert tags["IPTC:Keywords"] == ["Lake District", "boats", "Anna"]  # exiv2 rewrote the IIM keywords...
    digest = exiftool(target, "-IPTCDigest", "-CurrentIPTCDigest")
    assert digest["Photoshop:IPTCDigest"] == digest["File:CurrentIPTCDigest"]
    assert "AI/animal/cat" in tags["XMP-digiKam:TagsList"]
    assert tags["XMP-x:XMPToolkit"] == toolkit  # ...but the XMP packet is still edited as text
