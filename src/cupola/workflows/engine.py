"""Running workflows: events for every step, checkpoints in SQLite, approvals, resume.

A run executes the workflow's node tree. Each step's output is checkpointed the moment it
finishes; running the same run id again restores finished steps from their checkpoints instead
of running them, so a run continues from its last completed step after a crash, a kill, or a
pause for approval (:meth:`WorkflowRunner.resume`).

Events (dicts): ``workflow_started``, ``step_started``, ``step_restored`` (from a checkpoint),
``delta``, ``tool_call``, ``tool_result``, ``handoff``, ``loop_exhausted``, ``step_finished``
(``output``, ``ms``), ``approval_required`` (``prompt``), and one of ``workflow_finished``
(``status`` completed / rejected, ``output``) or ``workflow_failed`` (``error``). Every event
has ``run_id``, ``step`` (the step's path, where there is one) and ``t`` (seconds since start).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from cupola.agents.runner import Runner
from cupola import tracing
from cupola.errors import CupolaError, UsageError
from cupola.naming import new_id
from cupola.workflows.context import Context, Paused, Rejected
from cupola.workflows.nodes import Node, Sequential
from cupola.workflows.store import WorkflowStore


@dataclass
class Workflow:
    name: str
    steps: list[Node]
    description: str = ""
    root: Sequential = field(init=False)

    def __post_init__(self) -> None:
        self.root = Sequential(self.name, self.steps)


class WorkflowRunner:
    def __init__(self, agents: Runner, store: WorkflowStore) -> None:
        self.agents = agents
        self.store = store

    def run(self, workflow: Workflow, input: Any, *, run_id: str | None = None) -> AsyncIterator[dict[str, Any]]:
        run_id = run_id or new_id("wfr")
        self.store.start(run_id, workflow.name, input)
        return self._execute(workflow, run_id, input)

    def resume(self, workflow: Workflow, run_id: str, *, approve: bool | None = None,
               note: str = "") -> AsyncIterator[dict[str, Any]]:
        """Continue a run: a paused one with the approval decision, an interrupted one as it is."""
        run = self.store.run(run_id)
        if run["workflow"] != workflow.name:
            raise UsageError(f"run {run_id} is a run of {run['workflow']!r}, not {workflow.name!r}")
        if run["status"] in ("completed", "rejected"):
            raise UsageError(f"run {run_id} is {run['status']}; there is nothing to resume", param="run_id")
        if run["status"] == "paused":
            if approve is None:
                raise UsageError(f"run {run_id} waits for approval: {run['pending']['prompt']}",
                                 hint="resume it with approve=True or approve=False")
            self.store.checkpoint(run_id, run["pending"]["step"], {"approved": approve, "note": note}, 0.0)
        elif approve is not None:
            raise UsageError(f"run {run_id} is not waiting for approval", param="approve")
        self.store.set_status(run_id, "running")
        return self._execute(workflow, run_id, run["input"])

    async def _execute(self, workflow: Workflow, run_id: str, input: Any) -> AsyncIterator[dict[str, Any]]:
        started = time.perf_counter()
        queue: asyncio.Queue = asyncio.Queue()
        checkpoints = self.store.checkpoints(run_id)
        ctx = Context(run_id, {"input": input}, checkpoints, self.store, self.agents, queue, started)
        await ctx.emit("workflow_started", workflow=workflow.name, input=input, resumed=bool(checkpoints))

        async def body() -> None:
            span = tracing.start(f"invoke_workflow {workflow.name}", attributes={
                "gen_ai.operation.name": "invoke_workflow", "cupola.workflow.name": workflow.name,
                "cupola.workflow.run_id": run_id, "cupola.workflow.resumed": bool(checkpoints)})
            token = tracing.activate(span)  # the body runs in its own task: its steps are children
            scope = tracing.set_scope(run_id=run_id, workflow=workflow.name)
            try:
                output = await workflow.root.execute(ctx, workflow.name)
            except Paused as paused:
                pending = {"step": paused.path, "prompt": paused.prompt}
                self.store.set_status(run_id, "paused", pending=pending)
                await ctx.emit("approval_required", paused.path, prompt=paused.prompt)
            except Rejected as rejected:
                self.store.set_status(run_id, "rejected", result={"rejected_at": rejected.path})
                await ctx.emit("workflow_finished", status="rejected", output=None, step=rejected.path,
                               note=rejected.note, ms=_ms(started))
            except Exception as exc:
                message = exc.message if isinstance(exc, CupolaError) else f"{type(exc).__name__}: {exc}"
                tracing.fail(span, exc)
                self.store.set_status(run_id, "failed", result={"error": message})
                await ctx.emit("workflow_failed", error=message, ms=_ms(started))
            else:
                self.store.set_status(run_id, "completed", result=output)
                await ctx.emit("workflow_finished", status="completed", output=output, ms=_ms(started))
            finally:
                tracing.reset_scope(scope)
                tracing.detach(token)
                span.end()
                await queue.put(None)

        task = asyncio.create_task(body())
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            if not task.done():  # the consumer went away: stop the run (it stays resumable)
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


async def run_to_end(events: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    """Drain a run's events; return the last one (finished, failed, or approval_required)."""
    last: dict[str, Any] = {}
    async for event in events:
        last = event
    return last
