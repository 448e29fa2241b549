"""Vocabularies: the hierarchical concepts photobrain can tag, and how to prompt for them.

File format (``sidecar/data/vocabulary.txt`` is the built-in one)::

    # comment
    @version my-vocab-3              recorded in every tag's provenance
    @extends builtin                 optional: add to (and override) the built-in vocabulary
    [animal/mammal] {a photo of a {}.; a close-up photo of a {}.}
    dog (puppy, hound), cat (kitten)
    bat {a photo of a bat, the flying mammal.}

A ``[section]`` names the parent path of the concepts below it and may give
prompt templates (``{}`` stands for the concept); a section without templates
uses its nearest parent section's. A concept is ``name``, optional
``(synonyms)`` that are prompted too, and optional ``{prompts; ...}`` that
replace the templates where a bare word is ambiguous.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from xmp.errors import PhotobrainError
from xmp.paths import sanitize_component

DEFAULT_TEMPLATES = ("a photo of {}.", "a photo of a {}.")
BUILTIN = "builtin"


class VocabularyError(PhotobrainError):
    """A vocabulary file that cannot be used; the message names the line."""


@dataclass(frozen=True)
class Concept:
    path: tuple[str, ...]  # relative to the AI root, e.g. ("animal", "mammal", "dog")
    synonyms: tuple[str, ...] = ()
    prompts: tuple[str, ...] = ()
    templates: tuple[str, ...] = DEFAULT_TEMPLATES

    @property
    def name(self) -> str:
        return self.path[-1]

    def prompt_texts(self) -> tuple[str, ...]:
        """The prompt ensemble whose mean text embedding stands for this concept."""
        if self.prompts:
            return self.prompts
        words = (self.name, *self.synonyms)
        return tuple(template.format(word) for word in words for template in self.templates)


@dataclass(frozen=True)
class Vocabulary:
    version: str
    concepts: tuple[Concept, ...]
    sources: tuple[str, ...] = field(default=(BUILTIN,))

    def fingerprint(self) -> str:
        """Changes whenever a concept or a prompt changes: keys the text-embedding cache."""
        digest = hashlib.sha256(self.version.encode())
        for concept in self.concepts:
            digest.update("\x1f".join(concept.path).encode() + b"\x1e")
            digest.update("\x1f".join(concept.prompt_texts()).encode() + b"\x1d")
        return digest.hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.concepts)


def builtin_text() -> str:
    return resources.files("sidecar").joinpath("data/vocabulary.txt").read_text(encoding="utf-8")


def load_vocabulary(path: Path | None = None) -> Vocabulary:
    """The built-in vocabulary, or the one in ``path`` (which may extend the built-in one)."""
    if path is None:
        return parse(builtin_text(), BUILTIN)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VocabularyError(path, f"cannot read the vocabulary file ({exc})", "check the --vocab path") from exc
    return parse(text, str(path))


_SECTION = re.compile(r"^\[([^\]]+)\]\s*(?:\{(.*)\})?\s*$")
_ITEM = re.compile(r"^([^(){}]+?)\s*(?:\(([^)]*)\))?\s*(?:\{([^}]*)\})?$")


def parse(text: str, source: str) -> Vocabulary:
    version = ""
    extends = False
    section: tuple[str, ...] = ()
    section_templates: dict[tuple[str, ...], tuple[str, ...]] = {}
    templates: tuple[str, ...] = DEFAULT_TEMPLATES
    concepts: dict[tuple[str, ...], Concept] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue

        def fail(reason: str, number: int = number) -> VocabularyError:
            return VocabularyError(source, f"line {number}: {reason}", "see 'Vocabulary files' in the README")

        if line.startswith("@"):
            key, _, value = line[1:].partition(" ")
            if key == "version" and value.strip():
                version = value.strip()
            elif key == "extends" and value.strip() == BUILTIN:
                extends = True
            else:
                raise fail(f"unknown directive {line!r} (use @version NAME or @extends builtin)")
            continue
        match = _SECTION.match(line)
        if match:
            section = tuple(p for p in (sanitize_component(c) for c in match.group(1).split("/")) if p)
            if not section:
                raise fail("empty section name")
            if match.group(2) is not None:
                templates = _split_prompts(match.group(2))
                if not templates or any("{}" not in t for t in templates):
                    raise fail("every section template needs {} where the concept goes")
            else:
                templates = next((section_templates[section[:i]] for i in range(len(section), 0, -1)
                                  if section[:i] in section_templates), DEFAULT_TEMPLATES)
            section_templates[section] = templates
            continue
        if not section:
            raise fail("a concept before any [section]")
        for item in _split_items(line):
            match = _ITEM.match(item)
            if not match:
                raise fail(f"cannot read {item!r} (expected: name (synonyms) {{prompts}})")
            name = sanitize_component(match.group(1))
            if not name:
                raise fail(f"empty concept name in {item!r}")
            synonyms = tuple(s.strip() for s in (match.group(2) or "").split(",") if s.strip())
            prompts = _split_prompts(match.group(3) or "")
            concepts[(*section, name)] = Concept((*section, name), synonyms, prompts, templates)
    if not concepts:
        raise VocabularyError(source, "the vocabulary defines no concepts", "see 'Vocabulary files' in the README")
    if extends:
        base = parse(builtin_text(), BUILTIN)
        merged = {c.path: c for c in base.concepts}
        merged.update(concepts)
        return Vocabulary(version=f"{base.version}+{version or 'user'}", concepts=tuple(merged.values()),
                          sources=(BUILTIN, source))
    return Vocabulary(version=version or "user", concepts=tuple(concepts.values()), sources=(source,))


def _split_prompts(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(";") if p.strip())


def _split_items(line: str) -> list[str]:
    items: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in line:
        if ch in "({":
            depth += 1
        elif ch in ")}":
            depth -= 1
        if ch == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    items.append("".join(current).strip())
    return [item for item in items if item]
