"""The search side of the ``photobrain`` command: search, similar, status, serve, index rebuild.

Like the rest of the CLI: parse, build collaborators, call one core function, render the result.
"""
from __future__ import annotations

from pathlib import Path

import click

from .cli_options import catalog_option, given, home_catalog_of
from .output import json_text, shown


def common(func):
    """--catalog, --model and --pretrained, shared by every search command."""
    func = click.option("--pretrained", help="The weights to search with (tag or checkpoint FILE). "
                        "[default: those the library was last tagged with]")(func)
    func = click.option("--model", help="The model to search with. [default: the one the library was last tagged "
                        "with, else the config file's, else ViT-B-32-256]")(func)
    return catalog_option()(func)


def result_options(matching: str, best: str):
    """-n, --in, --cutoff, --json and --open (then --catalog, --model, --pretrained) for search and similar."""
    def decorate(func):
        for option in reversed([
            click.option("-n", "count", type=click.IntRange(1), default=20, show_default=True, help="How many results."),
            click.option("--in", "in_folder", type=click.Path(path_type=Path, file_okay=False),
                         help="Only photos in this folder (and below)."),
            click.option("--cutoff", type=float, default=3.0, show_default=True,
                         help=f"How far (in standard deviations) a photo must stand out from the library to {matching}."),
            click.option("--json", "as_json", is_flag=True, help="Print the machine-readable result."),
            click.option("--open", "open_first", is_flag=True, help=f"Open {best} in the default viewer."),
        ]):
            func = option(func)
        return common(func)
    return decorate


def _settings(ctx: click.Context, path: Path | None = None, *, must_be_in_library: bool = False):
    """The catalog and model of ``path``'s library (flags first): see sidecar/settings.py for the precedence."""
    from .libraries import search_settings
    from .searching import SearchSettings

    settings = search_settings(given(ctx), ctx.obj.config, path=path, must_be_in_library=must_be_in_library)
    return SearchSettings(catalog=settings.catalog, model=settings.model, pretrained=settings.pretrained)


def _run(settings, endpoint: str, payload: dict, call):
    """Through a running ``photobrain serve`` when there is one for this catalog and model, else in-process."""
    from .service import call_service

    result = call_service(settings, endpoint, payload)
    if result is not None:
        return result
    from .searching import open_searcher

    searcher = open_searcher(settings, log=lambda m: click.echo(m, err=True))
    try:
        return call(searcher)
    finally:
        searcher.catalog.close()


def _render(result: dict, as_json: bool, open_first: bool) -> None:
    """Print a search result (``SearchResult.to_dict()``, or the service's answer as it came)."""
    hits = result["hits"]
    if as_json:
        click.echo(json_text(result))
    else:
        if result["kind"] == "similar":
            click.echo(f"same image: {', '.join(map(shown, result['same']))}")
        if not hits:
            click.echo("no match" + (" above the relevance cutoff" if result["kind"] == "search" else ""))
        for rank, hit in enumerate(hits, 1):
            similarity = "" if hit["similarity"] is None else f" cos {hit['similarity']:.3f}"
            count = len(hit["duplicates"])
            dupes = f"  (+{count} duplicate{'s' if count > 1 else ''})" if count else ""
            click.echo(f"{rank:3d}. {hit['score']:.3f} {hit['why']:<8}{similarity}  {shown(hit['path'])}{dupes}")
    if open_first and hits:
        from .launcher.desktop import Desktop

        Desktop().open(Path(hits[0]["path"]))


