"""photobrain's entries in Nautilus's right-click menu (nautilus-python). It only starts the photobrain command
with the selected files; 'photobrain integrations uninstall nautilus' removes this file."""
import subprocess

from gi.repository import GObject, Nautilus

PROGRAM = []  # this installation's photobrain, written by 'photobrain integrations install'
MARK = ''
ACTIONS = (("similar", "Find similar photos", True, False, False),   # name, label, photos, folders, several
           ("tag", "Tag with photobrain", True, True, True),
           ("search", "Search photos…", False, True, False))


def _start(name, paths):
    subprocess.Popen([*PROGRAM, "action", name, "--", *paths], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


class PhotobrainMenu(GObject.GObject, Nautilus.MenuProvider):
    def get_file_items(self, *args):  # Nautilus 43+: (files); before: (window, files)
        files = args[-1]
        paths = [f.get_location().get_path() for f in files]
        if not files or None in paths:  # a remote place: photobrain works on this computer's files
            return []
        folders = [f.is_directory() for f in files]
        photos = [not d and (f.get_mime_type() or "").startswith("image/") for f, d in zip(files, folders)]  # noqa: B905 (Python 3.8 in older Nautilus)
        items = []
        for name, label, on_photos, on_folders, several in ACTIONS:
            if len(files) > 1 and not several:
                continue
            if not all((on_photos and p) or (on_folders and d) for p, d in zip(photos, folders)):  # noqa: B905
                continue
            item = Nautilus.MenuItem(name=f"photobrain::{name}", label=label, tip="photobrain")
            item.connect("activate", lambda _item, n=name: _start(n, paths))
            items.append(item)
        return items
