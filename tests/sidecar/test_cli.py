"""The photobrain command line, run as a user runs it."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, SAMPLES
from golden.regenerate import REQUEST

from xmp import WriteOptions, write_tags

KEYWORDED = "landscapes/boats at evening glow.jpg"


def photobrain(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run([sys.executable, "-m", "sidecar", *args], capture_output=True, text=True, cwd=cwd, env=env)


def test_tags_show_prints_user_keywords_and_rating():
    out = photobrain("tags", "show", str(SAMPLES / KEYWORDED))
    assert out.returncode == 0, out.stderr
    assert "keywords:  Lake District, boats, Anna" in out.stdout
    assert "hierarchy: Places/England/Lake District, Things/boats" in out.stdout
    assert "rating:    4" in out.stdout


def test_tags_show_walks_folders_and_prints_json_with_ai_tags(tmp_path: Path):
    shutil.copytree(SAMPLES / "landscapes", tmp_path / "lib", ignore=shutil.ignore_patterns("*.xmp"))
    write_tags(tmp_path / "lib" / Path(KEYWORDED).name, REQUEST, WriteOptions(mode="embed"))
    out = photobrain("tags", "show", "--json", str(tmp_path / "lib"))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert len(result["files"]) == len([p for p in (SAMPLES / "landscapes").iterdir() if p.suffix != ".xmp"])
    (boats,) = [f for f in result["files"] if f["path"].endswith(Path(KEYWORDED).name)]
    assert [(t["path"], t["score"], t["source"]) for t in boats["ai_tags"]] == [
        ("AI/animal/dog", 0.3125, "clip:ViT-B-32"), ("AI/scene/lake", 0.2511, "clip:ViT-B-32")]
    assert boats["user_keywords"] == ["Lake District", "boats", "Anna"]
    assert boats["captions"] == {"x-default": "Boats on a lake"}
    assert result["failed"] == []


def test_a_bad_file_is_reported_with_its_path_and_the_rest_still_shown(tmp_path: Path):
    shutil.copy2(SAMPLES / KEYWORDED, tmp_path / "good.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = photobrain("tags", "show", str(tmp_path))
    assert out.returncode == 1
    assert f"error: {tmp_path / 'broken.jpg'}: exiv2 cannot read this file" in out.stderr
    assert "Traceback" not in out.stderr
    assert "good.jpg" in out.stdout and "Lake District" in out.stdout


def test_verbose_shows_the_traceback(tmp_path: Path):
    (tmp_path / "broken.jpg").write_bytes(b"junk")
    out = photobrain("-v", "tags", "show", str(tmp_path / "broken.jpg"))
    assert out.returncode == 1 and "Traceback" in out.stderr


def test_help_does_not_import_torch_or_pyexiv2():
    code = ("import sys, runpy; sys.argv = ['photobrain', '--help']\n"
            "try:\n    runpy.run_module('sidecar', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'open_clip', 'pyexiv2', 'faiss') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "Usage: photobrain" in out.stdout
    assert out.stdout.strip().endswith("[]")


def test_every_command_is_documented_in_the_readme():
    import click

    from sidecar.cli import cli

    readme = (ROOT / "README.md").read_text()

    def commands(group: click.Group, prefix: str):
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                yield from commands(command, f"{prefix} {name}")
            else:
                yield f"{prefix} {name}", command

    found = list(commands(cli, "photobrain"))
    assert found
    for name, command in found:
        assert f"`{name}" in readme, f"{name} is not documented in README.md"
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--") and opt != "--help":
                    assert opt in readme, f"{name} {opt} is not documented in README.md"


def test_tags_show_on_a_folder_without_photos_says_so(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("buy film")
    out = photobrain("tags", "show", str(tmp_path / "empty"), str(tmp_path / "notes"))
    assert out.returncode == 1 and out.stdout == ""
    assert f"error: {tmp_path / 'empty'}: no photos in this folder (or below it)" in out.stderr
    assert f"error: {tmp_path / 'notes'}: no photos" in out.stderr


def test_a_typo_in_the_config_file_does_not_stop_help_or_version(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("thresold = 0.3\n")
    env = {**os.environ, "PHOTOBRAIN_CONFIG": str(config)}
    for args in (["--version"], ["--help"], ["tag", "--help"], ["search", "--help"]):
        out = subprocess.run([sys.executable, "-m", "sidecar", *args], capture_output=True, text=True, env=env)
        assert out.returncode == 0 and "thresold" not in out.stderr, (args, out.stderr)
    out = subprocess.run([sys.executable, "-m", "sidecar", "status"], capture_output=True, text=True, env=env)
    assert out.returncode == 1 and f"error: {config}: unknown setting 'thresold'" in out.stderr


def test_verbose_is_taken_after_the_command_name_too(tmp_path):
    for args in (["-v", "tags", "show", str(tmp_path)], ["tags", "show", str(tmp_path), "-v"],
                 ["tags", "show", "--verbose", str(tmp_path)]):
        out = photobrain(*args)
        assert out.returncode == 1 and "No such option" not in out.stderr and "no photos" in out.stderr, args
