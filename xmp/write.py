"""Writing a plan into an image (atomically, verified) or into its sidecars."""
from __future__ import annotations

import io
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from . import jpeg_xmp
from .errors import (
    ConcurrentChangeError,
    CorruptImageError,
    MetadataWriteError,
    ReadOnlyError,
    VerificationError,
    shown,
)
from .exiv2 import Exiv2Image
from .formats import can_embed, sniff
from .hashing import image_data, jpeg_coding_segments, jpeg_header_length
from .model import NAMESPACE_URI, FileMetadata, Provenance, TagRequest, XmpSource
from .packet import (
    PHOTOBRAIN_TOOLKIT,
    PREFERRED_PREFIX,
    Bag,
    LangAlt,
    PacketError,
    Property,
    Seq,
    StructBag,
    Text,
    Value,
    update_packet,
)
from .paths import SLASH, join
from .plan import apply_plan, format_score, owned_view, plan_keywords
from .read import (
    COPIED,
    EMBEDDED,
    base_sidecar_owner,
    existing_sidecar,
    lang_alt_items,
    read_metadata,
    read_sidecar,
    read_source,
    sidecar_paths,
)
from .regular import MAX_SIDECAR_BYTES, Stamp, image_and_stat, read_regular, stamp

WriteMode = Literal["embed", "sidecar", "auto"]
SidecarName = Literal["ext", "base", "both"]

DC = "http://purl.org/dc/elements/1.1/"
LR = "http://ns.adobe.com/lightroom/1.0/"
DIGIKAM = "http://www.digikam.org/ns/1.0/"
MSPHOTO = "http://ns.microsoft.com/photo/1.0/"
MEDIAPRO = "http://ns.iview-multimedia.com/mediapro/1.0/"
IPTC_CORE = "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"
TEMP_MARKER = ".photobrain-tmp"


@dataclass(frozen=True)
class WriteOptions:
    """Where and how tags are written.

    ``mode``: ``embed`` into the image, ``sidecar`` only, or ``auto`` (embed
    where the format allows and the file is writable, else a sidecar).
    ``sidecar_name``: ``ext`` (``name.ext.xmp``: digiKam, darktable), ``base``
    (``name.xmp``: Lightroom, Capture One) or ``both`` (kept identical).
    """

    mode: WriteMode = "auto"
    sidecar_name: SidecarName = "ext"
    root: str = "AI"
    keep_mtime: bool = False
    dry_run: bool = False
    #: the library being tagged: a symbolic link to a file inside it is written through (the link stays a link);
    #: a link to a file anywhere else is never written through (see :func:`link_target`)
    library: Path | None = None


@dataclass
class WriteResult:
    path: Path
    mode: Literal["embed", "sidecar"]
    changed: bool
    targets: list[Path] = field(default_factory=list)
    note: str | None = None
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    #: every AI path the user rejected for this image, after this write ("/"-joined): the catalog keeps them
    rejections: list[str] = field(default_factory=list)


def utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def write_tags(path: Path, request: TagRequest, options: WriteOptions = WriteOptions(),
               *, clock: Callable[[], str] = utc_now) -> WriteResult:
    """Set ``request``'s AI tags (and captions) on ``path``, writing only on a difference.

    Raises a :class:`~xmp.errors.PhotobrainError` subclass naming the file on
    failure; the original is then exactly as it was.
    """
    path = Path(path)
    meta = read_metadata(path)
    mode, note = _choose_mode(path, meta, options)
    through = link_target(path, options.library, "embed") if mode == "embed" else path
    plan = plan_keywords(meta, request, root=options.root, image_name=path.name, now=clock())
    targets, naming_note = _targets(path, meta, mode, options)
    note = note or naming_note
    result = WriteResult(path=path, mode=mode, changed=False, note=note,
                         added=[join(p, SLASH) for p in plan.added],
                         removed=[join(p, SLASH) for p in plan.removed],
                         rejected=[join(p, SLASH) for p in plan.newly_rejected],
                         rejections=[join(p, SLASH) for p in plan.provenance.rejected])
    says_nothing = plan.provenance == Provenance()
    for current in targets:
        if says_nothing and current.provenance == Provenance():
            continue  # no AI tag, no caption, nothing of ours to take out: a photo the model had nothing to say about
        wanted = apply_plan(current, plan)
        if current.label != EMBEDDED and current.signature is None:
            wanted = replace(wanted, extras=copies_for_new_sidecar(meta))
        if owned_view(wanted) == owned_view(current):
            continue
        result.changed = True
        result.targets.append(through if current.label == EMBEDDED else current.path)
        if options.dry_run:
            continue
        if current.label == EMBEDDED:
            _write_embedded(through, current, wanted, keep_mtime=options.keep_mtime, signature=meta.signature,
                            data=meta.data)
        else:
            _write_sidecar(current, wanted, options.library)
    return result


