"""Server-run tools in the Responses API: hosted agents, and Cupola's built-in tools named in a request.

A client names a hosted agent instead of (or besides) a model — ``"agent": {"name": "helpdesk",
"type": "agent_reference"}`` or just ``"agent": "helpdesk"`` — or lists Cupola's built-in tools as
an MCP tool of the request::

    {"type": "mcp", "server_label": "cupola", "allowed_tools": ["calculator", "search_knowledge"],
     "require_approval": "never", "knowledge": {"base": "notes", "k": 4, "mode": "hybrid"}}

(``knowledge`` is Cupola's: the base ``search_knowledge`` searches). Either way the whole tool loop
runs on the server and the response reports it as OpenAI reports remote MCP tools: each call is an
``mcp_call`` output item (``server_label: "cupola"``, ``name``, ``arguments``, ``output`` or
``error``), streamed with ``response.output_item.added``, ``response.mcp_call_arguments.delta`` /
``.done``, ``response.mcp_call.in_progress``, ``response.mcp_call.completed`` / ``.failed`` and
``response.output_item.done``; text after a call is a new ``message`` item. Each model turn after
the first starts with another ``response.in_progress`` event (the output so far as its snapshot),
so a client can draw the run's turns.

A call to a tool that needs approval (an agent's ``approve_writes``, or ``require_approval``) ends
the response with an ``mcp_approval_request`` item (``id``, ``name``, ``arguments``). The client
continues with ``previous_response_id`` and input items ``{"type": "mcp_approval_response",
"approval_request_id": ..., "approve": true | false}`` (one per request); the paused run's state is
in the agents database, so this also works after a restart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cupola.agents.agent import Agent
from cupola.agents.loader import AgentRegistry, AgentSpec, ToolContext, build_agent
from cupola.agents.runner import Runner
from cupola.errors import InvalidParameter, NotFound, UsageError
from cupola.naming import new_id
from cupola.responses import convert
from cupola.responses.service import EventStream, Prepared, ResponsesService

SERVER_LABEL = "cupola"
BUILTIN_TOOLS = ("calculator", "search_knowledge")  # what a request may name (no workspace tools)
BUILTIN_AGENT = "builtin-tools"  # the name runs of request-defined tools are recorded under
# Request fields that belong to a plain model call; an agent brings its own.
_MODEL_ONLY = ("tools", "tool_choice", "text", "instructions")


def agent_name(reference: Any) -> str:
    if isinstance(reference, str) and reference:
        return reference
    if isinstance(reference, dict) and isinstance(reference.get("name"), str) and reference["name"]:
        return reference["name"]
    raise UsageError("agent must be a name or {\"name\": ..., \"type\": \"agent_reference\"}", param="agent")


def is_cupola_tool(tool: Any) -> bool:
    return isinstance(tool, dict) and tool.get("type") == "mcp" and tool.get("server_label") == SERVER_LABEL


def approval_request_id(run_id: str, index: int) -> str:
    """The id of the approval request for the ``index``-th pending call of a paused run."""
    return f"mcpr_{run_id.removeprefix('run_')}_{index}"


def parse_approval_id(approval_id: Any) -> tuple[str, int]:
    try:
        prefix, run_hex, index = str(approval_id).split("_")
        if prefix != "mcpr" or not run_hex:
            raise ValueError
        return f"run_{run_hex}", int(index)
    except ValueError:
        raise InvalidParameter(f"{approval_id!r} is not an approval request id of this server",
                               param="input.approval_request_id") from None


@dataclass
class Plan:
    """What a request asks for: the agent to run, the prepared response, and a run to resume."""

    agent: Agent
    prep: Prepared
    resume_run: str | None = None
    approvals: dict[str, bool] = field(default_factory=dict)  # call_id -> approved
    pending: dict[str, str] = field(default_factory=dict)  # call_id -> arguments, of the paused calls


class HostedAgents:
    def __init__(self, responses: ResponsesService, registry: AgentRegistry, runner: Runner,
                 tools: ToolContext | None = None) -> None:
        self.responses = responses
        self.registry = registry
        self.runner = runner
        self.tools = tools or ToolContext()

    # -- which requests run here ---------------------------------------------------------------

    @staticmethod
    def wants(request: dict[str, Any]) -> bool:
        """Whether the request runs tools on the server: it names an agent, lists Cupola's tools,
        or answers an approval request."""
        if request.get("agent"):
            return True
        if any(is_cupola_tool(t) for t in request.get("tools") or []):
            return True
        items = request.get("input")
        return isinstance(items, list) and any(isinstance(i, dict) and i.get("type") == "mcp_approval_response"
                                               for i in items)

    def plan(self, request: dict[str, Any]) -> Plan:
        approvals, request = self._approvals(request)
        if request.get("agent"):
            agent = self._hosted(request)
            request = {**request, "agent": {"name": agent.name, "type": "agent_reference"}}
        elif request.get("tools"):
            agent = self.builtin_agent(request)
        elif approvals:
            agent = None  # known once the paused run is found
        else:
            raise InvalidParameter("name a hosted agent with `agent`, or list Cupola's tools", param="tools")
        resume_run, pending = None, {}
        if approvals:
            resume_run, approvals, stored = self._paused_run(request, approvals)
            pending = {c["call_id"]: c["arguments"] for c in stored["state"]["pending"]}
            if agent is None:
                agent = self._agent_for_run(stored["agent"])
        assert agent is not None
        request = {**request, "model": request.get("model") or agent.model or self.runner.default_model}
        # The tools run here, not in the model call the service would build: prepare without them,
        # keep them in the request the response echoes.
        prep = self.responses.prepare({k: v for k, v in request.items() if k not in ("tools", "tool_choice")})
        prep.request = request
        prep.body = {"messages": convert.items_to_messages(prep.items)}  # the agent adds its instructions
        return Plan(agent, prep, resume_run, approvals, pending)

    def _hosted(self, request: dict[str, Any]) -> Agent:
        if not self.registry.agents:
            raise NotFound("this server hosts no agents", param="agent",
                           hint="serve a folder of agent YAML files with `cupola serve --agents DIR`")
        agent = self.registry.get(agent_name(request["agent"]))
        given = [k for k in _MODEL_ONLY if request.get(k)]
        if given:
            raise UsageError(f"{', '.join(given)} cannot be set when calling an agent: the agent defines them",
                             param=given[0])
        return agent

    def builtin_agent(self, request: dict[str, Any]) -> Agent:
        """An agent for the built-in tools a request lists, with its instructions and sampling."""
        tools = request["tools"]
        if not all(is_cupola_tool(t) for t in tools):
            raise InvalidParameter("Cupola's server-run tools (type mcp, server_label cupola) cannot be mixed "
                                   "with function tools in one request", param="tools")
        entries: list[Any] = []
        approve: set[str] = set()
        for i, tool in enumerate(tools):
            if tool.get("server_url") or tool.get("connector_id"):
                raise InvalidParameter("remote MCP servers are not called from the Responses API; give an "
                                       "agent an `mcp:` tool instead", param=f"tools.{i}.server_url")
            knowledge = tool.get("knowledge")
            allowed = tool.get("allowed_tools") or (["calculator", "search_knowledge"] if knowledge else ["calculator"])
            if isinstance(allowed, dict):
                allowed = allowed.get("tool_names") or []
            for name in allowed:
                if name not in BUILTIN_TOOLS:
                    raise InvalidParameter(f"unknown built-in tool {name!r}; a request may use "
                                           f"{', '.join(BUILTIN_TOOLS)}", param=f"tools.{i}.allowed_tools")
                if name == "search_knowledge":
                    if not isinstance(knowledge, dict) or not knowledge.get("base"):
                        raise InvalidParameter("search_knowledge needs the base to search: add "
                                               "\"knowledge\": {\"base\": NAME} to the tool",
                                               param=f"tools.{i}.knowledge")
                    entries.append({"search_knowledge": _knowledge_options(knowledge, f"tools.{i}.knowledge")})
                else:
                    entries.append(name)
                if _needs_approval(tool.get("require_approval"), name):
                    approve.add(name)
        choice = request.get("tool_choice")
        settings: dict[str, Any] = {}
        if isinstance(choice, str):
            settings["tool_choice"] = choice
        elif isinstance(choice, dict) and choice.get("name"):
            settings["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
        spec = AgentSpec(name=BUILTIN_AGENT, instructions=request.get("instructions") or "", tools=entries,
                         model=request.get("model"), settings=settings,
                         output_schema=_output_schema(request.get("text")))
        agent = build_agent(spec, Path("."), self.tools, source="tools")
        if approve:
            agent.tools = [dataclasses.replace(t, needs_approval=True) if t.name in approve else t
                           for t in agent.function_tools]
        return agent

    @staticmethod
    def _approvals(request: dict[str, Any]) -> tuple[dict[str, bool], dict[str, Any]]:
        """The approval decisions in the input, and the request without them."""
        items = request.get("input")
        if not isinstance(items, list):
            return {}, request
        decisions = {i["approval_request_id"]: i["approve"] for i in items
                     if isinstance(i, dict) and i.get("type") == "mcp_approval_response"}
        if not decisions:
            return {}, request
        for i, item in enumerate(items):
            if not isinstance(item, dict) or item.get("type") != "mcp_approval_response":
                raise InvalidParameter("send only mcp_approval_response items to continue a paused response",
                                       param=f"input.{i}")
            if not isinstance(item.get("approve"), bool):
                raise InvalidParameter("approve must be true or false", param=f"input.{i}.approve")
        if not request.get("previous_response_id"):
            raise InvalidParameter("an approval continues a response: give its previous_response_id",
                                   param="previous_response_id")
        return decisions, {**request, "input": []}

    def _paused_run(self, request: dict[str, Any],
                    decisions: dict[str, bool]) -> tuple[str, dict[str, bool], dict[str, Any]]:
        parsed = {parse_approval_id(a): ok for a, ok in decisions.items()}
        runs = {run for run, _ in parsed}
        if len(runs) != 1:
            raise InvalidParameter("the approvals must answer the requests of one response", param="input")
        run_id = runs.pop()
        try:
            stored = self.runner.sessions.run(run_id)  # type: ignore[union-attr]
        except NotFound:
            raise NotFound("no paused run for these approval requests", param="input") from None
        previous = self.responses.get(request["previous_response_id"])
        asked = {i["id"] for i in previous["output"] if i.get("type") == "mcp_approval_request"}
        unknown = [a for a in decisions if a not in asked]
        if unknown:
            raise InvalidParameter(f"{unknown[0]} is not an approval request of response "
                                   f"{request['previous_response_id']}", param="input")
        if stored["status"] != "paused":
            raise UsageError(f"the run of these approval requests is {stored['status']}; it was already decided",
                             param="input")
        pending = stored["state"]["pending"]
        approvals = {}
        for (_, index), ok in parsed.items():
            if not 0 <= index < len(pending):
                raise InvalidParameter("unknown approval request", param="input")
            approvals[pending[index]["call_id"]] = ok
        missing = [approval_request_id(run_id, i) for i, c in enumerate(pending) if c["call_id"] not in approvals]
        if missing:
            raise InvalidParameter(f"decide every approval request of the response; missing: {', '.join(missing)}",
                                   param="input")
        return run_id, approvals, stored

    def _agent_for_run(self, name: str) -> Agent:
        if name in self.registry.agents:
            return self.registry.agents[name]
        raise InvalidParameter("send the same tools as the response that asked for approval", param="tools")

    # -- running -------------------------------------------------------------------------------

    def _settings(self, prep: Prepared, agent: Agent) -> Agent:
        """The agent with the request's model and sampling overrides."""
        overrides = {k: prep.request[k] for k in ("temperature", "top_p") if prep.request.get(k) is not None}
        if prep.request.get("max_output_tokens") is not None:
            overrides["max_tokens"] = prep.request["max_output_tokens"]
        return dataclasses.replace(agent, settings={**agent.settings, **overrides}, model=prep.request["model"])

    def _run(self, plan: Plan) -> AsyncIterator[dict[str, Any]]:
        agent = self._settings(plan.prep, plan.agent)
        if plan.resume_run:
            return self.runner.stream_resume(agent, plan.resume_run, plan.approvals)
        return self.runner.stream(agent, plan.prep.body["messages"], history=plan.prep.history)

    def stream(self, plan: Plan) -> AsyncIterator[dict[str, Any]]:
        return RunEventStream(self.responses, plan.prep, _meaningful(self._run(plan)), plan.pending).events()

    async def create(self, plan: Plan) -> dict[str, Any]:
        stream = RunEventStream(self.responses, plan.prep, _meaningful(self._run(plan)), plan.pending)
        last: dict[str, Any] = {}
        async for event in stream.events():
            last = event
        if stream.error is not None:
            raise stream.error
        return last["response"]


