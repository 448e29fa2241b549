"""The launcher and the service's life cycle on the command line: ``launcher``, ``service install``.

(``serve --status`` and ``serve --stop`` are options of ``serve``, in ``search_cli``.)
"""
from __future__ import annotations

import os
from pathlib import Path

import click

from .cli_options import catalog_option, home_catalog_of


def register(cli: click.Group) -> None:
    @cli.command("launcher")
    @click.option("--print-url", is_flag=True, help="Print the page's one-time sign-in address instead of opening it.")
    @click.option("--query", "-q", help="Open the page with this search.")
    @click.option("--similar", "similar_to", type=click.Path(path_type=Path, dir_okay=False),
                  help="Open the page with the photos like this one.")
    @click.option("--in", "in_folder", type=click.Path(path_type=Path, file_okay=False),
                  help="Search only in this folder (and below).")
    @catalog_option("The catalog to search. [default: the config file's, else the data folder's]")
    @click.pass_context
    def launcher(ctx, print_url, query, similar_to, in_folder, catalog) -> None:
        """Open the search page in the default browser, starting the service (detached) when none runs.

        The page is served by 'photobrain serve' on this machine only, and works offline. The address opened
        signs this browser in once (a cookie for this service); it cannot be used again.
        """
        from urllib.parse import urlencode

        from . import lifecycle

        home = home_catalog_of(ctx)
        found = lifecycle.running(home)
        if found is None:
            if not home.exists():
                from xmp.errors import PhotobrainError

                raise PhotobrainError(home, "no catalog yet: nothing to search",
                                      "tag a folder first: photobrain tag FOLDER")
            click.echo(f"photobrain: starting the service for {home} (log: {lifecycle.log_file()})", err=True)
            found = lifecycle.start(home)
        target = "/"
        if similar_to is not None:
            target = "/similar?" + urlencode({"path": os.path.abspath(similar_to)})
        elif query:
            target = "/?" + urlencode({"q": query})
        if in_folder is not None:
            target += ("&" if "?" in target else "?") + urlencode({"in": os.path.abspath(in_folder)})
        url = lifecycle.sign_in_url(found, target)
        if print_url:
            click.echo(url)
            return
        import webbrowser

        if not webbrowser.open(url):
            click.echo(f"photobrain: no browser could be started; open this address (once): {url}", err=True)

    @cli.group("service")
    def service_group() -> None:
        """Run 'photobrain serve' at login (search page, search, background tagging)."""

    @service_group.command("install")
    @click.option("--uninstall", is_flag=True, help="Stop it and remove what install wrote.")
    @catalog_option("The catalog it serves. [default: the config file's, else the data folder's]")
    @click.pass_context
    def service_install(ctx, uninstall, catalog) -> None:
        """Start the service at every login: a systemd user unit on Linux, a launchd agent on macOS, a Startup
        entry on Windows. It runs this installation's photobrain, for this catalog; run it again after moving
        photobrain to a new place."""
        from . import autostart

        plan = autostart.current_plan(home_catalog_of(ctx))
        done = autostart.uninstall(plan) if uninstall else autostart.install(plan)
        for line in done:
            click.echo(line)
