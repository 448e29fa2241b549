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


def test_concepts_and_sections_can_have_their_own_threshold_and_exclusions_are_never_tagged():
    text = ("[a] @0.9\n" + ", ".join(f"n{i}" for i in range(200)) + "\nstrict @0.99, lenient @0.2\n"
            "[b]\nplain, gone\n@exclude b/gone\n")
    vocab = parse(text, "test.txt")
    by_path = {"/".join(c.path): c for c in vocab.concepts}
    assert by_path["a/strict"].threshold == 0.99 and by_path["a/lenient"].threshold == 0.2
    assert by_path["a/n0"].threshold == 0.9 and by_path["b/plain"].threshold is None and by_path["b/gone"].excluded
    # one image, one concept per axis: background concepts near 0, five that stand out by chosen amounts
    concepts = np.eye(len(vocab), dtype=np.float32)
    image = np.random.default_rng(0).normal(0, 0.1, len(vocab)).astype(np.float32)
    standout = {"a/strict": 0.55, "a/lenient": 0.3, "a/n0": 0.4, "b/plain": 0.5, "b/gone": 0.5}
    for i, concept in enumerate(vocab.concepts):
        image[i] = standout.get("/".join(concept.path), image[i])
    (p,) = confidences(image[None, :], concepts, SelectionRule())
    row = dict(zip(by_path, p, strict=True))
    assert 0.9 < row["a/strict"] < 0.99 and 0.5 < row["a/n0"] < 0.9 and 0.2 < row["a/lenient"] < 0.5
    assert row["b/plain"] > 0.5 and row["b/gone"] > 0.5
    (chosen,) = select(image[None, :], concepts, vocab, SelectionRule(threshold=0.5, max_tags=50))
    # lenient passes its own 0.2; strict and n0 stand out past 0.5 but not past their own or their section's
    assert {"/".join(t.path) for t in chosen} == {"a/lenient", "b/plain"}


def test_concepts_a_user_adds_leave_every_other_confidence_as_it_was(tmp_path: Path):
    base = load_vocabulary()
    extended_file = tmp_path / "more.txt"
    extended_file.write_text("@extends builtin\n@exclude animal/mammal/dog\n[family]\ngrandma, our boat\n")
    extended = load_vocabulary(extended_file)
    rng = np.random.default_rng(0)
    vectors = {c.path: v for c, v in zip(extended.concepts, rng.standard_normal((len(extended), 16)), strict=True)}
    image = rng.standard_normal((1, 16)).astype(np.float32)
    matrix = lambda vocab: np.stack([vectors[c.path] for c in vocab.concepts]).astype(np.float32)  # noqa: E731
    (before,) = confidences(image, matrix(base), SelectionRule())
    (after,) = confidences(image, matrix(extended), SelectionRule(),
                           np.array([c.reference for c in extended.concepts]))
    assert np.allclose(after[:len(base)], before)
    (chosen,) = select(image, matrix(extended), extended, SelectionRule(threshold=0.0, max_tags=5000))
    assert ("animal", "mammal", "dog") not in {t.path for t in chosen}


@pytest.mark.parametrize("text,message", [
    ("[a]\ndog @1.5\n", "line 2: threshold 1.5 is outside 0-1"),
    ("[a] @high\ndog\n", "line 1: threshold 'high' is not a number"),
    ("[a]\ndog\n@exclude a/cat\n", "line 3: @exclude a/cat matches no concept"),
])
def test_threshold_and_exclusion_errors_name_the_line(text: str, message: str):
    with pytest.raises(VocabularyError) as err:
        parse(text, "v.txt")
    assert message in err.value.reason and err.value.path == "v.txt"


def test_vocab_check_and_show_on_the_command_line(tmp_path: Path):
    import subprocess
    import sys


    good = tmp_path / "good.txt"
    good.write_text("@version mine-2\n[pets] {a photo of {}.}\nRex (our dog) @0.7, Tom\n@exclude pets/Tom\n")
    bad = tmp_path / "bad.txt"
    bad.write_text("[pets]\nRex (our dog\n")
    run = lambda *a: subprocess.run([sys.executable, "-m", "sidecar", "vocab", *a], capture_output=True,  # noqa: E731
                                    text=True)
    out = run("check", str(good))
    assert out.returncode == 0 and "ok; version mine-2, 2 concepts" in out.stdout and "1 excluded" in out.stdout
    out = run("check", str(bad))
    assert out.returncode == 1 and f"error: {bad}: line 2:" in out.stderr
    out = run("show", str(good))
    assert "pets/Rex (our dog) @0.7" in out.stdout and "pets/Tom  (excluded)" in out.stdout
    assert len(run("show").stdout.splitlines()) == len(load_vocabulary()) + 1
