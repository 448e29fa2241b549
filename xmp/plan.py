"""What to write: a pure function of (current metadata, AI tags to set, settings).

The rules come from what photo managers read (XMP_INTEROP.md):

* every hierarchical field (``lr:hierarchicalSubject``, ``digiKam:TagsList``
  and, where a file already has them, ``MicrosoftPhoto:LastKeywordXMP`` and
  ``mediapro:CatalogSets``) gets the same hierarchy: the union of all of them
  across all sources, plus the new AI paths, minus AI paths photobrain wrote
  earlier that are no longer wanted;
* ``dc:subject`` keeps every flat keyword and gains the leaves of the AI
  paths; IIM keywords, where present, are kept and gain nothing;
* flat keywords are carried into the hierarchy only where digiKam and
  darktable showed them before: on an image whose hierarchy holds none of the
  user's own paths (they read ``dc:subject`` only when no hierarchical field
  exists, and stop once photobrain adds one).  A flat keyword equal to a
  component of a user's path, or to an ancestor of an AI path, is already
  there (Lightroom and darktable write every ancestor into ``dc:subject``) and
  is never carried.  A carried keyword goes into every field verbatim, which
  is how each reader split it from ``dc:subject`` before (digiKam on ``/``,
  darktable on ``|``);
* an AI tag recorded as written but now missing from a field photobrain put it
  in was deleted by the user: it becomes *rejected* and is never added again;
* strings already in a field are kept verbatim; only photobrain's own are generated.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from .model import AITag, FileMetadata, Provenance, TagPath, TagRequest, XmpSource
from .paths import PIPE, SLASH, join, key, sanitize_component, sanitize_path, split

#: Hierarchical fields: (attribute of XmpSource, separator).
HIERARCHICAL_FIELDS = (("hierarchical", PIPE), ("tags_list", SLASH),
                       ("last_keyword_xmp", SLASH), ("catalog_sets", PIPE))


@dataclass
class KeywordPlan:
    """The owned fields every target of one image should end up with."""

    image_name: str
    subject: list[str]
    hierarchy: dict[str, list[str]]          # separator -> serialised paths
    iptc_keywords: list[str] | None
    description: dict[str, str] | None       # None: leave captions as they are
    alt_text: dict[str, str] | None
    provenance: Provenance
    added: list[TagPath] = field(default_factory=list)
    removed: list[TagPath] = field(default_factory=list)
    newly_rejected: list[TagPath] = field(default_factory=list)


SCORE_NOISE = 0.00015  # one unit of the fourth decimal, with room for its rounding


def _same_score(recorded: float | None, new: float | None) -> bool:
    if recorded is None or new is None:
        return recorded is new
    return abs(recorded - new) <= SCORE_NOISE


def format_score(score: float | None) -> str:
    return "" if score is None else f"{score:.4f}"


def plan_keywords(meta: FileMetadata, request: TagRequest, *, root: str, image_name: str, now: str) -> KeywordPlan:
    """Work out the keyword fields for ``meta``'s image after setting ``request``.

    ``request.tags`` paths are relative to ``root``; ``now`` (ISO 8601) dates
    new provenance entries.  Pure: reads nothing, writes nothing.
    """
    sources = meta.sources
    root = sanitize_component(root) or "AI"

    recorded: dict[TagPath, AITag] = {}
    others: dict[TagPath, AITag] = {}
    for source in sources:
        for tag in source.provenance.tags:
            (recorded if is_mine(tag, source, image_name) else others).setdefault(key(tag.path), tag)

    rejected: dict[TagPath, TagPath] = {}
    newly_rejected = []
    if not request.forget_rejections:
        for path in [p for source in sources for p in source.provenance.rejected] + list(request.rejected):
            rejected.setdefault(key(path), path)
        for source in sources:
            for tag in source.provenance.tags:
                k = key(tag.path)
                if k not in rejected and deleted_by_user(source, tag):
                    rejected[k] = tag.path
                    newly_rejected.append(tag.path)

    desired: dict[TagPath, AITag] = {}
    for wanted in request.tags:
        path = sanitize_path((root, *wanted.path))
        k = key(path)
        if len(path) < 2 or k in rejected or k in desired:
            continue
        previous = recorded.get(k)
        # the same tag from the same model with the same score stays as recorded (its date and the vocabulary
        # version it was first written with): a new vocabulary version rewrites only files whose tags change.
        # "The same score" allows the last written digit to move: scoring one image or a thousand at a time
        # rounds differently (float32), which is no change in what the model saw.
        if previous is not None and previous.source == wanted.source and _same_score(previous.score, wanted.score):
            desired[k] = replace(previous, image="")
        else:
            score = None if wanted.score is None else round(wanted.score, 4)
            desired[k] = AITag(path=path, score=score, source=wanted.source, vocab=wanted.vocab, date=now)
    removed = [recorded[k].path for k in recorded if k not in desired]
    added = [desired[k].path for k in desired if k not in recorded]
    claimed = set(desired) | set(others)

    # The hierarchy: union of every hierarchical field of every source.
    carried_before = {p[0] for s in sources for p in s.provenance.carried}
    hierarchy: dict[TagPath, TagPath] = {}
    verbatim: dict[tuple[str, TagPath], str] = {}
    for source in sources:
        for attr, sep in HIERARCHICAL_FIELDS:
            for value in getattr(source, attr) or []:
                path = entry(value, sep, carried_before)
                if path:
                    hierarchy.setdefault(key(path), path)
                    verbatim.setdefault((sep, key(path)), value)
    for k in [key(p) for p in removed] + list(rejected):
        if k not in claimed:
            hierarchy.pop(k, None)
    for k, tag in desired.items():
        hierarchy.setdefault(k, tag.path)

    # Flat keywords: dc:subject gains the AI leaves. IIM keywords gain nothing: darktable imports every IIM
    # keyword as a tag of its own (a leaf there would become a top-level tag), and with the IPTC digest in
    # step readers take the keywords from XMP. Leaves an earlier photobrain put there go when their tag goes.
    ours_before = _ordered_union(source.provenance.subjects for source in sources)
    leaves_kept = {tag.leaf for tag in desired.values()} | {tag.leaf for tag in others.values()}
    droppable = {leaf for leaf in ours_before if leaf not in leaves_kept}
    subject = [kw for kw in _ordered_union(s.subject or [] for s in sources) if kw not in droppable]
    has_iptc = any(s.iptc_keywords is not None for s in sources)
    iptc = [kw for kw in _ordered_union(s.iptc_keywords or [] for s in sources) if kw not in droppable]
    subjects_ours = [leaf for leaf in ours_before if leaf in subject]
    for tag in desired.values():
        if tag.leaf not in subject:
            subject.append(tag.leaf)
            subjects_ours.append(tag.leaf)

    # Which of the user's flat keywords the hierarchy must carry (see the module's docstring).
    ai_keys = set(recorded) | set(others) | set(desired) | set(rejected)
    carried_keys = {key((kw,)) for kw in carried_before}
    user_paths = [k for k in hierarchy if k not in ai_keys and k not in carried_keys]
    present = {part for k in user_paths for part in k} | {part for k in ai_keys for part in k[:-1]}
    flat_only = not user_paths
    user_flat = [kw for kw in subject if kw not in subjects_ours] or [kw for kw in iptc if kw not in subjects_ours]
    carried: list[TagPath] = []
    flat_keys: set[TagPath] = set()
    for keyword in user_flat:
        k = key((keyword,))
        if not keyword.strip() or k[0] in present or k in flat_keys or k in ai_keys:
            continue
        if flat_only or k in carried_keys:
            hierarchy.setdefault(k, (keyword,))
            flat_keys.add(k)
            carried.append((keyword,))
    # carried earlier, but now a word of the user's own paths, or no longer one of the user's flat keywords
    for k in carried_keys - flat_keys:
        hierarchy.pop(k, None)

    # The user's entries first: digiKam resolves a one-word entry ("painting") to any tag of that name it
    # already has (TagsCache::tagForPath), so the user's own must exist before an AI path ending in that word.
    ordered = [k for k in hierarchy if k not in ai_keys] + [k for k in hierarchy if k in ai_keys]
    serialised = {sep: [verbatim.get((sep, k)) or (hierarchy[k][0] if k in flat_keys else join(hierarchy[k], sep))
                        for k in ordered] for sep in (PIPE, SLASH)}

    description, caption_ours = _caption(sources, request.caption, "description", "caption")
    alt_text, alt_ours = _caption(sources, request.alt_text, "alt_text", "alt_text")
    provenance = Provenance(
        tags=list(desired.values()),
        rejected=list(rejected.values()),
        carried=carried,
        subjects=subjects_ours,
        caption=caption_ours,
        alt_text=alt_ours,
    )
    return KeywordPlan(
        image_name=image_name, subject=subject, hierarchy=serialised,
        iptc_keywords=iptc if has_iptc else None, description=description, alt_text=alt_text,
        provenance=provenance, added=added, removed=removed, newly_rejected=newly_rejected,
    )


def entry(value: str, sep: str, flat: set[str] | frozenset[str]) -> TagPath:
    """The path a hierarchical field's ``value`` stands for.

    A flat keyword photobrain carried into the hierarchy (``flat``) is written verbatim into every field, so
    ``a|b`` in ``lr:hierarchicalSubject`` or ``c/d`` in ``digiKam:TagsList`` is that one keyword, not a path.
    """
    return (value,) if value in flat else split(value, sep)


def is_mine(tag: AITag, source: XmpSource, image_name: str) -> bool:
    """Whether a recorded tag describes ``image_name``.

    Only a ``name.xmp`` sidecar written by photobrain before the raw+JPEG rule (``IMG_1.xmp`` is the raw's)
    can hold two images' tags, each entry naming its image; everywhere else every entry is the image's own,
    even after a rename made an ``Image`` field stale.
    """
    return not is_base_sidecar(source.path, image_name) or tag.image in ("", image_name)


def is_base_sidecar(sidecar: Path, image_name: str) -> bool:
    """Whether ``sidecar`` is the ``name.xmp`` form, the one a raw and a JPEG of the same name could share."""
    return sidecar.name.lower() == f"{image_name.rsplit('.', 1)[0]}.xmp".lower()


def deleted_by_user(source: XmpSource, tag: AITag) -> bool:
    """A tag photobrain recorded in ``source`` but the user removed from it since."""
    k = key(tag.path)
    present = [f for f in (source.hierarchical, source.tags_list) if f is not None]
    if not present:
        return True
    for values, sep in ((source.hierarchical, PIPE), (source.tags_list, SLASH)):
        if values is not None and k not in {key(split(v, sep)) for v in values}:
            return True
    return tag.leaf in source.provenance.subjects and tag.leaf not in (source.subject or [])


def _ordered_union(lists) -> list[str]:
    out: dict[str, None] = {}
    for values in lists:
        for value in values:
            out.setdefault(value, None)
    return list(out)


def _caption(sources: list[XmpSource], wanted: str | None, attr: str, prov_attr: str
             ) -> tuple[dict[str, str] | None, str | None]:
    """The caption field to write and photobrain's record of it.

    A caption the user wrote (or edited after photobrain wrote it) is theirs
    and is never replaced.
    """
    current = next((dict(getattr(s, attr)) for s in sources if getattr(s, attr).get("x-default")), {})
    ours = next((getattr(s.provenance, prov_attr) for s in sources
                 if getattr(s.provenance, prov_attr) is not None), None)
    text = current.get("x-default")
    if ours is not None and text != ours:
        ours = None  # edited by the user: theirs now
    if wanted is not None and wanted.strip() and (not text or ours is not None):
        current["x-default"] = wanted.strip()
        return current, wanted.strip()
    return (current or None), ours


def apply_plan(source: XmpSource, plan: KeywordPlan) -> XmpSource:
    """``source`` with its owned fields as ``plan`` wants them.

    A ``name.xmp`` that an earlier photobrain shared between ``IMG_1.CR2`` and ``IMG_1.JPG`` keeps the
    entries it recorded for the other image (their ``Image`` field names it).
    """

    def field_value(current: list[str] | None, wanted: list[str], create: bool) -> list[str] | None:
        if current is None and (not create or not wanted):
            return None
        return list(wanted)

    foreign = [t for t in source.provenance.tags if not is_mine(t, source, plan.image_name)]
    sidecar = source.label != "embedded"
    subject = field_value(source.subject, plan.subject, True)
    hierarchical = field_value(source.hierarchical, plan.hierarchy[PIPE], True)
    tags_list = field_value(source.tags_list, plan.hierarchy[SLASH], True)
    # fields added to a source that existed before: untag removes them again (a new sidecar goes as a whole)
    fresh = sidecar and source.signature is None
    created = [] if fresh else [name for name, before, after in (
        ("dc:subject", source.subject, subject), ("lr:hierarchicalSubject", source.hierarchical, hierarchical),
        ("digiKam:TagsList", source.tags_list, tags_list)) if after is not None and (
        before is None or name in source.provenance.created)]
    return replace(
        source,
        subject=subject,
        hierarchical=hierarchical,
        tags_list=tags_list,
        last_keyword_xmp=field_value(source.last_keyword_xmp, plan.hierarchy[SLASH], False),
        catalog_sets=field_value(source.catalog_sets, plan.hierarchy[PIPE], False),
        iptc_keywords=(None if source.iptc_keywords is None or plan.iptc_keywords is None
                       else list(plan.iptc_keywords)),
        description=dict(plan.description) if plan.description is not None else source.description,
        alt_text=dict(plan.alt_text) if plan.alt_text is not None else source.alt_text,
        provenance=replace(plan.provenance, tags=foreign + list(plan.provenance.tags), created=created),
    )


def owned_view(source: XmpSource) -> tuple:
    """The fields photobrain may change, in a form that compares equal when nothing would change."""
    prov = source.provenance
    tags = tuple((t.path, format_score(t.score), t.source, t.vocab, t.date, t.image) for t in prov.tags)
    return (
        source.subject, source.hierarchical, source.tags_list, source.last_keyword_xmp,
        source.catalog_sets, source.iptc_keywords, source.description, source.alt_text,
        tags, tuple(map(tuple, prov.rejected)), tuple(map(tuple, prov.carried)), tuple(prov.subjects),
        prov.caption, prov.alt_text, tuple(prov.created),
    )
