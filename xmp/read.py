"""Reading every keyword source of an image: embedded XMP and IPTC, and both sidecar names."""
from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from .errors import CorruptImageError, MetadataReadError
from .exiv2 import Exiv2Image
from .formats import HEIF, IMAGE_SUFFIXES, RAW, sniff, suffix
from .hashing import jpeg_header_length
from .model import AITag, FileMetadata, Provenance, XmpSource
from .paths import SLASH, split
from .regular import MAX_SIDECAR_BYTES, image_and_stat, read_regular, stamp

EMBEDDED = "embedded"

#: What a new sidecar copies from the image's other sources, besides keywords and captions: a photo manager
#: that reads the sidecar (digiKam with sidecars on, darktable on import) sees nothing of the embedded XMP.
#: exiv2 key -> XMP type (namespace URIs in write.py).
COPIED = {
    "Xmp.xmp.Rating": "Text", "Xmp.xmp.Label": "Text", "Xmp.MicrosoftPhoto.Rating": "Text",
    "Xmp.digiKam.ColorLabel": "Text", "Xmp.digiKam.PickLabel": "Text",
    "Xmp.dc.title": "LangAlt", "Xmp.dc.creator": "Seq", "Xmp.dc.rights": "LangAlt",
    "Xmp.xmpRights.UsageTerms": "LangAlt", "Xmp.xmpRights.Marked": "Text", "Xmp.xmpRights.WebStatement": "Text",
    "Xmp.photoshop.Headline": "Text", "Xmp.photoshop.Credit": "Text", "Xmp.photoshop.Source": "Text",
}


def sidecar_paths(image: Path) -> dict[str, Path]:
    """The two sidecar names photo managers use: ``name.ext.xmp`` and ``name.xmp``."""
    return {"ext": image.with_name(image.name + ".xmp"), "base": image.with_suffix(".xmp")}


def base_sidecar_owner(image: Path) -> Path | None:
    """The image that ``name.xmp`` beside ``image`` belongs to, or None when no single image can claim it.

    Lightroom, Capture One and darktable's fallback read ``IMG_1.xmp`` as the raw's when ``IMG_1.CR2``
    and ``IMG_1.JPG`` lie side by side: a raw with that base name owns it. Without a raw it belongs to
    the one image of that name; two non-raw images of one name (``IMG_1.JPG``, ``IMG_1.TIF``) leave it
    to neither, so one image's keywords never reach the other's.
    """
    siblings = same_name_images(image)
    raws = [p for p in siblings if suffix(p) in RAW]
    candidates = raws or siblings
    return candidates[0] if len(candidates) == 1 else None


def same_name_images(image: Path) -> list[Path]:
    """Images beside ``image`` (itself included) with its name before the extension, found by stat alone."""
    found = {image.name: image}
    stem = image.name.rsplit(".", 1)[0] if "." in image.name else image.name
    for ext in IMAGE_SUFFIXES:
        for spelled in (ext, ext.upper()):
            candidate = image.with_name(stem + spelled)
            if candidate.name not in found and candidate.is_file():
                found[candidate.name] = candidate
    return sorted(found.values())


def owns_base_sidecar(image: Path) -> bool:
    """Whether ``name.xmp`` is ``image``'s own (see :func:`base_sidecar_owner`)."""
    return base_sidecar_owner(image) == image


def existing_sidecar(candidate: Path) -> Path | None:
    """``candidate`` or its upper-case ``.XMP`` twin, whichever exists.

    Anything under that name counts, a FIFO or a link to a device too: reading it is then refused with a
    reason, rather than the name being taken for free and written over.
    """
    for path in (candidate, candidate.with_suffix(".XMP")):
        if os.path.lexists(path):
            return path
    return None


def read_metadata(path: Path, data: bytes | None = None) -> FileMetadata:
    """Read the keyword fields of ``path`` from every source it has (``data``: its bytes, if already read).

    Sources come in the order embedded, ``name.ext.xmp``, ``name.xmp``.
    Raises :class:`MetadataReadError` (or :class:`CorruptImageError`) with the
    file's path when the image or one of its sidecars cannot be read.
    """
    path = Path(path)
    data, st = image_and_stat(path, data)
    sources: list[XmpSource] = []
    try:
        sources.append(read_source(path, data, EMBEDDED))
    except CorruptImageError:
        # Raw and HEIF files that exiv2 cannot parse still get sidecars; other formats are broken.
        if suffix(path) not in RAW | HEIF:
            raise
    seen: set[Path] = set()
    for name, candidate in sidecar_paths(path).items():
        sidecar = existing_sidecar(candidate)
        if sidecar is None or sidecar in seen or (name == "base" and not owns_base_sidecar(path)):
            continue  # a name.xmp that belongs to a raw of the same name is that raw's, not this image's
        seen.add(sidecar)
        sources.append(read_sidecar(sidecar))
    return FileMetadata(path=path, sources=sources, signature=stamp(st), data=data)


