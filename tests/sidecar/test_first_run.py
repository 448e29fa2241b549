"""The first hour: the vocabulary prepared once (with progress, per prompt), the text tower without torch,
the weights' download (progress, its source named, a fast failure offline), and output that says what happened."""
from __future__ import annotations

import http.server
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, SAMPLES

from sidecar.brains.spec import ModelSpec
from sidecar.progress import Progress
from sidecar.tagger import TagOptions, run_tag
from sidecar.vocab import load_vocabulary
from sidecar.vocab_embed import PromptCache, concepts_for, ensure_tower, prompts_of


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch, tiny_model):
    """A user who never ran photobrain: an empty cache (no prepared vocabulary, no text tower)."""
    monkeypatch.setenv("PHOTOBRAIN_CACHE", str(tmp_path / "fresh-cache"))
    monkeypatch.setenv("PHOTOBRAIN_CONFIG", str(tmp_path / "none.toml"))
    library = tmp_path / "library"
    shutil.copytree(SAMPLES / "animals", library)
    return tmp_path


def spec_of(tiny_model) -> ModelSpec:
    return ModelSpec(str(tiny_model.config_path), tiny_model.checkpoint_path, "tiny")


def options(env: Path, tiny_model, **overrides) -> TagOptions:
    settings = dict(paths=(env / "library",), catalog=env / "catalog.db", model=str(tiny_model.config_path),
                    pretrained=str(tiny_model.checkpoint_path), threshold=0.05, jobs=1, write="sidecar")
    settings.update(overrides)
    return TagOptions(**settings)


def test_the_first_run_prepares_the_vocabulary_with_its_own_progress_and_an_edit_encodes_only_new_prompts(
        fresh, tiny_model):
    prompts = prompts_of(load_vocabulary())
    stream, said = io.StringIO(), []
    result = run_tag(options(fresh, tiny_model), progress=Progress(stream, enabled=True), log=said.append)
    drawn = stream.getvalue()
    unique = len(set(prompts))
    assert any(f"{unique} prompts of {len(load_vocabulary())} concepts; this happens once" in m for m in said)
    # a progress line of its own, finished before the first photo's: no bar stuck at 0/N while it works
    assert f"preparing the vocabulary [{'#' * 30}] {unique}/{unique}" in drawn
    assert drawn.index(f"{unique}/{unique}") < drawn.index("tagging [")
    assert result.preparation_seconds > 0
    seconds = result.seconds - result.preparation_seconds
    assert result.to_dict()["images_per_second"] == round(result.embedded / seconds, 2)  # the vocabulary left out

    # a vocabulary that adds one concept to the built-in one encodes that concept's prompts, nothing else
    vocab = fresh / "mine.txt"
    vocab.write_text("@extends builtin\n[animal/mammal]\naxolotl (mexican walking fish)\n")
    said.clear()
    run_tag(options(fresh, tiny_model, vocab=vocab), log=said.append)
    assert any("4 new prompts of 1931 concepts" in m for m in said), said
    assert len(PromptCache(spec_of(tiny_model).fingerprint()).vectors) == unique + 4
    said.clear()
    run_tag(options(fresh, tiny_model, vocab=vocab, threshold=0.06), log=said.append)
    assert not any("preparing the vocabulary" in m for m in said)  # everything is cached now


