"""What one run and the catalog remember: one model call per image, the user's rejections, honest counts."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import SAMPLES, exiftool

from sidecar.tagger import TagOptions, run_tag
from sidecar.untagger import UntagOptions, run_untag
from xmp import read_metadata, summarize


@pytest.fixture
def env(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PHOTOBRAIN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PHOTOBRAIN_CONFIG", str(tmp_path / "none.toml"))
    return tmp_path


def tag(env: Path, tiny_clip, folder: Path, **overrides):
    settings = dict(paths=(folder,), catalog=env / "catalog.db", model=str(tiny_clip.config_path),
                    pretrained=str(tiny_clip.checkpoint_path), threshold=0.05, jobs=1, write="sidecar")
    settings.update(overrides)
    return run_tag(TagOptions(**settings), log=lambda m: None)


@pytest.mark.parametrize("jobs", [1, 2])
def test_copies_inside_one_run_go_through_the_model_once(env, tiny_clip, jobs: int):
    folder = env / "photos"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):  # byte-identical
        shutil.copy2(SAMPLES / "food/fig.jpg", folder / name)
    shutil.copy2(SAMPLES / "food/fig.jpg", folder / "d.jpg")  # same pixels, other metadata
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-dc:Title=my fig", str(folder / "d.jpg")], check=True)
    animals = sorted((SAMPLES / "animals").iterdir())
    for n in range(6):  # other images after them, two of them copies too, in other batches and workers
        shutil.copy2(animals[n % 4], folder / f"z{n}{animals[n % 4].suffix}")
    result = tag(env, tiny_clip, folder, jobs=jobs, batch_size=2)
    counts = result.summary()
    assert not result.failed
    unique = 1 + 4  # the fig, and the four animals
    assert result.embedded == unique
    assert counts["tagged"] == unique and counts["duplicate"] == 3 + 2
    fig_tags = {tuple(f.tags) for f in result.files if Path(f.path).name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg")}
    assert len(fig_tags) == 1  # every copy got the same tags, written into its own sidecar
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        assert [t["path"] for t in summarize(read_metadata(folder / name)).ai_tags]


def test_a_rejected_tag_stays_rejected_after_untag_until_forgotten(env, tiny_clip):
    folder = env / "photos"
    folder.mkdir()
    photo = folder / "boats.jpg"
    shutil.copy2(SAMPLES / "landscapes/boats at evening glow.jpg", photo)
    first = tag(env, tiny_clip, folder)
    ai = first.files[0].tags
    assert len(ai) >= 2
    gone = ai[0]
    sidecar = folder / "boats.jpg.xmp"
    # the user deletes one AI tag in their photo manager (every keyword field, as digiKam does)
    subprocess.run(["exiftool", "-q", "-overwrite_original", f"-XMP-dc:Subject-={gone.rsplit('/', 1)[1]}",
                    f"-XMP-lr:HierarchicalSubject-={gone.replace('/', '|')}", f"-XMP-digiKam:TagsList-={gone}",
                    str(sidecar)], check=True)
    second = tag(env, tiny_clip, folder)
    assert gone not in exiftool(sidecar)["XMP-digiKam:TagsList"]
    assert second.files[0].status in ("tagged", "unchanged")
    untagged = run_untag(UntagOptions(paths=(folder,), catalog=env / "catalog.db"))
    view = summarize(read_metadata(photo))
    assert untagged.summary()["untagged"] == 1 and not view.ai_tags and not view.rejected  # out of the files...
    third = tag(env, tiny_clip, folder)
    assert third.files[0].status == "tagged"
    tags = exiftool(sidecar)["XMP-digiKam:TagsList"]
    assert gone not in tags and set(ai) - {gone} <= set(tags)  # ...but the decision is not forgotten
    assert summarize(read_metadata(photo)).rejected == [gone]
    forgot = tag(env, tiny_clip, folder, forget_rejections=True)
    assert forgot.files[0].status == "tagged"
    assert gone in exiftool(sidecar)["XMP-digiKam:TagsList"] and not summarize(read_metadata(photo)).rejected
    assert tag(env, tiny_clip, folder).files[0].status == "unchanged"  # and the catalog forgot too


def test_a_metadata_edit_that_needs_no_write_counts_as_unchanged(env, tiny_clip):
    folder = env / "photos"
    folder.mkdir()
    shutil.copy2(SAMPLES / "food/fig.jpg", folder / "fig.jpg")
    tag(env, tiny_clip, folder, write="embed")
    # another app edits the title: size and time change, the image data and photobrain's tags do not
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-dc:Title=Fig", str(folder / "fig.jpg")], check=True)
    again = tag(env, tiny_clip, folder, write="embed")
    assert again.embedded == 0 and again.files[0].status == "unchanged" and not again.files[0].written


def test_a_run_says_once_where_raw_and_jpeg_pairs_chose_the_sidecar(env, tiny_clip):
    folder = env / "photos"
    folder.mkdir()
    for n in range(3):  # three JPEGs with a raw of the same name, and Lightroom's sidecar for each raw
        shutil.copy2(sorted((SAMPLES / "food").iterdir())[n], folder / f"IMG_{n}.JPG")
        (folder / f"IMG_{n}.CR2").write_bytes(b"not a raw photobrain can read")
        (folder / f"IMG_{n}.xmp").write_text("", encoding="utf-8")
    lines: list[str] = []
    settings = dict(paths=(folder,), catalog=env / "catalog.db", model=str(tiny_clip.config_path),
                    pretrained=str(tiny_clip.checkpoint_path), threshold=0.05, jobs=1, write="sidecar",
                    sidecar_name="base")
    result = run_tag(TagOptions(**settings), log=lines.append)
    jpegs = [f for f in result.files if f.path.endswith(".JPG")]
    assert all(f.status == "tagged" and f.written == [f.path + ".xmp"] for f in jpegs)
    assert all("belongs to IMG_" in (f.note or "") for f in jpegs)
    assert len([line for line in lines if "elsewhere than asked" in line]) == 1
    assert all((folder / f"IMG_{n}.xmp").read_text(encoding="utf-8") == "" for n in range(3))  # the raws' own
