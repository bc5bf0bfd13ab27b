"""The runtime: the one path every model call takes.

Routes (chat, completions, embeddings, responses, hosted agents), knowledge answers, agents and
workflows all call the runtime, directly or through ``LocalClient``. For each request it

1. **resolves** the model name: a local catalog model, an upstream's model (``[upstreams]``), or a
   router (``[routers]``) that picks a candidate; then the ``[fallbacks]`` chain;
2. gets the **engine** (loading a local model, keep-alive and residency limits included) and its
   admission slot (429 past the queue);
3. **adapts** the body to the engine's capabilities (catalog sampling defaults, the tool-call
   adapter) and runs it;
4. on an unavailable engine, a 429, a time-out before the first token, or a prompt too long for it
   (to a model with a larger context), **falls back** to the next model; never after output started;
5. **records** the request (SQLite ``requests.db``, Prometheus metrics) with the model that answered
   and why.

Embeddings never fall back: vectors from another model would not be comparable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cupola.config import Settings
from cupola.engines.base import Engine
from cupola.errors import (Cancelled, ContextLengthExceeded, CupolaError, DownloadError, EngineError, ModelNotFound,
                           Overloaded, Unavailable, UpstreamError, UpstreamTimeout, UsageError)
from cupola.models.store import ModelStore
from cupola.naming import new_id
from cupola.runtime import tool_calls
from cupola.runtime.local import EngineFactory, KeepAlive, LoadedModel, LocalModels
from cupola.runtime.metrics import Metrics
from cupola.runtime.records import RequestLog, RequestRecord
from cupola.runtime.router import Router, RouterModel
from cupola.runtime.upstreams import Upstreams

log = logging.getLogger("cupola.runtime")

# Failures after which a request moves on to the next model of its chain.
FALLBACK_ERRORS = (Unavailable, Overloaded, UpstreamTimeout, UpstreamError, ContextLengthExceeded, DownloadError,
                   EngineError)

__all__ = ["Runtime", "Route", "Completion", "Streamed", "Embeddings", "EngineFactory", "KeepAlive"]


@dataclass
class Route:
    """Which model answered a request, where it ran, and why."""

    requested: str
    model: str
    location: str  # local | upstream:NAME
    reason: str = "direct"
    failed: list[str] = field(default_factory=list)  # "model: why" of the models tried before

    def header(self) -> str:
        """The ``x-cupola-route`` header: ASCII, one line."""
        text = f"{self.requested} -> {self.model} ({self.location}); {self.reason}"
        if self.failed:
            text += "; fallback after " + " | ".join(self.failed)
        return text.encode("ascii", "replace").decode()[:1000].replace("\n", " ")

    def to_dict(self) -> dict[str, Any]:
        return {"requested": self.requested, "model": self.model, "location": self.location,
                "reason": self.reason, "failed": self.failed}


@dataclass
class Completion:
    response: dict[str, Any]
    route: Route


@dataclass
class Embeddings:
    vectors: np.ndarray
    tokens: int
    model: str


class Streamed:
    """A started stream: the first chunk is already here (so errors became HTTP statuses)."""

    def __init__(self, route: Route, chunks: AsyncIterator[dict[str, Any]]) -> None:
        self.route = route
        self._chunks = chunks

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._chunks

    async def aclose(self) -> None:
        await self._chunks.aclose()  # type: ignore[attr-defined]


async def _chain(first: dict[str, Any], rest: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    async with aclosing(rest):  # type: ignore[type-var]
        yield first
        async for chunk in rest:
            yield chunk


class Runtime:
    def __init__(self, settings: Settings, store: ModelStore | None = None, *,
                 engine_factory: Any = None, records: RequestLog | None = None,
                 metrics: Metrics | None = None, upstreams: Upstreams | None = None) -> None:
        self.settings = settings
        self.store = store or ModelStore(settings.models_dir, offline=settings.offline)
        self.records = records if records is not None else RequestLog(settings.db_path("requests"))
        self.metrics = metrics or Metrics()
        self._executor = ThreadPoolExecutor(max_workers=64, thread_name_prefix="cupola-engine")
        self.local = LocalModels(settings, self.store, engine_factory or EngineFactory(settings), self.metrics,
                                 self._executor)
        self.upstreams = upstreams if upstreams is not None else Upstreams(
            settings.upstreams, default_max_queue=settings.max_queue, default_max_wait=settings.max_queue_wait)
        self.metrics.registry.register(self.upstreams.collector())
        self._check_names()
        self.routers = {name: Router(name, cfg, RouterModel.load(self.router_path(name)),
                                     self._costs(cfg.candidates, cfg.costs))
                        for name, cfg in settings.routers.items()}
        self._reaper: asyncio.Task | None = None
        self._closed = False

    # -- names ------------------------------------------------------------------------------

    def router_path(self, name: str) -> Any:
        return self.settings.home / "routers" / f"{name}.json"

    def _known(self, alias: str) -> bool:
        if alias in self.upstreams or alias in self.settings.routers:
            return True
        try:
            self.store.entry(alias)
            return True
        except ModelNotFound:
            return False

    def _check_names(self) -> None:
        """Configuration mistakes stop the server at start, not a request at run time."""
        local = {e.alias for e in self.store.entries()}
        for alias, found in self.upstreams.models.items():
            if alias in local:
                raise UsageError(f"upstream {found.upstream}'s alias {alias!r} is also a local model",
                                 hint="give the upstream's model another alias in [upstreams.*].models")
        for name, config in self.settings.routers.items():
            if name in local or name in self.upstreams:
                raise UsageError(f"router {name!r} has the name of a model", hint="rename [routers.NAME]")
            for candidate in config.candidates:
                if candidate in self.settings.routers or not self._known(candidate):
                    raise UsageError(f"router {name}: candidate {candidate!r} is not a model",
                                     hint="candidates are local models or upstream aliases (`cupola models list`)")
        for alias, chain in self.settings.fallbacks.items():
            for target in [alias, *chain]:
                if not self._known(target) or (target in self.settings.routers and target != alias):
                    raise UsageError(f"[fallbacks] {alias}: {target!r} is not a model",
                                     hint="fallbacks name local models or upstream aliases (`cupola models list`)")

    def _costs(self, candidates: list[str], given: dict[str, float]) -> dict[str, float]:
        """Cost per candidate: as configured; else local size in bytes (relative); upstreams dearer."""
        out: dict[str, float] = {}
        for i, c in enumerate(candidates):
            if c in given:
                out[c] = given[c]
            elif c in self.upstreams:
                out[c] = 1e15 + i
            else:
                size = self.store.entry(c).size
                out[c] = float(size) if size else 1e14 + i
        return out

    def available(self) -> list[str]:
        return [e.alias for e in self.store.entries()] + list(self.upstreams.models) + list(self.routers)

    def _unknown(self, alias: str) -> ModelNotFound:
        return ModelNotFound(f"model {alias!r} not found; available: {', '.join(self.available())}",
                             param="model", hint="`cupola models list` shows the catalog, upstreams and routers")

    def describe_models(self) -> list[dict[str, Any]]:
        """Every model a request can name: pulled or loaded local models, upstream models, routers."""
        out = []
        for info in self.store.list():
            alias = info.entry.alias
            if info.pulled or alias in self.local.models:
                out.append({"id": alias, "kind": info.entry.kind, "location": "local", "owned_by": "cupola",
                            "created": int(info.pulled_at or time.time())})
        for alias, found in self.upstreams.models.items():
            out.append({"id": alias, "kind": "chat", "location": f"upstream:{found.upstream}",
                        "owned_by": f"upstream:{found.upstream}", "upstream_model": found.model,
                        "created": int(time.time())})
        for name, router in self.routers.items():
            out.append({"id": name, "kind": "chat", "location": "router", "owned_by": "cupola-router",
                        "candidates": router.config.candidates, "mode": router.config.mode,
                        "created": int(time.time())})
        return out

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
        await self.local.close()
        await self.upstreams.close()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.records.close()

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            await self.local.reap()

    # local models (the server's /api/models routes and tests use these)
    @property
    def models(self) -> dict[str, LoadedModel]:
        return self.local.models

    @property
    def loading(self) -> set[str]:
        return self.local.loading

    @property
    def busy_loading(self) -> bool:
        return bool(self.local.loading)

    async def load(self, alias: str, keep_alive: KeepAlive = None) -> LoadedModel:
        if alias in self.upstreams or alias in self.routers:
            raise UsageError(f"{alias} is not a local model; only local models are loaded", param="model")
        return await self.local.load(alias, keep_alive)

    async def unload(self, alias: str, *, force: bool = False) -> bool:
        return await self.local.unload(alias, force=force)

    async def reap(self) -> list[str]:
        return await self.local.reap()

    def ps(self) -> list[dict[str, Any]]:
        return self.local.ps()

    # -- resolving ------------------------------------------------------------------------

    async def _targets(self, model: str, body: dict[str, Any]) -> tuple[list[str], str]:
        """The models to try, in order, and why the first one."""
        router = self.routers.get(model)
        if router is not None:
            decision = await router.choose(body, self._embed_for_routing)
            self.metrics.routes.labels(model, decision.order[0]).inc()
            return decision.order, decision.reason
        if not self._known(model):
            raise self._unknown(model)
        return [model, *self.settings.fallbacks.get(model, [])], "direct"

    async def _engine(self, alias: str, keep_alive: KeepAlive) -> tuple[Engine, LoadedModel | None, str]:
        if alias in self.upstreams:
            found = self.upstreams.models[alias]
            return self.upstreams.engine(alias), None, f"upstream:{found.upstream}"
        if alias in self.routers:
            raise UsageError(f"{alias} is a router; it cannot be a fallback", param="model")
        loaded = await self.local.load(alias, keep_alive)
        return loaded.engine, loaded, "local"

    async def _embed_for_routing(self, texts: list[str]) -> np.ndarray:
        return (await self.embeddings(self.settings.default_embedding_model, texts, record=False,
                                      truncate=True)).vectors

    async def _prepare(self, alias: str, loaded: LoadedModel | None, engine: Engine, body: dict[str, Any],
                       endpoint: str) -> tuple[dict[str, Any], Any]:
        caps = engine.capabilities
        if not (caps.chat if endpoint == "chat" else caps.completion):
            kind = loaded.entry.kind if loaded else "remote"
            raise UsageError(f"{alias} is {'an' if kind[0] in 'aeiou' else 'a'} {kind} model; it cannot "
                             f"generate text", param="model")
        request = dict(body)
        if loaded is not None:  # the catalog's recommended sampling, where the request says nothing
            for key, value in loaded.entry.defaults.items():
                if request.get(key) is None:
                    request[key] = value
        request = {k: v for k, v in request.items() if v is not None}
        request["model"] = alias
        _check_max_tokens(alias, request.get("max_tokens"), caps.context_length)
        if endpoint != "chat":
            return request, None
        return await tool_calls.prepare(request, caps, self._embed_for_routing, self.settings.tool_route_threshold)

    # -- generating -----------------------------------------------------------------------

    def _skip(self, alias: str, failed_context: int | None) -> bool:
        """After a prompt did not fit, only models known to have a larger context are worth trying."""
        if failed_context is None:
            return False
        context = self._context_of(alias)
        return context is not None and context <= failed_context

    def _context_of(self, alias: str) -> int | None:
        if alias in self.upstreams:
            return self.upstreams.configs[self.upstreams.models[alias].upstream].context_length
        loaded = self.local.models.get(alias)
        if loaded is not None:
            return loaded.engine.capabilities.context_length
        entry = self.store.entry(alias)
        return min(self.settings.ctx_per_slot, entry.context_length or self.settings.ctx_per_slot)

    async def complete(self, model: str, body: dict[str, Any], *, endpoint: str = "chat",
                       keep_alive: KeepAlive = None) -> Completion:
        """Run one non-streaming chat or text completion; fall back along the chain."""
        targets, reason = await self._targets(model, body)
        failed: list[str] = []
        failed_context: int | None = None
        last: CupolaError = Unavailable(f"no model of {model}'s chain could take this request")
        for i, alias in enumerate(targets):
            if i and self._skip(alias, failed_context):
                continue
            record = RequestRecord(new_id("req"), endpoint, alias, False, requested=model,
                                   route=reason if not failed else f"fallback after {failed[-1]}")
            started = time.perf_counter()
            loaded = None
            try:
                engine, loaded, record.location = await self._engine(alias, keep_alive)
                request, plan = await self._prepare(alias, loaded, engine, body, endpoint)
                result = await engine.chat(request, endpoint)  # type: ignore[arg-type]
                if endpoint == "chat":
                    result = tool_calls.finish(result, plan)
                    answered = tool_calls.answered_calls(body) if plan is not None else set()
                    calls = (result.get("choices") or [{}])[0].get("message", {}).get("tool_calls") or []
                    if answered and tool_calls.repeats(calls, answered):
                        result = await engine.chat(tool_calls.without_tools(request), endpoint)  # type: ignore[arg-type]
                        reason = f"{reason}; a repeated tool call was answered from its result"
                result["model"] = alias
                result.pop("timings", None)
                usage = result.get("usage") or {}
                record.prompt_tokens = usage.get("prompt_tokens")
                record.completion_tokens = usage.get("completion_tokens")
                record.ttft_ms = (time.perf_counter() - started) * 1000
                record.finish_reason = (result.get("choices") or [{}])[0].get("finish_reason")
                return Completion(result, Route(model, alias, record.location or "local", reason, failed))
            except FALLBACK_ERRORS as exc:
                record.status = "rejected" if isinstance(exc, Overloaded) else "error"
                record.error = exc.message
                last = exc
                failed.append(f"{alias}: {exc.message}")
                if isinstance(exc, ContextLengthExceeded):
                    failed_context = self._context_of(alias)
            except CupolaError as exc:
                record.status, record.error = "error", exc.message
                raise
            except asyncio.CancelledError:
                record.status, record.error = "cancelled", "client went away"
                raise
            except Exception as exc:
                record.status, record.error = "error", repr(exc)
                raise
            finally:
                self._finish(record, started, loaded)
        raise _with_history(last, failed[:-1])

    async def open_stream(self, model: str, body: dict[str, Any], *, endpoint: str = "chat",
                          keep_alive: KeepAlive = None) -> Streamed:
        """Start a streamed chat or text completion: the first chunk is awaited here, so every error
        before it (and every fallback) happens before the caller sends a status."""
        targets, reason = await self._targets(model, body)
        want_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        failed: list[str] = []
        failed_context: int | None = None
        last: CupolaError = Unavailable(f"no model of {model}'s chain could take this request")
        for i, alias in enumerate(targets):
            if i and self._skip(alias, failed_context):
                continue
            record = RequestRecord(new_id("req"), endpoint, alias, True, requested=model,
                                   route=reason if not failed else f"fallback after {failed[-1]}")
            chunks = self._attempt(alias, body, endpoint, keep_alive, record, want_usage)
            try:
                first = await chunks.__anext__()
            except StopAsyncIteration:
                first = {"id": new_id("chatcmpl"), "object": "chat.completion.chunk", "model": alias, "choices": []}
            except FALLBACK_ERRORS as exc:
                last = exc
                failed.append(f"{alias}: {exc.message}")
                if isinstance(exc, ContextLengthExceeded):
                    failed_context = self._context_of(alias)
                continue
            route = Route(model, alias, record.location or "local", reason, failed)
            return Streamed(route, _chain(first, chunks))
        raise _with_history(last, failed[:-1])

    async def _attempt(self, alias: str, body: dict[str, Any], endpoint: str, keep_alive: KeepAlive,
                       record: RequestRecord, want_usage: bool) -> AsyncIterator[dict[str, Any]]:
        """One model's stream, recorded from the first moment (refusals included) to its end."""
        started = time.perf_counter()
        loaded = None
        finished = False
        try:
            engine, loaded, record.location = await self._engine(alias, keep_alive)
            request, plan = await self._prepare(alias, loaded, engine, body, endpoint)
            request["stream_options"] = {"include_usage": True}  # always, for the records
            chunks = engine.stream(request, endpoint)  # type: ignore[arg-type]
            if endpoint == "chat":
                chunks = tool_calls.adapt_stream(chunks, plan)
                answered = tool_calls.answered_calls(body) if plan is not None else set()
                if answered:
                    chunks = tool_calls.guard_repeats(
                        chunks, answered, lambda: engine.stream(tool_calls.without_tools(request), endpoint))
            async with aclosing(chunks):  # type: ignore[type-var]
                async for item in chunks:
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
            finished = True
        except CupolaError as exc:
            record.status = "rejected" if isinstance(exc, Overloaded) else "error"
            record.error = exc.message
            raise
        except Exception as exc:
            record.status, record.error = "error", repr(exc)
            raise
        finally:
            if not finished and record.status == "ok":
                record.status, record.error = "cancelled", "stream closed before the end"
            self._finish(record, started, loaded)

    async def embeddings(self, model: str, texts: list[str], *, keep_alive: KeepAlive = None,
                         record: bool = True, truncate: bool = False) -> Embeddings:
        """Embed ``texts`` with ``model`` (no fallbacks: another model's vectors are not comparable).
        A text longer than the model takes is a 400 naming both lengths, unless ``truncate``."""
        if model in self.routers:
            raise UsageError(f"{model} is a router of chat models; name an embedding model", param="model")
        if not self._known(model):
            raise self._unknown(model)
        rec = RequestRecord(new_id("req"), "embeddings", model, False, requested=model)
        started = time.perf_counter()
        loaded = None
        try:
            engine, loaded, rec.location = await self._engine(model, keep_alive)
            if not engine.capabilities.embeddings:
                kind = loaded.entry.kind if loaded else "remote"
                raise UsageError(f"{model} is a {kind} model; use an embedding model such as "
                                 f"{self.settings.default_embedding_model}", param="model")
            vectors, tokens = await engine.embed(texts, truncate)
            rec.prompt_tokens = tokens
            rec.finish_reason = "stop"
            return Embeddings(vectors, tokens, model)
        except CupolaError as exc:
            rec.status = "rejected" if isinstance(exc, Overloaded) else "error"
            rec.error = exc.message
            raise
        except asyncio.CancelledError:
            rec.status = "cancelled"
            raise Cancelled("client went away") from None
        finally:
            if record:
                self._finish(rec, started, loaded)
            elif loaded is not None:
                self.local.used(loaded)

    def _finish(self, record: RequestRecord, started: float, loaded: LoadedModel | None) -> None:
        record.duration_ms = (time.perf_counter() - started) * 1000
        if loaded is not None:
            self.local.used(loaded)  # (the running and queued gauges read the admission when scraped)
        m = self.metrics
        m.requests.labels(record.model, record.endpoint, record.status).inc()
        if record.prompt_tokens:
            m.tokens.labels(record.model, "prompt").inc(record.prompt_tokens)
        if record.completion_tokens:
            m.tokens.labels(record.model, "completion").inc(record.completion_tokens)
        if record.ttft_ms is not None:
            m.ttft.labels(record.model).observe(record.ttft_ms / 1000)
        m.latency.labels(record.model, record.endpoint).observe(record.duration_ms / 1000)
        try:
            self.records.add(record)
        except Exception:  # a full disk must not fail the request that already succeeded
            log.exception("could not record request %s", record.id)

    # -- the ModelClient interface (agents, knowledge, workflows) ----------------------------

    async def chat(self, model: str, messages: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
        keep_alive = params.pop("keep_alive", None)
        return (await self.complete(model, {"messages": messages, **params}, keep_alive=keep_alive)).response

    async def stream(self, model: str, messages: list[dict[str, Any]], **params: Any) -> AsyncIterator[dict[str, Any]]:
        keep_alive = params.pop("keep_alive", None)
        streamed = await self.open_stream(model, {"messages": messages, **params}, keep_alive=keep_alive)
        async with aclosing(streamed):
            async for chunk in streamed:
                yield chunk

    async def embed(self, model: str, texts: list[str]) -> np.ndarray:
        # Capabilities (knowledge chunks and queries, routing) size their texts by the model's tokenizer;
        # the special tokens the model adds may still pass its limit by a few: those are cut.
        return (await self.embeddings(model, texts, truncate=True)).vectors

    async def aclose(self) -> None:
        await self.close()


def _check_max_tokens(alias: str, wanted: Any, context: int | None) -> None:
    """``max_tokens`` above the model's context per request is refused (400; a model with a larger
    context in the fallback chain is tried), never accepted silently: the answer could not be that long."""
    if context and isinstance(wanted, int) and wanted > context:
        raise ContextLengthExceeded(f"max_tokens is {wanted:,} but {alias} has a context of {context:,} tokens per "
                                    f"request (prompt and answer together); ask for at most {context:,}",
                                    param="max_tokens")


def _has_output(choice: dict[str, Any]) -> bool:
    delta = choice.get("delta") or {}
    return bool(delta.get("content") or delta.get("tool_calls") or choice.get("text"))


def _with_history(exc: CupolaError, failed: list[str]) -> CupolaError:
    """The last failure, its message naming the models tried before it."""
    if failed:
        exc.message = f"{exc.message} (after trying: {'; '.join(failed)})"
        exc.args = (exc.message,)
    return exc
