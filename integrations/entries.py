"""What every right-click entry offers, and the plan an install is: files, Thunar actions, registry values.

Each entry only runs ``photobrain action NAME -- FILE...`` (``sidecar/actions.py``) with the absolute path of
this installation's ``photobrain``: menus are started without the login shell's PATH.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

MARK = "photobrain integrations install"  # written into every file and registry key, so uninstall knows its own


@dataclass(frozen=True)
class Action:
    name: str          # the word after 'photobrain action'
    label: str
    comment: str
    images: bool       # offered on photos
    folders: bool      # offered on folders
    many: bool         # takes several files at once


ACTIONS = (
    Action("similar", "Find similar photos", "Show the photos that look like this one (photobrain, on this computer)",
           images=True, folders=False, many=False),
    Action("tag", "Tag with photobrain", "Tag these photos, or the photos in these folders, with photobrain's "
           "on-device AI (the library's settings)", images=True, folders=True, many=True),
    Action("search", "Search photos…", "Search the photos in this folder with photobrain",
           images=False, folders=True, many=False),
)

#: the image types an "Open with" menu offers the similar search for (what photobrain reads)
IMAGE_TYPES = ("image/jpeg", "image/png", "image/tiff", "image/webp", "image/heif", "image/heic", "image/avif",
               "image/gif", "image/bmp", "image/x-adobe-dng", "image/x-canon-cr2", "image/x-canon-cr3",
               "image/x-nikon-nef", "image/x-sony-arw", "image/x-fuji-raf", "image/x-olympus-orf",
               "image/x-panasonic-rw2", "image/x-pentax-pef", "image/x-samsung-srw", "image/x-dcraw")


@dataclass
class UcaAction:
    """One Thunar custom action (an ``<action>`` of ``~/.config/Thunar/uca.xml``)."""

    unique_id: str
    fields: dict[str, str]     # child element -> text, in Thunar's order
    kinds: tuple[str, ...]     # empty child elements: image-files, directories


@dataclass
class RegistryKey:
    """A key under HKEY_CURRENT_USER with its string values ("" is the key's default value)."""

    key: str
    values: dict[str, str]


@dataclass
class Plan:
    """What installing one integration writes, as data; ``apply`` in ``installer`` does it."""

    name: str
    program: list[str]                                                    # the command every entry starts
    files: dict[Path, tuple[str, int]] = field(default_factory=dict)      # path -> (text, mode)
    uca: list[UcaAction] = field(default_factory=list)                    # Thunar's actions, merged into uca.xml
    uca_file: Path | None = None
    registry: list[RegistryKey] = field(default_factory=list)
    after: list[list[str]] = field(default_factory=list)                  # refreshes run when present
    notes: list[str] = field(default_factory=list)                        # what the user should know
    keep_viewers: tuple[str, ...] = ()                                    # MIME types whose default viewer stays


def default_program() -> list[str]:
    """This installation's ``photobrain``: the script beside the running Python, else ``python -m sidecar``."""
    script = Path(sys.executable).parent / ("photobrain.exe" if os.name == "nt" else "photobrain")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "sidecar"]


def icon_file() -> Path:
    """The photobrain icon shipped with the search page (an absolute path works as Icon= in every menu)."""
    import sidecar

    return Path(sidecar.__file__).resolve().parent / "launcher" / "page" / "icon.svg"
