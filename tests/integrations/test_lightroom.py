"""The Lightroom Classic plug-in, as installed by ``photobrain integrations install lightroom``, run in a real
Lua 5.1 against the SDK stand-in (``lightroom_sdk.lua``), talking to a real ``photobrain serve`` (which it starts
itself) over a tagged copy of samples/."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lightroom_host import Lightroom
from PIL import Image, ImageOps

from integrations import lightroom as lightroom_plan
from integrations.entries import default_program

PLUGIN_SOURCE = lightroom_plan.SOURCE
NOT_IN_LIGHTROOM = "plants/red flower.jpg"  # on disk and in photobrain's catalog, never imported into Lightroom


class Desk:
    def __init__(self, base: Path, library: Path, env: dict[str, str], plugin: Path):
        self.base, self.library, self.env, self.plugin = base, library, env, plugin

    def photobrain(self, *args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "sidecar", *args], capture_output=True, text=True, env=self.env)
        assert done.returncode == 0, done.stderr
        return done

    def lightroom(self, plugin: Path | None = None) -> Lightroom:
        """A Lightroom whose catalog holds every photo of the library but one, with the plug-in's settings for
        as many results as there are photos (the tiny test model stands nothing out at the default cutoff)."""
        lr = Lightroom(plugin or self.plugin, self.base / "tmp", self.env)
        lr.sdk.prefs.cutoff = -100
        assert (self.library / NOT_IN_LIGHTROOM).is_file()
        for path in sorted(p for p in self.library.rglob("*") if p.is_file() and p.suffix != ".xmp"):
            if path.relative_to(self.library).as_posix() != NOT_IN_LIGHTROOM:
                lr.add_photo(path)
        return lr

    def photo(self, lr: Lightroom, relative: str):
        return lr.catalog.findPhotoByPath(lr.catalog, str(self.library / relative))

    def ai_tags(self, relative: str) -> list[str]:
        """What photobrain wrote into the photo's XMP (tags show), as Lightroom keyword paths."""
        shown = json.loads(self.photobrain("tags", "show", "--json", str(self.library / relative)).stdout)
        return sorted(tag["path"].replace("|", "/") if "|" in tag["path"] else tag["path"]
                      for tag in shown["files"][0]["ai_tags"])


@pytest.fixture(scope="module")
def desk(tmp_path_factory, tiny_clip_prepared):
    from conftest import SAMPLES

    model, text_cache = tiny_clip_prepared
    base = tmp_path_factory.mktemp("lightroom")
    library = base / "Photos"
    shutil.copytree(SAMPLES, library, ignore=shutil.ignore_patterns("*.xmp", "*.md"))
    home = base / "home"
    (base / "tmp").mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_DATA_HOME": str(home / ".local/share"), "XDG_CACHE_HOME": str(home / ".cache"),
           "PHOTOBRAIN_CACHE": str(base / "cache"), "PHOTOBRAIN_CONFIG": str(base / "none.toml")}
    env.pop("PHOTOBRAIN_CATALOG", None)
    shutil.copytree(text_cache, base / "cache" / "text")
    desk = Desk(base, library, env, home / "Library/Application Support/Adobe/Lightroom/Modules/photobrain.lrplugin")
    desk.photobrain("tag", str(library), "--model", str(model.config_path), "--pretrained", str(model.checkpoint_path),
                    "--write", "sidecar", "--threshold", "0.05", "--jobs", "1", "-q")
    # installed as on a Mac: the plug-in folder in Lightroom's Modules folder, naming this photobrain
    installed = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                                "from integrations import installer; "
                                "print(installer.install(installer.plan_for('lightroom', sys.argv[1:], Path.home(), "
                                "'darwin')))", *default_program()], env=env, capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    yield desk
    subprocess.run([sys.executable, "-m", "sidecar", "serve", "--stop"], env=env, capture_output=True)


def _new_photo(desk: Desk, name: str, source: str = "city/facade.jpg", *, turn=ImageOps.mirror) -> Path:
    """A photo photobrain has never seen (mirrored, so its image data is new), just copied into the library.
    Each test turns its sources its own way: the same image data twice would be a known duplicate."""
    folder = desk.library / "new from the card"
    folder.mkdir(exist_ok=True)
    with Image.open(desk.library / source) as image:
        turn(image).save(folder / name, quality=90)
    return folder / name