def link_target(path: Path, library: Path | None, what: str) -> Path:
    """The file to write when ``path`` is to be rewritten: itself, or the file a symbolic link points to.

    A rename over a link would replace the link with a regular file (and leave the photo it pointed to
    without the tags), so a link is written through to its target when the target lies in ``library``;
    a link to a file outside the library (or with no library given) is refused.
    """
    if not os.path.islink(path):
        return path
    target = Path(os.path.realpath(path))
    if library is not None:
        inner, outer = os.fsencode(target), os.fsencode(os.path.realpath(library))
        if inner == outer or inner.startswith(outer.rstrip(b"/") + b"/"):
            return target
    hint = ("use --write sidecar or --write auto (a sidecar goes beside the link), or tag the folder that holds "
            "the file" if what == "embed" else "replace the link with the sidecar itself, or move it away")
    raise MetadataWriteError(path, f"a symbolic link to {shown(target)}, outside the library: photobrain does not "
                                   f"write through it", hint)


def is_read_only(path: Path) -> bool:
    """True when the file may not be changed: no write permission, or no write bit at all.

    The second test matters for root, who may write anything: a user who
    removed every write bit meant "leave this file alone".
    """
    try:
        st = path.stat()
    except OSError:
        return True
    return not os.access(path, os.W_OK) or not (st.st_mode & 0o222) or not os.access(path.parent, os.W_OK)


def _choose_mode(path: Path, meta: FileMetadata, options: WriteOptions) -> tuple[Literal["embed", "sidecar"], str | None]:
    if options.mode == "sidecar":
        return "sidecar", None
    embeddable = can_embed(path) and meta.source(EMBEDDED) is not None
    if options.mode == "embed":
        if not embeddable:
            raise MetadataWriteError(path, "this format is not written into by photobrain",
                                     "use --write sidecar (or --write auto) for raw and HEIF files")
        if is_read_only(path):
            raise ReadOnlyError(path, "the file is read-only",
                                "make it writable (chmod u+w) or use --write sidecar / --write auto")
        return "embed", None
    if not embeddable:
        return "sidecar", None
    if is_read_only(path):
        return "sidecar", "the file is read-only: wrote a sidecar instead"
    try:
        link_target(path, options.library, "embed")
    except MetadataWriteError:
        return "sidecar", "the file is a symbolic link to a file outside the library: wrote a sidecar instead"
    return "embed", None


def _targets(path: Path, meta: FileMetadata, mode: str, options: WriteOptions) -> tuple[list[XmpSource], str | None]:
    """The sources to write, and a note when the raw+JPEG rule chose another sidecar name than asked for."""
    if mode == "embed":
        embedded = meta.source(EMBEDDED)
        assert embedded is not None
        return [embedded], None
    names = ["ext", "base"] if options.sidecar_name == "both" else [options.sidecar_name]
    note = None
    owner = base_sidecar_owner(path) if "base" in names else path
    if owner != path:
        base = sidecar_paths(path)["base"].name
        note = (f"{base} belongs to {owner.name}" if owner is not None else
                f"{base} would be shared by several images of this name") + f": wrote {path.name}.xmp instead"
        names = ["ext"]
    targets = []
    for name in names:
        candidate = sidecar_paths(path)[name]
        existing = existing_sidecar(candidate)
        source = next((s for s in meta.sources if existing is not None and s.path == existing), None)
        targets.append(source or XmpSource(label=candidate.name, path=candidate))
    return targets, note


