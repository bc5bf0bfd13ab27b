"""Cupola's own routes: the model store and runtime (/api/...), /health and /metrics."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cupola import tracing
from cupola.errors import CupolaError, NotFound
from cupola.server.streaming import ndjson
from cupola.runtime.runtime import Runtime
from cupola.server.openai_schemas import LoadRequest, ModelRef

router = APIRouter(tags=["Cupola"])


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


def describe(runtime: Runtime, alias: str) -> dict[str, Any]:
    info = runtime.store.info(alias)
    data = info.entry.to_dict()
    data.update(pulled=info.pulled, path=str(info.path) if info.path else None, source=info.source,
                loaded=alias in runtime.models)
    return data


@router.get("/api/agents", summary="The hosted agents (call them through /v1/responses with `agent`)")
async def list_agents(request: Request) -> dict[str, Any]:
    return {"object": "list", "data": request.app.state.hosted.registry.describe()}


@router.get("/api/models", summary="The catalog, with what is pulled and loaded")
async def list_models(request: Request) -> dict[str, Any]:
    runtime = runtime_of(request)
    return {"models": [describe(runtime, e.alias) for e in runtime.store.entries()]}


@router.get("/api/models/{alias}", summary="One catalog entry")
async def show_model(alias: str, request: Request) -> dict[str, Any]:
    return describe(runtime_of(request), alias)


@router.post("/api/models/pull", summary="Pull a model; streams NDJSON progress")
async def pull_model(body: ModelRef, request: Request) -> StreamingResponse:
    runtime = runtime_of(request)
    runtime.store.entry(body.model)  # unknown model: 404 before the stream starts
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    last: dict[str, float] = {}

    def progress(name: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if done != total and now - last.get(name, 0) < 0.25:
            return  # at most 4 events a second per file, plus the last one
        last[name] = now
        loop.call_soon_threadsafe(queue.put_nowait,
                                  {"status": "pulling", "file": name, "completed": done, "total": total})

    def run() -> None:
        try:
            info = runtime.store.pull(body.model, progress)
            event = {"status": "success", "model": body.model, "path": str(info.path)}
        except CupolaError as exc:
            event = {"status": "error", **exc.to_openai()}
        except Exception as exc:  # noqa: BLE001 - reported in-band, the stream has started
            event = {"status": "error", "error": {"message": str(exc), "type": "server_error",
                                                  "param": None, "code": None}}
        loop.call_soon_threadsafe(queue.put_nowait, event)

    async def events():
        yield {"status": "starting", "model": body.model}
        task = loop.run_in_executor(None, run)
        while True:
            event = await queue.get()
            yield event
            if event["status"] in ("success", "error"):
                break
        await task

    return ndjson(events())


@router.delete("/api/models/{alias}", summary="Remove a model's local files")
async def remove_model(alias: str, request: Request) -> dict[str, Any]:
    runtime = runtime_of(request)
    await runtime.unload(alias, force=True)
    return {"model": alias, "removed": runtime.store.remove(alias)}


@router.post("/api/models/{alias}/load", summary="Load a model now (optionally with a keep_alive)")
async def load_model(alias: str, request: Request, body: LoadRequest | None = None) -> dict[str, Any]:
    runtime = runtime_of(request)
    started = time.perf_counter()
    model = await runtime.load(alias, keep_alive=body.keep_alive if body else None)
    return {"model": alias, "status": "loaded", "seconds": round(time.perf_counter() - started, 3),
            **model.describe()}


@router.post("/api/models/{alias}/unload", summary="Unload a model (after its running requests)")
async def unload_model(alias: str, request: Request) -> dict[str, Any]:
    runtime = runtime_of(request)
    runtime.store.entry(alias)
    was_loaded = alias in runtime.models
    unloaded = await runtime.unload(alias)
    status = "unloaded" if unloaded else ("unloading" if was_loaded else "not_loaded")
    return {"model": alias, "status": status}


@router.get("/api/ps", summary="Loaded models, upstreams (admission and circuit breaker) and routers")
async def ps(request: Request) -> dict[str, Any]:
    runtime = runtime_of(request)
    return {"models": runtime.ps(), "upstreams": runtime.upstreams.describe(),
            "routers": [r.describe() for r in runtime.routers.values()]}


@router.get("/api/requests", summary="Recent requests, newest first (filter by model, status, since)")
async def recent_requests(request: Request, limit: int = 50, model: str | None = None, status: str | None = None,
                          since: float | None = None, trace_id: str | None = None) -> dict[str, Any]:
    return {"requests": runtime_of(request).records.recent(max(1, min(limit, 1000)), model=model, status=status,
                                                           since=since, trace_id=trace_id)}


@router.get("/api/requests/{request_id}", summary="One request with its execution contract")
async def one_request(request_id: str, request: Request) -> dict[str, Any]:
    found = runtime_of(request).records.get(request_id)
    if found is None:
        raise NotFound(f"no request {request_id!r}", param="request_id",
                       hint="GET /api/requests lists recent ones; old records are pruned")
    return found


@router.get("/api/traces", summary="Recent traces recorded locally")
async def recent_traces(request: Request, limit: int = 20) -> dict[str, Any]:
    spans = tracing.store()
    return {"traces": spans.recent_traces(max(1, min(limit, 200))) if spans else []}


@router.get("/api/traces/{trace_id}", summary="The spans of one trace (locally recorded)")
async def one_trace(trace_id: str, request: Request) -> dict[str, Any]:
    spans = tracing.store()
    if spans is None:
        raise NotFound("tracing is off on this server", param="trace_id", hint="set tracing = \"local\"")
    tracing.flush()
    found = spans.trace(trace_id)
    if not found:
        raise NotFound(f"no trace {trace_id!r} recorded here", param="trace_id")
    return {"trace_id": trace_id, "spans": found}


@router.get("/health", summary="503 while models load, 200 when ready")
async def health(request: Request) -> JSONResponse:
    runtime = runtime_of(request)
    ready = request.app.state.ready and not runtime.busy_loading
    body = {"status": "ok" if ready else "loading", "loading": sorted(runtime.loading),
            "loaded": sorted(runtime.models)}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    return Response(generate_latest(runtime_of(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)
