"""The promises the repository makes to someone who just cloned it."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import ROOT, SAMPLES, exiftool, sample_files
from PIL import Image


def first_screen_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    first_screen = "\n".join(readme.splitlines()[:40])
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", first_screen, re.S)]


def test_readme_first_screen_has_exactly_two_setup_commands():
    commands = first_screen_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    main_job, tests = commands
    assert "photobrain tag samples/" in main_job
    assert "pytest" in tests


def test_ci_runs_the_readmes_test_command():
    ci = (ROOT / ".ci/run").read_text()
    assert first_screen_commands()[1] in ci.splitlines()


def test_samples_are_varied_real_photos_with_licences():
    files = sample_files()
    assert len(files) >= 15
    licences = (SAMPLES / "LICENSES.md").read_text()
    for path in files:
        assert f"| {path.relative_to(SAMPLES).as_posix()} |" in licences, f"{path} has no licence entry"
    assert sum(p.stat().st_size for p in files) < 6_000_000
    suffixes = {p.suffix.lower() for p in files}
    assert {".jpg", ".png", ".tif", ".webp", ".heic"} <= suffixes


def test_samples_include_the_hard_cases():
    info = {p.relative_to(SAMPLES).as_posix(): exiftool(p, "-Orientation#", "-ColorComponents", "-EncodingProcess",
                                                         "-Rating", "-XMP-dc:Subject", "-BitDepth")
            for p in sample_files()}
    assert any(v.get("IFD0:Orientation") == 6 for v in info.values()), "an image with EXIF orientation 6"
    assert any(v.get("File:ColorComponents") == 4 for v in info.values()), "a CMYK JPEG"
    assert any("Progressive" in str(v.get("File:EncodingProcess")) for v in info.values()), "a progressive JPEG"
    assert any(v.get("XMP-xmp:Rating") and v.get("XMP-dc:Subject") for v in info.values()), "a keyworded, rated file"
    import pillow_heif

    pillow_heif.register_heif_opener()
    modes = set()
    for path in sample_files():
        with Image.open(path) as im:
            modes.add(im.mode)
    assert {"CMYK", "P", "I;16", "L", "RGB"} <= modes


@pytest.mark.parametrize("tool", [["ruff", "check", "."], ["mypy"]])
def test_code_is_clean(tool: list[str]):
    out = subprocess.run([sys.executable, "-m", *tool], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
