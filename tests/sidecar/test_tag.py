"""photobrain tag end to end: the tiny CLIP model, real files, real XMP, the real catalog."""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SAMPLES, exiftool

from index.catalog import Catalog
from sidecar.tagger import TagOptions, run_tag
from xmp import content_hash, read_metadata, summarize


@pytest.fixture
def env(tmp_path: Path, monkeypatch, tiny_clip):
    """An isolated user: own cache and config, and the tiny model passed as a user passes a checkpoint."""
    monkeypatch.setenv("PHOTOBRAIN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PHOTOBRAIN_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.delenv("PHOTOBRAIN_CATALOG", raising=False)
    return tmp_path


def options(library: Path, tiny_clip, catalog: Path, **overrides) -> TagOptions:
    settings = dict(paths=(library,), catalog=catalog, model=str(tiny_clip.config_path),
                    pretrained=str(tiny_clip.checkpoint_path), threshold=0.05, jobs=1)
    settings.update(overrides)
    return TagOptions(**settings)


def cli(*args: str, env_dir: Path, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PHOTOBRAIN_CACHE": str(env_dir / "cache"), "PHOTOBRAIN_CONFIG": str(env_dir / "none.toml"),
           **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "sidecar", *args], capture_output=True, text=True, env=env)


def model_args(tiny_clip) -> list[str]:
    return ["--model", str(tiny_clip.config_path), "--pretrained", str(tiny_clip.checkpoint_path)]


def test_tags_every_sample_and_writes_xmp_that_matches_the_catalog(env, library, tiny_clip):
    catalog = env / "catalog.db"
    result = run_tag(options(library, tiny_clip, catalog))
    images = [p for p in library.rglob("*") if p.is_file() and p.suffix not in (".md", ".xmp")]
    assert result.summary()["failed"] == 0
    assert result.count("tagged") == len(images) and result.embedded == len(images)
    with Catalog.open(catalog) as cat:
        assert cat.counts()["embeddings"] == len(images)
        model_id = cat.db.execute("SELECT id FROM models").fetchone()[0]
        for outcome in result.files:
            path = Path(outcome.path)
            digest = content_hash(path)
            stored = [t[0] for t in cat.tags_of(digest, model_id)]
            assert sorted(stored) == sorted(outcome.tags)
            assert outcome.tags, f"{path.name} got no tag"
            written = summarize(read_metadata(path))
            assert sorted(t["path"] for t in written.ai_tags) == sorted(outcome.tags)
            if path.suffix.lower() in (".heic",):  # not embeddable: auto mode wrote a sidecar
                assert path.with_name(path.name + ".xmp").exists()
    boats = library / "landscapes/boats at evening glow.jpg"
    tags = exiftool(boats)
    assert {"Places/England/Lake District", "Things/boats"} <= set(tags["XMP-digiKam:TagsList"])
    assert any(t.startswith("AI/") for t in tags["XMP-digiKam:TagsList"])


def test_a_second_run_reads_nothing_and_writes_nothing(env, library, tiny_clip):
    catalog = env / "catalog.db"
    run_tag(options(library, tiny_clip, catalog))
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in library.rglob("*") if p.is_file()}
    again = run_tag(options(library, tiny_clip, catalog))
    assert again.embedded == 0 and again.count("unchanged") == len(again.files)
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in library.rglob("*") if p.is_file()} == before


def test_deterministic_for_the_same_inputs(env, library, tiny_clip, tmp_path):
    first = run_tag(options(library, tiny_clip, env / "a.db", write="none"))
    second = run_tag(options(library, tiny_clip, env / "b.db", write="none"))
    assert {f.path: f.tags for f in first.files} == {f.path: f.tags for f in second.files}