def copies_for_new_sidecar(meta: FileMetadata) -> dict[str, Any]:
    """What a new sidecar carries of the image's other sources (rating, labels, title, rights...): embedded first."""
    extras: dict[str, Any] = {}
    for source in meta.sources:  # embedded first, then the sidecars that exist
        for k, value in source.extras.items():
            extras.setdefault(k, value)
    return extras


def packet_updates(old: XmpSource, new: XmpSource) -> dict[Property, Value | None]:
    """The XMP properties that differ between two states of the owned fields."""
    updates: dict[Property, Value | None] = {}

    def put(prop: Property, before, after, make) -> None:
        if before != after:
            updates[prop] = None if after is None or after == [] and before is None else make(after)

    put((DC, "subject"), old.subject, new.subject, lambda v: Bag(tuple(v)))
    put((LR, "hierarchicalSubject"), old.hierarchical, new.hierarchical, lambda v: Bag(tuple(v)))
    put((DIGIKAM, "TagsList"), old.tags_list, new.tags_list, lambda v: Seq(tuple(v)))
    put((MSPHOTO, "LastKeywordXMP"), old.last_keyword_xmp, new.last_keyword_xmp, lambda v: Bag(tuple(v)))
    put((MEDIAPRO, "CatalogSets"), old.catalog_sets, new.catalog_sets, lambda v: Bag(tuple(v)))
    put((DC, "description"), old.description or None, new.description or None, _lang_alt)
    put((IPTC_CORE, "AltTextAccessibility"), old.alt_text or None, new.alt_text or None, _lang_alt)
    before, after = old.provenance, new.provenance
    put((NAMESPACE_URI, "Tags"), _tag_structs(before) or None, _tag_structs(after) or None, StructBag)
    put((NAMESPACE_URI, "Rejected"), [join(p, SLASH) for p in before.rejected] or None,
        [join(p, SLASH) for p in after.rejected] or None, lambda v: Bag(tuple(v)))
    put((NAMESPACE_URI, "Carried"), [p[0] for p in before.carried] or None,
        [p[0] for p in after.carried] or None, lambda v: Bag(tuple(v)))
    put((NAMESPACE_URI, "Subjects"), before.subjects or None, after.subjects or None, lambda v: Bag(tuple(v)))
    put((NAMESPACE_URI, "Created"), before.created or None, after.created or None, lambda v: Bag(tuple(v)))
    for name in sorted(set(old.extras) | set(new.extras)):
        put(COPIED_PROPERTY[name], old.extras.get(name), new.extras.get(name), _extra_value(name))
    put((NAMESPACE_URI, "Caption"), before.caption, after.caption, Text)
    put((NAMESPACE_URI, "AltText"), before.alt_text, after.alt_text, Text)
    return updates


#: exiv2 key of each property a new sidecar copies -> (namespace URI, name); exiv2's group is the usual prefix
_URI_OF_PREFIX = {prefix: uri for uri, prefix in PREFERRED_PREFIX.items()}
COPIED_PROPERTY = {k: (_URI_OF_PREFIX[k.split(".")[1]], k.split(".")[2]) for k in COPIED}


def _extra_value(name: str) -> Callable[[Any], Value]:
    kind = COPIED[name]
    if kind == "LangAlt":
        return lambda v: _lang_alt(lang_alt_items(v))
    if kind == "Seq":
        return lambda v: Seq(tuple(str(x) for x in (v if isinstance(v, list) else [v])))
    return lambda v: Text(str(v))


def _lang_alt(items: dict[str, str]) -> LangAlt:
    ordered = sorted(items.items(), key=lambda kv: (kv[0] != "x-default", kv[0]))
    return LangAlt(tuple(ordered))


def _tag_structs(prov) -> list:
    structs = []
    for tag in prov.tags:
        fields = [("Path", join(tag.path, SLASH)), ("Score", format_score(tag.score)), ("Source", tag.source),
                  ("Vocab", tag.vocab), ("Date", tag.date), ("Image", tag.image)]
        structs.append(tuple((name, value) for name, value in fields if value))
    return structs if structs else []


