"""Options more than one command group declares, declared once."""
from __future__ import annotations

from pathlib import Path

import click


def catalog_option(help_text: str = "The catalog database. [default: the one holding the path's library, else "
                   "the config file's, else the data folder's]"):
    return click.option("--catalog", type=click.Path(path_type=Path, dir_okay=False), envvar="PHOTOBRAIN_CATALOG",
                        help=help_text)


#: the settings a flag may give (click's parameter name -> the setting)
SETTING_FLAGS = {"model": "model", "pretrained": "pretrained", "write": "write", "sidecar_name": "sidecar_name",
                 "keyword_root": "keyword_root", "vocab": "vocab", "threshold": "threshold", "max_tags": "max_tags",
                 "jobs": "jobs", "catalog": "catalog", "keep_mtime": "keep_mtime", "max_megapixels": "max_megapixels",
                 "brain": "brain", "cloud_model": "cloud_model", "max_cost": "max_cost"}


def given(ctx: click.Context) -> dict:
    """The settings given on this run (on the command line, or --catalog through PHOTOBRAIN_CATALOG): they win over
    the library's profile, the config file and the defaults."""
    from click.core import ParameterSource

    explicit = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    return {setting: ctx.params[name] for name, setting in SETTING_FLAGS.items()
            if name in ctx.params and ctx.get_parameter_source(name) in explicit}
