"""tag --brain gemini|both end to end: the real google-genai client, a loopback fake Gemini, real files and catalog."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLES, sample_copies
from fake_gemini import BAD_KEY, ENVIRONMENT, PER_DAY, RETRY_7S, FakeGemini, error, ok

from index.catalog import Catalog
from sidecar.cloud import CloudOptions, ledger_path, read_ledger, record_consent
from sidecar.tagger import TagOptions, run_tag
from xmp import read_metadata, summarize

PHOTOS = ["animals/nuthatch.jpg", "landscapes/storm.jpg", "food/fig.jpg", "city/facade.jpg"]


@pytest.fixture
def env(tmp_path: Path, monkeypatch):
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PHOTOBRAIN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PHOTOBRAIN_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.delenv("PHOTOBRAIN_CATALOG", raising=False)
    return tmp_path


@pytest.fixture
def fake(env, monkeypatch):
    server = FakeGemini()
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", server.url)  # the SDK's own setting: no photobrain back door
    yield server
    server.close()


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Four sample photos and an exact copy of the first (one image, two files)."""
    folder = sample_copies(tmp_path / "photos", PHOTOS)
    shutil.copy2(SAMPLES / PHOTOS[0], folder / "nuthatch copy.jpg")
    return folder


def options(folder: Path, tiny_clip, catalog: Path, brain: str = "both", **overrides) -> TagOptions:
    cloud = overrides.pop("cloud", None) or CloudOptions(brain=brain, api_key="test-key",
                                                         **overrides.pop("cloud_settings", {}))
    settings = dict(paths=(folder,), catalog=catalog, model=str(tiny_clip.config_path),
                    pretrained=str(tiny_clip.checkpoint_path), threshold=0.05, jobs=1, write="sidecar", cloud=cloud)
    settings.update(overrides)
    return TagOptions(**settings)


def consent(catalog: Path) -> None:
    with Catalog.open(catalog) as opened:
        record_consent(opened, CloudOptions(brain="both"), "test")


def xmp_of(image: Path) -> dict:
    return summarize(read_metadata(image)).to_dict()


def cli(*args: str, env_dir: Path, fake: FakeGemini | None = None, key: str | None = "test-key",
        stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT}
    env.update(PHOTOBRAIN_CACHE=str(env_dir / "cache"), PHOTOBRAIN_CONFIG=str(env_dir / "config.toml"))
    if fake is not None:
        env["GOOGLE_GEMINI_BASE_URL"] = fake.url
    if key:
        env["GEMINI_API_KEY"] = key
    return subprocess.run([sys.executable, "-m", "sidecar", *args], capture_output=True, text=True,
                          env=env, input=stdin or "")


def model_args(tiny_clip) -> list[str]:
    return ["--model", str(tiny_clip.config_path), "--pretrained", str(tiny_clip.checkpoint_path)]


def test_both_brains_write_cloud_tags_captions_and_provenance_beside_the_local_tags(env, fake, photos, tiny_clip):
    catalog = env / "c.db"
    consent(catalog)
    result = run_tag(options(photos, tiny_clip, catalog))
    assert result.summary()["failed"] == 0 and result.cloud is not None
    assert (result.cloud.answered, result.cloud.requests) == (4, 4)  # the copy shares its original's answer
    assert len(fake.requests) == 4
    for image in photos.iterdir():
        if image.suffix != ".jpg":
            continue
        info = xmp_of(image)
        sources = {t["path"]: t["source"] for t in info["ai_tags"]}
        assert sources["AI/animal/bird/heron"] == "gemini:gemini-2.5-flash-lite"
        assert sources["AI/place/water/lake"] == "gemini:gemini-2.5-flash-lite"  # "place/lake": the vocabulary's path
        assert any(s.startswith("clip:") for s in sources.values())  # the local tags too
        assert info["captions"]["x-default"] == "A heron stands at a lake."
        assert info["alt_text"]["x-default"] == "Grey heron in shallow water."
    # nothing but pixels and the instruction left: no file name in any request
    for request in fake.requests:
        body = request["body"].decode()
        assert "nuthatch" not in body and "photos" not in body and str(photos) not in body
    # the ledger holds a line before each request and its outcome
    entries = read_ledger(ledger_path(catalog))
    assert [e["event"] for e in entries].count("sent") == 4
    assert [e["outcome"] for e in entries if e["event"] == "result"] == ["answered"] * 4
    assert oct(ledger_path(catalog).stat().st_mode & 0o777) == "0o600"
    # the keyword side of search finds the cloud's words
    with Catalog.open(catalog) as opened:
        found = {p.name for p, _, _ in opened.keyword_matches("heron", 10)}
        assert found == {p.name for p in photos.glob("*.jpg")}
        assert {p.name for p, _, _ in opened.keyword_matches("shallow", 10)} == found  # alt text too


