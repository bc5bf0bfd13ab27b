"""Grounded chat completions: a chat request's answer grounded in a knowledge base.

``knowledge: {"base": ..., "k": ...}`` on a chat completion puts the best sources for the last user
message into the system message as numbered ``[n]`` sources; the answer then carries
``knowledge.sources`` (on the first chunk when streaming) and ``knowledge.citations`` (the retrieved
sources that support its sentences, see :mod:`cupola.knowledge.citing`; on the finishing chunk).
Unless the request says otherwise, a grounded answer gets at most ``ASK_MAX_TOKENS`` tokens and is
stopped where it starts repeating itself (``stop_loops``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from cupola.knowledge.retrieval import SearchOptions
from cupola.knowledge.service import ASK_MAX_TOKENS, KnowledgeService, public_source


async def ground(service: KnowledgeService, base: str, options: SearchOptions,
                 messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The messages with sources added, and the grounding record that goes with the answer."""
    grounded, found = await service.grounded_messages(base, messages, options)
    return grounded, {"base": base, "mode": found["mode"], "fallback": found["fallback"],
                      "sources": [public_source(r) for r in found["results"]]}


def defaults(body: dict[str, Any]) -> dict[str, Any]:
    """A grounded request's body with the grounded defaults where it says nothing."""
    body = dict(body)
    if body.get("max_tokens") is None:
        body["max_tokens"] = ASK_MAX_TOKENS
    if body.get("stop_loops") is None:
        body["stop_loops"] = True
    return body


async def cite(service: KnowledgeService, response: dict[str, Any], grounding: dict[str, Any]) -> dict[str, Any]:
    """A non-streamed answer with its grounding and the sources that support its sentences."""
    choices = response.get("choices") or []
    content = (choices[0]["message"].get("content") or "") if choices else ""
    cited = await service.cite(grounding["base"], content, grounding["sources"])
    response["knowledge"] = {**grounding, "citations": cited}
    return response


async def cite_stream(service: KnowledgeService, chunks: AsyncIterator[dict[str, Any]],
                      grounding: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """Sources on the first chunk; the citations found in the answer on the chunk that finishes it."""
    parts: list[str] = []
    first = True
    async for chunk in chunks:
        if first:
            chunk = {**chunk, "knowledge": grounding}
            first = False
        for choice in chunk.get("choices") or []:
            parts.append((choice.get("delta") or {}).get("content") or "")
            if choice.get("finish_reason"):
                cited = await service.cite(grounding["base"], "".join(parts), grounding["sources"])
                chunk = {**chunk, "knowledge": {**chunk.get("knowledge", {}), "citations": cited}}
        yield chunk
