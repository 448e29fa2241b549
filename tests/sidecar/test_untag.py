"""photobrain untag: everything photobrain wrote comes out, everything else stays, byte for byte where it can."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLES, exiftool

from index.catalog import Catalog
from sidecar.tagger import TagOptions, run_tag
from sidecar.untagger import UntagOptions, run_untag
from xmp import content_hash, read_metadata, summarize

# what exiftool reports that is not the file's metadata, or only its layout
NOT_METADATA = ("System:", "File:", "ExifTool:", "XMP-photobrain:")
LAYOUT = {"SourceFile", "XMP-x:XMPToolkit", "Photoshop:IPTCDigest", "RIFF:WebP_Flags", "IFD0:StripOffsets",
          "IFD0:TileOffsets"}


def metadata(path: Path) -> dict:
    return {k: v for k, v in exiftool(path, "-a", "-u").items() if not k.startswith(NOT_METADATA) and k not in LAYOUT}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix not in (".md", ".xmp"))


@pytest.fixture
def env(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PHOTOBRAIN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PHOTOBRAIN_CONFIG", str(tmp_path / "none.toml"))
    shutil.copytree(SAMPLES, tmp_path / "library", ignore=shutil.ignore_patterns("*.xmp"))
    return tmp_path


def tag(env: Path, tiny_clip, write: str) -> None:
    result = run_tag(TagOptions(paths=(env / "library",), catalog=env / "catalog.db", model=str(tiny_clip.config_path),
                                pretrained=str(tiny_clip.checkpoint_path), write=write, threshold=0.05, jobs=1),
                     log=lambda m: None)
    assert not result.failed


def test_sidecar_mode_tag_then_untag_leaves_the_folder_byte_identical(env, tiny_clip):
    before = snapshot(env / "library")
    tag(env, tiny_clip, "sidecar")
    assert len(snapshot(env / "library")) > len(before)  # sidecars were made
    result = run_untag(UntagOptions(paths=(env / "library",), catalog=env / "catalog.db"))
    assert not result.failed and result.summary()["untagged"] == len(images(env / "library"))
    assert snapshot(env / "library") == before


def test_embedded_mode_tag_then_untag_keeps_all_other_metadata_and_the_image_data(env, tiny_clip):
    library = env / "library"
    before = {p: (metadata(p), content_hash(p)) for p in images(library)}
    tag(env, tiny_clip, "auto")
    assert any(summarize(read_metadata(p)).ai_tags for p in images(library) if p.suffix == ".jpg")
    result = run_untag(UntagOptions(paths=(library,), catalog=env / "catalog.db"))
    assert not result.failed
    for image, (meta, digest) in before.items():
        assert metadata(image) == meta, image
        assert content_hash(image) == digest
        assert not summarize(read_metadata(image)).ai_tags
    assert not list(library.rglob("*.xmp"))  # the HEIC's sidecar, which photobrain made, is gone too


def test_a_users_own_sidecar_keeps_what_the_user_put_in_it(env, tiny_clip):
    image = env / "library" / "plants" / "dandelions.jpg"
    sidecar = Path(str(image) + ".xmp")
    subprocess.run(["exiftool", "-q", "-o", str(sidecar), "-XMP-dc:Subject=meadow", "-XMP-xmp:Rating=3",
                    str(image)], check=True)
    before = sidecar.read_bytes()
    tag(env, tiny_clip, "sidecar")
    assert sidecar.read_bytes() != before
    run_untag(UntagOptions(paths=(image,)))
    assert sidecar.exists()
    after = exiftool(sidecar)
    assert after["XMP-dc:Subject"] == ["meadow"] and after["XMP-xmp:Rating"] == 3
    assert not summarize(read_metadata(image)).ai_tags
    assert not any(k.startswith("XMP-photobrain:") for k in exiftool(sidecar))


def test_keywords_the_user_added_after_tagging_survive_untag(env, tiny_clip):
    tag(env, tiny_clip, "sidecar")
    image = env / "library" / "plants" / "dandelions.jpg"
    sidecar = Path(str(image) + ".xmp")
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-lr:HierarchicalSubject+=Family|Anna",
                    "-XMP-digiKam:TagsList+=Family/Anna", "-XMP-dc:Subject+=Anna", str(sidecar)], check=True)
    run_untag(UntagOptions(paths=(image,)))
    summary = summarize(read_metadata(image))
    assert summary.user_hierarchy == ["Family/Anna"] and summary.user_keywords == ["Anna"]
    assert not summary.ai_tags


def test_untag_tells_the_catalog_so_tag_writes_the_tags_again(env, tiny_clip):
    tag(env, tiny_clip, "sidecar")
    image = env / "library" / "plants" / "dandelions.jpg"
    tags = {t["path"] for t in summarize(read_metadata(image)).ai_tags}
    run_untag(UntagOptions(paths=(image,), catalog=env / "catalog.db"))
    with Catalog.open(env / "catalog.db") as catalog:
        assert catalog.db.execute("SELECT tagset FROM files WHERE path = ?", (os.fsencode(image),)).fetchone() == (None,)
    tag(env, tiny_clip, "sidecar")
    assert {t["path"] for t in summarize(read_metadata(image)).ai_tags} == tags


def test_dry_run_changes_nothing_and_a_bad_file_does_not_stop_the_run(env, tiny_clip):
    tag(env, tiny_clip, "auto")
    library = env / "library"
    locked = library / "plants" / "dandelions.jpg"
    locked.chmod(0o444)
    before = snapshot(library)
    out = subprocess.run([sys.executable, "-m", "sidecar", "untag", str(library), "--dry-run", "--json",
                          "--catalog", str(env / "catalog.db")], capture_output=True, text=True,
                         env={**os.environ, "PHOTOBRAIN_CONFIG": str(env / "none.toml")})
    data = json.loads(out.stdout)
    assert snapshot(library) == before and data["dry_run"]
    assert data["summary"]["untagged"] == len(images(library)) - 1 and data["summary"]["failed"] == 1
    assert out.returncode == 1 and f"error: {locked}: the file is read-only" in out.stderr
    result = run_untag(UntagOptions(paths=(library,)))
    assert [Path(f.path).name for f in result.failed] == ["dandelions.jpg"]
    assert not summarize(read_metadata(library / "plants" / "red flower.jpg")).ai_tags
