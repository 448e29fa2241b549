"""``photobrain integrations``: every platform's entries, read back with the format's own reader, expanded the way
each file manager expands them, and proven to hand a file with the oddest name to photobrain as one exact
argument; install is idempotent, uninstall keeps what the user had, status sees a moved photobrain."""
from __future__ import annotations

import configparser
import importlib.util
import json
import os
import plistlib
import re
import shutil
import subprocess
import sys
import time
import types
import xml.etree.ElementTree as ET
from pathlib import Path, PureWindowsPath

import pytest
from cmdline import windows_split

from integrations import installer, macos, windows
from integrations.entries import MARK
from sidecar.actions import argument_path

GLIB_TOOL = Path(__file__).with_name("glib_tool.py")
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, with python3-gi: GLib's own parsers
#: a leading dash, both quotes, a variable, field codes, a percent sign, non-ASCII: one argument, byte for byte
ODD = "-odd 'single' \"double\" $HOME %f %U 100% café ✓.jpg"
LINUX = ("dolphin", "nautilus", "thunar", "nemo", "open-with", "menu")


def glib(op: str, **request) -> object:
    done = subprocess.run([SYSTEM_PYTHON, str(GLIB_TOOL), json.dumps({"op": op, **request})],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def photobrain(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "sidecar", *args], capture_output=True, text=True)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


class Recorder:
    """A stand-in ``photobrain`` that writes down the arguments each call got."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.program = folder / "photobrain"
        self.calls_file = folder / "calls.jsonl"
        self.program.write_text(f"#!{sys.executable}\nimport json, sys\n"
                                f"with open({str(self.calls_file)!r}, 'a') as out:\n"
                                "    out.write(json.dumps(sys.argv[1:]) + '\\n')\n")
        self.program.chmod(0o755)

    def calls(self, wait_for: int = 0) -> list[list[str]]:
        deadline = time.monotonic() + 20
        while True:
            lines = self.calls_file.read_text().splitlines() if self.calls_file.exists() else []
            if len(lines) >= wait_for or time.monotonic() > deadline:
                return [json.loads(line) for line in lines]
            time.sleep(0.05)

    def last(self) -> list[str]:
        calls = self.calls(wait_for=1)
        assert calls, "photobrain was not started"
        self.calls_file.unlink()
        return calls[-1]


@pytest.fixture
def recorder(tmp_path) -> Recorder:
    """In a folder whose name every entry has to quote (the entries name the program by its absolute path)."""
    return Recorder(tmp_path / "Zoë's \"photo\" tools $HOME (venv)" / "bin")


@pytest.fixture
def odd_photo(tmp_path) -> Path:
    from conftest import SAMPLES

    folder = tmp_path / "Holiday $2024 'Alps' \"best\""
    folder.mkdir()
    photo = folder / ODD
    shutil.copy(next(SAMPLES.rglob("*.jpg")), photo)
    return photo


def installed_files(home: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(home)): (p.read_bytes(), p.stat().st_mode & 0o777)
            for p in sorted(home.rglob("*")) if p.is_file() and ".cache" not in p.parts}


def keyfile_section(text: str, group: str) -> dict[str, str]:
    """A group of a Desktop Entry file by the spec's rules: case-sensitive keys, '=' only, no interpolation."""
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",), comment_prefixes=("#",),
                                       strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return dict(parser[group])


def raw_exec(path: Path, group: str) -> str:
    """The Exec line of a group exactly as written (still escaped for the key file)."""
    inside = False
    for line in path.read_text().splitlines():
        if line.startswith("["):
            inside = line == f"[{group}]"
        elif inside and line.startswith("Exec="):
            return line[5:]
    raise AssertionError(f"no Exec in [{group}] of {path}")


def gio_launch(exec_value: str, files: list[Path], folder: Path) -> None:
    """Start an Exec line as GLib's launcher (Nautilus, Nemo, Thunar's "Open with") and KIO expand it."""
    entry = folder / "under-test.desktop"
    entry.write_text(f"[Desktop Entry]\nType=Application\nName=under test\nExec={exec_value}\n")
    subprocess.run(["gio", "launch", str(entry), *map(str, files)], check=True, timeout=30,
                   capture_output=True)


