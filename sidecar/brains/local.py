"""The on-device brain: an open_clip model on torch. The only module that imports them.

Weights come from a local checkpoint file: either one the user names with
``--pretrained FILE`` or one ``photobrain models pull`` downloaded into the
cache. Loading never opens a network connection.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .spec import ModelError, ModelSpec


def _open_clip() -> Any:
    # Weights are always local files; this keeps any library from reaching a model hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import open_clip

    return open_clip


def architecture_name(architecture: str) -> str:
    """Register a model config JSON if one is given; return the open_clip model name."""
    open_clip = _open_clip()
    path = Path(architecture)
    if architecture.endswith(".json"):
        if not path.is_file():
            raise ModelError(path, "model config file not found", "check --model")
        open_clip.add_model_config(path)
        return path.stem
    if architecture not in open_clip.list_models():
        raise ModelError(None, f"unknown model architecture {architecture!r}",
                         "run 'photobrain models list' for the known ones, or pass a model config .json")
    return architecture


class LocalBrain:
    """Embeds images and texts into one space; vectors come back L2-normalised float32."""

    def __init__(self, spec: ModelSpec, *, threads: int | None = None, image_only: bool = False):
        open_clip = _open_clip()
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.spec = spec
        name = architecture_name(spec.architecture)
        if not spec.checkpoint.is_file():
            raise ModelError(spec.checkpoint, "model weights not found",
                             "run 'photobrain models pull' or pass --pretrained FILE")
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=str(spec.checkpoint))
        except Exception as exc:  # torch raises many kinds for a bad checkpoint
            raise ModelError(spec.checkpoint, f"cannot load these weights into {name} ({exc})",
                             "check that --pretrained matches --model") from exc
        self._torch = torch
        self.model = model.eval()
        self.preprocess = preprocess
        self.tokenizer = open_clip.get_tokenizer(name)
        size = getattr(model.visual, "image_size", 224)
        self.input_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        self._trimmed_text_ok: bool | None = None
        self._shared_ok: bool | None = None
        if image_only:  # a tagging worker: the text tower's 250 MB (default model) would only sit there
            for name in ("transformer", "token_embedding", "ln_final", "text"):
                if hasattr(model, name):
                    setattr(model, name, None)
            import gc

            gc.collect()

    def embed_images(self, images: list) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            batch = torch.stack([self.preprocess(image) for image in images])
            features = self.model.encode_image(batch)
            return _normalise(features.float().numpy())

    def embed_texts(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        torch = self._torch
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths batch well
        out = np.zeros((len(texts), 0), dtype=np.float32)
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                tokens = self.tokenizer([texts[i] for i in idx])
                chunks.append((idx, self._encode_text(tokens).float().numpy()))
        out = np.zeros((len(texts), chunks[0][1].shape[1]), dtype=np.float32)
        for idx, vectors in chunks:
            out[idx] = vectors
        return _normalise(out)

    def embed_prompts(self, texts: list[str], batch_size: int = 128) -> np.ndarray:
        """Text embeddings of many prompts that open alike ("a photo of a ..."), each opening computed once.

        Under the causal mask a token's state depends only on the tokens before it, so the keys and values
        of an opening many prompts share are the same for all of them: they are computed once per group and
        each prompt runs only its own tokens, attending to them (about half the work for the built-in
        vocabulary's prompts). Checked against the plain computation on the first group; used only if the
        embeddings agree (cosine >= 0.99999), else every prompt is encoded whole.
        """
        torch = self._torch
        rows = self.tokenizer(texts)
        tokens = [row[:int(row.argmax()) + 1].tolist() for row in rows]
        out = np.zeros((len(texts), 0), dtype=np.float32)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, t in enumerate(tokens):
            groups.setdefault(tuple(t[:4]), []).append(i)  # "<start> a photo of": most prompts open alike
        results: list[tuple[list[int], np.ndarray]] = []
        with torch.inference_mode():
            for members in groups.values():
                shared = _common_prefix([tokens[i] for i in members])
                if len(members) < 4 or shared < 3 or self._shared_ok is False:
                    results.append((members, self.embed_texts([texts[i] for i in members], batch_size)))
                    continue
                order = sorted(members, key=lambda i: len(tokens[i]))
                for start in range(0, len(order), batch_size):
                    part = order[start:start + batch_size]
                    vectors = self._encode_shared([tokens[i] for i in part], shared)
                    if self._shared_ok is None:
                        plain = self.embed_texts([texts[i] for i in part], batch_size)
                        self._shared_ok = bool((_normalise(vectors) * plain).sum(axis=1).min() >= 0.99999)
                        vectors = _normalise(vectors) if self._shared_ok else plain
                    results.append((part, _normalise(vectors)))
        out = np.zeros((len(texts), results[0][1].shape[1]), dtype=np.float32) if results else out
        for idx, vectors in results:
            out[idx] = vectors
        return out

    def _encode_shared(self, prompts: list[list[int]], shared: int) -> np.ndarray:
        torch = self._torch
        functional = torch.nn.functional
        model = self.model
        blocks = model.transformer.resblocks
        # the opening, once: its keys and values at every layer
        x = model.token_embedding(torch.tensor([prompts[0][:shared]])) + model.positional_embedding[:shared]
        causal = model.attn_mask[:shared, :shared]
        cached = []
        for block in blocks:
            q, k, v = block_qkv(block, x)
            cached.append((k, v))
            x = block_rest(block, x, functional.scaled_dot_product_attention(q, k, v, attn_mask=causal))
        # each prompt's own tokens, attending to the opening and to themselves
        length = max(len(t) for t in prompts) - shared
        ids = torch.zeros((len(prompts), length), dtype=torch.long)
        for row, t in enumerate(prompts):
            ids[row, :len(t) - shared] = torch.tensor(t[shared:])
        x = model.token_embedding(ids) + model.positional_embedding[shared:shared + length]
        mask = torch.cat([torch.zeros((length, shared)), model.attn_mask[shared:shared + length, shared:shared + length]],
                         dim=1)
        for block, (k_open, v_open) in zip(blocks, cached, strict=True):
            q, k, v = block_qkv(block, x)
            k = torch.cat([k_open.expand(len(prompts), -1, -1, -1), k], dim=2)
            v = torch.cat([v_open.expand(len(prompts), -1, -1, -1), v], dim=2)
            x = block_rest(block, x, functional.scaled_dot_product_attention(q, k, v, attn_mask=mask))
        x = model.ln_final(x)
        x = x[torch.arange(len(prompts)), torch.tensor([len(t) - 1 - shared for t in prompts])]
        projection = model.text_projection
        x = projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection
        return x.float().numpy()

    def _encode_text(self, tokens):
        """Text features without the dead work on padding.

        Prompts are padded to 77 tokens, but the causal mask means no real
        token ever attends to padding: cutting the batch to its longest prompt
        gives the same features several times faster. Checked against the
        full computation once per model; used only if identical.
        """
        if self._trimmed_text_ok is None:
            self._trimmed_text_ok = False
            try:
                trimmed = self._encode_text_trimmed(tokens)
                full = self.model.encode_text(tokens)
                # compared as the embeddings they become: real weights' raw features differ in the last bits
                cosine = self._torch.nn.functional.cosine_similarity(trimmed.float(), full.float(), dim=-1)
                self._trimmed_text_ok = bool(cosine.min() >= 0.99999)
            except (AttributeError, RuntimeError, TypeError):
                pass
            return full
        return self._encode_text_trimmed(tokens) if self._trimmed_text_ok else self.model.encode_text(tokens)

    def _encode_text_trimmed(self, tokens):
        from open_clip.transformer import text_global_pool

        model = self.model
        length = int(tokens.argmax(dim=1).max()) + 1  # through the end-of-text token (the highest id; "!" is id 0)
        text = tokens[:, :length]
        cast = model.transformer.get_cast_dtype()
        x = model.token_embedding(text).to(cast) + model.positional_embedding[:length].to(cast)
        mask = model.attn_mask[:length, :length] if model.attn_mask is not None else None
        x = model.ln_final(model.transformer(x, attn_mask=mask))
        x = text_global_pool(x, text, model.text_pool_type, eos_token_id=getattr(model, "text_eos_id", None))
        projection = model.text_projection
        if projection is not None:
            x = projection(x) if isinstance(projection, self._torch.nn.Linear) else x @ projection
        return x


def block_qkv(block, x):
    """Queries, keys and values (batch, heads, tokens, head width) of one open_clip text block for ``x``.

    With :func:`block_rest`, the block written out: the shared-opening encoding and the ONNX export
    (``text_tower``) run the text transformer through these two, each with its own attention.
    """
    import torch

    attn = block.attn
    q, k, v = torch.nn.functional.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias).chunk(3, -1)
    return tuple(t.unflatten(-1, (attn.num_heads, -1)).transpose(1, 2) for t in (q, k, v))


def block_rest(block, x, attended):
    """The rest of the block once attention gave ``attended`` (batch, heads, tokens, head width)."""
    x = x + block.ls_1(block.attn.out_proj(attended.transpose(1, 2).flatten(2)))
    return x + block.ls_2(block.mlp(block.ln_2(x)))


def _common_prefix(prompts: list[list[int]]) -> int:
    """How many leading tokens all ``prompts`` share, leaving each at least its end-of-text token."""
    shared = min(len(t) for t in prompts) - 1
    first = prompts[0]
    for t in prompts[1:]:
        n = 0
        while n < shared and t[n] == first[n]:
            n += 1
        shared = n
    return shared


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
