"""Chat completions with tools, on any model: the runtime, the tool-call adapter and a router for ``auto``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from cupola.errors import CupolaError
from cupola.runtime.runtime import Runtime
from cupola.tools.adapter import ToolPlan, ToolStreamParser, adapt_request, adapt_response, plan_tools

log = logging.getLogger("cupola.tools")


async def _plan(runtime: Runtime, alias: str, body: dict[str, Any]) -> ToolPlan | None:
    if not body.get("tools") and body.get("tool_choice") is None \
            and not any(m.get("tool_calls") or m.get("role") == "tool" for m in body.get("messages", [])):
        return None
    model = await runtime.load(alias)
    plan = plan_tools(body, native=bool(getattr(model.engine, "native_tools", False)))
    if plan is not None and plan.active and plan.choice == "auto" and not plan.native:
        plan.choice = await _route(runtime, body.get("messages", []), plan)
    return plan


def _tool_text(spec: dict[str, Any]) -> str:
    props = (spec.get("parameters") or {}).get("properties") or {}
    params = ", ".join(f"{k} {v.get('description', '')}".strip() for k, v in props.items() if isinstance(v, dict))
    return f"{spec['name'].replace('_', ' ')}: {spec.get('description', '')}. {params}"


async def _route(runtime: Runtime, messages: list[dict[str, Any]], plan: ToolPlan) -> str:
    """Decide ``auto`` for a model without native tool support: ``"required"`` or ``"none"``.

    Small models asked to choose freely between text and a call almost never start a call, and
    once told they may call, call for everything. So Cupola decides: after a tool result the model
    answers; otherwise it calls when the last user message is semantically close to one of the
    tools (embedding cosine >= ``tool_route_threshold``), and answers in text when not. Without
    an embedding model the call is made.
    """
    if messages and messages[-1].get("role") == "tool":
        return "none"
    query = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), None)
    if not isinstance(query, str) or not query.strip():
        return "required"
    settings = runtime.settings
    try:
        vectors, _ = await runtime.embed(settings.default_embedding_model,
                                         [query] + [_tool_text(s) for s in plan.tools])
    except CupolaError as exc:
        log.warning("tool routing without embeddings (%s): calling a tool", exc.message)
        return "required"
    best = float(np.max(vectors[1:] @ vectors[0]))
    return "required" if best >= settings.tool_route_threshold else "none"


async def generate(runtime: Runtime, alias: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    plan = await _plan(runtime, alias, body)
    result = await runtime.generate(alias, adapt_request(body, plan), **kwargs)
    return adapt_response(result, plan)


async def stream(runtime: Runtime, alias: str, body: dict[str, Any], **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
    plan = await _plan(runtime, alias, body)
    chunks = runtime.stream(alias, adapt_request(body, plan), **kwargs)
    if plan is None or not plan.active:
        async for chunk in chunks:
            yield chunk
        return
    parser = ToolStreamParser(plan.names)
    native_calls = False
    async for chunk in chunks:
        choices = chunk.get("choices") or []
        if not choices:
            yield chunk
            continue
        choice = choices[0]
        delta = choice.get("delta") or {}
        finish = choice.get("finish_reason")
        if delta.get("tool_calls"):
            native_calls = True
            yield chunk
            continue
        events = parser.feed(delta["content"]) if delta.get("content") else []
        if finish:
            events += parser.close()
        if delta.get("role"):
            yield _chunk(chunk, {"role": delta["role"], "content": None})
        for event in events:
            yield _chunk(chunk, _delta(event))
        if finish:
            if (parser.count or native_calls) and finish == "stop":
                finish = "tool_calls"
            yield _chunk(chunk, {}, finish)


def _delta(event: tuple) -> dict[str, Any]:
    if event[0] == "content":
        return {"content": event[1]}
    if event[0] == "call":
        _, index, call_id, name = event
        return {"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                "function": {"name": name, "arguments": ""}}]}
    _, index, fragment = event
    return {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}


def _chunk(template: dict[str, Any], delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    out = {k: v for k, v in template.items() if k not in ("choices", "usage")}
    out["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
    return out
