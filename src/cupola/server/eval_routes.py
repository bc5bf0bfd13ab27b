"""Eval routes (``/api/evals``): start a run and stream its progress (NDJSON), list and fetch runs,
and the self-contained HTML report."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from cupola.errors import InvalidParameter
from cupola.evals.service import RUN_KEYS, EvalService, RunRequest
from cupola.evals.spec import EvalSpec
from cupola.server.streaming import dumps, ndjson

router = APIRouter(prefix="/api/evals", tags=["Evals"])


def service_of(request: Request) -> EvalService:
    return request.app.state.evals


def _body_schema() -> dict[str, Any]:
    """The body as the document states it: an eval (``EvalSpec``, plus the run options) or ``{"path": FILE}``
    (``RunRequest``). What the loader checks beyond the shapes (assertion types and their options, templates,
    dataset files) is refused with a 400 listing every problem."""
    run = RunRequest.model_json_schema(ref_template="#/components/schemas/Eval{model}")
    spec = EvalSpec.model_json_schema(ref_template="#/components/schemas/Eval{model}")
    defs = {f"Eval{name}": d for name, d in {**run.pop("$defs", {}), **spec.pop("$defs", {})}.items()}
    spec["properties"].update({k: run["properties"][k] for k in RUN_KEYS})
    defs["EvalJudgeSpec"] = {"anyOf": [defs["EvalJudgeSpec"], {"type": "string", "description": "A model alias"}]}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "$defs": defs, "anyOf": [run, spec]}}}}}


@router.post("", summary="Run an eval; streams NDJSON progress, then the run summary", openapi_extra=_body_schema(),
             description="The body is the eval itself (the YAML file's content as JSON; relative paths are "
                         "resolved against the server's working directory), or `{\"path\": FILE}` for a file the "
                         "server can read, with optional `repeat`, `seed`, `concurrency`, `timeout`, `cache`, "
                         "`filter` ({key: value}), `target` (ids) and `failed_from` (a run id). Events: "
                         "`run_started`, one `sample` per cell and repeat, `run_finished` with the summary (or "
                         "`error`). `\"stream\": false` waits and returns the last event. The run continues if "
                         "the client goes away.")
async def start_run(request: Request, body: Any = Body(..., examples=[{
        "description": "capitals", "targets": [{"model": "smollm2-135m", "prompt": "Capital of {country}? One word."}],
        "tests": [{"vars": {"country": "France"}, "assert": [{"type": "icontains", "value": "paris"}]}]}])):
    if not isinstance(body, dict):
        raise InvalidParameter("the body is an eval (a JSON object with targets and tests) or {\"path\": FILE}")
    events, stream = await service_of(request).start(body, str(request.base_url).rstrip("/"))
    if stream:
        return ndjson(events)
    last: dict[str, Any] = {}
    async for event in events:
        last = event
    return JSONResponse(json.loads(dumps(last)))


@router.get("", summary="Eval runs, newest first")
async def list_runs(request: Request, limit: int = Query(50, ge=1, le=1000)) -> dict[str, Any]:
    return {"object": "list", "data": service_of(request).list(limit)}


@router.get("/{run_id}", summary="A stored run: targets (with every test and repeat), tests, summary")
async def get_run(run_id: str, request: Request) -> dict[str, Any]:
    return service_of(request).document(run_id)


@router.get("/{run_id}/report", summary="The run's self-contained HTML report", response_class=HTMLResponse)
async def get_report(run_id: str, request: Request) -> HTMLResponse:
    return HTMLResponse(service_of(request).report(run_id))


@router.delete("/{run_id}", summary="Delete a stored run")
async def delete_run(run_id: str, request: Request) -> dict[str, Any]:
    return {"id": service_of(request).delete(run_id), "object": "eval.run", "deleted": True}
