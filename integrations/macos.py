"""macOS Finder: Quick Actions (right-click > Quick Actions, and the Services menu), one workflow bundle each in
``~/Library/Services``: ``Contents/Info.plist`` declares the service (``NSServices``: its menu label, Finder as
the context, the file types it takes) and ``Contents/document.wflow`` holds one "Run Shell Script" action that
runs photobrain with the selected files as arguments (``"$@"``, so a name is never parsed by the shell).
Both are property lists written with ``plistlib``.
"""
from __future__ import annotations

import plistlib
import shlex
import uuid
from pathlib import Path

from .entries import ACTIONS, MARK, Plan

NAMES = ("finder",)
NAMESPACE = uuid.UUID("9b0d1f62-6a8e-4a53-9f5e-1e0c2a3b4d5f")


def finder(program: list[str], home: Path) -> Plan:
    plan = Plan("finder", program)
    for action in ACTIONS:
        label = action.label.rstrip("…") + (" with photobrain" if action.name == "search" else "")
        types = [*(["public.image"] if action.images else []), *(["public.folder"] if action.folders else [])]
        info = {"CFBundleName": label, "CFBundleIdentifier": f"org.photobrain.action.{action.name}",
                "NSServices": [{"NSMenuItem": {"default": label}, "NSMessage": "runWorkflowAsService",
                                "NSRequiredContext": {"NSApplicationIdentifier": "com.apple.finder"},
                                "NSSendFileTypes": types}],
                "PhotobrainInstalledBy": MARK}
        bundle = home / "Library/Services" / f"{label}.workflow" / "Contents"
        plan.files[bundle / "Info.plist"] = (plistlib.dumps(info).decode(), 0o644)
        plan.files[bundle / "document.wflow"] = (plistlib.dumps(workflow(program, action.name, types)).decode(), 0o644)
    plan.after.append(["/System/Library/CoreServices/pbs", "-update"])
    plan.notes.append("Finder: right-click > Quick Actions (turn them on in System Settings > Extensions if hidden)")
    return plan


def script(program: list[str], name: str) -> str:
    return f"exec {' '.join(map(shlex.quote, program))} action {name} -- \"$@\""


def workflow(program: list[str], name: str, types: list[str]) -> dict:
    ids = [str(uuid.uuid5(NAMESPACE, f"{name}-{part}")).upper() for part in ("action", "input", "output")]
    kinds: dict[tuple[str, ...], str] = {("public.image",): "com.apple.Automator.fileSystemObject.image",
            ("public.folder",): "com.apple.Automator.fileSystemObject.folder"}
    kind = kinds.get(tuple(types), "com.apple.Automator.fileSystemObject")
    return {
        "AMApplicationBuild": "523", "AMApplicationVersion": "2.10", "AMDocumentVersion": "2",
        "actions": [{"action": {
            "AMAccepts": {"Container": "List", "Optional": True, "Types": ["com.apple.cocoa.path"]},
            "AMActionVersion": "2.0.3", "AMApplication": ["Automator"],
            "AMParameterProperties": {k: {} for k in ("COMMAND_STRING", "CheckedForUserDefaultShell", "inputMethod",
                                                      "shell", "source")},
            "AMProvides": {"Container": "List", "Types": ["com.apple.cocoa.string"]},
            "ActionBundlePath": "/System/Library/Automator/Run Shell Script.action",
            "ActionName": "Run Shell Script",
            "ActionParameters": {"COMMAND_STRING": script(program, name), "CheckedForUserDefaultShell": True,
                                 "inputMethod": 1, "shell": "/bin/sh", "source": ""},  # 1: as arguments
            "BundleIdentifier": "com.apple.RunShellScript", "CFBundleVersion": "2.0.3",
            "CanShowSelectedItemsWhenRun": False, "CanShowWhenRun": True, "Category": ["AMCategoryUtilities"],
            "Class Name": "RunShellScriptAction", "InputUUID": ids[1], "OutputUUID": ids[2], "UUID": ids[0],
            "UnlocalizedApplications": ["Automator"], "isViewVisible": True}, "isViewVisible": True}],
        "connectors": {},
        "PhotobrainInstalledBy": MARK,
        "workflowMetaData": {"serviceApplicationBundleID": "com.apple.finder", "serviceInputTypeIdentifier": kind,
                             "serviceOutputTypeIdentifier": "com.apple.Automator.nothing",
                             "serviceProcessesInput": 0, "workflowTypeIdentifier": "com.apple.Automator.servicesMenu"},
    }
