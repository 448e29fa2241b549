"""Carrying out one library's tag or retag (planned by :func:`sidecar.libraries.plan_runs`): the model the
library was tagged with, a migration when where the tags live changes, the profile recorded, then the run."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from index.catalog import Catalog
from xmp.errors import PhotobrainError

from .brains.spec import ModelError, ModelSpec
from .libraries import LibraryRun, remember_catalog
from .settings import Settings

if TYPE_CHECKING:
    from .tagger import TagResult


def run_library(run: LibraryRun, *, dry_run: bool = False, catalogued_only: bool = False,
                forget_rejections: bool = False, progress=None,
                log: Callable[[str], None] = lambda m: None) -> TagResult:
    """Tag (or retag) ``run.paths`` with the library's settings: moves the tags first when the run is a migration,
    records the profile, then runs :func:`sidecar.tagger.run_tag`. A dry run changes nothing, the catalog included."""
    from .tagger import TagOptions, run_tag
    from .untagger import UntagOptions, run_untag
    from .vocab import load_vocabulary

    settings = run.settings
    spec, fingerprint = _model(run, log)
    vocab = load_vocabulary(settings.vocab)
    profile = {**settings.profile_values(), "model_fingerprint": fingerprint, "model_label": spec.label,
               "model_source": _source(spec, settings), "vocab_version": vocab.version}
    for old_root, _, old in run.migrations:
        log(f"photobrain: {'would move' if dry_run else 'moving'} the tags of {old_root} from {old.where()} to "
            f"{settings.where()}")
    if run.migrations and settings.write == "embed":
        _check_embeddable(run)
    if not dry_run:
        for old_root, _, old in run.migrations:
            untagged = run_untag(UntagOptions(paths=(old_root,), catalog=run.catalog, keep_mtime=settings.keep_mtime))
            if untagged.failed:
                first = untagged.failed[0]
                raise PhotobrainError(Path(first.path), f"the migration stopped: photobrain's tags could not be taken "
                                      f"out of {len(untagged.failed)} file(s) ({first.reason})",
                                      "fix the file (or move it out of the library) and run the same command again; "
                                      "the library keeps its old settings until then")
            if old.keyword_root != settings.keyword_root:
                with Catalog.open(run.catalog) as catalog:
                    catalog.rename_rejections(old.keyword_root, settings.keyword_root)
        with Catalog.open(run.catalog) as catalog:
            if run.moved_from is not None and run.library_id is not None:
                moved = catalog.move_library(run.library_id, run.moved_from, run.root)
                log(f"photobrain: the library {run.moved_from} is now at {run.root} ({moved} files): its settings and "
                    "what is known of its photos go with it")
            if run.library_id is None:
                run.library_id = catalog.add_library(run.root, profile)
            else:
                catalog.set_profile(run.library_id, profile)
            for library in run.absorbed:
                catalog.remove_library(library.id)
        remember_catalog(run.catalog)
    options = TagOptions(paths=run.paths, catalog=run.catalog, model=settings.model, pretrained=settings.pretrained,
                         write=settings.write, sidecar_name=settings.sidecar_name, root=settings.keyword_root,
                         vocab=settings.vocab, threshold=settings.threshold, max_tags=settings.max_tags, dry_run=dry_run,
                         jobs=settings.jobs, keep_mtime=settings.keep_mtime, max_megapixels=settings.max_megapixels,
                         catalogued_only=catalogued_only, cloud=settings.cloud_options(),
                         forget_rejections=forget_rejections, library=run.root)
    result = run_tag(options, progress=progress, log=log)
    result.library = str(run.root)
    if not dry_run and not result.interrupted and run.library_id is not None:
        with Catalog.open(run.catalog) as catalog:
            catalog.library_ran(run.library_id, result.summary())
    return result


def _check_embeddable(run: LibraryRun) -> None:
    """A migration to --write embed must not take tags out of sidecars of files that cannot hold them embedded."""
    from xmp.formats import can_embed

    with Catalog.open_readonly(run.catalog) as catalog:  # type: ignore[union-attr]
        rows = catalog.files_under([run.root])
    stuck = sorted(p for p, row in rows.items() if row.status != "missing" and not can_embed(p))
    if stuck:
        raise PhotobrainError(stuck[0], f"{len(stuck)} file(s) of the library cannot hold embedded XMP (raw and HEIF "
                              "files), so their tags would be lost; nothing was changed",
                              "migrate with --write auto instead: embedded where the format allows, sidecars for "
                              "the rest")


def _model(run: LibraryRun, log: Callable[[str], None]) -> tuple[ModelSpec, str]:
    """The run's model and its fingerprint; when it comes from the library's profile, the very weights the library
    was tagged with."""
    from .models import resolve

    settings, profile = run.settings, run.previous or {}
    from_library = settings.origin.get("model") == "library"
    try:
        spec = resolve(settings.model, settings.pretrained, log=log)
    except ModelError as exc:
        if not from_library:
            raise
        raise ModelError(exc.path, f"{exc.reason}; the library {run.root} was tagged with {profile.get('model_label')} "
                         f"({profile.get('model_source')})", "put the weights back, or pass --model and --pretrained to "
                         "retag with other weights (every photo is embedded again)") from exc
    recorded, fingerprint = profile.get("model_fingerprint"), spec.fingerprint()
    if from_library and recorded and fingerprint != recorded:
        raise ModelError(spec.checkpoint, f"these weights are not the ones the library {run.root} was tagged with "
                         f"(fingerprint {fingerprint}, recorded {recorded})",
                         "pass --pretrained explicitly to retag with these weights (every photo is embedded again), or "
                         "put the original file back")
    return spec, fingerprint


def _source(spec: ModelSpec, settings: Settings) -> str:
    if settings.pretrained and os.path.isabs(settings.pretrained):
        return f"checkpoint file {spec.checkpoint}"
    return f"open_clip weights downloaded by 'photobrain models pull' into {spec.checkpoint}"