def thunar_run(command: str, files: list[Path]) -> None:
    """Thunar's custom action: %f is the first file and %F all of them, each quoted by g_shell_quote; the line is
    then split by g_shell_parse_argv and started without a shell."""
    quoted = [str(glib("quote", text=str(f))) for f in files]
    codes = {"%F": " ".join(quoted), "%f": quoted[0], "%%": "%"}
    line = re.sub(r"%[fF%]", lambda m: codes[m.group()], command)  # in one pass, as Thunar reads it
    subprocess.run(glib("parse", line=line), check=True, timeout=30)


def nemo_run(exec_value: str, files: list[Path]) -> None:
    """Nemo 5.6's action: the first field code is replaced by the files' URIs, each in the Quote=double quote
    (URIs are not escaped further), then the line goes to g_spawn_command_line_async (g_shell_parse_argv)."""
    uris = " ".join(f'"{glib("uri", path=str(f))}"' for f in files)
    subprocess.run(glib("parse", line=exec_value.replace("%U", uris, 1)), check=True, timeout=30)


# -- Linux -----------------------------------------------------------------------------------------------------

def test_every_linux_entry_reads_back_with_its_own_format_s_reader(recorder, isolated_user):
    done = photobrain("integrations", "install", *LINUX, "--program", str(recorder.program))
    home = isolated_user
    assert "wrote" in done.stdout

    for name in ("similar", "tag", "search"):  # Dolphin: one executable service menu per action
        path = home / f".local/share/kio/servicemenus/photobrain-{name}.desktop"
        assert path.stat().st_mode & 0o111, "KF6 ignores a service menu that is not executable"
        head = keyfile_section(path.read_text(), "Desktop Entry")
        assert head["Type"] == "Service" and head["Actions"] == f"photobrain_{name};"
        action = keyfile_section(path.read_text(), f"Desktop Action photobrain_{name}")
        exec_value = glib("keyfile", path=str(path), group=f"Desktop Action photobrain_{name}")["Exec"]
        assert exec_value == action["Exec"].replace("\\\\", "\\")  # the key file's one string escape here
        assert glib("parse", line=exec_value)[:4] == [str(recorder.program), "action", name, "--"]
    assert keyfile_section((home / ".local/share/kio/servicemenus/photobrain-similar.desktop").read_text(),
                           "Desktop Entry")["MimeType"] == "image/*;"
    assert "inode/directory" in keyfile_section(
        (home / ".local/share/kio/servicemenus/photobrain-search.desktop").read_text(), "Desktop Entry")["MimeType"]

    applications = home / ".local/share/applications"
    for entry in ("photobrain-similar.desktop", "photobrain.desktop"):
        checked = subprocess.run(["desktop-file-validate", str(applications / entry)], capture_output=True, text=True)
        assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout
    similar = keyfile_section((applications / "photobrain-similar.desktop").read_text(), "Desktop Entry")
    assert similar["NoDisplay"] == "true" and "image/jpeg;" in similar["MimeType"]
    assert "NoDisplay" not in keyfile_section((applications / "photobrain.desktop").read_text(), "Desktop Entry")

    actions = ET.parse(home / ".config/Thunar/uca.xml").getroot().findall("action")
    assert [a.findtext("unique-id") for a in actions] == ["photobrain-similar", "photobrain-tag", "photobrain-search"]
    assert [a.findtext("command").split(" -- ")[1] for a in actions] == ["%f", "%F", "%f"]
    assert actions[0].find("image-files") is not None and actions[0].find("directories") is None
    assert actions[2].find("directories") is not None and actions[2].find("image-files") is None

    for name, selection in (("similar", "s"), ("tag", "notnone"), ("search", "s")):
        entry = glib("keyfile", path=str(home / f".local/share/nemo/actions/photobrain-{name}.nemo_action"),
                     group="Nemo Action")
        # what nemo_action_new requires before it loads an action at all
        assert entry["Name"] and entry["Exec"] and ("Mimetypes" in entry or "Extensions" in entry)
        assert entry["Selection"] == selection and entry["Quote"] == "double" and entry["Exec"].endswith("-- %U")

    scripts = home / ".local/share/nautilus/scripts"
    assert sorted(p.name for p in scripts.iterdir()) == ["Find similar photos", "Search photos", "Tag with photobrain"]
    assert all(p.stat().st_mode & 0o111 for p in scripts.iterdir())
    extension = home / ".local/share/nautilus-python/extensions/photobrain_menu.py"
    subprocess.run([SYSTEM_PYTHON, "-m", "py_compile", str(extension)], check=True,
                   env={**os.environ, "PYTHONPYCACHEPREFIX": str(home / ".cache/pyc")})


