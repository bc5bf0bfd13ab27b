"""The ``knowledge`` option of the Responses API: an answer grounded in a knowledge base, cited.

``knowledge: {"base": ..., "k": ...}`` (a Cupola extension, the same option as on chat completions)
puts the best sources for the last user input into the system message, gives the answer the
grounded defaults (``max_output_tokens`` 256, stopped where it starts repeating itself), and cites:
each sentence that a retrieved source supports gets a ``file_citation`` annotation at its end
(``file_id``: the document id, ``filename``: its title). Streaming adds one
``response.output_text.annotation.added`` event per annotation after ``response.output_text.done``;
the response object carries ``knowledge`` (sources and citations) like a grounded chat completion.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from cupola.knowledge import citing, grounding
from cupola.knowledge.retrieval import SearchOptions
from cupola.knowledge.service import KnowledgeService


async def ground(service: KnowledgeService, prep: Any, base: str, options: SearchOptions) -> None:
    """Put the sources into ``prep``'s messages and remember what to cite them with."""
    prep.body = grounding.defaults(prep.body)
    prep.body["messages"], prep.grounding = await grounding.ground(service, base, options, prep.body["messages"])
    prep.knowledge = service


async def _cite(prep: Any, text: str) -> list[dict[str, Any]]:
    cited = await prep.knowledge.cite(prep.grounding["base"], text, prep.grounding["sources"])
    known = {c["n"] for c in prep.grounding.setdefault("citations", [])}
    prep.grounding["citations"] += [c for c in cited if c["n"] not in known]
    return cited


async def annotate(prep: Any, output: list[dict[str, Any]]) -> None:
    """Citations as annotations on every output_text part of ``output`` (in place)."""
    for item in output:
        for part in item.get("content") or [] if item.get("type") == "message" else []:
            if part.get("type") == "output_text":
                part["annotations"] = citing.annotations(await _cite(prep, part.get("text") or ""))


async def annotate_events(prep: Any, events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    """A streamed response with annotation events after each finished text (sequence numbers redone)."""
    seq = 0
    pending: list[dict[str, Any]] = []
    async for event in events:
        extra: list[dict[str, Any]] = []
        if event["type"] == "response.output_text.done":
            pending = citing.annotations(await _cite(prep, event.get("text") or ""))
            extra = [{"type": "response.output_text.annotation.added", "item_id": event["item_id"],
                      "output_index": event["output_index"], "content_index": event["content_index"],
                      "annotation_index": i, "annotation": a} for i, a in enumerate(pending)]
        elif event["type"] == "response.content_part.done":
            event["part"]["annotations"] = pending  # the stored item's part: the same object
        for out in (event, *extra):
            out["sequence_number"] = seq
            seq += 1
            yield out
