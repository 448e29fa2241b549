"""The vocabulary and the tag-selection rule."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sidecar.select import SelectionRule, confidences, select
from sidecar.vocab import Concept, VocabularyError, load_vocabulary, parse


def test_builtin_vocabulary_is_large_hierarchical_and_prompted():
    vocab = load_vocabulary()
    assert len(vocab) >= 1000
    tops = {c.path[0] for c in vocab.concepts}
    assert {"people", "animal", "plant", "food", "object", "place", "event", "activity", "light", "weather",
            "season", "style", "composition", "document"} <= tops
    paths = {c.path for c in vocab.concepts}
    assert ("animal", "mammal", "dog") in paths and ("style", "black and white") in paths
    assert ("composition", "macro") in paths and ("style", "minimalism") in paths
    bat = next(c for c in vocab.concepts if c.path == ("animal", "mammal", "bat"))
    assert bat.prompt_texts() == ("a photo of a bat, the flying mammal.",)
    dog = next(c for c in vocab.concepts if c.path == ("animal", "mammal", "dog"))
    assert "a photo of a puppy." in dog.prompt_texts()  # synonyms are prompted too
    assert all("|" not in part and "/" not in part for c in vocab.concepts for part in c.path)


def test_user_vocabulary_replaces_or_extends(tmp_path: Path):
    own = tmp_path / "mine.txt"
    own.write_text("@version family-1\n[family] {a photo of {}.}\ngrandma's garden, our boat (the Molly)\n")
    vocab = load_vocabulary(own)
    assert vocab.version == "family-1" and len(vocab) == 2
    assert vocab.concepts[1].prompt_texts() == ("a photo of our boat.", "a photo of the Molly.")
    own.write_text("@extends builtin\n@version family-2\n[family]\nour boat\n")
    extended = load_vocabulary(own)
    assert len(extended) == len(load_vocabulary()) + 1 and extended.version.endswith("+family-2")
    assert extended.fingerprint() != load_vocabulary().fingerprint()


@pytest.mark.parametrize("text,message", [
    ("dog\n", "line 1: a concept before any [section]"),
    ("[a] {no placeholder}\ndog\n", "line 1: every section template needs {}"),
    ("[a]\n(only synonyms)\n", "line 2: cannot read"),
    ("@frobnicate yes\n", "line 1: unknown directive"),
    ("# nothing\n", "defines no concepts"),
])
def test_vocabulary_errors_name_the_file_and_line(tmp_path: Path, text: str, message: str):
    bad = tmp_path / "bad.txt"
    bad.write_text(text)
    with pytest.raises(VocabularyError) as err:
        load_vocabulary(bad)
    assert message in err.value.reason and err.value.path == str(bad)


def make_vocab(*paths):
    return parse("\n".join(f"[{'/'.join(p[:-1]) or 'x'}]\n{p[-1]}" for p in paths), "test")


def test_multi_label_rule_keeps_every_concept_that_stands_out():
    concepts = np.eye(40, dtype=np.float32)
    vocab = parse("[t]\n" + ", ".join(f"c{i:02d}" for i in range(40)), "test")
    image = np.zeros((1, 40), dtype=np.float32)
    image[0, [3, 7]] = 0.7  # two things in the picture, equally
    image /= np.linalg.norm(image)
    (tags,) = select(image, concepts, vocab, SelectionRule(threshold=0.5, max_tags=10))
    assert [t.path[-1] for t in tags] == ["c03", "c07"]  # both, not a top-1 winner; ties by path
    assert all(0.5 <= t.score <= 1 for t in tags)
    (capped,) = select(image, concepts, vocab, SelectionRule(threshold=0.5, max_tags=1))
    assert [t.path[-1] for t in capped] == ["c03"]
    (none,) = select(np.full((1, 40), 1 / np.sqrt(40), dtype=np.float32), concepts, vocab, SelectionRule())
    assert none == []  # nothing stands out: no tags, not the least-bad one


def test_a_tagged_concept_implies_its_parent_concepts():
    filler = ", ".join(f"thing{i:02d}" for i in range(30))
    vocab = parse(f"[animal]\ndog\n[animal/dog]\nbeagle\n[animal]\ncat\n[object]\n{filler}\n", "test")
    concepts = np.eye(33, dtype=np.float32)
    image = np.zeros((1, 33), dtype=np.float32)
    image[0, 1] = 1.0  # a beagle
    rule = SelectionRule(threshold=0.5)
    (tags,) = select(image, concepts, vocab, rule)
    assert [(t.path, t.implied) for t in tags] == [(("animal", "dog"), True), (("animal", "dog", "beagle"), False)]
    assert confidences(image, concepts, rule).shape == (1, 33)


def test_concept_prompt_defaults():
    assert Concept(("a", "tree")).prompt_texts() == ("a photo of tree.", "a photo of a tree.")
