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
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from typing import Any

import numpy as np

from cupola.completions import collect
from cupola.engines.base import Capabilities, Endpoint


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_DONE = object()


class ThreadedEngine:
    """An :class:`~cupola.engines.base.Engine` over a blocking chat or embedding backend."""

    def __init__(self, backend: Any, capabilities: Capabilities, admission: Any, executor: Executor) -> None:
        self.backend = backend
        self.capabilities = capabilities
        self.admission = admission
        self._executor = executor

    def _release_when_done(self, future: asyncio.Future, started: float) -> None:
        future.add_done_callback(lambda _f: self.admission.release(time.perf_counter() - started))

    async def chat(self, body: dict[str, Any], endpoint: Endpoint = "chat") -> dict[str, Any]:
        request = dict(body, stream_options={"include_usage": True})
        return await collect(self.stream(request, endpoint), endpoint)

    async def stream(self, body: dict[str, Any], endpoint: Endpoint = "chat") -> AsyncIterator[dict[str, Any]]:
        await self.admission.acquire()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody is listening any more
                stop.set()

        def on_chunk(chunk: dict[str, Any]) -> bool:
            put(chunk)
            return stop.is_set()

        def run() -> None:
            try:
                self.backend.generate(endpoint, body, on_chunk)
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
        self._release_when_done(future, started)
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failure):
                    raise item.exc
                yield item
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