def test_gemini_alone_writes_only_the_clouds_tags(env, fake, photos, tiny_clip):
    catalog = env / "c.db"
    consent(catalog)
    run_tag(options(photos, tiny_clip, catalog, brain="gemini"))
    info = xmp_of(photos / "fig.jpg")
    assert {t["source"] for t in info["ai_tags"]} == {"gemini:gemini-2.5-flash-lite"}


def test_a_rerun_sends_only_what_has_not_been_answered(env, fake, photos, tiny_clip):
    catalog = env / "c.db"
    consent(catalog)
    (photos / "nuthatch copy.jpg").unlink()
    fake.script = [ok(finish="SAFETY"), ok(finish="MAX_TOKENS")]  # the first two requests; the rest answer
    first = run_tag(options(photos, tiny_clip, catalog, cloud_settings={"concurrency": 1}))
    assert first.cloud is not None
    assert (first.cloud.answered, first.cloud.refused, first.cloud.unanswered) == (2, 1, 1)
    notes = sorted(f.cloud or "" for f in first.files)
    assert notes[0].startswith("answered") and any(n.startswith("refused: Gemini withheld") for n in notes)
    assert any(n.startswith("not answered: Gemini cut off") for n in notes)
    assert len(fake.requests) == 4
    second = run_tag(options(photos, tiny_clip, catalog))
    assert len(fake.requests) == 5  # only the cut-off one again; the refused one is settled
    assert second.cloud is not None and second.cloud.answered == 1
    assert second.count("unchanged") == 3
    third = run_tag(options(photos, tiny_clip, catalog))
    assert len(fake.requests) == 5 and third.count("unchanged") == 4


def test_a_caption_the_user_wrote_is_never_overwritten(env, fake, photos, tiny_clip):
    catalog = env / "c.db"
    consent(catalog)
    mine = photos / "storm.jpg"
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-dc:Description=Storm over Rannoch, my words",
                    str(mine)], check=True)
    run_tag(options(photos, tiny_clip, catalog, write="embed"))
    info = xmp_of(mine)
    assert info["captions"]["x-default"] == "Storm over Rannoch, my words"
    assert info["alt_text"]["x-default"] == "Grey heron in shallow water."  # no alt text of the user's: written


def test_a_local_run_later_keeps_the_cloud_tags_and_sends_nothing(env, fake, photos, tiny_clip):
    catalog = env / "c.db"
    consent(catalog)
    run_tag(options(photos, tiny_clip, catalog))
    sent = len(fake.requests)
    result = run_tag(options(photos, tiny_clip, catalog, brain="local"))
    assert len(fake.requests) == sent and result.cloud is None
    assert "AI/animal/bird/heron" in {t["path"] for t in xmp_of(photos / "fig.jpg")["ai_tags"]}


def test_requests_go_out_a_few_at_a_time(env, fake, photos, tiny_clip):
    catalog = env / "c.db"
    consent(catalog)
    for i in range(8):  # more distinct images: small crops of a sample
        from PIL import Image
        with Image.open(SAMPLES / PHOTOS[1]) as im:
            im.crop((i * 10, 0, 200 + i * 10, 200)).save(photos / f"crop {i}.jpg")
    fake.default = (*ok(), 0.4)
    result = run_tag(options(photos, tiny_clip, catalog, cloud_settings={"concurrency": 3}))
    assert result.cloud is not None and result.cloud.answered == 12
    assert fake.most_active == 3  # in parallel, and never more than asked