def _writes_follow_the_rules(lr: Lightroom, *, wrote: bool = True) -> None:
    calls = lr.calls()
    writes = [c for c in calls if c["name"] == "withWriteAccessDo"]
    assert bool(writes) == wrote
    assert all(c["detail"]["timeout"] for c in writes), "every write needs a timeout"
    assert not lr.errors()


# -- Info.lua, syntax ----------------------------------------------------------------------------------------------

def test_info_lua_loads_in_lightroom_s_restricted_environment_and_names_files_that_exist(desk):
    lr = Lightroom(desk.plugin, desk.base / "tmp", desk.env)
    info = lr.sdk.info()
    assert info.LrSdkVersion >= 6 and info.LrToolkitIdentifier == "org.photobrain.lightroom"
    items = {item.title: item.file for item in info.LrLibraryMenuItems.values()}
    assert list(items) == ["Find similar photos", "Search photos...", "Tag selected photos", "Remove AI keywords"]
    for file in [*items.values(), info.LrMetadataProvider, info.LrPluginInfoProvider]:
        assert (desk.plugin / file).is_file()


def test_the_plug_in_manager_section_says_which_photobrain_and_sets_results_and_cutoff(desk, tmp_path):
    lr = Lightroom(desk.plugin, desk.base / "tmp", desk.env)
    (section,) = lr.sdk.require("PluginInfo").sectionsForTopOfDialog(lr.sdk.factory(), lr.lua.table_from({})).values()
    settings = json.loads((desk.plugin / "photobrain.json").read_text())
    assert section.title == "photobrain" and section.synopsis == "Set up"
    assert settings["program"][0] in section[1].title and settings["catalog"] in section[1].title
    fields = {row[2].value.bind.key: row[2] for row in (section[2], section[3])}
    assert set(fields) == {"results", "cutoff"}
    same = lr.lua.eval("function(a, b) return rawequal(a, b) end")
    assert all(same(field.value.bind.object, lr.sdk.prefs) for field in fields.values())
    assert lr.sdk.prefs.results == 100 and lr.sdk.prefs.cutoff == 3

    bare = _copy_plugin(desk, tmp_path / "photobrain.lrplugin", None)
    lr = Lightroom(bare, desk.base / "tmp", desk.env)
    (section,) = lr.sdk.require("PluginInfo").sectionsForTopOfDialog(lr.sdk.factory(), lr.lua.table_from({})).values()
    assert section.synopsis == "Not set up" and "photobrain integrations install lightroom" in section[1].title


