"""The launcher and the service's life cycle on the command line: ``launcher``, ``service install``.

(``serve --status`` and ``serve --stop`` are options of ``serve``, in ``search_cli``.)
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from xmp.errors import PhotobrainError

from .cli_options import catalog_option, home_catalog_of

TITLE_ERROR = "photobrain: could not do it"


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
        from . import lifecycle

        target = lifecycle.page_target(similar=None if similar_to is None else str(similar_to), query=query,
                                       folder=None if in_folder is None else str(in_folder))
        url = lifecycle.page_address(home_catalog_of(ctx), target, log=lambda m: click.echo(m, err=True))
        if print_url:
            click.echo(url)
            return
        import webbrowser

        if not webbrowser.open(url):
            click.echo(f"photobrain: no browser could be started; open this address (once): {url}", err=True)

    @cli.command("action", context_settings={"ignore_unknown_options": True})
    @click.argument("name", type=click.Choice(["similar", "search", "tag", "page"]))
    @click.argument("files", nargs=-1)
    @catalog_option("The catalog to search. [default: the config file's, else the data folder's]")
    @click.pass_context
    def action(ctx, name, files, catalog) -> None:
        """What the right-click entries run ('photobrain integrations install'): 'similar FILE' opens the page with
        the photos like FILE, 'search FOLDER' the page scoped to FOLDER, 'tag PATH...' tags photos and folders with
        their library's settings, 'page' opens the search page (the application menu's entry). Files may be paths
        or file:// URIs; put '--' before them. Nothing is printed: a desktop notification says what happened, and
        actions.log in the data folder keeps every line."""
        from . import actions, lifecycle
        from .notify import Notifier

        log, queue = actions.places()
        notifier = Notifier(log)
        notifier.log(f"action {name}: {' '.join(files)}")
        try:
            if name != "page" and not files:
                raise PhotobrainError(None, f"'photobrain action {name}' needs the files it is for",
                                      f"photobrain action {name} -- FILE...")
            if name == "tag":
                sys.exit(actions.tag(list(files), notifier, queue=queue))
            home = home_catalog_of(ctx)
            path = actions.argument_path(files[0]) if files else Path.home()
            if not path.exists():
                raise PhotobrainError(path, "no such file or folder", "it may have been moved or renamed")
            if name == "page":
                target = "/"
            elif name == "similar":
                if actions.new_in_a_library(home, path):
                    actions.run_tag([path], notifier)  # a photo just imported: its library's settings, once
                target = lifecycle.page_target(similar=str(path))
            else:
                target = lifecycle.page_target(folder=str(path if path.is_dir() else path.parent))
            url = lifecycle.page_address(home, target, log=notifier.log)
            import webbrowser

            if not webbrowser.open(url):
                raise PhotobrainError(None, "no web browser could be started", "set the BROWSER variable, or run "
                                      "'photobrain launcher' in a terminal")
        except PhotobrainError as exc:
            where = f"{exc.path}: " if exc.path else ""
            hint = f" ({exc.hint})" if exc.hint else ""
            notifier.show(TITLE_ERROR, f"{where}{exc.reason}{hint}")
            sys.exit(1)
        except Exception as exc:  # no terminal shows a traceback: the log keeps it
            import traceback

            notifier.log(traceback.format_exc())
            notifier.show(TITLE_ERROR, f"unexpected {type(exc).__name__}: {exc} (details in {log})")
            sys.exit(2)

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