def test_a_bad_key_stops_at_the_first_request_and_sends_nothing_more(env, fake, photos, tiny_clip):
    catalog = env / "c.db"
    run = cli("tag", str(photos), *model_args(tiny_clip), "--catalog", str(catalog), "--brain", "both", "--yes-cloud",
              "--write", "sidecar", "--threshold", "0.05", env_dir=env, fake=fake)
    assert run.returncode == 0, run.stderr
    fake.default = error(400, "INVALID_ARGUMENT", "API key not valid.", BAD_KEY)
    (photos / "new.jpg").write_bytes((SAMPLES / "landscapes/dune grass.jpg").read_bytes())
    (photos / "new 2.jpg").write_bytes((SAMPLES / "landscapes/forest path.jpg").read_bytes())
    shutil.copy2(SAMPLES / "landscapes/forest stream.jpg", photos / "new 3.jpg")
    before = len(fake.requests)
    run = cli("tag", str(photos), *model_args(tiny_clip), "--catalog", str(catalog), "--brain", "both",
              "--write", "sidecar", "--threshold", "0.05", env_dir=env, fake=fake, key="bad-key")
    assert run.returncode == 1
    assert "Gemini refused the API key" in run.stderr and "GEMINI_API_KEY" in run.stderr
    assert "run the same command again to resume" in run.stderr
    assert len(fake.requests) == before + 1


def test_a_spent_daily_quota_ends_the_run_and_the_next_run_resumes(env, fake, photos, tiny_clip):
    catalog = env / "c.db"
    consent(catalog)
    fake.script = [ok()]
    fake.default = error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", PER_DAY, RETRY_7S)
    first = run_tag(options(photos, tiny_clip, catalog, cloud_settings={"concurrency": 1}))
    assert first.cloud is not None and first.cloud.stopped and "quota for today" in first.cloud.stopped
    assert first.cloud.answered == 1 and len(fake.requests) == 2  # one answered, one refused, nothing more
    fake.default = ok()
    second = run_tag(options(photos, tiny_clip, catalog))
    assert second.cloud is not None and second.cloud.answered == 3 and not second.cloud.stopped
    assert len(fake.requests) == 5
    with Catalog.open(catalog) as opened:
        assert opened.cloud_counts() == {"answered": 4}


def test_max_cost_stops_sending_at_the_budget(env, fake, photos, tiny_clip):
    catalog = env / "c.db"
    consent(catalog)
    result = run_tag(options(photos, tiny_clip, catalog, cloud_settings={"max_cost": 0.0003}))
    assert result.cloud is not None and result.cloud.stopped and "--max-cost" in result.cloud.stopped
    assert 1 <= result.cloud.answered <= 3 and result.cloud.cost_usd <= 0.0003
    assert len(fake.requests) == result.cloud.answered


def test_consent_is_asked_for_remembered_per_library_and_can_be_withdrawn(env, fake, photos, tiny_clip):
    catalog = env / "c.db"
    before = {p: p.read_bytes() for p in photos.iterdir()}
    base = ["tag", str(photos), *model_args(tiny_clip), "--catalog", str(catalog), "--brain", "both",
            "--threshold", "0.05"]
    refused = cli(*base, env_dir=env, fake=fake)  # no terminal to ask in
    assert refused.returncode == 1 and "needs your consent" in refused.stderr and "--yes-cloud" in refused.stderr
    no_key = cli(*base, "--yes-cloud", env_dir=env, fake=fake, key=None)
    assert no_key.returncode == 1 and "GEMINI_API_KEY" in no_key.stderr
    assert not fake.requests and {p: p.read_bytes() for p in photos.iterdir()} == before
    assert not ledger_path(catalog).exists()
    agreed = cli(*base, "--yes-cloud", env_dir=env, fake=fake)
    assert agreed.returncode == 0, agreed.stderr
    assert "no EXIF, no GPS position" in agreed.stderr and "improve its" in agreed.stderr  # the explanation
    assert len(fake.requests) == 4
    (photos / "more.jpg").write_bytes((SAMPLES / "landscapes/dune grass.jpg").read_bytes())
    again = cli(*base, env_dir=env, fake=fake)  # remembered: no --yes-cloud needed
    assert again.returncode == 0, again.stderr
    assert len(fake.requests) == 5
    other = cli(*[str(env / "other.db") if a == str(catalog) else a for a in base], env_dir=env, fake=fake)
    # another library (catalog) asks again
    assert other.returncode == 1 and "needs your consent" in other.stderr
    revoked = cli("privacy", "--catalog", str(catalog), "--revoke", env_dir=env)
    assert "consent withdrawn" in revoked.stdout
    (photos / "even more.jpg").write_bytes((SAMPLES / "landscapes/forest path.jpg").read_bytes())
    after = cli(*base, env_dir=env, fake=fake)
    assert after.returncode == 1 and "needs your consent" in after.stderr and len(fake.requests) == 5


