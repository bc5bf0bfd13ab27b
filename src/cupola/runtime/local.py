"""In-process models: which are loaded, for how long, and how many at once.

Models load on first use (pulling them if needed) and stay resident for a keep-alive period (the
settings' default, or a request's ``keep_alive``); a reaper unloads them when it runs out, and
loading past ``max_loaded_models`` evicts the idlest idle model. Each loaded model is an engine:
its blocking backend (llama.cpp, ONNX Runtime) behind the thread bridge, with its own admission.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from cupola.config import Settings, parse_duration
from cupola.engines.base import Capabilities
from cupola.engines.bridge import ThreadedEngine
from cupola.errors import InvalidParameter, Overloaded
from cupola.models.catalog import CatalogEntry
from cupola.models.store import ModelInfo, ModelStore
from cupola.models.gguf import read_gguf
from cupola.runtime import slots
from cupola.runtime.admission import Admission
from cupola.runtime.metrics import Metrics

log = logging.getLogger("cupola.runtime")

KeepAlive = str | int | float | None  # None: not given (the model keeps its keep-alive)
DEFAULT_SLOTS = 4  # backends that do not say how many requests they decode at once (test fakes)


class EngineFactory:
    """Builds the blocking backend for a pulled model; tests substitute fake backends here."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self, info: ModelInfo) -> Any:
        entry = info.entry
        if entry.format == "ctranslate2":
            from cupola.engines.whisper import WhisperEngine

            assert info.path is not None
            return WhisperEngine(info.path, threads=self.settings.threads or os.cpu_count() or 1)
        if entry.format == "onnx":
            from cupola.engines.onnx_embed import OnnxEmbeddingEngine

            return OnnxEmbeddingEngine(info.file("model.onnx"), info.file("tokenizer.json"),
                                       pooling=entry.pooling or "mean", normalize=entry.normalize,
                                       max_tokens=entry.max_input_tokens or 512, threads=self.settings.threads,
                                       name=entry.alias)
        meta = read_gguf(info.file())
        if entry.kind == "embedding":
            from cupola.engines.llamacpp_embed import LlamaCppEmbeddingEngine

            return LlamaCppEmbeddingEngine(info.file(), entry.alias,
                                           max_tokens=entry.max_input_tokens or meta.context_length or 512,
                                           threads=self.settings.threads, pooling=None if meta.pooling else "mean")
        from cupola.engines.llamacpp import LlamaCppEngine, LlamaCppOptions

        sized = slots.plan(info.file().stat().st_size, self.settings.ctx_per_slot, meta.kv_bytes_per_token,
                           slots.available_memory(), configured=self.settings.parallel)
        log.info("%s: %d slots (%s)", entry.alias, sized.slots, sized.reason)
        opts = LlamaCppOptions(parallel=sized.slots, ctx_per_slot=self.settings.ctx_per_slot,
                               threads=self.settings.threads)
        return LlamaCppEngine(info.file(), entry.alias, opts)


def capabilities_of(entry: CatalogEntry, backend: Any, settings: Settings) -> Capabilities:
    """What an in-process model can do: from its catalog entry, its backend and the settings."""
    if entry.kind == "embedding":
        limit = getattr(backend, "max_tokens", None) or entry.max_input_tokens or entry.context_length
        return Capabilities(embeddings=True, context_length=limit, concurrency=1)
    if entry.kind == "speech":  # one transcription at a time: it already uses every core
        return Capabilities(speech=True, concurrency=1)
    context = settings.ctx_per_slot if entry.context_length is None else min(settings.ctx_per_slot,
                                                                             entry.context_length)
    options = getattr(backend, "options", None)  # llama.cpp: the slots it was started with
    concurrency = getattr(options, "parallel", None) or settings.parallel or DEFAULT_SLOTS
    return Capabilities(chat=True, completion=True, native_tools=bool(getattr(backend, "native_tools", False)),
                        grammar=bool(getattr(backend, "grammar", True)), json_schema=True,
                        context_length=context, concurrency=concurrency)