def test_the_text_tower_gives_torchs_embeddings_without_importing_torch(fresh, tiny_model):
    from sidecar.brains.local import LocalBrain
    from sidecar.select import concept_matrix

    spec = spec_of(tiny_model)
    vocab = load_vocabulary()
    prepared = concepts_for(spec, spec.fingerprint(), vocab)  # torch in a child, shared openings computed once
    by_torch = concept_matrix(LocalBrain(spec).embed_texts(prompts_of(vocab)), vocab)  # every prompt whole
    assert float((prepared * by_torch).sum(axis=1).min()) >= 0.99999
    assert ensure_tower(spec, spec.fingerprint())
    meta = json.loads(next((fresh / "fresh-cache" / "text").glob("*-tower1/meta.json")).read_text())
    assert meta["ok"] and meta["min_cosine"] >= 0.99999
    from sidecar.brains.text_tower import load_tower

    by_tower = concept_matrix(load_tower(spec.fingerprint()).embed_texts(prompts_of(vocab)), vocab)
    assert float((by_tower * by_torch).sum(axis=1).min()) >= 0.99999

    queries = ["red bicycle against a sunset", "Crème brûlée &amp; café", "東京の夜景", "🐕 dog!!", "  two   spaces ",
               "<start_of_text> x", "it's a DOG's life", " ".join(["very long"] * 60)]
    code = ("import json, sys; from sidecar.brains.text_tower import load_tower; "
            f"t = load_tower({spec.fingerprint()!r}); v = t.embed_texts(json.loads(sys.argv[1])); "
            "print(json.dumps({'v': v.tolist(), 'torch': 'torch' in sys.modules, 'open_clip': 'open_clip' in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(queries)], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert not answer["torch"] and not answer["open_clip"]
    cosine = (np.array(answer["v"], dtype=np.float32) * LocalBrain(spec).embed_texts(queries)).sum(axis=1)
    assert float(cosine.min()) >= 0.99999, cosine


def test_the_clip_tokenizer_without_torch_gives_open_clips_tokens():
    import open_clip.tokenizer

    from sidecar.brains.clip_tokens import ClipTokenizer

    theirs = open_clip.tokenizer.SimpleTokenizer()
    ours = ClipTokenizer(Path(open_clip.tokenizer.default_bpe()))
    texts = ["a photo of a dog.", "Crème brûlée &amp; café", "東京の夜景", "🐕 dog!!", "MiXeD CaSe 123 4.5",
             "it's we'll they're", "<end_of_text> inside", "a\tb\nc", " ".join(["word"] * 100), ""]
    for text, row in zip(texts, theirs(texts), strict=True):
        tokens = ours.encode(text)
        assert row[:len(tokens)].tolist() == tokens and not row[len(tokens):].any(), text


def test_a_tower_that_failed_its_check_is_not_used(fresh, tiny_model):
    from sidecar.brains import text_tower

    spec = spec_of(tiny_model)
    assert ensure_tower(spec, spec.fingerprint())
    files = text_tower.tower_files(spec.fingerprint())
    meta = json.loads(files.meta.read_text())
    files.meta.write_text(json.dumps({**meta, "ok": False, "reason": "did not match"}))
    assert text_tower.load_tower(spec.fingerprint()) is None  # search and the service use torch instead


# --- the download ------------------------------------------------------------------------------------------

class _Hub(http.server.BaseHTTPRequestHandler):
    """A stand-in for the model hub: one file under the default model's repository, safetensors missing."""

    payload = b""
    cut_after: int | None = None

    def do_GET(self):
        if not self.path.endswith("/resolve/main/open_clip_pytorch_model.bin"):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload[:self.cut_after] if self.cut_after else self.payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def hub(monkeypatch, tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("PHOTOBRAIN_CACHE", str(tmp_path / "cache"))
    _Hub.payload, _Hub.cut_after = os.urandom(3_000_000), None
    yield server
    server.shutdown()


def test_the_download_shows_its_progress_and_names_its_source(hub):
    from sidecar.models import cached_models, pull

    stream, said = io.StringIO(), []
    cached = pull("ViT-B-32-256", "datacomp_s34b_b86k", log=said.append, progress=Progress(stream, enabled=True,
                                                                                             label="downloading", unit="MB"))
    port = hub.server_address[1]
    assert any(f"(3 MB) from http://127.0.0.1:{port}/laion/" in m for m in said), said
    assert "downloading [" in stream.getvalue() and "3/3" in stream.getvalue()
    assert cached.path.read_bytes() == _Hub.payload
    assert [(m.architecture, m.pretrained) for m in cached_models()] == [("ViT-B-32-256", "datacomp_s34b_b86k")]


def test_a_download_cut_off_keeps_nothing_half_written(hub):
    from sidecar.models import ModelError, cached_models, pull

    _Hub.cut_after = 1_000_000
    with pytest.raises(ModelError, match="ended after 1000000 of 3000000 bytes|broke off"):
        pull("ViT-B-32-256", "datacomp_s34b_b86k", log=lambda m: None)
    assert cached_models() == []
    assert not [p for p in (Path(os.environ["PHOTOBRAIN_CACHE"]) / "models").rglob("*") if p.is_file()]


def test_offline_the_first_tag_fails_at_once_naming_the_host_before_importing_torch(tmp_path):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: connection refused, as offline
    shutil.copytree(SAMPLES / "animals", tmp_path / "library")
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{port}", "PHOTOBRAIN_CACHE": str(tmp_path / "cache"),
           "PHOTOBRAIN_CONFIG": str(tmp_path / "none.toml"), "PHOTOBRAIN_CATALOG": str(tmp_path / "catalog.db")}
    env.pop("HF_HUB_OFFLINE", None)  # (this test process's model loads set it)
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "sidecar", "tag", str(tmp_path / "library")],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 1
    assert "cannot reach 127.0.0.1 to download the weights of ViT-B-32-256/datacomp_s34b_b86k" in out.stderr
    assert "--pretrained FILE" in out.stderr
    imported = {line.rsplit("|", 1)[1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    assert "torch" not in imported and "open_clip" not in imported


def test_workers_are_as_many_as_free_memory_holds_and_the_peak_is_reported(tiny_clip, tmp_path, monkeypatch):
    import sidecar.memory

    monkeypatch.setenv("PHOTOBRAIN_CACHE", str(tmp_path / "cache"))
    shutil.copytree(SAMPLES / "animals", tmp_path / "library")
    each = sidecar.memory.worker_memory(spec_of(tiny_clip), 250)
    monkeypatch.setattr(sidecar.memory, "available_memory", lambda: 600_000_000 + int(1.5 * each))
    said: list[str] = []
    result = run_tag(options(tmp_path, tiny_clip, jobs=None), log=said.append)
    cores = os.cpu_count() or 1
    assert result.jobs == 1 and not result.failed
    if cores > 1:
        assert any(f"1 worker(s) rather than {cores}" in m for m in said), said
    assert result.memory["main"] > 50_000_000 and result.to_dict()["memory"]["total"] >= result.memory["main"]


def test_prompts_that_open_alike_share_the_opening_and_give_the_same_embeddings(tiny_model):
    from sidecar.brains.local import LocalBrain

    brain = LocalBrain(spec_of(tiny_model))
    prompts = sorted(prompts_of(load_vocabulary()))[:700] + ["a dog!", "!!!", "a photo of a cat! at night."]
    shared = brain.embed_prompts(prompts)
    assert brain._shared_ok is True  # the shared computation passed its own check: it is what ran
    whole = brain.embed_texts(prompts)
    assert float((shared * whole).sum(axis=1).min()) >= 0.99999
