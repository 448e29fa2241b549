"""photobrain untag: take out everything photobrain wrote, file by file, and tell the catalog.

``run_untag(UntagOptions) -> UntagRunResult``; the command line is a thin client.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from index.catalog import Catalog
from xmp import PhotobrainError, is_image
from xmp.errors import reason_about
from xmp.untag import remove_tags

from .files import scan


@dataclass(frozen=True)
class UntagOptions:
    paths: tuple[Path, ...]
    catalog: Path | None = None
    dry_run: bool = False
    keep_mtime: bool = False
    #: the library the paths are in: a link to a photo inside it is untagged through the link (see write_tags)
    library: Path | None = None


@dataclass
class UntagOutcome:
    path: str
    status: str  # untagged | unchanged | failed
    written: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    reason: str | None = None
    hint: str | None = None


@dataclass
class UntagRunResult:
    files: list[UntagOutcome] = field(default_factory=list)
    dry_run: bool = False

    @property
    def failed(self) -> list[UntagOutcome]:
        return [f for f in self.files if f.status == "failed"]

    def summary(self) -> dict[str, int]:
        return {s: sum(1 for f in self.files if f.status == s) for s in ("untagged", "unchanged", "failed")}

    def to_dict(self) -> dict:
        return {**asdict(self), "summary": self.summary()}


def run_untag(options: UntagOptions) -> UntagRunResult:
    """Remove photobrain's tags, captions and provenance from every image under ``options.paths``.

    A file that fails is reported and the run goes on. Files the catalog knows are marked as no longer
    tagged, so a later ``tag`` writes their tags again.
    """
    result = UntagRunResult(dry_run=options.dry_run)
    done: list[tuple[Path, list[str]]] = []
    for path, st in scan(options.paths):
        if st is None:
            result.files.append(UntagOutcome(str(path), "failed", reason="no such file"))
            continue
        if not is_image(path):
            continue  # nothing of photobrain's is ever written there
        try:
            removed = remove_tags(path, dry_run=options.dry_run, keep_mtime=options.keep_mtime,
                                  library=options.library)
        except PhotobrainError as exc:
            result.files.append(UntagOutcome(str(path), "failed", reason=reason_about(exc, path), hint=exc.hint))
            continue
        result.files.append(UntagOutcome(str(path), "untagged" if removed.changed else "unchanged",
                                         written=[str(p) for p in removed.targets],
                                         deleted=[str(p) for p in removed.deleted], removed=removed.removed))
        done.append((path, removed.rejected))
    if not options.dry_run and options.catalog is not None and options.catalog.exists() and done:
        with Catalog.open(options.catalog) as catalog:
            for path, rejected in done:
                catalog.forget_tags(path)
                digest = catalog.hash_of(path)
                if digest is not None and rejected:  # the user's decisions outlive the untag
                    catalog.add_rejections(digest, rejected)
            catalog.commit()
    return result
