"""Tool calls on any engine: plan the request, route ``auto``, shape the answer and the stream.

The runtime calls :func:`prepare` before sending a chat body to an engine and :func:`finish` /
:func:`adapt_stream` on what comes back. What happens in between depends only on the engine's
capabilities (``tool_adapter``): native tool templates get the tools as they are; other engines
get the adapter's rendering and whatever constraint they support.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

import numpy as np

from cupola.completions import chunk_like
from cupola.engines.base import Capabilities
from cupola.errors import CupolaError
from cupola.runtime.tool_adapter import ToolPlan, ToolStreamParser, adapt_request, adapt_response, plan_tools

log = logging.getLogger("cupola.tools")

Embed = Callable[[list[str]], Awaitable[np.ndarray]]


def _uses_tools(body: dict[str, Any]) -> bool:
    return bool(body.get("tools")) or body.get("tool_choice") is not None \
        or any(m.get("tool_calls") or m.get("role") == "tool" for m in body.get("messages", []))


async def prepare(body: dict[str, Any], capabilities: Capabilities, embed: Embed | None,
                  threshold: float) -> tuple[dict[str, Any], ToolPlan | None]:
    """The engine body for a chat request, and the plan its answer is shaped by (None: no tools)."""
    if not _uses_tools(body):
        return body, None
    plan = plan_tools(body, capabilities)
    if plan is not None and plan.active and plan.choice == "auto" and not plan.native:
        plan.choice = await route_auto(body.get("messages", []), plan, embed, threshold)
    return adapt_request(body, plan), plan


def _tool_text(spec: dict[str, Any]) -> str:
    props = (spec.get("parameters") or {}).get("properties") or {}
    params = ", ".join(f"{k} {v.get('description', '')}".strip() for k, v in props.items() if isinstance(v, dict))
    return f"{spec['name'].replace('_', ' ')}: {spec.get('description', '')}. {params}"


async def route_auto(messages: list[dict[str, Any]], plan: ToolPlan, embed: Embed | None, threshold: float) -> str:
    """Decide ``auto`` for an engine without native tool support: ``"required"`` or ``"none"``.

    Small models asked to choose freely between text and a call almost never start a call, and
    once told they may call, call for everything. So Cupola decides: after a tool result the model
    answers; otherwise it calls when the last user message is semantically close to one of the
    tools (embedding cosine >= ``threshold``), and answers in text when not. Without an embedding
    model the call is made.
    """
    if messages and messages[-1].get("role") == "tool":
        return "none"
    query = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), None)
    if not isinstance(query, str) or not query.strip() or embed is None:
        return "required"
    try:
        vectors = await embed([query] + [_tool_text(s) for s in plan.tools])
    except CupolaError as exc:
        log.warning("tool routing without embeddings (%s): calling a tool", exc.message)
        return "required"
    best = float(np.max(vectors[1:] @ vectors[0]))
    return "required" if best >= threshold else "none"


def finish(result: dict[str, Any], plan: ToolPlan | None) -> dict[str, Any]:
    """A non-streamed answer with tool-call text turned into ``tool_calls``."""
    return adapt_response(result, plan)


async def adapt_stream(chunks: AsyncIterator[dict[str, Any]], plan: ToolPlan | None) -> AsyncIterator[dict[str, Any]]:
    """A streamed answer with tool-call text turned into ``tool_calls`` deltas (name, then arguments)."""
    async with aclosing(chunks):  # type: ignore[type-var]
        if plan is None or not plan.active:
            async for chunk in chunks:
                yield chunk
            return
        async for out in _shaped(chunks, plan):
            yield out


async def _shaped(chunks: AsyncIterator[dict[str, Any]], plan: ToolPlan) -> AsyncIterator[dict[str, Any]]:
    parser = ToolStreamParser(plan.names)
    native_calls = False
    async for chunk in chunks:
        choices = chunk.get("choices") or []
        if not choices:
            yield chunk
            continue
        choice = choices[0]
        delta = choice.get("delta") or {}
        finish_reason = choice.get("finish_reason")
        if delta.get("tool_calls"):
            native_calls = True
            yield chunk
            continue
        events = parser.feed(delta["content"]) if delta.get("content") else []
        if finish_reason:
            events += parser.close()
        if delta.get("role"):
            yield chunk_like(chunk, {"role": delta["role"], "content": None})
        for event in events:
            yield chunk_like(chunk, _delta(event))
        if finish_reason:
            if (parser.count or native_calls) and finish_reason == "stop":
                finish_reason = "tool_calls"
            yield chunk_like(chunk, {}, finish_reason)


def _delta(event: tuple) -> dict[str, Any]:
    if event[0] == "content":
        return {"content": event[1]}
    if event[0] == "call":
        _, index, call_id, name = event
        return {"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                "function": {"name": name, "arguments": ""}}]}
    _, index, fragment = event
    return {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}