def register(cli: click.Group) -> None:
    @cli.command("search")
    @click.argument("query")
    @result_options("match semantically", "the best result")
    @click.pass_context
    def search(ctx, query, count, in_folder, cutoff, as_json, open_first, catalog, model, pretrained) -> None:
        """Find photos by what they show ("red bicycle against a sunset") or by keyword ("Anna").

        With --in, the folder's library says which catalog and model to use; without, the catalog's most
        recently tagged library does.
        """
        import os

        folder = Path(os.path.abspath(in_folder)) if in_folder else None
        payload = {"query": query, "n": count, "in": str(folder) if folder else None, "cutoff": cutoff}
        if folder is None and model is None and pretrained is None:
            # the common case, answered by a running service without loading the catalog (or numpy, or torch)
            from .quick import ask_default

            answer = ask_default(home_catalog_of(ctx), "/search", payload)
            if answer is not None:
                _render(answer, as_json, open_first)
                return
        settings = _settings(ctx, folder, must_be_in_library=True)
        result = _run(settings, "/search", payload,
                      lambda s: s.search(query, n=count, in_folder=folder, cutoff=cutoff))
        _render(result.to_dict(), as_json, open_first)

    @cli.command("similar")
    @click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
    @result_options("count as similar", "the most similar photo")
    @click.pass_context
    def similar(ctx, file, count, in_folder, cutoff, as_json, open_first, catalog, model, pretrained) -> None:
        """Find photos that look like FILE. The file itself and its exact duplicates are listed apart.

        FILE's library says which catalog and model to use. A photo from outside your libraries needs --catalog.
        """
        import os

        path = Path(os.path.abspath(file))
        folder = Path(os.path.abspath(in_folder)) if in_folder else None
        settings = _settings(ctx, path, must_be_in_library=True)
        payload = {"path": str(path), "n": count, "in": str(folder) if folder else None, "cutoff": cutoff}
        result = _run(settings, "/similar", payload,
                      lambda s: s.similar(path, n=count, in_folder=folder, cutoff=cutoff))
        _render(result.to_dict(), as_json, open_first)

    @cli.command("status")
    @click.argument("path", required=False, type=click.Path(path_type=Path))
    @click.option("--json", "as_json", is_flag=True, help="Print the machine-readable result.")
    @catalog_option()
    @click.pass_context
    def status(ctx, path, as_json, catalog) -> None:
        """Libraries, counts, models, search indexes, sizes on disk and the last run (of PATH's catalog)."""
        from index.status import library_status

        from .lifecycle import running

        settings = _settings(ctx, Path(path) if path else None)
        report = library_status(settings.catalog)
        service = running(settings.catalog)
        report["service"] = None if service is None else {
            "pid": service["pid"], "port": service["port"], "memory_mb": service["status"].get("memory_mb"),
            "watch": service["status"].get("watch") or {}}
        if as_json:
            click.echo(json_text(report))
        else:
            _print_status(report)
        if report["integrity"].startswith("damaged"):
            from xmp.errors import PhotobrainError

            raise PhotobrainError(settings.catalog, "the catalog file is " + report["integrity"],
                                  "'photobrain catalog rebuild' sets it aside and rebuilds it from your photos")

    def _print_status(report: dict) -> None:
        counts = report["counts"]
        click.echo(f"catalog  {report['catalog']} ({_size(report['catalog_bytes'])}), integrity {report['integrity']}")
        click.echo(f"files    {counts['files']} ({counts['images']} unique images, {counts['duplicates']} duplicates), "
                   f"{counts['missing']} missing, {counts['failed']} failed")
        for model in report["models"]:
            index = model["index"]
            where = (f"{index['kind']} index of {index['count']} images, {_size(index['bytes'])}"
                     + (f", nprobe {index['nprobe']}, recall@10 {index['recall_at_10']:.3f}" if index["nprobe"] else "")
                     if index else "no index yet")
            click.echo(f"model    {model['label']}: {model['embeddings']} embeddings; {where}")
        cloud = report["cloud_answers"]
        if cloud:
            click.echo(f"cloud    {cloud.get('answered', 0)} images answered, {cloud.get('refused', 0)} refused "
                       "(stored here; 'photobrain privacy' shows what was sent)")
        for library in report["libraries"]:
            click.echo(_library_line(library))
        service = report["service"]
        if service:
            click.echo(f"service  running (process {service['pid']}, {service['memory_mb']} MB): "
                       + _watching(service["watch"]))
        last = report["last_run"]
        if last:
            summary = ", ".join(f"{name} {count}" for name, count in (last["summary"] or {}).items())
            click.echo(f"last run {last['command']} {last['started']} -> {last['finished'] or 'unfinished'}"
                       + (f": {summary}" if summary else ""))

    @cli.command("serve")
    @click.argument("path", required=False, type=click.Path(path_type=Path))
    @click.option("--status", "show_status", is_flag=True, help="Say whether it runs (exit 3 when not), and how.")
    @click.option("--stop", is_flag=True, help="Stop the running service.")
    @click.option("--start", is_flag=True, help="Start it in the background unless it runs, and wait until it "
                  "answers (what the Lightroom plug-in runs; its log is serve.log in the data folder).")
    @click.option("--watch/--no-watch", default=True, show_default=True,
                  help="Tag photos that arrive in the catalog's libraries (each library can opt out: tag --no-watch).")
    @click.option("--idle-unload", type=click.FloatRange(0), default=900, show_default=True, metavar="SECONDS",
                  help="Give the text model's memory back after this long without a query (0: never); "
                  "the next query loads it again in well under a second.")
    @click.option("--thumbnail-cache", type=click.IntRange(1), default=500, show_default=True, metavar="MB",
                  help="Size limit of the launcher's thumbnail cache (least recently shown go first).")
    @common
    @click.pass_context
    def serve_command(ctx, path, show_status, stop, start, watch, idle_unload, thumbnail_cache, catalog, model,
                      pretrained) -> None:
        """Keep the model and index warm for search, similar and the launcher page (loopback only, token- or
        cookie-protected), and tag photos that arrive in the libraries.

        PATH (a photo or folder of a library) picks the catalog and model; without it, the catalog's most
        recently tagged library does. The service never loads torch: text queries run on the model's
        ONNX text tower, and a photo from outside the catalog is embedded in a child process that ends
        a minute after use; background tagging runs 'photobrain tag' in batches at low priority.
        """
        from .service import serve, service_file

        if show_status or stop:
            _status_or_stop(ctx, path, stop)
            return
        if start:
            _start(ctx, path)
            return
        settings = _settings(ctx, Path(path) if path else None, must_be_in_library=True)

        def ready(info: dict) -> None:
            click.echo(f"photobrain serve: listening on 127.0.0.1:{info['port']} for {info['catalog']} "
                       f"(token in {service_file(settings.catalog)}); Ctrl-C to stop", err=True)

        serve(settings, ready=ready, log=lambda m: click.echo(m, err=True), idle_unload=idle_unload or None,
              default_model=model is None and pretrained is None, watch=watch,
              thumbnail_limit=thumbnail_cache * 1000 * 1000)

    def _start(ctx: click.Context, path: Path | None) -> None:
        from . import lifecycle

        found = lifecycle.ensure(_settings(ctx, Path(path)).catalog if path else home_catalog_of(ctx))
        click.echo(f"running  process {found['pid']} on 127.0.0.1:{found['port']} for {found['catalog']}")

    def _status_or_stop(ctx: click.Context, path: Path | None, stop: bool) -> None:
        import sys

        from . import lifecycle

        catalog = _settings(ctx, Path(path)).catalog if path else home_catalog_of(ctx)
        if stop:
            pid = lifecycle.stop(catalog)
            click.echo(f"stopped the service for {catalog} (process {pid})" if pid else
                       f"no service runs for {catalog}")
            return
        found = lifecycle.running(catalog)
        if found is None:
            click.echo(f"not running for {catalog} ('photobrain serve' or 'photobrain launcher' starts it)")
            sys.exit(3)
        status = found["status"]
        click.echo(f"running  process {found['pid']} on 127.0.0.1:{found['port']} for {found['catalog']}")
        click.echo(f"model    {status.get('model')}: {status.get('index')} index of {status.get('images')} images")
        click.echo(f"memory   {status.get('memory_mb', '?')} MB now, up {_duration(status.get('uptime', 0))}"
                   + (f"; log {found['log']}" if found.get("log") else ""))
        click.echo(_watching(status.get("watch") or {}))

    @cli.command("libraries")
    @click.option("--json", "as_json", is_flag=True, help="Print the machine-readable list.")
    @catalog_option()
    @click.pass_obj
    def libraries(obj, as_json, catalog) -> None:
        """List every library photobrain knows: its folder, how it is tagged (its profile), counts and last run.

        Every catalog is listed (the config file's, the data folder's, and each one a library was recorded in),
        or only --catalog.
        """
        from index.status import libraries_of

        from .libraries import candidate_catalogs

        found = [{"catalog": str(c), "libraries": libraries_of(c)} for c in candidate_catalogs(catalog, obj.config)]
        if as_json:
            click.echo(json_text(found))
            return
        if not any(entry["libraries"] for entry in found):
            click.echo("no library yet: 'photobrain tag FOLDER' tags one and remembers how")
        for entry in found:
            if entry["libraries"]:
                click.echo(f"catalog  {entry['catalog']}")
                for library in entry["libraries"]:
                    click.echo(_library_line(dict(library)))

    @cli.group("index")
    def index_group() -> None:
        """The search index (derived from the catalog, kept up to date by 'tag')."""

    @index_group.command("rebuild")
    @common
    @click.pass_context
    def rebuild(ctx, catalog, model, pretrained) -> None:
        """Build the model's search index again from the catalog's embeddings."""
        from index.store import update_index

        from .searching import open_model

        opened, _, fingerprint, model_id = open_model(_settings(ctx))
        with opened:
            built = update_index(opened, model_id, fingerprint, rebuild=True)
        if built is None:
            from xmp.errors import PhotobrainError

            raise PhotobrainError(opened.path, "the catalog holds no embedding of this model",
                                  "run 'photobrain tag' with this model first")
        info = built.info
        click.echo(f"rebuilt: {info.kind} index of {info.count} images"
                   + (f" ({info.nlist} lists, nprobe {info.nprobe}, recall@10 {info.recall_at_10:.3f})"
                      if info.kind != "flat" else ""))


