"""photobrain retag: new tags from stored embeddings, exact rewrites, the user's edits respected."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLES

from index.catalog import Catalog
from sidecar.tagger import TagOptions, run_tag
from xmp import read_metadata, summarize

PLANTS = "plants"


@pytest.fixture
def env(tmp_path: Path, monkeypatch, tiny_clip):
    monkeypatch.setenv("PHOTOBRAIN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PHOTOBRAIN_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.delenv("PHOTOBRAIN_CATALOG", raising=False)
    library = tmp_path / "library"
    shutil.copytree(SAMPLES / PLANTS, library / PLANTS)
    shutil.copytree(SAMPLES / "animals", library / "animals")
    return tmp_path


def options(env: Path, tiny_clip, **overrides) -> TagOptions:
    settings = dict(paths=(env / "library",), catalog=env / "catalog.db", model=str(tiny_clip.config_path),
                    pretrained=str(tiny_clip.checkpoint_path), threshold=0.05, jobs=1, write="sidecar")
    settings.update(overrides)
    return TagOptions(**settings)


def retag(env: Path, tiny_clip, **overrides):
    return run_tag(options(env, tiny_clip, paths=(), catalogued_only=True, **overrides), log=lambda m: None)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))
            if p.is_file()}


def ai_tags(image: Path, root: str = "AI") -> set[str]:
    return {t["path"] for t in summarize(read_metadata(image)).ai_tags if t["path"].startswith(root + "/")}


def images(env: Path) -> list[Path]:
    return sorted(p for p in (env / "library").rglob("*") if p.is_file() and p.suffix != ".xmp")


def test_retag_scores_stored_embeddings_and_rewrites_only_files_whose_tags_change(env, tiny_clip):
    run_tag(options(env, tiny_clip), log=lambda m: None)
    before = snapshot(env / "library")
    tags_before = {p: ai_tags(p) for p in images(env)}
    result = retag(env, tiny_clip, threshold=0.2)
    assert result.embedded == 0  # no image decoded: the stored embeddings were scored
    after = snapshot(env / "library")
    changed = {name for name in after if before.get(name) != after[name]}
    written = {str(Path(t).relative_to(env / "library")) for f in result.files for t in f.written}
    assert changed == written and changed  # exactly the files whose tags changed were rewritten
    for image in images(env):
        assert ai_tags(image) <= tags_before[image]  # a higher threshold only removes tags
        if str(image.relative_to(env / "library")) + ".xmp" not in changed:
            assert ai_tags(image) == tags_before[image]
    with Catalog.open(env / "catalog.db") as catalog:
        for outcome in result.files:
            digest = catalog.db.execute("SELECT hash FROM files WHERE path = ?",
                                        (os.fsencode(outcome.path),)).fetchone()[0]
            stored = {p for p, _, _ in catalog.tags_of(digest, 1)}
            assert stored == set(outcome.tags)


def test_a_retag_that_changes_nothing_writes_no_file(env, tiny_clip):
    run_tag(options(env, tiny_clip), log=lambda m: None)
    before = snapshot(env / "library")
    result = retag(env, tiny_clip)
    assert result.summary()["unchanged"] == len(images(env)) and result.embedded == 0
    assert snapshot(env / "library") == before
    # new settings that happen to give the same tags write nothing either
    result = retag(env, tiny_clip, threshold=0.0500001)
    assert all(not f.written for f in result.files)
    assert snapshot(env / "library") == before
    # and say so: nothing was tagged anew, nothing written (it used to report every file as "tagged")
    summary = result.summary()
    assert summary["tagged"] == 0 and summary["written"] == 0 and summary["unchanged"] == len(images(env))


def test_a_tag_the_user_deleted_stays_deleted(env, tiny_clip):
    run_tag(options(env, tiny_clip), log=lambda m: None)
    image = env / "library" / PLANTS / "dandelions.jpg"
    victim = sorted(ai_tags(image))[-1]  # a deepest tag: a leaf
    parts = victim.split("/")
    subprocess.run(["exiftool", "-q", "-overwrite_original", f"-XMP-lr:HierarchicalSubject-={'|'.join(parts)}",
                    f"-XMP-digiKam:TagsList-={victim}", f"-XMP-dc:Subject-={parts[-1]}", str(image) + ".xmp"],
                   check=True)
    result = retag(env, tiny_clip, threshold=0.01, max_tags=40)  # more eager: would bring it back
    assert result.embedded == 0
    assert victim not in ai_tags(image)
    assert victim in summarize(read_metadata(image)).rejected


def test_a_tag_the_user_moved_out_of_the_ai_root_becomes_theirs(env, tiny_clip):
    run_tag(options(env, tiny_clip), log=lambda m: None)
    image = env / "library" / PLANTS / "dandelions.jpg"
    moved = sorted(ai_tags(image))[-1]
    parts = moved.split("/")
    mine = f"Mine|{parts[-1]}"
    subprocess.run(["exiftool", "-q", "-overwrite_original", f"-XMP-lr:HierarchicalSubject-={'|'.join(parts)}",
                    f"-XMP-lr:HierarchicalSubject+={mine}", f"-XMP-digiKam:TagsList-={moved}",
                    f"-XMP-digiKam:TagsList+=Mine/{parts[-1]}", str(image) + ".xmp"], check=True)
    retag(env, tiny_clip, threshold=0.01, max_tags=40)
    summary = summarize(read_metadata(image))
    assert f"Mine/{parts[-1]}" in summary.user_hierarchy
    assert moved not in ai_tags(image)


def test_renaming_the_root_moves_every_ai_tag_in_one_retag(env, tiny_clip):
    run_tag(options(env, tiny_clip), log=lambda m: None)
    before = {p: ai_tags(p) for p in images(env)}
    result = retag(env, tiny_clip, root="Auto")
    assert result.embedded == 0 and not result.failed
    for image, tags in before.items():
        assert ai_tags(image) == set()
        assert ai_tags(image, "Auto") == {"Auto/" + t.split("/", 1)[1] for t in tags}
        hierarchy = read_metadata(image).sources[-1].hierarchical or []
        assert not [h for h in hierarchy if h.startswith("AI|")]


def test_another_model_embeds_again_and_keeps_the_old_embeddings(env, tiny_clip, tmp_path_factory):
    import tiny_clip as tc

    run_tag(options(env, tiny_clip), log=lambda m: None)
    other = tc.build(tmp_path_factory.mktemp("other-model"), seed=99)
    result = retag(env, tiny_clip, pretrained=str(other.checkpoint_path))
    count = len(images(env))
    assert result.embedded == count and not result.failed
    with Catalog.open(env / "catalog.db") as catalog:
        models = catalog.db.execute("SELECT id FROM models").fetchall()
        assert len(models) == 2
        assert all(catalog.embedding_count(m) == count for (m,) in models)


def test_dry_run_shows_differences_by_file_and_by_tag_and_writes_nothing(env, tiny_clip):
    tagged = subprocess.run([sys.executable, "-m", "sidecar", "tag", str(env / "library"), "--catalog",
                             str(env / "catalog.db"), "--model", str(tiny_clip.config_path), "--pretrained",
                             str(tiny_clip.checkpoint_path), "--write", "sidecar", "--threshold", "0.05", "--jobs", "1"],
                            capture_output=True, text=True)
    assert tagged.returncode == 0, tagged.stderr
    before = snapshot(env / "library"), (env / "catalog.db").read_bytes()
    out = subprocess.run([sys.executable, "-m", "sidecar", "retag", "--catalog", str(env / "catalog.db"),
                          "--model", str(tiny_clip.config_path), "--pretrained", str(tiny_clip.checkpoint_path),
                          "--write", "sidecar", "--threshold", "0.3", "--dry-run", "--json"],
                         capture_output=True, text=True,
                         env={**os.environ, "PHOTOBRAIN_CACHE": str(env / "cache"),
                              "PHOTOBRAIN_CONFIG": str(env / "none.toml")})
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    removed = [t for f in data["files"] for t in f["removed"]]
    assert removed and not [t for f in data["files"] for t in f["added"]]
    assert {tag: n["removed"] for tag, n in data["changes_by_tag"].items()} == {t: removed.count(t) for t in set(removed)}
    assert (snapshot(env / "library"), (env / "catalog.db").read_bytes()) == before  # no XMP, no catalog written


def test_new_files_are_skipped_and_left_to_tag(env, tiny_clip):
    run_tag(options(env, tiny_clip, paths=(env / "library" / PLANTS,)), log=lambda m: None)
    result = run_tag(options(env, tiny_clip, catalogued_only=True, threshold=0.3), log=lambda m: None)
    skipped = {Path(f.path).parent.name for f in result.files if f.status == "skipped"}
    assert skipped == {"animals"} and result.embedded == 0
    assert not list((env / "library" / "animals").glob("*.xmp"))


def test_a_partly_failed_retag_is_finished_by_running_it_again(env, tiny_clip):
    (env / "library" / PLANTS / "yellow flower.heic").unlink()  # HEIC gets sidecars: embedding only here
    run_tag(options(env, tiny_clip, write="embed", paths=(env / "library" / PLANTS,)), log=lambda m: None)
    locked = env / "library" / PLANTS / "dandelions.jpg"
    locked.chmod(0o444)
    first = retag(env, tiny_clip, write="embed", threshold=0.2)
    assert [Path(f.path).name for f in first.failed] == ["dandelions.jpg"]
    assert "read-only" in first.failed[0].reason
    done = {f.path for f in first.files if f.status == "tagged"}
    locked.chmod(0o644)
    second = retag(env, tiny_clip, write="embed", threshold=0.2)
    # the failed file is done now: written if its tags changed, else counted unchanged (nothing was written)
    status = {Path(f.path).name: (f.status, bool(f.written)) for f in second.files}
    assert status["dandelions.jpg"] in (("tagged", True), ("unchanged", False))
    assert {f.path for f in second.files if Path(f.path).name != "dandelions.jpg"} == done
    assert all(f.status == "unchanged" for f in second.files if f.path in done)
    assert not second.failed and second.embedded == 0
    third = retag(env, tiny_clip, write="embed", threshold=0.2)
    assert all(f.status == "unchanged" for f in third.files) and third.embedded == 0


def test_retag_after_a_vocabulary_change_rewrites_exactly_the_affected_files(env, tiny_clip):
    run_tag(options(env, tiny_clip), log=lambda m: None)
    tags = {p: ai_tags(p) for p in images(env)}
    counts: dict[str, int] = {}
    for found in tags.values():
        for t in found:
            counts[t] = counts.get(t, 0) + 1
    # a deepest tag some photos have and others do not
    victim = max((t for t, n in counts.items() if 0 < n < len(tags)),
                 key=lambda t: (t.count("/"), -abs(counts[t] - len(tags) / 2), t))
    vocab = env / "family.txt"
    vocab.write_text(f"@version family-1\n@extends builtin\n@exclude {victim.split('/', 1)[1]}\n"
                     "[family] {a photo of {}.}\ngrandma, our boat\n")
    before = snapshot(env / "library")
    result = retag(env, tiny_clip, vocab=vocab)
    assert result.embedded == 0 and not result.failed
    changed = {str(p) for p in images(env) if ai_tags(p) != tags[p]}
    assert any(victim in tags[p] for p in images(env)) and changed
    rewritten = {str(Path(t)).removesuffix(".xmp") for f in result.files for t in f.written}
    assert rewritten == changed
    after = snapshot(env / "library")
    for image in images(env):
        name = str(image.relative_to(env / "library")) + ".xmp"
        assert (after[name] != before[name]) == (str(image) in changed)
        assert victim not in ai_tags(image)


def test_the_old_models_embeddings_stay_until_pruned(env, tiny_clip, tmp_path_factory):
    import tiny_clip as tc

    from index.store import files_for

    run_tag(options(env, tiny_clip), log=lambda m: None)
    other = tc.build(tmp_path_factory.mktemp("newer-model"), seed=7)
    retag(env, tiny_clip, pretrained=str(other.checkpoint_path))
    with Catalog.open(env / "catalog.db") as catalog:
        old, new = catalog.models()
    old_id, old_fp, old_label = old.id, old.fingerprint, old.label
    new_id, new_fp, count = new.id, new.fingerprint, new.embeddings
    assert files_for(env / "catalog.db", old_fp).index.exists()
    tags_in_files = {p: ai_tags(p) for p in images(env)}

    def prune(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "sidecar", "prune", *args, "--catalog", str(env / "catalog.db")],
                              capture_output=True, text=True,
                              env={**os.environ, "PHOTOBRAIN_CONFIG": str(env / "none.toml")})

    out = prune(old_label, "--dry-run")
    assert out.returncode == 0 and f"would delete {old_label}: {count} embeddings" in out.stdout
    out = prune(old_label)
    assert out.returncode == 0 and f"deleted {old_label}: {count} embeddings" in out.stdout
    with Catalog.open(env / "catalog.db") as catalog:
        assert [m.id for m in catalog.models()] == [new_id] and catalog.embedding_count(new_id) == count
        assert not catalog.db.execute("SELECT 1 FROM tags WHERE model_id = ?", (old_id,)).fetchone()
    assert not files_for(env / "catalog.db", old_fp).index.exists()
    assert files_for(env / "catalog.db", new_fp).index.exists()
    assert {p: ai_tags(p) for p in images(env)} == tags_in_files  # the photos' XMP is not touched
    out = prune("clip:no-such-model")
    assert out.returncode == 1 and "no model 'clip:no-such-model'" in out.stderr and old_label not in out.stderr


def test_a_photo_deleted_since_tagging_is_marked_missing_not_failed(env, tiny_clip):
    run_tag(options(env, tiny_clip), log=lambda m: None)
    gone = env / "library" / PLANTS / "dandelions.jpg"
    gone.unlink()
    result = retag(env, tiny_clip, threshold=0.2)
    assert not result.failed and str(gone) not in {f.path for f in result.files}
    with Catalog.open(env / "catalog.db") as catalog:
        status = catalog.db.execute("SELECT status FROM files WHERE path = ?", (os.fsencode(gone),)).fetchone()
    assert status == ("missing",)
