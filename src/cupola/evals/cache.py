"""The execution contract, the response cache, and the per-cell model client.

Until execution contracts land, a model request's contract id is the sha256 of the canonical
JSON of (model, messages, the effective parameters including the seed): :func:`contract_id`
is the one place that says so. Identical requests within a run are served once (concurrent
duplicates wait for the first); with ``--cache`` they are also kept across runs in
``eval-cache.db``. The cache key adds the repeat index, so a repeat never reuses another
repeat's answer even when a seed is pinned.

:class:`CellClient` is what a target or a judge talks to for one cell: a ``ModelClient`` that
fills in the repeat's seed where the caller set none, goes through the cache, and meters the
calls (tokens, finish reason, time saved by cache hits).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np

from cupola.errors import Overloaded
from cupola.storage import Database

TRANSPORT_PARAMS = ("stream", "stream_options")  # how an answer travels, not what it is
OVERLOAD_RETRIES = 5  # a 429 / full queue is retried after its Retry-After, this many times

MIGRATIONS = [
    ("0001_eval_cache", """
        CREATE TABLE responses (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            created_at REAL NOT NULL
        )
    """),
]


def contract_id(model: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> str:
    """The execution contract of one model request (the stored ``contract_id`` and the cache key)."""
    payload = {"model": model, "messages": messages,
               "params": {k: v for k, v in params.items() if k not in TRANSPORT_PARAMS and v is not None}}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ResponseCache:
    """Answers by key: in memory for this run, and in SQLite across runs when ``path`` is given."""

    def __init__(self, path: Path | None = None) -> None:
        self.db = Database(path, MIGRATIONS) if path is not None else None
        self._memory: dict[str, asyncio.Future] = {}
        self.hits = 0
        self.misses = 0

    def _stored(self, key: str) -> Any:
        if self.db is None:
            return None
        rows = self.db.query("SELECT value FROM responses WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def _store(self, key: str, value: Any) -> None:
        if self.db is not None:
            with self.db.transaction() as conn:
                conn.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)", (key, json.dumps(value), time.time()))

    async def get_or_compute(self, key: str, compute: Callable[[], Awaitable[Any]]) -> tuple[Any, bool]:
        """``(value, hit)``. Failures are not cached; a waiting duplicate then computes itself."""
        pending = self._memory.get(key)
        if pending is not None:
            try:
                value = await asyncio.shield(pending)
            except Exception:
                pass
            else:
                self.hits += 1
                return value, True
        stored = self._stored(key)
        if stored is not None:
            future: asyncio.Future = asyncio.get_running_loop().create_future()
            future.set_result(stored)
            self._memory[key] = future
            self.hits += 1
            return stored, True
        future = asyncio.get_running_loop().create_future()
        self._memory[key] = future
        try:
            value = await compute()
        except BaseException as exc:
            self._memory.pop(key, None)
            if not future.done():
                future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
                future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        future.set_result(value)
        self.misses += 1
        self._store(key, value)
        return value, False

    def lookup(self, key: str) -> Any:
        pending = self._memory.get(key)
        if pending is not None and pending.done() and not pending.exception():
            return pending.result()
        return self._stored(key)

    def put(self, key: str, value: Any) -> None:
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        future.set_result(value)
        self._memory[key] = future
        self._store(key, value)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


class CellClient:
    """A ``ModelClient`` for one cell: seeds, the cache, and a meter of what the calls used."""

    def __init__(self, inner: Any, cache: ResponseCache, seed: int, repeat: int) -> None:
        self.inner = inner
        self.cache = cache
        self.seed = seed
        self.repeat = repeat
        self.calls = 0
        self.hits = 0
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.finish_reason: str | None = None
        self.saved_ms = 0.0  # the original time of answers served from the cache
        self.contracts: list[str] = []

    def _seeded(self, params: dict[str, Any]) -> dict[str, Any]:
        return params if "seed" in params else {**params, "seed": self.seed}

    def _key(self, cid: str, kind: str) -> str:
        return f"{cid}:{kind}:{self.repeat}"

    def _meter(self, usage: dict[str, Any] | None, finish: str | None, hit: bool, ms: float) -> None:
        self.calls += 1
        if hit:
            self.hits += 1
            self.saved_ms += ms
        if usage:
            if usage.get("prompt_tokens") is not None:
                self.prompt_tokens = (self.prompt_tokens or 0) + int(usage["prompt_tokens"])
            if usage.get("completion_tokens") is not None:
                self.completion_tokens = (self.completion_tokens or 0) + int(usage["completion_tokens"])
        if finish:
            self.finish_reason = finish

    async def chat(self, model: str, messages: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
        params = self._seeded(params)
        cid = contract_id(model, messages, params)
        self.contracts.append(cid)

        async def compute() -> dict[str, Any]:
            started = time.perf_counter()
            for attempt in range(OVERLOAD_RETRIES + 1):
                try:
                    answer = await self.inner.chat(model, messages, **params)
                    break
                except Overloaded as exc:  # a busy server or queue: wait as told, then ask again
                    if attempt == OVERLOAD_RETRIES:
                        raise
                    await asyncio.sleep(max(0.1, float(exc.retry_after)))
            return {"response": answer, "ms": (time.perf_counter() - started) * 1000}

        value, hit = await self.cache.get_or_compute(self._key(cid, "chat"), compute)
        answer = value["response"]
        finish = ((answer.get("choices") or [{}])[0]).get("finish_reason")
        self._meter(answer.get("usage"), finish, hit, value["ms"])
        return answer

    async def stream(self, model: str, messages: list[dict[str, Any]], **params: Any) -> AsyncIterator[dict[str, Any]]:
        params = self._seeded(params)
        cid = contract_id(model, messages, params)
        self.contracts.append(cid)
        key = self._key(cid, "stream")
        wants_usage = bool((params.get("stream_options") or {}).get("include_usage"))
        stored = self.cache.lookup(key)
        if stored is not None:
            chunks, ms, hit = stored["chunks"], stored["ms"], True
        else:
            started = time.perf_counter()
            chunks, hit = [], False
            asked = {**params, "stream_options": {**(params.get("stream_options") or {}), "include_usage": True}}
            for attempt in range(OVERLOAD_RETRIES + 1):
                try:
                    async for chunk in self.inner.stream(model, messages, **asked):
                        chunks.append(chunk)
                        shown = _for_caller(chunk, wants_usage)
                        if shown is not None:
                            yield shown
                    break
                except Overloaded as exc:
                    if chunks or attempt == OVERLOAD_RETRIES:
                        raise
                    await asyncio.sleep(max(0.1, float(exc.retry_after)))
            ms = (time.perf_counter() - started) * 1000
            self.cache.put(key, {"chunks": chunks, "ms": ms})
        usage, finish = None, None
        for chunk in chunks:
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices") or []:
                finish = choice.get("finish_reason") or finish
        self._meter(usage, finish, hit, ms)
        if hit:
            for chunk in chunks:
                shown = _for_caller(chunk, wants_usage)
                if shown is not None:
                    yield shown

    async def embed(self, model: str, texts: list[str]) -> np.ndarray:
        return await self.inner.embed(model, texts)

    async def aclose(self) -> None:  # the inner client belongs to the run, not to the cell
        pass


def _for_caller(chunk: dict[str, Any], wants_usage: bool) -> dict[str, Any] | None:
    if wants_usage or "usage" not in chunk:
        return chunk
    if not chunk.get("choices"):
        return None
    return {k: v for k, v in chunk.items() if k != "usage"}
