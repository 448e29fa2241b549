"""The launcher's endpoints and the service's rules for browsers, over HTTP (the browser itself: test_page.py)."""
from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import pytest
from launcher_desk import USER_KEYWORD_FILE
from PIL import Image

from sidecar.launcher.thumbs import Thumbnails, make_thumbnail


def request(desk, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    """(status, headers, body) of one request, sent exactly as given (no redirect followed)."""
    connection = http.client.HTTPConnection("127.0.0.1", desk.service["port"], timeout=30)
    try:
        connection.request(method, path, body=body, headers={"Host": f"127.0.0.1:{desk.service['port']}",
                                                             **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def token(desk) -> dict:
    return {"Authorization": f"Bearer {desk.service['token']}"}


def cookie(desk) -> dict:
    """The header a signed-in browser sends: a session from a one-time address."""
    address = urlsplit(desk.sign_in())
    status, headers, _ = request(desk, "GET", f"{address.path}?{address.query}")
    assert status == 303 and headers["Location"] == "/"
    value = headers["Set-Cookie"].split(";")[0]
    assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
    return {"Cookie": value}


def q(path: Path | str) -> str:
    return quote(str(path), safe="")


# --- only what the catalog holds ------------------------------------------------------------------

def test_no_endpoint_serves_a_file_the_catalog_does_not_hold(desk, tmp_path):
    photo = desk.library / USER_KEYWORD_FILE
    assert request(desk, "GET", f"/api/file?path={q(photo)}", token(desk))[0] == 200
    newcomer = desk.library / "people" / "not tagged yet.jpg"
    shutil.copy(desk.library / "landscapes/storm.jpg", newcomer)
    secret = tmp_path / "secret.jpg"
    shutil.copy(desk.library / "landscapes/storm.jpg", secret)
    try:
        for outside in ("/etc/passwd", f"{desk.library}/../../../../etc/passwd", str(secret), str(newcomer),
                        str(desk.library), f"{desk.library}/people/../people/./missing.jpg"):
            for endpoint in ("/api/file", "/api/similar"):
                status, _, body = request(desk, "GET", f"{endpoint}?path={q(outside)}", token(desk))
                assert status == 404, (endpoint, outside, body)
            status, _, _ = request(desk, "POST", "/api/open", {**token(desk), "Content-Type": "application/json"},
                                   json.dumps({"path": outside}).encode())
            assert status == 404, outside
        assert request(desk, "GET", "/api/file?path=people/astronaut.png", token(desk))[0] == 400  # relative
        assert not desk.opened.exists() or str(secret) not in desk.opened.read_text()
        # thumbnails are asked for by content hash: a path, or a hash the catalog does not hold, gets nothing
        for bad in ("../../../etc/passwd", "%2Fetc%2Fpasswd", "0" * 32, "not-a-hash"):
            assert request(desk, "GET", f"/thumb/{bad}", token(desk))[0] == 404, bad
    finally:
        newcomer.unlink()


def test_a_photo_s_details_group_its_tags_by_who_made_them(desk):
    photo = desk.library / USER_KEYWORD_FILE
    status, _, body = request(desk, "GET", f"/api/file?path={q(photo)}", token(desk))
    info = json.loads(body)
    assert status == 200 and info["path"] == str(photo) and info["name"] == "astronaut.png"
    assert info["tags"]["user"] == ["Anna", "Birthday"]
    assert info["tags"]["model"] and all(t["path"].startswith("AI/") and 0 < t["score"] <= 1 for t in info["tags"]["model"])
    scores = [t["score"] for t in info["tags"]["model"]]
    assert scores == sorted(scores, reverse=True)  # most confident first
    assert info["tags"]["cloud"] == []
    assert (info["width"], info["height"]) == Image.open(photo).size and info["format"] == "PNG"


# --- thumbnails -----------------------------------------------------------------------------------

def test_thumbnails_are_made_once_per_image_and_then_come_from_the_cache(desk):
    hits = json.loads(request(desk, "GET", "/api/search?q=storm&n=5", token(desk))[2])["hits"]
    digest = hits[0]["hash"]
    cache = desk.base / "cache" / "thumbs"
    shutil.rmtree(cache, ignore_errors=True)  # the cache may be deleted at any time
    first = request(desk, "GET", f"/thumb/{digest}", token(desk))
    again = request(desk, "GET", f"/thumb/{digest}", token(desk))
    assert first[0] == again[0] == 200 and first[1]["Content-Type"] == "image/jpeg"
    assert (first[1]["X-Thumbnail"], again[1]["X-Thumbnail"]) == ("made", "cached")
    assert first[2] == again[2]
    assert (cache / digest[:2] / f"{digest}-360.jpg").read_bytes() == first[2]
    with Image.open(__import__("io").BytesIO(first[2])) as image:
        assert max(image.size) == 360
    large = request(desk, "GET", f"/thumb/{digest}?size=large", token(desk))
    with Image.open(__import__("io").BytesIO(large[2])) as image:
        original = Image.open(hits[0]["path"]).size
        assert max(image.size) == min(1200, max(original))


def test_a_thumbnail_is_upright_and_a_raw_file_s_comes_from_its_preview(tmp_path):
    sideways = tmp_path / "portrait.jpg"
    image = Image.new("RGB", (400, 200), "red")
    image.paste(Image.new("RGB", (200, 200), "blue"), (200, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    image.save(sideways, exif=exif)
    with Image.open(__import__("io").BytesIO(make_thumbnail(sideways, 100))) as thumb:
        assert thumb.size == (50, 100)
        assert thumb.getpixel((25, 10))[2] < 100 and thumb.getpixel((25, 90))[2] > 150  # red on top, blue below
    from conftest import SAMPLES

    raws = sorted(p for p in SAMPLES.rglob("*") if p.suffix.lower() in (".dng", ".cr2", ".nef", ".arw", ".orf", ".raf"))
    for raw in raws:
        with Image.open(__import__("io").BytesIO(make_thumbnail(raw, 200))) as thumb:
            assert max(thumb.size) <= 200


def test_the_thumbnail_cache_stays_under_its_limit_and_keeps_what_was_shown_last(tmp_path):
    from conftest import SAMPLES

    photos = sorted(p for p in SAMPLES.rglob("*.jpg"))[:8]
    cache = Thumbnails(tmp_path / "thumbs", limit=10 ** 9)
    sizes = {}
    for i, photo in enumerate(photos):
        data, cached = cache.get(f"{i:032x}", photo)
        sizes[i] = len(data)
        assert not cached
    limit = sum(sizes.values()) // 2
    small = Thumbnails(tmp_path / "thumbs", limit=limit)
    os.utime(small.file(f"{0:032x}"), (1, 1))  # long unused
    assert small.get(f"{7:032x}", photos[7])[1]  # recently shown: cached
    small.get(f"{99:032x}", photos[1])  # one more made: over the limit, the least recently used go
    kept = list((tmp_path / "thumbs").glob("*/*.jpg"))
    assert sum(p.stat().st_size for p in kept) <= limit
    assert not small.file(f"{0:032x}").exists() and small.file(f"{7:032x}").exists()


# --- the rules for browsers -----------------------------------------------------------------------

def test_a_browser_gets_in_only_with_the_cookie_from_its_page_and_never_from_another(desk):
    search = "/api/search?q=Anna"
    session = cookie(desk)
    own = f"http://127.0.0.1:{desk.service['port']}"
    assert request(desk, "GET", search)[0] == 401
    assert request(desk, "GET", search, {"Cookie": f"photobrain-{desk.service['port']}=forged"})[0] == 401
    assert request(desk, "GET", search, session)[0] == 200
    assert request(desk, "GET", search, {**session, "Sec-Fetch-Site": "same-origin"})[0] == 200
    # another page, even one on this machine (same site, other port) or another name for it, gets nothing
    assert request(desk, "GET", search, {**session, "Origin": "http://127.0.0.1:8000"})[0] == 403
    assert request(desk, "GET", search, {**session, "Sec-Fetch-Site": "same-site"})[0] == 403
    assert request(desk, "GET", search, {**session, "Sec-Fetch-Site": "cross-site"})[0] == 403
    assert request(desk, "GET", search, {**session, "Host": "photos.example:80"})[0] == 403  # DNS rebinding
    # what changes something must come from the page itself: its own Origin
    opening = {**session, "Content-Type": "application/json"}
    body = json.dumps({"path": str(desk.library / USER_KEYWORD_FILE)}).encode()
    assert request(desk, "POST", "/api/open", opening, body)[0] == 403
    assert request(desk, "POST", "/api/open", {**opening, "Origin": "http://evil.example"}, body)[0] == 403
    assert request(desk, "POST", "/api/open", {**opening, "Origin": own}, body)[0] == 200
    # a signed-in browser cannot mint sign-in addresses: that takes the token file
    assert request(desk, "POST", "/login-code", {**session, "Origin": own}, b"")[0] == 403
    # every answer carries the page's rules
    for path in ("/", "/api/status", "/nothing-here"):
        headers = request(desk, "GET", path, session)[1]
        assert headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert headers["X-Content-Type-Options"] == "nosniff" and "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_a_sign_in_address_works_once_and_only_for_the_page(desk):
    address = urlsplit(desk.sign_in("q:red bicycle"))
    status, headers, _ = request(desk, "GET", f"{address.path}?{address.query}")
    assert status == 303 and headers["Location"] == "/?q=red+bicycle"
    assert request(desk, "GET", f"{address.path}?{address.query}")[0] == 403  # used up
    code = json.loads(request(desk, "POST", "/login-code", token(desk), b"")[2])["code"]
    for elsewhere in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        status, headers, _ = request(desk, "GET", f"/login?code={code}&next={quote(elsewhere, safe='')}")
        assert status == 303 and headers["Location"] == "/"  # never sent off the service
        code = json.loads(request(desk, "POST", "/login-code", token(desk), b"")[2])["code"]


@pytest.mark.parametrize("query", ["/api/search?q=", "/api/search?q=a&n=abc", "/api/search?q=a&n=0",
                                   "/api/search?q=a&n=1001", "/api/search?q=a&cutoff=nan",
                                   "/api/search?q=" + "a" * 1001, "/api/search?q=a&in=relative/folder",
                                   "/api/similar?path=relative.jpg"])
def test_malformed_page_requests_are_answered_400(desk, query):
    status, _, body = request(desk, "GET", query, token(desk))
    assert status == 400 and json.loads(body)["error"]


def test_an_upload_too_large_is_refused_before_it_is_read(desk):
    status, _, body = request(desk, "POST", "/api/similar-image", {**token(desk), "Content-Length": str(300 << 20)})
    assert status == 413
    assert request(desk, "POST", "/api/similar-image", token(desk), b"")[0] == 400


# --- the service's life cycle ---------------------------------------------------------------------

def test_serve_status_and_stop(desk, tmp_path):
    from conftest import sample_copies

    library = sample_copies(tmp_path / "pictures", ["plants/dandelions.jpg", "landscapes/storm.jpg"])
    env = {**desk.env, "PHOTOBRAIN_CATALOG": str(tmp_path / "catalog.db")}
    model = json.loads(desk.photobrain("libraries", "--json").stdout)[0]["libraries"][0]["profile"]

    def photobrain(*args):
        return subprocess.run([sys.executable, "-m", "sidecar", *args], capture_output=True, text=True, env=env)

    assert photobrain("tag", str(library), "--model", model["model"], "--pretrained", model["pretrained"],
                      "--write", "none", "-q").returncode == 0
    stopped = photobrain("serve", "--status")
    assert stopped.returncode == 3 and "not running" in stopped.stdout
    assert photobrain("launcher", "--print-url").returncode == 0  # starts it, detached
    running = photobrain("serve", "--status")
    assert running.returncode == 0, running.stderr
    info = json.loads((tmp_path / "catalog.db.service.json").read_text())
    assert f"process {info['pid']}" in running.stdout and "MB now" in running.stdout
    assert "watching 1 library" in running.stdout
    assert photobrain("serve", "--stop").stdout.startswith(f"stopped the service for {tmp_path / 'catalog.db'}")
    assert not (tmp_path / "catalog.db.service.json").exists()
    assert not alive(info["pid"])
    again = photobrain("serve", "--status")
    assert again.returncode == 3


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting for a parent that is gone does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_status_and_the_page_say_what_the_service_watches_and_has_pending(desk):
    out = desk.photobrain("status").stdout
    line = next(line for line in out.splitlines() if line.startswith("service"))
    assert f"process {desk.service['pid']}" in line and "watching 1 library, 0 new photo(s) pending" in line
    report = json.loads(desk.photobrain("status", "--json").stdout)
    assert report["service"]["watch"]["watching"] == [str(desk.library)]
    page = json.loads(request(desk, "GET", "/api/status", token(desk))[2])
    assert page["watch"]["watching"] == [str(desk.library)] and page["files"] == report["counts"]["files"]


def test_the_launcher_opens_a_sign_in_address_for_the_search_in_the_default_browser(desk, tmp_path):
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser"  # the desktop's default browser, as webbrowser finds it through BROWSER
    browser.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{opened}"\n')
    browser.chmod(0o755)
    done = subprocess.run([sys.executable, "-m", "sidecar", "launcher", "--query", "storm", "--in", str(desk.library)],
                          capture_output=True, text=True, env={**desk.env, "BROWSER": str(browser)})
    assert done.returncode == 0 and done.stdout == "", done.stderr
    address = urlsplit(opened.read_text())
    assert f"{address.scheme}://{address.netloc}" == desk.origin and address.path == "/login"
    status, headers, _ = request(desk, "GET", f"{address.path}?{address.query}")
    assert status == 303 and headers["Location"] == "/?" + urlencode({"q": "storm", "in": str(desk.library)})
