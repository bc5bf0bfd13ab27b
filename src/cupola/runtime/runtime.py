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
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing, contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cupola.config import Settings
from cupola.engines.base import Engine
from cupola.errors import (Cancelled, ContextLengthExceeded, CupolaError, DownloadError, EngineError, ModelNotFound,
                           Overloaded, Unavailable, UpstreamError, UpstreamTimeout, UsageError)
from cupola.models.store import ModelStore
from cupola.naming import new_id
from cupola import tracing
from cupola.digest import prompt_sha256
from cupola.runtime import contract, repetition, tool_calls
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
        tracing.configure(settings.home, settings.tracing, capture_content=settings.capture_content)
        self.prune()
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
        tracing.flush()
        self.records.close()

    async def _reap_forever(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(1.0)
            await self.local.reap()
            ticks += 1
            if ticks % 3600 == 0:
                await asyncio.get_running_loop().run_in_executor(self._executor, self.prune)

    def prune(self) -> int:
        """Drop request records (and spans) past the retention age and count."""
        max_age = self.settings.request_retention_days * 86400
        try:
            removed = self.records.prune(max_age_s=max_age, max_count=self.settings.request_retention_count)
            spans = tracing.store()
            if spans is not None:
                spans.prune(int((time.time() - max_age) * 1e9))
        except Exception:  # never keep the server from starting over housekeeping
            log.exception("pruning request records failed")
            return 0
        return removed

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
        request.pop(repetition.FLAG, None)  # Cupola's, not the engine's
        if loaded is not None:  # the catalog's recommended sampling, where the request says nothing
            for key, value in loaded.entry.defaults.items():
                if request.get(key) is None:
                    request[key] = value
        request = {k: v for k, v in request.items() if v is not None}
        request["model"] = alias
        _check_max_tokens(alias, request.get("max_tokens"), caps.context_length)
        if "seed" not in request:  # pick one, so that the request can be replayed
            request["seed"] = secrets.randbelow(2**31 - 1)
            request[_SEED_PICKED] = True
        if endpoint != "chat":
            return request, None
        return await tool_calls.prepare(request, caps, self._embed_for_routing, self.settings.tool_route_threshold,
                                        self.settings.tool_select)

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
        chain = _Fallbacks(self, model, *await self._targets(model, body))
        shaping = tracing.take_shaping()
        for alias in chain:
            reason = chain.reason
            at = Attempt(RequestRecord(new_id("req"), endpoint, alias, False, requested=model, route=chain.note()),
                         body, endpoint, shaping)
            try:
                engine, at.loaded, at.record.location = await self._engine(alias, keep_alive)
                at.begin(engine)
                request, plan = await self._prepare(alias, at.loaded, engine, body, endpoint)
                at.request = request = at.sent(request)
                at.open_span()
                try:
                    at.fingerprint = asyncio.ensure_future(_fingerprint(engine, request, endpoint))
                    result = await engine.chat(request, endpoint)  # type: ignore[arg-type]
                    if endpoint == "chat":
                        result = tool_calls.finish(result, plan)
                        if tool_calls.missing_call(result, plan):  # once more, with the next seed
                            result = await tool_calls.answer_again(
                                lambda again: engine.chat(again, endpoint), request, plan,  # type: ignore[arg-type]
                                at.shaping.append)
                        answered = tool_calls.answered_calls(body) if plan is not None else set()
                        calls = (result.get("choices") or [{}])[0].get("message", {}).get("tool_calls") or []
                        if answered and tool_calls.repeats(calls, answered):
                            at.shaping.append({"what": "tool call", "detail": "the model repeated a call that "
                                               "already has a result; answered from the result without tools"})
                            result = await engine.chat(tool_calls.without_tools(request), endpoint)  # type: ignore[arg-type]
                            reason = f"{reason}; a repeated tool call was answered from its result"
                    if body.get(repetition.FLAG) and endpoint == "chat":
                        result = repetition.trim(result, lambda why: at.shaping.append(
                            {"what": "repetition", "detail": why}))
                    at.finished(result)
                    result["model"] = alias
                    return Completion(result, chain.route(alias, at.record.location, reason))
                finally:
                    at.close_span_context()
            except FALLBACK_ERRORS as exc:
                at.failed(exc)
                chain.failed(alias, exc)
            except asyncio.CancelledError:
                at.record.status, at.record.error = "cancelled", "client went away"
                raise
            except Exception as exc:
                at.failed(exc)
                raise
            finally:
                self._finish(at)
        raise chain.error()

    async def open_stream(self, model: str, body: dict[str, Any], *, endpoint: str = "chat",
                          keep_alive: KeepAlive = None) -> Streamed:
        """Start a streamed chat or text completion: the first chunk is awaited here, so every error
        before it (and every fallback) happens before the caller sends a status."""
        chain = _Fallbacks(self, model, *await self._targets(model, body))
        want_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        shaping = tracing.take_shaping()
        for alias in chain:
            at = Attempt(RequestRecord(new_id("req"), endpoint, alias, True, requested=model, route=chain.note()),
                         body, endpoint, shaping)
            chunks = self._attempt(at, keep_alive, want_usage)
            try:
                first = await chunks.__anext__()
            except StopAsyncIteration:
                first = {"id": new_id("chatcmpl"), "object": "chat.completion.chunk", "model": alias, "choices": []}
            except FALLBACK_ERRORS as exc:
                chain.failed(alias, exc)
                continue
            return Streamed(chain.route(alias, at.record.location), _chain(first, chunks))
        raise chain.error()

    async def _attempt(self, at: Attempt, keep_alive: KeepAlive, want_usage: bool) -> AsyncIterator[dict[str, Any]]:
        """One model's stream, recorded from the first moment (refusals included) to its end."""
        with self._recorded(at, "stream closed before the end"):
            alias, body, endpoint = at.record.model, at.body, at.endpoint
            engine, at.loaded, at.record.location = await self._engine(alias, keep_alive)
            at.begin(engine)
            request, plan = await self._prepare(alias, at.loaded, engine, body, endpoint)
            request["stream_options"] = {"include_usage": True}  # always, for the records
            if body.get(repetition.FLAG) and endpoint == "chat" and at.record.location == "local":
                request["timings_per_token"] = True  # llama.cpp's counts on every chunk: the usage of a cut answer
            at.request = request = at.sent(request)
            at.open_span()  # current while the engine opens its stream (traceparent)
            at.fingerprint = asyncio.ensure_future(_fingerprint(engine, request, endpoint))
            chunks = engine.stream(request, endpoint)  # type: ignore[arg-type]
            if endpoint == "chat":
                chunks = tool_calls.adapt_stream(chunks, plan, lambda: tool_calls.answer_again(
                    lambda again: engine.chat(again, endpoint), request, plan, at.shaping.append))  # type: ignore[arg-type]
                answered = tool_calls.answered_calls(body) if plan is not None else set()
                if answered:
                    chunks = tool_calls.guard_repeats(
                        chunks, answered, lambda: engine.stream(tool_calls.without_tools(request), endpoint))
                if body.get(repetition.FLAG):
                    chunks = repetition.stop_loops(chunks, lambda why: at.shaping.append(
                        {"what": "repetition", "detail": why}))
            async with aclosing(chunks):  # type: ignore[type-var]
                async for item in chunks:
                    at.saw(item)
                    item["model"] = alias
                    choices = item.get("choices") or []
                    if item.get("usage") and not want_usage:
                        if not choices:
                            continue
                        item.pop("usage")
                    yield item

    @contextmanager
    def _recorded(self, at: Attempt, unfinished: str) -> Iterator[None]:
        """Record an attempt however it ends: done, failed, cancelled, or its reader gone."""
        done = False
        try:
            yield
            done = True
        except asyncio.CancelledError:
            at.record.status, at.record.error = "cancelled", "client went away"
            raise
        except Exception as exc:
            at.failed(exc)
            raise
        finally:
            at.close_span_context()
            if not done and at.record.status == "ok":
                at.record.status, at.record.error = "cancelled", unfinished
            self._finish(at)

    async def embeddings(self, model: str, texts: list[str], *, keep_alive: KeepAlive = None,
                         record: bool = True, truncate: bool = False) -> Embeddings:
        """Embed ``texts`` with ``model`` (no fallbacks: another model's vectors are not comparable).
        A text longer than the model takes is a 400 naming both lengths, unless ``truncate``."""
        if model in self.routers:
            raise UsageError(f"{model} is a router of chat models; name an embedding model", param="model")
        if not self._known(model):
            raise self._unknown(model)
        at = Attempt(RequestRecord(new_id("req"), "embeddings", model, False, requested=model),
                     {"input": texts}, "embeddings", [])
        try:
            engine, at.loaded, at.record.location = await self._engine(model, keep_alive)
            at.begin(engine)
            if not engine.capabilities.embeddings:
                kind = at.loaded.entry.kind if at.loaded else "remote"
                raise UsageError(f"{model} is a {kind} model; use an embedding model such as "
                                 f"{self.settings.default_embedding_model}", param="model")
            if record:
                at.span = tracing.start(*at.span_name_kind(), attributes=at.span_request_attributes())
            vectors, tokens = await engine.embed(texts, truncate)
            at.record.prompt_tokens = tokens
            at.record.finish_reason = "stop"
            at.usage = {"prompt_tokens": tokens}
            return Embeddings(vectors, tokens, model)
        except asyncio.CancelledError:
            at.record.status = "cancelled"
            raise Cancelled("client went away") from None
        except Exception as exc:
            at.failed(exc)
            raise
        finally:
            if record:
                self._finish(at)
            elif at.loaded is not None:
                self.local.used(at.loaded)

    async def transcribe(self, model: str, audio: bytes, *, task: str = "transcribe", stream: bool = False,
                         keep_alive: KeepAlive = None, **options: Any) -> AsyncIterator[dict[str, Any]]:
        """Speech to text on a speech model (no fallbacks): the engine's events — ``info``, one
        ``segment`` each as it is decoded, then ``result`` — recorded like every request. Closing
        the iterator stops the engine at its next segment."""
        if model in self.routers:
            raise UsageError(f"{model} is a router of chat models; name a speech model", param="model")
        if not self._known(model):
            raise self._unknown(model)
        endpoint = "translations" if task == "translate" else "transcriptions"
        at = Attempt(RequestRecord(new_id("req"), endpoint, model, stream, requested=model),
                     {"audio": audio, "prompt": options.get("prompt")}, endpoint, [])
        with self._recorded(at, "closed before the end"):
            engine, at.loaded, at.record.location = await self._engine(model, keep_alive)
            at.begin(engine)
            if not engine.capabilities.speech:
                kind = at.loaded.entry.kind if at.loaded else "remote"
                raise UsageError(f"{model} is a{'n' if kind[0] in 'aeiou' else ''} {kind} model and cannot transcribe "
                                 f"audio; use a speech model such as {self.settings.default_speech_model}",
                                 param="model")
            at.request = {"task": task, **options}
            at.open_span()
            async with aclosing(engine.transcribe(audio, task=task, **options)) as events:  # type: ignore[attr-defined]
                async for event in events:
                    at.heard(event)
                    yield event

    def _finish(self, at: Attempt) -> None:
        record = at.record
        record.duration_ms = (time.perf_counter() - at.started) * 1000
        loaded = at.loaded
        if loaded is not None:
            self.local.used(loaded)  # (the running and queued gauges read the admission when scraped)
        fingerprint = _settled(at.fingerprint)
        record.contract = at.contract(self, fingerprint)
        if at.span is not None:
            at.end_span()
        if self.settings.capture_content:
            record.content = at.content()
        m = self.metrics
        m.requests.labels(record.model, record.endpoint, record.status).inc()
        operation = _OPERATION[record.endpoint]
        if record.prompt_tokens:
            m.tokens.labels(record.model, "prompt").inc(record.prompt_tokens)
            m.genai_tokens.labels(operation, record.model, "input").observe(record.prompt_tokens)
        if record.completion_tokens:
            m.tokens.labels(record.model, "completion").inc(record.completion_tokens)
            m.genai_tokens.labels(operation, record.model, "output").observe(record.completion_tokens)
        if record.ttft_ms is not None:
            m.ttft.labels(record.model).observe(record.ttft_ms / 1000)
            m.genai_ttft.labels(operation, record.model).observe(record.ttft_ms / 1000)
        m.latency.labels(record.model, record.endpoint).observe(record.duration_ms / 1000)
        m.genai_duration.labels(operation, record.model).observe(record.duration_ms / 1000)
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


_OPERATION = {"chat": "chat", "completion": "text_completion", "embeddings": "embeddings",
              "transcriptions": "transcription", "translations": "translation"}
_SEED_PICKED = "__cupola_seed_picked"


class Attempt:
    """One model's try at one request: its record, span, and what the contract is built from."""

    def __init__(self, record: RequestRecord, body: dict[str, Any], endpoint: str,
                 shaping: list[dict[str, str]]) -> None:
        self.record = record
        self.body = body
        self.endpoint = endpoint
        self.shaping = list(shaping)
        self.started = time.perf_counter()
        self.loaded: LoadedModel | None = None
        self.engine: Any = None
        self.request: dict[str, Any] | None = None
        self.seed_source: str | None = None
        self.span: Any = None
        self.token: object | None = None
        self.fingerprint: asyncio.Future | None = None
        self.timings: dict[str, Any] = {}
        self.usage: dict[str, Any] | None = None
        self.text: list[str] = []
        self.concurrent = 0
        self.queued = 0
        self.error_type: str | None = None
        scope = tracing.call_scope()
        record.run_id = scope.get("run_id")
        record.step = scope.get("step")
        record.turn = scope.get("turn")
        self.scope = scope

    def open_span(self) -> None:
        """Start this attempt's span and make it current (a model call's children and the
        ``traceparent`` sent to upstreams hang from it); it ends with the record."""
        self.span = tracing.start(*self.span_name_kind(), attributes=self.span_request_attributes())
        self.token = tracing.activate(self.span)

    def close_span_context(self) -> None:
        if self.token is not None:
            tracing.detach(self.token)
            self.token = None

    def begin(self, engine: Any) -> None:
        self.engine = engine
        self.concurrent = engine.admission.running
        self.queued = engine.admission.waiting

    def sent(self, request: dict[str, Any]) -> dict[str, Any]:
        """The request as it goes to the engine (Cupola's private marks taken off)."""
        picked = request.pop(_SEED_PICKED, False)
        self.seed_source = "cupola" if picked else ("request" if "seed" in request else None)
        return request

    @property
    def location(self) -> str:
        return self.record.location or "local"

    def span_name_kind(self) -> tuple[str, Any]:
        from opentelemetry.trace import SpanKind

        kind = SpanKind.INTERNAL if self.location == "local" else SpanKind.CLIENT
        return f"{_OPERATION[self.endpoint]} {self.record.model}", kind

    def span_request_attributes(self) -> dict[str, Any]:
        r = self.request or {}
        stop = r.get("stop")
        attrs = {"gen_ai.operation.name": _OPERATION[self.endpoint],
                 "gen_ai.provider.name": "cupola" if self.location == "local" else self.location.split(":", 1)[1],
                 "gen_ai.request.model": self.record.model, "gen_ai.request.temperature": r.get("temperature"),
                 "gen_ai.request.top_p": r.get("top_p"), "gen_ai.request.top_k": r.get("top_k"),
                 "gen_ai.request.max_tokens": r.get("max_tokens"), "gen_ai.request.seed": r.get("seed"),
                 "gen_ai.request.stop_sequences": [stop] if isinstance(stop, str) else stop,
                 "cupola.request.id": self.record.id, "cupola.requested_model": self.record.requested,
                 "cupola.location": self.location}
        if self.scope.get("agent"):
            attrs["gen_ai.agent.name"] = self.scope["agent"]
        if tracing.capture_content() and self.endpoint == "chat":
            attrs["gen_ai.input.messages"] = contract.canonical(self.body.get("messages"))
        return attrs

    def saw(self, chunk: dict[str, Any]) -> None:
        """Bookkeeping for one streamed chunk (its timings are taken off)."""
        record = self.record
        timings = chunk.pop("timings", None)
        if timings:
            self.timings.update(timings)
        choices = chunk.get("choices") or []
        if record.ttft_ms is None and choices and _has_output(choices[0]):
            record.ttft_ms = (time.perf_counter() - self.started) * 1000
        for choice in choices:
            if choice.get("finish_reason"):
                record.finish_reason = choice["finish_reason"]
            piece = (choice.get("delta") or {}).get("content") or choice.get("text")
            if piece:
                self.text.append(piece)
        usage = chunk.get("usage")
        if usage:
            self.usage = usage
            record.prompt_tokens = usage.get("prompt_tokens")
            record.completion_tokens = usage.get("completion_tokens")

    def finished(self, result: dict[str, Any]) -> None:
        """Bookkeeping for a whole (non-streamed) answer."""
        self.timings.update(result.pop("timings", None) or {})
        self.usage = result.get("usage") or {}
        self.record.prompt_tokens = self.usage.get("prompt_tokens")
        self.record.completion_tokens = self.usage.get("completion_tokens")
        self.record.ttft_ms = (time.perf_counter() - self.started) * 1000
        choice = (result.get("choices") or [{}])[0]
        self.record.finish_reason = choice.get("finish_reason")
        message = choice.get("message") or {}
        self.text = [message.get("content") or choice.get("text") or ""]
        if message.get("tool_calls"):
            self.text.append(contract.canonical(message["tool_calls"]))

    def heard(self, event: dict[str, Any]) -> None:
        """Bookkeeping for one speech-to-text event."""
        kind = event.get("type")
        if kind == "info":
            self.timings["audio_s"] = event.get("duration")
            self.timings["language"] = event.get("language")
        elif kind == "segment":
            if self.record.ttft_ms is None:
                self.record.ttft_ms = (time.perf_counter() - self.started) * 1000
            self.text.append(event.get("text") or "")
        elif kind == "result":
            self.record.finish_reason = "stop"
            self.text = [event.get("text") or ""]
            self.timings["audio_s"] = event.get("duration")
            self.timings["queue_ms"] = event.get("queue_ms", self.timings.get("queue_ms"))

    def failed(self, exc: BaseException) -> None:
        self.record.status = "rejected" if isinstance(exc, Overloaded) else "error"
        self.record.error = exc.message if isinstance(exc, CupolaError) else repr(exc)
        self.error_type = getattr(exc, "code", None) or type(exc).__name__

    def contract(self, runtime: "Runtime", fingerprint: dict[str, Any] | None) -> dict[str, Any]:
        record = self.record
        request = self.request or {}
        entry = self.loaded.entry if self.loaded is not None else None
        execution: dict[str, Any] = {
            "model": record.model, "requested": record.requested, "location": self.location,
            "route": record.route, "model_sha256": entry.sha256 if entry else None,
            "engine": getattr(self.engine, "description", None) or type(self.engine).__name__ if self.engine else None,
            "concurrent": self.concurrent, "queued": self.queued, "finish_reason": record.finish_reason,
            "ttft_ms": round(record.ttft_ms, 2) if record.ttft_ms is not None else None,
            "duration_ms": round((time.perf_counter() - self.started) * 1000, 2), "status": record.status,
            **contract.timing_fields(self.timings, self.usage)}
        if self.timings.get("audio_s"):
            execution["audio_s"] = self.timings["audio_s"]
            execution["language"] = self.timings.get("language")
            execution["realtime_factor"] = round(self.timings["audio_s"] / max(1e-6, execution["duration_ms"] / 1000), 2)
        if "tokens_per_s" not in execution and record.completion_tokens and record.ttft_ms is not None:
            decode_s = max(1e-6, execution["duration_ms"] / 1000 - record.ttft_ms / 1000)
            execution["tokens_per_s"] = round(record.completion_tokens / decode_s, 2)
        trace_id, span_id = tracing.ids(self.span) if self.span is not None else (None, None)
        record.trace_id, record.span_id = trace_id, span_id
        parent = getattr(self.span, "parent", None) if self.span is not None else None
        record.parent_span_id = f"{parent.span_id:016x}" if parent is not None else None
        inputs = contract.inputs(self.body, request, self.endpoint)
        inputs["prompt_tokens"] = record.prompt_tokens
        inputs.update(fingerprint or {})
        return {"request_id": record.id, "created_at": record.created_at, "endpoint": self.endpoint,
                "input": inputs, "shaping": self.shaping,
                "decode": contract.decode(request, self.seed_source, self.endpoint) if self.endpoint != "embeddings"
                else {},
                "execution": execution,
                "trace": {"trace_id": trace_id, "span_id": span_id, "parent_span_id": record.parent_span_id,
                          **{k: v for k, v in self.scope.items() if k in ("run_id", "agent", "workflow", "step",
                                                                          "turn")}}}

    def content(self) -> dict[str, Any]:
        body = self.body
        request = {k: v for k, v in (self.request or {}).items() if k not in ("messages", "prompt")}
        out: dict[str, Any] = {"output": "".join(self.text), "params": request}
        for key in ("messages", "prompt", "tools", "input"):
            if body.get(key) is not None:
                out[key] = body[key]
        return out

    def end_span(self) -> None:
        span, record = self.span, self.record
        span.set_attribute("gen_ai.response.model", record.model)
        span.set_attribute("gen_ai.response.id", record.id)
        if record.finish_reason:
            span.set_attribute("gen_ai.response.finish_reasons", [record.finish_reason])
        if record.prompt_tokens is not None:
            span.set_attribute("gen_ai.usage.input_tokens", record.prompt_tokens)
        if record.completion_tokens is not None:
            span.set_attribute("gen_ai.usage.output_tokens", record.completion_tokens)
        if tracing.capture_content() and self.endpoint != "embeddings":
            span.set_attribute("gen_ai.output.messages", "".join(self.text))
        if record.status != "ok":
            from opentelemetry.trace import Status, StatusCode

            span.set_attribute("error.type", self.error_type or record.status)
            span.set_status(Status(StatusCode.ERROR, (record.error or record.status)[:500]))
        span.end()


async def _fingerprint(engine: Any, request: dict[str, Any], endpoint: str) -> dict[str, Any]:
    """The rendered prompt's hash (llama.cpp: its chat template's output), off the critical path."""
    render = getattr(engine, "fingerprint", None)
    if render is None:
        return {"rendered_sha256": prompt_sha256(request), "rendered_from": "request_json"}
    return await render(request, endpoint)


def _settled(future: asyncio.Future | None) -> dict[str, Any] | None:
    """The fingerprint if it is ready (it usually is long before the answer ends); never waits, so a
    cancelled request is still recorded at once."""
    if future is None:
        return None
    if not future.done():
        future.cancel()
        return {"rendered_sha256": None, "rendered_error": "not ready when the request ended"}
    if future.cancelled():
        return None
    exc = future.exception()
    if exc is not None:  # the contract is best effort: a failed render is said, not raised
        return {"rendered_sha256": None, "rendered_error": f"{type(exc).__name__}: {exc}"}
    return future.result()
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


class _Fallbacks:
    """A request's way along its model chain: the models still worth trying (after a prompt did not
    fit, only those with a larger context), what failed so far, and the route or error at the end."""

    def __init__(self, runtime: Runtime, model: str, targets: list[str], reason: str) -> None:
        self.runtime, self.model, self.targets, self.reason = runtime, model, targets, reason
        self.tried: list[str] = []  # "alias: why" of each failed attempt
        self.failed_context: int | None = None
        self.last: CupolaError = Unavailable(f"no model of {model}'s chain could take this request")

    def __iter__(self) -> Iterator[str]:
        for i, alias in enumerate(self.targets):
            if not (i and self.runtime._skip(alias, self.failed_context)):
                yield alias

    def note(self) -> str:
        """Why the next attempt is made, for its request record."""
        return self.reason if not self.tried else f"fallback after {self.tried[-1]}"

    def failed(self, alias: str, exc: CupolaError) -> None:
        self.last = exc
        self.tried.append(f"{alias}: {exc.message}")
        if isinstance(exc, ContextLengthExceeded):
            self.failed_context = self.runtime._context_of(alias)

    def route(self, alias: str, location: str | None, reason: str | None = None) -> Route:
        return Route(self.model, alias, location or "local", reason or self.reason, self.tried)

    def error(self) -> CupolaError:
        return _with_history(self.last, self.tried[:-1])


def _with_history(exc: CupolaError, failed: list[str]) -> CupolaError:
    """The last failure, its message naming the models tried before it."""
    if failed:
        exc.message = f"{exc.message} (after trying: {'; '.join(failed)})"
        exc.args = (exc.message,)
    return exc
