"""``photobrain service install``: the login service of each platform, built here and read back with its own rules."""
from __future__ import annotations

import json
import os
import plistlib
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cmdline import windows_split

from sidecar import autostart

ODD = "odd 100% $HOME \"quoted\" 'it's' café"  # a folder name no command line may mangle


def plan_for(platform: str, tmp_path: Path, catalog: Path | None = None) -> autostart.Plan:
    return autostart.plan(platform, python=Path(sys.executable), catalog=catalog or tmp_path / ODD / "catalog.db",
                          home=tmp_path / "home", env={"PHOTOBRAIN_CACHE": str(tmp_path / "cache"), "PATH": "/x"},
                          log=tmp_path / "serve.log")


def systemd_fields(text: str) -> dict[str, list[str]]:
    """A unit file's assignments (a key may repeat, as Environment= does)."""
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            fields.setdefault(key, []).append(value)
    return fields


def systemd_words(value: str) -> list[str]:
    """A command line split as systemd splits it (double quotes, backslash escapes; %% and $$ are % and $)."""
    return [w.replace("%%", "%").replace("$$", "$") for w in shlex.split(value)]


def test_the_systemd_unit_runs_this_photobrain_for_the_catalog_whatever_its_path(tmp_path):
    plan = plan_for("linux", tmp_path)
    ((path, text),) = plan.files.items()
    assert path == tmp_path / "home/.config/systemd/user/photobrain.service"
    fields = systemd_fields(text)
    assert systemd_words(fields["ExecStart"][0]) == [sys.executable, "-m", "sidecar", "serve", "--catalog",
                                                     str(tmp_path / ODD / "catalog.db")]
    environment = dict(systemd_words(v)[0].split("=", 1) for v in fields["Environment"])
    assert environment == {"PHOTOBRAIN_CACHE": str(tmp_path / "cache"), "PHOTOBRAIN_SERVICE_LOG": str(tmp_path / "serve.log")}
    assert fields["WantedBy"] == ["default.target"] and fields["Restart"] == ["on-failure"]
    assert plan.commands[-1] == ["systemctl", "--user", "enable", "--now", "photobrain.service"]


def test_systemd_accepts_the_unit(tmp_path):
    plan = plan_for("linux", tmp_path)
    ((path, text),) = plan.files.items()
    path.parent.mkdir(parents=True)
    path.write_text(text)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    checked = subprocess.run(["systemd-analyze", "--user", "verify", str(path)], capture_output=True, text=True,
                             env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})
    assert checked.returncode == 0, checked.stderr
    broken = path.with_name("broken.service")
    broken.write_text(text.replace(sys.executable, "/nowhere/python"))
    refused = subprocess.run(["systemd-analyze", "--user", "verify", str(broken)], capture_output=True, text=True,
                             env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})
    assert refused.returncode != 0 and "/nowhere/python" in refused.stderr  # the check does look at the command