def _write_sidecar(current: XmpSource, wanted: XmpSource, library: Path | None = None) -> None:
    sidecar = link_target(current.path, library, "sidecar")
    before: os.stat_result | None = None
    old_data: bytes | None = None
    old_text: str | None = None
    if os.path.lexists(sidecar):
        old_data, before = read_regular(sidecar, limit=MAX_SIDECAR_BYTES, what="sidecar")
        try:
            old_text = old_data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MetadataWriteError(sidecar, f"cannot read the sidecar to update it ({exc})") from exc
    now = None if before is None else stamp(before)
    if now != current.signature:
        raise ConcurrentChangeError(sidecar, "another program changed the sidecar while photobrain was reading it",
                                    "run the command again")
    if old_text is not None and is_read_only(sidecar):
        raise ReadOnlyError(sidecar, "the sidecar is read-only", "make it writable (chmod u+w)")
    try:
        text = update_packet(old_text, packet_updates(current, wanted))
    except PacketError as exc:
        raise MetadataWriteError(sidecar, f"the sidecar is not XMP photobrain can edit safely ({exc})",
                                 "repair or move the sidecar away; it was left untouched") from exc
    data = text.encode("utf-8")

    def verify(temp: Path) -> None:
        check = read_sidecar(temp)
        if owned_view(check) != owned_view(wanted) or check.extras != wanted.extras:
            raise VerificationError(sidecar, "the rewritten sidecar does not read back as written; left untouched")

    _atomic_replace(sidecar, [data], verify, keep_mtime=False, expect=before, expect_data=old_data,
                    create=before is None)


def _write_embedded(path: Path, current: XmpSource, wanted: XmpSource, *, keep_mtime: bool,
                    signature: Stamp | None, data: bytes | None) -> None:
    data, before_stat = image_and_stat(path, None if signature is None else data)
    if signature is not None and signature != stamp(before_stat):
        raise ConcurrentChangeError(path, "another program changed the file while photobrain was reading it",
                                    "run the command again")
    image_before = image_data(path, data)  # raises CorruptImageError for a truncated or damaged file
    header = jpeg_header_length(data) if sniff(data) == "jpeg" else None
    if header is not None:
        _write_jpeg_header(path, data, header, current, wanted, keep_mtime=keep_mtime, before_stat=before_stat)
        return
    out = _edit_metadata(path, data, current, wanted)

    def verify(temp: Path) -> None:
        written = temp.read_bytes()  # read back from disk, not from memory
        try:
            same_image = _same_chunks(image_data(path, written), image_before)
        except CorruptImageError:
            same_image = False
        _check_written(path, temp, written, same_image, wanted)

    _atomic_replace(path, [out], verify, keep_mtime=keep_mtime, expect=before_stat, expect_data=data)


def _write_jpeg_header(path: Path, data: bytes, header: int, current: XmpSource, wanted: XmpSource, *,
                       keep_mtime: bool, before_stat: os.stat_result) -> None:
    """Rewrite a JPEG's metadata header; the rest of the file goes back unchanged, compared byte for byte.

    Everything before a JPEG's first SOS marker is metadata and coding tables: exiv2 edits just that
    (instead of copying megabytes of scan data around), and the scan data and whatever follows it are
    written after the new header as they were.
    """
    new_header = _splice_jpeg_xmp(path, data[:header], current, wanted)
    if new_header is None:  # no packet photobrain can edit as text, or one too large for one segment
        new_header = _exiv2_header(path, data[:header], current, wanted)
    new_header = jpeg_xmp.refresh_iptc_digest(new_header)
    tail = memoryview(data)[header:]
    joint = new_header + bytes(tail[:4])
    if jpeg_header_length(joint) != len(new_header) or jpeg_coding_segments(joint) != jpeg_coding_segments(data):
        raise VerificationError(path, "exiv2 changed the image data (the JPEG's coding tables) while writing metadata; "
                                      "the original was left untouched")

    def verify(temp: Path) -> None:
        with open(temp, "rb") as fh:  # read back from disk, not from memory
            same_image = os.fstat(fh.fileno()).st_size == len(new_header) + len(tail)
            same_image = same_image and fh.read(len(new_header)) == new_header and _reads_as(fh, tail)
        _check_written(path, temp, new_header + b"\xff\xd9", same_image, wanted)

    _atomic_replace(path, [new_header, tail], verify, keep_mtime=keep_mtime, expect=before_stat, expect_data=data)


