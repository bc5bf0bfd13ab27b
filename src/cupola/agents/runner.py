"""Running agents: the model/tool loop, streamed as events, with sessions and human approval.

One turn sends the conversation and the agent's tools to the model. If the answer calls tools,
each call runs (a tool's exception goes back to the model as the tool's result) and the loop goes
on; if it is text, that is the final output (validated into ``output_type`` when the agent has
one). A call to a tool that needs approval pauses the run: its state is stored, and
:meth:`Runner.resume` continues it with the decisions — in this process or after a restart.

Events (dicts with ``type`` and ``agent``): ``turn_started``, ``text_delta`` (``text``),
``tool_call`` (``call_id``, ``name``, ``arguments``), ``tool_result`` (``call_id``, ``name``,
``output``, ``is_error``, ``ms``), ``approval_required`` (``run_id``, ``calls``), and
``final_output`` (``output``, ``text``). The last event carries the :class:`RunResult`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, aclosing, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from cupola import tracing
from cupola.agents.agent import Agent
from cupola.agents.sessions import SessionStore
from cupola.naming import new_id
from cupola.client import ModelClient
from cupola.errors import RuntimeFailure, UsageError

MAX_TOOL_OUTPUT = 16_000  # characters of a tool result given back to the model


class MaxTurnsExceeded(RuntimeFailure):
    """The agent kept calling tools past its turn limit."""

    code = "max_turns_exceeded"


class OutputValidationError(RuntimeFailure):
    """The final answer does not fit the agent's output type."""

    code = "invalid_output"


@dataclass
class RunResult:
    run_id: str
    agent: str
    status: str  # "completed" or "paused"
    output: Any = None  # str, or an instance of the agent's output_type
    text: str = ""
    session_id: str | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)  # calls waiting for approval
    messages: list[dict[str, Any]] = field(default_factory=list)  # new messages of this run
    turns: int = 0


@dataclass
class _State:
    run_id: str
    session_id: str | None
    messages: list[dict[str, Any]]  # what the model sees (system first)
    new: list[dict[str, Any]]  # messages this run adds to the session
    turns: int = 0
    pending: list[dict[str, Any]] = field(default_factory=list)

    def dump(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "messages": self.messages, "new": self.new, "turns": self.turns,
                "pending": self.pending}


def output_format(output_type: type[BaseModel] | dict[str, Any]) -> dict[str, Any]:
    if isinstance(output_type, dict):
        return {"type": "json_schema", "json_schema": {"name": "output", "strict": True, "schema": output_type}}
    return {"type": "json_schema", "json_schema": {"name": output_type.__name__, "strict": True,
                                                   "schema": output_type.model_json_schema()}}


