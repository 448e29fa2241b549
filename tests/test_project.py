"""The promises the repository makes to someone who just cloned it."""
from __future__ import annotations

import os
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
    assert "scripts/try-samples.sh" in main_job  # it tags a copy: the checkout's samples/ stay as they came
    assert "pytest" in tests


def test_the_readmes_main_job_tags_a_copy_and_leaves_the_checkout_as_it_was(tmp_path, tiny_clip):
    def state(folder):
        return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}

    before = state(ROOT / "samples")
    wrapper = tmp_path / "photobrain"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} -m sidecar \"$@\"\n")
    wrapper.chmod(0o755)
    env = {**os.environ, "PHOTOBRAIN": str(wrapper), "PYTHONPATH": str(ROOT), "PHOTOBRAIN_CACHE": str(tmp_path / "cache"),
           "PHOTOBRAIN_CATALOG": str(tmp_path / "catalog.db"), "PHOTOBRAIN_CONFIG": str(tmp_path / "none.toml")}
    model = ["--model", str(tiny_clip.config_path), "--pretrained", str(tiny_clip.checkpoint_path), "--threshold", "0.05"]
    copy = tmp_path / "my samples"
    first = subprocess.run(["bash", str(ROOT / "scripts/try-samples.sh"), str(copy), *model], capture_output=True,
                           text=True, env=env)
    assert first.returncode == 0, first.stderr
    photos = [p for p in copy.rglob("*") if p.is_file() and p.suffix != ".xmp"]
    assert len(photos) == len(sample_files()) and list(copy.rglob("*.xmp"))
    assert f"tagged {len(photos)}," in first.stdout
    assert state(ROOT / "samples") == before  # not a byte, not a sidecar, not a timestamp
    again = subprocess.run(["bash", str(ROOT / "scripts/try-samples.sh"), str(copy), *model], capture_output=True,
                           text=True, env=env)
    assert again.returncode == 0 and f"unchanged {len(photos)}," in again.stdout and "0 sample photo(s) copied" in again.stderr


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


@pytest.mark.parametrize("busy", [2, 0])
def test_setup_waits_for_a_busy_apt_and_stops_on_any_other_apt_error(tmp_path, busy):
    fake = tmp_path / "bin" / "apt-get"
    fake.parent.mkdir()
    # busy the first BUSY calls, then fine; with BUSY 0, a real error (a package that does not exist)
    fake.write_text(f"""#!/bin/sh
n=$(cat {tmp_path}/calls 2>/dev/null || echo 0); echo $((n + 1)) > {tmp_path}/calls
if [ {busy} = 0 ]; then echo "E: Unable to locate package nosuch" >&2; exit 100; fi
if [ "$n" -lt {busy} ]; then echo "E: Could not get lock /var/lib/dpkg/lock-frontend (held by apt)" >&2; exit 100; fi
echo "$@" > {tmp_path}/ran
""")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}", "APT_WAIT_STEP": "0.1"}
    out = subprocess.run(["bash", "-c", f"source {ROOT / 'scripts/apt_get.sh'}; apt_get install -y nosuch"],
                         capture_output=True, text=True, env=env)
    calls = int((tmp_path / "calls").read_text())
    if busy:
        assert out.returncode == 0 and calls == busy + 1, out.stderr
        assert "apt is busy" in out.stderr and "install -y nosuch" in (tmp_path / "ran").read_text()
    else:
        assert out.returncode == 1 and calls == 1 and "Unable to locate package nosuch" in out.stderr
