"""Word error rate: how far a transcript is from what was said.

WER = (substitutions + deletions + insertions) / words in the reference, over a whole set (the
errors of all pairs over the words of all references, as speech benchmarks report it). Both
sides are normalized first: lower case, punctuation dropped (apostrophes inside words kept),
hyphens and slashes split words, so "Make-up," and "make up" are the same two words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SPLIT = re.compile(r"[-/\u2010-\u2015]")
_DROP = re.compile(r"[^\w\s']")


def normalize(text: str) -> list[str]:
    text = _DROP.sub(" ", _SPLIT.sub(" ", text.lower()))
    return [word.strip("'") for word in text.split() if word.strip("'")]


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Word-level Levenshtein distance (one row at a time)."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def word_error_rate(pairs: Iterable[tuple[str, str]]) -> float:
    """WER of ``(reference, hypothesis)`` pairs, as a fraction (0.05 is 5 %)."""
    errors = words = 0
    for reference, hypothesis in pairs:
        ref = normalize(reference)
        errors += edit_distance(ref, normalize(hypothesis))
        words += len(ref)
    if words == 0:
        raise ValueError("the references have no words")
    return errors / words