class Runner:
    def __init__(self, client: ModelClient, *, sessions: SessionStore | None = None,
                 default_model: str = "smollm2-135m") -> None:
        self.client = client
        self.sessions = sessions
        self.default_model = default_model

    # -- entry points --------------------------------------------------------------------------

    async def run(self, agent: Agent, input: str | list[dict[str, Any]], *, session_id: str | None = None,
                  history: list[dict[str, Any]] | None = None) -> RunResult:
        return await _last(self.stream(agent, input, session_id=session_id, history=history))

    async def resume(self, agent: Agent, run_id: str, approvals: dict[str, bool]) -> RunResult:
        return await _last(self.stream_resume(agent, run_id, approvals))

    async def stream(self, agent: Agent, input: str | list[dict[str, Any]], *, session_id: str | None = None,
                     history: list[dict[str, Any]] | None = None) -> AsyncIterator[dict[str, Any]]:
        """Run ``agent`` on ``input``; ``session_id`` continues (or starts) a stored conversation,
        ``history`` gives prior messages directly."""
        if session_id is not None and self.sessions is None:
            raise UsageError("sessions need a session store (Runner(..., sessions=SessionStore(path)))")
        prior = list(history or [])
        if session_id is not None:
            prior = self.sessions.messages(session_id) + prior  # type: ignore[union-attr]
        incoming = [{"role": "user", "content": input}] if isinstance(input, str) else list(input)
        if not incoming:
            raise UsageError("the agent's input is empty", param="input")
        system = [{"role": "system", "content": agent.instructions}] if agent.instructions else []
        state = _State(new_id("run"), session_id, system + prior + incoming, list(incoming))
        async with _with_mcp_tools(agent) as live:
            async for event in _traced(live, state, self._loop(live, state)):
                yield event

    async def stream_resume(self, agent: Agent, run_id: str,
                            approvals: dict[str, bool]) -> AsyncIterator[dict[str, Any]]:
        """Continue a paused run: approved calls run, denied ones tell the model they were denied."""
        if self.sessions is None:
            raise UsageError("resuming a run needs the session store it was paused in")
        stored = self.sessions.run(run_id)
        if stored["status"] != "paused":
            raise UsageError(f"run {run_id} is {stored['status']}, not waiting for approval", param="run_id")
        if stored["agent"] != agent.name:
            raise UsageError(f"run {run_id} belongs to agent {stored['agent']!r}, not {agent.name!r}")
        s = stored["state"]
        state = _State(run_id, s["session_id"], s["messages"], s["new"], s["turns"], s["pending"])
        missing = [c["call_id"] for c in state.pending if c["call_id"] not in approvals]
        if missing:
            raise UsageError(f"decide every pending call; missing: {', '.join(missing)}", param="approvals")
        async with _with_mcp_tools(agent) as live:
            async for event in _traced(live, state, self._resumed(live, state, approvals)):
                yield event

    async def _resumed(self, agent: Agent, state: _State, approvals: dict[str, bool]) -> AsyncIterator[dict[str, Any]]:
        for call in state.pending:
            if approvals[call["call_id"]]:
                async for event in self._execute(agent, state, call):
                    yield event
            else:
                self._add_tool_result(state, call, "The user did not approve this call; do not retry it.")
                yield _event(agent, "tool_result", call_id=call["call_id"], name=call["name"],
                             output="denied by the user", is_error=True, ms=0.0)
        state.pending = []
        async for event in self._loop(agent, state):
            yield event

    # -- the loop ------------------------------------------------------------------------------

    async def _loop(self, agent: Agent, state: _State) -> AsyncIterator[dict[str, Any]]:
        model = agent.model or self.default_model
        tools = [t.schema() for t in agent.function_tools]
        # With tools and an output type, a text answer is replaced by a structured one: stream only that.
        stream_text = not (tools and agent.output_type is not None)
        while state.turns < agent.max_turns:
            state.turns += 1
            tracing.set_scope(turn=state.turns)  # the model calls of this turn say which turn they are
            yield _event(agent, "turn_started", turn=state.turns)
            params = dict(agent.settings)
            if tools:
                params["tools"] = tools
                if any(m.get("role") == "tool" for m in state.new):
                    # As the OpenAI Agents SDK does: a forced tool_choice applies until a tool ran,
                    # then "auto", so "required" cannot loop forever.
                    params.pop("tool_choice", None)
            else:
                params.pop("tool_choice", None)
                if agent.output_type is not None:
                    params["response_format"] = output_format(agent.output_type)
            text, calls = "", []
            async for kind, value in self._ask(model, state.messages, params):
                if kind == "text":
                    text += value
                    if stream_text:
                        yield _event(agent, "text_delta", text=value)
                else:
                    calls = value
            if calls:
                state.messages.append({"role": "assistant", "content": text or None, "tool_calls": [
                    {"id": c["call_id"], "type": "function", "function": {"name": c["name"],
                                                                          "arguments": c["arguments"]}}
                    for c in calls]})
                state.new.append(state.messages[-1])
                needing = [c for c in calls if (t := agent.tool(c["name"])) is not None and t.needs_approval]
                for call in calls:
                    if call in needing:
                        continue
                    async for event in self._execute(agent, state, call):
                        yield event
                if needing:
                    state.pending = needing
                    self._save(agent, state, "paused")
                    result = RunResult(state.run_id, agent.name, "paused", session_id=state.session_id,
                                       pending=needing, messages=state.new, turns=state.turns)
                    yield _event(agent, "approval_required", run_id=state.run_id, calls=needing, result=result)
                    return
                continue
            if agent.output_type is not None and tools:  # tools done: now the structured answer
                text = ""
                structured = {**{k: v for k, v in agent.settings.items() if k != "tool_choice"},
                              "response_format": output_format(agent.output_type)}
                async for kind, value in self._ask(model, state.messages, structured):
                    if kind == "text":
                        text += value
                        yield _event(agent, "text_delta", text=value)
            output = _validate(agent, text)
            state.messages.append({"role": "assistant", "content": text})
            state.new.append(state.messages[-1])
            if state.session_id is not None and self.sessions is not None:
                self.sessions.append(state.session_id, agent.name, state.new)
            self._save(agent, state, "completed")
            result = RunResult(state.run_id, agent.name, "completed", output, text, state.session_id,
                               messages=state.new, turns=state.turns)
            yield _event(agent, "final_output", output=_jsonable(output), text=text, result=result)
            return
        self._save(agent, state, "failed")
        raise MaxTurnsExceeded(f"agent {agent.name} did not finish within {agent.max_turns} turns",
                               hint="raise max_turns, or make the instructions say when to stop calling tools")

    async def _ask(self, model: str, messages: list[dict[str, Any]],
                   params: dict[str, Any]) -> AsyncIterator[tuple[str, Any]]:
        """Stream one model call: ("text", delta)..., then ("calls", [...]) if it called tools."""
        calls: dict[int, dict[str, Any]] = {}
        async for chunk in self.client.stream(model, list(messages), **params):  # a snapshot: the loop appends
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    yield "text", delta["content"]
                for tc in delta.get("tool_calls") or []:
                    call = calls.setdefault(tc.get("index", len(calls)), {"call_id": "", "name": "", "arguments": ""})
                    call["call_id"] = tc.get("id") or call["call_id"]
                    fn = tc.get("function") or {}
                    call["name"] += fn.get("name") or ""
                    call["arguments"] += fn.get("arguments") or ""
        if calls:
            found = [calls[i] for i in sorted(calls)]
            for c in found:
                c["call_id"] = c["call_id"] or new_id("call")
            yield "calls", found

    async def _execute(self, agent: Agent, state: _State, call: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        yield _event(agent, "tool_call", call_id=call["call_id"], name=call["name"], arguments=call["arguments"])
        started = time.perf_counter()
        tool = agent.tool(call["name"])
        is_error = False
        if tool is None:
            output, is_error = f"Error: there is no tool named {call['name']!r}", True
        else:
            span = tracing.start(f"execute_tool {call['name']}", attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": call["name"],
                "gen_ai.tool.call.id": call["call_id"], "gen_ai.tool.type": "function",
                "gen_ai.tool.description": tool.description[:500] if tool.description else None,
                "gen_ai.tool.call.arguments": call["arguments"] if tracing.capture_content() else None})
            token = tracing.activate(span)
            try:
                output = await tool(call["arguments"])
            except Exception as exc:  # the model sees the failure and can recover
                output, is_error = f"Error: {type(exc).__name__}: {exc}", True
                tracing.fail(span, exc)
            finally:
                tracing.detach(token)
                span.end()
        if len(output) > MAX_TOOL_OUTPUT:
            output = output[:MAX_TOOL_OUTPUT] + f"\n[... cut: {len(output) - MAX_TOOL_OUTPUT} more characters]"
        self._add_tool_result(state, call, output)
        yield _event(agent, "tool_result", call_id=call["call_id"], name=call["name"], output=output,
                     is_error=is_error, ms=round((time.perf_counter() - started) * 1000, 2))

    def _add_tool_result(self, state: _State, call: dict[str, Any], output: str) -> None:
        state.messages.append({"role": "tool", "tool_call_id": call["call_id"], "content": output})
        state.new.append(state.messages[-1])

    def _save(self, agent: Agent, state: _State, status: str) -> None:
        if self.sessions is not None:
            self.sessions.save_run(state.run_id, state.session_id, agent.name, status, state.dump())