def test_each_entry_hands_photobrain_a_file_with_an_odd_name_as_one_exact_argument(recorder, odd_photo, isolated_user,
                                                                                     tmp_path):
    photobrain("integrations", "install", *LINUX, "--program", str(recorder.program))
    home, folder = isolated_user, odd_photo.parent
    expected = ["action", "similar", "--", str(odd_photo)]

    menus = home / ".local/share/kio/servicemenus"
    gio_launch(raw_exec(menus / "photobrain-similar.desktop", "Desktop Action photobrain_similar"), [odd_photo], tmp_path)
    assert recorder.last() == expected, "Dolphin"
    gio_launch(raw_exec(menus / "photobrain-tag.desktop", "Desktop Action photobrain_tag"), [odd_photo, folder],
               tmp_path)
    assert recorder.last() == ["action", "tag", "--", str(odd_photo), str(folder)], "Dolphin, two items"
    subprocess.run(["gio", "launch", str(home / ".local/share/applications/photobrain-similar.desktop"),
                    str(odd_photo)], check=True, timeout=30, capture_output=True)
    assert recorder.last() == expected, "Open with"

    commands = {a.findtext("unique-id"): a.findtext("command")
                for a in ET.parse(home / ".config/Thunar/uca.xml").getroot().findall("action")}
    thunar_run(commands["photobrain-similar"], [odd_photo])
    assert recorder.last() == expected, "Thunar"
    thunar_run(commands["photobrain-tag"], [odd_photo, folder])
    assert recorder.last() == ["action", "tag", "--", str(odd_photo), str(folder)], "Thunar, two items"

    nemo = glib("keyfile", path=str(home / ".local/share/nemo/actions/photobrain-similar.nemo_action"),
                group="Nemo Action")
    nemo_run(nemo["Exec"], [odd_photo])
    got = recorder.last()
    assert got[:3] == expected[:3] and argument_path(got[3]) == odd_photo, "Nemo (a file URI, decoded by photobrain)"

    subprocess.run(["gio", "launch", str(home / ".local/share/applications/photobrain.desktop")], check=True,
                   timeout=30, capture_output=True)
    assert recorder.last() == ["action", "page"], "the application menu"

    script = home / ".local/share/nautilus/scripts/Find similar photos"
    subprocess.run([str(script), odd_photo.name], cwd=folder, check=True, timeout=30)  # Nautilus: names, in the folder
    assert recorder.last() == ["action", "similar", "--", ODD], "Nautilus script"
    assert argument_path(ODD) == Path(os.path.abspath(ODD))


def test_a_percent_sign_in_photobrain_s_own_path_is_escaped_or_refused(tmp_path, odd_photo, isolated_user):
    recorder = Recorder(tmp_path / "100% local" / "bin")
    photobrain("integrations", "install", "thunar", "nautilus", "--program", str(recorder.program))
    command = ET.parse(isolated_user / ".config/Thunar/uca.xml").getroot().find("action/command").text
    thunar_run(command, [odd_photo])  # Thunar reads %% as a percent sign
    assert recorder.last() == ["action", "similar", "--", str(odd_photo)]
    for name in ("dolphin", "nemo", "open-with", "menu"):  # GLib and Nemo 5 cannot start such a program at all
        refused = photobrain("integrations", "install", name, "--program", str(recorder.program), check=False)
        assert refused.returncode == 1 and "cannot run a program whose path holds a '%'" in refused.stderr, name
    assert not (isolated_user / ".local/share/nemo").exists()
    assert not (isolated_user / ".local/share/applications").exists()


