"""``search_knowledge``: a knowledge base as a tool a model (or an agent) can call."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from pydantic import Field

from cupola.errors import NotFound
from cupola.knowledge.retrieval import SearchOptions
from cupola.knowledge.service import KnowledgeService
from cupola.runtime.tool_grammar import FROM_USER

NAME = "search_knowledge"
MAX_QUERY = 200  # characters: also bounds what a small model can ramble into a call's arguments


def schema(base: str, description: str = "") -> dict[str, Any]:
    """The OpenAI function-tool definition for searching ``base``."""
    about = f" ({description})" if description else ""
    return {"type": "function", "function": {
        "name": NAME,
        "description": f"Search the knowledge base '{base}'{about} for passages relevant to a query. "
                       "Returns numbered passages with their document and title.",
        "parameters": {"type": "object", "properties": {
            # the query is taken from the user's words (the adapter's grammar copies it; see tool_grammar)
            "query": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY, FROM_USER: True}},
            "required": ["query"]}}}


def search_knowledge_tool(service: KnowledgeService, base: str, *, k: int = 4,
                          mode: str = "hybrid") -> Callable[[str], Awaitable[str]]:
    """An async function ``search_knowledge(query) -> str`` bound to one base, with its schema
    attached as ``.schema`` (plain-function tools need nothing else)."""

    # No description on `query`: the 135M model copies a parameter's description into the call.
    async def search_knowledge(query: Annotated[str, Field(min_length=1, max_length=MAX_QUERY,
                                                           json_schema_extra={FROM_USER: True})]) -> str:
        """Search the knowledge base for passages relevant to a query."""
        found = await service.search(base, query, SearchOptions(mode=mode, k=k))  # type: ignore[arg-type]
        return format_results(found)

    try:
        description = service.get(base).description
    except NotFound:  # the base may be created later; searching before that is a tool error
        description = ""
    search_knowledge.schema = schema(base, description)  # type: ignore[attr-defined]
    return search_knowledge


async def call(service: KnowledgeService, base: str, arguments: str | dict[str, Any], *, k: int = 4) -> str:
    """Run a ``search_knowledge`` tool call given its (JSON) arguments."""
    args = json.loads(arguments) if isinstance(arguments, str) else arguments
    return await search_knowledge_tool(service, base, k=k)(str(args.get("query", "")))


def format_results(found: dict[str, Any]) -> str:
    if not found["results"]:
        return "No passages found."
    lines = []
    for i, r in enumerate(found["results"], 1):
        lines.append(f"[{i}] {r['title']} (document {r['doc_id']}, part {r['position'] + 1})\n{r['text']}")
    return "\n\n".join(lines)
