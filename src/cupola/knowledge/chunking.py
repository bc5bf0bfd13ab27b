"""Chunking by the embedding model's own tokens, with overlap, preferring sentence ends.

The tokenizer gives each token's character span, so a chunk is an exact slice of the document
(``start``/``end`` are character offsets) holding at most ``size`` model tokens. When no local
tokenizer is available (a remote embedding model), words and punctuation stand in for tokens.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Spans = Callable[[str], list[tuple[int, int]]]
_WORDS = re.compile(r"\w+|[^\w\s]")
_SENTENCE_END = (".", "!", "?", ":", ";", "\n")


@dataclass(frozen=True)
class Chunk:
    position: int
    start: int
    end: int
    text: str
    tokens: int


def tokenizer_spans(tokenizer_json: Path) -> Spans:
    """Token spans from a Hugging Face ``tokenizer.json`` (no truncation, no special tokens)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.no_truncation()
    tok.no_padding()

    def spans(text: str) -> list[tuple[int, int]]:
        return [o for o in tok.encode(text, add_special_tokens=False).offsets if o[1] > o[0]]

    return spans


def word_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _WORDS.finditer(text)]


def chunk_text(text: str, spans: Spans, size: int, overlap: int) -> list[Chunk]:
    """Split ``text`` into windows of at most ``size`` tokens overlapping by ``overlap`` tokens."""
    if size < 8:
        raise ValueError("chunk size must be at least 8 tokens")
    overlap = max(0, min(overlap, size // 2))
    toks = spans(text)
    chunks: list[Chunk] = []
    i = 0
    while i < len(toks):
        end = min(i + size, len(toks))
        if end < len(toks):
            end = _sentence_cut(text, toks, i, end, size)
        start_char, end_char = toks[i][0], toks[end - 1][1]
        chunks.append(Chunk(len(chunks), start_char, end_char, text[start_char:end_char], end - i))
        if end >= len(toks):
            break
        i = max(end - overlap, i + 1)
    return chunks


def _sentence_cut(text: str, toks: list[tuple[int, int]], start: int, end: int, size: int) -> int:
    """Move the window's end back to just after a sentence end, if one is in its last quarter."""
    floor = start + (size * 3) // 4
    for j in range(end - 1, floor - 1, -1):
        if text[toks[j][1] - 1] in _SENTENCE_END or "\n" in text[toks[j][1]:toks[j + 1][0]]:
            return j + 1
    return end