def test_estimate_counts_what_would_be_sent_and_sends_nothing(env, fake, photos, tiny_clip):
    catalog = env / "c.db"
    before = {p: p.read_bytes() for p in photos.iterdir()}
    out = cli("tag", str(photos), "--catalog", str(catalog), "--brain", "both", "--estimate", "--json",
              env_dir=env, fake=fake)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert (info["images"], info["to_send"], info["answered_before"]) == (5, 5, 0)
    assert info["input_tokens"] == 5 * info["tokens_per_photo"]["input"] and info["cost_usd"] > 0
    assert not fake.requests and not catalog.exists() and {p: p.read_bytes() for p in photos.iterdir()} == before
    consent(catalog)
    run_tag(options(photos, tiny_clip, catalog))
    (photos / "more.jpg").write_bytes((SAMPLES / "landscapes/dune grass.jpg").read_bytes())
    out = cli("tag", str(photos), "--catalog", str(catalog), "--brain", "both", "--estimate", env_dir=env, fake=fake)
    assert "5 answered by gemini-2.5-flash-lite before; at most 1 to send" in out.stdout
    assert "measured on earlier answers" in out.stdout and "nothing was sent" in out.stdout
    assert len(fake.requests) == 4


def test_a_dry_run_sends_nothing_and_needs_no_consent(env, fake, photos, tiny_clip):
    catalog = env / "c.db"
    result = run_tag(options(photos, tiny_clip, catalog, dry_run=True))
    assert result.cloud is not None and result.cloud.would_send == 4 and not fake.requests
    assert not ledger_path(catalog).exists()


def test_privacy_says_plainly_whether_anything_left_the_machine(env, fake, photos, tiny_clip):
    catalog = env / "c.db"
    out = cli("privacy", "--catalog", str(catalog), env_dir=env)
    assert out.returncode == 0 and out.stdout.startswith("Nothing has left this machine")
    consent(catalog)
    run_tag(options(photos, tiny_clip, catalog))
    out = cli("privacy", "--catalog", str(catalog), env_dir=env)
    assert out.stdout.startswith("4 request(s) carrying 4 photo(s) left this machine for 127.0.0.1")
    assert "no file name, path or metadata" in out.stdout and "Consent to send photos to the cloud: given" in out.stdout
    data = json.loads(cli("privacy", "--catalog", str(catalog), "--json", env_dir=env).stdout)
    assert data["requests"] == 4 and data["input_tokens"] == 4 * 300 and len(data["entries"]) == 8
    # the bytes the ledger counts are the image bytes the fake received
    assert sum(e["bytes"] for e in data["entries"] if e["event"] == "sent") == sum(map(_image_bytes, fake.requests))


def _image_bytes(request: dict) -> int:
    import base64

    body = json.loads(request["body"])
    for part in body["contents"][0]["parts"]:
        inline = part.get("inlineData") or part.get("inline_data")
        if inline:
            return len(base64.urlsafe_b64decode(inline["data"] + "=" * (-len(inline["data"]) % 4)))
    return 0


