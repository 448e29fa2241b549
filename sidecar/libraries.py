"""Libraries: the folders a user tagged, each remembered in its catalog with how it is tagged (its profile).

From a path to its library: :func:`locate` looks in the catalog named on the
command line, else in the config file's, the default one and every catalog a
library was recorded in (``catalogs.json`` in the data folder). Every later
command then needs nothing but the path.

:func:`plan_runs` turns the paths of a ``tag``/``retag`` into one run per
library with its settings resolved (flag > profile > config > default), and
refuses, before anything is written, a run that would change where a
library's tags live without ``--migrate``. :func:`sidecar.library_run.run_library` carries one out.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from index.catalog import Catalog, LibraryRow, deepest_library, is_within
from xmp import is_image
from xmp.errors import PhotobrainError

from .places import data_dir
from .settings import PROFILE_KEYS, WHERE_KEYS, Config, Settings, home_catalog, profile_changes, recorded, resolve_settings

MOVE_SAMPLE = 8  # files of a folder hashed to recognise a library that moved there


# --- which catalogs there are ----------------------------------------------------------------------

def registry_path() -> Path:
    return data_dir() / "catalogs.json"


def registered_catalogs() -> list[Path]:
    try:
        return [Path(p) for p in json.loads(registry_path().read_text())]
    except (OSError, ValueError, TypeError):
        return []


def remember_catalog(catalog: Path) -> None:
    """Record a catalog that holds a library, so that a path alone finds it later."""
    catalog = Path(os.path.abspath(catalog))
    known = registered_catalogs()
    if catalog in known:
        return
    path = registry_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temp.write_text(json.dumps([str(p) for p in [*known, catalog]], indent=2))
        temp.replace(path)
    except OSError:
        pass  # only a convenience: --catalog still finds it


def candidate_catalogs(explicit: Path | None, config: Config) -> list[Path]:
    if explicit is not None:
        return [Path(explicit)]
    found = [home_catalog(None, config), *registered_catalogs()]
    unique = list(dict.fromkeys(Path(os.path.abspath(p)) for p in found))
    return [p for p in unique if p.is_file()]


# --- from a path to its library ----------------------------------------------------------------------

@dataclass(frozen=True)
class Located:
    catalog: Path
    library: LibraryRow | None


T = TypeVar("T")


def _look(catalog: Path, look: Callable[[Catalog], T | None]) -> T | None:
    opened = Catalog.open_readonly(catalog)
    if opened is None:
        return None
    with opened:
        return look(opened)


def locate(path: Path, explicit: Path | None, config: Config, *, by_content: bool = False) -> Located | None:
    """The catalog and library ``path`` lies in. With ``by_content``, a file found in no library is looked up by its
    image data too (a library moved since it was last tagged)."""
    path = Path(os.path.abspath(path))
    candidates = candidate_catalogs(explicit, config)
    found = [(catalog, _look(catalog, lambda c: c.libraries()) or []) for catalog in candidates]
    for catalog, libraries in found:
        library = deepest_library(libraries, path)
        if library is not None:
            return Located(catalog, library)
    for catalog, libraries in found:  # a folder around libraries: the one tagged last among them
        library = max((lib for lib in libraries if is_within(lib.root, path)), key=_recency, default=None)
        if library is not None:
            return Located(catalog, library)
    if by_content and path.is_file():
        from xmp import content_hash

        try:
            digest = content_hash(path)
        except (PhotobrainError, OSError):
            return None
        for catalog in candidates:
            known = _look(catalog, lambda c: next(((lib, p) for p in c.paths_of(digest, include_missing=True)
                                                   if (lib := c.library_of(p)) is not None), None))
            if known is not None:
                return Located(catalog, _follow_move(catalog, known[0], known[1], path))
    return None


def _follow_move(catalog: Path, library: LibraryRow, known: Path, path: Path) -> LibraryRow:
    """``path`` is the photo catalogued at ``known``: when the library's folder is gone and the photo sits at the same
    place below another folder, the library moved there, and the catalog follows it (photos are not touched)."""
    relative = known.relative_to(library.root)
    if library.root.exists() or path.parts[-len(relative.parts):] != relative.parts:
        return library
    root = Path(*path.parts[:-len(relative.parts)])
    try:
        with Catalog.open(catalog) as opened:
            if opened.library_of(root) is not None or opened.files_under([root]):
                return library
            opened.move_library(library.id, library.root, root)
            return opened.library_of(root) or library
    except PhotobrainError:  # in use by a tag run: the next command follows the move
        return library


def not_in_a_library(path: Path, explicit: Path | None, config: Config) -> PhotobrainError:
    looked = candidate_catalogs(explicit, config)
    where = ", ".join(str(p) for p in looked) if looked else "none exists yet"
    return PhotobrainError(path, f"this is in no photobrain library (catalogs looked in: {where})",
                           "run 'photobrain tag FOLDER' on the folder of your library first, or pass the --catalog "
                           "you tagged it into")


def latest_library(catalog: Path) -> LibraryRow | None:
    """The library of ``catalog`` tagged most recently: whose model a search over the whole catalog uses."""
    return _look(catalog, lambda c: max(c.libraries(), key=_recency, default=None)) if Path(catalog).is_file() else None


def _recency(library: LibraryRow) -> tuple[str, str]:
    return library.last_run or "", library.updated


def search_settings(flags: Mapping[str, Any], config: Config, *, path: Path | None,
                    must_be_in_library: bool) -> Settings:
    """Settings of search, similar, serve and index rebuild: the catalog and model of ``path``'s library, else of the
    catalog's most recently tagged library."""
    explicit = flags.get("catalog")
    located = locate(path, explicit, config, by_content=True) if path is not None else None
    if path is not None and located is None and (must_be_in_library and explicit is None):
        raise not_in_a_library(path, explicit, config)
    catalog = located.catalog if located else home_catalog(explicit, config)
    library = located.library if located else latest_library(catalog)
    return resolve_settings(flags, library.profile if library else None, config, catalog=catalog,
                            library=library.root if library else None)


