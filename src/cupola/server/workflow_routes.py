"""Workflow routes (``/api/workflows``): start runs and stream their events as NDJSON, resume, inspect."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from cupola.errors import NotFound
from cupola.server.json_types import StrictJSON
from cupola.server.streaming import dumps, ndjson, prefetch

router = APIRouter(prefix="/api/workflows", tags=["Workflows"])


class StartRun(StrictJSON):
    input: Any = Field(..., description="The workflow's input (usually a string)")
    stream: bool = Field(True, description="Stream NDJSON events; false waits and returns the last event")


class ResumeRun(StrictJSON):
    approve: bool | None = Field(None, description="The decision for a run paused at an approval step")
    note: str = ""
    stream: bool = True


def _served(request: Request) -> Any:
    served = request.app.state.workflows
    if served is None:
        raise NotFound("this server runs no workflows", param="workflow",
                       hint="serve a folder of workflow files with `cupola serve --workflows DIR`")
    return served


async def _answer(events: AsyncIterator[dict[str, Any]], stream: bool):
    events = await prefetch(events)  # errors before the run starts are HTTP errors
    if stream:
        return ndjson(events)
    last: dict[str, Any] = {}
    async for event in events:
        last = event
    return JSONResponse(json.loads(dumps(last)))


@router.get("", summary="The workflows this server runs")
async def list_workflows(request: Request) -> dict[str, Any]:
    served = request.app.state.workflows
    return {"object": "list", "data": served.registry.describe() if served else []}


@router.post("/{name}/runs", summary="Start a run; streams its events as NDJSON",
             description="Events: workflow_started, step_started, delta, tool_call, tool_result, handoff, "
                         "step_finished (with ms), approval_required, workflow_finished / workflow_failed.")
async def start_run(name: str, body: StartRun, request: Request):
    served = _served(request)
    workflow = served.registry.get(name)
    return await _answer(served.runner.run(workflow, body.input), body.stream)


@router.get("/runs", summary="Recent runs, newest first")
async def list_runs(request: Request, limit: int = Query(50, ge=1, le=1000)) -> dict[str, Any]:
    return {"object": "list", "data": _served(request).runner.store.runs(limit)}


@router.get("/runs/{run_id}", summary="A run's status, pending approval, result and finished steps")
async def get_run(run_id: str, request: Request) -> dict[str, Any]:
    store = _served(request).runner.store
    return {**store.run(run_id), "steps": store.checkpoints(run_id)}


@router.post("/runs/{run_id}/resume", summary="Continue a paused (approve / reject) or interrupted run")
async def resume_run(run_id: str, body: ResumeRun, request: Request):
    served = _served(request)
    workflow = served.registry.get(served.runner.store.run(run_id)["workflow"])
    return await _answer(served.runner.resume(workflow, run_id, approve=body.approve, note=body.note), body.stream)
