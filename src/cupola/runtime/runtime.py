"""The runtime: which models are loaded, admission in front of each, and request records.

Models load on first use (pulling them if needed) and stay resident for a keep-alive period
(the settings' default, or a request's ``keep_alive``); a reaper unloads them when it runs out,
and loading past ``max_loaded_models`` evicts the idlest idle model. Engines are blocking, so
each request runs on a worker thread; streamed chunks cross back to the event loop through a
queue. Stopping a stream (client gone) tells the engine to stop at its next token, which frees
the slot.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cupola.config import Settings, parse_duration
from cupola.engines.base import ChatEngine, EmbeddingEngine
from cupola.errors import Cancelled, CupolaError, InvalidParameter, Overloaded, UsageError
from cupola.models.catalog import CatalogEntry
from cupola.models.store import ModelInfo, ModelStore
from cupola.runtime.admission import Admission
from cupola.runtime.metrics import Metrics
from cupola.runtime.records import RequestLog, RequestRecord

log = logging.getLogger("cupola.runtime")

KeepAlive = str | int | float | None  # None: not given (the model keeps its keep-alive)


@dataclass
class LoadedModel:
    entry: CatalogEntry
    engine: Any  # ChatEngine | EmbeddingEngine
    admission: Admission
    loaded_at: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.time)
    keep_alive: float | None = 300.0  # seconds; None: forever

    @property
    def expires_at(self) -> float | None:
        return None if self.keep_alive is None else self.last_used + self.keep_alive

    def describe(self) -> dict[str, Any]:
        return {"model": self.entry.alias, "kind": self.entry.kind, "loaded_at": self.loaded_at,
                "last_used": self.last_used, "expires_at": self.expires_at,
                "running": self.admission.running, "queued": self.admission.waiting,
                "size": self.entry.size}


class EngineFactory:
    """Builds the engine for a pulled model; tests substitute fake engines here."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self, info: ModelInfo) -> ChatEngine | EmbeddingEngine:
        entry = info.entry
        if entry.format == "onnx":
            from cupola.engines.onnx_embed import OnnxEmbeddingEngine

            return OnnxEmbeddingEngine(info.file("model.onnx"), info.file("tokenizer.json"),
                                       pooling=entry.pooling or "mean", normalize=entry.normalize,
                                       max_tokens=entry.max_input_tokens or 512, threads=self.settings.threads)
        from cupola.engines.llamacpp import LlamaCppEngine, LlamaCppOptions

        opts = LlamaCppOptions(parallel=self.settings.parallel, ctx_per_slot=self.settings.ctx_per_slot,
                               threads=self.settings.threads)
        return LlamaCppEngine(info.file(), entry.alias, opts)


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_DONE = object()


