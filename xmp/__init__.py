"""Reading and writing keywords, captions and provenance the way photo managers read them.

The public API::

    read_metadata(path) -> FileMetadata        every keyword source of an image
    write_tags(path, TagRequest, WriteOptions) set photobrain's AI tags, atomically
    plan_keywords(...)                          the pure merge behind write_tags
    content_hash(path)                          a hash of the image data only
"""
from .errors import (
                     ConcurrentChangeError,
                     CorruptImageError,
                     MetadataReadError,
                     MetadataWriteError,
                     PhotobrainError,
                     ReadOnlyError,
                     VerificationError,
)
from .formats import EMBEDDABLE, HEIF, IMAGE_SUFFIXES, RAW, can_embed, is_image
from .hashing import content_hash
from .model import NAMESPACE_PREFIX, NAMESPACE_URI, AITag, FileMetadata, Provenance, TagRequest, XmpSource
from .plan import KeywordPlan, plan_keywords
from .read import EMBEDDED, read_metadata, sidecar_paths
from .view import KeywordSummary, summarize
from .write import WriteOptions, WriteResult, write_tags

__all__ = [
    "AITag", "ConcurrentChangeError", "CorruptImageError", "EMBEDDABLE", "EMBEDDED", "FileMetadata", "HEIF",
    "IMAGE_SUFFIXES", "KeywordPlan", "KeywordSummary", "MetadataReadError", "MetadataWriteError", "NAMESPACE_PREFIX",
    "NAMESPACE_URI", "PhotobrainError", "Provenance", "RAW", "ReadOnlyError", "TagRequest", "VerificationError",
    "WriteOptions", "WriteResult", "XmpSource", "can_embed", "content_hash", "is_image", "plan_keywords",
    "read_metadata", "sidecar_paths", "summarize", "write_tags",
]