def _splice_jpeg_xmp(path: Path, head: bytes, current: XmpSource, wanted: XmpSource) -> bytes | None:
    """A JPEG header with the owned properties changed in its XMP packet's own text (see ``jpeg_xmp``).

    IIM keywords, when they change, still go through exiv2; its re-serialised XMP is then replaced by the
    packet edited here. None when the packet is not UTF-8 text or would not fit one segment.
    """
    packet = jpeg_xmp.read_packet(head)
    if packet is None and jpeg_xmp.xmp_segment(head) is not None:
        return None
    try:
        new_packet: str | None = update_packet(packet, packet_updates(current, wanted))
    except PacketError as exc:
        raise MetadataWriteError(path, f"its embedded XMP is not XMP photobrain can edit safely ({exc})",
                                 "use --write sidecar; the file was left untouched") from exc
    if new_packet is not None and PHOTOBRAIN_TOOLKIT in new_packet and jpeg_xmp.is_empty(new_packet):
        new_packet = None  # a packet photobrain created holds nothing any more: the JPEG had none
    if wanted.iptc_keywords is not None and wanted.iptc_keywords != current.iptc_keywords:
        head = _exiv2_header(path, head, current, wanted)  # its XMP is replaced by the packet edited here
    return jpeg_xmp.replace_packet(head, new_packet)


def _exiv2_header(path: Path, head: bytes, current: XmpSource, wanted: XmpSource) -> bytes:
    """A JPEG header (everything before the first scan) with the owned fields changed by exiv2."""
    out = _edit_metadata(path, head + b"\xff\xd9", current, wanted)
    if not out.endswith(b"\xff\xd9"):
        raise MetadataWriteError(path, "exiv2 returned an unexpected JPEG header; the file was left untouched")
    return out[:-2]


def _edit_metadata(path: Path, source: bytes, current: XmpSource, wanted: XmpSource) -> bytes:
    """``source`` (an image, or a JPEG's header) with the owned fields changed from ``current`` to ``wanted``."""
    image = Exiv2Image(path, source)
    try:
        packet = image.read_raw_xmp()
        try:
            new_packet = update_packet(packet or None, packet_updates(current, wanted))
        except PacketError as exc:
            raise MetadataWriteError(path, f"its embedded XMP is not XMP photobrain can edit safely ({exc})",
                                     "use --write sidecar; the file was left untouched") from exc
        image.modify_raw_xmp(new_packet)
        if wanted.iptc_keywords is not None and wanted.iptc_keywords != current.iptc_keywords:
            image.modify_iptc({"Iptc.Application2.Keywords": list(wanted.iptc_keywords)})
        out = image.get_bytes()
    finally:
        image.close()
    return jpeg_xmp.refresh_iptc_digest(out) if sniff(out) == "jpeg" else out


def _check_written(path: Path, temp: Path, written: bytes, same_image: bool, wanted: XmpSource) -> None:
    if not same_image:
        raise VerificationError(path, "exiv2 changed the image data while writing metadata; "
                                      "the original was left untouched")
    check = read_source(temp, written, EMBEDDED)
    if owned_view(check) != owned_view(wanted):
        raise VerificationError(path, "the rewritten file does not read back the keywords written; "
                                      "the original was left untouched")


def _reads_as(fh: io.BufferedReader, expected: memoryview, chunk: int = 1 << 20) -> bool:
    """True when the rest of ``fh`` is exactly ``expected``: read and compared a megabyte at a time.

    Reusing one buffer keeps a 10 MB comparison from allocating (and page-faulting) 10 MB;
    ``bytearray == memoryview`` is a memcmp.
    """
    buffer = bytearray(chunk)
    for start in range(0, len(expected), chunk):
        part = expected[start:start + chunk]
        if len(part) < chunk:
            buffer = bytearray(len(part))
        if fh.readinto(buffer) != len(part) or buffer != part:
            return False
    return fh.read(1) == b""