def read_sidecar(sidecar: Path) -> XmpSource:
    data, st = read_regular(sidecar, limit=MAX_SIDECAR_BYTES, what="sidecar")
    signature = stamp(st)
    if not data.strip():
        return XmpSource(label=sidecar.name, path=sidecar, signature=signature)
    try:
        return replace(read_source(sidecar, data, sidecar.name), signature=signature)
    except CorruptImageError as exc:
        raise MetadataReadError(sidecar, f"the XMP sidecar is not valid XMP ({exc.reason})",
                                "repair or remove the sidecar; photobrain never overwrites one it cannot parse") from exc


def read_source(path: Path, data: bytes, label: str) -> XmpSource:
    if label == EMBEDDED and sniff(data) == "jpeg":
        # A JPEG's metadata all sits before its first scan: exiv2 need not copy megabytes of image data.
        header = jpeg_header_length(data)
        if header is not None:
            data = data[:header] + b"\xff\xd9"
    image = Exiv2Image(path, data)
    try:
        xmp = image.read_xmp()
        iptc = image.read_iptc() if label == EMBEDDED else {}
    finally:
        image.close()
    return source_from_dicts(path, label, xmp, iptc)


def source_from_dicts(path: Path, label: str, xmp: dict[str, Any], iptc: dict[str, Any]) -> XmpSource:
    keywords = iptc.get("Iptc.Application2.Keywords")
    return XmpSource(
        label=label,
        path=path,
        subject=_array(xmp, "Xmp.dc.subject"),
        hierarchical=_array(xmp, "Xmp.lr.hierarchicalSubject"),
        tags_list=_array(xmp, "Xmp.digiKam.TagsList"),
        last_keyword_xmp=_array(xmp, "Xmp.MicrosoftPhoto.LastKeywordXMP"),
        catalog_sets=_array(xmp, "Xmp.mediapro.CatalogSets"),
        iptc_keywords=None if keywords is None else ([keywords] if isinstance(keywords, str) else list(keywords)),
        description=lang_alt_items(xmp.get("Xmp.dc.description")),
        alt_text=lang_alt_items(xmp.get("Xmp.iptc.AltTextAccessibility")),
        rating=xmp.get("Xmp.xmp.Rating"),
        extras={k: xmp[k] for k in COPIED if k in xmp},
        provenance=_provenance(xmp),
    )


def _array(xmp: dict[str, Any], key: str) -> list[str] | None:
    if key not in xmp:
        return None
    value = xmp[key]
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, dict):
        return [str(v) for v in value.values()]
    if isinstance(value, str) and value.startswith('type="'):
        items: list[str] = []
        while f"{key}[{len(items) + 1}]" in xmp:
            items.append(str(xmp[f"{key}[{len(items) + 1}]"]))
        return items
    return [str(value)] if value else []


_LANG = re.compile(r'^lang="([^"]*)"$')


def lang_alt_items(value: Any) -> dict[str, str]:
    """A Lang Alt value as exiv2 reads it, as language -> text."""
    if not value:
        return {}
    if isinstance(value, dict):
        out = {}
        for lang, text in value.items():
            match = _LANG.match(lang)
            out[match.group(1) if match else lang] = str(text)
        return out
    return {"x-default": str(value)}


_NS = "Xmp.photobrain."
_STRUCT = re.compile(r"^Xmp\.photobrain\.Tags\[(\d+)\]/photobrain:(\w+)$")


def _provenance(xmp: dict[str, Any]) -> Provenance:
    fields: dict[int, dict[str, str]] = {}
    for key, value in xmp.items():
        match = _STRUCT.match(key)
        if match:
            fields.setdefault(int(match.group(1)), {})[match.group(2)] = str(value)
    tags = []
    for _, item in sorted(fields.items()):
        if not item.get("Path"):
            continue
        try:
            score = float(item["Score"]) if item.get("Score") else None
        except ValueError:
            score = None
        tags.append(AITag(path=split(item["Path"], SLASH), score=score, source=item.get("Source", ""),
                          vocab=item.get("Vocab", ""), date=item.get("Date", ""), image=item.get("Image", "")))
    caption = xmp.get(_NS + "Caption")
    alt_text = xmp.get(_NS + "AltText")
    return Provenance(
        tags=tags,
        rejected=[split(p, SLASH) for p in _array(xmp, _NS + "Rejected") or []],
        carried=[(k,) for k in _array(xmp, _NS + "Carried") or []],
        subjects=_array(xmp, _NS + "Subjects") or [],
        caption=None if caption is None else str(caption),
        alt_text=None if alt_text is None else str(alt_text),
        created=_array(xmp, _NS + "Created") or [],
    )
