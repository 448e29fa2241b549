"""Vocabularies: the hierarchical concepts photobrain can tag, and how to prompt for them.

File format (``sidecar/data/vocabulary.txt`` is the built-in one)::

    # comment
    @version my-vocab-3              recorded in every tag's provenance
    @extends builtin                 optional: add to (and override) the built-in vocabulary
    @exclude document/book cover    optional: never tag a concept (or anything below it)
    [animal/mammal] {a photo of a {}.; a close-up photo of a {}.}
    dog (puppy, hound), cat (kitten) @0.7
    bat {a photo of a bat, the flying mammal.}
    [food] @0.8

A ``[section]`` names the parent path of the concepts below it and may give
prompt templates (``{}`` stands for the concept); a section without templates
uses its nearest parent section's. A concept is ``name``, optional
``(synonyms)`` that are prompted too, and optional ``{prompts; ...}`` that
replace the templates where a bare word is ambiguous. ``@X`` after a concept
is its own threshold (0-1), in place of ``--threshold``; after a section it is
the threshold of every concept below that path (built-in ones included) that
sets none itself.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
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
    threshold: float | None = None  # its own confidence threshold; None: the run's --threshold
    excluded: bool = False  # never tagged (still scored, so the other concepts' confidences do not move)
    reference: bool = True  # counts for the per-image statistics of the tag rule (see select.py)

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

    def rules_fingerprint(self) -> str:
        """Changes when a per-concept threshold or an exclusion changes (the text embeddings depend on neither)."""
        spec = ";".join(f"{'/'.join(c.path)}={'x' if c.excluded else f'{c.threshold:g}'}" for c in self.concepts
                        if c.threshold is not None or c.excluded)
        return hashlib.sha256(spec.encode()).hexdigest()[:8]

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


_SECTION = re.compile(r"^\[([^\]]+)\]\s*(?:\{(.*)\})?\s*(?:@\s*(\S+))?\s*$")
_ITEM = re.compile(r"^([^(){}@]+?)\s*(?:\(([^)]*)\))?\s*(?:\{([^}]*)\})?\s*(?:@\s*(\S+))?$")


def parse(text: str, source: str) -> Vocabulary:
    version = ""
    extends = False
    section: tuple[str, ...] = ()
    section_templates: dict[tuple[str, ...], tuple[str, ...]] = {}
    section_thresholds: dict[tuple[str, ...], float] = {}
    templates: tuple[str, ...] = DEFAULT_TEMPLATES
    concepts: dict[tuple[str, ...], Concept] = {}
    excluded: list[tuple[tuple[str, ...], int]] = []
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
            elif key == "exclude" and value.strip():
                path = tuple(p for p in (sanitize_component(c) for c in value.split("/")) if p)
                if not path:
                    raise fail("@exclude needs a concept path, e.g. @exclude document/book cover")
                excluded.append((path, number))
            else:
                raise fail(f"unknown directive {line!r} (use @version NAME, @extends builtin or @exclude PATH)")
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
            if match.group(3) is not None:
                section_thresholds[section] = _threshold(match.group(3), fail)
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
            threshold = _threshold(match.group(4), fail) if match.group(4) is not None else None
            concepts[(*section, name)] = Concept((*section, name), synonyms, prompts, templates, threshold)
    base = parse(builtin_text(), BUILTIN) if extends else None
    if base is not None:
        # concepts the user adds do not count for the statistics: the built-in ones' confidences stay as they were
        merged = {c.path: c for c in base.concepts}
        merged.update({p: c if p in merged else replace(c, reference=False) for p, c in concepts.items()})
        concepts = merged
    # a section's threshold holds for every concept below it (the built-in ones too) that sets none itself
    for path, concept in list(concepts.items()):
        if concept.threshold is None:
            inherited = next((section_thresholds[path[:i]] for i in range(len(path), 0, -1)
                              if path[:i] in section_thresholds), None)
            if inherited is not None:
                concepts[path] = replace(concept, threshold=inherited)
    for path, number in excluded:
        below = [p for p in concepts if p[:len(path)] == path]
        if not below:
            raise VocabularyError(source, f"line {number}: @exclude {'/'.join(path)} matches no concept",
                                  "check the path ('photobrain vocab show' lists them)")
        for p in below:
            concepts[p] = replace(concepts[p], excluded=True)
    if not concepts:
        raise VocabularyError(source, "the vocabulary defines no concepts", "see 'Vocabulary files' in the README")
    if base is not None:
        return Vocabulary(version=f"{base.version}+{version or 'user'}", concepts=tuple(concepts.values()),
                          sources=(BUILTIN, source))
    return Vocabulary(version=version or "user", concepts=tuple(concepts.values()), sources=(source,))


def _threshold(text: str, fail) -> float:
    try:
        value = float(text)
    except ValueError:
        raise fail(f"threshold {text!r} is not a number (write e.g. @0.7)") from None
    if not 0 <= value <= 1:
        raise fail(f"threshold {value:g} is outside 0-1")
    return value


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


def describe(vocab: Vocabulary) -> dict:
    """What a vocabulary holds, for ``photobrain vocab show|check`` (and their --json)."""
    top = sorted({c.path[0] for c in vocab.concepts})
    return {
        "version": vocab.version,
        "sources": list(vocab.sources),
        "concepts": len(vocab.concepts),
        "top_level": {name: sum(1 for c in vocab.concepts if c.path[0] == name) for name in top},
        "own_thresholds": sum(1 for c in vocab.concepts if c.threshold is not None),
        "excluded": sum(1 for c in vocab.concepts if c.excluded),
        "entries": [{"path": "/".join(c.path), "synonyms": list(c.synonyms), "prompts": list(c.prompt_texts()),
                     "threshold": c.threshold, "excluded": c.excluded} for c in vocab.concepts],
    }
