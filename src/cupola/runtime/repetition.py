"""Ending answers that loop: a small model that repeats itself is stopped cleanly.

A request with ``stop_loops`` (a Cupola extension of chat completions; grounded answers turn it on)
runs its text through a :class:`LoopGuard`. The guard passes text on as it comes, except a sentence
that starts like one already said: that is held until it either turns out different (then it is
passed on) or ends as a repeat (then it is dropped and the answer stops). A run of words said for the
third time (an 8-word sequence; loops without sentence ends) stops it too. A stopped answer ends
with ``finish_reason: "stop"``; the request record (its ``shaping``) and the finishing chunk's
``shaping`` (a whole completion's ``shaping``) say why.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

FLAG = "stop_loops"  # the request option (a Cupola extension of chat completions)
_BOUNDARY = re.compile(r"(?<=[.!?])\s+|\n+")
_MARKER = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")
_NON_WORD = re.compile(r"[^\w]+")
_LAST_WORD = re.compile(r"[\w\[\]]*$")
NOTE = {"what": "repetition", "detail": ""}


def normalize(text: str) -> str:
    """Lower case words only: citation markers, punctuation and spacing do not make a sentence new."""
    return " ".join(_NON_WORD.sub(" ", _MARKER.sub(" ", text.lower())).split())


class LoopGuard:
    """Feed text as it streams; get back what may be shown, and whether the answer should stop."""

    def __init__(self, min_words: int = 4, ngram: int = 8, ngram_repeats: int = 3) -> None:
        self.min_words = min_words
        self.ngram = ngram
        self.ngram_repeats = ngram_repeats
        self.sentences: list[str] = []  # normalized sentences passed on
        self.words: list[str] = []  # normalized words passed on
        self.pending = ""  # the sentence being written (not passed on yet if it may be a repeat)
        self.shown = 0  # characters of ``pending`` already passed on
        self.reason: str | None = None
        self.tail = ""  # the end of the text passed on that may be an unfinished word

    def feed(self, piece: str) -> tuple[str, bool]:
        """``(text to pass on now, stop)``."""
        if self.reason:
            return "", True
        self.pending += piece
        out: list[str] = []
        while (m := _BOUNDARY.search(self.pending)) is not None:
            sentence, self.pending = self.pending[:m.end()], self.pending[m.end():]
            shown, self.shown = self.shown, 0
            norm = normalize(sentence)
            if len(norm.split()) >= self.min_words and norm in self.sentences:
                self.reason = f"the answer repeated a sentence ({sentence.strip()[:80]!r}); stopped there"
                return "".join(out), True
            if norm:
                self.sentences.append(norm)
            if self._looping(out, sentence[shown:], norm):
                return "".join(out), True
        norm = normalize(self.pending)
        if norm and any(s.startswith(norm) for s in self.sentences):
            return "".join(out), False  # hold: it starts like something said already
        rest = self.pending[self.shown:]
        self.shown = len(self.pending)
        if self._looping(out, rest, None):
            return "".join(out), True
        return "".join(out), False

    def _looping(self, out: list[str], text: str, sentence: str | None) -> bool:
        """Pass ``text`` on; True when the words passed on now end in a run said too often."""
        out.append(text)
        self.tail += text
        m = _LAST_WORD.search(self.tail)  # a word cut at the end of a piece waits for its rest
        complete, self.tail = self.tail[:m.start()], self.tail[m.start():]
        self.words += normalize(complete).split()
        n = self.ngram
        if len(self.words) < n * self.ngram_repeats:
            return False
        tail = self.words[-n:]
        seen = sum(1 for i in range(len(self.words) - n + 1) if self.words[i:i + n] == tail)
        if seen >= self.ngram_repeats:
            self.reason = f"the answer repeated the words {' '.join(tail)!r} {seen} times; stopped there"
            return True
        return False

    def finish(self) -> str:
        """What is still held at the end of the answer (nothing if it is a repeat)."""
        if self.reason:
            return ""
        rest = self.pending[self.shown:]
        norm = normalize(self.pending)
        if len(norm.split()) >= self.min_words and norm in self.sentences:
            self.reason = f"the answer ended by repeating a sentence ({self.pending.strip()[:80]!r})"
            return ""
        self.pending, self.shown = "", 0
        return rest


def _content_chunk(chunk: dict[str, Any], text: str) -> dict[str, Any]:
    choice = dict(chunk["choices"][0])
    choice["delta"] = {**(choice.get("delta") or {}), "content": text}
    return {**chunk, "choices": [choice, *chunk["choices"][1:]]}


async def stop_loops(chunks: AsyncIterator[dict[str, Any]],
                     on_stop: Callable[[str], None]) -> AsyncIterator[dict[str, Any]]:
    """A chat stream that ends (``finish_reason: "stop"``) where the answer starts to loop; the model's
    stream is closed there, so it stops generating. ``on_stop(reason)`` is told why."""
    guard = LoopGuard()
    last: dict[str, Any] | None = None
    timings: dict[str, Any] = {}  # llama.cpp's running counts (timings_per_token), for the usage of a cut answer
    async with aclosing(chunks):  # type: ignore[type-var]
        async for chunk in chunks:
            timings = chunk.get("timings") or timings
            choices = chunk.get("choices") or []
            if not choices:
                yield chunk
                continue
            last = chunk
            delta = choices[0].get("delta") or {}
            finishing = choices[0].get("finish_reason")
            text = delta.get("content")
            if text and not delta.get("tool_calls"):
                out, stop = guard.feed(text)
                if stop:
                    if out:
                        yield _content_chunk({**chunk, "choices": [{**choices[0], "finish_reason": None}]}, out)
                    why = guard.reason or "the answer repeated itself"
                    on_stop(why)
                    yield {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": None}],
                           "shaping": [{"what": "repetition", "detail": why}]}
                    if "prompt_n" in timings:  # the engine's own usage chunk will not come: the same figures
                        prompt = int(timings["prompt_n"]) + int(timings.get("cache_n") or 0)
                        done = int(timings.get("predicted_n") or 0)
                        yield {**{k: v for k, v in chunk.items() if k not in ("timings", "shaping")}, "choices": [],
                               "usage": {"prompt_tokens": prompt, "completion_tokens": done,
                                         "total_tokens": prompt + done}}
                    return
                if not out and not finishing and len(delta) == 1:
                    continue  # all of it held back for now
                chunk = _content_chunk(chunk, out)
            if finishing:
                rest = guard.finish()
                if rest:
                    yield _content_chunk({**chunk, "choices": [{**choices[0], "finish_reason": None}]}, rest)
                if guard.reason:
                    on_stop(guard.reason)
                    chunk = {**chunk, "choices": [{**chunk["choices"][0], "finish_reason": "stop"}],
                             "shaping": [{"what": "repetition", "detail": guard.reason}]}
            yield chunk
    if last is not None and guard.pending[guard.shown:]:  # the stream ended without a finishing chunk
        rest = guard.finish()
        if rest:
            yield _content_chunk(last, rest)


def trim(result: dict[str, Any], on_stop: Callable[[str], None]) -> dict[str, Any]:
    """A whole chat completion cut where its answer starts to loop (``finish_reason: "stop"``)."""
    choices = result.get("choices") or []
    if not choices:
        return result
    message = choices[0].get("message") or {}
    content = message.get("content")
    if not content or message.get("tool_calls"):
        return result
    guard = LoopGuard()
    out, stop = guard.feed(content)
    if not stop:
        out += guard.finish()
    if guard.reason is None:
        return result
    on_stop(guard.reason)
    choice = {**choices[0], "message": {**message, "content": out.rstrip()}, "finish_reason": "stop"}
    return {**result, "choices": [choice, *choices[1:]], "shaping": [{"what": "repetition", "detail": guard.reason}]}
