"""Handing a file to the desktop: the launcher's Open and Show in folder buttons, and ``search --open``.

Nothing here waits for the program it starts (a viewer may stay open for hours); each opener is the one the
platform provides: ``xdg-open`` and the freedesktop FileManager1 D-Bus call (which Nautilus, Dolphin, Nemo,
Thunar and Caja answer by selecting the file) on Linux, ``open``/``open -R`` on macOS, ``os.startfile`` and
``explorer /select,`` on Windows.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from xmp.errors import PhotobrainError


def _start(command: list[str]) -> None:
    subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                     start_new_session=True)


class Desktop:
    """Opens files and folders the way the user's desktop does."""

    def open(self, path: Path) -> None:
        if sys.platform == "darwin":
            _start(["open", str(path)])
        elif os.name == "nt":
            os.startfile(str(path))  # type: ignore[attr-defined]
        else:
            _start([self._xdg_open(path), str(path)])

    def reveal(self, path: Path) -> None:
        """Show the file selected in its folder (the folder alone where the file manager cannot select)."""
        if sys.platform == "darwin":
            _start(["open", "-R", str(path)])
            return
        if os.name == "nt":
            _start(["explorer", f"/select,{path}"])
            return
        uri = path.as_uri()
        sender = shutil.which("dbus-send")
        if sender is not None:
            try:
                done = subprocess.run([sender, "--session", "--print-reply", "--dest=org.freedesktop.FileManager1",
                                       "--type=method_call", "/org/freedesktop/FileManager1",
                                       "org.freedesktop.FileManager1.ShowItems", f"array:string:{uri}", "string:"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=5)
                if done.returncode == 0:
                    return
            except (OSError, subprocess.TimeoutExpired):
                pass
        _start([self._xdg_open(path), str(path.parent)])

    @staticmethod
    def _xdg_open(path: Path) -> str:
        opener = shutil.which("xdg-open")
        if opener is None:
            raise PhotobrainError(path, "no program to open files with (xdg-open is missing)", "install xdg-utils")
        return opener
