from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest_plugins = ["launcher_desk"]  # the launcher's desktop and browser fixtures


def pristine_samples() -> Path:
    """A copy of samples/ as the repository has it, whatever a user did in the checkout's own.

    README's first command tags a copy, but a user may tag samples/ itself (sidecars beside the photos,
    tags embedded into them) or open it in a photo manager (its own files). Tests read this copy: tracked
    files as committed (a changed one is taken from git), untracked ones left out. Without git (an
    unpacked archive) the folder is copied without any .xmp.
    """
    import atexit
    import hashlib
    import tempfile

    source = ROOT / "samples"
    target = Path(tempfile.mkdtemp(prefix="photobrain-samples-"))
    atexit.register(shutil.rmtree, target, True)
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-s", "-z", "--", "samples"],
                            capture_output=True) if shutil.which("git") else None
    if listed is None or listed.returncode != 0 or not listed.stdout:
        shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.xmp"))
        return target
    for entry in listed.stdout.split(b"\0"):
        if not entry:
            continue
        info, name = entry.split(b"\t", 1)
        blob = info.split()[1].decode()
        path = ROOT / os.fsdecode(name)
        data = path.read_bytes() if path.is_file() else b""
        if hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() != blob:
            data = subprocess.run(["git", "-C", str(ROOT), "cat-file", "blob", blob], capture_output=True,
                                  check=True).stdout
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    return target


SAMPLES = pristine_samples()
sys.path.insert(0, str(Path(__file__).resolve().parent))

FIXED_NOW = "2026-01-02T03:04:05+00:00"


#: what a test run may leave in the checkout: caches, the virtual environment, build output
CHECKOUT_NOISE = {".git", ".venv", ".pytest_cache", ".mypy_cache", ".ruff_cache", "__pycache__", "build", "dist"}


def checkout_files() -> set[str]:
    found = set()
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in CHECKOUT_NOISE and not d.endswith(".egg-info")]
        found.update(os.path.relpath(os.path.join(folder, f), ROOT) for f in files)
    return found


@pytest.fixture(scope="session", autouse=True)
def checkout_stays_clean():
    """Nothing a test makes lands in the checkout (samples/ included): tests work in temporary folders."""
    before = checkout_files()
    yield
    added = sorted(checkout_files() - before)
    assert not added, f"tests left files in the checkout: {added[:10]}"


@pytest.fixture(autouse=True)
def isolated_user(tmp_path_factory, monkeypatch):
    """Every test runs as a fresh user (own home, config, data and cache folders) in a temporary working directory."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for variable, folder in (("XDG_CONFIG_HOME", ".config"), ("XDG_DATA_HOME", ".local/share"),
                             ("XDG_CACHE_HOME", ".cache")):
        monkeypatch.setenv(variable, str(home / folder))
    for variable in ("PHOTOBRAIN_CATALOG", "PHOTOBRAIN_CONFIG", "PHOTOBRAIN_CACHE"):
        monkeypatch.delenv(variable, raising=False)
    work = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(work)
    return home


def sample_files() -> list[Path]:
    return sorted(p for p in SAMPLES.rglob("*") if p.is_file() and p.suffix.lower() not in (".md", ".xmp"))


def sample_copies(folder: Path, names) -> Path:
    """``folder`` (made) holding copies of the named samples, side by side under their file names."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy2(SAMPLES / name, folder / Path(name).name)
    return folder


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A private copy of samples/ that a test may change."""
    target = tmp_path / "library"
    shutil.copytree(SAMPLES, target)
    return target


@pytest.fixture(scope="session")
def tiny_clip_prepared(tmp_path_factory):
    """The tiny model, and a cache holding its built-in vocabulary's text embeddings and text tower.

    Made once per session through the code path a first ``tag`` takes (``vocab_embed.concepts_for``);
    tests/sidecar/test_first_run.py runs that first run itself, with an empty cache.
    """
    import tiny_clip as tc

    model = tc.build(tmp_path_factory.mktemp("tiny-clip"))
    cache = tmp_path_factory.mktemp("tiny-clip-cache")
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(cache)
    try:
        from sidecar.brains.spec import ModelSpec
        from sidecar.vocab import load_vocabulary
        from sidecar.vocab_embed import concepts_for, ensure_tower

        spec = ModelSpec(str(model.config_path), model.checkpoint_path, "tiny")
        concepts_for(spec, spec.fingerprint(), load_vocabulary())
        assert ensure_tower(spec, spec.fingerprint())
    finally:
        if before is None:
            del os.environ["XDG_CACHE_HOME"]
        else:
            os.environ["XDG_CACHE_HOME"] = before
    return model, cache / "photobrain" / "text"


@pytest.fixture(scope="session")
def tiny_model(tiny_clip_prepared):
    """The tiny model alone, for module-wide fixtures (which run with their own cache folders)."""
    return tiny_clip_prepared[0]


@pytest.fixture
def tiny_clip(tiny_clip_prepared, isolated_user, tmp_path):
    """The tiny model, with its vocabulary already prepared in this test's own cache (as after a first run):
    the user's cache folder, and ``tmp_path/cache``, which most tests name in PHOTOBRAIN_CACHE."""
    model, text = tiny_clip_prepared
    for cache in (isolated_user / ".cache" / "photobrain", tmp_path / "cache"):
        shutil.copytree(text, cache / "text", dirs_exist_ok=True)
    return model


def exiftool(path: Path, *args: str) -> dict:
    """exiftool's JSON view of one file (``-G1``-grouped tag names)."""
    out = subprocess.run(["exiftool", "-j", "-G1", "-struct", *args, str(path)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)[0]


def exiv2_types(path: Path) -> dict[str, str]:
    """``exiv2 -pa``: key -> type name (XmpBag, XmpSeq, ...)."""
    out = subprocess.run(["exiv2", "-pa", str(path)], capture_output=True, text=True).stdout
    types = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            types[parts[0]] = parts[1]
    return types


def raw_xmp(path: Path) -> str:
    """The XMP packet exactly as stored (``exiv2 -pX``)."""
    return subprocess.run(["exiv2", "-pX", str(path)], capture_output=True, text=True, check=True).stdout
