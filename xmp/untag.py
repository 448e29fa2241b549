"""Removing what photobrain wrote: its tags, captions and provenance, and the sidecars it created.

The provenance photobrain records (``photobrain:Tags``, ``Subjects``,
``Carried``, ``Caption``, ``AltText``) says exactly which keyword strings,
flat keywords and captions are its own, so they can be taken out again and
everything the user or another program stored stays as it was. A sidecar
left holding nothing is deleted: photobrain made it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import ConcurrentChangeError, MetadataWriteError, PhotobrainError, ReadOnlyError
from .exiv2 import Exiv2Image
from .formats import can_embed
from .model import Provenance, XmpSource
from .packet import PHOTOBRAIN_TOOLKIT, PacketError, update_packet
from .paths import PIPE, SLASH, join, key, split
from .plan import deleted_by_user, entry, is_mine, owned_view
from .read import COPIED, EMBEDDED, read_metadata
from .regular import MAX_SIDECAR_BYTES, read_regular, stamp
from .write import _write_embedded, _write_sidecar, is_read_only, link_target, packet_updates


@dataclass
class UntagResult:
    path: Path
    changed: bool = False
    targets: list[Path] = field(default_factory=list)   # files rewritten (or, dry run, that would be)
    deleted: list[Path] = field(default_factory=list)   # sidecars removed (or that would be)
    removed: list[str] = field(default_factory=list)    # AI tags taken out, "/"-joined
    #: AI tags the user had rejected ("/"-joined): the file forgets them, the catalog keeps them
    rejected: list[str] = field(default_factory=list)


def untag_source(source: XmpSource, image_name: str, others: list[XmpSource] | tuple = ()) -> XmpSource:
    """``source`` without photobrain's tags, flat keywords, carried keywords, captions and provenance. Pure.

    ``others``: the image's other sources, where the copies photobrain made came from. In a ``name.xmp``
    sidecar shared by two images, the other image's tags stay.
    """
    prov = source.provenance
    foreign = [t for t in prov.tags if not is_mine(t, source, image_name)]
    kept = {key(t.path) for t in foreign}
    drop = ({key(t.path) for t in prov.tags if is_mine(t, source, image_name)}
            | {key(p) for p in prov.carried}) - kept
    foreign_leaves = {t.leaf for t in foreign}
    ours_flat = set(prov.subjects) - foreign_leaves

    flat_carried = {p[0] for p in prov.carried}

    def hierarchy(values: list[str] | None, sep: str) -> list[str] | None:
        if values is None:
            return None
        left = [v for v in values if key(entry(v, sep, flat_carried)) not in drop]
        return left or None

    def flat(values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        left = [v for v in values if v not in ours_flat]
        return left or None

    def caption(current: dict[str, str], ours: str | None) -> dict[str, str]:
        if ours is None or current.get("x-default") != ours:
            return current  # none of ours, or edited by the user: theirs
        return {lang: text for lang, text in current.items() if lang != "x-default"}

    iptc = None if source.iptc_keywords is None else [k for k in source.iptc_keywords if k not in ours_flat]
    subject = flat(source.subject)
    hierarchical = hierarchy(source.hierarchical, PIPE)
    tags_list = hierarchy(source.tags_list, SLASH)
    # A field photobrain added to this source held, besides its tags, copies of the user's keywords from the
    # image's other fields: it goes too, unless something in it is found nowhere else (added since, by the user).
    created = set(prov.created)
    # what the copies may have come from: the other sources, and this source's fields the user had before
    before = replace(source, provenance=Provenance(),
                     subject=None if "dc:subject" in created else subject,
                     hierarchical=None if "lr:hierarchicalSubject" in created else hierarchical,
                     tags_list=None if "digiKam:TagsList" in created else tags_list)
    origins = [*others, before]
    bare = XmpSource(label=source.label, path=source.path)
    if "dc:subject" in created and _copies_of(replace(bare, subject=subject), origins):
        subject = None
    if "lr:hierarchicalSubject" in created and _copies_of(replace(bare, hierarchical=hierarchical), origins):
        hierarchical = None
    if "digiKam:TagsList" in created and _copies_of(replace(bare, tags_list=tags_list), origins):
        tags_list = None
    return replace(
        source,
        subject=subject,
        hierarchical=hierarchical,
        tags_list=tags_list,
        last_keyword_xmp=hierarchy(source.last_keyword_xmp, SLASH),
        catalog_sets=hierarchy(source.catalog_sets, PIPE),
        iptc_keywords=iptc,
        description=caption(source.description, prov.caption),
        alt_text=caption(source.alt_text, prov.alt_text),
        provenance=Provenance(tags=foreign, rejected=list(prov.rejected) if foreign else [],
                              subjects=[s for s in prov.subjects if s in foreign_leaves]),
    )


def remove_tags(path: Path, *, dry_run: bool = False, keep_mtime: bool = False,
                library: Path | None = None) -> UntagResult:
    """Take everything photobrain wrote out of ``path``'s embedded XMP and its sidecars.

    A symbolic link is untagged through to the photo it points to when that lies in ``library`` (as
    :func:`~xmp.write.write_tags` tags it); the embedded XMP of a photo outside it is left alone.

    Raises a :class:`~xmp.errors.PhotobrainError` naming the file on failure; files are then as they were.
    """
    path = Path(path)
    meta = read_metadata(path)
    result = UntagResult(path)
    # rejected: recorded as such, or deleted by the user since photobrain wrote them (no tag run noticed yet)
    result.rejected = sorted({join(p, SLASH) for s in meta.sources for p in s.provenance.rejected}
                             | {join(t.path, SLASH) for s in meta.sources for t in s.provenance.tags
                                if is_mine(t, s, path.name) and deleted_by_user(s, t)})
    for current in meta.sources:
        wanted = untag_source(current, path.name, [s for s in meta.sources if s is not current])
        if owned_view(wanted) == owned_view(current):
            continue
        through = path
        if current.label == EMBEDDED:
            if not can_embed(path):
                continue  # photobrain never writes into these, so nothing of its can be there to remove
            try:
                through = link_target(path, library, "embed")
            except MetadataWriteError:
                continue  # a link out of the library: photobrain never wrote through it
        result.changed = True
        result.removed += [join(t.path, SLASH) for t in current.provenance.tags if is_mine(t, current, path.name)]
        if current.label == EMBEDDED:
            if is_read_only(path):
                raise ReadOnlyError(path, "the file is read-only", "make it writable (chmod u+w) and run untag again")
            result.targets.append(through)
            if not dry_run:
                _write_embedded(through, current, wanted, keep_mtime=keep_mtime, signature=meta.signature,
                                data=meta.data)
        elif _holds_nothing_else(current, wanted, [s for s in meta.sources if s is not current]):
            result.deleted.append(current.path)
            if not dry_run:
                _delete_sidecar(current)
        else:
            result.targets.append(current.path)
            if not dry_run:
                _write_sidecar(current, wanted)
    result.removed = sorted(set(result.removed))
    return result


#: What a sidecar photobrain created may hold: the keyword and caption fields it writes.
OWNED_KEYS = ("Xmp.dc.subject", "Xmp.lr.hierarchicalSubject", "Xmp.digiKam.TagsList", "Xmp.dc.description",
              "Xmp.iptc.AltTextAccessibility", "Xmp.MicrosoftPhoto.LastKeywordXMP", "Xmp.mediapro.CatalogSets",
              *COPIED)


def _holds_nothing_else(current: XmpSource, wanted: XmpSource, others: list[XmpSource]) -> bool:
    """Whether the sidecar, once photobrain's properties are out, holds nothing of anyone else's.

    Either no property is left at all, or photobrain created the sidecar (its packet still names
    photobrain as the toolkit: no other program rewrote it) and what is left are copies photobrain made
    of keywords and captions the image's other sources hold.
    """
    try:
        text = read_regular(current.path, limit=MAX_SIDECAR_BYTES, what="sidecar")[0].decode("utf-8")
        left = update_packet(text, packet_updates(current, wanted))
    except (PhotobrainError, UnicodeDecodeError, PacketError):
        return False
    image = Exiv2Image(current.path, left.encode("utf-8"))
    try:
        properties = image.read_xmp()
    finally:
        image.close()
    if not properties:
        return True
    if PHOTOBRAIN_TOOLKIT not in text or any(not k.startswith(OWNED_KEYS) for k in properties):
        return False
    return _copies_of(wanted, others)


def _copies_of(source: XmpSource, others: list[XmpSource]) -> bool:
    paths = {key(split(v, sep)) for o in others for values, sep in _hierarchies(o) for v in values}
    flat = {v for o in others for v in (o.subject or []) + (o.iptc_keywords or [])}
    captions = [o.description for o in others if o.description]
    alt_texts = [o.alt_text for o in others if o.alt_text]
    extras = [o.extras for o in others]
    return (all(any(e.get(k) == value for e in extras) for k, value in source.extras.items())
            and all(key(split(v, sep)) in paths for values, sep in _hierarchies(source) for v in values)
            and all(v in flat for v in source.subject or [])
            and (not source.description or source.description in captions)
            and (not source.alt_text or source.alt_text in alt_texts))


def _hierarchies(source: XmpSource) -> list[tuple[list[str], str]]:
    return [(source.hierarchical or [], PIPE), (source.tags_list or [], SLASH), (source.last_keyword_xmp or [], SLASH),
            (source.catalog_sets or [], PIPE)]


def _delete_sidecar(current: XmpSource) -> None:
    sidecar = current.path
    try:
        st = sidecar.stat()
    except OSError as exc:
        raise ConcurrentChangeError(sidecar, "the sidecar disappeared while photobrain was reading it",
                                    "run the command again") from exc
    if stamp(st) != current.signature:
        raise ConcurrentChangeError(sidecar, "another program changed the sidecar while photobrain was reading it",
                                    "run the command again")
    if is_read_only(sidecar):
        raise ReadOnlyError(sidecar, "the sidecar is read-only", "make it writable (chmod u+w)")
    try:
        sidecar.unlink()
    except OSError as exc:
        raise MetadataWriteError(sidecar, f"cannot delete the sidecar ({exc.strerror or exc})") from exc
