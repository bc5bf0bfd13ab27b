"""Grounded chat completions: a chat request's answer grounded in a knowledge base.

``knowledge: {"base": ..., "k": ...}`` on a chat completion puts the best sources for the last user
message into the system message as numbered ``[n]`` sources; the answer then carries
``knowledge.sources`` (on the first chunk when streaming) and ``knowledge.citations`` (the ``[n]``
it cites; on the finishing chunk).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from cupola.knowledge.retrieval import SearchOptions
from cupola.knowledge.service import KnowledgeService, citations, public_source


async def ground(service: KnowledgeService, base: str, options: SearchOptions,
                 messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The messages with sources added, and the grounding record that goes with the answer."""
    grounded, found = await service.grounded_messages(base, messages, options)
    return grounded, {"base": base, "mode": found["mode"], "fallback": found["fallback"],
                      "sources": [public_source(r) for r in found["results"]]}


def cite(response: dict[str, Any], grounding: dict[str, Any]) -> dict[str, Any]:
    """A non-streamed answer with its grounding and the citations its text makes."""
    choices = response.get("choices") or []
    content = (choices[0]["message"].get("content") or "") if choices else ""
    response["knowledge"] = {**grounding, "citations": citations(content, grounding["sources"])}
    return response


async def cite_stream(chunks: AsyncIterator[dict[str, Any]], grounding: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
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
                cited = citations("".join(parts), grounding["sources"])
                chunk = {**chunk, "knowledge": {**chunk.get("knowledge", {}), "citations": cited}}
        yield chunk
