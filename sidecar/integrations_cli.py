"""``photobrain integrations install|uninstall|status``: the right-click entries (code in ``integrations/``)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click


def _each(names: list[str], apply) -> None:
    """Apply to every named entry, going on past one that fails (each failure told as every error is); exit 1 if
    any failed. An unknown name stops everything before anything is written."""
    from integrations import installer
    from xmp.errors import PhotobrainError

    from .cli import _report_plain

    for name in names:
        installer.check_name(name)
    failed = False
    for name in names:
        click.echo(f"{name}:")
        try:
            lines = apply(name)
        except PhotobrainError as exc:
            _report_plain(exc.path, exc.reason, exc.hint)
            failed = True
            continue
        for line in lines:
            click.echo(f"  {line}")
    if failed:
        sys.exit(1)


def register(cli: click.Group) -> None:
    @cli.group("integrations")
    def integrations_group() -> None:
        """Right-click entries in file managers and photo managers: Find similar photos, Tag with photobrain,
        Search photos... (Dolphin, Nautilus, Thunar, Nemo, 'Open with', the application menu, digiKam; Windows
        Explorer; macOS Finder)."""

    @integrations_group.command("install")
    @click.argument("names", nargs=-1)
    @click.option("--program", type=click.Path(path_type=Path, dir_okay=False, exists=True),
                  help="The photobrain command the entries run. [default: this installation's]")
    def install(names, program) -> None:
        """Install the entries NAMES (default: every one whose application is installed here). Per user, again
        safely; run it again after moving photobrain."""
        from integrations import installer
        from integrations.entries import default_program

        words = [str(program.absolute())] if program else default_program()
        chosen = list(names)
        if not chosen:
            chosen, skipped = installer.default_names(sys.platform)
            for name in skipped:
                click.echo(f"skipped {name}: not installed here ('photobrain integrations install {name}' "
                           "installs its entries anyway)")
        _each(list(dict.fromkeys(chosen)), lambda name: installer.install(installer.plan_for(name, words, Path.home())))

    @integrations_group.command("uninstall")
    @click.argument("names", nargs=-1)
    def uninstall(names) -> None:
        """Remove the entries NAMES (default: all) photobrain installed; files changed since are kept."""
        from integrations import installer

        _each(list(names or installer.names_for(sys.platform)),
              lambda name: installer.uninstall(installer.plan_for(name, ["photobrain"], Path.home())))

    @integrations_group.command("status")
    @click.option("--json", "as_json", is_flag=True, help="One JSON list.")
    def status(as_json) -> None:
        """What is installed and whether the photobrain it runs is still there (exit 1 when one is broken)."""
        from integrations import installer

        rows = installer.status(sys.platform, Path.home())
        if as_json:
            click.echo(json.dumps(rows, indent=1))
        else:
            for row in rows:
                if not row["installed"]:
                    click.echo(f"{row['name']}: not installed")
                elif row["broken"]:
                    click.echo(f"{row['name']}: BROKEN: {row['broken']} (run 'photobrain integrations install "
                               f"{row['name']}' from the photobrain you use now)")
                else:
                    click.echo(f"{row['name']}: installed, runs {' '.join(row['program'] or ['?'])}")
        if any(row["broken"] for row in rows):
            sys.exit(1)
