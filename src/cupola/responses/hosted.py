"""Hosted agents: agents served through the Responses API, as Foundry hosted agents are.

A client names the agent instead of (or besides) a model — ``"agent": {"name": "helpdesk",
"type": "agent_reference"}`` or just ``"agent": "helpdesk"`` — and gets a normal response
object: the agent runs its whole tool loop on the server, and the answer is the output message.
``previous_response_id`` continues the conversation; ``stream: true`` streams the answer as the
usual typed events. Tool activity is not part of the output (the tools ran on the server).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from cupola.agents.agent import Agent
from cupola.agents.loader import AgentRegistry
from cupola.agents.runner import Runner
from cupola.errors import UsageError
from cupola.responses import convert
from cupola.responses.service import Prepared, ResponsesService, EventStream

# Request fields that belong to a plain model call; an agent brings its own.
_MODEL_ONLY = ("tools", "tool_choice", "text", "instructions")


def agent_name(reference: Any) -> str:
    if isinstance(reference, str) and reference:
        return reference
    if isinstance(reference, dict) and isinstance(reference.get("name"), str) and reference["name"]:
        return reference["name"]
    raise UsageError("agent must be a name or {\"name\": ..., \"type\": \"agent_reference\"}", param="agent")


class HostedAgents:
    def __init__(self, responses: ResponsesService, registry: AgentRegistry, runner: Runner) -> None:
        self.responses = responses
        self.registry = registry
        self.runner = runner

    def prepare(self, request: dict[str, Any]) -> tuple[Agent, Prepared]:
        agent = self.registry.get(agent_name(request["agent"]))
        given = [k for k in _MODEL_ONLY if request.get(k)]
        if given:
            raise UsageError(f"{', '.join(given)} cannot be set when calling an agent: the agent defines them",
                             param=given[0])
        request = {**request, "agent": {"name": agent.name, "type": "agent_reference"},
                   "model": request.get("model") or agent.model or self.runner.default_model}
        prep = self.responses.prepare(request)
        prep.body = {"messages": convert.items_to_messages(prep.items)}  # the agent adds its instructions
        return agent, prep

    def _settings(self, prep: Prepared, agent: Agent) -> Agent:
        """The agent with the request's model and sampling overrides."""
        overrides = {k: prep.request[k] for k in ("temperature", "top_p") if prep.request.get(k) is not None}
        if prep.request.get("max_output_tokens") is not None:
            overrides["max_tokens"] = prep.request["max_output_tokens"]
        return dataclasses.replace(agent, settings={**agent.settings, **overrides}, model=prep.request["model"])

    async def create(self, agent: Agent, prep: Prepared) -> dict[str, Any]:
        result = await self.runner.run(self._settings(prep, agent), prep.body["messages"], history=prep.history)
        if result.status != "completed":
            raise UsageError(f"agent {agent.name} paused for human approval of {result.pending[0]['name']}; "
                             "approvals are not available through the Responses API (run it with "
                             "`cupola agent run`)", param="agent")
        return self.responses.finish(prep, [convert.message_item(result.text)], None, "stop")

    def stream(self, agent: Agent, prep: Prepared) -> AsyncIterator[dict[str, Any]]:
        async def chunks() -> AsyncIterator[dict[str, Any]]:
            async for event in self.runner.stream(self._settings(prep, agent), prep.body["messages"],
                                                  history=prep.history):
                if event["type"] == "text_delta":
                    yield {"choices": [{"index": 0, "delta": {"content": event["text"]}}]}
                elif event["type"] == "approval_required":
                    raise UsageError(f"agent {agent.name} paused for human approval; approvals are not "
                                     "available through the Responses API", param="agent")
            yield {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}

        return EventStream(self.responses, prep, chunks()).events()
