"""``photobrain service install``: start the resident service (and so background tagging) at login.

What is installed is computed first as a :class:`Plan` (data: files with their text, registry values,
commands to run), then applied; the plan of every platform is built and tested on any machine.

* Linux: a systemd user unit, ``~/.config/systemd/user/photobrain.service``, enabled and started with
  ``systemctl --user`` (where a user manager runs; otherwise it starts at the next login).
* macOS: a launchd agent, ``~/Library/LaunchAgents/org.photobrain.serve.plist``, loaded with ``launchctl``.
* Windows: a value under ``HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run`` (the Startup list in Task
  Manager), running ``pythonw.exe`` so no console window opens.

Each runs ``python -m sidecar serve --catalog CATALOG`` with the absolute path of the Python photobrain is
installed in (a login session does not have the shell's PATH), and the ``PHOTOBRAIN_*`` variables the install
ran with. Uninstall stops it and removes exactly what install wrote, and only when it is photobrain's.
"""
from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from xmp.errors import PhotobrainError

UNIT = "photobrain.service"
AGENT = "org.photobrain.serve"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
MARK = "photobrain service install"  # written into every file, so uninstall knows it is ours
CARRIED = ("PHOTOBRAIN_CACHE", "PHOTOBRAIN_CONFIG", "PHOTOBRAIN_CATALOG", "HF_ENDPOINT")


@dataclass
class Plan:
    """What installing (or uninstalling) the login service does, as data."""

    platform: str
    files: dict[Path, str] = field(default_factory=dict)                 # path -> text
    registry: list[tuple[str, str, str]] = field(default_factory=list)   # (HKCU key, value name, data)
    commands: list[list[str]] = field(default_factory=list)              # run after writing, where the tool exists
    stop_commands: list[list[str]] = field(default_factory=list)         # run before removing


def serve_command(python: PurePath, catalog: Path) -> list[str]:
    return [str(python), "-m", "sidecar", "serve", "--catalog", str(catalog)]


def plan(platform: str, *, python: Path, catalog: Path, home: Path, env: dict[str, str], log: Path) -> Plan:
    """The login service for ``platform`` (``linux``, ``darwin`` or ``win32``)."""
    carried = {k: env[k] for k in CARRIED if env.get(k)}
    command = serve_command(python, catalog)
    if platform == "darwin":
        path = home / "Library/LaunchAgents" / f"{AGENT}.plist"
        agent = {"Label": AGENT, "ProgramArguments": command, "RunAtLoad": True,
                 "KeepAlive": {"SuccessfulExit": False}, "ProcessType": "Background", "LowPriorityIO": True,
                 "StandardOutPath": str(log), "StandardErrorPath": str(log),
                 "EnvironmentVariables": {**carried, "PHOTOBRAIN_SERVICE_LOG": str(log)}, "Comment": MARK}
        uid = str(os.getuid()) if hasattr(os, "getuid") else "501"
        return Plan(platform, files={path: plistlib.dumps(agent).decode("utf-8")},
                    commands=[["launchctl", "bootstrap", f"gui/{uid}", str(path)]],
                    stop_commands=[["launchctl", "bootout", f"gui/{uid}/{AGENT}"]])
    if platform == "win32":
        line = " ".join(windows_quote(a) for a in serve_command(pythonw_of(python), catalog))
        return Plan(platform, registry=[(RUN_KEY, "photobrain", line)])
    config = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    unit = config / "systemd/user" / UNIT
    environment = "".join(f"Environment={_systemd_quote(f'{k}={v}')}\n" for k, v in
                          {**carried, "PHOTOBRAIN_SERVICE_LOG": str(log)}.items())
    text = (f"# {MARK}: photobrain's search service and background tagging, started at login\n"
            "[Unit]\nDescription=photobrain: photo search and background tagging\n"
            "\n"
            "[Service]\nType=simple\n"
            f"ExecStart={' '.join(_systemd_quote(a) for a in command)}\n"
            f"{environment}"
            "Restart=on-failure\nRestartSec=10\nNice=5\nIOSchedulingClass=idle\n\n"
            "[Install]\nWantedBy=default.target\n")
    return Plan("linux", files={unit: text},
                commands=[["systemctl", "--user", "daemon-reload"], ["systemctl", "--user", "enable", "--now", UNIT]],
                stop_commands=[["systemctl", "--user", "disable", "--now", UNIT]])


