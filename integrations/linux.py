"""Linux entries: Dolphin, Nautilus, Thunar, Nemo, the "Open with" application entry and the application menu.

How each file manager turns its entry into a command line (and so how each is quoted here):

* Dolphin service menus and ``.desktop`` applications: the Desktop Entry spec's Exec rules (``%f``/``%F`` are
  replaced by the file names as separate arguments; reserved characters of the program's path are quoted).
* Nemo: ``%U`` replaced by each file's URI wrapped in ``Quote=double`` quotes, then split like a shell
  (``g_shell_parse_argv``); a URI never holds a double quote, backslash or space, so no file name can break out.
* Thunar: ``%F`` replaced by each path quoted for a shell, then split the same way.
* Nautilus: scripts get the selected names as arguments; the nautilus-python extension starts the command with
  an argument list (no shell).
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

from .entries import ACTIONS, IMAGE_TYPES, MARK, Plan, UcaAction, icon_file

NAMES = ("dolphin", "nautilus", "thunar", "nemo", "open-with", "menu")
APPS = {"dolphin": "dolphin", "nautilus": "nautilus", "thunar": "thunar", "nemo": "nemo"}  # the program each is for


def desktop_quote(word: str) -> str:
    """One argument of a Desktop Entry ``Exec`` line, escaped for the key file too (spec: "The Exec key")."""
    if word and not any(c in word for c in ' \t\n"\'\\><~|&;$*?#()`%'):
        return word
    quoted = '"' + "".join("\\" + c if c in '"`$\\' else c for c in word) + '"'
    return quoted.replace("\\", "\\\\").replace("%", "%%")  # the string escape of the key file, then %% for %


def _refuse_percent(program: list[str], reader: str) -> None:
    if any("%" in word for word in program):
        from xmp.errors import PhotobrainError

        raise PhotobrainError(program[0], f"{reader} cannot run a program whose path holds a '%'",
                              "install photobrain in a folder without '%' in its path, or name another with --program")


def exec_line(program: list[str], arguments: str) -> str:
    """A Desktop Entry Exec line: the program quoted, then ``arguments`` (words and field codes, as written);
    GLib checks the program exists with '%%' unexpanded, so a '%' in its path is refused."""
    _refuse_percent(program, "GLib (and so every 'Open with' menu)")
    return " ".join([*map(desktop_quote, program), arguments])


def _keyfile(group: str, entries: dict[str, str]) -> str:
    return f"[{group}]\n" + "".join(f"{key}={value}\n" for key, value in entries.items())


def dolphin_folder(home: Path, *, run=subprocess.run) -> Path:
    """Where this system's Dolphin reads a user's service menus: ``kio/servicemenus`` for KF6 and KF5 from 5.85
    (which read the old place too, so writing both would show every entry twice), ``kservices5/ServiceMenus``
    for an older KF5 (Debian 11, Ubuntu 20.04)."""
    try:
        answer = run(["kf5-config", "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        answer = None
    for line in (answer.stdout if answer is not None else "").splitlines():
        if line.startswith("KDE Frameworks:"):
            version = tuple(int(part) for part in line.split(":")[1].strip().split(".")[:2] if part.isdigit())
            if version and version < (5, 85):
                return home / ".local/share/kservices5/ServiceMenus"
    return home / ".local/share/kio/servicemenus"


def dolphin(program: list[str], home: Path) -> Plan:
    """A service menu per action where this system's Dolphin reads them (``dolphin_folder``), executable."""
    plan = Plan("dolphin", program)
    folder = dolphin_folder(home)
    for action in ACTIONS:
        types = [*(("image/*",) if action.images else ()), *(("inode/directory",) if action.folders else ())]
        head = {"Type": "Service", "MimeType": ";".join(types) + ";", "Actions": f"photobrain_{action.name};",
                "X-KDE-ServiceTypes": "KonqPopupMenu/Plugin", "X-KDE-Priority": "TopLevel"}
        if not action.many:
            head["X-KDE-MaxNumberOfUrls"] = "1"
        text = (f"# {MARK}: runs photobrain; 'photobrain integrations uninstall dolphin' removes it\n"
                + _keyfile("Desktop Entry", head) + "\n"
                + _keyfile(f"Desktop Action photobrain_{action.name}",
                           {"Name": action.label, "Icon": str(icon_file()),
                            "Exec": exec_line(program, f"action {action.name} -- {'%F' if action.many else '%f'}")}))
        plan.files[folder / f"photobrain-{action.name}.desktop"] = (text, 0o755)  # KF6 runs only executable menus
    plan.notes.append("Dolphin shows them in the right-click menu of photos and folders (reopen Dolphin's windows)")
    return plan


