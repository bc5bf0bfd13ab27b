"""What a workflow's steps see while a run executes (kept apart so nodes and the engine do not
import each other): the run's state, the agent runner, checkpoints and event emission."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Protocol

from pydantic import BaseModel

from cupola import tracing
from cupola.agents.runner import Runner
from cupola.workflows.store import WorkflowStore


class Step(Protocol):
    name: str
    kind: str

    async def execute(self, ctx: "Context", path: str) -> Any: ...


class Paused(Exception):
    def __init__(self, path: str, prompt: str) -> None:
        self.path, self.prompt = path, prompt


class Rejected(Exception):
    def __init__(self, path: str, note: str) -> None:
        self.path, self.note = path, note


class Context:
    """What steps see while a run executes: the state, the agent runner, and event emission."""

    def __init__(self, run_id: str, state: dict[str, Any], checkpoints: dict[str, Any], store: WorkflowStore,
                 agents: Runner, queue: asyncio.Queue, started: float) -> None:
        self.run_id = run_id
        self.state = state
        self.checkpoints = checkpoints
        self.store = store
        self.agents = agents
        self._queue = queue
        self._started = started

    async def emit(self, type_: str, step: str | None = None, **data: Any) -> None:
        event = {"type": type_, "run_id": self.run_id, **({"step": step} if step else {}),
                 "t": round(time.perf_counter() - self._started, 3), **data}
        await self._queue.put(event)

    async def step(self, path: str, node: Step) -> Any:
        if path in self.checkpoints:
            output = self.checkpoints[path]
            await self.emit("step_restored", path, name=node.name, kind=node.kind)
        else:
            await self.emit("step_started", path, name=node.name, kind=node.kind)
            began = time.perf_counter()
            with tracing.span(f"step {path}", attributes={"cupola.workflow.step": path, "cupola.workflow.kind": node.kind,
                                                          "cupola.workflow.run_id": self.run_id},
                              expected=(Paused, Rejected)), tracing.scope(step=path):
                output = _jsonable(await node.execute(self, path))
            ms = round((time.perf_counter() - began) * 1000, 1)
            await asyncio.to_thread(self.store.checkpoint, self.run_id, path, output, ms)
            self.checkpoints[path] = output
            await self.emit("step_finished", path, name=node.name, kind=node.kind, output=output, ms=ms)
        self.state[node.name] = output
        if node.kind == "approval" and not output["approved"]:
            raise Rejected(path, output.get("note", ""))
        return output

    def approval(self, path: str, prompt: str) -> Any:
        raise Paused(path, prompt)  # decided approvals are checkpoints, restored before this runs


def _jsonable(value: Any) -> Any:
    """The output as its checkpoint will restore it, so a resumed run sees exactly the same state."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    return json.loads(json.dumps(value, default=str))


