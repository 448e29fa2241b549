"""Options more than one command group declares, declared once."""
from __future__ import annotations

from pathlib import Path

import click


def catalog_option(help_text: str = "The catalog database. [default: the one holding the path's library, else "
                   "the config file's, else the data folder's]"):
    return click.option("--catalog", type=click.Path(path_type=Path, dir_okay=False), envvar="PHOTOBRAIN_CATALOG",
                        help=help_text)


#: the settings a flag may give (click's parameter names are the settings' names)
SETTING_FLAGS = ("model", "pretrained", "write", "sidecar_name", "keyword_root", "vocab", "threshold", "max_tags", "jobs",
                 "catalog", "keep_mtime", "max_megapixels", "brain", "cloud_model", "max_cost", "watch")


def given(ctx: click.Context) -> dict:
    """The settings given on this run (on the command line, or --catalog through PHOTOBRAIN_CATALOG): they win over
    the library's profile, the config file and the defaults."""
    from click.core import ParameterSource

    explicit = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    return {name: ctx.params[name] for name in SETTING_FLAGS
            if name in ctx.params and ctx.get_parameter_source(name) in explicit}


def home_catalog_of(ctx: click.Context) -> Path:
    """The catalog a command uses when no path names a library: --catalog, the config's, the data folder's."""
    from .settings import home_catalog

    return home_catalog(given(ctx).get("catalog"), ctx.obj.config)
