"""The cloud brain through the real google-genai client, against a loopback fake of the Gemini API."""
from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import SAMPLES
from fake_gemini import BAD_KEY, ENVIRONMENT, PER_DAY, PER_MINUTE, RETRY_7S, FakeGemini, error, ok
from PIL import Image

from sidecar.brains import gemini
from sidecar.brains.gemini import CloudRefused, CloudStop, CloudWithheld, GeminiBrain, clean_keywords, prepare_image


@pytest.fixture
def fake(monkeypatch):
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    server = FakeGemini()
    yield server
    server.close()


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """A sample photo carrying EXIF, GPS, XMP keywords and a comment: none of it may leave."""
    target = tmp_path / "Anna at Grasmere 2024.jpg"
    shutil.copy2(SAMPLES / "landscapes/boats at evening glow.jpg", target)
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-GPSLatitude=54.45", "-GPSLatitudeRef=N",
                    "-GPSLongitude=3.02", "-GPSLongitudeRef=W", "-Comment=private note", "-Artist=Anna Example",
                    str(target)], check=True)
    return target


def brain(fake: FakeGemini, **kwargs) -> tuple[GeminiBrain, list[float]]:
    waits: list[float] = []
    return GeminiBrain("test-key", base_url=fake.url, sleep=waits.append, **kwargs), waits


def sent_image(request: dict) -> bytes:
    body = json.loads(request["body"])
    parts = body["contents"][0]["parts"]
    inline = next(p.get("inlineData") or p.get("inline_data") for p in parts if "inlineData" in p or "inline_data" in p)
    return base64.urlsafe_b64decode(inline["data"] + "=" * (-len(inline["data"]) % 4))


def jpeg_markers(data: bytes) -> list[int]:
    markers, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        markers.append(marker)
        if marker == 0xDA:
            break
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return markers


def test_a_photo_is_described_and_nothing_but_its_pixels_leaves_the_machine(fake, photo):
    cloud, _ = brain(fake)
    jpeg = prepare_image(photo, photo.read_bytes())
    answer = cloud.describe(jpeg, ["animal", "place"])
    assert answer.keywords == [("animal", "bird", "heron"), ("place", "lake")]
    assert answer.caption == "A heron stands at a lake." and answer.alt_text == "Grey heron in shallow water."
    assert (answer.input_tokens, answer.output_tokens, answer.bytes_sent) == (300, 60, len(jpeg))
    (request,) = fake.requests
    assert request["path"].endswith(f"models/{gemini.DEFAULT_MODEL}:generateContent")
    assert request["headers"].get("x-goog-api-key") == "test-key"
    image = sent_image(request)
    assert image == jpeg
    with Image.open(io.BytesIO(image)) as sent:
        assert max(sent.size) <= gemini.MAX_SIDE
        assert not {"exif", "icc_profile", "xmp", "comment"} & set(sent.info)
    assert set(jpeg_markers(image)) <= {0xE0, 0xDB, 0xC0, 0xC2, 0xC4, 0xDA, 0xDD}  # JFIF, tables, frame: no APPn else
    raw = request["body"].decode()
    for private in ("Anna", "Grasmere", photo.parent.name, "54.45", "private note", "Lake District"):
        assert private not in raw
    for private in (b"Anna", b"Lake District", b"private note", b"Exif"):
        assert private not in image


