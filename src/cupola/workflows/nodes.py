"""Workflow building blocks: steps that compose agents and functions.

Every node has a ``name`` (unique among its siblings) and writes its output into the run's state
under that name, so later steps can use it (``"Critique this draft: {draft}"``).

* :class:`AgentStep` runs an agent on a prompt rendered from the state.
* :class:`FunctionStep` calls ``fn(state)`` (sync or async).
* :class:`Sequential` runs steps in order; its output is the last one's.
* :class:`Concurrent` runs branches at the same time (fan-out) and outputs ``{name: output}`` (fan-in).
* :class:`Loop` runs ``body`` then ``critic`` until the critic approves, at most ``max_iterations``
  times; the critic's ``feedback`` is in the state for the next attempt.
* :class:`Route` asks ``router`` for a route name and hands off to that specialist.
* :class:`Approval` pauses the run until a human approves or rejects it.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cupola.agents.agent import Agent
from cupola.errors import UsageError
from cupola.workflows.context import Context

Prompt = str | Callable[[dict[str, Any]], str]


class Node:
    name: str
    kind: str = "step"

    async def execute(self, ctx: Context, path: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


def render(prompt: Prompt, state: Mapping[str, Any]) -> str:
    """A prompt template filled from the state (non-strings as JSON), or a callable's result."""
    if callable(prompt):
        return str(prompt(dict(state)))
    names = [f for _, f, _, _ in string.Formatter().parse(prompt) if f]
    missing = [n for n in names if n.split(".")[0].split("[")[0] not in state]
    if missing:
        raise UsageError(f"the prompt uses {{{missing[0]}}}, which no earlier step produced "
                         f"(known: {', '.join(sorted(state))})")
    values = {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in state.items()}
    return prompt.format_map(values)


@dataclass
class AgentStep(Node):
    name: str
    agent: Agent
    prompt: Prompt = "{input}"
    kind: str = "agent"

    async def execute(self, ctx: Context, path: str) -> Any:
        text = render(self.prompt, ctx.state)
        output: Any = None
        async for event in ctx.agents.stream(self.agent, text):
            kind = event["type"]
            if kind == "text_delta":
                await ctx.emit("delta", path, text=event["text"])
            elif kind in ("tool_call", "tool_result"):
                await ctx.emit(kind, path, **{k: v for k, v in event.items() if k not in ("type", "agent")})
            elif kind == "approval_required":
                raise UsageError(f"step {path}: agent {self.agent.name} wants approval for a tool call; inside "
                                 "a workflow, use an Approval step instead of needs_approval tools")
            elif kind == "final_output":
                output = event["output"]
        return output


@dataclass
class FunctionStep(Node):
    name: str
    fn: Callable[[dict[str, Any]], Any]
    kind: str = "function"

    async def execute(self, ctx: Context, path: str) -> Any:
        if inspect.iscoroutinefunction(self.fn):
            return await self.fn(dict(ctx.state))
        return await asyncio.to_thread(self.fn, dict(ctx.state))


def _check_names(owner: str, nodes: list[Node]) -> None:
    names = [n.name for n in nodes]
    if len(set(names)) != len(names) or any(not n or "/" in n for n in names):
        raise UsageError(f"{owner}: step names must be unique, non-empty and without '/': {names}")


@dataclass
class Sequential(Node):
    name: str
    steps: list[Node]
    kind: str = "sequential"

    def __post_init__(self) -> None:
        _check_names(self.name, self.steps)

    async def execute(self, ctx: Context, path: str) -> Any:
        output = None
        for step in self.steps:
            output = await ctx.step(f"{path}/{step.name}", step)
        return output


@dataclass
class Concurrent(Node):
    name: str
    branches: list[Node]
    kind: str = "concurrent"

    def __post_init__(self) -> None:
        _check_names(self.name, self.branches)

    async def execute(self, ctx: Context, path: str) -> Any:
        tasks = [asyncio.ensure_future(ctx.step(f"{path}/{b.name}", b)) for b in self.branches]
        try:
            outputs = await asyncio.gather(*tasks)
        except BaseException:  # one branch failed or paused: stop the others (finished ones stay checkpointed)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return {b.name: out for b, out in zip(self.branches, outputs)}


def verdict(value: Any) -> tuple[bool, str]:
    """A critic's output as (approved, feedback): a bool, or {"approved": ..., "feedback": ...}; a
    :class:`Route` as the critic gives the verdict of the route it chose."""
    if isinstance(value, Mapping) and "route" in value and "output" in value and "approved" not in value:
        return verdict(value["output"])
    if isinstance(value, bool):
        return value, ""
    if isinstance(value, Mapping):
        return bool(value.get("approved")), str(value.get("feedback") or "")
    if isinstance(value, str):
        return value.strip().lower().startswith(("yes", "approved", "ok")), value
    raise UsageError(f"a critic must return a bool or {{'approved': bool, 'feedback': str}}, not {value!r}")


@dataclass
class Loop(Node):
    name: str
    body: Node
    critic: Node
    max_iterations: int = 3
    kind: str = "loop"

    def __post_init__(self) -> None:
        _check_names(self.name, [self.body, self.critic])
        if self.max_iterations < 1:
            raise UsageError(f"{self.name}: max_iterations must be at least 1")

    async def execute(self, ctx: Context, path: str) -> Any:
        output = None
        ctx.state.setdefault("feedback", "")
        for i in range(1, self.max_iterations + 1):
            ctx.state["iteration"] = i
            output = await ctx.step(f"{path}/{i}/{self.body.name}", self.body)
            approved, feedback = verdict(await ctx.step(f"{path}/{i}/{self.critic.name}", self.critic))
            ctx.state["feedback"] = feedback
            if approved:
                return output
        await ctx.emit("loop_exhausted", path, iterations=self.max_iterations)
        return output


@dataclass
class Route(Node):
    name: str
    router: Node
    routes: dict[str, Node]
    default: str | None = None
    kind: str = "route"

    def __post_init__(self) -> None:
        _check_names(self.name, [self.router, *self.routes.values()])
        if self.default is not None and self.default not in self.routes:
            raise UsageError(f"{self.name}: default route {self.default!r} is not one of {list(self.routes)}")

    async def execute(self, ctx: Context, path: str) -> Any:
        choice = await ctx.step(f"{path}/{self.router.name}", self.router)
        key = choice.get("route") if isinstance(choice, Mapping) else choice
        name = next((n for n, node in self.routes.items() if key in (n, node.name)), self.default)
        if name is None:
            raise UsageError(f"{path}: the router chose {key!r}, which is not a route ({', '.join(self.routes)})")
        specialist = self.routes[name]
        await ctx.emit("handoff", path, to=specialist.name)
        return {"route": name, "output": await ctx.step(f"{path}/{specialist.name}", specialist)}


@dataclass
class Approval(Node):
    name: str
    prompt: Prompt = "Continue?"
    kind: str = "approval"
    details: dict[str, Any] = field(default_factory=dict)

    async def execute(self, ctx: Context, path: str) -> Any:
        return ctx.approval(path, render(self.prompt, ctx.state))
