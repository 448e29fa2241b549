"""How a command is set up: one :class:`Settings` object, resolved once and passed down.

For every setting the order of precedence is the same, and it lives here only:
a flag given on this run > the library's profile (how the library was tagged,
kept in the catalog) > the config file > the built-in defaults.

Nothing heavy is imported here: the command line resolves settings before it
decides whether torch is needed at all.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from xmp.errors import PhotobrainError

from .brains.gemini import DEFAULT_MODEL as DEFAULT_CLOUD_MODEL
from .cloud.options import BRAINS, CloudOptions
from .models import DEFAULT_ARCHITECTURE, looks_like_file
from .places import config_file, default_catalog

WRITE_MODES = ("embed", "sidecar", "auto", "none")
SIDECAR_NAMES = ("ext", "base", "both")

#: what a library's profile records: how the library is tagged
PROFILE_KEYS = ("model", "pretrained", "brain", "cloud_model", "write", "sidecar_name", "keyword_root", "threshold",
                "max_tags", "vocab", "watch")
#: what a profile recorded before a key existed means (``watch``: a resident service tags new photos)
PROFILE_DEFAULTS = {"watch": True}
#: where the tags live: changing one of these moves every tag of the library (a migration)
WHERE_KEYS = ("write", "sidecar_name", "keyword_root")
#: the config file's names for settings whose name differs (``root`` is the keyword root, as the flag --root)
CONFIG_NAMES = {"root": "keyword_root"}


def _choice(options: tuple[str, ...]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value not in options:
            raise ValueError(f"one of {', '.join(options)}")
        return value
    return check


def _number(low: float, high: float | None, kind: type) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
            raise ValueError(f"a{'n integer' if kind is int else ' number'}")
        if value < low or (high is not None and value > high):
            raise ValueError(f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}")
        return kind(value)
    return check


def _text(value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a non-empty string")
    return value


def _flag(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError("true or false")
    return value


def _price(value: Any) -> Any:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(x, (int, float)) for x in value)):
        raise ValueError("[INPUT, OUTPUT], US dollars per million tokens, e.g. [0.10, 0.40]")
    return (float(value[0]), float(value[1]))


#: every setting the config file may hold, with its check
CHECKS: dict[str, Callable[[Any], Any]] = {
    "model": _text, "pretrained": _text, "brain": _choice(BRAINS), "cloud_model": _text,
    "write": _choice(WRITE_MODES), "sidecar_name": _choice(SIDECAR_NAMES), "keyword_root": _text,
    "threshold": _number(0, 1, float), "max_tags": _number(0, None, int), "vocab": _text,
    "jobs": _number(1, None, int), "keep_mtime": _flag, "max_megapixels": _number(1, None, float),
    "max_cost": _number(0, None, float), "catalog": _text, "watch": _flag,
    "gemini_api_key": _text, "gemini_price": _price, "cloud_jobs": _number(1, None, int),
}


@dataclass(frozen=True)
class Config:
    """The config file as read: setting name -> value (checked)."""

    path: Path | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, warn: Callable[[str], None] = lambda m: None) -> Config:
        """Read the config file (``PHOTOBRAIN_CONFIG``, else the platform's config folder); empty when there is none."""
        import tomllib

        path = config_file()
        if not path.is_file():
            return cls(path, {})
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise PhotobrainError(path, f"cannot read the config file ({exc})", "fix or remove it") from exc
        known = sorted({*CHECKS, *CONFIG_NAMES} - set(CONFIG_NAMES.values()))
        data: dict[str, Any] = {}
        for key, value in raw.items():
            name = CONFIG_NAMES.get(key, key)
            if name not in CHECKS or key in CONFIG_NAMES.values():
                raise PhotobrainError(path, f"unknown setting {key!r}", f"known settings: {', '.join(known)}")
            try:
                data[name] = CHECKS[name](value)
            except ValueError as exc:
                raise PhotobrainError(path, f"{key} = {value!r}: expected {exc}", "fix the value or remove the line") from exc
        if "gemini_api_key" in data and os.name == "posix" and path.stat().st_mode & 0o077:
            warn(f"warning: {path} holds a Gemini API key and other users can read it: chmod 600 {path}")
        return cls(path, data)

    def catalog(self) -> Path | None:
        value = self.data.get("catalog")
        return Path(value).expanduser() if value else None


def home_catalog(explicit: Path | None, config: Config) -> Path:
    """The catalog a command uses when no path says otherwise: --catalog (or PHOTOBRAIN_CATALOG), the config's,
    the default one. (Here, not in ``libraries``, so that a command can name it without loading the catalog.)"""
    return Path(explicit or config.catalog() or default_catalog())


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know, resolved (see the module's docstring for the precedence)."""

    catalog: Path
    library: Path | None = None  # the library root the command works in; None: none (yet)
    model: str = DEFAULT_ARCHITECTURE
    pretrained: str | None = None  # None: the architecture's default weights
    brain: str = "local"
    cloud_model: str = DEFAULT_CLOUD_MODEL
    write: str = "auto"
    sidecar_name: str = "ext"
    keyword_root: str = "AI"
    threshold: float = 0.5
    max_tags: int = 10
    vocab: Path | None = None
    watch: bool = True  # a running 'photobrain serve' tags photos that arrive in the library
    jobs: int | None = None
    keep_mtime: bool = False
    max_megapixels: float = 250
    max_cost: float | None = None
    gemini_api_key: str | None = None
    gemini_price: tuple[float, float] | None = None
    cloud_jobs: int = 4
    #: where each setting came from: flag | library | config | default
    origin: Mapping[str, str] = field(default_factory=dict, compare=False)

    def cloud_options(self) -> CloudOptions:
        return CloudOptions(brain=self.brain, model=self.cloud_model,
                            api_key=os.environ.get("GEMINI_API_KEY") or self.gemini_api_key, max_cost=self.max_cost,
                            concurrency=self.cloud_jobs, price=self.gemini_price)

    def where(self) -> str:
        """Where this library's tags live, in words."""
        if self.write == "none":
            return "nowhere in the files (catalog and search only)"
        naming = {"ext": "name.ext.xmp", "base": "name.xmp", "both": "name.ext.xmp and name.xmp"}[self.sidecar_name]
        place = {"embed": "embedded in the images", "sidecar": f"in {naming} sidecars",
                 "auto": f"embedded where the format allows, else in {naming} sidecars"}[self.write]
        return f"{place}, under the keyword root {self.keyword_root!r}"

    def profile_values(self) -> dict[str, Any]:
        return {key: _stored(getattr(self, key)) for key in PROFILE_KEYS}


def _stored(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


SETTING_NAMES = tuple(f.name for f in fields(Settings) if f.name not in ("catalog", "library", "origin"))


def _absolute(key: str, value: Any) -> Any:
    """Paths given relative to where a command ran are stored absolute: later commands run elsewhere."""
    if value is None:
        return None
    if key == "vocab":
        return Path(os.path.abspath(Path(value).expanduser()))
    if key == "pretrained" and looks_like_file(str(value)):
        return os.path.abspath(Path(value).expanduser())
    if key == "model" and str(value).endswith(".json"):
        return os.path.abspath(Path(value).expanduser())
    return value


def resolve_settings(flags: Mapping[str, Any], profile: Mapping[str, Any] | None, config: Config, *,
                     catalog: Path, library: Path | None = None) -> Settings:
    """One setting at a time: the flag given on this run, else the library's profile, else the config file, else the
    default. The model and its weights are one choice: they come together from the first of these that names either.
    """
    layers: list[tuple[str, Mapping[str, Any]]] = [("flag", {k: v for k, v in flags.items() if v is not None}),
                                                     ("library", {**PROFILE_DEFAULTS, **profile} if profile else {}),
                                                     ("config", config.data)]
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name, layer in layers:
        if "model" in layer or "pretrained" in layer:
            values["model"] = layer.get("model") or DEFAULT_ARCHITECTURE
            values["pretrained"] = layer.get("pretrained")
            origin["model"] = origin["pretrained"] = name
            break
    for key in SETTING_NAMES:
        if key in values:
            continue
        for name, layer in layers:
            if key in layer and (name != "library" or key in PROFILE_KEYS):
                values[key] = layer[key]
                origin[key] = name
                break
    for key in SETTING_NAMES:
        origin.setdefault(key, "default")
    values = {key: _absolute(key, value) for key, value in values.items()}
    return replace(Settings(catalog=Path(catalog), library=library), **values, origin=origin)


def profile_changes(before: Mapping[str, Any] | None, settings: Settings) -> dict[str, tuple[Any, Any]]:
    """The profile settings a run changes: key -> (recorded, now). Empty for a new library."""
    if before is None:
        return {}
    now = settings.profile_values()
    return {key: (recorded(before, key), now[key]) for key in PROFILE_KEYS if recorded(before, key) != now[key]}


def recorded(profile: Mapping[str, Any], key: str) -> Any:
    """A profile's value for ``key``; for a key added after the profile was recorded, what it meant then."""
    return profile.get(key, PROFILE_DEFAULTS.get(key))
