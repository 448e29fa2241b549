"""search, similar, status, index rebuild and serve, end to end over a tagged copy of samples/ (tiny model)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from index.catalog import Catalog
from sidecar.searching import SearchSettings, open_searcher
from sidecar.service import call_service, refusal, service_file
from sidecar.tagger import TagOptions, run_tag

ORIGINAL = "landscapes/autumn valley.jpg"


@pytest.fixture(scope="module")
def tagged(tmp_path_factory, tiny_model):
    """samples/ plus a resized and a recompressed copy of one photo, an exact duplicate of another, a user
    keyword "Anna" on one file; tagged once (sidecars) into a catalog."""
    from conftest import SAMPLES

    base = tmp_path_factory.mktemp("search")
    library = base / "library"
    shutil.copytree(SAMPLES, library, ignore=shutil.ignore_patterns("*.xmp"))
    original = Image.open(library / ORIGINAL)
    copies = library / "copies"
    copies.mkdir()
    original.resize((original.width // 2, original.height // 2), Image.Resampling.LANCZOS).save(
        copies / "valley small.jpg", quality=92)
    original.save(copies / "valley recompressed.jpg", quality=55)
    shutil.copy2(library / "plants/dandelions.jpg", copies / "dandelions copy.jpg")
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-dc:Subject+=Anna", "-XMP-dc:Subject+=Birthday",
                    str(library / "people/astronaut.png")], check=True)
    patch = pytest.MonkeyPatch()
    patch.setenv("PHOTOBRAIN_CACHE", str(base / "cache"))  # the vocabulary's text embeddings
    run_tag(TagOptions(paths=(library,), catalog=base / "catalog.db", model=str(tiny_model.config_path),
                       pretrained=str(tiny_model.checkpoint_path), write="sidecar", threshold=0.05, jobs=1),
            log=lambda m: None)
    yield base
    patch.undo()


def settings(tagged: Path, tiny_clip) -> SearchSettings:
    return SearchSettings(catalog=tagged / "catalog.db", model=str(tiny_clip.config_path),
                          pretrained=str(tiny_clip.checkpoint_path))


def cli(tagged: Path, tiny_clip, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PHOTOBRAIN_CACHE": str(tagged / "cache"), "PHOTOBRAIN_CONFIG": str(tagged / "none.toml"),
           "PHOTOBRAIN_CATALOG": str(tagged / "catalog.db")}
    model = ["--model", str(tiny_clip.config_path), "--pretrained", str(tiny_clip.checkpoint_path)]
    command, *rest = args
    return subprocess.run([sys.executable, "-m", "sidecar", command, *rest, *(model if command != "status" else [])],
                          capture_output=True, text=True, env=env)


# The tiny random-weight model puts every photo close to every other (cosine > 0.95), so nothing stands out
# from the library by the default cutoff; ranking tests lower it ("--cutoff 0": above the library's median).
# The cutoff itself is tested on vectors spread like a real model's (tests/index/test_search.py).
LOW = ("--cutoff", "0")


def test_a_resized_and_a_recompressed_copy_rank_first_under_similar(tagged, tiny_clip):
    library = tagged / "library"
    out = cli(tagged, tiny_clip, "similar", str(library / ORIGINAL), "-n", "5", "--json", *LOW)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["same"] == [str(library / ORIGINAL)]
    first_two = {Path(hit["path"]).name for hit in result["hits"][:2]}
    assert first_two == {"valley small.jpg", "valley recompressed.jpg"}
    assert all(hit["why"] == "semantic" for hit in result["hits"])


def test_similar_lists_the_file_and_its_exact_duplicates_apart(tagged, tiny_clip):
    library = tagged / "library"
    out = cli(tagged, tiny_clip, "similar", str(library / "plants/dandelions.jpg"), "--json", "--cutoff", "-100")
    result = json.loads(out.stdout)
    assert sorted(result["same"]) == sorted([str(library / "plants/dandelions.jpg"), str(library / "copies/dandelions copy.jpg")])
    listed = {hit["path"] for hit in result["hits"]} | {p for hit in result["hits"] for p in hit["duplicates"]}
    assert not listed & set(result["same"])


def test_the_keyword_channel_finds_a_user_keyword_clip_cannot_know(tagged, tiny_clip):
    out = cli(tagged, tiny_clip, "search", "Anna", "--json")
    assert out.returncode == 0, out.stderr
    hits = json.loads(out.stdout)["hits"]
    assert hits[0]["path"].endswith("people/astronaut.png") and hits[0]["why"] in ("keyword", "both")
    assert "astronaut.png" in cli(tagged, tiny_clip, "search", "anna birthday").stdout  # every word, any case
    assert "no match" in cli(tagged, tiny_clip, "search", "anna wedding").stdout


def test_file_and_folder_names_and_ai_tags_are_searchable_words(tagged, tiny_clip):
    hits = json.loads(cli(tagged, tiny_clip, "search", "recompressed", "--json").stdout)["hits"]
    assert [Path(h["path"]).name for h in hits] == ["valley recompressed.jpg"]
    with Catalog.open(tagged / "catalog.db", exclusive=False) as catalog:
        tag = catalog.db.execute("SELECT path FROM tags WHERE implied = 0 LIMIT 1").fetchone()[0]
        digest = catalog.db.execute("SELECT hash FROM tags WHERE path = ?", (tag,)).fetchone()[0]
    leaf = tag.split("/")[-1]
    hits = json.loads(cli(tagged, tiny_clip, "search", leaf, "-n", "50", "--json").stdout)["hits"]
    assert digest in {h["hash"] for h in hits}


def test_exact_duplicates_are_one_result(tagged, tiny_clip):
    hits = json.loads(cli(tagged, tiny_clip, "search", "dandelions", "--json").stdout)["hits"]
    grouped = [sorted(Path(p).name for p in [h["path"], *h["duplicates"]]) for h in hits]
    assert ["dandelions copy.jpg", "dandelions.jpg"] in grouped
    assert sum(name.startswith("dandelions") for names in grouped for name in names) == 2


def test_search_in_a_folder_only_returns_files_below_it(tagged, tiny_clip):
    library = tagged / "library"
    out = cli(tagged, tiny_clip, "similar", str(library / ORIGINAL), "--in", str(library / "copies"), "--json",
              "--cutoff", "-100")
    hits = json.loads(out.stdout)["hits"]
    assert hits and all(Path(h["path"]).parent == library / "copies" for h in hits)


def test_a_deleted_file_disappears_from_results(tagged, tiny_clip, tmp_path):
    victim = tagged / "library/landscapes/forest stream.jpg"
    keep = tmp_path / "keep.jpg"
    shutil.copy2(victim, keep)

    def found(*args: str) -> set[str]:
        hits = json.loads(cli(tagged, tiny_clip, *args, "--json").stdout)["hits"]
        return {h["path"] for h in hits} | {p for h in hits for p in h["duplicates"]}

    similar = ("similar", str(tagged / "library" / ORIGINAL), "-n", "40", "--cutoff", "-100")
    assert str(victim) in found("search", "forest stream") and str(victim) in found(*similar)
    victim.unlink()  # no new tag run: results are resolved against the disk when asked
    try:
        assert str(victim) not in found("search", "forest stream")
        assert str(victim) not in found(*similar)
    finally:
        shutil.copy2(keep, victim)


def test_the_index_rebuilds_to_the_same_answers(tagged, tiny_clip):
    queries = [("similar", str(tagged / "library" / ORIGINAL), "--cutoff", "-100"), ("search", "Anna"),
               ("search", "valley")]
    before = [json.loads(cli(tagged, tiny_clip, *q, "--json").stdout)["hits"] for q in queries]
    out = cli(tagged, tiny_clip, "index", "rebuild")
    assert out.returncode == 0 and "rebuilt: flat index of" in out.stdout, out.stderr
    after = [json.loads(cli(tagged, tiny_clip, *q, "--json").stdout)["hits"] for q in queries]
    assert after == before


def test_similar_on_an_indexed_file_does_not_load_torch(tagged, tiny_clip):
    env = {**os.environ, "PHOTOBRAIN_CACHE": str(tagged / "cache"), "PHOTOBRAIN_CONFIG": str(tagged / "none.toml")}
    code = ("import sys\nfrom sidecar.cli import main\nsys.argv = ['photobrain', 'similar', sys.argv[1], '--catalog', "
            "sys.argv[2], '--model', sys.argv[3], '--pretrained', sys.argv[4], '--json', '--cutoff', '0']\n"
            "try:\n    main()\nfinally:\n    print('TORCH' if 'torch' in sys.modules else 'NO TORCH', file=sys.stderr)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tagged / "library" / ORIGINAL), str(tagged / "catalog.db"),
                          str(tiny_clip.config_path), str(tiny_clip.checkpoint_path)],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0 and json.loads(out.stdout)["hits"], out.stderr
    assert "NO TORCH" in out.stderr


def test_an_unknown_file_is_embedded_on_the_fly(tagged, tiny_clip, tmp_path):
    outsider = tmp_path / "outsider.jpg"
    Image.open(tagged / "library" / ORIGINAL).rotate(3).save(outsider, quality=80)
    result = json.loads(cli(tagged, tiny_clip, "similar", str(outsider), "-n", "3", "--json", *LOW).stdout)
    assert result["same"] == [str(outsider)]
    assert Path(result["hits"][0]["path"]).name in ("autumn valley.jpg", "valley small.jpg", "valley recompressed.jpg")


def test_status_counts_the_library(tagged, tiny_clip):
    out = cli(tagged, tiny_clip, "status", "--json")
    report = json.loads(out.stdout)
    images = len([p for p in (tagged / "library").rglob("*") if p.is_file() and p.suffix not in (".md", ".xmp")])
    assert report["counts"]["files"] == images
    assert report["counts"]["duplicates"] == 1 and report["counts"]["images"] == images - 1
    (model,) = report["models"]
    assert model["embeddings"] == images - 1 and model["index"]["kind"] == "flat"
    assert report["last_run"]["command"] == "tag"
    assert report["last_run"]["summary"]["tagged"] == images - 1  # an object, not a string holding Python's repr
    text = cli(tagged, tiny_clip, "status").stdout
    assert "unique images" in text and f"tagged {images - 1}, unchanged 0" in text and "{" not in text


def test_without_a_catalog_search_says_to_tag_first(tmp_path, tiny_clip):
    out = cli(tmp_path, tiny_clip, "search", "anything")
    assert out.returncode == 1 and "photobrain tag" in out.stderr


# --- the resident service ---------------------------------------------------------------------------

def start_service(base: Path, catalog: Path, tiny_clip, *extra: str, config: Path | None = None) -> subprocess.Popen:
    """``photobrain serve`` with the tiny model named (``tiny_clip`` None: named by ``config``, no flags)."""
    env = {**os.environ, "PHOTOBRAIN_CACHE": str(base / "cache"), "PHOTOBRAIN_CONFIG": str(config or base / "none.toml")}
    model = ["--model", str(tiny_clip.config_path), "--pretrained", str(tiny_clip.checkpoint_path)] if tiny_clip else []
    process = subprocess.Popen([sys.executable, "-m", "sidecar", "serve", "--catalog", str(catalog), *model, *extra],
                               env=env, stderr=subprocess.PIPE, text=True)
    line = process.stderr.readline()
    assert "listening" in line, line + process.stderr.read()
    return process


def stop_service(process: subprocess.Popen, catalog: Path) -> None:
    process.terminate()
    process.wait(timeout=10)
    assert not service_file(catalog).exists()


@pytest.fixture
def service(tagged, tiny_clip):
    process = start_service(tagged, tagged / "catalog.db", tiny_clip)
    yield json.loads(service_file(tagged / "catalog.db").read_text())
    stop_service(process, tagged / "catalog.db")


def test_a_running_service_finds_photos_tagged_after_it_started(tmp_path, tiny_clip, tagged):
    from conftest import SAMPLES, sample_copies

    library = sample_copies(tmp_path / "library",
                            ["plants/dandelions.jpg", "landscapes/forest stream.jpg", "people/astronaut.png"])
    catalog = tmp_path / "catalog.db"
    options = TagOptions(paths=(library,), catalog=catalog, model=str(tiny_clip.config_path),
                         pretrained=str(tiny_clip.checkpoint_path), write="none", jobs=1)
    patch = pytest.MonkeyPatch()
    patch.setenv("PHOTOBRAIN_CACHE", str(tagged / "cache"))
    try:
        run_tag(options, log=lambda m: None)
        process = start_service(tagged, catalog, tiny_clip)
        try:
            newcomer = library / "later" / "valley.jpg"
            newcomer.parent.mkdir()
            shutil.copy2(SAMPLES / ORIGINAL, newcomer)
            run_tag(options, log=lambda m: None)
            answer = call_service(SearchSettings(catalog, str(tiny_clip.config_path), str(tiny_clip.checkpoint_path)),
                                  "/similar", {"path": str(library / "dandelions.jpg"), "n": 10, "cutoff": -100})
            assert answer is not None and answer.served_by == "service"
            assert str(newcomer) in {h.path for h in answer.hits}
        finally:
            stop_service(process, catalog)
    finally:
        patch.undo()


def http(port: int, method: str, path: str, headers: dict, body: bytes = b"") -> tuple[int, dict]:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def test_search_and_similar_go_through_a_running_service_with_the_same_answers(service, tagged, tiny_clip):
    assert oct(service_file(tagged / "catalog.db").stat().st_mode & 0o777) == "0o600"
    served = call_service(settings(tagged, tiny_clip), "/search", {"query": "Anna", "n": 5})
    assert served is not None and served.served_by == "service"
    searcher = open_searcher(settings(tagged, tiny_clip))
    try:
        local = searcher.search("Anna", n=5)
    finally:
        searcher.catalog.close()
    assert [h.path for h in served.hits] == [h.path for h in local.hits]
    out = cli(tagged, tiny_clip, "similar", str(tagged / "library" / ORIGINAL), "--json")
    assert json.loads(out.stdout)["served_by"] == "service"


def test_the_service_holds_no_torch_embeds_outsiders_in_a_child_and_gives_memory_back_when_idle(tagged, tiny_clip,
                                                                                               tmp_path):
    config = tmp_path / "config.toml"  # the model named by the config file: the service runs the user's own
    config.write_text(f"model = {str(tiny_clip.config_path)!r}\npretrained = {str(tiny_clip.checkpoint_path)!r}\n")
    process = start_service(tagged, tagged / "catalog.db", None, "--idle-unload", "1", config=config)
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(iter(process.stderr.readline, "")), daemon=True)
    reader.start()
    env = {**os.environ, "PHOTOBRAIN_CACHE": str(tagged / "cache"), "PHOTOBRAIN_CONFIG": str(config),
           "PHOTOBRAIN_CATALOG": str(tagged / "catalog.db")}
    try:
        # the command line asks it without loading the catalog, numpy or torch (the service runs the library's model)
        out = subprocess.run([sys.executable, "-X", "importtime", "-m", "sidecar", "search", "valley", "--json",
                              *LOW, "-v"], capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr[-3000:]
        assert json.loads(out.stdout)["served_by"] == "service" and json.loads(out.stdout)["hits"]
        imported = {line.rsplit("|", 1)[1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
        assert not imported & {"torch", "numpy", "faiss", "index.catalog", "sqlite3"}, imported & {"numpy", "torch"}
        outsider = tmp_path / "outsider.jpg"
        Image.open(tagged / "library" / ORIGINAL).rotate(3).save(outsider, quality=80)
        out = subprocess.run([sys.executable, "-m", "sidecar", "similar", str(outsider), "--json", *LOW],
                             capture_output=True, text=True, env=env)
        assert json.loads(out.stdout)["same"] == [str(outsider)], out.stderr
        maps = Path(f"/proc/{process.pid}/maps").read_text()
        assert "libtorch" not in maps and "onnxruntime" in maps  # the image tower ran in a child process
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not ("the text model" in "".join(said) and "image model" in "".join(said)):
            time.sleep(0.2)
        gave_back = [line for line in said if "idle, gave back" in line]
        assert "text model" in "".join(gave_back) and "image model" in "".join(gave_back), said
        again = subprocess.run([sys.executable, "-m", "sidecar", "search", "valley", "--json", *LOW],
                               capture_output=True, text=True, env=env)
        assert json.loads(again.stdout)["served_by"] == "service"  # the model comes back for the next query
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_service_refuses_requests_without_the_token_or_from_a_web_page(service):
    port, token = service["port"], service["token"]
    host = {"Host": f"127.0.0.1:{port}"}
    assert http(port, "GET", "/status", host)[0] == 401
    assert http(port, "GET", "/status", {**host, "Authorization": "Bearer wrong"})[0] == 401
    assert http(port, "GET", "/status", {**host, "Authorization": f"Bearer {token}", "Origin": "https://evil.example"})[0] == 403
    assert http(port, "GET", "/status", {"Host": f"evil.example:{port}", "Authorization": f"Bearer {token}"})[0] == 403
    status, body = http(port, "GET", "/status", {**host, "Authorization": f"Bearer {token}"})
    assert status == 200 and body["index"] == "flat"


def test_the_service_refuses_clients_that_are_not_this_machine(service):
    port, token = service["port"], service["token"]
    headers = {"Host": f"127.0.0.1:{port}", "Authorization": f"Bearer {token}"}
    assert refusal("192.168.1.20", headers, port, token) == (403, "only this machine may ask")
    assert refusal("127.0.0.1", headers, port, token) is None
    # and it is not reachable from outside at all: it listens on loopback only
    outside = _non_loopback_address()
    if outside is not None:
        with pytest.raises(OSError):
            socket.create_connection((outside, port), timeout=2)


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_without_a_service_search_works_in_process(tagged, tiny_clip):
    assert not service_file(tagged / "catalog.db").exists()
    result = json.loads(cli(tagged, tiny_clip, "search", "Anna", "--json").stdout)
    assert result["served_by"] == "in-process" and result["hits"]


def test_a_stale_service_file_falls_back_to_in_process(tagged, tiny_clip):
    stale = service_file(tagged / "catalog.db")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]
    stale.write_text(json.dumps({"pid": 999999, "port": free_port, "token": "x"}))
    try:
        started = time.monotonic()
        result = json.loads(cli(tagged, tiny_clip, "search", "Anna", "--json").stdout)
        assert result["served_by"] == "in-process" and time.monotonic() - started < 20
    finally:
        stale.unlink()


def test_open_shows_the_best_result_in_the_default_viewer(tagged, tiny_clip, tmp_path):
    opened = tmp_path / "opened.txt"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    viewer = bin_dir / "xdg-open"
    viewer.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{opened}"\n')
    viewer.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PHOTOBRAIN_CACHE": str(tagged / "cache"),
           "PHOTOBRAIN_CONFIG": str(tagged / "none.toml"), "PHOTOBRAIN_CATALOG": str(tagged / "catalog.db")}
    out = subprocess.run([sys.executable, "-m", "sidecar", "search", "Anna", "--open", "--model",
                          str(tiny_clip.config_path), "--pretrained", str(tiny_clip.checkpoint_path)],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    for _ in range(50):
        if opened.exists():
            break
        time.sleep(0.1)
    assert opened.read_text() == str(tagged / "library/people/astronaut.png")


CRASHING_DECODER = """
import os
if os.environ.get("PHOTOBRAIN_TEST_CRASH_DECODE"):
    import sidecar.decode as _decode
    _real = _decode.decode
    def decode(path, data, **kw):
        if b"CRASHME" in data:
            os._exit(3)  # as a decoder crashing on a damaged file takes its process with it
        return _real(path, data, **kw)
    _decode.decode = decode