def nautilus(program: list[str], home: Path) -> Plan:
    """Scripts (the Scripts submenu) and a nautilus-python extension (the menu itself, when python3-nautilus is
    installed); both only start the command."""
    plan = Plan("nautilus", program)
    for action in ACTIONS:
        script = (f"#!/bin/sh\n# {MARK}: runs photobrain; 'photobrain integrations uninstall nautilus' removes it\n"
                  f"exec {' '.join(map(shlex.quote, program))} action {action.name} -- \"$@\"\n")
        plan.files[home / ".local/share/nautilus/scripts" / action.label.rstrip("…")] = (script, 0o755)
    template = (Path(__file__).parent / "templates" / "nautilus_extension.py").read_text()
    extension = template.replace("PROGRAM = []", f"PROGRAM = {program!r}").replace("MARK = ''", f"MARK = {MARK!r}")
    plan.files[home / ".local/share/nautilus-python/extensions/photobrain_menu.py"] = (extension, 0o644)
    plan.notes.append("Nautilus: Scripts submenu at once; the menu entries themselves with python3-nautilus "
                      "installed, after 'nautilus -q'")
    return plan


def thunar(program: list[str], home: Path) -> Plan:
    """Custom actions merged into ``~/.config/Thunar/uca.xml`` (every other action there is kept as it is)."""
    plan = Plan("thunar", program, uca_file=home / ".config/Thunar/uca.xml")
    quoted = " ".join(map(shlex.quote, program)).replace("%", "%%")  # Thunar reads %% as a percent sign
    for action in ACTIONS:
        kinds = (*(("image-files",) if action.images else ()), *(("directories",) if action.folders else ()))
        plan.uca.append(UcaAction(
            f"photobrain-{action.name}",
            {"icon": str(icon_file()), "name": action.label, "submenu": "",
             "command": f"{quoted} action {action.name} -- {'%F' if action.many else '%f'}",
             "description": action.comment, "range": "" if action.many else "1", "patterns": "*"},
            kinds))
    plan.notes.append("Thunar: in the right-click menu at once (Edit > Configure custom actions lists them)")
    return plan


def nemo(program: list[str], home: Path) -> Plan:
    """A ``.nemo_action`` per action in ``~/.local/share/nemo/actions``."""
    plan = Plan("nemo", program)
    _refuse_percent(program, "Nemo")  # Nemo 5 looks for its field code at the first '%' only
    command = " ".join(map(shlex.quote, program)).replace("\\", "\\\\")
    for action in ACTIONS:
        entries = {"Active": "true", "Name": action.label, "Comment": action.comment,
                   "Exec": f"{command} action {action.name} -- %U", "Icon-Name": str(icon_file()),
                   "Selection": "notnone" if action.many else "s", "Quote": "double"}
        if action.images:
            entries["Mimetypes"] = "image/*;" + ("inode/directory;" if action.folders else "")
        else:
            entries["Extensions"] = "dir;"
        text = f"# {MARK}: runs photobrain; 'photobrain integrations uninstall nemo' removes it\n" + \
            _keyfile("Nemo Action", entries)
        plan.files[home / ".local/share/nemo/actions" / f"photobrain-{action.name}.nemo_action"] = (text, 0o644)
    plan.notes.append("Nemo: in the right-click menu at once")
    return plan


