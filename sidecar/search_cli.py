"""The search side of the ``photobrain`` command: search, similar, status, serve, index rebuild.

Like the rest of the CLI: parse, build collaborators, call one core function, render the result.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

SEARCH_KEYS = ("model", "pretrained", "catalog")


def common(func):
    """--catalog, --model and --pretrained, shared by every search command (also set in the config file)."""
    func = click.option("--pretrained", help="The weights you tagged with (tag or checkpoint FILE). "
                        "[default: the config file's, else datacomp_s34b_b86k]")(func)
    func = click.option("--model", help="The model you tagged with. [default: the config file's, else ViT-B-32-256]")(func)
    func = click.option("--catalog", type=click.Path(path_type=Path, dir_okay=False), envvar="PHOTOBRAIN_CATALOG",
                        help="The catalog database. [default: in the platform's data folder]")(func)
    return func


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


def _settings(catalog: Path | None, model: str | None, pretrained: str | None):
    from .places import default_catalog
    from .searching import SearchSettings

    return SearchSettings(catalog=catalog or default_catalog(), model=model, pretrained=pretrained)


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


def _render(result, as_json: bool, open_first: bool) -> None:
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        if result.kind == "similar":
            click.echo(f"same image: {', '.join(result.same)}")
        if not result.hits:
            click.echo("no match" + (" above the relevance cutoff" if result.kind == "search" else ""))
        for rank, hit in enumerate(result.hits, 1):
            similarity = "" if hit.similarity is None else f" cos {hit.similarity:.3f}"
            dupes = f"  (+{len(hit.duplicates)} duplicate{'s' if len(hit.duplicates) > 1 else ''})" if hit.duplicates else ""
            click.echo(f"{rank:3d}. {hit.score:.3f} {hit.why:<8}{similarity}  {hit.path}{dupes}")
    if open_first and result.hits:
        from .searching import open_file

        open_file(result.hits[0].path)


def register(cli: click.Group) -> None:
    @cli.command("search")
    @click.argument("query")
    @result_options("match semantically", "the best result")
    def search(query, count, in_folder, cutoff, as_json, open_first, catalog, model, pretrained) -> None:
        """Find photos by what they show ("red bicycle against a sunset") or by keyword ("Anna")."""
        import os

        folder = Path(os.path.abspath(in_folder)) if in_folder else None
        settings = _settings(catalog, model, pretrained)
        payload = {"query": query, "n": count, "in": str(folder) if folder else None, "cutoff": cutoff}
        result = _run(settings, "/search", payload,
                      lambda s: s.search(query, n=count, in_folder=folder, cutoff=cutoff))
        _render(result, as_json, open_first)

    @cli.command("similar")
    @click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
    @result_options("count as similar", "the most similar photo")
    def similar(file, count, in_folder, cutoff, as_json, open_first, catalog, model, pretrained) -> None:
        """Find photos that look like FILE. The file itself and its exact duplicates are listed apart."""
        import os

        path = Path(os.path.abspath(file))
        folder = Path(os.path.abspath(in_folder)) if in_folder else None
        settings = _settings(catalog, model, pretrained)
        payload = {"path": str(path), "n": count, "in": str(folder) if folder else None, "cutoff": cutoff}
        result = _run(settings, "/similar", payload,
                      lambda s: s.similar(path, n=count, in_folder=folder, cutoff=cutoff))
        _render(result, as_json, open_first)

    @cli.command("status")
    @click.option("--json", "as_json", is_flag=True, help="Print the machine-readable result.")
    @click.option("--catalog", type=click.Path(path_type=Path, dir_okay=False), envvar="PHOTOBRAIN_CATALOG",
                  help="The catalog database. [default: in the platform's data folder]")
    def status(as_json, catalog) -> None:
        """Library counts, models, search indexes, sizes on disk and the last run."""
        from index.status import library_status

        from .places import default_catalog

        report = library_status(catalog or default_catalog())
        if as_json:
            click.echo(json.dumps(report, ensure_ascii=False, indent=2))
            return
        counts = report["counts"]
        click.echo(f"catalog  {report['catalog']} ({_size(report['catalog_bytes'])})")
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
        last = report["last_run"]
        if last:
            click.echo(f"last run {last['command']} {last['started']} -> {last['finished'] or 'unfinished'}: "
                       f"{last['summary'] or ''}")

    @cli.command("serve")
    @common
    @click.pass_context
    def serve_command(ctx, catalog, model, pretrained) -> None:
        """Keep the model and index warm for search and similar (loopback only, token-protected)."""
        from .service import serve, service_file

        settings = _settings(catalog, model, pretrained)

        def ready(info: dict) -> None:
            click.echo(f"photobrain serve: listening on 127.0.0.1:{info['port']} for {info['catalog']} "
                       f"(token in {service_file(settings.catalog)}); Ctrl-C to stop", err=True)

        serve(settings, ready=ready, log=lambda m: click.echo(m, err=True))

    @cli.group("index")
    def index_group() -> None:
        """The search index (derived from the catalog, kept up to date by 'tag')."""

    @index_group.command("rebuild")
    @common
    def rebuild(catalog, model, pretrained) -> None:
        """Build the model's search index again from the catalog's embeddings."""
        from index.store import update_index

        from .searching import open_model

        opened, _, fingerprint, model_id = open_model(_settings(catalog, model, pretrained))
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


def _size(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000  # type: ignore[assignment]
    return str(count)