def _same_chunks(a: list[memoryview], b: list[memoryview]) -> bool:
    """Byte-for-byte equality of two files' image data (what the content hash covers)."""
    # bytes comparison is a memcmp; comparing memoryviews goes element by element
    return len(a) == len(b) and all(bytes(x) == bytes(y) for x, y in zip(a, b, strict=True))


def temp_name(name: str) -> str:
    """The hidden name of a file being written beside ``name``: ``.NAME.PID-RANDOM.photobrain-tmp``.

    The process id lets the next run tell a dead run's leftovers from a live run's; a long name is cut
    (on a character boundary) so the temporary name stays within the 255 bytes file systems allow.
    """
    tail = f".{os.getpid()}-{secrets.token_hex(4)}{TEMP_MARKER}"
    room = 255 - 1 - len(tail)
    while len(os.fsencode(name)) > room:
        name = name[:-1]
    return f".{name}{tail}"


def _atomic_replace(target: Path, chunks: list[bytes | memoryview], verify: Callable[[Path], None], *, keep_mtime: bool,
                    expect: os.stat_result | None = None, expect_data: bytes | None = None,
                    create: bool = False) -> None:
    """Write ``chunks`` (one after another) beside ``target``, check it, then rename it over ``target``.

    ``expect`` is the target's stat when it was read and ``expect_data`` what was read: if either changed
    since (size, mtime, ctime or inode; then the content itself, compared byte for byte just before the
    rename), nothing is replaced. With ``create`` the target must not exist yet.

    A crash at any point leaves either the old file or the new one (plus, at
    worst, a hidden ``.*.photobrain-tmp`` file that is never an original).
    """
    temp = target.with_name(temp_name(target.name))
    try:
        try:
            with open(temp, "xb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            old = target.stat() if target.exists() else None
            if old is not None:
                os.chmod(temp, stat.S_IMODE(old.st_mode))
                try:
                    os.chown(temp, old.st_uid, old.st_gid)
                except PermissionError:
                    pass
                if keep_mtime:
                    os.utime(temp, ns=(old.st_atime_ns, old.st_mtime_ns))
        except OSError as exc:
            raise MetadataWriteError(target, f"cannot write beside the file ({exc.strerror or exc})",
                                     "check the folder is writable and the disk has space") from exc
        verify(temp)
        if expect is not None:
            now = target.stat() if target.exists() else None
            if now is None:
                raise ConcurrentChangeError(target, "another program removed the file while photobrain was writing it",
                                            "run the command again")
            if stamp(now) != stamp(expect) or (expect_data is not None and not _still_holds(target, expect_data)):
                raise ConcurrentChangeError(target, "another program changed the file while photobrain was writing it",
                                            "run the command again")
        try:
            if create:
                _create_from(temp, target)
            else:
                os.replace(temp, target)
        except FileExistsError as exc:
            raise ConcurrentChangeError(target, "another program created the file while photobrain was writing it",
                                        "run the command again") from exc
        except OSError as exc:
            raise MetadataWriteError(target, f"cannot replace the file ({exc.strerror or exc})") from exc
        _fsync_dir(target.parent)
    finally:
        if temp.exists():
            temp.unlink()


def _still_holds(target: Path, data: bytes) -> bool:
    """Whether ``target`` still holds exactly ``data`` (read back in pieces: the page cache has it)."""
    try:
        with open(target, "rb") as fh:
            return _reads_as(fh, memoryview(data))
    except OSError:
        return False


def _create_from(temp: Path, target: Path) -> None:
    """Move ``temp`` to a ``target`` that must not exist, without clobbering one that appeared."""
    try:
        os.link(temp, target)  # atomic, and fails if another program created the target meanwhile
    except FileExistsError:
        raise
    except OSError:
        # no hard links here (FAT, exFAT, some network shares): check, then rename
        if target.exists():
            raise FileExistsError(target) from None
        os.replace(temp, target)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