@dataclass
class LoadedModel:
    entry: CatalogEntry
    engine: ThreadedEngine
    loaded_at: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.time)
    keep_alive: float | None = 300.0  # seconds; None: forever

    @property
    def admission(self) -> Admission:
        return self.engine.admission

    @property
    def expires_at(self) -> float | None:
        return None if self.keep_alive is None else self.last_used + self.keep_alive

    def describe(self) -> dict[str, Any]:
        return {"model": self.entry.alias, "kind": self.entry.kind, "location": "local",
                "loaded_at": self.loaded_at, "last_used": self.last_used, "expires_at": self.expires_at,
                "running": self.admission.running, "queued": self.admission.waiting,
                "slots": self.admission.capacity, "expected_wait": round(self.admission.expected_wait(), 1),
                "size": self.entry.size}


class LocalModels:
    def __init__(self, settings: Settings, store: ModelStore, engine_factory: Any, metrics: Metrics,
                 executor: Executor) -> None:
        self.settings = settings
        self.store = store
        self.engine_factory = engine_factory
        self.metrics = metrics
        self.executor = executor
        self.models: dict[str, LoadedModel] = {}
        self.loading: set[str] = set()
        self._load_locks: dict[str, asyncio.Lock] = {}
        self.closed = False

    def keep_alive_seconds(self, value: KeepAlive) -> float | None:
        if value is None:
            return self.settings.keep_alive_seconds
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise InvalidParameter(str(exc), param="keep_alive") from exc

    async def load(self, alias: str, keep_alive: KeepAlive = None) -> LoadedModel:
        """Load ``alias`` if it is not resident (pulling it first if needed) and return it."""
        ttl = self.keep_alive_seconds(keep_alive)
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
                info = await loop.run_in_executor(self.executor, self.store.pull, alias)
            backend = await loop.run_in_executor(self.executor, self.engine_factory, info)
        finally:
            self.loading.discard(alias)
        caps = capabilities_of(entry, backend, self.settings)
        admission = Admission(alias, caps.concurrency, self.settings.max_queue, self.settings.max_queue_wait)
        engine = ThreadedEngine(backend, caps, admission, self.executor)
        model = LoadedModel(entry, engine, keep_alive=self.settings.keep_alive_seconds)
        engine.admission.on_idle = lambda: self._idle(model)
        # the gauges read the admission when scraped: a slot shows free the moment its engine thread returns
        self.metrics.running.labels(alias).set_function(lambda: admission.running)
        self.metrics.queue_depth.labels(alias).set_function(lambda: admission.waiting)
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

    def used(self, model: LoadedModel) -> None:
        """A request on ``model`` finished: restart its keep-alive."""
        model.last_used = time.time()
        if not model.admission.busy:
            self._idle(model)

    def _idle(self, model: LoadedModel) -> None:
        """The model's last request is done (its engine thread returned): keep-alive 0 unloads now."""
        if model.keep_alive == 0 and not self.closed and self.models.get(model.entry.alias) is model:
            asyncio.get_running_loop().create_task(self.unload(model.entry.alias))

    async def unload(self, alias: str, *, force: bool = False) -> bool:
        model = self.models.get(alias)
        if model is None:
            return False
        if model.admission.busy and not force:
            model.keep_alive = 0  # unload as soon as its requests finish
            return False
        del self.models[alias]
        self.metrics.loaded.set(len(self.models))
        self.metrics.running.labels(alias).set_function(lambda: 0)
        self.metrics.queue_depth.labels(alias).set_function(lambda: 0)
        await model.engine.close()
        return True

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

    async def close(self) -> None:
        self.closed = True
        for alias in list(self.models):
            await self.unload(alias, force=True)

    def ps(self) -> list[dict[str, Any]]:
        return [m.describe() for m in self.models.values()]
