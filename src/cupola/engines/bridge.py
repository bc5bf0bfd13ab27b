"""The one thread bridge: blocking in-process libraries as async engines.

llama.cpp (through xllamacpp) and ONNX Runtime release the GIL while they compute, so each
request runs on a worker thread and several decode together. Streamed chunks cross back to the
event loop through a queue. Closing a stream (the client went away) tells the library to stop at
its next token; the engine's admission slot is released when the worker thread really returns, not
when the reader stops reading, so the slot count always matches the library's.

A non-streaming chat is the same stream, assembled: a client that disconnects stops it too.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from concurrent.futures import Executor
from typing import Any

import numpy as np

from cupola.completions import collect
from cupola.digest import prompt_sha256, sha256
from cupola.engines.base import Capabilities, Endpoint


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_DONE = object()
DEFAULT_GENERATION_COST = 256  # tokens a request without max_tokens is expected to generate, for admission


def generation_cost(body: dict[str, Any]) -> float:
    """A generation's expected work, for admission by expected wait: the tokens it may produce (``max_tokens``
    or ``max_completion_tokens``; 256 when it does not say)."""
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return float(value)
    return float(DEFAULT_GENERATION_COST)


class ThreadedEngine:
    """An :class:`~cupola.engines.base.Engine` over a blocking chat or embedding backend."""

    def __init__(self, backend: Any, capabilities: Capabilities, admission: Any, executor: Executor) -> None:
        self.backend = backend
        self.capabilities = capabilities
        self.admission = admission
        self._executor = executor

    @property
    def description(self) -> str:
        return getattr(self.backend, "description", type(self.backend).__name__)

    async def fingerprint(self, request: dict[str, Any], endpoint: Endpoint = "chat") -> dict[str, Any]:
        """The sha256 of the exact prompt the model saw: the backend's own rendering where it has one
        (llama.cpp applies the chat template), else of the canonical request."""
        render = getattr(self.backend, "render", None)
        if render is None:
            return {"rendered_sha256": prompt_sha256(request), "rendered_from": "request_json"}
        text = await asyncio.get_running_loop().run_in_executor(self._executor, render, request, endpoint)
        return {"rendered_sha256": sha256(text), "rendered_from": "chat_template" if endpoint == "chat" else "prompt",
                "template_sha256": getattr(self.backend, "template_sha256", None)}

    def _release_when_done(self, future: asyncio.Future, started: float, cost: float = 1.0,
                           produced: Callable[[], float | None] = lambda: None) -> None:
        future.add_done_callback(lambda _f: self.admission.release(time.perf_counter() - started, cost, produced()))

    async def chat(self, body: dict[str, Any], endpoint: Endpoint = "chat") -> dict[str, Any]:
        request = dict(body, stream_options={"include_usage": True})
        return await collect(self.stream(request, endpoint), endpoint)

    async def stream(self, body: dict[str, Any], endpoint: Endpoint = "chat") -> AsyncIterator[dict[str, Any]]:
        first = True
        cost = generation_cost(body)
        async with aclosing(self._threaded(lambda emit: self.backend.generate(endpoint, body, emit), cost,
                                           count=True)) as items:
            async for waited, item in items:
                if first:  # the time spent waiting for a slot, with the engine's own timings
                    item["timings"] = {**(item.get("timings") or {}), "queue_ms": waited}
                    first = False
                yield item

    async def transcribe(self, audio: bytes, **options: Any) -> AsyncIterator[dict[str, Any]]:
        """Speech to text: ``{"type": "info"}`` (language, duration) as soon as it is known, one
        ``{"type": "segment"}`` per decoded segment, then ``{"type": "result"}`` (verbose_json)."""

        def run(emit: Any) -> None:
            result = self.backend.transcribe(
                audio, on_segment=lambda segment: emit({"type": "segment", **segment}),
                on_info=lambda info: emit({"type": "info", **info}) and False, **options)
            emit({"type": "result", **result})

        async with aclosing(self._threaded(run)) as items:
            async for waited, item in items:
                if item["type"] == "result":
                    item["queue_ms"] = waited
                yield item

    async def _threaded(self, work: Any, cost: float = 1.0, count: bool = False
                        ) -> AsyncIterator[tuple[float, dict[str, Any]]]:
        """Run ``work(emit)`` on a worker thread after taking a slot; yield what it emits (with the
        time waited for the slot). ``emit`` returns True once the reader has gone: the library
        stops at its next step. The slot is released when the thread really returns, with the
        items emitted as the work really done when ``count`` (a generation emits one per token)."""
        waited = time.perf_counter()
        await self.admission.acquire(cost)
        waited = (time.perf_counter() - waited) * 1000
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        emitted = [0]

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody is listening any more
                stop.set()

        def emit(item: dict[str, Any]) -> bool:
            emitted[0] += 1
            put(item)
            return stop.is_set()

        def run() -> None:
            try:
                work(emit)
            except BaseException as exc:  # noqa: BLE001 - handed to the event loop
                put(_Failure(exc))
            else:
                put(_DONE)

        started = time.perf_counter()
        try:
            future = loop.run_in_executor(self._executor, run)
        except BaseException:
            self.admission.release()
            raise
        self._release_when_done(future, started, cost, (lambda: float(emitted[0])) if count else (lambda: None))
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failure):
                    raise item.exc
                yield waited, item
        finally:
            stop.set()

    async def embed(self, texts: list[str], truncate: bool = False) -> tuple[np.ndarray, int]:
        await self.admission.acquire()
        started = time.perf_counter()
        try:
            future = asyncio.get_running_loop().run_in_executor(self._executor, self.backend.embed, texts, truncate)
        except BaseException:
            self.admission.release()
            raise
        self._release_when_done(future, started)
        return await future

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self.backend.close)
