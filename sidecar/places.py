"""Where photobrain keeps its files: the platform's config, data and cache folders.

Each can be moved with an environment variable: ``PHOTOBRAIN_CONFIG`` (the
config file), ``PHOTOBRAIN_CATALOG`` (the catalog database) and
``PHOTOBRAIN_CACHE`` (model weights and text embeddings).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

APP = "photobrain"


def _base(kind: str) -> Path:
    home = Path.home()
    if sys.platform == "darwin":
        return home / {"config": "Library/Application Support", "data": "Library/Application Support",
                       "cache": "Library/Caches"}[kind]
    if os.name == "nt":
        root = os.environ.get("LOCALAPPDATA") or os.environ.get("APPDATA") or str(home)
        return Path(root) / ("cache" if kind == "cache" else "")
    variable, default = {"config": ("XDG_CONFIG_HOME", ".config"), "data": ("XDG_DATA_HOME", ".local/share"),
                         "cache": ("XDG_CACHE_HOME", ".cache")}[kind]
    return Path(os.environ.get(variable) or home / default)


def config_file() -> Path:
    return Path(os.environ.get("PHOTOBRAIN_CONFIG") or _base("config") / APP / "config.toml")


def data_dir() -> Path:
    return _base("data") / APP


def default_catalog() -> Path:
    return Path(os.environ.get("PHOTOBRAIN_CATALOG") or data_dir() / "catalog.db")


def cache_dir() -> Path:
    return Path(os.environ.get("PHOTOBRAIN_CACHE") or _base("cache") / APP)
