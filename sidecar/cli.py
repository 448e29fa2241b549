"""The ``photobrain`` command: parse, call one core function, render the result.

Nothing heavy is imported at module level: ``photobrain --help`` must not
load torch (or even pyexiv2).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from . import __version__
from .search_cli import register as register_search_commands


class Context:
    def __init__(self, verbose: bool):
        self.verbose = verbose


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="photobrain")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks for errors.")
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
    """The options of tag and retag (defaults also from the config file)."""
    for option in reversed([
        click.option("--model", help="open_clip architecture name, or a model config .json file. [default: ViT-B-32-256]"),
        click.option("--pretrained", help="open_clip pretrained tag (weights fetched once by 'models pull'), "
                     "or a local checkpoint FILE. [default: datacomp_s34b_b86k]"),
        click.option("--write", "write", type=click.Choice(WRITE_MODES), default="auto", show_default=True,
                     help="Where tags go: into the image, into .xmp sidecars, embed where possible, or nowhere (index only)."),
        click.option("--sidecar-name", type=click.Choice(["ext", "base", "both"]), default="ext", show_default=True,
                     help="Sidecar naming: name.ext.xmp (digiKam, darktable), name.xmp (Lightroom), or both."),
        click.option("--root", default="AI", show_default=True, help="Keyword root the AI tags go under."),
        click.option("--vocab", type=click.Path(path_type=Path, dir_okay=False), help="A vocabulary file to use instead "
                     "of (or, with '@extends builtin', on top of) the built-in one."),
        click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
                     help="Confidence a concept needs to become a tag."),
        click.option("--max-tags", type=click.IntRange(0), default=10, show_default=True,
                     help="At most this many tags per image."),
        click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing (no XMP, no catalog)."),
        click.option("--json", "as_json", is_flag=True, help="Print the machine-readable result."),
        click.option("--jobs", type=click.IntRange(1), help="Worker processes. [default: number of CPU cores]"),
        click.option("--catalog", type=click.Path(path_type=Path, dir_okay=False), envvar="PHOTOBRAIN_CATALOG",
                     help="The catalog database. [default: in the platform's data folder]"),
        click.option("--keep-mtime", is_flag=True, help="Keep image files' modification time when embedding."),
        click.option("--max-megapixels", type=click.FloatRange(1), default=250, show_default=True,
                     help="Refuse larger images (decompression-bomb guard)."),
        click.option("-q", "--quiet", is_flag=True, help="No progress bar."),
    ]):
        func = option(func)
    return func


def cloud_options(func):
    """The opt-in cloud brain's options (tag only)."""
    for option in reversed([
        click.option("--brain", type=click.Choice(["local", "gemini", "both"]), default="local", show_default=True,
                     help="Whose tags are written: the on-device model's, Gemini's (cloud, opt-in), or both. "
                     "The on-device model always indexes the photos for search."),
        click.option("--cloud-model", help="The Gemini model for --brain gemini|both. [default: gemini-2.5-flash-lite]"),
        click.option("--yes-cloud", is_flag=True, help="Agree to send downscaled, metadata-free copies of photos to "
                     "Google for this library without being asked (for scripts; the explanation is still printed)."),
        click.option("--estimate", is_flag=True, help="Print how many photos would go to the cloud, their tokens and "
                     "cost; send and write nothing."),
        click.option("--max-cost", type=click.FloatRange(0), help="Stop sending once this run has spent about this "
                     "many US dollars."),
    ]):
        func = option(func)
    return func


@cli.command("tag")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@tag_options
@cloud_options
@click.pass_obj
def tag(obj: Context, paths: tuple[Path, ...], **settings) -> None:
    """Tag the photos under PATHS on this machine and write the tags into their XMP.

    Files unchanged since the last run are skipped without being read; moved,
    renamed and duplicate files reuse what is known about them. Exit status
    is 1 when any file failed (or a cloud brain left photos unanswered).

    With --brain gemini or both, a small metadata-free copy of each photo not
    answered before goes to Google's Gemini API, after your consent; every
    request is logged ('photobrain privacy').
    """
    _tag(paths, catalogued_only=False, **settings)


@cli.command("retag")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@tag_options
@cloud_options
@click.pass_obj
def retag(obj: Context, paths: tuple[Path, ...], **settings) -> None:
    """Recompute the AI tags of tagged photos (all of them, or those under PATHS) with new settings.

    With the same model, tags come from the stored embeddings: no image is
    decoded, and only files whose tags change are rewritten. With another
    --model, images are embedded again (the old model's embeddings stay).
    Files photobrain has not tagged yet are skipped.
    """
    _tag(paths, catalogued_only=True, **settings)


