"""CLIP's byte-pair tokenizer without torch, for the text tower that runs on ONNX Runtime.

The algorithm and its vocabulary file are OpenAI CLIP's (MIT License,
Copyright (c) 2021 OpenAI), as open_clip ships them in
``open_clip/bpe_simple_vocab_16e6.txt.gz``; this reimplements open_clip's
``SimpleTokenizer`` with ``clean='lower'``, returning plain lists instead of
a torch tensor. ``text_tower.export`` checks that it gives open_clip's tokens
for every vocabulary prompt before a tower that relies on it is used.
"""
from __future__ import annotations

import gzip
import html
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

import ftfy
import regex

CONTEXT_LENGTH = 77


@lru_cache
def _bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def _clean(text: str) -> str:
    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return " ".join(text.split()).lower()


class ClipTokenizer:
    def __init__(self, bpe_path: Path, context_length: int = CONTEXT_LENGTH):
        merges = gzip.open(bpe_path).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
        pairs = [tuple(m.split()) for m in merges]
        vocab = list(_bytes_to_unicode().values())
        vocab = vocab + [v + "</w>" for v in vocab] + ["".join(p) for p in pairs]
        vocab += ["<start_of_text>", "<end_of_text>"]
        self.encoder = {token: i for i, token in enumerate(vocab)}
        self.ranks = {pair: i for i, pair in enumerate(pairs)}
        self.sot, self.eot = self.encoder["<start_of_text>"], self.encoder["<end_of_text>"]
        self.context_length = context_length
        self._cache: dict[str, list[int]] = {}
        self._pattern = regex.compile(r"<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|"
                                      r"[^\s\p{L}\p{N}]+", regex.IGNORECASE)

    def _bpe(self, token: str) -> list[int]:
        if token in self._cache:
            return self._cache[token]
        word = (*token[:-1], token[-1] + "</w>")
        while len(word) > 1:
            pair = min(pairwise(word), key=lambda p: self.ranks.get(p, len(self.ranks)))
            if pair not in self.ranks:
                break
            merged: list[str] = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == pair:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = tuple(merged)
        ids = [self.encoder[w] for w in word]
        if len(self._cache) < 100_000:
            self._cache[token] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        """``text``'s tokens between start and end of text, cut to the context length as open_clip cuts them."""
        byte_map = _bytes_to_unicode()
        ids = [self.sot]
        for token in self._pattern.findall(_clean(text)):
            if token in ("<start_of_text>", "<end_of_text>"):
                ids.append(self.encoder[token])
                continue
            ids.extend(self._bpe("".join(byte_map[b] for b in token.encode("utf-8"))))
        ids.append(self.eot)
        if len(ids) > self.context_length:
            ids = ids[:self.context_length]
            ids[-1] = self.eot
        return ids
