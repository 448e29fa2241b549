"""``photobrain catalog check | rebuild``: is the catalog whole, and getting a whole one back when it is not."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from .cli_options import catalog_option
from .output import json_text


def register(cli: click.Group) -> None:
    @cli.group("catalog")
    def catalog_group() -> None:
        """Check the catalog, or rebuild a damaged one from your photos."""

    @catalog_group.command("check")
    @catalog_option("The catalog database. [default: the config file's, else the data folder's]")
    @click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
    @click.pass_obj
    def check(obj, catalog: Path | None, as_json: bool) -> None:
        """Read every page of the catalog and say whether it is whole (exit 1 when it is damaged)."""
        from index.repair import check as check_catalog

        from .libraries import home_catalog

        result = check_catalog(home_catalog(catalog, obj.config))
        if as_json:
            click.echo(json_text(result.__dict__))
        elif result.ok:
            click.echo(f"{result.catalog}: ok")
        else:
            click.echo(f"{result.catalog}: damaged")
            for problem in result.problems:
                click.echo(f"  {problem}")
            click.echo("  hint: 'photobrain catalog rebuild' sets it aside and rebuilds the catalog from your photos",
                       err=True)
        if not result.ok:
            sys.exit(1)

    @catalog_group.command("rebuild")
    @catalog_option("The catalog database. [default: the config file's, else the data folder's]")
    @click.option("--yes", is_flag=True, help="Rebuild even when the check finds the catalog whole.")
    @click.pass_obj
    def rebuild(obj, catalog: Path | None, yes: bool) -> None:
        """Set the catalog aside (as NAME.damaged-DATE) and build a new one.

        Every table of the old catalog that still reads whole is kept (embeddings, so no photo goes through the
        model again; cloud answers, so none is paid for twice; rejections; consent; the libraries and how they
        are tagged); then each library is tagged again with its recorded settings, which reads every photo and
        its XMP (the files' tags do not change). The old file is kept: delete it once all is well.
        """
        from index.repair import check as check_catalog
        from index.repair import salvage
        from xmp.errors import PhotobrainError

        from .libraries import home_catalog, plan_runs
        from .library_run import run_library
        from .progress import Progress

        path = home_catalog(catalog, obj.config)
        if check_catalog(path).ok and not yes:
            raise PhotobrainError(path, "the catalog is whole: nothing to rebuild", "add --yes to rebuild it anyway")
        result = salvage(path)
        click.echo(f"photobrain: the old catalog is now {result.set_aside}", err=True)
        for table, count in result.copied.items():
            click.echo(f"  kept {table}: {count} rows", err=True)
        for table, why in result.lost.items():
            click.echo(f"  lost {table}: {why}", err=True)
        if not result.libraries:
            raise PhotobrainError(path, "no library could be read from the old catalog",
                                  "run 'photobrain tag FOLDER' for each of your libraries")
        log = lambda m: click.echo(m, err=True)  # noqa: E731
        failed = 0
        for root in result.libraries:
            if not Path(root).is_dir():
                click.echo(f"photobrain: the library {root} is not there (moved, or a drive not mounted): tag it "
                           "when it is back", err=True)
                continue
            for run in plan_runs((Path(root),), {"catalog": path}, obj.config, retag=False, migrate=False, log=log):
                done = run_library(run, dry_run=False, catalogued_only=False, forget_rejections=False,
                                   progress=Progress(enabled=None), log=log)
                summary = done.summary()
                failed += summary["failed"]
                click.echo(f"library {root}: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
        if failed:
            sys.exit(1)