def _tag(paths: tuple[Path, ...], *, catalogued_only: bool, model, pretrained, write, sidecar_name, root, vocab,
         threshold, max_tags, dry_run, as_json, jobs, catalog, keep_mtime, max_megapixels, quiet, brain="local",
         cloud_model=None, yes_cloud=False, estimate=False, max_cost=None) -> None:
    from .cloud import check_budget, require_key
    from .places import default_catalog
    from .progress import Progress
    from .tagger import TagOptions, run_tag

    catalog = catalog or default_catalog()
    cloud = _cloud_options(brain, cloud_model, max_cost)
    if estimate:
        _print_estimate(paths, catalog, cloud, as_json)
        return
    if cloud.uses_cloud and not dry_run:
        require_key(cloud)
        check_budget(cloud)
        _ask_consent(catalog, cloud, yes_cloud)
    options = TagOptions(paths=paths, catalog=catalog, model=model, pretrained=pretrained,
                         write=write, sidecar_name=sidecar_name, root=root, vocab=vocab, threshold=threshold,
                         max_tags=max_tags, dry_run=dry_run, jobs=jobs, keep_mtime=keep_mtime,
                         max_megapixels=max_megapixels, catalogued_only=catalogued_only, cloud=cloud)
    result = run_tag(options, progress=Progress(enabled=None if not quiet else False))
    for failure in result.failed:
        _report_plain(failure.path, failure.reason or "failed", failure.hint)
    tally = result.cloud
    if tally is not None and not as_json:
        for outcome in result.files:
            if outcome.cloud and outcome.cloud.startswith(("refused", "not answered")):
                click.echo(f"cloud: {outcome.path}: {outcome.cloud}", err=True)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        if dry_run:
            for outcome in result.files:
                if outcome.written:
                    changes = [f"+{t}" for t in outcome.added] + [f"-{t}" for t in outcome.removed]
                    click.echo(f"{outcome.path}: would write {', '.join(outcome.written)}"
                               + (f" ({' '.join(changes)})" if changes else ""))
            by_tag = result.changes_by_tag()
            if by_tag:
                click.echo("by tag: " + ", ".join(
                    f"{tag} {'+' + str(n['added']) if n['added'] else ''}{' ' if n['added'] and n['removed'] else ''}"
                    f"{'-' + str(n['removed']) if n['removed'] else ''}" for tag, n in by_tag.items()))
        counts = result.summary()
        rate = f", {result.embedded / result.seconds:.1f} images/s" if result.embedded and result.seconds else ""
        skipped = f", skipped {counts['skipped']} not tagged yet" if counts["skipped"] else ""
        click.echo(f"{'dry run: ' if dry_run else ''}tagged {counts['tagged']}, unchanged {counts['unchanged']}, "
                   f"moved {counts['moved']}, duplicates {counts['duplicate']}, failed {counts['failed']}{skipped} "
                   f"({result.embedded} images through {result.model} in {result.seconds:.1f} s{rate})")
        if tally is not None and dry_run:
            click.echo(f"cloud ({cloud.model}): would send {tally.would_send} photo(s); nothing was sent")
        elif tally is not None:
            click.echo(f"cloud ({cloud.model}): {tally.answered} answered, {tally.refused} refused for their content "
                       f"(recorded, not sent again), {tally.unanswered} without an answer (sent again next run); "
                       f"{tally.requests} request(s), {tally.input_tokens} + {tally.output_tokens} tokens, about "
                       f"{tally.cost_usd:.4f} USD")
    if result.interrupted:
        click.echo("interrupted: run the same command again to continue where it stopped", err=True)
        sys.exit(130)
    if tally is not None and tally.stopped:
        resume = "run the same command again to resume: photos already answered are not sent again"
        hint = tally.stopped_hint or ""
        _report_plain(None, f"the cloud brain stopped: {tally.stopped}",
                      hint if "resume" in hint else f"{hint}; then {resume}" if hint else resume)
        sys.exit(1)
    if result.failed or (tally is not None and tally.unanswered):
        sys.exit(1)