class Runtime:
    def __init__(self, settings: Settings, store: ModelStore | None = None, *,
                 engine_factory: Any = None, records: RequestLog | None = None,
                 metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.store = store or ModelStore(settings.models_dir, offline=settings.offline)
        self.engine_factory = engine_factory or EngineFactory(settings)
        self.records = records if records is not None else RequestLog(settings.db_path("requests"))
        self.metrics = metrics or Metrics()
        self.models: dict[str, LoadedModel] = {}
        self.loading: set[str] = set()
        self._load_locks: dict[str, asyncio.Lock] = {}
        self._executor = ThreadPoolExecutor(max_workers=64, thread_name_prefix="cupola-engine")
        self._reaper: asyncio.Task | None = None
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._reaper is None:
            self._reaper = asyncio.create_task(self._reap_forever(), name="cupola-reaper")

    async def close(self) -> None:
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            try:
                await self._reaper
            except asyncio.CancelledError:
                pass
        for alias in list(self.models):
            await self.unload(alias, force=True)
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.records.close()

    def _keep_alive(self, value: KeepAlive) -> float | None:
        if value is None:
            return self.settings.keep_alive_seconds
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise InvalidParameter(str(exc), param="keep_alive") from exc

    async def load(self, alias: str, keep_alive: KeepAlive = None) -> LoadedModel:
        """Load ``alias`` if it is not resident (pulling it first if needed) and return it."""
        ttl = self._keep_alive(keep_alive)
        model = self.models.get(alias)
        if model is None:
            lock = self._load_locks.setdefault(alias, asyncio.Lock())
            async with lock:
                model = self.models.get(alias)
                if model is None:
                    model = await self._load(alias)
        if keep_alive is not None:
            model.keep_alive = ttl
        model.last_used = time.time()
        return model

    async def _load(self, alias: str) -> LoadedModel:
        entry = self.store.entry(alias)  # ModelNotFound for unknown names
        await self._make_room(alias)
        self.loading.add(alias)
        started = time.perf_counter()
        try:
            loop = asyncio.get_running_loop()
            info = self.store.info(alias)
            if not info.pulled:
                log.warning("pulling %s before loading it", alias)
                info = await loop.run_in_executor(self._executor, self.store.pull, alias)
            engine = await loop.run_in_executor(self._executor, self.engine_factory, info)
        finally:
            self.loading.discard(alias)
        if entry.kind == "chat":
            admission = Admission(alias, self.settings.parallel, self.settings.max_queue)
        else:
            admission = Admission(alias, 1, self.settings.max_queue * 4)
        model = LoadedModel(entry, engine, admission, keep_alive=self.settings.keep_alive_seconds)
        self.models[alias] = model
        self.metrics.load_seconds.labels(alias).observe(time.perf_counter() - started)
        self.metrics.loaded.set(len(self.models))
        return model

    async def _make_room(self, alias: str) -> None:
        while len(self.models) >= self.settings.max_loaded_models:
            idle = [m for m in self.models.values() if not m.admission.busy]
            if not idle:
                raise Overloaded(f"cannot load {alias}: all {len(self.models)} resident models are busy "
                                 f"(max_loaded_models={self.settings.max_loaded_models})", retry_after=5)
            victim = min(idle, key=lambda m: m.last_used)
            log.info("evicting %s to make room for %s", victim.entry.alias, alias)
            await self.unload(victim.entry.alias)

    async def unload(self, alias: str, *, force: bool = False) -> bool:
        model = self.models.get(alias)
        if model is None:
            return False
        if model.admission.busy and not force:
            model.keep_alive = 0  # unload as soon as its requests finish
            return False
        del self.models[alias]
        self.metrics.loaded.set(len(self.models))
        await asyncio.get_running_loop().run_in_executor(self._executor, model.engine.close)
        return True

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            await self.reap()

    async def reap(self) -> list[str]:
        """Unload every idle model whose keep-alive ran out."""
        now = time.time()
        gone = []
        for alias, model in list(self.models.items()):
            exp = model.expires_at
            if exp is not None and exp <= now and not model.admission.busy:
                if await self.unload(alias):
                    gone.append(alias)
        return gone

    def ps(self) -> list[dict[str, Any]]:
        return [m.describe() for m in self.models.values()]

    @property
    def busy_loading(self) -> bool:
        return bool(self.loading)

    # -- requests -------------------------------------------------------------------------

    def _prepare(self, model: LoadedModel, body: dict[str, Any]) -> dict[str, Any]:
        if model.entry.kind != "chat":
            raise UsageError(f"{model.entry.alias} is an embedding model; it cannot generate text",
                             param="model")
        merged = {k: v for k, v in model.entry.defaults.items() if body.get(k) is None}
        merged.update({k: v for k, v in body.items() if v is not None})
        merged["model"] = model.entry.alias
        return merged

    async def _admit(self, alias: str, keep_alive: KeepAlive) -> LoadedModel:
        model = await self.load(alias, keep_alive)
        await model.admission.acquire()
        self.metrics.queue_depth.labels(alias).set(model.admission.waiting)
        self.metrics.running.labels(alias).set(model.admission.running)
        return model

    def _done(self, model: LoadedModel, record: RequestRecord, started: float) -> None:
        seconds = time.perf_counter() - started
        model.admission.release(seconds)
        model.last_used = time.time()
        alias = model.entry.alias
        self.metrics.queue_depth.labels(alias).set(model.admission.waiting)
        self.metrics.running.labels(alias).set(model.admission.running)
        record.duration_ms = seconds * 1000
        self._record(record)
        if model.keep_alive == 0 and not model.admission.busy and not self._closed:
            asyncio.get_running_loop().create_task(self.unload(alias))

    def _record(self, record: RequestRecord) -> None:
        m = self.metrics
        m.requests.labels(record.model, record.endpoint, record.status).inc()
        if record.prompt_tokens:
            m.tokens.labels(record.model, "prompt").inc(record.prompt_tokens)
        if record.completion_tokens:
            m.tokens.labels(record.model, "completion").inc(record.completion_tokens)
        if record.ttft_ms is not None:
            m.ttft.labels(record.model).observe(record.ttft_ms / 1000)
        if record.duration_ms is not None:
            m.latency.labels(record.model, record.endpoint).observe(record.duration_ms / 1000)
        try:
            self.records.add(record)
        except Exception:  # a full disk must not fail the request that already succeeded
            log.exception("could not record request %s", record.id)

    async def _begin(self, record: RequestRecord, keep_alive: KeepAlive) -> LoadedModel:
        """Load and admit; a refused request (unknown model, overload) is recorded too."""
        try:
            return await self._admit(record.model, keep_alive)
        except CupolaError as exc:
            record.status = "rejected" if isinstance(exc, Overloaded) else "error"
            record.error = exc.message
            self._record(record)
            raise

    async def generate(self, alias: str, body: dict[str, Any], *, endpoint: str = "chat",
                       keep_alive: KeepAlive = None) -> dict[str, Any]:
        """Run one non-streaming chat or completion request."""
        record = RequestRecord(uuid.uuid4().hex, endpoint, alias, False)
        started = time.perf_counter()
        model = await self._begin(record, keep_alive)
        try:
            request = self._prepare(model, body)
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self._executor, model.engine.generate, endpoint, request, None)
            assert result is not None
            result["model"] = alias
            result.pop("timings", None)
            usage = result.get("usage") or {}
            record.prompt_tokens = usage.get("prompt_tokens")
            record.completion_tokens = usage.get("completion_tokens")
            record.ttft_ms = (time.perf_counter() - started) * 1000
            record.finish_reason = (result.get("choices") or [{}])[0].get("finish_reason")
            return result
        except CupolaError as exc:
            record.status, record.error = "error", exc.message
            raise
        except BaseException as exc:
            record.status, record.error = ("cancelled", "client went away") \
                if isinstance(exc, asyncio.CancelledError) else ("error", repr(exc))
            raise
        finally:
            self._done(model, record, started)

    async def stream(self, alias: str, body: dict[str, Any], *, endpoint: str = "chat",
                     keep_alive: KeepAlive = None) -> AsyncIterator[dict[str, Any]]:
        """Stream one chat or completion request as OpenAI chunks.

        Usage is always requested from the engine (for the records); the chunk carrying it is
        passed on only if the caller asked with ``stream_options.include_usage``. Closing the
        iterator early stops the generation.
        """
        record = RequestRecord(uuid.uuid4().hex, endpoint, alias, True)
        started = time.perf_counter()
        model = await self._begin(record, keep_alive)
        want_usage = bool((body.get("stream_options") or {}).get("include_usage"))
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

        def run(request: dict[str, Any]) -> None:
            try:
                model.engine.generate(endpoint, request, on_chunk)
            except BaseException as exc:  # noqa: BLE001 - handed to the event loop
                put(_Failure(exc))
            else:
                put(_DONE)

        finished = False
        try:
            request = self._prepare(model, body)
            request["stream_options"] = {"include_usage": True}
            future = loop.run_in_executor(self._executor, run, request)
        except BaseException as exc:
            record.status, record.error = "error", str(exc)
            self._done(model, record, started)
            raise
        # The slot is released when the engine thread really returns, not when we stop reading.
        future.add_done_callback(lambda _f: self._done(model, record, started))
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    finished = True
                    return
                if isinstance(item, _Failure):
                    exc = item.exc
                    record.status = "error"
                    record.error = exc.message if isinstance(exc, CupolaError) else repr(exc)
                    finished = True
                    raise exc
                item["model"] = alias
                item.pop("timings", None)
                choices = item.get("choices") or []
                if record.ttft_ms is None and choices and _has_output(choices[0]):
                    record.ttft_ms = (time.perf_counter() - started) * 1000
                for choice in choices:
                    if choice.get("finish_reason"):
                        record.finish_reason = choice["finish_reason"]
                usage = item.get("usage")
                if usage:
                    record.prompt_tokens = usage.get("prompt_tokens")
                    record.completion_tokens = usage.get("completion_tokens")
                    if not want_usage:
                        if not choices:
                            continue
                        item.pop("usage")
                yield item
        finally:
            if not finished:
                stop.set()
                record.status = "cancelled"
                record.error = "stream closed before the end"

    async def embed(self, alias: str, texts: list[str], *, keep_alive: KeepAlive = None) -> tuple[np.ndarray, int]:
        record = RequestRecord(uuid.uuid4().hex, "embeddings", alias, False)
        started = time.perf_counter()
        model = await self._begin(record, keep_alive)
        try:
            if model.entry.kind != "embedding":
                raise UsageError(f"{alias} is a {model.entry.kind} model; use an embedding model such as "
                                 f"{self.settings.default_embedding_model}", param="model")
            loop = asyncio.get_running_loop()
            vectors, tokens = await loop.run_in_executor(self._executor, model.engine.embed, texts)
            record.prompt_tokens = tokens
            record.finish_reason = "stop"
            return vectors, tokens
        except CupolaError as exc:
            record.status, record.error = "error", exc.message
            raise
        except asyncio.CancelledError:
            record.status = "cancelled"
            raise Cancelled("client went away") from None
        finally:
            self._done(model, record, started)


def _has_output(choice: dict[str, Any]) -> bool:
    delta = choice.get("delta") or {}
    return bool(delta.get("content") or delta.get("tool_calls") or choice.get("text"))