def open_with(program: list[str], home: Path) -> Plan:
    """An application entry for images that no menu shows by itself (NoDisplay): the "Open with" lists of
    digiKam, GNOME, KDE and the rest offer "Find similar photos" without it becoming anyone's default viewer."""
    plan = Plan("open-with", program)
    similar = ACTIONS[0]
    text = f"# {MARK}\n" + _keyfile("Desktop Entry", {
        "Type": "Application", "Name": similar.label, "GenericName": "Similar photo search",
        "Comment": similar.comment, "Icon": str(icon_file()), "Exec": exec_line(program, "action similar -- %f"),
        "Terminal": "false", "NoDisplay": "true", "StartupNotify": "false",
        "MimeType": ";".join(IMAGE_TYPES) + ";", "Categories": "Graphics;Photography;"})
    plan.files[home / ".local/share/applications/photobrain-similar.desktop"] = (text, 0o644)
    plan.after.append(["update-desktop-database", str(home / ".local/share/applications")])
    # GLib makes the first registered application a type's default when the user never chose one, and the
    # user's own folder comes first: the viewer each photo type opens with today is written down as the
    # user's choice before this entry is registered (uninstall takes back exactly those lines)
    plan.keep_viewers = IMAGE_TYPES
    plan.notes.append("'Open with' menus (digiKam's too) list 'Find similar photos' for photos")
    return plan


def menu(program: list[str], home: Path) -> Plan:
    """The application menu's "photobrain": the search page."""
    plan = Plan("menu", program)
    text = f"# {MARK}\n" + _keyfile("Desktop Entry", {
        "Type": "Application", "Name": "photobrain", "GenericName": "Photo search",
        "Comment": "Search your photos by what is in them, on this computer",
        "Icon": str(icon_file()), "Exec": exec_line(program, "action page"),
        "Terminal": "false", "StartupNotify": "false", "Categories": "Graphics;Photography;",
        "Keywords": "photo;image;search;similar;tag;"})
    plan.files[home / ".local/share/applications/photobrain.desktop"] = (text, 0o644)
    plan.notes.append("the application menu has 'photobrain' (the search page)")
    return plan


BUILDERS = {"dolphin": dolphin, "nautilus": nautilus, "thunar": thunar, "nemo": nemo, "open-with": open_with,
            "menu": menu}


def current_defaults(types: tuple[str, ...], *, run=subprocess.run) -> dict[str, str]:
    """The application each type opens with now (``gio mime``), for types the user chose none for and that some
    application other than photobrain's opens."""
    if shutil.which("gio") is None:
        return {}
    chosen = chosen_defaults()
    found = {}
    for mime in types:
        if mime in chosen:
            continue
        try:
            answer = run(["gio", "mime", mime], capture_output=True, text=True, timeout=10,
                         env={**os.environ, "LC_ALL": "C"})
        except (OSError, subprocess.TimeoutExpired):
            continue
        first = (answer.stdout.splitlines() or [""])[0]
        if first.startswith("Default application for") and ": " in first:
            app = first.rsplit(": ", 1)[1].strip()
            if app and not app.startswith("photobrain"):
                found[mime] = app
    return found


def mimeapps_file() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "mimeapps.list"


def chosen_defaults() -> dict[str, str]:
    """The ``[Default Applications]`` of the user's ``mimeapps.list``."""
    try:
        lines = mimeapps_file().read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    found, inside = {}, False
    for line in lines:
        if line.startswith("["):
            inside = line.strip() == "[Default Applications]"
        elif inside and "=" in line:
            key, value = line.split("=", 1)
            found[key.strip()] = value.strip()
    return found


def edit_defaults(add: dict[str, str], remove: dict[str, str]) -> None:
    """Add ``type=app;`` lines to ``[Default Applications]``, and remove lines still exactly as added; every other
    line of the file stays as it is."""
    path = mimeapps_file()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    gone = {f"{k}={v};" for k, v in remove.items()}
    lines = [line for line in lines if line.strip() not in gone]
    if add:
        if "[Default Applications]" not in (line.strip() for line in lines):
            lines += ([""] if lines else []) + ["[Default Applications]"]
        at = [line.strip() for line in lines].index("[Default Applications]") + 1
        lines[at:at] = [f"{k}={v};" for k, v in add.items()]
    if not any(line.strip() and line.strip() != "[Default Applications]" for line in lines):
        path.unlink(missing_ok=True)  # nothing but what photobrain wrote was in it
        return
    if lines or path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(".mimeapps.list.photobrain-partial")
        partial.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(partial, path)
