"""The launcher page in a real browser: Debian's Chromium, headless, driven through chromium-driver.

The service runs as ``photobrain launcher`` starts it (detached, default catalog, the library's own model);
every test signs in through a fresh one-time address, as the launcher opens it.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from launcher_desk import USER_KEYWORD_FILE, answers, painted, results, settled, wait
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select

SIMILAR_TO = "landscapes/autumn valley.jpg"


def signed_in(desk, chromium, target: str = "") -> None:
    chromium.get(desk.sign_in(target))
    wait(chromium, lambda d: d.execute_script("return document.readyState") == "complete")


def requests_made(driver) -> list[str]:
    """Every URL the browser asked for since the last call (Chrome's performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


# --- signing in -----------------------------------------------------------------------------------

def test_the_sign_in_address_sets_a_private_cookie_once_and_without_it_the_page_gets_nothing(desk, chromium):
    chromium.delete_all_cookies()
    chromium.get(desk.origin + "/?q=Anna")
    assert "photobrain launcher" in chromium.find_element(By.TAG_NAME, "body").text
    assert not chromium.find_elements(By.ID, "results")  # no page, no results
    status, _, body = desk.api("/api/search?q=Anna", headers={"Host": f"127.0.0.1:{desk.service['port']}"})
    assert status == 401 and b"Anna" not in body and b"astronaut" not in body

    address = desk.sign_in("q:Anna")
    chromium.get(address)
    wait(chromium, lambda d: results(d))
    assert chromium.current_url == desk.origin + "/?q=Anna"  # the code is gone from the address bar
    (cookie,) = chromium.get_cookies()
    assert cookie["name"] == f"photobrain-{desk.service['port']}"
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert chromium.execute_script("return document.cookie") == ""  # no script of the page can read it

    chromium.delete_all_cookies()
    chromium.get(address)  # the same address again: used up
    assert "used already" in chromium.find_element(By.TAG_NAME, "body").text
    assert chromium.get_cookies() == []


# --- searching ------------------------------------------------------------------------------------

def test_typing_a_query_shows_the_expected_photos_with_why_they_matched(desk, chromium):
    signed_in(desk, chromium)
    box = chromium.switch_to.active_element
    assert box.get_attribute("id") == "q"  # the box has the focus from the start
    box.send_keys("Anna")  # a user keyword: found by the keyword channel
    found = settled(chromium)
    assert found[0] == str(desk.library / USER_KEYWORD_FILE)
    why = chromium.find_element(By.CSS_SELECTOR, "#results .hit .why").text
    assert why in ("keyword", "both")
    wait(chromium, painted)
    assert chromium.current_url == desk.origin + "/?q=Anna"  # an address the user can keep

    # the same answer as the command line gives, in the same order
    cli = json.loads(desk.photobrain("search", "Anna", "--json", "-n", "60").stdout)
    assert found == [hit["path"] for hit in cli["hits"]]

    shown = answers(chromium)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("forest")  # a word of two file names: the page follows the typing
    found = settled(chromium, shown)
    assert {str(desk.library / "landscapes/forest path.jpg"), str(desk.library / "landscapes/forest stream.jpg")} <= set(found)


def test_filters_narrow_the_results_to_a_folder_and_a_keyword(desk, chromium):
    signed_in(desk, chromium, "q:forest")
    everywhere = settled(chromium)
    assert any("/landscapes/" in p for p in everywhere)
    wait(chromium, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#root option")) > 1)  # the libraries, listed
    Select(chromium.find_element(By.ID, "root")).select_by_value(str(desk.library))
    wait(chromium, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#folder option")) > 1)
    Select(chromium.find_element(By.ID, "cutoff")).select_by_value("-100")
    people = str(desk.library / "people") + "/"
    Select(chromium.find_element(By.ID, "folder")).select_by_value(people[:-1])
    wait(chromium, lambda d: (found := results(d)) and all(p.startswith(people) for p in found))

    Select(chromium.find_element(By.ID, "folder")).select_by_value("")
    wait(chromium, lambda d: any(not p.startswith(people) for p in results(d)))
    chromium.find_element(By.ID, "keyword").send_keys("Birthday", Keys.TAB)  # only photos carrying this keyword
    wait(chromium, lambda d: results(d) == [str(desk.library / USER_KEYWORD_FILE)])


def test_a_result_opens_its_details_and_find_similar_shows_photos_like_it(desk, chromium):
    signed_in(desk, chromium, "q:Anna")
    shown = answers(chromium)
    Select(chromium.find_element(By.ID, "cutoff")).select_by_value("-100")  # the tiny model stands nothing out
    settled(chromium, shown)
    chromium.find_element(By.CSS_SELECTOR, "#results .hit").click()
    wait(chromium, lambda d: d.find_element(By.ID, "detail").is_displayed())
    assert chromium.find_element(By.ID, "detail-path").text == str(desk.library / USER_KEYWORD_FILE)
    tags = chromium.find_element(By.ID, "detail-tags").text
    assert "Your keywords (2)\nAnna\nBirthday" in tags  # the user's own, apart from the model's
    model_group = tags.split("On-device model (")[1]
    assert int(model_group.split(")")[0]) > 0 and "AI/" in model_group
    wait(chromium, lambda d: d.execute_script("return document.getElementById('detail-image').naturalWidth") > 0)

    shown = answers(chromium)
    chromium.find_element(By.ID, "act-similar").click()
    found = settled(chromium, shown)
    path = str(desk.library / USER_KEYWORD_FILE)
    assert chromium.current_url == desk.origin + "/similar?" + f"path={quote(path, safe='')}".replace("%20", "+")
    cli = json.loads(desk.photobrain("similar", path, "--json", "-n", "60", "--cutoff", "-100").stdout)
    assert found == [hit["path"] for hit in cli["hits"]] and path not in found


def test_the_similar_address_a_desktop_opens_shows_photos_like_that_file(desk, chromium):
    target = str(desk.library / SIMILAR_TO)
    chromium.get(desk.sign_in(f"similar:{target}") + quote("&cutoff=-100", safe=""))
    found = settled(chromium)
    cli = json.loads(desk.photobrain("similar", target, "--json", "-n", "60", "--cutoff", "-100").stdout)
    assert found == [hit["path"] for hit in cli["hits"]]
    assert chromium.find_element(By.ID, "reference-name").text == target
    wait(chromium, lambda d: d.execute_script("return document.getElementById('reference-image').naturalWidth") > 0)


def test_dropping_a_photo_from_anywhere_finds_photos_like_it(desk, chromium, tmp_path):
    original = Image.open(desk.library / SIMILAR_TO)
    outsider = tmp_path / "from the camera card.jpg"  # not in the catalog: embedded on the fly
    original.resize((original.width // 2, original.height // 2)).save(outsider, quality=90)
    signed_in(desk, chromium, "")
    chromium.execute_script("document.getElementById('cutoff').value = '-100'")
    drop_file(chromium, outsider)
    found = settled(chromium)
    assert found[0] == str(desk.library / SIMILAR_TO)  # its original ranks first
    assert chromium.find_element(By.ID, "reference-name").text == "from the camera card.jpg (dropped)"


def drop_file(driver, path: Path) -> None:
    """A file dropped onto the page as a file manager drops it: a drop event whose DataTransfer holds the file."""
    data = base64.b64encode(path.read_bytes()).decode()
    driver.execute_script("""
        const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));
        const file = new File([bytes], arguments[1], {type: 'image/jpeg'});
        const transfer = new DataTransfer();
        transfer.items.add(file);
        for (const type of ['dragenter', 'dragover', 'drop'])
            document.body.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: transfer}));
    """, data, path.name)


# --- the keyboard ---------------------------------------------------------------------------------

def test_the_keyboard_alone_searches_moves_opens_and_goes_back(desk, chromium):
    signed_in(desk, chromium)
    body = chromium.find_element(By.TAG_NAME, "body")
    body.click()
    active = lambda: chromium.switch_to.active_element  # noqa: E731
    active().send_keys("/")
    assert active().get_attribute("id") == "q"
    active().send_keys("forest")
    found = settled(chromium)
    assert len(found) >= 2
    active().send_keys(Keys.ARROW_DOWN)  # from the box into the grid
    assert active().get_attribute("data-index") == "0"
    active().send_keys(Keys.ARROW_RIGHT)
    assert active().get_attribute("data-index") == "1"
    active().send_keys(Keys.ENTER)
    wait(chromium, lambda d: d.find_element(By.ID, "detail").is_displayed())
    assert chromium.find_element(By.ID, "detail-path").text == found[1]
    active().send_keys(Keys.ESCAPE)  # back to the grid, where the user was
    wait(chromium, lambda d: not d.find_element(By.ID, "detail").is_displayed())
    assert active().get_attribute("data-index") == "1"
    active().send_keys(Keys.ESCAPE)  # and to the box
    assert active().get_attribute("id") == "q"


# --- the desktop ----------------------------------------------------------------------------------

def test_open_and_show_in_folder_hand_the_photo_to_the_desktop(desk, chromium):
    signed_in(desk, chromium, "q:Anna")
    settled(chromium)
    chromium.find_element(By.CSS_SELECTOR, "#results .hit").click()
    wait(chromium, lambda d: d.find_element(By.ID, "detail").is_displayed())
    path = desk.library / USER_KEYWORD_FILE
    chromium.find_element(By.ID, "act-open").click()
    wait(chromium, lambda d: desk.opened.exists() and str(path) in desk.opened.read_text())
    assert desk.opened.read_text().splitlines()[-1] == str(path)
    chromium.find_element(By.ID, "act-reveal").click()  # the file manager is asked to select the file
    wait(chromium, lambda d: desk.revealed.exists() and path.as_uri() in desk.revealed.read_text())
    assert "org.freedesktop.FileManager1.ShowItems" in desk.revealed.read_text()


# --- what the page may reach and what may reach it ------------------------------------------------

def test_the_page_asks_nothing_but_the_service(desk, chromium):
    requests_made(chromium)  # forget what came before
    signed_in(desk, chromium, "q:forest")
    settled(chromium)
    wait(chromium, painted)
    chromium.find_element(By.CSS_SELECTOR, "#results .hit").click()
    wait(chromium, lambda d: d.find_element(By.ID, "detail").is_displayed())
    shown = answers(chromium)
    chromium.find_element(By.ID, "act-similar").click()
    settled(chromium, shown)
    urls = requests_made(chromium)
    assert any("/api/search" in u for u in urls) and any("/thumb/" in u for u in urls)
    elsewhere = [u for u in urls if not u.startswith(desk.origin + "/") and not u.startswith(("blob:", "data:"))]
    assert elsewhere == []
    headers = desk.api("/")[1]
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "connect-src 'self'" in headers["Content-Security-Policy"]


def test_a_page_on_another_local_origin_cannot_read_results_or_thumbnails(desk, chromium):
    signed_in(desk, chromium)  # the victim's browser holds the cookie
    digest = json.loads(desk.api("/api/search?q=Anna")[2])["hits"][0]["hash"]
    evil = _EvilSite(desk.origin, digest)
    try:
        for host in ("127.0.0.1", "localhost"):  # same site, other port; and another name for this machine
            chromium.get(f"http://{host}:{evil.port}/")
            outcome = wait(chromium, lambda d: d.execute_script("return window.outcome"))
            assert outcome == {"fetch": "blocked", "thumbnail": "blocked", "frame": "blocked"}, outcome
    finally:
        evil.close()


class _EvilSite:
    """A web page on another port of this machine that tries to read the service with the user's cookie."""

    PAGE = """<!doctype html><body><script>
    window.outcome = null;
    const result = {};
    const done = () => { if (Object.keys(result).length === 3) window.outcome = result; };
    fetch(%(origin)r + '/api/search?q=Anna', {credentials: 'include'})
      .then(r => r.text()).then(t => { result.fetch = t.includes('astronaut') ? 'read' : 'blocked'; done(); })
      .catch(() => { result.fetch = 'blocked'; done(); });
    const img = new Image();
    img.onload = () => { result.thumbnail = 'read'; done(); };
    img.onerror = () => { result.thumbnail = 'blocked'; done(); };
    img.src = %(origin)r + '/thumb/%(digest)s';
    const frame = document.createElement('iframe');
    frame.src = %(origin)r + '/?q=Anna';
    frame.onload = () => {
      let framed = 'blocked';
      try { framed = frame.contentDocument && frame.contentDocument.body.innerText.includes('astronaut') ? 'read' : 'blocked'; }
      catch (e) { framed = 'blocked'; }
      result.frame = framed; done();
    };
    setTimeout(() => { if (!('frame' in result)) { result.frame = 'blocked'; done(); } }, 3000);
    document.body.append(frame);
    </script></body>"""

    def __init__(self, origin: str, digest: str):
        page = (self.PAGE % {"origin": origin, "digest": digest}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- the README's screenshot ----------------------------------------------------------------------

def test_a_screenshot_of_a_search_for_the_readme(desk, chromium, tmp_path):
    """The README's picture of the page (set PHOTOBRAIN_SCREENSHOTS to a folder to keep it)."""
    signed_in(desk, chromium, "q:landscape")
    shown = answers(chromium)
    Select(chromium.find_element(By.ID, "cutoff")).select_by_value("-100")
    settled(chromium, shown)
    wait(chromium, painted)
    time.sleep(0.3)
    shot = tmp_path / "launcher.png"
    chromium.save_screenshot(str(shot))
    with Image.open(shot) as image:
        assert image.size[0] >= 1200
        colours = image.convert("RGB").resize((64, 48)).getcolors(64 * 48)
        assert colours is None or len(colours) > 200  # thumbnails, not a blank page
    keep = os.environ.get("PHOTOBRAIN_SCREENSHOTS")
    if keep:
        shutil.copy(shot, Path(keep) / "launcher.png")


@pytest.fixture(autouse=True)
def no_console_errors(desk, chromium, request):
    """No test leaves a script error of the page (a CSP violation included) in the browser's console."""
    chromium.get_log("browser")
    yield
    if "another_local_origin" in request.node.name:
        return  # the refusals that test provokes are logged as errors, as they should be
    errors = [e for e in chromium.get_log("browser") if e["level"] == "SEVERE" and e["message"].startswith(desk.origin)
              and not any(f" {code} " in e["message"] for code in (401, 403))]  # the signed-out tests' own refusals
    assert errors == []