def test_the_nautilus_extension_offers_the_right_entries_and_only_starts_photobrain(recorder, odd_photo, isolated_user,
                                                                                     monkeypatch):
    photobrain("integrations", "install", "nautilus", "--program", str(recorder.program))

    class MenuItem:
        def __init__(self, name, label, tip):
            self.name, self.label, self.tip = name, label, tip

        def connect(self, signal, callback):
            assert signal == "activate"
            self.activate = lambda: callback(self)

    class File:
        def __init__(self, path: Path, mime: str | None):
            self.path, self.mime = path, mime

        def get_location(self):
            return types.SimpleNamespace(get_path=lambda: str(self.path))

        def is_directory(self):
            return self.path.is_dir()

        def get_mime_type(self):
            return self.mime

    repository = types.ModuleType("gi.repository")
    repository.GObject = types.SimpleNamespace(GObject=type("GObject", (), {}))  # type: ignore[attr-defined]
    repository.Nautilus = types.SimpleNamespace(MenuProvider=type("MenuProvider", (), {}),  # type: ignore[attr-defined]
                                                MenuItem=MenuItem)
    monkeypatch.setitem(sys.modules, "gi", types.ModuleType("gi"))
    monkeypatch.setitem(sys.modules, "gi.repository", repository)
    path = isolated_user / ".local/share/nautilus-python/extensions/photobrain_menu.py"
    spec = importlib.util.spec_from_file_location("photobrain_menu_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    menu = module.PhotobrainMenu()

    photo, folder = File(odd_photo, "image/jpeg"), File(odd_photo.parent, "inode/directory")
    assert [i.label for i in menu.get_file_items([photo])] == ["Find similar photos", "Tag with photobrain"]
    assert [i.label for i in menu.get_file_items(None, [folder])] == ["Tag with photobrain", "Search photos…"]
    assert [i.label for i in menu.get_file_items([photo, folder])] == ["Tag with photobrain"]
    assert menu.get_file_items([File(odd_photo.with_suffix(".txt"), "text/plain")]) == []
    menu.get_file_items([photo])[0].activate()
    assert recorder.last() == ["action", "similar", "--", str(odd_photo)]


def test_install_twice_is_install_once(recorder, isolated_user):
    first = photobrain("integrations", "install", *LINUX, "--program", str(recorder.program)).stdout
    before = installed_files(isolated_user)
    second = photobrain("integrations", "install", *LINUX, "--program", str(recorder.program)).stdout
    assert installed_files(isolated_user) == before
    assert "wrote" in first and "wrote" not in second and "unchanged" in second


USER_UCA = """<?xml version="1.0" encoding="UTF-8"?>
<actions>
<!-- my own actions, do not lose them -->
<action>
	<icon>utilities-terminal</icon>
	<name>Open Terminal Here</name>
	<submenu></submenu>
	<unique-id>1700000000000000-1</unique-id>
	<command>exo-open --working-directory %f --launch TerminalEmulator</command>
	<description>Example for a custom action</description>
	<range></range>
	<patterns>*</patterns>
	<startup-notify/>
	<directories/>
</action>
</actions>
"""


def actions_of(path: Path) -> dict[str, dict]:
    return {a.findtext("unique-id"): {child.tag: (child.text or "").strip() for child in a}
            for a in ET.parse(path).getroot().findall("action")}


def test_uninstall_removes_exactly_what_install_wrote_and_keeps_the_user_s_edits(recorder, isolated_user):
    home = isolated_user
    uca = home / ".config/Thunar/uca.xml"
    uca.parent.mkdir(parents=True)
    uca.write_text(USER_UCA)
    mine = home / ".local/share/kio/servicemenus/photobrain-search.desktop"  # the user's own file of that name
    mine.parent.mkdir(parents=True)
    mine.write_text("[Desktop Entry]\nType=Service\nActions=mine;\n")
    mimeapps = home / ".config/mimeapps.list"
    mimeapps.write_text("[Default Applications]\ntext/plain=org.gnome.TextEditor.desktop;\n")
    before_mine, before_jpeg = mine.read_bytes(), _default_for("image/jpeg")

    done = photobrain("integrations", "install", "thunar", "dolphin", "nemo", "open-with",
                      "--program", str(recorder.program)).stdout
    assert f"kept {mine}: it is not photobrain's" in done and mine.read_bytes() == before_mine
    assert _default_for("image/jpeg") == before_jpeg, "installing made photobrain the default viewer"
    assert set(actions_of(uca)) == {"1700000000000000-1", "photobrain-similar", "photobrain-tag", "photobrain-search"}
    assert "my own actions" in uca.read_text()

    # the user goes on: Thunar rewrites the file with an action of theirs added and one of theirs changed
    tree = ET.parse(uca)
    root = tree.getroot()
    added = ET.SubElement(root, "action")
    for tag, text in (("name", "Resize"), ("unique-id", "1700000000000000-2"), ("command", "convert %f -resize 50% %f"),
                      ("patterns", "*.jpg")):
        ET.SubElement(added, tag).text = text
    root.find("action/name").text = "Terminal here"
    tree.write(uca, encoding="UTF-8", xml_declaration=True)
    edited_nemo = home / ".local/share/nemo/actions/photobrain-tag.nemo_action"
    edited_nemo.write_text(edited_nemo.read_text().replace("Name=Tag with photobrain", "Name=AI tags"))
    users_own = actions_of(uca)

    done = photobrain("integrations", "uninstall").stdout
    assert actions_of(uca) == {k: v for k, v in users_own.items() if not k.startswith("photobrain-")}
    assert edited_nemo.exists() and f"kept {edited_nemo}: changed since photobrain installed it" in done
    assert not (home / ".local/share/nemo/actions/photobrain-similar.nemo_action").exists()
    assert not (home / ".local/share/kio/servicemenus/photobrain-similar.desktop").exists()
    assert not (home / ".local/share/applications/photobrain-similar.desktop").exists()
    assert mine.read_bytes() == before_mine
    assert mimeapps.read_text() == "[Default Applications]\ntext/plain=org.gnome.TextEditor.desktop;\n"


def _default_for(mime: str) -> str:
    done = subprocess.run(["gio", "mime", mime], capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
    return (done.stdout.splitlines() or [""])[0]


def test_status_says_what_is_installed_and_sees_a_photobrain_that_moved(tmp_path, isolated_user):
    venv = tmp_path / "old-place" / "venv"  # (a shebang cannot hold a space; pip writes a launcher then)
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    program = venv / "bin" / "photobrain"
    program.write_text(f"#!{venv}/bin/python\nimport sys\nfrom sidecar.cli import main\nsys.exit(main())\n")
    program.chmod(0o755)
    photobrain("integrations", "install", "thunar", "menu", "--program", str(program))

    rows = {r["name"]: r for r in json.loads(photobrain("integrations", "status", "--json").stdout)}
    assert rows["thunar"]["installed"] and rows["menu"]["installed"] and not rows["nemo"]["installed"]
    assert rows["thunar"]["program"] == [str(program)] and rows["thunar"]["broken"] is None
    shown = photobrain("integrations", "status").stdout
    assert f"thunar: installed, runs {program}" in shown and "nemo: not installed" in shown

    venv.rename(tmp_path / "old-place" / "venv-moved")
    done = photobrain("integrations", "status", check=False)
    assert done.returncode == 1
    assert f"thunar: BROKEN: {program} is not there any more" in done.stdout
    assert "photobrain integrations install thunar" in done.stdout

    (venv / "bin").mkdir(parents=True)  # the script back, its Python not (a venv copied without its interpreter)
    shutil.copy(tmp_path / "old-place" / "venv-moved" / "bin" / "photobrain", program)
    assert f"starts {venv}/bin/python, which is not there any more" in photobrain("integrations", "status",
                                                                                 check=False).stdout


def test_thunar_loads_the_merged_actions(recorder, isolated_user, tmp_path):
    """Thunar itself reads uca.xml at start and warns about a file it cannot load (checked first with a broken
    one, so the check can fail)."""
    uca = isolated_user / ".config/Thunar/uca.xml"
    uca.parent.mkdir(parents=True)
    uca.write_text(USER_UCA.replace("<directories/>", "<directories>"))
    assert "thunar-uca-WARNING" in _start_app(["thunar"], tmp_path)
    uca.write_text(USER_UCA)
    photobrain("integrations", "install", "thunar", "--program", str(recorder.program))
    output = _start_app(["thunar"], tmp_path)
    assert "thunar-uca" not in output, output
    assert set(actions_of(uca)) == {"1700000000000000-1", "photobrain-similar", "photobrain-tag", "photobrain-search"}


def test_nemo_loads_the_actions(recorder, isolated_user, tmp_path):
    """Nemo reads every action file at start and warns about one it will not load (checked first with one
    lacking its Selection, so the check can fail)."""
    actions = isolated_user / ".local/share/nemo/actions"
    actions.mkdir(parents=True)
    broken = actions / "broken.nemo_action"
    broken.write_text("[Nemo Action]\nName=Broken\nExec=true %F\nMimetypes=image/*;\n")
    assert f"Check the {broken} file" in _start_app(["nemo", "--no-desktop"], tmp_path)
    broken.unlink()
    photobrain("integrations", "install", "nemo", "--program", str(recorder.program))
    output = _start_app(["nemo", "--no-desktop"], tmp_path)
    assert "An action definition requires" not in output and "photobrain" not in output, output


def _start_app(command: list[str], folder: Path) -> str:
    """What a file manager says on stderr in its first seconds, started on a virtual display."""
    runtime = folder / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    process = subprocess.Popen(["xvfb-run", "-a", "dbus-run-session", "--", *command, str(folder)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                               env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})
    try:
        output, _ = process.communicate(timeout=6)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 15)
        output, _ = process.communicate(timeout=30)
    return output


# -- Windows and macOS: the plans, read back with each platform's rules ------------------------------------------

class FakeRegistry:
    """winreg's interface over a dict, enough for the plan's writes, reads and deletes."""
    HKEY_CURRENT_USER, KEY_WRITE, KEY_READ, REG_SZ = "HKCU", 1, 2, 1

    def __init__(self):
        self.keys: dict[str, dict[str, str]] = {}

    class _Key:
        def __init__(self, registry, path):
            self.registry, self.path = registry, path

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def CreateKeyEx(self, root, path, reserved, access):  # noqa: N802 (winreg's names)
        self.keys.setdefault(path, {})
        return self._Key(self, path)

    def OpenKey(self, root, path, reserved, access):  # noqa: N802
        if path not in self.keys:
            raise FileNotFoundError(path)
        return self._Key(self, path)

    def SetValueEx(self, key, name, reserved, kind, value):  # noqa: N802
        self.keys[key.path][name] = value

    def QueryValueEx(self, key, name):  # noqa: N802
        if name not in self.keys[key.path]:
            raise FileNotFoundError(name)
        return self.keys[key.path][name], self.REG_SZ

    def DeleteKey(self, root, path):  # noqa: N802
        if any(k.startswith(path + "\\") for k in self.keys):
            raise PermissionError("a key with subkeys cannot be deleted")
        del self.keys[path]


def test_the_explorer_verbs_run_photobrain_without_a_console_with_the_file_as_one_argument():
    python = PureWindowsPath(r"C:\Users\Zoë O'Neil\photobrain venv\Scripts\python.exe")
    plan = windows.explorer(python)
    keys = {k.key: k.values for k in plan.registry}
    base = r"Software\Classes\SystemFileAssociations\image\shell"
    assert set(keys) == {f"{base}\\photobrain.similar", f"{base}\\photobrain.similar\\command",
                         f"{base}\\photobrain.tag", f"{base}\\photobrain.tag\\command",
                         r"Software\Classes\Directory\shell\photobrain.tag",
                         r"Software\Classes\Directory\shell\photobrain.tag\command",
                         r"Software\Classes\Directory\shell\photobrain.search",
                         r"Software\Classes\Directory\shell\photobrain.search\command"}
    assert all(k.startswith("Software\\Classes\\") for k in keys), "per user: HKEY_CURRENT_USER only"
    assert keys[f"{base}\\photobrain.similar"]["MultiSelectModel"] == "Single"
    assert keys[f"{base}\\photobrain.tag"]["MultiSelectModel"] == "Player"
    assert keys[f"{base}\\photobrain.similar"][""] == "Find similar photos"
    photo = r"D:\Photos\-odd 'single' $HOME %f 100% café ✓.jpg"  # Windows names cannot hold a double quote
    for key, values in keys.items():
        if key.endswith("\\command"):
            name = key.split("photobrain.")[1].split("\\")[0]
            words = windows_split(values[""].replace("%1", photo))
            assert words == [str(python.with_name("pythonw.exe")), "-m", "sidecar", "action", name, "--", photo]

    registry = FakeRegistry()
    registry.keys[r"Software\Classes\Directory\shell\somebody.else"] = {"": "Theirs"}
    windows.apply(plan, registry)
    windows.apply(plan, registry)
    assert {k: v for k, v in registry.keys.items() if "photobrain" in k} == keys
    assert windows.installed(plan, registry).endswith('action similar -- "%1"')
    registry.keys[rf"{base}\photobrain.tag"]["photobrain"] = "changed by hand"
    done = windows.remove(plan, registry)
    assert set(registry.keys) == {r"Software\Classes\Directory\shell\somebody.else", rf"{base}\photobrain.tag"}
    assert any("kept" in line and "photobrain.tag" in line for line in done)


def test_the_finder_quick_actions_are_workflows_that_hand_photobrain_the_files(recorder, odd_photo, tmp_path):
    plan = macos.finder([str(recorder.program)], tmp_path / "home")
    infos = {p.parent.parent.name: plistlib.loads(text.encode()) for p, (text, _) in plan.files.items()
             if p.name == "Info.plist"}
    assert sorted(infos) == ["Find similar photos.workflow", "Search photos with photobrain.workflow",
                             "Tag with photobrain.workflow"]
    service = infos["Find similar photos.workflow"]["NSServices"][0]
    assert service["NSMenuItem"]["default"] == "Find similar photos" and service["NSMessage"] == "runWorkflowAsService"
    assert service["NSSendFileTypes"] == ["public.image"]
    assert service["NSRequiredContext"]["NSApplicationIdentifier"] == "com.apple.finder"
    assert infos["Tag with photobrain.workflow"]["NSServices"][0]["NSSendFileTypes"] == ["public.image",
                                                                                         "public.folder"]
    for path, (text, _) in plan.files.items():
        if path.name != "document.wflow":
            continue
        workflow = plistlib.loads(text.encode())
        assert workflow["workflowMetaData"]["workflowTypeIdentifier"] == "com.apple.Automator.servicesMenu"
        (action,) = workflow["actions"]
        parameters = action["action"]["ActionParameters"]
        assert action["action"]["ActionBundlePath"] == "/System/Library/Automator/Run Shell Script.action"
        assert parameters["inputMethod"] == 1  # the files as arguments, never through stdin text
        # Automator runs the script with the selected files as its arguments
        subprocess.run([parameters["shell"], "-c", parameters["COMMAND_STRING"], "sh", str(odd_photo)], check=True)
        name = path.parent.parent.name
        expected = "similar" if name.startswith("Find") else "tag" if name.startswith("Tag") else "search"
        assert recorder.last() == ["action", expected, "--", str(odd_photo)]
    assert plan.files == macos.finder([str(recorder.program)], tmp_path / "home").files, "install twice = once"


def test_the_digikam_recipe_tags_the_photo_and_hands_it_on_unchanged(recorder, odd_photo, tmp_path):
    done = photobrain("integrations", "install", "digikam", "--program", str(recorder.program)).stdout
    script = installer.bqm_script([str(recorder.program)])
    assert script in done
    output = tmp_path / "bqm-output.jpg"
    # digiKam substitutes $INPUT and $OUTPUT with the names escaped for /bin/sh, then runs the script with it
    escaped = subprocess.run([SYSTEM_PYTHON, str(GLIB_TOOL), json.dumps({"op": "quote", "text": str(odd_photo)})],
                             capture_output=True, text=True, check=True).stdout
    line = script.replace("$INPUT", json.loads(escaped)).replace("$OUTPUT", str(output))
    subprocess.run(["/bin/sh", "-c", line], check=True)
    assert recorder.last() == ["action", "tag", "--", str(odd_photo)]
    assert output.read_bytes() == odd_photo.read_bytes()


def test_every_file_photobrain_writes_carries_its_mark(recorder, isolated_user):
    photobrain("integrations", "install", *LINUX, "--program", str(recorder.program))
    record = json.loads((isolated_user / ".local/share/photobrain/integrations.json").read_text())
    files = [Path(p) for entry in record.values() for p in entry["files"]]
    assert len(files) == 3 + 4 + 3 + 1 + 1  # dolphin, nautilus (3 scripts + extension), nemo, open-with, menu
    assert all(MARK in p.read_text() for p in files)


def test_explorer_s_folder_argument_for_a_drive_root_is_read_back_as_the_drive():
    # "%1" of D:\ is "D:\" on the command line, which the C runtime splits into D: and a quote
    assert windows_split('"C:\\Python\\pythonw.exe" -m sidecar action search -- "D:\\"')[-1] == 'D:"'
    assert str(argument_path('D:"', windows=True)) == "D:\\"
    assert str(argument_path("D:\\Photos\\2024", windows=True)) == "D:\\Photos\\2024"


def test_the_finder_quick_actions_install_once_and_uninstall_to_nothing(recorder, isolated_user):
    plan = macos.finder([str(recorder.program)], isolated_user)
    first = installer.install(plan)
    assert installer.install(plan) == [line.replace("wrote", "unchanged") for line in first]
    services = isolated_user / "Library/Services"
    assert sorted(p.name for p in services.iterdir()) == ["Find similar photos.workflow",
                                                          "Search photos with photobrain.workflow",
                                                          "Tag with photobrain.workflow"]
    installer.uninstall(plan)
    assert list(services.iterdir()) == []


def test_dolphin_s_service_menus_go_where_its_frameworks_read_them(tmp_path):
    from integrations.linux import dolphin_folder

    def kf5(version):
        return lambda *a, **k: subprocess.CompletedProcess(a, 0, f"Qt: 5.15.2\nKDE Frameworks: {version}\n", "")

    def missing(*a, **k):
        raise FileNotFoundError("kf5-config")

    assert dolphin_folder(tmp_path, run=kf5("5.78.0")) == tmp_path / ".local/share/kservices5/ServiceMenus"
    assert dolphin_folder(tmp_path, run=kf5("5.103.0")) == tmp_path / ".local/share/kio/servicemenus"
    assert dolphin_folder(tmp_path, run=missing) == tmp_path / ".local/share/kio/servicemenus"  # KF6 only


def test_an_unreadable_uca_xml_is_left_as_it_is_and_the_other_entries_still_install(recorder, isolated_user):
    uca = isolated_user / ".config/Thunar/uca.xml"
    uca.parent.mkdir(parents=True)
    uca.write_text(USER_UCA.replace("</actions>", ""))  # cut short (a full disk, an editor crash)
    before = uca.read_bytes()
    done = photobrain("integrations", "install", "thunar", "nemo", "--program", str(recorder.program), check=False)
    assert done.returncode == 1
    assert f"error: {uca}: Thunar's custom actions file cannot be read" in done.stderr and "hint: fix it" in done.stderr
    assert uca.read_bytes() == before
    assert (isolated_user / ".local/share/nemo/actions/photobrain-similar.nemo_action").exists()
    unknown = photobrain("integrations", "install", "nemo", "konqueror", check=False)
    assert unknown.returncode == 1 and "no integration named 'konqueror'" in unknown.stderr
    assert "nemo:" not in unknown.stdout, "nothing is installed when a name is wrong"
