"""Windows Explorer: per-user verbs, written to HKEY_CURRENT_USER (no administrator).

* Photos: ``Software\\Classes\\SystemFileAssociations\\image\\shell\\photobrain.similar`` and ``...tag`` (the
  ``image`` perceived type covers every format Windows knows as a picture, raw files with a codec included).
* Folders: ``Software\\Classes\\Directory\\shell\\photobrain.tag`` and ``...search``.

Each command runs ``pythonw.exe -m sidecar action NAME -- "%1"``: pythonw has no console, so no window flashes;
what happens is told in a notification and ``actions.log``. ``%1`` is quoted (a path with spaces stays one
argument; Windows file names cannot hold a double quote). "Tag" is ``MultiSelectModel=Player`` (no 15-file
limit); where Explorer starts one process per selected file, ``photobrain action tag`` gathers them into one
run. "Find similar" and "Search" take one item (``Single``).
"""
from __future__ import annotations

from pathlib import PurePath, PureWindowsPath

from sidecar.autostart import pythonw_of, windows_quote

from .entries import ACTIONS, MARK, Plan, RegistryKey

NAMES = ("explorer",)
CLASSES = r"Software\Classes"


def explorer(python: PurePath) -> Plan:
    pythonw = pythonw_of(PureWindowsPath(python))
    program = [str(pythonw), "-m", "sidecar"]
    plan = Plan("explorer", program)
    runs = " ".join(map(windows_quote, program))
    for action in ACTIONS:
        model = "Player" if action.many else "Single"
        for where, applies in ((r"SystemFileAssociations\image", action.images), ("Directory", action.folders)):
            if not applies:
                continue
            key = rf"{CLASSES}\{where}\shell\photobrain.{action.name}"
            plan.registry.append(RegistryKey(key, {"": action.label, "MUIVerb": action.label,
                                                   "Icon": str(pythonw), "MultiSelectModel": model,
                                                   "photobrain": MARK}))
            plan.registry.append(RegistryKey(key + r"\command",
                                             {"": f'{runs} action {action.name} -- "%1"', "photobrain": MARK}))
    plan.notes.append("Explorer: right-click a photo or folder (Windows 11: Show more options)")
    return plan


def apply(plan: Plan, reg) -> list[str]:
    """Write the plan's keys with ``winreg`` (or a stand-in with its interface)."""
    done = []
    for entry in plan.registry:
        with reg.CreateKeyEx(reg.HKEY_CURRENT_USER, entry.key, 0, reg.KEY_WRITE) as key:
            for name, value in entry.values.items():
                reg.SetValueEx(key, name, 0, reg.REG_SZ, value)
        done.append(f"wrote HKCU\\{entry.key}")
    return done


def remove(plan: Plan, reg) -> list[str]:
    """Delete the plan's keys (deepest first) where they carry photobrain's mark."""
    done = []
    for entry in sorted(plan.registry, key=lambda e: -e.key.count("\\")):
        try:
            with reg.OpenKey(reg.HKEY_CURRENT_USER, entry.key, 0, reg.KEY_READ) as key:
                mark = reg.QueryValueEx(key, "photobrain")[0]
        except OSError:
            continue
        if mark != MARK:
            done.append(f"kept HKCU\\{entry.key}: not photobrain's")
            continue
        try:
            reg.DeleteKey(reg.HKEY_CURRENT_USER, entry.key)
            done.append(f"removed HKCU\\{entry.key}")
        except OSError as exc:
            done.append(f"kept HKCU\\{entry.key}: {exc}")
    return done


def installed(plan: Plan, reg) -> str | None:
    """The command of the first installed verb, or None."""
    for entry in plan.registry:
        if entry.key.endswith(r"\command"):
            try:
                with reg.OpenKey(reg.HKEY_CURRENT_USER, entry.key, 0, reg.KEY_READ) as key:
                    return reg.QueryValueEx(key, "")[0]
            except OSError:
                continue
    return None
