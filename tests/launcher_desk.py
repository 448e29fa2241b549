"""The desktop the launcher's tests run on: a tagged library, a service started the way a user starts it
(``photobrain launcher``), stand-ins for the desktop's openers, and Debian's Chromium driven by Selenium."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
USER_KEYWORD_FILE = "people/astronaut.png"  # carries the user keywords "Anna" and "Birthday" (Anna is on another too)


@dataclass
class Desk:
    base: Path
    library: Path
    catalog: Path
    env: dict[str, str]
    opened: Path     # what the stand-in xdg-open was asked to open, one line per call
    revealed: Path   # what the stand-in dbus-send was asked to show

    def photobrain(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "sidecar", *args], capture_output=True, text=True, env=self.env)
        if check:
            assert done.returncode == 0, done.stderr
        return done

    def sign_in(self, target: str = "") -> str:
        """A fresh one-time sign-in address (``launcher --print-url`` with the launcher's own options)."""
        return self.photobrain("launcher", "--print-url", *self._target(target)).stdout.strip()

    @staticmethod
    def _target(target: str) -> list[str]:
        if target.startswith("similar:"):
            return ["--similar", target[8:]]
        if target.startswith("q:"):
            return ["--query", target[2:]]
        return []

    @property
    def service(self) -> dict:
        return json.loads(self.catalog.with_name(self.catalog.name + ".service.json").read_text())

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.service['port']}"

    def api(self, path: str, *, headers: dict | None = None, data: bytes | None = None) -> tuple[int, dict, bytes]:
        """A request to the service as a command-line client would make it (token), or with ``headers`` only."""
        request = urllib.request.Request(self.origin + path, data=data, headers=headers if headers is not None else
                                         {"Authorization": f"Bearer {self.service['token']}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()


# -- reading the page (Selenium) ---------------------------------------------------------------

def wait(driver, condition, timeout: float = 30.0):
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: condition(d))


def results(driver) -> list[str]:
    return driver.execute_script("return [...document.querySelectorAll('#results .hit')].map(b => b.dataset.path)")


def painted(driver) -> bool:
    """Every result's thumbnail is loaded and decoded (naturalWidth > 0)."""
    return driver.execute_script(
        "const imgs = [...document.querySelectorAll('#results .hit img')];"
        "return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);")


def answers(driver) -> int:
    return int(driver.execute_script("return document.body.dataset.answers || '0'"))


def settled(driver, before: int = 0) -> list[str]:
    """The results once the page has shown more than ``before`` answers (a query's, or an empty one's)."""
    wait(driver, lambda d: answers(d) > before and "searching" not in d.find_element(By.ID, "state").text)
    return results(driver)



@pytest.fixture(scope="session")
def desk(tmp_path_factory, tiny_clip_prepared):
    """samples/ tagged (sidecars) with the tiny model, a user keyword on one photo, and the service running."""
    from conftest import SAMPLES

    tiny_model, text_cache = tiny_clip_prepared
    base = tmp_path_factory.mktemp("desk")
    home = base / "home"
    library = base / "Photos library"
    shutil.copytree(SAMPLES, library, ignore=shutil.ignore_patterns("*.xmp", "*.md"))
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-dc:Subject+=Anna", "-XMP-dc:Subject+=Birthday",
                    str(library / USER_KEYWORD_FILE)], check=True)
    tools = base / "bin"
    tools.mkdir()
    opened, revealed = base / "opened.txt", base / "revealed.txt"
    for name, record in (("xdg-open", opened), ("dbus-send", revealed)):
        (tools / name).write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{record}"\n')
        (tools / name).chmod(0o755)
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_DATA_HOME": str(home / ".local/share"), "XDG_CACHE_HOME": str(home / ".cache"),
           "PHOTOBRAIN_CACHE": str(base / "cache"), "PHOTOBRAIN_CONFIG": str(base / "none.toml"),
           "PATH": f"{tools}:{os.environ['PATH']}"}
    for variable in ("PHOTOBRAIN_CATALOG", "BROWSER"):
        env.pop(variable, None)
    shutil.copytree(text_cache, base / "cache" / "text")  # the vocabulary prepared once per test session
    catalog = home / ".local/share/photobrain/catalog.db"
    desk = Desk(base, library, catalog, env, opened, revealed)
    desk.photobrain("tag", str(library), "--model", str(tiny_model.config_path), "--pretrained",
                    str(tiny_model.checkpoint_path), "--write", "sidecar", "--threshold", "0.05", "--jobs", "1", "-q")
    desk.sign_in()  # starts the service, detached, as the launcher does
    yield desk
    desk.photobrain("serve", "--stop")


@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    """Headless Chromium (Debian's, through its chromium-driver), recording every request the page makes."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,860", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--disable-default-apps", "--lang=en-US"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