"""


def test_a_file_that_crashes_the_image_process_fails_alone_and_the_service_goes_on(tagged, tiny_clip, tmp_path):
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(CRASHING_DECODER)
    env = {**os.environ, "PHOTOBRAIN_CACHE": str(tagged / "cache"), "PHOTOBRAIN_CONFIG": str(tagged / "none.toml"),
           "PYTHONPATH": str(guard), "PHOTOBRAIN_TEST_CRASH_DECODE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "sidecar", "serve", "--catalog", str(tagged / "catalog.db"),
                                "--model", str(tiny_clip.config_path), "--pretrained", str(tiny_clip.checkpoint_path)],
                               env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert "listening" in process.stderr.readline()
        crasher, outsider = tmp_path / "crasher.jpg", tmp_path / "outsider.jpg"
        image = Image.open(tagged / "library" / ORIGINAL)
        image.rotate(5).save(crasher, quality=80, comment=b"CRASHME")
        image.rotate(3).save(outsider, quality=80)
        first = cli(tagged, tiny_clip, "similar", str(crasher), "--json", *LOW)
        assert first.returncode == 1 and "the decoder crashed on it" in first.stderr, first.stderr
        again = cli(tagged, tiny_clip, "similar", str(outsider), "--json", *LOW)
        assert again.returncode == 0 and json.loads(again.stdout)["served_by"] == "service", again.stderr
    finally:
        process.terminate()
        process.wait(timeout=10)
