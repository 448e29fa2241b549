"""The ``photobrain`` command: parse, call one core function, render the result.

Nothing heavy is imported at module level: ``photobrain --help`` must not
load torch (or even pyexiv2).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__


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
    Lightroom Classic and darktable show them. Nothing leaves this machine.
    """
    ctx.obj = Context(verbose)


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
        except FileNotFoundError:
            failures.append({"path": str(path), "reason": "no such file"})
            _report_plain(path, "no such file", None)
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


def main() -> None:
    """Entry point: the one error funnel around every command."""
    from xmp.errors import PhotobrainError

    verbose = "-v" in sys.argv[1:] or "--verbose" in sys.argv[1:]
    try:
        cli.main(standalone_mode=False)
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
