"""The Lightroom Classic plug-in (``integrations/lightroom/photobrain.lrplugin``) as an install plan: its files
copied into Lightroom's Modules folder, which Lightroom loads at start, plus ``photobrain.json`` naming this
installation's photobrain and the catalog whose service the plug-in asks."""
from __future__ import annotations

import json
import os
from pathlib import Path

from .entries import MARK, Plan

NAME = "lightroom"
FOLDER = "photobrain.lrplugin"
SOURCE = Path(__file__).resolve().parent / "lightroom" / FOLDER


def modules_folder(home: Path, platform: str) -> Path:
    """Where Lightroom Classic loads plug-ins from without being told (Adobe's documented Modules folders)."""
    if platform == "win32":
        appdata = Path(os.environ.get("APPDATA") or home / "AppData" / "Roaming")
        return appdata / "Adobe" / "Lightroom" / "Modules"
    return home / "Library" / "Application Support" / "Adobe" / "Lightroom" / "Modules"


def installed_here(home: Path, platform: str) -> bool:
    """Lightroom Classic has run for this user (its Adobe/Lightroom folder exists)."""
    return modules_folder(home, platform).parent.is_dir()


def marked(name: str, text: str) -> str:
    """The file's text with the install mark (uninstall removes only files carrying it)."""
    if MARK in text:
        return text
    if name.endswith(".lua"):
        return f"-- {MARK}: photobrain's Lightroom plug-in\n{text}"
    return f"({MARK}: photobrain's Lightroom plug-in)\n{text}"


def plan(program: list[str], home: Path, platform: str, catalog: Path) -> Plan:
    target = modules_folder(home, platform) / FOLDER
    result = Plan(NAME, program)
    for source in sorted(SOURCE.iterdir()):
        if source.is_file():
            result.files[target / source.name] = (marked(source.name, source.read_text(encoding="utf-8")), 0o644)
    settings = {"program": program, "catalog": str(catalog), "installed_by": MARK}
    result.files[target / "photobrain.json"] = (json.dumps(settings, indent=1, ensure_ascii=False) + "\n", 0o600)
    result.notes.append(f"Lightroom Classic loads it at its next start: Library > Plug-in Extras > photobrain. "
                        f"It asks the service of {catalog}.")
    return result
