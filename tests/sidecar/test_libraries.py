"""A library remembers how it was tagged: every later command works from a path alone, where tags live changes only
on request (--migrate), several libraries keep their own profiles, and a moved library keeps its profile.

Run as a user runs photobrain: the command line, the default catalog in a fresh home folder (tests/conftest.py).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLES

from xmp import read_metadata, summarize

PICKED = ["landscapes/boats at evening glow.jpg", "landscapes/foggy pier.png", "people/cameraman.tif",
          "animals/chelsea the cat.webp", "food/café crème.jpg"]


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def vocabulary_once(shared_cache, monkeypatch):
    """The tiny model's vocabulary embeddings are computed once for this module, not once per test."""
    monkeypatch.setenv("PHOTOBRAIN_CACHE", str(shared_cache))


def photobrain(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "sidecar", *args], capture_output=True, text=True)
    if check:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


def make_library(folder: Path, picked: list[str] = PICKED) -> Path:
    for name in picked:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(SAMPLES / name, folder / name)
    return folder


def model_args(tiny_clip) -> list[str]:
    return ["--model", str(tiny_clip.config_path), "--pretrained", str(tiny_clip.checkpoint_path), "--jobs", "1"]


def state(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file's mtime and bytes: what 'touched nothing' means."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def libraries() -> list[dict]:
    return [lib for entry in json.loads(photobrain("libraries", "--json").stdout) for lib in entry["libraries"]]


def ai_tags(path: Path) -> list[str]:
    return sorted(t["path"] for t in summarize(read_metadata(path)).to_dict()["ai_tags"])


def view(image: Path) -> dict:
    """What photo managers and photobrain read of an image, its dates and path aside."""
    data = summarize(read_metadata(image)).to_dict()
    data["ai_tags"] = [{k: v for k, v in t.items() if k != "date"} for t in data["ai_tags"]]
    return data | {"path": None}


@pytest.fixture
def tagged(tmp_path: Path, tiny_clip) -> Path:
    """A library tagged with a non-default model, write mode, sidecar naming, keyword root and threshold."""
    library = make_library(tmp_path / "lib")
    photobrain("tag", str(library), *model_args(tiny_clip), "--write", "sidecar", "--sidecar-name", "both",
               "--root", "Auto", "--threshold", "0.05", "-q")
    return library


def test_the_first_tag_records_the_library_and_its_profile(tagged, tiny_clip):
    (library,) = libraries()
    assert library["root"] == str(tagged)
    profile = library["profile"]
    assert (profile["model"], profile["pretrained"]) == (str(tiny_clip.config_path), str(tiny_clip.checkpoint_path))
    assert profile["model_source"] == f"checkpoint file {tiny_clip.checkpoint_path}"
    assert len(profile["model_fingerprint"]) == 16
    assert {k: profile[k] for k in ("write", "sidecar_name", "keyword_root", "threshold", "max_tags", "brain", "vocab")} == {
        "write": "sidecar", "sidecar_name": "both", "keyword_root": "Auto", "threshold": 0.05, "max_tags": 10,
        "brain": "local", "vocab": None}
    assert library["counts"] == {"ok": len(PICKED), "failed": 0, "missing": 0}
    assert library["last_summary"]["tagged"] == len(PICKED)


def test_search_similar_and_status_need_only_a_path(tagged, tiny_clip):
    photo = tagged / PICKED[0]
    similar = json.loads(photobrain("similar", str(photo), "--json", "--cutoff", "-99").stdout)
    assert similar["model"].startswith("clip:photobrain-tiny-test/")
    assert {Path(h["path"]).name for h in similar["hits"]} == {Path(p).name for p in PICKED[1:]}
    found = json.loads(photobrain("search", "a boat", "--in", str(tagged / "landscapes"), "--json", "--cutoff",
                                  "-99").stdout)
    assert found["model"] == similar["model"]
    assert {Path(h["path"]).parent.name for h in found["hits"]} == {"landscapes"}
    around = json.loads(photobrain("search", "a boat", "--in", str(tagged.parent), "--json", "--cutoff", "-99").stdout)
    assert around["model"] == similar["model"] and len(around["hits"]) == len(PICKED)  # a folder holding the library
    anywhere = json.loads(photobrain("search", "a boat", "--json", "--cutoff", "-99").stdout)
    assert anywhere["model"] == similar["model"]  # the model the library was last tagged with
    status = json.loads(photobrain("status", str(photo), "--json").stdout)
    assert [lib["root"] for lib in status["libraries"]] == [str(tagged)]


def test_retag_and_tag_with_no_change_touch_no_file(tagged):
    before = state(tagged)
    photobrain("retag", str(tagged))
    photobrain("retag")  # every library
    photobrain("tag", str(tagged / "landscapes"))
    photobrain("retag", str(tagged), "--threshold", "0.05", "--write", "sidecar")  # the recorded values, given again
    assert state(tagged) == before


@pytest.mark.parametrize("mode", ["embed", "sidecar"])
def test_a_retag_that_changes_no_tag_writes_no_file(tmp_path, tiny_clip, mode):
    library = make_library(tmp_path / "lib")
    photobrain("tag", str(library), *model_args(tiny_clip), "--write", mode, "--threshold", "0.05", "-q")
    before = state(library)
    result = json.loads(photobrain("retag", str(library), "--threshold", "0.3", "--json").stdout)
    assert result["files"] and all(f["status"] != "failed" for f in result["files"])
    after = state(library)
    for outcome in result["files"]:
        image = Path(outcome["path"])
        if not outcome["added"] and not outcome["removed"]:  # this image's tags did not change: none of its files did
            mine = [name for name in before if name.startswith(str(image.relative_to(library)))]
            assert mine and all(after.get(name) == before[name] for name in mine), image
    assert any(f["removed"] for f in result["files"])  # and the threshold did take tags away elsewhere


def test_untag_and_serve_need_only_a_path_and_the_profile_says_where_tags_go(tagged):
    photo = tagged / PICKED[0]
    originals = {name: data for name, data in state(tagged).items() if not name.endswith(".xmp")}
    out = photobrain("untag", str(tagged / "landscapes"))
    assert "untagged 2" in out.stdout
    assert ai_tags(photo) == []
    photobrain("tag", str(tagged), "-q")  # writes them again, where the profile says: both sidecars, root Auto
    tags = ai_tags(photo)
    assert tags and all(t.startswith("Auto/") for t in tags)
    assert photo.with_name(photo.name + ".xmp").is_file() and photo.with_suffix(".xmp").is_file()
    assert {name: data for name, data in state(tagged).items() if not name.endswith(".xmp")} == originals

    service = subprocess.Popen([sys.executable, "-m", "sidecar", "serve", str(photo)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        ready = ""
        while "listening" not in ready:
            ready = service.stderr.readline()  # type: ignore[union-attr]
            assert ready or service.poll() is None, "serve ended before it was ready"
        answer = json.loads(photobrain("similar", str(photo), "--json", "--cutoff", "-99").stdout)
        assert answer["served_by"] == "service" and answer["model"].startswith("clip:photobrain-tiny-test/")
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=30)


def test_a_changed_mode_naming_or_root_is_refused_before_anything_is_written(tagged):
    before, profile = state(tagged), libraries()[0]["profile"]
    for change in (["--write", "embed"], ["--sidecar-name", "ext"], ["--root", "Other"]):
        for command in ("retag", "tag"):
            out = photobrain(command, str(tagged), *change, check=False)
            assert out.returncode == 1 and "--migrate" in out.stderr, out.stderr
            assert f"error: {tagged}: this library's tags live in name.ext.xmp and name.xmp sidecars" in out.stderr
    assert state(tagged) == before and libraries()[0]["profile"] == profile


def test_a_migration_from_embed_to_sidecar_matches_untag_then_a_fresh_sidecar_run(tmp_path, tiny_clip):
    migrated, reference = make_library(tmp_path / "a" / "lib"), make_library(tmp_path / "b" / "lib")
    for library in (migrated, reference):
        photobrain("tag", str(library), *model_args(tiny_clip), "--write", "embed", "--threshold", "0.05", "-q")
    out = photobrain("retag", str(migrated), "--write", "sidecar", "--migrate")
    assert f"moving the tags of {migrated} from embedded in the images" in out.stderr
    # the reference: untag, then a sidecar run in a catalog of its own
    photobrain("untag", str(reference))
    photobrain("tag", str(reference), *model_args(tiny_clip), "--write", "sidecar", "--threshold", "0.05",
               "--catalog", str(tmp_path / "fresh.db"), "-q")
    got, want = state(migrated), state(reference)
    assert sorted(got) == sorted(want)
    for name in got:
        if name.endswith(".xmp"):  # the same tags, scores, provenance and copied properties (dates aside)
            assert view(migrated / name[:-4]) == view(reference / name[:-4]), name
        else:  # the originals exactly as untag leaves them
            assert got[name][1] == want[name][1], name
    assert libraries()[0]["profile"]["write"] == "sidecar"
    before = state(migrated)
    photobrain("retag", str(migrated))
    assert state(migrated) == before


def test_a_migration_to_embed_refuses_when_files_cannot_hold_embedded_xmp(tmp_path, tiny_clip):
    library = make_library(tmp_path / "lib", [PICKED[0], "plants/yellow flower.heic"])
    photobrain("tag", str(library), *model_args(tiny_clip), "--write", "sidecar", "--threshold", "0.05", "-q")
    before = state(library)
    out = photobrain("retag", str(library), "--write", "embed", "--migrate", check=False)
    assert out.returncode == 1 and "yellow flower.heic" in out.stderr and "--write auto" in out.stderr
    assert state(library) == before


def test_two_libraries_in_one_catalog_keep_their_own_profiles(tmp_path, tiny_clip):
    one, two = make_library(tmp_path / "one", PICKED[:2]), make_library(tmp_path / "two", PICKED[2:4])
    photobrain("tag", str(one), *model_args(tiny_clip), "--write", "sidecar", "--root", "One", "--threshold", "0.05")
    photobrain("tag", str(two), *model_args(tiny_clip), "--write", "embed", "--root", "Two", "--threshold", "0.1",
               "--max-tags", "3")
    assert {lib["root"]: (lib["profile"]["write"], lib["profile"]["keyword_root"], lib["profile"]["max_tags"])
            for lib in libraries()} == {str(one): ("sidecar", "One", 10), str(two): ("embed", "Two", 3)}
    before = state(one), state(two)
    photobrain("retag")
    assert (state(one), state(two)) == before
    shutil.copy2(SAMPLES / PICKED[4], one / "new.jpg")
    shutil.copy2(SAMPLES / PICKED[4], two / "new.jpg")
    photobrain("tag", str(one), str(two), "-q")  # one command, each library its own way
    assert (one / "new.jpg").read_bytes() == (SAMPLES / PICKED[4]).read_bytes()
    assert all(t.startswith("One/") for t in ai_tags(one / "new.jpg")) and (one / "new.jpg.xmp").is_file()
    embedded = ai_tags(two / "new.jpg")
    assert embedded and all(t.startswith("Two/") for t in embedded) and len(embedded) <= 3
    assert not (two / "new.jpg.xmp").exists()


def test_a_moved_library_keeps_its_profile_and_makes_no_model_call(tagged, tmp_path):
    moved = tmp_path / "renamed library"
    tagged.rename(moved)
    before = state(moved)
    out = photobrain("tag", str(moved), "--json")
    assert f"{moved} is the library that was at {tagged}" in out.stderr
    result = json.loads(out.stdout)
    assert result["embedded"] == 0 and result["summary"]["unchanged"] == len(PICKED)
    assert "preparing the vocabulary" not in out.stderr
    assert state(moved) == before
    (library,) = libraries()
    assert library["root"] == str(moved) and library["profile"]["keyword_root"] == "Auto"
    assert library["counts"] == {"ok": len(PICKED), "failed": 0, "missing": 0}


def test_a_path_in_no_library_gets_an_error_naming_photobrain_tag(tagged, tmp_path):
    outside = make_library(tmp_path / "elsewhere", ["plants/red flower.jpg"]) / "plants/red flower.jpg"
    for args in (["similar", str(outside)], ["search", "dog", "--in", str(outside.parent)], ["retag", str(outside)]):
        out = photobrain(*args, check=False)
        assert out.returncode == 1, out.stderr
        assert f"error: {outside if args[0] != 'search' else outside.parent}: this is in no photobrain library" in out.stderr
        assert "photobrain tag" in out.stderr


def test_weights_the_library_was_tagged_with_are_named_when_gone(tagged, tiny_clip, tmp_path):
    checkpoint = tiny_clip.checkpoint_path
    kept = tmp_path / "kept.pt"
    shutil.move(checkpoint, kept)
    try:
        out = photobrain("retag", str(tagged), "--threshold", "0.2", check=False)
    finally:
        shutil.move(kept, checkpoint)
    assert out.returncode == 1
    assert f"the library {tagged} was tagged with clip:photobrain-tiny-test/" in out.stderr
    assert f"checkpoint file {checkpoint}" in out.stderr and "--pretrained" in out.stderr


def test_tag_of_a_folder_around_libraries_tagged_alike_takes_them_over(tmp_path, tiny_clip):
    top = tmp_path / "photos"
    first, second = make_library(top / "2023", PICKED[:2]), make_library(top / "2024", PICKED[2:4])
    for library in (first, second):
        photobrain("tag", str(library), *model_args(tiny_clip), "--write", "sidecar", "--root", "Auto")
    before = state(top)
    out = photobrain("tag", str(top))
    assert "new library" in out.stderr and "taking over" in out.stderr
    assert state(top) == before  # tagged as they were: nothing to write
    (library,) = libraries()
    assert library["root"] == str(top) and library["profile"]["write"] == "sidecar"


def test_settings_precedence_flag_then_library_then_config_then_default(tmp_path):
    from sidecar.settings import Config, resolve_settings

    config = Config(tmp_path / "config.toml", {"threshold": 0.4, "write": "sidecar", "jobs": 3, "keyword_root": "C"})
    profile = {"threshold": 0.2, "keyword_root": "L", "model": "ViT-S-32", "pretrained": "/w/my.pt", "jobs": 9}
    settings = resolve_settings({"keyword_root": "F"}, profile, config, catalog=tmp_path / "c.db")
    assert (settings.keyword_root, settings.threshold, settings.write, settings.jobs, settings.max_tags) == (
        "F", 0.2, "sidecar", 3, 10)  # a profile records how a library is tagged, never a machine's --jobs
    assert dict(settings.origin)["threshold"] == "library" and dict(settings.origin)["max_tags"] == "default"
    # the model and its weights are one choice: a flag naming only the model does not take the profile's weights
    other = resolve_settings({"model": "ViT-B-32"}, profile, config, catalog=tmp_path / "c.db")
    assert (other.model, other.pretrained) == ("ViT-B-32", None)


def test_a_bad_config_value_is_named_with_its_file(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('write = "everywhere"\n')
    monkeypatch.setenv("PHOTOBRAIN_CONFIG", str(config))
    out = photobrain("search", "dog", check=False)
    assert out.returncode == 1
    assert f"error: {config}: write = 'everywhere': expected one of embed, sidecar, auto, none" in out.stderr


def test_similar_finds_the_library_of_a_photo_moved_since_it_was_tagged(tagged, tmp_path):
    moved = tmp_path / "moved"
    tagged.rename(moved)
    before = state(moved)
    answer = json.loads(photobrain("similar", str(moved / PICKED[0]), "--json", "--cutoff", "-99").stdout)
    assert answer["model"].startswith("clip:photobrain-tiny-test/")  # the library's model, found by image data
    assert len(answer["hits"]) == len(PICKED) - 1
    assert state(moved) == before


def test_a_library_tagged_into_another_catalog_is_found_from_a_path_alone(tmp_path, tiny_clip):
    library = make_library(tmp_path / "lib", PICKED[:3])
    catalog = tmp_path / "elsewhere" / "my.db"
    photobrain("tag", str(library), *model_args(tiny_clip), "--catalog", str(catalog), "--threshold", "0.05", "-q")
    answer = json.loads(photobrain("similar", str(library / PICKED[0]), "--json", "--cutoff", "-99").stdout)
    assert answer["model"].startswith("clip:photobrain-tiny-test/") and len(answer["hits"]) == 2
    assert [entry["catalog"] for entry in json.loads(photobrain("libraries", "--json").stdout)
            if entry["libraries"]] == [str(catalog)]
    shutil.copy2(SAMPLES / PICKED[3], library / "new.webp")
    result = json.loads(photobrain("tag", str(library), "--json").stdout)  # new photos go to that catalog too
    assert result["summary"]["tagged"] == 1
    assert not (Path(os.environ["XDG_DATA_HOME"]) / "photobrain" / "catalog.db").exists()  # no second catalog
