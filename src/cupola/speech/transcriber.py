"""Speech to text for the HTTP routes, the CLI and (later) knowledge-base ingest.

:class:`Transcriber` has two public methods: ``await transcribe(model, audio, **options)`` returns
the whole result (the engine's ``verbose_json`` shape) and ``stream(model, audio, **options)``
yields a ``transcript.text.delta`` event per segment as it is decoded, then
``transcript.text.done``. Options are the engine's: ``task`` (``transcribe`` or ``translate``),
``language``, ``prompt``, ``temperature``, ``word_timestamps``, ``vad_filter``.

For now it loads speech models itself (pulling them first if needed), keeps them resident until
:meth:`close`, and admits one request per model at a time (a bounded queue, then 429). All of that
is in :meth:`_admit`/:meth:`_load`: the runtime will take it over (keep-alive, residency limit,
admission) without changing the two public methods. The engine is blocking: it runs on a worker
thread, and a stream that is closed early (the client went away) stops it at the next segment.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from cupola.config import Settings
from cupola.engines.whisper import TASKS, WhisperEngine
from cupola.engines.whisper_languages import require_code
from cupola.errors import CupolaError, InvalidParameter
from cupola.models.catalog import CatalogEntry
from cupola.models.store import ModelInfo, ModelStore
from cupola.naming import new_id
from cupola.runtime.admission import Admission
from cupola.runtime.records import RequestLog, RequestRecord
from cupola.speech import formats

log = logging.getLogger("cupola.speech")

EngineFactory = Callable[[ModelInfo], Any]


@dataclass
class _Loaded:
    entry: CatalogEntry
    engine: Any  # WhisperEngine, or a test double with the same transcribe/close
    admission: Admission


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_DONE = object()


class Transcriber:
    def __init__(self, settings: Settings, store: ModelStore | None = None, *,
                 engine_factory: EngineFactory | None = None, records: RequestLog | None = None) -> None:
        self.settings = settings
        self.store = store or ModelStore(settings.models_dir, offline=settings.offline)
        self.engine_factory = engine_factory or self._whisper
        self.records = records
        self._models: dict[str, _Loaded] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="cupola-speech")

    def _whisper(self, info: ModelInfo) -> WhisperEngine:
        assert info.path is not None
        return WhisperEngine(info.path, threads=self.settings.threads or os.cpu_count() or 1)

    # -- checks that need no model loaded --------------------------------------------------

    def entry(self, model: str) -> CatalogEntry:
        """The catalog entry of a speech model: 404 for an unknown name, 400 for another kind."""
        entry = self.store.entry(model)
        if entry.kind != "speech":
            speech = ", ".join(e.alias for e in self.store.entries() if e.kind == "speech")
            raise InvalidParameter(f"{model} is a {entry.kind} model and cannot transcribe audio; use a speech "
                                   f"model: {speech}", param="model")
        return entry

    def check(self, model: str, task: str = "transcribe", language: str | None = None) -> CatalogEntry:
        """Refuse a request the model cannot serve, from its catalog entry, before any loading."""
        entry = self.entry(model)
        if task not in TASKS:
            raise InvalidParameter(f"unknown task {task!r}: use transcribe or translate", param="task")
        if task == "translate" and "translation" not in entry.capabilities:
            raise InvalidParameter(f"{model} cannot translate (it is English-only); use a multilingual "
                                   "model such as whisper-base", param="model")
        code = require_code(language) if language else None
        if code and entry.languages is not None and code not in entry.languages:
            raise InvalidParameter(f"{model} understands only {', '.join(entry.languages)}, not {language!r}; "
                                   "use a multilingual model such as whisper-base", param="language")
        return entry

    # -- public API ------------------------------------------------------------------------

    async def transcribe(self, model: str, audio: bytes, *, task: str = "transcribe",
                         **options: Any) -> dict[str, Any]:
        """Transcribe (or, with ``task="translate"``, translate into English) the whole file."""
        result: dict[str, Any] = {}
        async for event in self._run(model, audio, task, options, stream=False):
            result = event
        return result

    async def stream(self, model: str, audio: bytes, *, task: str = "transcribe",
                     **options: Any) -> AsyncIterator[dict[str, Any]]:
        """The stream events (see ``cupola.speech.formats``), each segment as soon as it is decoded."""
        async for event in self._run(model, audio, task, options, stream=True):
            yield event

    async def close(self) -> None:
        for alias in list(self._models):
            loaded = self._models.pop(alias)
            loaded.engine.close()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def loaded(self) -> list[str]:
        return list(self._models)

    # -- model loading and admission (the runtime's job, later) ----------------------------

    async def _admit(self, model: str) -> _Loaded:
        loaded = self._models.get(model)
        if loaded is None:
            async with self._locks.setdefault(model, asyncio.Lock()):
                loaded = self._models.get(model) or await self._load(model)
        await loaded.admission.acquire()
        return loaded

    async def _load(self, model: str) -> _Loaded:
        entry = self.entry(model)
        loop = asyncio.get_running_loop()
        info = self.store.info(model)
        if not info.pulled:
            log.warning("pulling %s before loading it", model)
            info = await loop.run_in_executor(self._executor, self.store.pull, model)
        engine = await loop.run_in_executor(self._executor, self.engine_factory, info)
        loaded = _Loaded(entry, engine, Admission(model, 1, self.settings.max_queue))
        self._models[model] = loaded
        return loaded

    # -- running one request -----------------------------------------------------------------

    async def _run(self, model: str, audio: bytes, task: str, options: dict[str, Any],
                   *, stream: bool) -> AsyncIterator[dict[str, Any]]:
        """Yield stream events, or (``stream=False``) only the final result."""
        self.check(model, task, options.get("language"))
        record = RequestRecord(new_id("req"), "translations" if task == "translate" else "transcriptions",
                               model, stream)
        started = time.perf_counter()
        try:
            loaded = await self._admit(model)
        except CupolaError as exc:
            self._record(record, started, "rejected" if exc.status == 429 else "error", exc.message)
            raise
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        info: dict[str, Any] = {"duration": 0.0}

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the event loop is gone: nobody is listening
                stop.set()

        def on_segment(segment: dict[str, Any]) -> bool:
            if stream:
                put(segment)
            return stop.is_set()

        def run() -> None:
            try:
                result = loaded.engine.transcribe(audio, task=task, on_segment=on_segment,
                                                  on_info=info.update, **options)
            except BaseException as exc:  # noqa: BLE001 - handed to the event loop
                put(_Failure(exc))
            else:
                put(result)
            put(_DONE)

        released = False

        def finished(_future: Any = None) -> None:  # the model is free when the thread really returns
            nonlocal released
            if not released:
                released = True
                loaded.admission.release(time.perf_counter() - started)
                self._record(record, started, record.status, record.error)

        try:
            future = loop.run_in_executor(self._executor, run)
        except BaseException:  # the executor is shut down: give the slot back
            loaded.admission.release()
            raise
        future.add_done_callback(finished)
        first = True
        complete = False
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    complete = True
                    await future
                    finished()  # now, not whenever the loop gets to the future's callback
                    return
                if isinstance(item, _Failure):
                    record.status = "error"
                    record.error = item.exc.message if isinstance(item.exc, CupolaError) else repr(item.exc)
                    complete = True
                    await future
                    finished()
                    raise item.exc
                if "segments" in item:  # the final result: nothing is lost if the reader leaves now
                    record.finish_reason = "stop"
                    complete = True
                    yield formats.done_event(item) if stream else item
                    continue
                delta = item["text"].lstrip() if first else item["text"]
                first = False
                yield formats.delta_event(item, delta, info["duration"])
        finally:
            if not complete:
                stop.set()  # the reader went away: the engine stops at its next segment
                record.error = record.error or "closed before the end"
                record.status = "cancelled"

    def _record(self, record: RequestRecord, started: float, status: str, error: str | None) -> None:
        if self.records is None:
            return
        record.status, record.error = status, error
        record.duration_ms = (time.perf_counter() - started) * 1000
        try:
            self.records.add(record)
        except Exception:  # a full disk must not fail a request that already succeeded
            log.exception("could not record request %s", record.id)
