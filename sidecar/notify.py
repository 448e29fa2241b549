"""Desktop notifications for the commands the right-click entries run (``photobrain action``): they have no
terminal, so what they say goes to a notification and to ``actions.log`` in the data folder.

* Linux: ``notify-send`` (libnotify; each update replaces the last with ``--replace-id``, with a progress bar
  where the notification server draws one), else ``gdbus`` calling org.freedesktop.Notifications directly.
* macOS: ``osascript -e 'display notification ...'``.
* Windows: a toast through PowerShell's Windows.UI.Notifications, started without a window.

The command of each is built as data (:func:`command`), so every platform's is tested here. A desktop without a
notification service loses only the notification: the log has every line.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

APP = "photobrain"


def command(platform: str, title: str, body: str, *, replace: int | None = None, progress: int | None = None,
            which=shutil.which) -> list[str] | None:
    """The command that shows (or updates) a notification on ``platform``; None where there is no way."""
    if platform == "darwin":
        def applescript(text: str) -> str:
            return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return ["osascript", "-e", f"display notification {applescript(body)} with title {applescript(title)}"]
    if platform == "win32":
        def xml(text: str) -> str:
            return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                    .replace('"', "&quot;").replace("'", "&apos;"))
        toast = f"<toast><visual><binding template='ToastGeneric'><text>{xml(title)}</text><text>{xml(body)}</text>" \
                "</binding></visual></toast>"
        script = ("[Windows.UI.Notifications.ToastNotificationManager, Windows.UI.Notifications, ContentType=WindowsRuntime]"
                  " > $null; $x = New-Object Windows.Data.Xml.Dom.XmlDocument; $x.LoadXml($env:PHOTOBRAIN_TOAST); "
                  "[Windows.UI.Notifications.ToastNotificationManager]::CreateToastNotifier('photobrain')"
                  ".Show([Windows.UI.Notifications.ToastNotification]::new($x))")
        # the toast's text travels in an environment variable: nothing of a file name is parsed by PowerShell
        return ["powershell.exe", "-NoProfile", "-NonInteractive", "-WindowStyle", "Hidden", "-Command", script,
                f"PHOTOBRAIN_TOAST={toast}"]
    if which("notify-send"):
        words = ["notify-send", f"--app-name={APP}", "--icon=image-x-generic", "--print-id"]
        if replace:
            words.append(f"--replace-id={replace}")
        if progress is not None:
            words.append(f"--hint=int:value:{max(0, min(100, progress))}")
        return [*words, "--", title, body]
    if which("gdbus"):
        def text(value: str) -> str:  # GVariant text: a quoted string
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        hints = f"{{'value': <int32 {max(0, min(100, progress))}>}}" if progress is not None else "@a{sv} {}"
        return ["gdbus", "call", "--session", "--dest", "org.freedesktop.Notifications",
                "--object-path", "/org/freedesktop/Notifications", "--method", "org.freedesktop.Notifications.Notify",
                text(APP), f"uint32 {replace or 0}", text("image-x-generic"), text(title), text(body), "@as []",
                hints, "int32 -1"]
    return None


class Notifier:
    """One notification that is shown, updated and finished; every message is also logged."""

    def __init__(self, log: Path | None = None, platform: str = sys.platform):
        self.log_path = log
        self.platform = platform
        self.id: int | None = None

    def log(self, line: str) -> None:
        if self.log_path is None:
            return
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "a", encoding="utf-8", errors="surrogateescape") as out:
                out.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} [{os.getpid()}] {line}\n")
        except OSError:
            pass

    def show(self, title: str, body: str, *, progress: int | None = None) -> None:
        self.log(f"{title}: {body}")
        words = command(self.platform, title, body, replace=self.id, progress=progress)
        if words is None:
            return
        env = dict(os.environ)
        if self.platform == "win32":
            env["PHOTOBRAIN_TOAST"] = words.pop().split("=", 1)[1]
        try:
            done = subprocess.run(words, capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL, env=env,
                                  creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.log(f"no notification: {exc}")
            return
        if done.returncode != 0 and words[0] == "notify-send" and "--print-id" in words:
            # libnotify before 0.7.9 knows neither --print-id nor --replace-id: a new notification each time
            plain = [w for w in words if not w.startswith(("--print-id", "--replace-id"))]
            done = subprocess.run(plain, capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            self.log(f"no notification: {(done.stderr or '').strip() or 'exit ' + str(done.returncode)}")
            return
        self.id = _notification_id(done.stdout) or self.id


def _notification_id(stdout: str) -> int | None:
    """The id notify-send --print-id prints ("12"), or gdbus ("(uint32 12,)")."""
    digits = "".join(c if c.isdigit() else " " for c in stdout).split()
    return int(digits[0]) if digits else None
