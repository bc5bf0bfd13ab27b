"""Fake engines for tests: deterministic, instant (or as slow as asked), no weights needed.

They speak the same OpenAI-shaped dicts as the real llama.cpp engine, so everything above the
engine layer (runtime, server, clients) can be tested without a model. Every capability also
has tests against the real embedded models.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from cupola.engines.base import OnChunk, input_too_long
from cupola.errors import ContextLengthExceeded, EngineError
from cupola.models.store import ModelStore
from cupola.naming import new_id


class FakeChatEngine:
    """Answers every request with ``reply`` (word by word when streaming).

    ``delay`` seconds pass between tokens; ``context`` is the per-request context window,
    measured in words of the prompt; ``fail_after`` makes streams fail after that many tokens. ``stopped`` is set when a stream was told to stop early.
    """

    def __init__(self, reply: str = "Hello from the fake model.", *, delay: float = 0.0,
                 context: int = 10_000, fail_after: int | None = None) -> None:
        self.reply = reply
        self.delay = delay
        self.context = context
        self.fail_after = fail_after  # streams raise EngineError after this many tokens
        self.requests: list[dict[str, Any]] = []
        self.stopped = threading.Event()
        self.closed = False
        self.active = 0
        self.description = "fake chat engine"

    def _prompt_words(self, body: dict[str, Any]) -> int:
        if "messages" in body:
            return sum(len(str(m.get("content") or "").split()) for m in body["messages"])
        return len(str(body.get("prompt", "")).split())

    def generate(self, endpoint: str, body: dict[str, Any], on_chunk: OnChunk | None = None) -> dict[str, Any] | None:
        self.requests.append(body)
        prompt = self._prompt_words(body)
        if prompt > self.context:
            raise ContextLengthExceeded(f"the prompt is {prompt} tokens but the context is {self.context}")
        words = self.reply.split(" ")
        limit = body.get("max_tokens") or len(words)
        out, finish = words[:limit], ("length" if limit < len(words) else "stop")
        usage = {"prompt_tokens": prompt, "completion_tokens": len(out), "total_tokens": prompt + len(out)}
        rid = new_id("chatcmpl")
        self.active += 1
        try:
            if on_chunk is None:
                time.sleep(self.delay * len(out))
                text = " ".join(out)
                choice = ({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
                          if endpoint == "chat" else {"index": 0, "text": text, "finish_reason": finish})
                return {"id": rid, "object": "chat.completion", "created": int(time.time()),
                        "model": "fake", "choices": [choice], "usage": usage}
            for i, word in enumerate(out):
                if i == self.fail_after:
                    raise EngineError("the fake engine failed mid-stream")
                time.sleep(self.delay)
                piece = word if i == 0 else " " + word
                delta = {"index": 0, "delta": {"content": piece}, "finish_reason": None} if endpoint == "chat" \
                    else {"index": 0, "text": piece, "finish_reason": None}
                if on_chunk({"id": rid, "object": "chat.completion.chunk", "choices": [delta]}):
                    self.stopped.set()
                    return None
            end = {"index": 0, "delta": {}, "finish_reason": finish} if endpoint == "chat" \
                else {"index": 0, "text": "", "finish_reason": finish}
            on_chunk({"id": rid, "object": "chat.completion.chunk", "choices": [end]})
            on_chunk({"id": rid, "object": "chat.completion.chunk", "choices": [], "usage": usage})
            return None
        finally:
            self.active -= 1

    def close(self) -> None:
        self.closed = True


class FakeEmbeddingEngine:
    """Bag-of-words vectors: texts sharing words are similar; deterministic across runs.

    A token is a word; a text of more than ``max_tokens`` words is refused unless ``truncate``."""

    def __init__(self, dims: int = 64, max_tokens: int = 100_000) -> None:
        self.dims = dims
        self.max_tokens = max_tokens
        self.closed = False

    def embed(self, texts: list[str], truncate: bool = False) -> tuple[np.ndarray, int]:
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        tokens = 0
        for row, text in enumerate(texts):
            words = re.findall(r"\w+", text.lower())
            if len(words) > self.max_tokens and not truncate:
                raise input_too_long("the fake model", row, len(words), self.max_tokens)
            for word in words[:self.max_tokens]:
                tokens += 1
                h = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little")
                out[row, h % self.dims] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out, tokens

    def close(self) -> None:
        self.closed = True


class FakeFactory:
    """An engine factory (``Runtime(engine_factory=...)``) handing out fake engines, remembering them per alias."""

    def __init__(self, reply: str = "Hello from the fake model.", delay: float = 0.0, context: int = 10_000,
                 fail_after: int | None = None) -> None:
        self.reply, self.delay, self.context, self.fail_after = reply, delay, context, fail_after
        self.engines: dict[str, Any] = {}

    def __call__(self, info: Any) -> Any:
        if info.entry.kind == "embedding":
            engine: Any = FakeEmbeddingEngine()
        else:
            engine = FakeChatEngine(self.reply, delay=self.delay, context=self.context, fail_after=self.fail_after)
        self.engines[info.entry.alias] = engine
        return engine


def fake_store(home: Path) -> ModelStore:
    """A model store where both embedded models look pulled (empty files, no downloads)."""
    store = ModelStore(home / "models")
    for alias in ("smollm2-135m", "minilm-l6"):
        d = home / "models" / alias
        d.mkdir(parents=True, exist_ok=True)
        (d / "manifest.json").write_text(json.dumps({"alias": alias, "source": "test", "pulled_at": 0}))
    return store