def current_plan(catalog: Path) -> Plan:
    from .lifecycle import log_file

    platform = "darwin" if sys.platform == "darwin" else "win32" if os.name == "nt" else "linux"
    return plan(platform, python=Path(sys.executable).absolute(), catalog=Path(os.path.abspath(catalog)),
                home=Path.home(), env=dict(os.environ), log=log_file())


def install(p: Plan, *, run: bool = True) -> list[str]:
    """Write the plan's files and values, then run its commands; what was done, in words."""
    done = []
    for path, text in p.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.tmp")
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, path)
        done.append(f"wrote {path}")
    for key, name, data in p.registry:
        _registry_set(key, name, data)
        done.append(f"set HKCU\\{key}\\{name}")
    if run:
        done += _run_all(p.commands)
    return done


def uninstall(p: Plan, *, run: bool = True) -> list[str]:
    """Stop the service and remove what install wrote (a file only when it carries photobrain's mark)."""
    done = _run_all(p.stop_commands) if run else []
    for path in p.files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if MARK not in text:
            done.append(f"kept {path}: not written by photobrain")
            continue
        path.unlink()
        done.append(f"removed {path}")
    for key, name, _ in p.registry:
        if _registry_delete(key, name):
            done.append(f"removed HKCU\\{key}\\{name}")
    if run and p.platform == "linux" and p.files:
        _run_all([["systemctl", "--user", "daemon-reload"]])
    return done


def _run_all(commands: list[list[str]]) -> list[str]:
    done = []
    for command in commands:
        if shutil.which(command[0]) is None:
            done.append(f"skipped '{' '.join(command)}': {command[0]} is not installed")
            continue
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            done.append(f"'{' '.join(command)}' failed: {exc}")
            continue
        reason = (result.stderr.strip().splitlines() or [""])[-1]
        done.append(f"ran '{' '.join(command)}'" if result.returncode == 0 else
                    f"'{' '.join(command)}' failed ({reason or f'exit {result.returncode}'}): it starts at the next login")
    return done


def _systemd_quote(value: str) -> str:
    """One word of a systemd command line or assignment, whatever it holds (spaces, quotes, ``%``, ``$``)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'


def windows_quote(value: str) -> str:
    """One argument as the Microsoft C runtime splits a command line (subprocess.list2cmdline's rules)."""
    return subprocess.list2cmdline([value])


def pythonw_of(python: PurePath) -> PurePath:
    """The console-less ``pythonw.exe`` beside a Windows ``python.exe`` (no window opens when it starts)."""
    return python.with_name("pythonw.exe") if python.name.lower() == "python.exe" else python


# winreg exists on Windows only: typed loosely so that the checker on any platform accepts it
def _registry_set(key: str, name: str, data: str) -> None:
    try:
        import winreg  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise PhotobrainError(None, "the Windows registry is not available here", "run this on Windows") from None
    reg: Any = winreg
    with reg.CreateKey(reg.HKEY_CURRENT_USER, key) as handle:
        reg.SetValueEx(handle, name, 0, reg.REG_SZ, data)


def _registry_delete(key: str, name: str) -> bool:
    try:
        import winreg  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return False
    reg: Any = winreg
    try:
        with reg.OpenKey(reg.HKEY_CURRENT_USER, key, 0, reg.KEY_SET_VALUE | reg.KEY_QUERY_VALUE) as handle:
            value = reg.QueryValueEx(handle, name)[0]
            if "sidecar" not in str(value):
                return False
            reg.DeleteValue(handle, name)
            return True
    except OSError:
        return False