def test_the_unit_s_command_starts_the_service(tmp_path, tiny_clip, monkeypatch):
    """No user manager runs in this container (systemd-run --user has no bus), so the unit's own ExecStart and
    Environment are run as systemd would run them, and the service must come up and answer."""
    from conftest import sample_copies

    monkeypatch.setenv("PHOTOBRAIN_CACHE", str(tmp_path / "cache"))
    library = sample_copies(tmp_path / "pictures", ["plants/dandelions.jpg", "landscapes/storm.jpg"])
    catalog = tmp_path / ODD / "catalog.db"
    catalog.parent.mkdir()
    done = subprocess.run([sys.executable, "-m", "sidecar", "tag", str(library), "--catalog", str(catalog), "--model",
                           str(tiny_clip.config_path), "--pretrained", str(tiny_clip.checkpoint_path), "--write", "none",
                           "-q"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    plan = autostart.plan("linux", python=Path(sys.executable), catalog=catalog, home=tmp_path / "home",
                          env=dict(os.environ), log=tmp_path / "serve.log")
    fields = systemd_fields(next(iter(plan.files.values())))
    environment = dict(systemd_words(v)[0].split("=", 1) for v in fields["Environment"])
    service = subprocess.Popen(systemd_words(fields["ExecStart"][0]), env={**os.environ, **environment},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/")
    try:
        info_file = catalog.with_name("catalog.db.service.json")
        deadline = time.monotonic() + 60
        while not info_file.exists() and time.monotonic() < deadline and service.poll() is None:
            time.sleep(0.1)
        info = json.loads(info_file.read_text())
        assert info["pid"] == service.pid and info["log"] == str(tmp_path / "serve.log")
        from sidecar.lifecycle import running

        assert running(catalog)["status"]["images"] == 2
    finally:
        service.terminate()
        service.wait(timeout=10)


def test_install_twice_is_install_once_and_uninstall_removes_only_what_it_wrote(tmp_path):
    plan = plan_for("linux", tmp_path)
    ((path, text),) = plan.files.items()
    first = autostart.install(plan, run=False)
    assert first == [f"wrote {path}"] and path.read_text() == text
    autostart.install(plan, run=False)
    assert path.read_text() == text and sorted(p.name for p in path.parent.iterdir()) == ["photobrain.service"]
    assert autostart.uninstall(plan, run=False) == [f"removed {path}"] and not path.exists()
    assert autostart.uninstall(plan, run=False) == []  # nothing left to remove
    path.write_text("[Service]\nExecStart=/usr/bin/my-own-photobrain\n")  # the user's own unit by that name
    assert autostart.uninstall(plan, run=False) == [f"kept {path}: not written by photobrain"]
    assert path.read_text().startswith("[Service]")


def test_installing_where_no_user_manager_runs_says_it_starts_at_the_next_login(tmp_path):
    plan = plan_for("linux", tmp_path)
    done = autostart.install(plan)
    assert done[0].startswith("wrote ")
    assert all("systemctl" in line for line in done[1:])
    if any("failed" in line for line in done):  # this container: no user bus
        assert "it starts at the next login" in done[-1]


def test_the_launchd_agent_runs_this_photobrain_at_login(tmp_path):
    plan = plan_for("darwin", tmp_path)
    ((path, text),) = plan.files.items()
    assert path == tmp_path / "home/Library/LaunchAgents/org.photobrain.serve.plist"
    agent = plistlib.loads(text.encode())
    assert agent["Label"] == "org.photobrain.serve" and agent["RunAtLoad"] is True
    assert agent["ProgramArguments"] == [sys.executable, "-m", "sidecar", "serve", "--catalog",
                                         str(tmp_path / ODD / "catalog.db")]
    assert agent["EnvironmentVariables"]["PHOTOBRAIN_CACHE"] == str(tmp_path / "cache")
    assert agent["StandardErrorPath"] == str(tmp_path / "serve.log")
    assert plan.commands[0][:2] == ["launchctl", "bootstrap"] and plan.commands[0][-1] == str(path)




def test_the_windows_startup_entry_runs_pythonw_so_no_console_opens(tmp_path):
    catalog = Path("C:/Users/Ana María/AppData/Local/photobrain/odd \"name\" 100%/catalog.db")
    plan = autostart.plan("win32", python=Path("C:/Program Files/photobrain/.venv/Scripts/python.exe"),
                          catalog=catalog, home=tmp_path, env={}, log=tmp_path / "serve.log")
    assert plan.files == {}
    ((key, name, line),) = plan.registry
    assert key == r"Software\Microsoft\Windows\CurrentVersion\Run" and name == "photobrain"
    assert windows_split(line) == [str(Path("C:/Program Files/photobrain/.venv/Scripts/pythonw.exe")), "-m", "sidecar",
                                   "serve", "--catalog", str(catalog)]


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_every_platform_names_the_catalog_absolutely(tmp_path, platform):
    plan = plan_for(platform, tmp_path)
    text = "".join(plan.files.values()) + "".join(line for *_, line in plan.registry)
    assert "catalog.db" in text and str(tmp_path) in text.replace("&apos;", "'").replace("&quot;", '"')
