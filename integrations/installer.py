"""``photobrain integrations install|uninstall|status``: apply the plans of ``linux``, ``windows`` and ``macos``.

Per user only. Install is idempotent (a file already as planned is left untouched) and never replaces a file
that is not photobrain's. What it wrote is recorded in ``integrations.json`` in photobrain's data folder (each
file's SHA-256, the Thunar action ids, the registry keys, the program the entries run); uninstall removes exactly
that and keeps what changed since (the user's own edits) with a word saying so. Thunar's ``uca.xml`` is merged:
photobrain's actions (ids ``photobrain-*``) are added or replaced, every other action and comment stays.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from xmp.errors import PhotobrainError

from . import lightroom, linux, macos, windows
from .entries import MARK, Plan, UcaAction

DIGIKAM = "digikam"


def names_for(platform: str) -> tuple[str, ...]:
    if platform == "win32":
        return (*windows.NAMES, lightroom.NAME)
    if platform == "darwin":
        return (*macos.NAMES, lightroom.NAME)
    return (*linux.NAMES, DIGIKAM)


def default_names(platform: str, which=shutil.which) -> tuple[list[str], list[str]]:
    """What a bare install sets up here, and what it leaves out (a file manager that is not installed)."""
    if platform != "linux":
        names = [n for n in names_for(platform) if n != lightroom.NAME]
        if lightroom.installed_here(Path.home(), platform):
            return [*names, lightroom.NAME], []
        return names, [lightroom.NAME]
    chosen: list[str] = []
    skipped: list[str] = []
    for name in linux.NAMES:
        app = linux.APPS.get(name)
        (chosen if app is None or which(app) else skipped).append(name)
    return chosen, skipped


def check_name(name: str, platform: str = sys.platform) -> None:
    if name == lightroom.NAME and name not in names_for(platform):
        raise PhotobrainError(lightroom.SOURCE, "Lightroom Classic runs on Windows and macOS only",
                              "on the computer Lightroom runs on: photobrain integrations install lightroom")
    if name not in names_for(platform):
        raise PhotobrainError(None, f"no integration named {name!r} on this system",
                              "choose from: " + ", ".join(names_for(platform)))


def plan_for(name: str, program: list[str], home: Path, platform: str = sys.platform) -> Plan:
    check_name(name, platform)
    if name == "explorer":  # pythonw.exe beside this Python: no console window
        return windows.explorer(Path(sys.executable))
    if name == "finder":
        return macos.finder(program, home)
    if name == DIGIKAM:
        return digikam(program)
    if name == lightroom.NAME:
        return lightroom.plan(program, home, platform, _home_catalog())
    return linux.BUILDERS[name](program, home)


def _home_catalog() -> Path:
    from sidecar.settings import Config, home_catalog

    explicit = os.environ.get("PHOTOBRAIN_CATALOG")
    return Path(os.path.abspath(home_catalog(Path(explicit) if explicit else None, Config.load())))


def digikam(program: list[str]) -> Plan:
    """digiKam reads the "Open with" entry (installed by ``open-with``); batch tagging is a Batch Queue
    Manager recipe the user pastes once (integrations/digikam/README.md): nothing is written into digiKam."""
    plan = Plan(DIGIKAM, program)
    plan.notes.append("digiKam: right-click > Open With > 'Find similar photos' comes with 'open-with'; to tag "
                      "from a Batch Queue, add Base Tools > Custom Tools > User Shell Script with this script:\n"
                      + bqm_script(program))
    return plan


def bqm_script(program: list[str]) -> str:
    """The Batch Queue Manager's script: tag the photo, then hand it on unchanged (digiKam substitutes $INPUT and
    $OUTPUT with the names already escaped for /bin/sh, so they stay unquoted here)."""
    import shlex

    return f"{' '.join(map(shlex.quote, program))} action tag -- $INPUT && cp -p -- $INPUT $OUTPUT"


# -- the record ----------------------------------------------------------------------------------------------

def record_file() -> Path:
    from sidecar.places import data_dir

    return data_dir() / "integrations.json"


def _read_record() -> dict:
    try:
        return json.loads(record_file().read_text())
    except (OSError, ValueError):
        return {}


def _write_record(record: dict) -> None:
    path = record_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, json.dumps(record, indent=1, sort_keys=True).encode(), 0o644)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.photobrain-partial")
    partial.write_bytes(data)
    os.chmod(partial, mode)
    os.replace(partial, path)


def _ours(path: Path) -> bool:
    try:
        return MARK.encode() in path.read_bytes()
    except OSError:
        return False


# -- install / uninstall -------------------------------------------------------------------------------------

def install(plan: Plan, *, reg=None) -> list[str]:
    """Apply ``plan``; one line per thing done (or left alone, and why)."""
    record = _read_record()
    entry: dict = {"program": plan.program, "files": {}, "uca": [], "registry": []}
    done: list[str] = []
    pins = linux.current_defaults(plan.keep_viewers) if plan.keep_viewers else {}  # before the entry is there
    for path, (text, mode) in plan.files.items():
        data = text.encode()
        if path.exists() and not _ours(path):
            done.append(f"kept {path}: it is not photobrain's (move it away and install again)")
            continue
        if path.exists() and path.read_bytes() == data and (path.stat().st_mode & 0o777) == mode:
            done.append(f"unchanged {path}")
        else:
            _atomic_write(path, data, mode)
            done.append(f"wrote {path}")
        entry["files"][str(path)] = _digest(data)
    if plan.uca_file is not None:
        created = not plan.uca_file.exists() or record.get(plan.name, {}).get("uca_created", False)
        done.append(merge_uca(plan.uca_file, plan.uca))
        entry["uca_created"] = created
        entry["uca"] = [a.unique_id for a in plan.uca]
        entry["uca_file"] = str(plan.uca_file)
    if plan.registry:
        if reg is None:
            import winreg as reg  # type: ignore[import-not-found,no-redef]
        done.extend(windows.apply(plan, reg))
        entry["registry"] = [e.key for e in plan.registry]
    if pins:
        linux.edit_defaults(pins, {})
        done.append(f"kept {len(pins)} photo types opening with their viewer today "
                    f"({', '.join(sorted(set(pins.values())))}), written to {linux.mimeapps_file()}")
    earlier = record.get(plan.name, {}).get("pins", {})
    if pins or earlier:
        entry["pins"] = {**earlier, **pins}  # a second install: the first one's lines stay photobrain's
    for command in plan.after:
        _refresh(command)
    record[plan.name] = entry
    _write_record(record)
    done.extend(f"  {note}" for note in plan.notes)
    return done


def uninstall(plan: Plan, *, reg=None) -> list[str]:
    """Remove what install wrote for ``plan.name``: files still as written, photobrain's Thunar actions and keys."""
    record = _read_record()
    entry = record.get(plan.name, {})
    written = entry.get("files", {})
    done: list[str] = []
    paths = {Path(p) for p in written} | set(plan.files)
    for path in sorted(paths):
        if not path.exists():
            continue
        if not _ours(path):
            done.append(f"kept {path}: it is not photobrain's")
            continue
        if str(path) in written and _digest(path.read_bytes()) != written[str(path)]:
            done.append(f"kept {path}: changed since photobrain installed it (remove it yourself if unwanted)")
            continue
        path.unlink()
        done.append(f"removed {path}")
        for folder in (path.parent, path.parent.parent):  # a Quick Action's Contents and .workflow bundle
            if folder.name == "Contents" or folder.suffix in (".workflow", ".lrplugin"):
                try:
                    folder.rmdir()
                except OSError:
                    pass
    uca_file = Path(entry["uca_file"]) if entry.get("uca_file") else plan.uca_file
    if uca_file is not None and uca_file.exists():
        done.append(unmerge_uca(uca_file, set(entry.get("uca", [])) | {a.unique_id for a in plan.uca}))
        if entry.get("uca_created") and not _read_uca(uca_file).findall("action"):
            uca_file.unlink()  # install made it, and nothing else is in it
    if entry.get("pins"):
        linux.edit_defaults({}, entry["pins"])
        done.append(f"removed the {len(entry['pins'])} default-viewer lines install wrote to {linux.mimeapps_file()}")
    if plan.registry or entry.get("registry"):
        if reg is None:
            import winreg as reg  # type: ignore[import-not-found,no-redef]
        done.extend(windows.remove(plan, reg))
    for command in plan.after:
        _refresh(command)
    if plan.name in record:
        del record[plan.name]
        _write_record(record)
    return done or ["nothing of photobrain's was installed"]