def _needs_approval(rule: Any, name: str) -> bool:
    """OpenAI's ``require_approval``: "always", "never" (the default here), or
    ``{"always": {"tool_names": [...]}, "never": {...}}``."""
    if rule in (None, "never"):
        return False
    if rule == "always":
        return True
    if isinstance(rule, dict):
        return name in ((rule.get("always") or {}).get("tool_names") or [])
    raise InvalidParameter("require_approval must be 'always', 'never' or {'always': {'tool_names': [...]}}",
                           param="tools.require_approval")


def _knowledge_options(knowledge: dict[str, Any], param: str) -> dict[str, Any]:
    options: dict[str, Any] = {"base": knowledge["base"]}
    k, mode = knowledge.get("k"), knowledge.get("mode")
    if k is not None:
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 20:
            raise InvalidParameter("knowledge.k must be an integer from 1 to 20", param=f"{param}.k")
        options["k"] = k
    if mode is not None:
        if mode not in ("lexical", "semantic", "hybrid"):
            raise InvalidParameter("knowledge.mode must be lexical, semantic or hybrid", param=f"{param}.mode")
        options["mode"] = mode
    if not isinstance(options["base"], str):
        raise InvalidParameter("knowledge.base must be a knowledge base name", param=f"{param}.base")
    return options


