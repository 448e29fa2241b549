"""photobrain installs from its wheel: every package and data file is in it, and it runs outside the checkout.

The editable install of scripts/setup.sh hides a wheel that lacks a module; this test does not use it.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from conftest import ROOT, sample_copies


def run(*args: str | Path, **kwargs) -> subprocess.CompletedProcess:
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def test_the_wheel_installs_into_a_fresh_venv_and_tags(tmp_path: Path, tiny_clip):
    # build from a copy of the project's files: a build writes build/ and *.egg-info beside its sources
    source = tmp_path / "source"
    listed = run("git", "ls-files", "--cached", "--others", "--exclude-standard", cwd=ROOT).stdout.splitlines()
    for name in listed:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path / "dist", source)
    (wheel,) = (tmp_path / "dist").glob("photobrain-*.whl")

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    # the dependencies (torch, open_clip, ...) as pip would install them: those of this test run, on the path
    # (not as a site folder, so the checkout's editable install in it stays inactive)
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel)

    work = tmp_path / "work"
    work.mkdir()
    where = run(python, "-c", "import sidecar, xmp, index; print(sidecar.__file__, xmp.__file__, index.__file__)",
                cwd=work).stdout.split()
    assert all(Path(p).is_relative_to(site) for p in where), where
    photobrain = venv / "bin" / "photobrain"
    assert "Usage: photobrain" in run(photobrain, "--help", cwd=work).stdout
    shown = json.loads(run(photobrain, "vocab", "show", "--json", cwd=work).stdout)
    assert shown["concepts"] > 1000  # the built-in vocabulary is in the wheel
    # the Lightroom plug-in that 'integrations install lightroom' copies, whole, beside its installer
    plugin = ROOT / "integrations/lightroom/photobrain.lrplugin"
    installed = run(python, "-c", "from integrations import lightroom; print(lightroom.SOURCE); "
                    "print(*sorted(p.name for p in lightroom.SOURCE.iterdir()), sep='\\n')", cwd=work).stdout.split("\n")
    assert Path(installed[0]).is_relative_to(site)
    assert [n for n in installed[1:] if n] == sorted(p.name for p in plugin.iterdir())
    library = sample_copies(tmp_path / "library", ["landscapes/boats at evening glow.jpg", "documents/coins.png"])
    out = run(photobrain, "tag", library, "--model", tiny_clip.config_path, "--pretrained", tiny_clip.checkpoint_path,
              "--threshold", "0.05", "--json", cwd=work)
    assert json.loads(out.stdout)["summary"]["tagged"] == 2