def _cloud_options(brain: str, cloud_model: str | None, max_cost: float | None):
    from xmp.errors import PhotobrainError

    from .cloud import DEFAULT_MODEL, CloudOptions

    config = _CONFIG.get("data", {})
    price = config.get("gemini_price")
    if price is not None and not (isinstance(price, list) and len(price) == 2
                                  and all(isinstance(x, (int, float)) for x in price)):
        raise PhotobrainError(_CONFIG.get("path"), "gemini_price must be [INPUT, OUTPUT], US dollars per million tokens",
                              "for example: gemini_price = [0.10, 0.40]")
    return CloudOptions(brain=brain, model=cloud_model or DEFAULT_MODEL,
                        api_key=os.environ.get("GEMINI_API_KEY") or config.get("gemini_api_key"),
                        max_cost=max_cost, concurrency=int(config.get("cloud_jobs", 4)),
                        price=(float(price[0]), float(price[1])) if price else None)


def _ask_consent(catalog: Path, cloud, yes_cloud: bool) -> None:
    """The first cloud run for a library explains what is sent and asks; the answer is remembered there."""
    from index.catalog import Catalog
    from xmp.errors import PhotobrainError

    from .cloud import consent_given, consent_text, record_consent

    with Catalog.open(catalog) as opened:
        if consent_given(opened) is not None:
            return
        text = consent_text(cloud, catalog)
        if yes_cloud:
            click.echo(text + "\n\nConsent given with --yes-cloud: recorded for this library.", err=True)
            record_consent(opened, cloud, "--yes-cloud")
            return
        if not sys.stdin.isatty():
            raise PhotobrainError(None, "sending photos to the cloud needs your consent, and there is no terminal to "
                                  "ask in", "run the command once in a terminal to read what is sent and agree, or "
                                  "add --yes-cloud; --brain local sends nothing")
        click.echo(text, err=True)
        if not click.confirm("\nSend photos to Google's Gemini API for this library?", default=False, err=True):
            raise PhotobrainError(None, "nothing was sent: no consent given", "--brain local tags on this machine only")
        record_consent(opened, cloud, "asked in a terminal")


def _print_estimate(paths: tuple[Path, ...], catalog: Path, cloud, as_json: bool) -> None:
    from .cloud import estimate

    info = estimate(paths, catalog, cloud)
    info["brain"] = cloud.brain
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    per = info["tokens_per_photo"]
    how = "measured on earlier answers" if per["measured"] else "a guess until the first answers"
    unread = (f"; {info['not_read_yet']} not read yet, counted in full (copies of answered photos among them are "
              "not sent)" if info["not_read_yet"] else "")
    click.echo(f"{info['images']} photo(s); {info['answered_before']} answered by {info['model']} before; "
               f"at most {info['to_send']} to send{unread}")
    click.echo(f"tokens: about {per['input']} in and {per['output']} out per photo ({how}); "
               f"{info['input_tokens']:,} in and {info['output_tokens']:,} out in all")
    if info["cost_usd"] is None:
        click.echo(f"cost: unknown, photobrain has no price for {info['model']} (set gemini_price in the config)")
    else:
        price_in, price_out = info["price_per_million"]
        click.echo(f"cost: about {info['cost_usd']:.4f} USD at {price_in:g}/{price_out:g} USD per million tokens "
                   "in/out (paid keys; free keys cost nothing but come with other terms)")
    click.echo("nothing was sent" + (" (and --brain local sends nothing: this is what --brain gemini or both would "
                                     "send)" if not cloud.uses_cloud else ""))


@cli.command("privacy")
@click.option("--catalog", type=click.Path(path_type=Path, dir_okay=False), envvar="PHOTOBRAIN_CATALOG",
              help="The catalog (library) whose ledger to show. [default: in the platform's data folder]")
