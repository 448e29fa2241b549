"""The cloud brain's side of the ``photobrain`` command: tag's cloud options, the consent prompt, the estimate,
the run's cloud summary, and ``photobrain privacy``. Nothing heavy is imported here."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from xmp.errors import PhotobrainError, shown

from ..cli_options import catalog_option
from .consent import consent_answer, consent_text, record_consent, require_key, revoke_consent
from .estimate import estimate
from .ledger import ledger_path, read_ledger, summarize_ledger
from .options import BRAINS, CloudOptions, check_budget
from .runner import CloudTally


def cloud_options(func):
    """The opt-in cloud brain's options (tag and retag)."""
    for option in reversed([
        click.option("--brain", type=click.Choice(BRAINS), default="local", show_default=True,
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


def prepare_cloud_run(catalog: Path, cloud: CloudOptions, yes_cloud: bool) -> None:
    """Before anything is sent: a key, a price for --max-cost, and consent for this library.

    The first cloud run for a library explains what is sent and asks; the answer is remembered there.
    """
    from index.catalog import Catalog

    require_key(cloud)
    check_budget(cloud)

    with Catalog.open(catalog) as opened:
        answer = consent_answer(opened)
        if answer is not None and answer["agreed"]:
            return
        if answer is not None and not yes_cloud:
            raise PhotobrainError(None, f"you declined sending photos to the cloud for this library ({answer['date']}); "
                                  "nothing was sent", "--yes-cloud agrees now, 'photobrain privacy --revoke' forgets "
                                  "the answer so you are asked again; --brain local sends nothing")
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
            record_consent(opened, cloud, "asked in a terminal", agreed=False)
            raise PhotobrainError(None, "nothing was sent: you declined, and that answer is remembered for this "
                                  "library", "--brain local tags on this machine only; 'photobrain privacy --revoke' "
                                  "forgets the answer")
        record_consent(opened, cloud, "asked in a terminal")


def print_estimate(paths: tuple[Path, ...], catalog: Path, cloud: CloudOptions, as_json: bool) -> None:
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


def report_cloud_files(files) -> None:
    """Photos the cloud refused or left unanswered, one line each on stderr."""
    for outcome in files:
        if outcome.cloud and outcome.cloud.startswith(("refused", "not answered")):
            click.echo(f"cloud: {shown(outcome.path)}: {outcome.cloud}", err=True)


def cloud_summary(tally: CloudTally, cloud: CloudOptions, dry_run: bool) -> str:
    if dry_run:
        return f"cloud ({cloud.model}): would send {tally.would_send} photo(s); nothing was sent"
    return (f"cloud ({cloud.model}): {tally.answered} answered, {tally.refused} refused for their content "
            f"(recorded, not sent again), {tally.unanswered} without an answer (sent again next run); "
            f"{tally.requests} request(s), {tally.input_tokens} + {tally.output_tokens} tokens, about "
            f"{tally.cost_usd:.4f} USD")


def resume_hint(tally: CloudTally) -> str:
    resume = "run the same command again to resume: photos already answered are not sent again"
    hint = tally.stopped_hint or ""
    return hint if "resume" in hint else f"{hint}; then {resume}" if hint else resume


def register(cli: click.Group) -> None:
    """Add ``privacy`` to the ``photobrain`` group."""

    @cli.command("privacy")
    @catalog_option("The catalog (library) whose ledger to show. [default: the config file's, else the data folder's]")
    @click.option("--all", "show_all", is_flag=True, help="List every request, not only the last 20.")
    @click.option("--json", "as_json", is_flag=True, help="Print the summary and every ledger entry as JSON.")
    @click.option("--revoke", is_flag=True, help="Forget the answer (consent or refusal) about sending photos to the "
                  "cloud for this library: the next cloud run asks again.")
    @click.pass_obj
    def privacy(obj, catalog: Path | None, show_all: bool, as_json: bool, revoke: bool) -> None:
        """Show whether anything ever left this machine: every cloud request from the privacy ledger.

        The ledger lies beside the catalog (CATALOG.cloud-ledger.jsonl); a line is
        written before each request is sent.
        """
        from index.catalog import Catalog

        from ..libraries import home_catalog

        path = home_catalog(catalog, obj.config)
        if revoke:
            if not path.exists():
                click.echo("no consent was recorded: there is no catalog here")
                return
            with Catalog.open(path) as opened:
                had = consent_answer(opened)
                revoke_consent(opened)
            click.echo("no answer was recorded for this library" if had is None else
                       "consent withdrawn: cloud brains will ask again before sending anything" if had["agreed"] else
                       "refusal forgotten: cloud brains will ask again before sending anything")
            return
        ledger = ledger_path(path)
        entries = read_ledger(ledger)
        summary = summarize_ledger(entries)
        readonly = Catalog.open_readonly(path)
        consent = None
        if readonly is not None:
            with readonly:
                consent = consent_answer(readonly)
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
        if consent and consent["agreed"]:
            click.echo(f"Consent to send photos to the cloud: given {consent['date']} ({consent['how']}); "
                       "'photobrain privacy --revoke' withdraws it.")
        elif consent:
            click.echo(f"Consent to send photos to the cloud: declined {consent['date']}; cloud brains send nothing "
                       "for this library.")
        else:
            click.echo("Consent to send photos to the cloud: none recorded for this library; cloud brains ask first.")