def test_no_front_door_can_send_without_consent(env, fake, photos, tiny_clip):
    from xmp import PhotobrainError

    before = {p: p.read_bytes() for p in photos.iterdir()}
    with pytest.raises(PhotobrainError) as err:
        run_tag(options(photos, tiny_clip, env / "c.db"))
    assert "no consent" in err.value.reason and "--yes-cloud" in (err.value.hint or "")
    assert not fake.requests and {p: p.read_bytes() for p in photos.iterdir()} == before
    with Catalog.open(env / "c.db") as opened:
        assert opened.db.execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def test_the_api_key_can_come_from_the_config_file_which_should_be_private(env, fake, photos, tiny_clip):
    config = env / "config.toml"
    config.write_text('gemini_api_key = "key-from-config"\nbrain = "both"\n')
    config.chmod(0o644)
    out = cli("tag", str(photos), *model_args(tiny_clip), "--catalog", str(env / "c.db"), "--yes-cloud",
              "--threshold", "0.05", "--write", "sidecar", env_dir=env, fake=fake, key=None)
    assert out.returncode == 0, out.stderr
    assert f"chmod 600 {config}" in out.stderr
    assert {r["headers"].get("x-goog-api-key") for r in fake.requests} == {"key-from-config"}
    status = cli("status", "--catalog", str(env / "c.db"), env_dir=env)
    assert "cloud    4 images answered, 0 refused" in status.stdout


def test_a_cloud_tag_the_user_deleted_stays_deleted(env, fake, photos, tiny_clip):
    catalog = env / "c.db"
    consent(catalog)
    run_tag(options(photos, tiny_clip, catalog))
    sidecar = photos / "fig.jpg.xmp"
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-lr:HierarchicalSubject-=AI|animal|bird|heron",
                    "-XMP-digiKam:TagsList-=AI/animal/bird/heron", "-XMP-dc:Subject-=heron", str(sidecar)], check=True)
    run_tag(options(photos, tiny_clip, catalog, threshold=0.06))  # other settings: every file is rewritten
    info = xmp_of(photos / "fig.jpg")
    assert "AI/animal/bird/heron" not in {t["path"] for t in info["ai_tags"]}
    assert "AI/animal/bird/heron" in info["rejected"]
    assert "AI/animal/bird/heron" in {t["path"] for t in xmp_of(photos / "storm.jpg")["ai_tags"]}


def test_a_refused_photo_under_the_cloud_brain_alone_gets_no_empty_sidecar(env, fake, photos, tiny_clip):
    catalog = env / "c.db"
    consent(catalog)
    for extra in photos.iterdir():
        if extra.name != "fig.jpg":
            extra.unlink()
    fake.script = [ok(finish="SAFETY")]
    result = run_tag(options(photos, tiny_clip, catalog, brain="gemini"))
    assert result.cloud is not None and result.cloud.refused == 1 and result.summary()["failed"] == 0
    assert sorted(p.name for p in photos.iterdir()) == ["fig.jpg"]


def test_the_ledger_is_read_from_its_tail_when_only_recent_answers_matter(tmp_path):
    from sidecar.cloud import Ledger

    ledger = Ledger(tmp_path / "l.jsonl")
    for i in range(200):
        ledger.append({"event": "result", "hash": f"{i:032x}", "model": "m", "outcome": "answered",
                       "input_tokens": 300 + i, "output_tokens": 50})
    everything = read_ledger(ledger.path)
    recent = read_ledger(ledger.path, tail=2000)
    assert len(everything) == 200 and 0 < len(recent) < 200
    assert recent == everything[-len(recent):]  # whole lines only, the cut one dropped


def test_a_local_run_never_loads_the_cloud_client(env, photos, tiny_clip):
    args = ["tag", str(photos), *model_args(tiny_clip), "--catalog", str(env / "c.db"), "--jobs", "1", "-q"]
    code = ("import sys\nfrom sidecar.cli import main\nsys.argv = ['photobrain', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
            "print('cloud client loaded:', 'google.genai' in sys.modules)")
    env_vars = {**os.environ, "PHOTOBRAIN_CACHE": str(env / "cache"), "PHOTOBRAIN_CONFIG": str(env / "none.toml")}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env_vars)
    assert out.returncode == 0, out.stderr
    assert "cloud client loaded: False" in out.stdout