def test_every_lua_file_is_lua_5_1_as_lightroom_runs_it():
    luac = shutil.which("luac5.1")
    assert luac, "luac5.1 is missing: apt-get install lua5.1 (scripts/setup.sh --test installs it)"
    files = sorted(PLUGIN_SOURCE.glob("*.lua")) + sorted(Path(__file__).parent.glob("*.lua"))
    assert len(files) >= 12
    checked = subprocess.run([luac, "-p", *map(str, files)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr  # 5.1's parser: no goto, no //, no 5.3 bit operators


def test_the_start_line_passes_each_word_as_it_is(desk, tmp_path):
    """What LrTasks.execute is given to start the service: sh on macOS gets each word back exactly (quotes,
    spaces, a dollar), its output lands in the file named; cmd.exe on Windows gets the quoted words between an
    outer pair of quotes, which it takes off."""
    lr = Lightroom(desk.plugin, desk.base / "tmp", desk.env)
    start_line = lr.sdk.require("PhotobrainService").startLine
    words = ["/bin/sh", "-c", 'printf "%s\\n" "$@"', "sh", "it's", "a b", "$HOME", "--start"]
    output = tmp_path / "said 'it' $x.txt"
    line = start_line(lr.lua.table_from(words), str(output), False)
    subprocess.run(["/bin/sh", "-c", line], check=True)
    assert output.read_text().splitlines() == ["it's", "a b", "$HOME", "--start"]
    windows = start_line(lr.lua.table_from(["C:\\Program Files\\pb\\photobrain.exe", "serve", "--start"]),
                         "C:\\Temp\\start.txt", True)
    assert windows == '""C:\\Program Files\\pb\\photobrain.exe" "serve" "--start" > "C:\\Temp\\start.txt" 2>&1"'


#: what a plug-in script may take from its environment: Lightroom's additions and Lua 5.1's own
PLUGIN_GLOBALS = {"import", "require", "_PLUGIN", "LOC", "WIN_ENV", "MAC_ENV", "_G", "ipairs", "pairs", "next", "type",
                  "tostring", "tonumber", "pcall", "error", "select", "setmetatable", "getmetatable", "rawset",
                  "unpack", "string", "table", "math"}


def test_the_plug_in_uses_no_global_it_did_not_import_and_sets_none():
    """A name used without ``local X = import 'X'`` is nil in Lightroom: an error only when that line runs."""
    seen: set[str] = set()
    for file in sorted(PLUGIN_SOURCE.glob("*.lua")):
        listing = subprocess.run(["luac5.1", "-p", "-l", str(file)], capture_output=True, text=True, check=True).stdout
        lines = listing.splitlines()
        read = {line.split(";")[-1].strip() for line in lines if "\tGETGLOBAL\t" in line}
        written = {line.split(";")[-1].strip() for line in lines if "\tSETGLOBAL\t" in line}
        assert read <= PLUGIN_GLOBALS, (file.name, read - PLUGIN_GLOBALS)
        assert not written, (file.name, written)
        seen |= read
    assert {"import", "require", "_PLUGIN"} <= seen  # the listing was read


def test_the_installed_plug_in_is_the_source_with_install_s_mark_and_its_settings(desk):
    for source in PLUGIN_SOURCE.iterdir():
        installed = (desk.plugin / source.name).read_text()
        assert installed == lightroom_plan.marked(source.name, source.read_text())
        assert installed.endswith(source.read_text())
    settings = json.loads((desk.plugin / "photobrain.json").read_text())
    assert settings["program"] == default_program()
    assert settings["catalog"] == str(Path(desk.env["HOME"]) / ".local/share/photobrain/catalog.db")
    assert (desk.plugin / "photobrain.json").stat().st_mode & 0o777 == 0o600
    licence = (desk.plugin / "dkjson-LICENSE.txt").read_text()
    assert "David Heiko Kolf" in licence and "Permission is hereby granted" in licence


# -- Find similar, Search -----------------------------------------------------------------------------------------

def test_find_similar_starts_the_service_and_shows_the_similar_photos_in_rank_order(desk):
    subprocess.run([sys.executable, "-m", "sidecar", "serve", "--stop"], env=desk.env, capture_output=True)
    lr = desk.lightroom()
    chosen = "landscapes/autumn valley.jpg"
    lr.select(desk.photo(lr, chosen))
    lr.run("FindSimilar.lua")
    _writes_follow_the_rules(lr)
    assert any("'serve' '--start'" in line for line in lr.executed()), "no service ran: the plug-in starts one"
    ranked = json.loads(desk.photobrain("similar", str(desk.library / chosen), "--json", "-n", "100",
                                        "--cutoff", "-100").stdout)["hits"]
    expected = [str(desk.library / chosen)] + [h["path"] for h in ranked
                                                if h["path"] != str(desk.library / NOT_IN_LIGHTROOM)]
    collections = lr.collections()
    assert collections == {"Similar to autumn valley.jpg": ("photobrain", expected)}
    assert [s.name for s in lr.catalog.activeSources.values()] == ["Similar to autumn valley.jpg"]
    assert [s.name for s in lr.catalog.sets.values()] == ["photobrain"]
    # the photo found that Lightroom does not hold is named, not lost
    ((style, text),) = lr.messages()
    assert "not in this Lightroom catalog" in text and str(desk.library / NOT_IN_LIGHTROOM) in text
    # made in one write, filled in another (Lightroom cannot fill a collection made in the same write)
    blocks = {c["name"]: c["block"] for c in lr.calls() if c["name"] in ("createCollection", "addPhotos")}
    assert blocks["createCollection"] < blocks["addPhotos"]

    lr.run("FindSimilar.lua")  # again: the same collection, refilled, not a second one
    assert lr.collections() == collections and not lr.executed()


def test_search_makes_a_collection_of_the_results_and_keeps_the_last_searches(desk):
    lr = desk.lightroom()
    lr.sdk.dialog = lr.lua.table_from({"button": "ok", "values": lr.lua.table_from({"query": "  a cat  "})})
    lr.run("SearchPhotos.lua")
    _writes_follow_the_rules(lr)
    ranked = json.loads(desk.photobrain("search", "a cat", "--json", "-n", "100", "--cutoff", "-100").stdout)["hits"]
    expected = [h["path"] for h in ranked if h["path"] != str(desk.library / NOT_IN_LIGHTROOM)]
    assert lr.collections() == {"Search: a cat": ("photobrain", expected)}
    assert [s.name for s in lr.catalog.activeSources.values()] == ["Search: a cat"]

    lr.sdk.dialog = lr.lua.table_from({"button": "ok", "values": lr.lua.table_from({"query": "boats"})})
    lr.run("SearchPhotos.lua")
    assert list(lr.sdk.prefs.searches.values()) == ["boats", "a cat"]
    offered = lr.sdk.dialogs[2].contents[2]
    assert offered.kind == "combo_box" and list(offered["items"].values()) == ["a cat"]

    lr.sdk.dialog = lr.lua.table_from({"button": "cancel", "values": lr.lua.table_from({"query": "dogs"})})
    lr.run("SearchPhotos.lua")
    assert "Search: dogs" not in lr.collections() and list(lr.sdk.prefs.searches.values()) == ["boats", "a cat"]


# -- Tag, Remove ------------------------------------------------------------------------------------------------

def test_tag_adds_exactly_photobrain_s_keyword_hierarchy_and_keeps_the_user_s_keywords(desk):
    lr = desk.lightroom()
    known = desk.photo(lr, "animals/ladybird.jpg")
    new_file = _new_photo(desk, "IMG_0001.jpg")
    new = lr.add_photo(new_file, [["Trips", "Norway"], ["Anna"]])  # the user's own keywords
    lr.select(known)
    lr.run("TagPhotos.lua")  # the AI hierarchy exists from here on: the next run must reuse it
    lr.select(known, new)
    lr.run("TagPhotos.lua")
    _writes_follow_the_rules(lr)

    for photo, relative in ((known, "animals/ladybird.jpg"), (new, "new from the card/IMG_0001.jpg")):
        expected = desk.ai_tags(relative)
        assert expected, f"photobrain gave {relative} no tags: the test proves nothing"
        ai = [k for k in lr.keywords(photo) if k.startswith("AI/")]
        assert ai == expected
        assert sorted(lr.field(photo).split("\n")) == expected
    assert "Anna" in lr.keywords(new) and "Trips/Norway" in lr.keywords(new)
    tree = lr.keyword_tree()
    assert len(tree) == len(set(tree)), "a keyword was made twice"
    assert [k for k in tree if "/" not in k] == ["Trips", "Anna", "AI"]
    (scope,) = lr.sdk.progress.values()
    assert scope.cancelable and scope.finished and len(scope.portions) >= 1
    (said,) = lr.bezels()
    assert said.startswith("Added ") and "to 2 photos" in said and not lr.messages()

    before = lr.keyword_tree()
    lr.run("TagPhotos.lua")  # again: nothing new, nothing made twice
    assert lr.keyword_tree() == before
    assert lr.bezels() == ["Added 0 AI keywords to 2 photos."]


def _tagged(desk: Desk, relative: str):
    """A Lightroom whose photo ``relative`` was just tagged by the plug-in, and the AI keywords it got."""
    lr = desk.lightroom()
    photo = desk.photo(lr, relative)
    lr.select(photo)
    lr.run("TagPhotos.lua")
    return lr, photo, [k for k in lr.keywords(photo) if k.startswith("AI/")]


def test_a_keyword_the_user_removed_in_lightroom_stays_removed(desk):
    lr, photo, given = _tagged(desk, "animals/nuthatch.jpg")
    assert len(given) >= 3
    doomed = given[1]
    lr.remove_keyword(photo, doomed)

    lr.run("TagPhotos.lua")
    _writes_follow_the_rules(lr)
    assert [k for k in lr.keywords(photo) if k.startswith("AI/")] == [k for k in given if k != doomed]
    assert doomed not in lr.field(photo).split("\n")
    # photobrain was told: its own file no longer carries it either, and a fresh Lightroom never gets it
    assert doomed not in desk.ai_tags("animals/nuthatch.jpg")
    again = desk.lightroom()
    fresh = desk.photo(again, "animals/nuthatch.jpg")
    again.select(fresh)
    again.run("TagPhotos.lua")
    assert doomed not in again.keywords(fresh) and len(again.keywords(fresh)) == len(given) - 1


def test_remove_ai_keywords_keeps_the_user_s_and_a_later_tag_gives_them_again(desk):
    lr, photo, given = _tagged(desk, "food/fig.jpg")
    assert given
    mine = lr.add_photo(desk.library / "food" / "fig.jpg", [["Market"]], virtual=True)  # a virtual copy
    lr.select(photo, mine)
    lr.run("RemoveKeywords.lua")
    _writes_follow_the_rules(lr)
    assert lr.keywords(photo) == [] and lr.keywords(mine) == ["Market"]
    assert lr.field(photo) is None
    assert lr.bezels() == [f"Removed {len(given)} AI keywords from 2 photos."]

    lr.select(photo)
    lr.run("TagPhotos.lua")  # removing them all is not rejecting them
    assert [k for k in lr.keywords(photo) if k.startswith("AI/")] == given


def test_cancel_stops_the_run_and_says_so_without_an_error(desk):
    # the service started by the plug-in (with SIGINT ignored, as Lightroom's helpers may start it)
    subprocess.run([sys.executable, "-m", "sidecar", "serve", "--stop"], env=desk.env, capture_output=True)
    lr = desk.lightroom()
    photos = [lr.add_photo(_new_photo(desk, f"IMG_1{i}.jpg", source, turn=ImageOps.flip)) for i, source in
              enumerate(("city/facade.jpg", "night/rocket launch pad.jpg", "plants/dandelions.jpg"))]
    lr.select(*photos)
    lr.sdk.cancelAfter = 0  # the user presses the progress bar's cancel at once
    lr.run("TagPhotos.lua")
    _writes_follow_the_rules(lr, wrote=False)
    assert all(lr.keywords(photo) == [] for photo in photos)
    assert [style for style, _ in lr.messages()] == []
    (said,) = lr.bezels()
    assert "(stopped: the photos tagged so far)" in said
    assert any(url.endswith("/tag/cancel") for _, url in lr.http_log)


def test_photos_in_no_library_are_named_with_the_fix_and_the_others_tagged(desk, tmp_path):
    lr = desk.lightroom()
    outside = tmp_path / "Downloads" / "scan 'Anna' $1.jpg"
    outside.parent.mkdir()
    shutil.copy(desk.library / "city/facade.jpg", outside)
    stray = lr.add_photo(outside)
    inside = desk.photo(lr, "city/bridge cables.jpg")
    video = desk.library / "city" / "clip.mov"  # Lightroom imports videos; photobrain reads no video
    video.write_bytes(os.urandom(4096))
    lr.select(stray, inside, lr.add_photo(video))
    lr.run("TagPhotos.lua")
    _writes_follow_the_rules(lr)
    ((style, text),) = lr.messages()
    assert style == "warning" and str(outside) in text and "photobrain tag FOLDER --write none" in text
    assert "to 1 photo" in text
    assert f"could not tag 1 photo:\n  {video}: not an image format photobrain reads" in text
    assert lr.keywords(stray) == [] and lr.keywords(inside)
    assert not list(outside.parent.glob("*.xmp")), "a photo in no library was written to"
    video.unlink()


# -- when photobrain is not there ---------------------------------------------------------------------------------

def _copy_plugin(desk: Desk, folder: Path, settings: dict | None) -> Path:
    shutil.copytree(desk.plugin, folder)
    if settings is None:
        (folder / "photobrain.json").unlink()
    else:
        (folder / "photobrain.json").write_text(json.dumps(settings))
    return folder


@pytest.mark.parametrize("case", ["not set up", "program gone", "cannot start"])
def test_without_a_working_photobrain_each_item_says_what_to_do_and_raises_no_lua_error(desk, tmp_path, case):
    settings = json.loads((desk.plugin / "photobrain.json").read_text())
    if case == "not set up":
        plugin = _copy_plugin(desk, tmp_path / "photobrain.lrplugin", None)
        expected = "run 'photobrain integrations install lightroom'"
    elif case == "program gone":
        plugin = _copy_plugin(desk, tmp_path / "photobrain.lrplugin", {**settings, "program": [str(tmp_path / "gone")]})
        expected = f"{tmp_path / 'gone'} is gone"
    else:  # a catalog with no library: the service cannot start, and says why
        plugin = _copy_plugin(desk, tmp_path / "photobrain.lrplugin",
                              {**settings, "catalog": str(tmp_path / "empty" / "catalog.db")})
        expected = "photobrain's service could not start"
    lr = desk.lightroom(plugin)
    photo = desk.photo(lr, "animals/ladybird.jpg")
    lr.select(photo)
    lr.sdk.dialog = lr.lua.table_from({"button": "ok", "values": lr.lua.table_from({"query": "cat"})})
    for script in ("FindSimilar.lua", "SearchPhotos.lua", "TagPhotos.lua"):
        lr.run(script)
        assert not lr.errors(), (script, lr.errors())
        ((style, text),) = lr.messages()
        assert style == "critical" and expected in text, (script, text)
        assert not lr.collections() and lr.keywords(photo) == []
    if case == "cannot start":
        assert "no catalog yet" in text and "photobrain tag FOLDER" in text


# -- the service's side ---------------------------------------------------------------------------------------------

def _service(desk: Desk) -> dict:
    desk.photobrain("serve", "--start")
    return json.loads((Path(desk.env["HOME"]) / ".local/share/photobrain/catalog.db.service.json").read_text())


def _post(info: dict, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", info["port"], timeout=30)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def test_only_a_token_holder_may_tag_or_read_keywords_and_bad_requests_say_why(desk):
    import http.client

    info = _service(desk)
    token = {"Authorization": f"Bearer {info['token']}", "Content-Type": "application/json"}
    photo = str(desk.library / "city/facade.jpg")
    body = json.dumps({"paths": [photo]}).encode()
    # the launcher page's cookie (what a browser holds) is not enough: the page never tags
    status, answer = _post(info, "/login-code", b"{}", token)
    connection = http.client.HTTPConnection("127.0.0.1", info["port"], timeout=30)
    connection.request("GET", answer["url"].split(str(info["port"]), 1)[1])
    cookie = connection.getresponse().getheader("Set-Cookie").split(";")[0]
    connection.close()
    origin = f"http://127.0.0.1:{info['port']}"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Cookie": cookie, "Origin": origin}):
        for endpoint in ("/tag", "/keywords", "/tag/status", "/tag/cancel"):
            status, answer = _post(info, endpoint, body, {"Content-Type": "application/json", **headers})
            assert status in (401, 403), (endpoint, headers, status)
    for bad, reason in ((b"[]", "JSON object"), (b'{"paths": []}', "paths must be a list"),
                        (b'{"paths": ["relative.jpg"]}', "absolute"),
                        (json.dumps({"paths": [photo], "rejected": {photo: [["AI/animal"]]}}).encode(), "no '/'"),
                        (b'{"job": 7}', "job must be")):
        status, answer = _post(info, "/tag", bad, token)
        assert status == 400 and reason in answer["error"], (bad, answer)
    status, answer = _post(info, "/tag/status", b'{"job": "nope"}', token)
    assert status == 404 and "no such tag run" in answer["error"]
    status, answer = _post(info, "/keywords", body, token)
    assert status == 200 and answer["roots"] == {photo: "AI"} and answer["keywords"][photo]


def test_a_photo_the_model_never_reached_has_no_keywords_yet_rather_than_none(desk):
    """A run cancelled after hashing a new photo but before the model saw it: the catalog knows the file, but
    photobrain has no keywords for it yet; answering "no keywords" would take the photo's AI keywords away."""
    from index.catalog import Catalog
    from sidecar.tag_jobs import keywords_for

    new = _new_photo(desk, "hashed only.jpg", "landscapes/storm.jpg", turn=ImageOps.flip)
    known = desk.library / "landscapes/storm.jpg"
    catalog_path = Path(desk.env["HOME"]) / ".local/share/photobrain/catalog.db"
    with Catalog.open(catalog_path, exclusive=False) as catalog:
        catalog.record_image("f" * 32, 640, 480, "JPEG")  # hashed and measured: what a run does before the model
        catalog.record_file(new, size=new.stat().st_size, mtime_ns=new.stat().st_mtime_ns, digest="f" * 32,
                            status="ok")
        catalog.commit()
    answer = keywords_for(catalog_path, [new, known])
    assert answer["untagged"] == [str(new)] and list(answer["keywords"]) == [str(known)]
    assert answer["keywords"][str(known)] and answer["roots"] == {str(new): "AI", str(known): "AI"}


def test_tag_paths_from_a_file_reads_names_a_command_line_cannot_carry(desk, tmp_path):
    odd = _new_photo(desk, "line\nbreak -q 'x'.jpg", "food/fig.jpg", turn=ImageOps.grayscale)
    plain = _new_photo(desk, "plain.jpg", "interiors/wine corner.jpg", turn=ImageOps.grayscale)
    listed = tmp_path / "list"
    listed.write_bytes(b"\0".join(os.fsencode(p) for p in (odd, plain)))
    result = json.loads(desk.photobrain("tag", "--json", "--paths-from", str(listed)).stdout)
    assert sorted(f["path"] for f in result["files"]) == sorted(map(str, (odd, plain)))
    assert {f["status"] for f in result["files"]} == {"tagged"}
    lines = tmp_path / "lines"
    lines.write_text(f"{plain}\n")
    again = json.loads(desk.photobrain("tag", "--json", "--paths-from", str(lines)).stdout)
    assert [f["status"] for f in again["files"]] == ["unchanged"]


# -- install, uninstall ---------------------------------------------------------------------------------------------

def _installer(env: dict[str, str], code: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", "import sys, json; from pathlib import Path; "
                           "from integrations import installer; " + code, *args],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_install_twice_is_once_uninstall_takes_the_folder_away_and_windows_uses_appdata(tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / ".local/share"),
           "XDG_CONFIG_HOME": str(home / ".config"), "PHOTOBRAIN_CONFIG": str(tmp_path / "none.toml"),
           "APPDATA": str(tmp_path / "Roaming")}
    env.pop("PHOTOBRAIN_CATALOG", None)
    plan = "installer.plan_for('lightroom', ['/opt/pb/bin/photobrain'], Path.home(), sys.argv[1])"
    first = _installer(env, f"print(json.dumps(installer.install({plan})))", "darwin")
    again = _installer(env, f"print(json.dumps(installer.install({plan})))", "darwin")
    folder = home / "Library/Application Support/Adobe/Lightroom/Modules/photobrain.lrplugin"
    assert sum(line.startswith("wrote ") for line in json.loads(first)) == len(list(folder.iterdir()))
    assert all(line.startswith(("unchanged ", "  ")) for line in json.loads(again))
    status = json.loads(_installer(env, "print(json.dumps(installer.status('darwin', Path.home())))"))
    assert {"name": "lightroom", "installed": True, "program": ["/opt/pb/bin/photobrain"],
            "broken": "/opt/pb/bin/photobrain is not there any more"} in status
    removed = json.loads(_installer(env, f"print(json.dumps(installer.uninstall({plan})))", "darwin"))
    assert not folder.exists() and folder.parent.is_dir(), removed

    _installer(env, f"installer.install({plan})", "win32")
    assert (tmp_path / "Roaming/Adobe/Lightroom/Modules/photobrain.lrplugin/Info.lua").is_file()


def test_install_lightroom_on_linux_says_where_lightroom_runs(tmp_path):
    done = subprocess.run([sys.executable, "-m", "sidecar", "integrations", "install", "lightroom"],
                          capture_output=True, text=True, env={**os.environ, "HOME": str(tmp_path)})
    assert done.returncode == 1
    assert "Lightroom Classic runs on Windows and macOS only" in done.stderr
    assert "photobrain integrations install lightroom" in done.stderr
    assert not any(tmp_path.rglob("*.lua"))