# --- tag and retag: one run per library -------------------------------------------------------------

@dataclass
class LibraryRun:
    """What one ``tag``/``retag`` does in one library."""

    catalog: Path
    root: Path
    paths: tuple[Path, ...]  # none: every file the catalog knows in the library (retag without PATH)
    settings: Settings
    library_id: int | None  # None: a new library, recorded when the run starts
    previous: dict | None  # its profile before this run
    absorbed: list[LibraryRow] = field(default_factory=list)  # libraries below a new root, which takes them over
    moved_from: Path | None = None  # the library's folder before it moved here
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def migrations(self) -> list[tuple[Path, dict, Settings]]:
        """(old root, old profile, its settings) of every library whose tags must move for this run."""
        moving = []
        for root, profile in [(self.root, self.previous), *((lib.root, lib.profile) for lib in self.absorbed)]:
            if profile is not None and any(profile.get(k) != getattr(self.settings, k) for k in WHERE_KEYS):
                old = resolve_settings({}, profile, Config(), catalog=self.catalog, library=root)
                moving.append((root, profile, old))
        return moving


def plan_runs(paths: tuple[Path, ...], flags: Mapping[str, Any], config: Config, *, retag: bool,
              migrate: bool, log: Callable[[str], None] = lambda m: None) -> list[LibraryRun]:
    """The runs a tag (or retag) of ``paths`` makes, one per library. Raises, before anything is written, when a
    run would move a library's tags without ``migrate``."""
    explicit = flags.get("catalog")
    catalog = _catalog_for(paths, explicit, config)
    if retag and not catalog.is_file():
        raise PhotobrainError(catalog, "there is no catalog here yet", "run 'photobrain tag FOLDER' first")
    opened = Catalog.open_readonly(catalog)
    libraries = opened.libraries() if opened else []
    if opened:
        opened.close()
    groups: dict[Path, list[Path]] = {}
    if not paths:  # retag of everything: every library
        for library in libraries:
            if library.root.is_dir():
                groups[library.root] = []  # every catalogued file of the library (none is looked for)
            else:
                log(f"photobrain: the library {library.root} is not there (moved, or a drive not mounted): skipped")
    loose: list[Path] = []  # named, in no library, and no photo: reported by a run, never the root of one
    for path in paths:
        absolute = Path(os.path.abspath(path))
        holding = deepest_library(libraries, absolute)
        if holding is not None:
            groups.setdefault(holding.root, []).append(path)
        elif retag:
            raise not_in_a_library(absolute, explicit, config)
        elif absolute.is_dir():
            groups.setdefault(absolute, []).append(path)
        elif absolute.is_file() and is_image(absolute):
            groups.setdefault(absolute.parent, []).append(path)
        else:
            loose.append(path)
    if loose and not groups:
        why = "no such file" if not os.path.lexists(loose[0]) else "not a photo file photobrain can tag"
        raise PhotobrainError(loose[0], why, "name photo files or folders of photos")
    if loose:
        groups[next(iter(groups))].extend(loose)
    return [_plan(catalog, root, tuple(found), libraries, flags, config, migrate=migrate)
            for root, found in groups.items()]