@click.option("--all", "show_all", is_flag=True, help="List every request, not only the last 20.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary and every ledger entry as JSON.")
@click.option("--revoke", is_flag=True, help="Withdraw the consent to send photos to the cloud for this library.")
def privacy(catalog: Path | None, show_all: bool, as_json: bool, revoke: bool) -> None:
    """Show whether anything ever left this machine: every cloud request from the privacy ledger.

    The ledger lies beside the catalog (CATALOG.cloud-ledger.jsonl); a line is
    written before each request is sent.
    """
    from index.catalog import Catalog

    from .cloud import consent_given, ledger_path, read_ledger, revoke_consent, summarize_ledger
    from .places import default_catalog

    path = catalog or default_catalog()
    if revoke:
        if not path.exists():
            click.echo("no consent was recorded: there is no catalog here")
            return
        with Catalog.open(path) as opened:
            had = revoke_consent(opened)
        click.echo("consent withdrawn: cloud brains will ask again before sending anything" if had
                   else "no consent was recorded for this library")
        return
    ledger = ledger_path(path)
    entries = read_ledger(ledger)
    summary = summarize_ledger(entries)
    readonly = Catalog.open_readonly(path)
    consent = None
    if readonly is not None:
        with readonly:
            consent = consent_given(readonly)
    if as_json:
        click.echo(json.dumps({"catalog": str(path), "ledger": str(ledger), "consent": consent, **summary,
                               "entries": entries}, ensure_ascii=False, indent=2))
        return
    if not summary["requests"]:
        click.echo(f"Nothing has left this machine: photobrain has sent no photo and no metadata to any cloud "
                   f"service for this library (catalog {path}; ledger {ledger}: no requests).")
    else:
        click.echo(f"{summary['requests']} request(s) carrying {summary['photos']} photo(s) left this machine for "
                   f"{', '.join(summary['hosts'])} ({', '.join(summary['models'])}) between {summary['first']} and "
                   f"{summary['last']}: {summary['bytes'] / 1000:.1f} KB of downscaled JPEGs made from the pixels "
                   "alone, with the instruction text; no file name, path or metadata.")
        outcomes = ", ".join(f"{n} {k}" for k, n in sorted(summary["outcomes"].items()))
        click.echo(f"Tokens {summary['input_tokens']:,} in, {summary['output_tokens']:,} out; about "
                   f"{summary['cost_usd']:.4f} USD at list prices. Outcomes: {outcomes or 'none recorded'}.")
        sent = [e for e in entries if e.get("event") == "sent"]
        results = {(e.get("hash"), e.get("model")): e for e in entries if e.get("event") == "result"}
        for entry in sent if show_all else sent[-20:]:
            result = results.get((entry.get("hash"), entry.get("model")), {})
            click.echo(f"  {entry.get('time')}  {str(entry.get('hash'))[:16]}  {entry.get('bytes'):>7} bytes  "
                       f"{entry.get('model')}  try {entry.get('attempt')}  {result.get('outcome', '-')}")
        if not show_all and len(sent) > 20:
            click.echo(f"  ... {len(sent) - 20} earlier request(s): --all lists them")
    if consent:
        click.echo(f"Consent to send photos to the cloud: given {consent['date']} ({consent['how']}); "
                   "'photobrain privacy --revoke' withdraws it.")
    else:
        click.echo("Consent to send photos to the cloud: none recorded for this library; cloud brains ask first.")


@cli.command("untag")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would be removed; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the machine-readable result.")
@click.option("--catalog", type=click.Path(path_type=Path, dir_okay=False), envvar="PHOTOBRAIN_CATALOG",
              help="The catalog to tell (so a later tag writes the tags again). [default: in the data folder]")
@click.option("--keep-mtime", is_flag=True, help="Keep image files' modification time when rewriting them.")
def untag(paths: tuple[Path, ...], dry_run: bool, as_json: bool, catalog: Path | None, keep_mtime: bool) -> None:
    """Remove every tag, caption and provenance entry photobrain wrote under PATHS.

    Embedded XMP and sidecars alike; a sidecar photobrain created that holds
    nothing else is deleted. Everything else in the files stays as it was.
    """
    from .places import default_catalog
    from .untagger import UntagOptions, run_untag

    result = run_untag(UntagOptions(paths=paths, catalog=catalog or default_catalog(), dry_run=dry_run,
                                    keep_mtime=keep_mtime))
    for failure in result.failed:
        _report_plain(failure.path, failure.reason or "failed", failure.hint)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        verb = "would " if dry_run else ""
        for outcome in result.files:
            if outcome.status == "untagged":
                changes = [f"{verb}rewrite {p}" for p in outcome.written] + [f"{verb}delete {p}" for p in outcome.deleted]
                click.echo(f"{outcome.path}: {', '.join(changes)} (-{len(outcome.removed)} AI tags)")
        counts = result.summary()
        click.echo(f"{'dry run: ' if dry_run else ''}untagged {counts['untagged']}, unchanged {counts['unchanged']}, "
                   f"failed {counts['failed']}")
    if result.failed:
        sys.exit(1)


@cli.command("prune")
@click.argument("model_label")
@click.option("--catalog", type=click.Path(path_type=Path, dir_okay=False), envvar="PHOTOBRAIN_CATALOG",
              help="The catalog database. [default: in the platform's data folder]")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted; delete nothing.")