def _library_line(library: dict) -> str:
    p = library["profile"]
    counts = library["counts"]
    last = library["last_run"] or "never"
    return (f"library  {library['root']}{'' if library['exists'] else ' (not there: moved or not mounted)'}: "
            f"{counts['ok']} files, {counts['failed']} failed, {counts['missing']} missing; "
            f"{p.get('model_label') or p.get('model')}, write {p['write']}, sidecars {p['sidecar_name']}, "
            f"root {p['keyword_root']!r}, threshold {p['threshold']:g}, max {p['max_tags']} tags, "
            f"brain {p['brain']}, vocabulary {p.get('vocab') or 'built-in'}; last run {last}")


def _watching(watch: dict) -> str:
    """What a running service's background tagging is doing, in words (its ``/status`` ``watch``)."""
    roots = watch.get("watching") or []
    if not roots:
        return "watching no library (serve --no-watch, or every library has tag --no-watch)"
    return (f"watching {len(roots)} librar{'y' if len(roots) == 1 else 'ies'}, {watch.get('pending', 0)} new photo(s) "
            f"pending, {watch.get('tagging', 0)} being tagged, {watch.get('tagged', 0)} tagged since it started")


def _duration(seconds: float) -> str:
    minutes = int(seconds) // 60
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min" if minutes else f"{int(seconds)} s"


def _size(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000  # type: ignore[assignment]
    return str(count)


