"""Citations: which retrieved source supports each sentence of a grounded answer.

A small model writes ``[n]`` markers unreliably: it forgets them, or puts ``[1]`` after a fact from
source 3. So after the answer is written, every sentence is matched against the retrieved sources:
by meaning (cosine of the embedding model's vectors) and by words (the share of the sentence's
content words — numbers included — that the source contains). A sentence cites the best source
when the match is good enough; a marker the model wrote is kept only where its source supports the
sentence about as well as the best one. Only retrieved sources can be cited (markers for a number
that was not given are dropped), and an answer that used the sources cites at least one.

``method``: ``combined`` (the default, what every surface returns), ``matcher`` (markers ignored)
or ``markers`` (the ``[n]`` the model wrote, unchecked: what Cupola did before); the benchmark
``bench/grounded_answers.py`` scores all three on the same answers.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from cupola.errors import CupolaError

Embed = Callable[[list[str]], Awaitable[np.ndarray]]

SUPPORT = 0.42  # combined score a sentence needs to cite a source (tuned on the bench's dev half)
MARGIN = 0.06  # a model's marker is kept if its source scores within this of the best source
USED = 0.34  # an answer whose best sentence matches this well used the sources: it cites at least one
SEMANTIC_WEIGHT = 0.5

_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+(?:\s*\[\d+(?:\s*,\s*\d+)*\])*|$)", re.M)
_WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")
_UNKNOWN = re.compile(r"\b(?:do not|don't|cannot|can't) (?:know|find|answer)|\bno information\b|\bnot (?:in|contain)",
                      re.I)
STOPWORDS = frozenset("""a an the and or but if then so of to in on at by for with from as is are was were be been
being it its this that these those there here you your yours we our i me my he she they them their his her
what which who whom when where why how do does did done can could should would will shall may might must
not no yes than too very just also only about into over under up down out off again more most some any
each all both few other such own same has have had having according source sources answer question
""".split())


@dataclass
class Sentence:
    start: int
    end: int
    text: str
    markers: list[int]


def sentences(answer: str) -> list[Sentence]:
    """The answer's sentences with their character spans and the ``[n]`` markers in them."""
    out = []
    for m in _SENTENCE.finditer(answer):
        text = m.group(0)
        if not text.strip():
            continue
        lead = len(text) - len(text.lstrip())
        start, end = m.start() + lead, m.start() + len(text.rstrip())
        markers = [int(x) for g in _MARKER.findall(text) for x in g.split(",")]
        out.append(Sentence(start, end, answer[start:end], markers))
    return out


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(_MARKER.sub(" ", text.lower())) if w not in STOPWORDS and len(w) > 1}


def overlap(sentence: str, source: str) -> float:
    """Share of the sentence's content words that the source contains."""
    words = content_words(sentence)
    return len(words & content_words(source)) / len(words) if words else 0.0


def _source_text(source: dict[str, Any]) -> str:
    return f"{source.get('title') or ''}\n{source.get('text') or ''}"


async def scores(embed: Embed | None, parts: list[Sentence], sources: list[dict[str, Any]]) -> np.ndarray:
    """``[sentence, source]`` support scores: cosine and word overlap, weighted."""
    lexical = np.array([[overlap(p.text, _source_text(s)) for s in sources] for p in parts], dtype=np.float32)
    if embed is None:
        return lexical
    try:
        vectors = await embed([_MARKER.sub("", p.text) for p in parts] + [_source_text(s) for s in sources])
    except CupolaError:  # no embedding model at hand: words alone
        return lexical
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    cosine = vectors[:len(parts)] @ vectors[len(parts):].T
    return SEMANTIC_WEIGHT * cosine + (1 - SEMANTIC_WEIGHT) * lexical


def _entry(source: dict[str, Any]) -> dict[str, Any]:
    return {"n": source["n"], "doc_id": source["doc_id"], "title": source["title"], "position": source["position"],
            **({"timestamp": source["timestamp"]} if source.get("timestamp") else {}), "sentences": []}


def marker_citations(answer: str, sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``[n]`` markers as written (only numbers that were given), in order of first citation."""
    return _collect([(p, n, None) for p in sentences(answer) for n in p.markers], sources)


def _collect(links: list[tuple[Sentence, int, float | None]], sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_n = {s["n"]: s for s in sources}
    cited: dict[int, dict[str, Any]] = {}
    for part, n, score in links:
        if n not in by_n:
            continue  # never a source that was not retrieved
        entry = cited.setdefault(n, _entry(by_n[n]))
        if all(x["start"] != part.start for x in entry["sentences"]):
            entry["sentences"].append({"start": part.start, "end": part.end, "text": part.text,
                                       **({"score": round(float(score), 3)} if score is not None else {})})
    return list(cited.values())


async def cite(embed: Embed | None, answer: str, sources: list[dict[str, Any]],
               method: str = "combined") -> list[dict[str, Any]]:
    """The sources that support the answer's sentences: ``[{n, doc_id, title, position, sentences:
    [{start, end, text, score}]}]`` in order of first citation."""
    if method == "markers":
        return marker_citations(answer, sources)
    parts = [p for p in sentences(answer) if content_words(p.text) and not _UNKNOWN.search(p.text)]
    if not parts or not sources:
        return []
    table = await scores(embed, parts, sources)
    numbers = [s["n"] for s in sources]
    links: list[tuple[Sentence, int, float | None]] = []
    for i, part in enumerate(parts):
        row = table[i]
        best = int(np.argmax(row))
        kept = []
        if method == "combined":
            kept = [n for n in part.markers if n in numbers
                    and row[numbers.index(n)] >= SUPPORT and row[numbers.index(n)] >= row[best] - MARGIN]
        if not kept and row[best] >= SUPPORT:
            kept = [numbers[best]]
        links += [(part, n, float(row[numbers.index(n)])) for n in kept]
    if not links:  # an answer drawn from the sources cites at least its best match
        i, j = np.unravel_index(int(np.argmax(table)), table.shape)
        if table[i, j] >= USED:
            links = [(parts[int(i)], numbers[int(j)], float(table[i, j]))]
    links.sort(key=lambda link: link[0].start)
    return _collect(links, sources)


_LABEL = re.compile(r"\[([^\[\]\n]{1,120})\]")


def cited_labels(text: str) -> list[str]:
    """The labels a text cites in square brackets (``[noise]``, ``[a, b]``, ``[1]``), in order, once each."""
    out: list[str] = []
    for group in _LABEL.findall(text):
        for label in (x.strip() for x in group.split(",")):
            if label and label not in out:
                out.append(label)
    return out


def absent(text: str, retrieved: list[str]) -> list[str]:
    """The labels ``text`` cites that are not among the ``retrieved`` document ids."""
    return [label for label in cited_labels(text) if label not in retrieved]


def annotations(cited: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Responses API ``output_text`` annotations: a ``file_citation`` at the end of each cited sentence."""
    out = [{"type": "file_citation", "file_id": c["doc_id"], "filename": c["title"] or c["doc_id"],
            "index": s["end"]} for c in cited for s in c["sentences"]]
    return sorted(out, key=lambda a: a["index"])


async def compare_methods(service: Any, base: str, answer: str,
                          sources: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Every way of citing, on one answer (for the benchmark)."""
    embed = service.embedder(base)
    return {m: await cite(embed, answer, sources, m) for m in ("markers", "matcher", "combined")}