def test_moved_and_duplicate_files_reuse_what_is_known(env, library, tiny_clip):
    catalog = env / "catalog.db"
    run_tag(options(library, tiny_clip, catalog))
    shutil.move(library / "animals", library / "pets")  # the user reorganises
    shutil.copy2(library / "food/fig.jpg", library / "food/fig copy.jpg")
    result = run_tag(options(library, tiny_clip, catalog))
    assert result.embedded == 0  # no model call at all
    assert result.count("moved") == len(list((library / "pets").iterdir()))
    assert [Path(f.path).name for f in result.files if f.status == "duplicate"] == ["fig copy.jpg"]
    with Catalog.open(catalog) as cat:
        missing = [str(r.path) for r in cat.iter_files() if r.status == "missing"]
        assert missing and all("/animals/" in p for p in missing)


def test_bad_files_are_reported_and_the_run_goes_on(env, library, tiny_clip):
    (library / "broken.jpg").write_bytes((SAMPLES / "food/fig.jpg").read_bytes()[:3000])
    (library / "notes.png").write_text("not a picture")
    locked = library / "city/facade.jpg"
    locked.chmod(0o444)
    result = run_tag(options(library, tiny_clip, env / "catalog.db"))
    failed = {Path(f.path).name: f.reason for f in result.failed}
    assert set(failed) == {"broken.jpg", "notes.png"}
    assert "truncated" in failed["broken.jpg"] or "decode" in failed["broken.jpg"]
    assert result.count("tagged") == len(result.files) - 2
    assert (library / "city/facade.jpg.xmp").exists()  # read-only: a sidecar instead, in auto mode
    assert locked.read_bytes() == (SAMPLES / "city/facade.jpg").read_bytes()


