from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
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


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A private copy of samples/ that a test may change."""
    target = tmp_path / "library"
    shutil.copytree(SAMPLES, target, ignore=shutil.ignore_patterns("*.xmp"))  # the main job's sidecars
    return target


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    import tiny_clip as tc

    return tc.build(tmp_path_factory.mktemp("tiny-clip"))


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