async def _traced(agent: Agent, state: _State, events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    """The run's events inside an ``invoke_agent`` span, its model calls marked with the run and turn."""
    span = tracing.start(f"invoke_agent {agent.name}", attributes={
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent.name, "gen_ai.agent.id": state.run_id,
        "gen_ai.conversation.id": state.session_id, "gen_ai.request.model": agent.model,
        "gen_ai.agent.description": agent.description or None})
    token = tracing.activate(span)
    scope = tracing.set_scope(run_id=state.run_id, agent=agent.name)
    try:
        async with aclosing(events):  # type: ignore[type-var]
            async for event in events:
                yield event
    except Exception as exc:
        tracing.fail(span, exc)
        raise
    finally:
        tracing.reset_scope(scope)
        tracing.detach(token)
        span.end()


@asynccontextmanager
async def _with_mcp_tools(agent: Agent) -> AsyncIterator[Agent]:
    """The agent with the tools of its MCP servers, connected for the duration of a run."""
    if not agent.mcp_servers:
        yield agent
        return
    from cupola.tools.mcp import MCPToolset

    async with AsyncExitStack() as stack:
        tools = list(agent.function_tools)
        for spec in agent.mcp_servers:
            tools += (await stack.enter_async_context(MCPToolset(spec))).tools
        yield dataclasses.replace(agent, tools=tools, mcp_servers=[])


def _validate(agent: Agent, text: str) -> Any:
    kind = agent.output_type
    if kind is None:
        return text
    if isinstance(kind, dict):
        import jsonschema

        try:
            value = json.loads(text)
            jsonschema.validate(value, kind)
            return value
        except (json.JSONDecodeError, jsonschema.ValidationError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else exc.message
            raise OutputValidationError(f"agent {agent.name}: the answer does not fit the output schema: "
                                        f"{reason} (answer: {text[:200]!r})") from exc
    try:
        return kind.model_validate_json(text)
    except ValidationError as exc:
        raise OutputValidationError(f"agent {agent.name}: the answer does not fit {kind.__name__}: "
                                    f"{exc.errors()[0]['msg']} (answer: {text[:200]!r})") from exc


def _jsonable(value: Any) -> Any:
    return value.model_dump() if isinstance(value, BaseModel) else value


def _event(agent: Agent, type_: str, **data: Any) -> dict[str, Any]:
    return {"type": type_, "agent": agent.name, **data}


async def _last(events: AsyncIterator[dict[str, Any]]) -> RunResult:
    result = None
    async for event in events:
        result = event.get("result", result)
    assert result is not None
    return result