def test_cli_exit_status_json_and_summary(env, library, tiny_clip):
    (library / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 nope")
    out = cli("tag", str(library), *model_args(tiny_clip), "--catalog", str(env / "c.db"), "--threshold", "0.05",
              "--json", "--jobs", "2", env_dir=env)
    assert out.returncode == 1, out.stderr
    data = json.loads(out.stdout)
    assert data["summary"]["failed"] == 1 and data["summary"]["tagged"] == len(data["files"]) - 1
    assert data["embedded"] == data["summary"]["tagged"] and data["images_per_second"] > 0
    assert f"error: {library / 'broken.jpg'}:" in out.stderr
    again = cli("tag", str(library), *model_args(tiny_clip), "--catalog", str(env / "c.db"), "--threshold", "0.05",
                env_dir=env)
    assert again.returncode == 1  # the broken file still fails
    assert f"unchanged {data['summary']['tagged']}," in again.stdout


def test_dry_run_writes_nothing(env, library, tiny_clip):
    before = {p: p.read_bytes() for p in library.rglob("*") if p.is_file()}
    out = cli("tag", str(library), *model_args(tiny_clip), "--catalog", str(env / "c.db"), "--threshold", "0.05",
              "--dry-run", env_dir=env)
    assert out.returncode == 0, out.stderr
    would = [line for line in out.stdout.splitlines() if ": would write " in line]
    assert would and all("(+AI/" in line for line in would)  # each file's line says which tags it would get
    assert f"XMP would change for {len(would)} file(s)" in out.stdout
    assert {p: p.read_bytes() for p in library.rglob("*") if p.is_file()} == before
    assert not (env / "c.db").exists()
    # with an existing catalog too: a dry run after adding a file leaves the catalog as it was
    run_tag(options(library / "food", tiny_clip, env / "c.db"))
    shutil.copy2(SAMPLES / "animals/ladybird.jpg", library / "food/ladybird.jpg")
    catalog_before = (env / "c.db").read_bytes()
    result = run_tag(options(library / "food", tiny_clip, env / "c.db", dry_run=True))
    assert result.count("tagged") == 1 and result.count("unchanged") == 3
    assert (env / "c.db").read_bytes() == catalog_before
    again = run_tag(options(library / "food", tiny_clip, env / "c.db"))
    assert again.count("tagged") == 1 and again.embedded == 1  # the dry run recorded nothing


def test_a_photo_the_model_has_nothing_to_say_about_gets_no_sidecar(env, library, tiny_clip):
    before = {p: p.read_bytes() for p in library.rglob("*") if p.is_file()}
    result = run_tag(options(library, tiny_clip, env / "c.db", write="sidecar", threshold=1.0))  # no tag passes
    assert result.count("tagged") == len(before) - 1 and result.summary()["written"] == 0
    assert {p: p.read_bytes() for p in library.rglob("*") if p.is_file()} == before  # no empty sidecar anywhere
    # and once a photo had AI tags, taking them all away does write (the sidecar keeps what it held besides)
    run_tag(options(library / "food", tiny_clip, env / "c.db", write="sidecar", threshold=0.05))
    sidecars = sorted((library / "food").glob("*.xmp"))
    assert sidecars
    result = run_tag(options(library / "food", tiny_clip, env / "c.db", write="sidecar", threshold=1.0))
    assert result.summary()["written"] == len(sidecars)
    assert all(not summarize(read_metadata(p.with_suffix(""))).ai_tags for p in sidecars)


def test_copies_written_are_counted_as_written(env, library, tiny_clip):
    shutil.copy2(library / "food" / sorted(p.name for p in (library / "food").iterdir())[0], library / "food" / "copy.jpg")
    out = cli("tag", str(library / "food"), *model_args(tiny_clip), "--catalog", str(env / "c.db"), "--threshold",
              "0.05", "--write", "sidecar", "--json", env_dir=env)
    data = json.loads(out.stdout)
    assert data["summary"]["duplicate"] == 1
    written = [f for f in data["files"] if f["written"]]
    assert data["summary"]["written"] == len(written) == len(list((library / "food").glob("*.xmp")))
    assert any(f["status"] == "duplicate" for f in written)  # the copy got its sidecar, and the count says so


def test_write_none_only_indexes(env, library, tiny_clip):
    before = {p: p.read_bytes() for p in library.rglob("*") if p.is_file()}
    result = run_tag(options(library, tiny_clip, env / "c.db", write="none"))
    assert result.count("tagged") == len(before) - 1  # LICENSES.md is not an image
    assert {p: p.read_bytes() for p in library.rglob("*") if p.is_file()} == before


def test_sidecar_mode_never_touches_originals(env, library, tiny_clip):
    before = {p: p.read_bytes() for p in library.rglob("*") if p.is_file()}
    run_tag(options(library, tiny_clip, env / "c.db", write="sidecar", sidecar_name="both"))
    assert {p: p.read_bytes() for p in before} == before
    assert (library / "animals/ladybird.jpg.xmp").exists() and (library / "animals/ladybird.xmp").exists()


def test_a_second_tag_on_the_same_catalog_is_refused(env, library, tiny_clip):
    with Catalog.open(env / "c.db"):
        out = cli("tag", str(library), *model_args(tiny_clip), "--catalog", str(env / "c.db"), env_dir=env)
    assert out.returncode == 1
    assert "catalog is in use" in out.stderr and "--catalog" in out.stderr


@pytest.mark.parametrize("offline", ["HF_HUB_OFFLINE", "no network"])
def test_missing_weights_stop_before_any_file_is_touched(env, library, offline):
    before = {p: p.read_bytes() for p in library.rglob("*") if p.is_file()}
    if offline == "HF_HUB_OFFLINE":
        extra = {"HF_HUB_OFFLINE": "1"}
    else:
        (env / "guard").mkdir()
        (env / "guard" / "sitecustomize.py").write_text(GUARD)
        extra = {"PYTHONPATH": str(env / "guard"), "PHOTOBRAIN_TEST_SOCKET_LOG": str(env / "sockets.log")}
    out = cli("tag", str(library), "--catalog", str(env / "c.db"), env_dir=env, extra_env=extra)
    assert out.returncode == 1
    assert "photobrain models pull" in out.stderr and "--pretrained FILE" in out.stderr
    assert {p: p.read_bytes() for p in library.rglob("*") if p.is_file()} == before
    assert not (env / "c.db").exists()


GUARD = """
import socket, os
_log = os.environ["PHOTOBRAIN_TEST_SOCKET_LOG"]
def _refuse(self, address, *a, **k):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        with open(_log, "a") as fh:
            fh.write(f"{os.getpid()} {address}\\n")
        raise OSError("network access blocked by the test")
    return _real(self, address, *a, **k)
_real = socket.socket.connect
socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
"""


def test_tagging_opens_no_network_connection_once_weights_are_local(env, library, tiny_clip):
    guard = env / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(GUARD)  # loaded by every Python process, workers included
    log = env / "sockets.log"
    # --brain local (the default, named here), even with a cloud key in the environment
    out = cli("tag", str(library), *model_args(tiny_clip), "--catalog", str(env / "c.db"), "--jobs", "2",
              "--brain", "local", env_dir=env, extra_env={"PYTHONPATH": str(guard), "PHOTOBRAIN_TEST_SOCKET_LOG": str(log),
                                                          "GEMINI_API_KEY": "a-key-that-must-not-be-used"})
    assert out.returncode == 0, out.stderr
    assert "tagged" in out.stdout
    assert not log.exists(), log.read_text()
    # the guard itself works: it records an attempt
    probe = subprocess.run([sys.executable, "-c", "import socket; socket.create_connection(('127.0.0.1', 9))"],
                           env={**os.environ, "PYTHONPATH": str(guard), "PHOTOBRAIN_TEST_SOCKET_LOG": str(log)},
                           capture_output=True)
    assert probe.returncode != 0 and log.exists()


def test_a_run_killed_mid_batch_resumes_without_damage(env, library, tiny_clip):
    catalog = env / "c.db"
    hashes = {p: content_hash(p) for p in library.rglob("*") if p.is_file() and p.suffix not in (".md",)}
    child = subprocess.Popen([sys.executable, "-m", "sidecar", "tag", str(library), *model_args(tiny_clip),
                              "--catalog", str(catalog), "--jobs", "1", "--threshold", "0.05", "-q"],
                             env={**os.environ, "PHOTOBRAIN_CACHE": str(env / "cache"),
                                            "PHOTOBRAIN_CONFIG": str(env / "none.toml")},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    done = 0
    while time.monotonic() < deadline and done < 10:  # wait for a few committed files, then pull the plug
        time.sleep(0.05)
        try:
            with sqlite3.connect(f"file:{catalog}?mode=ro", uri=True) as db:
                done = db.execute("SELECT count(*) FROM files").fetchone()[0]
        except sqlite3.Error:
            pass
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    assert 0 < done < len(hashes), "the kill should land mid-run"
    for path, digest in hashes.items():  # every image is intact
        assert content_hash(path) == digest
        read_metadata(path)
    result = run_tag(options(library, tiny_clip, catalog))
    assert result.summary()["failed"] == 0
    assert result.count("unchanged") >= done - 16  # at most the batch in flight is redone
    for path in hashes:
        assert summarize(read_metadata(path)).ai_tags, f"{path} has no AI tags after the resumed run"


def test_models_list_and_pull_without_network(env):
    listed = cli("models", "list", "--json", env_dir=env)
    assert listed.returncode == 0 and json.loads(listed.stdout) == {
        "default": "ViT-B-32-256/datacomp_s34b_b86k", "cached": []}
    assert "models pull" in cli("models", "list", env_dir=env).stdout
    (env / "guard").mkdir()
    (env / "guard" / "sitecustomize.py").write_text(GUARD)
    pulled = cli("models", "pull", env_dir=env, extra_env={"PYTHONPATH": str(env / "guard"),
                                                           "PHOTOBRAIN_TEST_SOCKET_LOG": str(env / "s.log")})
    assert pulled.returncode == 1
    assert "cannot reach huggingface.co to download the weights" in pulled.stderr and "--pretrained FILE" in pulled.stderr


def test_the_config_file_sets_defaults_and_options_win(env, library, tiny_clip):
    (env / "config.toml").write_text(f'model = "{tiny_clip.config_path}"\npretrained = "{tiny_clip.checkpoint_path}"\n'
                                     'write = "sidecar"\nthreshold = 0.05\n')
    extra = {"PHOTOBRAIN_CONFIG": str(env / "config.toml")}
    out = cli("tag", str(library / "food"), "--catalog", str(env / "c.db"), "--json", env_dir=env, extra_env=extra)
    assert out.returncode == 0, out.stderr
    assert (library / "food/fig.jpg.xmp").exists()  # write = "sidecar" from the config file
    out = cli("tag", str(library / "plants"), "--catalog", str(env / "c.db"), "--write", "none", env_dir=env,
              extra_env=extra)
    assert out.returncode == 0 and not list((library / "plants").glob("*.xmp"))  # the option wins
    (env / "config.toml").write_text('colour = "blue"\n')
    bad = cli("tag", str(library), env_dir=env, extra_env=extra)
    assert bad.returncode == 1 and f"error: {env / 'config.toml'}: unknown setting 'colour'" in bad.stderr


def test_temporary_files_an_interrupted_write_left_are_cleaned_up(env, library, tiny_clip):
    folder = library / "plants"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    killed = folder / f".dandelions.jpg.{int(gone.stdout)}-0123abcd.photobrain-tmp"  # its process died: at once
    writing = folder / f".fallen leaf.jpg.{os.getpid()}-0123abcd.photobrain-tmp"  # a live run's, old mtime or not
    stale = folder / ".dandelions.jpg.0123abcd.photobrain-tmp"  # an earlier version's (no process id), hours old
    fresh = folder / ".red flower.jpg.89abcdef.photobrain-tmp"  # another run may be writing it right now
    users = folder / ".dandelions.jpg.notes"
    for path in (killed, writing, stale, fresh, users):
        path.write_bytes(b"\xff\xd8 partial copy")
    hours_ago = time.time() - 2 * 3600
    for path in (stale, users, writing):
        os.utime(path, (hours_ago, hours_ago))
    dry = run_tag(options(library, tiny_clip, env / "catalog.db", dry_run=True), log=lambda m: None)
    assert dry.cleaned == 0 and stale.exists() and killed.exists()
    result = run_tag(options(library, tiny_clip, env / "catalog.db"), log=lambda m: None)
    assert result.cleaned == 2
    assert not stale.exists() and not killed.exists()
    assert fresh.exists() and users.exists() and writing.exists()


CRASHER = """
import os, signal
_open = os.open
def _open_or_crash(file, *args, **kwargs):
    if "crash-me" in os.fsdecode(file):
        os.kill(os.getpid(), signal.SIGSEGV)  # what a decoder crash on damaged data does to a worker
    return _open(file, *args, **kwargs)
os.open = _open_or_crash
"""


def test_a_file_that_kills_its_worker_fails_alone_and_the_batch_goes_on(env, library, tiny_clip):
    guard = env / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(CRASHER)
    shutil.copy2(library / "animals/ladybird.jpg", library / "food/crash-me.jpg")  # mid-library, in a full batch
    images = [p for p in library.rglob("*") if p.is_file() and p.suffix not in (".md",)]
    out = cli("tag", str(library), *model_args(tiny_clip), "--catalog", str(env / "c.db"), "--jobs", "2", "--json",
              "--write", "none", env_dir=env, extra_env={"PYTHONPATH": str(guard)})
    assert out.returncode == 1, out.stderr
    result = json.loads(out.stdout)
    failed = [f for f in result["files"] if f["status"] == "failed"]
    assert [Path(f["path"]).name for f in failed] == ["crash-me.jpg"]
    assert "worker process died reading this file" in failed[0]["reason"]
    assert "crash-me.jpg" in out.stderr
    assert result["summary"]["tagged"] + result["summary"]["duplicate"] == len(images) - 1
