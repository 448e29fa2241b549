"""The ``photobrain`` command: parse, call one core function, render the result.

Nothing heavy is imported at module level: ``photobrain --help`` must not
load torch (or even pyexiv2).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from . import __version__
from .catalog_cli import register as register_catalog_commands
from .cli_options import catalog_option, given
from .cloud.cli import cloud_options
from .cloud.cli import register as register_cloud_commands
from .integrations_cli import register as register_integration_commands
from .launcher_cli import register as register_launcher_commands
from .output import json_text, shown
from .search_cli import register as register_search_commands


class Context:
    def __init__(self, verbose: bool):
        self.verbose = verbose
        self._config = None

    @property
    def config(self):
        """The config file, read on first need (a command that resolves no setting never reads it)."""
        if self._config is None:
            from .settings import Config

            self._config = Config.load(warn=lambda m: click.echo(m, err=True))
        return self._config


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="photobrain")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks for errors (also after a command's name).")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """photobrain: local-first AI tagging and search for your photo library.

    Tags go into the images' XMP (embedded or .xmp sidecars), where digiKam,
    Lightroom Classic and darktable show them. Nothing leaves this machine
    unless you opt in to a cloud brain (tag --brain); 'privacy' shows what did.
    """
    ctx.obj = Context(verbose)


WRITE_MODES = ["embed", "sidecar", "auto", "none"]


def tag_options(func):
    """The options of tag and retag. One not given comes from the library's profile, then the config file, then the
    default shown."""
    for option in reversed([
        click.option("--model", help="open_clip architecture name, or a model config .json file. [default: ViT-B-32-256]"),
        click.option("--pretrained", help="open_clip pretrained tag (weights fetched once by 'models pull'), "
                     "or a local checkpoint FILE. [default: datacomp_s34b_b86k]"),
        click.option("--write", "write", type=click.Choice(WRITE_MODES), default="auto", show_default=True,
                     help="Where tags go: into the image, into .xmp sidecars, embed where possible, or nowhere (index only)."),
        click.option("--sidecar-name", type=click.Choice(["ext", "base", "both"]), default="ext", show_default=True,
                     help="Sidecar naming: name.ext.xmp (digiKam, darktable), name.xmp (Lightroom), or both."),
        click.option("--root", "keyword_root", default="AI", show_default=True, help="Keyword root the AI tags go under."),
        click.option("--migrate", is_flag=True, help="Allow this run to change where a library's tags live (--write, "
                     "--sidecar-name, --root differing from its profile): they are moved, not copied."),
        click.option("--vocab", type=click.Path(path_type=Path, dir_okay=False), help="A vocabulary file to use instead "
                     "of (or, with '@extends builtin', on top of) the built-in one."),
        click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
                     help="Confidence a concept needs to become a tag."),
        click.option("--max-tags", type=click.IntRange(0), default=10, show_default=True,
                     help="At most this many tags per image."),
        click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing (no XMP, no catalog)."),
        click.option("--json", "as_json", is_flag=True, help="Print the machine-readable result."),
        click.option("--jobs", type=click.IntRange(1), help="Worker processes. [default: number of CPU cores]"),
        catalog_option(),
        click.option("--keep-mtime", is_flag=True, help="Keep image files' modification time when embedding."),
        click.option("--max-megapixels", type=click.FloatRange(1), default=250, show_default=True,
                     help="Refuse larger images (decompression-bomb guard)."),
        click.option("-q", "--quiet", is_flag=True, help="No progress bar."),
        click.option("--watch/--no-watch", default=True, show_default=True,
                     help="Whether a running 'photobrain serve' tags photos that arrive in this library."),
        click.option("--forget-rejections", is_flag=True, help="Forget the AI tags you deleted in your photo manager "
                     "(in the files and the catalog), so they may be written again."),
    ]):
        func = option(func)
    return func


@cli.command("tag")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--paths-from", type=click.File("rb"), metavar="FILE",
              help="Also tag the paths listed in FILE ('-': standard input), one per line or NUL-separated: for "
              "more photos than a command line holds (what the Lightroom plug-in's tag runs use).")
@tag_options
@cloud_options
@click.pass_context
def tag(ctx: click.Context, paths: tuple[Path, ...], **options) -> None:
    """Tag the photos under PATHS on this machine and write the tags into their XMP.

    Files unchanged since the last run are skipped without being read; moved,
    renamed and duplicate files reuse what is known about them. Exit status
    is 1 when any file failed (or a cloud brain left photos unanswered).

    With --brain gemini or both, a small metadata-free copy of each photo not
    answered before goes to Google's Gemini API, after your consent; every
    request is logged ('photobrain privacy').

    The first tag of a folder records it as a library, with how it is tagged (model, brain, --write,
    --sidecar-name, --root, --threshold, --max-tags, --vocab); later commands on any path in it use that.
    """
    listed = options.pop("paths_from", None)
    if listed is not None:
        data = listed.read()
        names = data.split(b"\0") if b"\0" in data else data.splitlines()
        paths = (*paths, *(Path(os.fsdecode(name)) for name in names if name))
    if not paths:
        raise click.UsageError("name the photos or folders to tag (PATHS, or --paths-from FILE)")
    _tag(ctx, paths, catalogued_only=False)


@cli.command("retag")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@tag_options
@cloud_options
@click.pass_context
def retag(ctx: click.Context, paths: tuple[Path, ...], **options) -> None:
    """Recompute the AI tags of tagged photos (all of them, or those under PATHS) with new settings.

    With the same model, tags come from the stored embeddings: no image is
    decoded, and only files whose tags change are rewritten. With another
    --model, images are embedded again (the old model's embeddings stay).
    Files photobrain has not tagged yet are skipped. Settings given here are recorded in the library's profile.
    """
    _tag(ctx, paths, catalogued_only=True)


def _tag(ctx: click.Context, paths: tuple[Path, ...], *, catalogued_only: bool) -> None:
    from .cloud.cli import prepare_cloud_run, print_estimate, resume_hint
    from .libraries import plan_runs
    from .library_run import run_library
    from .progress import Progress

    obj: Context = ctx.obj
    params = ctx.params
    dry_run, as_json = params["dry_run"], params["as_json"]
    log = lambda m: click.echo(m, err=True)  # noqa: E731
    runs = plan_runs(paths, given(ctx), obj.config, retag=catalogued_only, migrate=params["migrate"], log=log)
    if not runs:
        click.echo("no library to retag: run 'photobrain tag FOLDER' first"
                   + (" (a catalog from an older photobrain records none: tag each library once with the settings "
                      "you tagged it with)" if not paths else ""), err=True)
        return
    if params["estimate"]:
        for run in runs:
            print_estimate(run.paths or (run.root,), run.catalog, run.settings.cloud_options(), as_json)
        return
    for run in runs:
        _announce(run, dry_run)
        cloud = run.settings.cloud_options()
        if cloud.uses_cloud and not dry_run:
            prepare_cloud_run(run.catalog, cloud, params["yes_cloud"])
    results = []
    for run in runs:
        result = run_library(run, dry_run=dry_run, catalogued_only=catalogued_only,
                             forget_rejections=params["forget_rejections"],
                             progress=Progress(enabled=None if not params["quiet"] else False), log=log)
        results.append((run, result))
        if result.interrupted:
            break
    if as_json:
        data = [result.to_dict() for _, result in results]
        click.echo(json_text(data[0] if len(data) == 1 else {"libraries": data}))
    for run, result in results:
        for failure in result.failed:
            _report_plain(failure.path, failure.reason or "failed", failure.hint)
        if not as_json:
            _render_tag_result(result, run.settings.cloud_options(), dry_run, len(results) > 1)
    final = [result for _, result in results]
    if any(r.interrupted for r in final):
        click.echo("interrupted: run the same command again to continue where it stopped", err=True)
        sys.exit(130)
    stopped = [r.cloud for r in final if r.cloud is not None and r.cloud.stopped]
    if stopped:
        _report_plain(None, f"the cloud brain stopped: {stopped[0].stopped}", resume_hint(stopped[0]))
        sys.exit(1)
    if any(r.failed or (r.cloud is not None and r.cloud.unanswered) for r in final):
        sys.exit(1)


def _announce(run, dry_run: bool) -> None:
    """Say on stderr what a run records about its library: a new one, changed settings, a move."""
    settings = run.settings
    would = "would record" if dry_run else "recorded"
    if run.library_id is None:
        absorbed = (f" (taking over {', '.join(str(lib.root) for lib in run.absorbed)})" if run.absorbed else "")
        click.echo(f"photobrain: new library {shown(run.root)}{absorbed}: tags {settings.where()}; {would} for later "
                   "commands ('photobrain libraries')", err=True)
    elif run.moved_from is not None:
        click.echo(f"photobrain: {run.root} is the library that was at {run.moved_from}: tagged with its settings",
                   err=True)
    if run.changes and run.library_id is not None:
        click.echo(f"photobrain: {run.root}: " + ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in run.changes.items())
                   + f" ({would} in the library's profile)", err=True)


def _render_tag_result(result, cloud, dry_run: bool, named: bool) -> None:
    from .cloud.cli import cloud_summary, report_cloud_files

    if result.cloud is not None:
        report_cloud_files(result.files)
    if named:
        click.echo(f"library {result.library}:")
    if dry_run:
        for outcome in result.files:
            if outcome.written:
                changes = [f"+{t}" for t in outcome.added] + [f"-{t}" for t in outcome.removed]
                click.echo(f"{shown(outcome.path)}: would write {', '.join(map(shown, outcome.written))}"
                           + (f" ({' '.join(changes)})" if changes else ""))
        by_tag = result.changes_by_tag()
        if by_tag:
            click.echo("by tag: " + ", ".join(
                f"{tag} {'+' + str(n['added']) if n['added'] else ''}{' ' if n['added'] and n['removed'] else ''}"
                f"{'-' + str(n['removed']) if n['removed'] else ''}" for tag, n in by_tag.items()))
    counts = result.summary()
    rate = f", {result.images_per_second:.1f} images/s" if result.images_per_second else ""
    vocabulary = (f", {result.preparation_seconds:.0f} s of it preparing the model for the first time"
                  if result.preparation_seconds >= 1 else "")
    skipped = f", skipped {counts['skipped']} not tagged yet" if counts["skipped"] else ""
    written = (f"; XMP {'would change' if dry_run else 'written'} for {counts['written']} file(s)"
               if result.files else "")
    click.echo(f"{'dry run: ' if dry_run else ''}tagged {counts['tagged']}, unchanged {counts['unchanged']}, "
               f"moved {counts['moved']}, duplicates {counts['duplicate']}, failed {counts['failed']}{skipped}"
               f"{written} ({result.embedded} images through {result.model} in {result.seconds:.1f} s{rate}"
               f"{vocabulary}{_memory_text(result)})")
    if result.cloud is not None:
        click.echo(cloud_summary(result.cloud, cloud, dry_run))


def _memory_text(result) -> str:
    memory = result.memory
    if not memory.get("main"):
        return ""
    workers = (f" + {result.jobs} worker(s) of at most {memory['worker'] / 1e9:.1f} GB"
               if result.jobs > 1 and memory.get("worker") else "")
    return f"; peak memory {memory['main'] / 1e9:.1f} GB{workers}"


@cli.command("untag")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would be removed; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the machine-readable result.")
@catalog_option("The catalog to tell (so a later tag writes the tags again). [default: the one holding the paths' "
                "library, else the config file's, else the data folder's]")
@click.option("--keep-mtime", is_flag=True, help="Keep image files' modification time when rewriting them.")
@click.pass_context
def untag(ctx: click.Context, paths: tuple[Path, ...], dry_run: bool, as_json: bool, catalog: Path | None,
          keep_mtime: bool) -> None:
    """Remove every tag, caption and provenance entry photobrain wrote under PATHS.

    Embedded XMP and sidecars alike; a sidecar photobrain created that holds
    nothing else is deleted. Everything else in the files stays as it was.
    The library's profile stays: a later 'photobrain tag' writes the tags again the same way.
    """
    from .libraries import home_catalog, locate
    from .settings import resolve_settings
    from .untagger import UntagOptions, run_untag

    flags, config = given(ctx), ctx.obj.config
    located = locate(paths[0], flags.get("catalog"), config)
    where = located.catalog if located else home_catalog(flags.get("catalog"), config)
    settings = resolve_settings(flags, None, config, catalog=where)
    library = located.library.root if located and located.library else None
    result = run_untag(UntagOptions(paths=paths, catalog=settings.catalog, dry_run=dry_run, library=library,
                                    keep_mtime=settings.keep_mtime))
    for failure in result.failed:
        _report_plain(failure.path, failure.reason or "failed", failure.hint)
    if as_json:
        click.echo(json_text(result.to_dict()))
    else:
        verb = "would " if dry_run else ""
        for outcome in result.files:
            if outcome.status == "untagged":
                changes = ([f"{verb}rewrite {shown(p)}" for p in outcome.written]
                           + [f"{verb}delete {shown(p)}" for p in outcome.deleted])
                click.echo(f"{shown(outcome.path)}: {', '.join(changes)} (-{len(outcome.removed)} AI tags)")
        counts = result.summary()
        click.echo(f"{'dry run: ' if dry_run else ''}untagged {counts['untagged']}, unchanged {counts['unchanged']}, "
                   f"failed {counts['failed']}")
    if result.failed:
        sys.exit(1)


@cli.command("prune")
@click.argument("model_label")
@catalog_option("The catalog database. [default: the config file's, else the data folder's]")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted; delete nothing.")
@click.pass_obj
def prune(obj: Context, model_label: str, catalog: Path | None, dry_run: bool) -> None:
    """Delete a model's embeddings, tags and search index from the catalog (MODEL_LABEL as 'status' shows it).

    Photos keep the tags in their XMP; a later retag with that model embeds them again.
    """
    from index.catalog import Catalog
    from index.store import files_for, remove_index
    from xmp.errors import PhotobrainError

    from .libraries import home_catalog

    path = home_catalog(catalog, obj.config)
    with Catalog.open_existing(path, exclusive=True) as opened:
        known = opened.models()
        found = [m for m in known if m.label == model_label]
        if not found:
            raise PhotobrainError(path, f"no model {model_label!r} in this catalog",
                                  "known: " + (", ".join(repr(m.label) for m in known) or "none"))
        for model in found:
            if dry_run:
                size = sum(p.stat().st_size for p in files_for(path, model.fingerprint).existing())
                click.echo(f"would delete {model.label}: {model.embeddings} embeddings and their tags, "
                           f"index {size / 1e6:.1f} MB")
                continue
            embeddings, tags = opened.drop_model(model.id)
            freed = remove_index(path, model.fingerprint)
            click.echo(f"deleted {model.label}: {embeddings} embeddings, {tags} tags, index {freed / 1e6:.1f} MB")


@cli.group()
def vocab() -> None:
    """Show and check vocabularies (the concepts photobrain can tag)."""


@vocab.command("show")
@click.argument("file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print every concept with its synonyms, prompts and threshold.")
def vocab_show(file: Path | None, as_json: bool) -> None:
    """List the concepts of FILE (default: the built-in vocabulary) as paths, with synonyms and thresholds."""
    from .vocab import describe, load_vocabulary

    info = describe(load_vocabulary(file))
    if as_json:
        click.echo(json_text(info))
        return
    click.echo(f"# version {info['version']}; {info['concepts']} concepts from {', '.join(info['sources'])}")
    for entry in info["entries"]:
        synonyms = f" ({', '.join(entry['synonyms'])})" if entry["synonyms"] else ""
        threshold = f" @{entry['threshold']:g}" if entry["threshold"] is not None else ""
        click.echo(f"{entry['path']}{synonyms}{threshold}{'  (excluded)' if entry['excluded'] else ''}")


@vocab.command("check")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def vocab_check(file: Path, as_json: bool) -> None:
    """Check a vocabulary file: errors name the line; a good file gets a summary. Exit status 1 on an error."""
    from .vocab import describe, load_vocabulary

    info = describe(load_vocabulary(file))
    info.pop("entries")
    if as_json:
        click.echo(json_text(info))
        return
    parts = ", ".join(f"{name} {count}" for name, count in info["top_level"].items())
    click.echo(f"{file}: ok; version {info['version']}, {info['concepts']} concepts ({parts}), "
               f"{info['own_thresholds']} with their own threshold, {info['excluded']} excluded")


@cli.group()
def models() -> None:
    """Download and list the on-device models."""


@models.command("pull")
@click.argument("model", required=False)
@click.option("--pretrained", help="open_clip pretrained tag. [default: the default model's]")
def models_pull(model: str | None, pretrained: str | None) -> None:
    """Download a model's weights into the cache, once (needs internet; tagging never does).

    Then prepares the built-in vocabulary's text embeddings and the fast text tower for it, so that the
    first 'photobrain tag' starts tagging at once.
    """
    from .models import DEFAULT_ARCHITECTURE, DEFAULT_PRETRAINED, cached_models, pull, resolve
    from .progress import Progress
    from .vocab import load_vocabulary
    from .vocab_embed import concepts_for, ensure_tower

    architecture = model or DEFAULT_ARCHITECTURE
    tag_name = pretrained or (DEFAULT_PRETRAINED if architecture == DEFAULT_ARCHITECTURE else None)
    if not tag_name:
        raise click.UsageError("name the weights with --pretrained (see 'photobrain models list --available')")
    log = lambda m: click.echo(m, err=True)  # noqa: E731
    if any((m.architecture, m.pretrained) == (architecture, tag_name) for m in cached_models()):
        click.echo(f"{architecture}/{tag_name} is already downloaded")
    else:
        cached = pull(architecture, tag_name, log=log, progress=Progress(label="downloading", unit="MB"))
        click.echo(f"{architecture}/{tag_name}: {cached.path} ({cached.size / 1e6:.0f} MB)")
    spec = resolve(architecture, tag_name, download=False)
    concepts_for(spec, spec.fingerprint(), load_vocabulary(), log=log,
                 progress=Progress(label="preparing the vocabulary", unit="prompts"))
    ensure_tower(spec, spec.fingerprint(), log=log)


@models.command("list")
@click.option("--available", is_flag=True, help="Also list every architecture/weights pair open_clip can download.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def models_list(available: bool, as_json: bool) -> None:
    """Show the downloaded models (and with --available, the downloadable ones)."""
    from .models import DEFAULT_ARCHITECTURE, DEFAULT_PRETRAINED, cached_models
    from .models import available as downloadable

    cached = cached_models()
    data = {"default": f"{DEFAULT_ARCHITECTURE}/{DEFAULT_PRETRAINED}",
            "cached": [{"model": m.architecture, "pretrained": m.pretrained, "path": str(m.path), "size": m.size}
                       for m in cached]}
    if available:
        data["available"] = [f"{a}/{p}" for a, p in downloadable()]
    if as_json:
        click.echo(json_text(data))
        return
    click.echo(f"default: {data['default']}")
    if not cached:
        click.echo("no model downloaded yet: run 'photobrain models pull'")
    for m in cached:
        click.echo(f"{m.architecture}/{m.pretrained}  {m.size / 1e6:.0f} MB  {m.path}")
    for name in data.get("available", []):
        click.echo(f"available: {name}")


@cli.group()
def tags() -> None:
    """Inspect the keywords and AI tags stored in files."""


@tags.command("show")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_obj
def tags_show(obj: Context, paths: tuple[Path, ...], as_json: bool) -> None:
    """Print each file's user keywords, AI tags (score, provenance) and captions.

    PATHS are image files or folders (searched recursively). Reads only.
    """
    from xmp import PhotobrainError, read_metadata, summarize

    from .files import iter_images

    summaries, failures = [], []
    for named in paths:
        found = False
        for path in iter_images([named]):
            found = True
            try:
                summaries.append(summarize(read_metadata(path)).to_dict())
            except PhotobrainError as exc:
                failures.append({"path": str(path), "reason": exc.reason, "hint": exc.hint})
                _report(exc, obj)
        if not found:  # a folder with no photo in it (or none photobrain reads): say so rather than print nothing
            reason = "no photos in this folder (or below it)" if named.is_dir() else "no such file or folder"
            hint = "name photo files or folders of photos"
            failures.append({"path": str(named), "reason": reason, "hint": hint})
            _report_plain(named, reason, hint)
    if as_json:
        click.echo(json_text({"files": summaries, "failed": failures}))
    else:
        for summary in summaries:
            click.echo(_render_summary(summary))
    if failures:
        sys.exit(1)


def _render_summary(s: dict) -> str:
    lines = [shown(s["path"])]

    def row(label: str, value: str) -> None:
        lines.append(f"  {label:<11}{value}")

    row("sources:", ", ".join(s["sources"]) or "none")
    if s["rating"]:
        row("rating:", s["rating"])
    row("keywords:", ", ".join(s["user_keywords"]) or "-")
    if s["user_hierarchy"]:
        row("hierarchy:", ", ".join(s["user_hierarchy"]))
    if s["ai_tags"]:
        for i, tag in enumerate(s["ai_tags"]):
            score = "" if tag["score"] is None else f"{tag['score']:.3f}"
            row("AI tags:" if i == 0 else "", f"{tag['path']:<32} {score:>6}  {tag['source']}"
                f"{'  vocab ' + tag['vocab'] if tag['vocab'] else ''}  {tag['date'][:10]}")
    else:
        row("AI tags:", "-")
    if s["rejected"]:
        row("rejected:", ", ".join(s["rejected"]))
    if s["captions"].get("x-default"):
        row("caption:", s["captions"]["x-default"])
    if s["alt_text"].get("x-default"):
        row("alt text:", s["alt_text"]["x-default"])
    return "\n".join(lines)


def _report(exc, obj: Context) -> None:
    if obj.verbose:
        import traceback
        traceback.print_exception(exc, file=sys.stderr)
    _report_plain(exc.path, exc.reason, exc.hint)


def _report_plain(path, reason: str, hint: str | None) -> None:
    click.echo(f"error: {shown(path)}: {reason}" if path else f"error: {reason}", err=True)
    if hint:
        click.echo(f"  hint: {hint}", err=True)


register_search_commands(cli)
register_catalog_commands(cli)
register_launcher_commands(cli)
register_integration_commands(cli)
register_cloud_commands(cli)


def main() -> None:
    """Entry point: the one error funnel around every command."""
    # The command's own numpy work is small (choosing tags, one search query): on more than one BLAS
    # thread, OpenBLAS's helper threads spin between calls and take CPU from the tagging workers
    # (measured: 3.4 s of spinning in a 96-image run). Set before numpy is first imported.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from xmp.errors import PhotobrainError

    args = sys.argv[1:]
    end = args.index("--") if "--" in args else len(args)
    verbose = any(a in ("-v", "--verbose") for a in args[:end])
    if verbose:  # README: every command takes -v, before or after its name ("photobrain search dog -v")
        args = ["-v", *(a for a in args[:end] if a not in ("-v", "--verbose")), *args[end:]]
    for stream in (sys.stdout, sys.stderr):
        # a file name that is not UTF-8 is printed as its own bytes, as ls and find print it (messages quote it)
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="surrogateescape")
    try:
        cli.main(args=args, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except PhotobrainError as exc:
        _report(exc, Context(verbose))
        sys.exit(1)
    except SystemExit:
        raise
    except Exception as exc:  # the last resort: still one line, traceback on -v
        if verbose:
            raise
        _report_plain(None, f"unexpected {type(exc).__name__}: {exc}", "run again with -v and report the traceback")
        sys.exit(2)