@pytest.mark.parametrize("reply,message", [
    (error(400, "INVALID_ARGUMENT", "API key not valid.", BAD_KEY), "refused the API key"),
    (error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers."), "denied access"),
    (error(404, "NOT_FOUND", "models/gemini-0 is not found."), "unknown or retired"),
    (error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", PER_DAY, RETRY_7S), "quota for today"),
])
def test_errors_that_would_repeat_stop_at_the_first_request(fake, reply, message):
    cloud, waits = brain(fake)
    fake.script = [reply, ok()]
    with pytest.raises(CloudStop) as err:
        cloud.describe(b"\xff\xd8jpeg", ["animal"])
    assert message in err.value.reason and err.value.hint
    assert len(fake.requests) == 1 and waits == []  # nothing more sent, no pointless retry


def test_a_per_minute_quota_waits_as_long_as_retry_info_says_then_succeeds(fake):
    cloud, waits = brain(fake)
    fake.script = [error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", PER_MINUTE, RETRY_7S), ok()]
    answer = cloud.describe(b"\xff\xd8jpeg", ["animal"])
    assert waits == [7.0] and answer.attempts == 2 and len(fake.requests) == 2


def test_server_errors_are_retried_with_backoff(fake):
    cloud, waits = brain(fake, backoff=1.5)
    fake.script = [error(503, "UNAVAILABLE", "The model is overloaded."), error(500, "INTERNAL", "oops"), ok()]
    assert cloud.describe(b"\xff\xd8jpeg", ["animal"]).attempts == 3
    assert waits == [1.5, 3.0]


def test_a_photo_that_never_gets_an_answer_fails_alone(fake):
    cloud, waits = brain(fake, attempts=3)
    fake.script = [error(503, "UNAVAILABLE", "overloaded")] * 3
    with pytest.raises(CloudRefused) as err:
        cloud.describe(b"\xff\xd8jpeg", ["animal"])
    assert "after 3 attempts" in err.value.reason and "503" in err.value.reason and len(waits) == 2


def test_a_timeout_is_retried_and_then_fails_the_photo_alone(fake, monkeypatch):
    monkeypatch.setattr(gemini, "MIN_TIMEOUT", 0.5)  # the live API's 10 s floor would make this test slow
    cloud, _ = brain(fake, timeout=0.5, attempts=2)
    fake.script = [(*ok(), 2.0), (*ok(), 2.0)]
    started = time.monotonic()
    with pytest.raises(CloudRefused) as err:
        cloud.describe(b"\xff\xd8jpeg", ["animal"])
    assert "no answer in time" in err.value.reason and time.monotonic() - started < 10


@pytest.mark.parametrize("reply,message,withheld", [
    (ok(finish="SAFETY"), "withheld its answer (SAFETY)", True),
    (ok(finish="MAX_TOKENS"), "cut off its answer (MAX_TOKENS)", False),
    ((200, {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}), "blocked this photo (PROHIBITED_CONTENT)", True),
    (ok("{not json"), "not JSON", False),
    (ok({"keywords": "dog", "caption": 3, "alt_text": ""}), "does not have the asked-for shape", False),
])
def test_unusable_answers_fail_that_photo_only(fake, reply, message, withheld):
    cloud, waits = brain(fake)
    fake.script = [reply]
    with pytest.raises(CloudRefused) as err:
        cloud.describe(b"\xff\xd8jpeg", ["animal"])
    assert message in err.value.reason and len(fake.requests) == 1 and waits == []
    # a content refusal is final (not sent again); a cut-off or garbled answer is asked again on a later run
    assert isinstance(err.value, CloudWithheld) == withheld


def test_keywords_are_sanitised_deduplicated_and_mapped_onto_the_vocabulary():
    concepts = {"heron": ("animal", "bird", "heron"), "dog": ("animal", "mammal", "dog")}
    raw = [("Animals", "Birds", "heron"), ("pets", "Dog"), ("AC/DC", "live|show"), ("a", "b", "c", "d", "e", "f"),
           ("x" * 100,), ("", "  "), ("place", "lake"), ("place", "lake")]
    cleaned = clean_keywords(raw, concepts)
    assert ("animal", "bird", "heron") in cleaned and ("animal", "mammal", "dog") in cleaned
    assert ("AC-DC", "live-show") in cleaned
    assert ("c", "d", "e", "f") in cleaned and ("x" * 64,) in cleaned
    assert cleaned.count(("place", "lake")) == 1 and len(cleaned) == 6


def test_a_vertex_ai_setting_in_the_environment_does_not_redirect_photos(fake, monkeypatch):
    """Consent names the Gemini API and its terms: GOOGLE_GENAI_USE_VERTEXAI must not send photos elsewhere."""
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    cloud, _ = brain(fake)
    cloud.describe(b"\xff\xd8jpeg", ["animal"])
    (request,) = fake.requests
    assert request["path"] == f"/v1/models/{gemini.DEFAULT_MODEL}:generateContent"


def test_answers_are_kept_within_sensible_lengths(fake):
    cloud, _ = brain(fake)
    many = [["thing", f"item {i}"] for i in range(60)]
    caption = ("A very long caption " * 60).strip()
    fake.script = [ok({"keywords": many, "caption": caption, "alt_text": "word " * 100})]
    answer = cloud.describe(b"\xff\xd8jpeg", ["animal"])
    assert len(answer.caption) <= gemini.MAX_CAPTION and answer.caption.endswith("…")
    kept = answer.caption[:-1]
    assert caption.startswith(kept) and caption[len(kept)] == " "  # cut between words
    assert len(answer.alt_text) <= gemini.MAX_ALT_TEXT == 250 and answer.alt_text.endswith("word…")
    assert len(clean_keywords(answer.keywords, {})) == gemini.MAX_KEYWORDS