RECORDER = """
import socket, os
_log = os.environ["PHOTOBRAIN_TEST_SOCKET_LOG"]
_real = socket.socket.connect
def _record(self, address, *a, **k):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        with open(_log, "a") as fh:
            fh.write(f"{address[0]}:{address[1]}\\n")
        if address[0] not in ("127.0.0.1", "::1"):
            raise OSError("network access blocked by the test")
    return _real(self, address, *a, **k)
socket.socket.connect = _record
"""


def test_a_cloud_run_talks_to_the_cloud_service_and_nothing_else(env, fake, photos, tiny_clip):
    guard = env / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(RECORDER)  # loaded by every Python process, workers included
    log = env / "sockets.log"
    out = subprocess.run(
        [sys.executable, "-m", "sidecar", "tag", str(photos), *model_args(tiny_clip), "--catalog", str(env / "c.db"),
         "--brain", "both", "--yes-cloud", "--jobs", "2", "--write", "sidecar"], capture_output=True, text=True,
        env={**{k: v for k, v in os.environ.items() if k not in ENVIRONMENT}, "PYTHONPATH": str(guard),
                       "PHOTOBRAIN_TEST_SOCKET_LOG": str(log), "GOOGLE_GEMINI_BASE_URL": fake.url,
                       "GEMINI_API_KEY": "k", "PHOTOBRAIN_CACHE": str(env / "cache"),
                       "PHOTOBRAIN_CONFIG": str(env / "none.toml")})
    assert out.returncode == 0, out.stderr
    assert len(fake.requests) == 4
    assert set(log.read_text().split()) == {fake.url.split("//")[1]}


def cli_in_terminal(*args: str, answer: str, env_dir: Path, fake: FakeGemini) -> subprocess.CompletedProcess:
    """Run photobrain with a terminal as its input, typing ``answer`` there."""
    env = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT}
    env.update(PHOTOBRAIN_CACHE=str(env_dir / "cache"), PHOTOBRAIN_CONFIG=str(env_dir / "config.toml"),
               GOOGLE_GEMINI_BASE_URL=fake.url, GEMINI_API_KEY="test-key")
    master, slave = os.openpty()
    try:
        process = subprocess.Popen([sys.executable, "-m", "sidecar", *args], stdin=slave, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=env)
        os.write(master, answer.encode())
        out, err = process.communicate(timeout=300)
    finally:
        os.close(slave)
        os.close(master)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_the_question_in_a_terminal_and_its_answer_yes_or_no_are_remembered(env, fake, photos, tiny_clip):
    catalog = env / "c.db"
    base = ["tag", str(photos), *model_args(tiny_clip), "--catalog", str(catalog), "--brain", "both",
            "--threshold", "0.05", "--write", "sidecar"]
    no = cli_in_terminal(*base, answer="n\n", env_dir=env, fake=fake)
    assert no.returncode == 1 and "Send photos to Google's Gemini API for this library? [y/N]" in no.stderr
    assert "What Google's terms say" in no.stderr and "you declined" in no.stderr
    assert not fake.requests and not list(photos.glob("*.xmp"))
    again = cli(*base, env_dir=env, fake=fake)  # remembered: not asked again, nothing sent
    assert again.returncode == 1 and "you declined sending photos to the cloud" in again.stderr
    assert "[y/N]" not in again.stderr and not fake.requests
    privacy = cli("privacy", "--catalog", str(catalog), env_dir=env)
    assert "Nothing has left this machine" in privacy.stdout and "declined" in privacy.stdout
    assert "refusal forgotten" in cli("privacy", "--catalog", str(catalog), "--revoke", env_dir=env).stdout
    yes = cli_in_terminal(*base, answer="y\n", env_dir=env, fake=fake)
    assert yes.returncode == 0, yes.stderr
    assert len(fake.requests) == 4 and "cloud (gemini-2.5-flash-lite): 4 answered" in yes.stdout
    assert "given" in cli("privacy", "--catalog", str(catalog), env_dir=env).stdout