def prune(model_label: str, catalog: Path | None, dry_run: bool) -> None:
    """Delete a model's embeddings, tags and search index from the catalog (MODEL_LABEL as 'status' shows it).

    Photos keep the tags in their XMP; a later retag with that model embeds them again.
    """
    from index.catalog import Catalog
    from index.store import files_for, remove_index
    from xmp.errors import PhotobrainError

    from .places import default_catalog

    path = catalog or default_catalog()
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
        click.echo(json.dumps(info, ensure_ascii=False, indent=2))
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
        click.echo(json.dumps(info, ensure_ascii=False, indent=2))
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
    """Download a model's weights into the cache, once (needs internet; tagging never does)."""
    from .models import DEFAULT_ARCHITECTURE, DEFAULT_PRETRAINED, cached_models, pull

    architecture = model or DEFAULT_ARCHITECTURE
    tag_name = pretrained or (DEFAULT_PRETRAINED if architecture == DEFAULT_ARCHITECTURE else None)
    if not tag_name:
        raise click.UsageError("name the weights with --pretrained (see 'photobrain models list --available')")
    if any((m.architecture, m.pretrained) == (architecture, tag_name) for m in cached_models()):
        click.echo(f"{architecture}/{tag_name} is already downloaded")
        return
    cached = pull(architecture, tag_name, log=lambda m: click.echo(m, err=True))
    click.echo(f"{architecture}/{tag_name}: {cached.path} ({cached.size / 1e6:.0f} MB)")


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
        click.echo(json.dumps(data, indent=2))
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
    for path in iter_images(paths):
        try:
            summaries.append(summarize(read_metadata(path)).to_dict())
        except PhotobrainError as exc:
            failures.append({"path": str(path), "reason": exc.reason, "hint": exc.hint})
            _report(exc, obj)
    if as_json:
        click.echo(json.dumps({"files": summaries, "failed": failures}, ensure_ascii=False, indent=2))
    else:
        for summary in summaries:
            click.echo(_render_summary(summary))
    if failures:
        sys.exit(1)


def _render_summary(s: dict) -> str:
    lines = [s["path"]]

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
    click.echo(f"error: {path}: {reason}" if path else f"error: {reason}", err=True)
    if hint:
        click.echo(f"  hint: {hint}", err=True)


CONFIG_KEYS = {"model", "pretrained", "write", "sidecar_name", "root", "vocab", "threshold", "max_tags", "jobs",
               "catalog", "keep_mtime", "max_megapixels",
               # the cloud brain (tag only)
               "brain", "cloud_model", "max_cost", "gemini_api_key", "gemini_price", "cloud_jobs"}
_CONFIG: dict = {}  # the config file as read: {"path": ..., "data": {...}}


def load_config() -> dict:
    """Defaults for ``photobrain tag`` from the config file (command-line options win)."""
    import tomllib

    from xmp.errors import PhotobrainError

    from .places import config_file

    path = config_file()
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PhotobrainError(path, f"cannot read the config file ({exc})", "fix or remove it") from exc
    unknown = set(data) - CONFIG_KEYS
    if unknown:
        raise PhotobrainError(path, f"unknown setting(s) {', '.join(sorted(unknown))}",
                              f"known settings: {', '.join(sorted(CONFIG_KEYS))}")
    _CONFIG.update(path=path, data=data)
    if "gemini_api_key" in data and os.name == "posix" and path.stat().st_mode & 0o077:
        click.echo(f"warning: {path} holds a Gemini API key and other users can read it: chmod 600 {path}", err=True)
    search = {key: data[key] for key in ("model", "pretrained", "catalog") if key in data}
    tag_defaults = {k: v for k, v in data.items() if k not in ("gemini_api_key", "gemini_price", "cloud_jobs")}
    untag = {k: v for k, v in data.items() if k in ("catalog", "keep_mtime")}
    return {"tag": tag_defaults, "retag": tag_defaults, "untag": untag,
            "search": search, "similar": search, "serve": search,
            "status": {k: v for k, v in search.items() if k == "catalog"}, "index": {"rebuild": search}}


register_search_commands(cli)


def main() -> None:
    """Entry point: the one error funnel around every command."""
    # The command's own numpy work is small (choosing tags, one search query): on more than one BLAS
    # thread, OpenBLAS's helper threads spin between calls and take CPU from the tagging workers
    # (measured: 3.4 s of spinning in a 96-image run). Set before numpy is first imported.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from xmp.errors import PhotobrainError

    verbose = "-v" in sys.argv[1:] or "--verbose" in sys.argv[1:]
    try:
        cli.main(standalone_mode=False, default_map=load_config())
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
