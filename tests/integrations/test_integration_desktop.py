"""End to end on Linux: the installed entries' command lines, expanded as each file manager expands them, run the
real photobrain; "Find similar photos" opens the launcher page (headless Chromium) on that photo's similar photos,
"Tag with photobrain" tags a folder of new photos and says so in a desktop notification."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from launcher_desk import answers, settled, wait
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from test_integration_entries import gio_launch, glib, nemo_run, raw_exec, thunar_run

from sidecar import actions
from sidecar.notify import Notifier, command

SIMILAR_TO = "landscapes/autumn valley.jpg"


def _browser(folder: Path) -> tuple[Path, Path]:
    """A stand-in default browser (``BROWSER``) that writes down the address it was asked to open."""
    log = folder / "opened-urls.txt"
    browser = folder / "browser"
    browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{log}"\n')
    browser.chmod(0o755)
    return browser, log


def _next_url(log: Path, seen: int, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        if len(lines) > seen:
            return lines[seen]
        time.sleep(0.02)
    raise AssertionError("the entry opened no page")


def test_find_similar_from_each_file_manager_shows_that_photo_s_similar_photos(desk, chromium, tmp_path):
    browser, log = _browser(tmp_path)
    env = {**desk.env, "BROWSER": str(browser)}
    installed = subprocess.run([sys.executable, "-m", "sidecar", "integrations", "install", "dolphin", "thunar",
                                "nemo", "open-with"], env=env, capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    home = Path(env["HOME"])
    photo = desk.library / SIMILAR_TO
    cli = json.loads(desk.photobrain("similar", str(photo), "--json", "-n", "60", "--cutoff", "-100").stdout)
    expected = [hit["path"] for hit in cli["hits"]]

    uca = {a.findtext("unique-id"): a.findtext("command")
           for a in ET.parse(home / ".config/Thunar/uca.xml").getroot().findall("action")}
    nemo = glib("keyfile", path=str(home / ".local/share/nemo/actions/photobrain-similar.nemo_action"),
                group="Nemo Action")["Exec"]
    dolphin = raw_exec(home / ".local/share/kio/servicemenus/photobrain-similar.desktop",
                       "Desktop Action photobrain_similar")
    open_with = home / ".local/share/applications/photobrain-similar.desktop"
    launches = {
        "dolphin": lambda: gio_launch(dolphin, [photo], tmp_path),
        "open with": lambda: subprocess.run(["gio", "launch", str(open_with), str(photo)], check=True, env=env),
        "thunar": lambda: thunar_run(uca["photobrain-similar"], [photo]),
        "nemo": lambda: nemo_run(nemo, [photo]),
    }
    saved = dict(os.environ)
    os.environ.update(env)  # the file manager's session: the desk's home, its service, the stand-in browser
    try:
        for seen, (name, launch) in enumerate(launches.items()):
            started = time.monotonic()
            launch()
            url = _next_url(log, seen)
            target = parse_qs(urlsplit(url).query)["next"][0]
            assert urlsplit(target).path == "/similar" and parse_qs(urlsplit(target).query)["path"] == [str(photo)], name
            chromium.get(url)
            settled(chromium)
            wait(chromium, lambda d: d.execute_script(
                "return document.getElementById('reference-image').naturalWidth") > 0)
            print(f"{name}: from the entry's start to the page's answer, the photo shown: "
                  f"{time.monotonic() - started:.2f} s")
            # the tiny test model stands nothing out at the page's default strictness: ask for all, ranked
            shown = answers(chromium)
            Select(chromium.find_element(By.ID, "cutoff")).select_by_value("-100")
            assert settled(chromium, shown) == expected, name
            assert chromium.find_element(By.ID, "reference-name").text == str(photo)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_search_photos_on_a_folder_opens_the_page_scoped_to_it(desk, chromium, tmp_path):
    browser, log = _browser(tmp_path)
    env = {**desk.env, "BROWSER": str(browser)}
    subprocess.run([sys.executable, "-m", "sidecar", "integrations", "install", "dolphin"], env=env, check=True,
                   capture_output=True)
    folder = desk.library / "landscapes"
    search = raw_exec(Path(env["HOME"]) / ".local/share/kio/servicemenus/photobrain-search.desktop",
                      "Desktop Action photobrain_search")
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        gio_launch(search, [folder], tmp_path)
        url = _next_url(log, 0)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    target = parse_qs(urlsplit(url).query)["next"][0]
    assert urlsplit(target).path == "/" and parse_qs(urlsplit(target).query)["in"] == [str(folder)]
    chromium.get(url)
    wait(chromium, lambda d: d.find_element(By.ID, "folder").get_attribute("value") == str(folder))
    shown = answers(chromium)
    Select(chromium.find_element(By.ID, "cutoff")).select_by_value("-100")
    chromium.find_element(By.ID, "q").send_keys("valley")
    found = settled(chromium, shown)
    assert found and all(path.startswith(str(folder) + "/") for path in found)
    everywhere = json.loads(desk.photobrain("search", "valley", "--json", "-n", "60", "--cutoff", "-100").stdout)
    assert any(not hit["path"].startswith(str(folder)) for hit in everywhere["hits"]), "the scope made no difference"


@pytest.fixture
def tag_desk(tmp_path, tiny_clip_prepared):
    """A library tagged with the tiny model, a folder of new photos dropped into it, a stand-in notify-send, and
    a config whose default model is the tiny one (for photos in no library yet)."""
    from conftest import SAMPLES

    model, text_cache = tiny_clip_prepared
    library = tmp_path / "Photos"
    shutil.copytree(SAMPLES / "animals", library / "animals")
    (tmp_path / "bin").mkdir()
    notes = tmp_path / "notifications.jsonl"
    (tmp_path / "bin" / "notify-send").write_text(
        f"#!{sys.executable}\nimport json, sys\nopen({str(notes)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "print(7)\n")
    (tmp_path / "bin" / "notify-send").chmod(0o755)
    config = tmp_path / "config.toml"
    config.write_text(f'model = "{model.config_path}"\npretrained = "{model.checkpoint_path}"\n'
                      'jobs = 1\nthreshold = 0.05\nwrite = "sidecar"\n')
    env = {**os.environ, "PHOTOBRAIN_CONFIG": str(config), "PHOTOBRAIN_CACHE": str(tmp_path / "cache"),
           "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    shutil.copytree(text_cache, tmp_path / "cache" / "text")
    subprocess.run([sys.executable, "-m", "sidecar", "tag", str(library), "-q"], env=env, check=True,
                   capture_output=True)
    new = library / "new from the card"
    new.mkdir()
    for source in ("city/facade.jpg", "food/fig.jpg", "interiors/wine corner.jpg"):
        shutil.copy(SAMPLES / source, new / Path(source).name)
    return library, new, env, notes


def test_tag_with_photobrain_on_a_folder_of_new_photos_tags_them_and_says_so(tag_desk, tmp_path):
    library, new, env, notes = tag_desk
    subprocess.run([sys.executable, "-m", "sidecar", "integrations", "install", "thunar"], env=env, check=True,
                   capture_output=True)
    uca = {a.findtext("unique-id"): a.findtext("command")
           for a in ET.parse(Path(env["HOME"]) / ".config/Thunar/uca.xml").getroot().findall("action")}
    quoted = str(glib("quote", text=str(new)))
    argv = glib("parse", line=uca["photobrain-tag"].replace("%F", quoted))
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)  # as Thunar starts it
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == "", "an entry has no terminal: everything goes to notifications"

    shown = json.loads(subprocess.run([sys.executable, "-m", "sidecar", "tags", "show", str(new), "--json"], env=env,
                                      capture_output=True, text=True, check=True).stdout)
    assert len(shown["files"]) == 3 and all(entry["ai_tags"] for entry in shown["files"]), shown
    said = [json.loads(line) for line in notes.read_text().splitlines()]
    assert said[0][-2:] == ["photobrain", "Tagging new from the card…"]
    assert "--hint=int:value:0" in said[0]
    assert said[-1][-1].startswith(f"Tagged 3 photos in {library.name} in ")
    assert "(3 tagged)" in said[-1][-1]
    assert all("--replace-id=7" in s for s in said[1:]), "one notification, updated"
    log = (Path(env["HOME"]) / ".local/share/photobrain/actions.log").read_text()
    assert f"action tag: {new}" in log and "Tagged 3 photos" in log


def test_tag_with_photobrain_on_a_photo_in_no_library_tags_it_with_the_default_settings(tag_desk, tmp_path):
    _, _, env, notes = tag_desk
    from conftest import SAMPLES

    loose = tmp_path / "Downloads" / "-from 'Anna' $1.jpg"
    loose.parent.mkdir()
    shutil.copy(SAMPLES / "food/fig.jpg", loose)
    done = subprocess.run([sys.executable, "-m", "sidecar", "action", "tag", "--", loose.as_uri()], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    last = json.loads(notes.read_text().splitlines()[-1])[-1]
    assert last.startswith("Tagged 1 photo in Downloads") and "New library " in last and "default settings" in last
    assert loose.with_name(loose.name + ".xmp").exists() or loose.with_suffix(".xmp").exists()


def test_find_similar_on_a_photo_just_imported_tags_it_first_so_the_page_has_its_neighbours(tag_desk, tmp_path):
    library, new, env, notes = tag_desk
    browser, log = _browser(tmp_path)
    env = {**env, "BROWSER": str(browser)}
    photo = new / "fig.jpg"  # in the library, not tagged yet
    try:
        done = subprocess.run([sys.executable, "-m", "sidecar", "action", "similar", "--", str(photo)], env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        target = parse_qs(urlsplit(_next_url(log, 0)).query)["next"][0]
        assert parse_qs(urlsplit(target).query)["path"] == [str(photo)]
        said = [json.loads(line)[-1] for line in notes.read_text().splitlines()]
        assert said[0] == "Tagging fig.jpg…" and said[-1].startswith(f"Tagged 1 photo in {library.name}")
        similar = subprocess.run([sys.executable, "-m", "sidecar", "similar", str(photo), "--json", "--cutoff", "-100"],
                                 env=env, capture_output=True, text=True)
        assert similar.returncode == 0 and json.loads(similar.stdout)["hits"], similar.stderr
        # tagged now: a second "Find similar" opens the page at once, tagging nothing
        subprocess.run([sys.executable, "-m", "sidecar", "action", "similar", "--", str(photo)], env=env, check=True,
                       timeout=60)
        assert len(notes.read_text().splitlines()) == len(said)
    finally:
        subprocess.run([sys.executable, "-m", "sidecar", "serve", "--stop"], env=env, capture_output=True)


def test_a_missing_file_or_a_broken_command_says_what_went_wrong_in_a_notification(tag_desk, tmp_path):
    _, _, env, notes = tag_desk
    gone = tmp_path / "not there.jpg"
    done = subprocess.run([sys.executable, "-m", "sidecar", "action", "similar", "--", str(gone)], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 1
    last = json.loads(notes.read_text().splitlines()[-1])
    assert last[-2:] == ["photobrain: could not do it", f"{gone}: no such file or folder (it may have been moved or "
                                                         "renamed)"]
    photo = tmp_path / "Photos" / "animals" / "ladybird.jpg"
    nobody = tmp_path / "nobody"  # a user who never tagged anything
    for words in (["search", "--", str(photo)], ["page"]):  # a right-click, the application menu's entry
        done = subprocess.run([sys.executable, "-m", "sidecar", "action", *words],
                              env={**env, "HOME": str(nobody), "XDG_DATA_HOME": str(nobody / "data")},
                              capture_output=True, text=True)
        assert done.returncode == 1 and done.stderr == ""
        last = json.loads(notes.read_text().splitlines()[-1])
        assert "no catalog yet" in last[-1] and "photobrain tag FOLDER" in last[-1]
    done = subprocess.run([sys.executable, "-m", "sidecar", "action", "tag", "--", str(gone)], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert json.loads(notes.read_text().splitlines()[-1])[-1] == f"cannot tag {gone}: no such file or folder"


def test_tag_invocations_started_together_become_one_tag_run_and_runs_never_overlap(tmp_path, isolated_user):
    """Explorer starts one process per selected file: they queue their files and one of them tags them all; files
    chosen while a run is going are tagged by the next run of the same process, not by a second model at once."""
    recorder = tmp_path / "tag-stand-in"
    calls = tmp_path / "calls.jsonl"
    recorder.write_text(f"#!{sys.executable}\nimport json, sys, time\nstarted = time.time()\ntime.sleep(3)\n"
                        f"open({str(calls)!r}, 'a').write(json.dumps([started, time.time(), *sys.argv[1:]]) + '\\n')\n"
                        "print('{}')\n")
    recorder.chmod(0o755)
    photos = []
    for i in range(6):
        photos.append(tmp_path / f"photo {i}.jpg")
        photos[-1].write_bytes(b"x")
    _, queue = actions.places()
    script = ("import sys; from pathlib import Path; from sidecar import actions; from sidecar.notify import Notifier;"
              f"sys.exit(actions.tag(sys.argv[1:], Notifier(), queue=Path({str(queue)!r}), gather=1.0,"
              f" command=[{str(recorder)!r}]))")
    processes = []
    for wave in (photos[:3], photos[3:]):
        for photo in wave:
            processes.append(subprocess.Popen([sys.executable, "-c", script, str(photo)]))
            time.sleep(0.05)
        time.sleep(2.5)  # the first wave's run is going when the second wave comes
    assert [p.wait(timeout=60) for p in processes] == [0] * 6
    runs = [json.loads(line) for line in calls.read_text().splitlines()]
    assert [sorted(run[5:]) for run in runs] == [sorted(map(str, photos[:3])), sorted(map(str, photos[3:]))]
    assert all(run[2:5] == ["tag", "--json", "--"] for run in runs)
    assert runs[1][0] >= runs[0][1], "two tag runs at once"


def test_notifications_on_every_platform_carry_the_text_as_it_is():
    odd = "Tagged 3 photos in \"Alps\" & 'Dolomites' $HOME <b>"
    linux = command("linux", "photobrain", odd, replace=5, progress=40, which=lambda name: f"/usr/bin/{name}")
    assert linux[:1] == ["notify-send"] and linux[-2:] == ["photobrain", odd]
    assert "--replace-id=5" in linux and "--hint=int:value:40" in linux and linux[-3] == "--"
    gdbus = command("linux", "photobrain", odd, which=lambda name: "/usr/bin/gdbus" if name == "gdbus" else None)
    assert gdbus[:3] == ["gdbus", "call", "--session"]
    # gdbus reads each argument as GVariant text of the Notify method's signature
    assert glib("variants", texts=gdbus[-8:], types="susssasa{sv}i") == ["photobrain", 0, "image-x-generic",
                                                                           "photobrain", odd, [], {}, -1]
    mac = command("darwin", "photobrain", odd)
    assert mac[:2] == ["osascript", "-e"] and '\\"Alps\\"' in mac[2] and "$HOME" in mac[2]
    windows = command("win32", "photobrain", odd)
    toast = ET.fromstring(windows[-1].split("=", 1)[1])
    assert [t.text for t in toast.iter("text")] == ["photobrain", odd]
    assert "-WindowStyle" in windows and odd not in windows[6], "the text never reaches PowerShell's parser"


def test_the_notifier_logs_every_line_even_without_a_notification_service(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no notify-send, no gdbus
    log = tmp_path / "actions.log"
    notifier = Notifier(log, platform="linux")
    notifier.show("photobrain", "Tagging 3 items…", progress=0)
    assert "photobrain: Tagging 3 items…" in log.read_text()
