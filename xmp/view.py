"""A reader's view of a file's keywords: the user's own, photobrain's, and captions."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .model import AITag, FileMetadata
from .paths import SLASH, join, key
from .plan import HIERARCHICAL_FIELDS, entry, is_mine


@dataclass
class KeywordSummary:
    path: str
    sources: list[str]
    user_keywords: list[str] = field(default_factory=list)     # flat keywords the user (or another app) set
    user_hierarchy: list[str] = field(default_factory=list)    # hierarchical paths, "/"-joined
    ai_tags: list[dict] = field(default_factory=list)          # path, score, source, vocab, date
    rejected: list[str] = field(default_factory=list)
    captions: dict[str, str] = field(default_factory=dict)
    alt_text: dict[str, str] = field(default_factory=dict)
    rating: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(meta: FileMetadata) -> KeywordSummary:
    """Split everything ``meta`` holds into the user's keywords and photobrain's tags."""
    ai: dict[tuple, AITag] = {}
    sibling: set[tuple] = set()  # AI tags of another image sharing a name.xmp sidecar
    ours_flat: set[str] = set()
    carried: set[tuple] = set()
    carried_flat: set[str] = set()
    rejected: dict[tuple, str] = {}
    for source in meta.sources:
        prov = source.provenance
        for tag in prov.tags:
            if is_mine(tag, source, meta.path.name):
                ai.setdefault(key(tag.path), tag)
            else:
                sibling.add(key(tag.path))
        ours_flat.update(prov.subjects)
        carried.update(key(p) for p in prov.carried)
        carried_flat.update(p[0] for p in prov.carried)
        for path in prov.rejected:
            rejected.setdefault(key(path), join(path, SLASH))
    summary = KeywordSummary(path=str(meta.path), sources=[s.label for s in meta.sources])
    hierarchy: dict[tuple, str] = {}
    flat: dict[str, None] = {}
    for source in meta.sources:
        for attr, sep in HIERARCHICAL_FIELDS:
            for value in getattr(source, attr) or []:
                path = entry(value, sep, carried_flat)
                if path and key(path) not in ai and key(path) not in carried and key(path) not in sibling:
                    hierarchy.setdefault(key(path), join(path, SLASH))
        for value in (source.subject or []) + (source.iptc_keywords or []):
            if value not in ours_flat:
                flat.setdefault(value, None)
        if not summary.captions and source.description:
            summary.captions = dict(source.description)
        if not summary.alt_text and source.alt_text:
            summary.alt_text = dict(source.alt_text)
        summary.rating = summary.rating or source.rating
    summary.user_keywords = list(flat)
    summary.user_hierarchy = list(hierarchy.values())
    summary.ai_tags = [{"path": join(t.path, SLASH), "score": t.score, "source": t.source,
                        "vocab": t.vocab, "date": t.date} for t in ai.values()]
    summary.rejected = list(rejected.values())
    return summary
