"""Plain data: what a file's metadata says, and what photobrain wants written."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .regular import Stamp

#: photobrain's own XMP namespace.  Stable: changing it orphans every tag ever written.
NAMESPACE_URI = "https://photobrain.dev/ns/xmp/1.0/"
NAMESPACE_PREFIX = "photobrain"

TagPath = tuple[str, ...]
"""A hierarchical keyword as its components, e.g. ``("AI", "animal", "dog")``."""


@dataclass(frozen=True)
class AITag:
    """One tag photobrain wrote, with where it came from."""

    path: TagPath
    score: float | None = None
    source: str = ""
    vocab: str = ""
    date: str = ""
    #: File name of the image the tag describes; set in sidecars, which two images may share.
    image: str = ""

    @property
    def leaf(self) -> str:
        return self.path[-1]


@dataclass
class Provenance:
    """photobrain's record of what it put into one XMP source (``photobrain:*`` keys)."""

    tags: list[AITag] = field(default_factory=list)
    #: AI tags the user deleted in their photo manager: never added again.
    rejected: list[TagPath] = field(default_factory=list)
    #: User flat keywords photobrain copied into the hierarchical fields.
    carried: list[TagPath] = field(default_factory=list)
    #: Leaves photobrain added to dc:subject (and IIM keywords): removable again.
    subjects: list[str] = field(default_factory=list)
    #: Caption and alt text as photobrain wrote them; a user edit makes them the user's.
    caption: str | None = None
    alt_text: str | None = None
    #: Keyword fields photobrain added to this (existing) source, e.g. "digiKam:TagsList" holding copies of
    #: the user's lr:hierarchicalSubject: untag takes them out again.
    created: list[str] = field(default_factory=list)


@dataclass
class XmpSource:
    """The keyword-related fields of one place metadata lives: embedded XMP/IPTC or a sidecar.

    ``None`` means the field is absent; an empty list means present but empty.
    """

    label: str  # "embedded", or the sidecar's file name
    path: Path
    subject: list[str] | None = None             # dc:subject (Bag of leaves)
    hierarchical: list[str] | None = None        # lr:hierarchicalSubject ("|")
    tags_list: list[str] | None = None           # digiKam:TagsList ("/")
    last_keyword_xmp: list[str] | None = None    # MicrosoftPhoto:LastKeywordXMP ("/")
    catalog_sets: list[str] | None = None        # mediapro:CatalogSets ("|")
    iptc_keywords: list[str] | None = None       # IPTC IIM Keywords (embedded only)
    description: dict[str, str] = field(default_factory=dict)  # dc:description, lang -> text
    alt_text: dict[str, str] = field(default_factory=dict)     # Iptc4xmpCore:AltTextAccessibility
    rating: str | None = None
    provenance: Provenance = field(default_factory=Provenance)
    #: Properties a new sidecar copies from the image's other sources (rating, labels, title, rights...), as
    #: exiv2 reads them: key -> value.
    extras: dict[str, Any] = field(default_factory=dict)
    #: The sidecar's stamp when read (size, mtime, ctime, inode: ``regular.stamp``); a write checks it did not change.
    signature: Stamp | None = None


@dataclass
class FileMetadata:
    """Everything photobrain reads about one image, from all of its sources."""

    path: Path
    sources: list[XmpSource]
    #: The image's stamp when it was read (``regular.stamp``): a write checks nothing changed since.
    signature: Stamp | None = None
    #: The image file's bytes as read, so a write need not read it again.
    data: bytes | None = field(default=None, repr=False, compare=False)

    def source(self, label: str) -> XmpSource | None:
        return next((s for s in self.sources if s.label == label), None)


@dataclass(frozen=True)
class TagRequest:
    """What photobrain wants a file to carry.

    ``tags`` is the complete set of AI tags for this image (paths under the
    AI root); earlier photobrain tags not in it are removed.  ``caption`` and
    ``alt_text`` of None leave captions as they are.
    """

    tags: tuple[AITag, ...] = ()
    caption: str | None = None
    alt_text: str | None = None
    caption_source: str = ""
    #: AI paths (with the root) the user rejected, as the catalog remembers them: never written, like the
    #: ``photobrain:Rejected`` of the file itself (which an ``untag`` removes).
    rejected: tuple[TagPath, ...] = ()
    #: Forget every rejection (the file's and ``rejected``): rejected tags may come back.
    forget_rejections: bool = False