def _refresh(command: list[str]) -> None:
    if shutil.which(command[0]) or os.path.isfile(command[0]):
        try:
            subprocess.run(command, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            pass


# -- Thunar's uca.xml ----------------------------------------------------------------------------------------

def _read_uca(path: Path) -> ET.Element:
    if not path.exists():
        return ET.Element("actions")
    try:
        parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
        return ET.parse(path, parser).getroot()
    except ET.ParseError as exc:
        raise PhotobrainError(path, f"Thunar's custom actions file cannot be read ({exc}); nothing was changed",
                              "fix it (or move it away) and install again") from exc


def _write_uca(path: Path, root: ET.Element) -> None:
    ET.indent(root, space="\t")
    data = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"
    _atomic_write(path, data, path.stat().st_mode & 0o777 if path.exists() else 0o644)


def merge_uca(path: Path, actions: list[UcaAction]) -> str:
    root = _read_uca(path)
    ids = {a.unique_id for a in actions}
    kept = [e for e in root.findall("action") if (e.findtext("unique-id") or "") in ids]
    for element in kept:
        root.remove(element)
    root.append(ET.Comment(f" {MARK} "))  # the mark travels with the actions; removed again with them
    for action in actions:
        element = ET.SubElement(root, "action")
        for name, value in action.fields.items():  # in Thunar's own order: the id follows the submenu
            ET.SubElement(element, name).text = value
            if name == "submenu":
                ET.SubElement(element, "unique-id").text = action.unique_id
        for kind in action.kinds:
            ET.SubElement(element, kind)
    for comment in [c for c in root if c.tag is ET.Comment and MARK in (c.text or "")][:-1]:
        root.remove(comment)
    _write_uca(path, root)
    return f"merged {len(actions)} actions into {path} ({len(root.findall('action')) - len(actions)} others kept)"


def unmerge_uca(path: Path, ids: set[str]) -> str:
    root = _read_uca(path)
    ours = [e for e in root.findall("action") if (e.findtext("unique-id") or "") in ids]
    for element in ours:
        root.remove(element)
    for comment in [c for c in root if c.tag is ET.Comment and MARK in (c.text or "")]:
        root.remove(comment)
    if ours:
        _write_uca(path, root)
    return f"removed {len(ours)} actions from {path} ({len(root.findall('action'))} others kept)"


# -- status --------------------------------------------------------------------------------------------------

def status(platform: str, home: Path, *, reg=None) -> list[dict]:
    """For each integration of this platform: installed or not, the program its entries run, and whether that
    program is still there (a moved or deleted virtual environment breaks every entry)."""
    record = _read_record()
    rows = []
    for name in names_for(platform):
        entry = record.get(name)
        plan = plan_for(name, ["photobrain"], home, platform)
        present = [p for p in plan.files if p.exists() and _ours(p)]
        if plan.uca_file is not None and plan.uca_file.exists():
            try:
                root = _read_uca(plan.uca_file)
                present += [plan.uca_file] if any((e.findtext("unique-id") or "").startswith("photobrain-")
                                                  for e in root.findall("action")) else []
            except PhotobrainError:
                pass
        if name == "explorer" and platform == "win32":
            if reg is None:
                import winreg as reg  # type: ignore[import-not-found,no-redef]
            if windows.installed(windows.explorer(Path(sys.executable)), reg):
                present.append(Path("HKCU"))
        installed = bool(present) or (name == DIGIKAM and entry is not None)
        program = entry.get("program") if entry else None
        problem = program_problem(program) if installed and program else None
        rows.append({"name": name, "installed": installed, "program": program, "broken": problem})
    return rows


def program_problem(program: list[str]) -> str | None:
    """Why ``program`` cannot run any more, or None: the file is gone, or the Python its script starts is."""
    first = Path(program[0])
    if not first.is_file():
        return f"{first} is not there any more"
    if not os.access(first, os.X_OK) and len(program) == 1:
        return f"{first} cannot be run (not executable)"
    try:
        head = first.read_bytes()[:512]
    except OSError:
        return None
    lines = head.split(b"\n")
    interpreter = ""
    if len(lines) > 1 and lines[1].startswith(b"'''exec' \""):  # pip's launcher for a Python path with spaces
        interpreter = lines[1].split(b'"')[1].decode(errors="replace")
    elif head.startswith(b"#!"):
        interpreter = lines[0][2:].strip().split(b" ")[0].decode(errors="replace")
    if interpreter and not Path(interpreter).exists():
        return f"{first} starts {interpreter}, which is not there any more"
    return None