def _catalog_for(paths: tuple[Path, ...], explicit: Path | None, config: Config) -> Path:
    if explicit is not None:
        return Path(explicit)
    found = {located.catalog for p in paths if (located := locate(p, None, config)) is not None}
    if len(found) > 1:
        raise PhotobrainError(None, "these paths are in libraries of different catalogs: "
                              + ", ".join(str(c) for c in sorted(found)), "tag one library at a time")
    return found.pop() if found else home_catalog(None, config)


def _plan(catalog: Path, root: Path, paths: tuple[Path, ...], libraries: list[LibraryRow], flags: Mapping[str, Any],
          config: Config, *, migrate: bool) -> LibraryRun:
    existing = next((lib for lib in libraries if lib.root == root), None)
    absorbed: list[LibraryRow] = []
    profiles: set[str] = set()
    moved_from = None
    base = existing.profile if existing else None
    if existing is None:
        absorbed = [lib for lib in libraries if lib.root != root and is_within(lib.root, root)]
        profiles = {json.dumps({k: recorded(lib.profile, k) for k in PROFILE_KEYS}, sort_keys=True) for lib in absorbed}
        if len(profiles) == 1:  # a folder around libraries tagged alike is tagged as they are
            base = absorbed[0].profile
        elif not absorbed:
            moved = _moved_library(catalog, root, libraries)
            if moved is not None:
                base, moved_from, existing = moved.profile, moved.root, moved
    settings = resolve_settings(flags, base, config, catalog=catalog, library=root)
    run = LibraryRun(catalog, root, paths, settings, existing.id if existing else None,
                     existing.profile if existing else None, absorbed, moved_from)
    run.changes = profile_changes(run.previous, settings)
    if len(profiles) > 1 and not migrate:
        raise PhotobrainError(root, "this folder holds libraries tagged differently: " + "; ".join(
            f"{lib.root} ({_describe(lib.profile)})" for lib in absorbed),
            "tag each library on its own, or add --migrate to bring them all to this run's settings")
    if run.migrations and not migrate:
        old_root, profile, old = run.migrations[0]
        raise PhotobrainError(old_root, f"this library's tags live {old.where()}; this run would put them "
                              f"{settings.where()}: that moves every tag of the library",
                              "add --migrate to move them (photobrain's tags are taken out of the old place and "
                              "written to the new one), or leave out " + ", ".join(
                                  _flag_name(k) for k in WHERE_KEYS if profile.get(k) != getattr(settings, k))
                              + " to keep the library as it is")
    return run


def _flag_name(key: str) -> str:
    return {"keyword_root": "--root", "sidecar_name": "--sidecar-name", "write": "--write"}[key]


def _describe(profile: Mapping[str, Any]) -> str:
    return (f"{profile.get('model_label') or profile.get('model')}, write {profile.get('write')}, sidecars "
            f"{profile.get('sidecar_name')}, root {profile.get('keyword_root')!r}, threshold {profile.get('threshold')}")


def _moved_library(catalog: Path, folder: Path, libraries: list[LibraryRow]) -> LibraryRow | None:
    """The library whose folder is gone and whose photos are in ``folder`` now (same relative paths, same image
    data), or None. Only a few files are read to tell."""
    gone = [lib for lib in libraries if not lib.root.exists()]
    if not gone or not folder.is_dir() or not catalog.is_file():
        return None
    from xmp import content_hash

    from .files import scan

    sample = []
    for path, st in scan([folder]):
        if st is not None:
            sample.append(path)
        if len(sample) >= MOVE_SAMPLE:
            break
    with Catalog.open_readonly(catalog) as opened:  # type: ignore[union-attr]
        if opened.files_under([folder]):
            return None  # photos here are catalogued already: this is not a move
        votes: dict[int, int] = {}
        for path in sample:
            relative = path.relative_to(folder)
            known = {lib.id: digest for lib in gone if (digest := opened.hash_of(lib.root / relative))}
            if not known:
                continue
            try:
                digest = content_hash(path)  # read only when some gone library had a photo at this place
            except (PhotobrainError, OSError):
                continue
            for library_id in (i for i, d in known.items() if d == digest):
                votes[library_id] = votes.get(library_id, 0) + 1
    best = max(votes, key=lambda i: votes[i], default=None)
    if best is None or 2 * votes[best] < len(sample):
        return None
    return next(lib for lib in gone if lib.id == best)
