from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
sys.path.insert(0, str(Path(__file__).resolve().parent))

FIXED_NOW = "2026-01-02T03:04:05+00:00"


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