def _output_schema(text: Any) -> dict[str, Any] | None:
    fmt = convert.chat_response_format(text)
    return fmt["json_schema"]["schema"] if fmt and fmt["type"] == "json_schema" else None


async def _meaningful(events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    """A run's events from the first one that comes from the model (so that its errors — unknown
    model, overload, a prompt too long — become HTTP statuses): the first turn's ``turn_started``
    is dropped, the later ones pass."""
    started = False
    async for event in events:
        if started or event["type"] != "turn_started":
            started = True
            yield event


class RunEventStream(EventStream):
    """An agent run's events as Responses events: text, ``mcp_call`` items, approval requests."""

    def __init__(self, service: ResponsesService, prep: Prepared, chunks: AsyncIterator[dict[str, Any]],
                 pending: dict[str, str] | None = None) -> None:
        super().__init__(service, prep, chunks)
        self.running: dict[str, dict[str, Any]] = {}  # call_id -> mcp_call item
        self.pending = pending or {}  # call_id -> arguments of calls decided in this request

    def on_chunk(self, event: dict[str, Any]):
        kind = event["type"]
        if kind == "turn_started":  # the model is asked again: a new response.in_progress marks the turn
            yield from self.end_text()
            yield self.event("response.in_progress", response=self.snapshot("in_progress"))
        elif kind == "text_delta":
            yield from self.on_text(event["text"])
        elif kind == "tool_call":
            yield from self.end_text()
            item = {"type": "mcp_call", "id": new_id("mcp"), "server_label": SERVER_LABEL, "name": event["name"],
                    "arguments": "", "output": None, "error": None, "status": "in_progress"}
            self.running[event["call_id"]] = item
            yield from self.add_item(item)
            index = self.output.index(item)
            item["arguments"] = event["arguments"]
            yield self.event("response.mcp_call_arguments.delta", item_id=item["id"], output_index=index,
                             delta=event["arguments"])
            yield self.event("response.mcp_call_arguments.done", item_id=item["id"], output_index=index,
                             arguments=event["arguments"])
            yield self.event("response.mcp_call.in_progress", item_id=item["id"], output_index=index)
        elif kind == "tool_result":
            item = self.running.pop(event["call_id"], None)
            if item is None:  # a call decided in an earlier response (approved or denied now)
                item = {"type": "mcp_call", "id": new_id("mcp"), "server_label": SERVER_LABEL, "name": event["name"],
                        "arguments": self.pending.get(event["call_id"], ""), "output": None, "error": None,
                        "status": "in_progress"}
                yield from self.add_item(item)
            index = self.output.index(item)
            if event.get("is_error"):
                item.update(error=event["output"], status="failed")
                yield self.event("response.mcp_call.failed", item_id=item["id"], output_index=index)
            else:
                item.update(output=event["output"], status="completed")
                yield self.event("response.mcp_call.completed", item_id=item["id"], output_index=index)
            yield from self.item_done(item)
        elif kind == "approval_required":
            yield from self.end_text()
            for i, call in enumerate(event["calls"]):
                item = {"type": "mcp_approval_request", "id": approval_request_id(event["run_id"], i),
                        "server_label": SERVER_LABEL, "name": call["name"], "arguments": call["arguments"]}
                yield from self.add_item(item)
                yield self.event("response.output_item.done", output_index=self.output.index(item), item=dict(item))
            self.finish_reason = "stop"
        elif kind == "final_output":
            self.finish_reason = "stop"

    def close_items(self):
        yield from self.end_text()
        for item in list(self.running.values()):  # a run that stopped mid-call (it failed)
            item.update(status="failed", error=item["error"] or "the run stopped before the tool finished")
            yield from self.item_done(item)
        self.running.clear()


