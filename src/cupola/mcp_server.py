"""MCP server side (`cupola mcp serve`): Cupola's knowledge bases and agents for any MCP client.

:func:`build_server` makes an ``MCPServer`` (the MCP Python SDK 2.x name of FastMCP) called
"cupola" with these tools:

* ``list_knowledge_bases()`` — the bases, with their descriptions and sizes;
* ``search_knowledge(base, query, k=5, mode="hybrid")`` — numbered passages with their document id;
* ``agent_<name>(input)`` — one per agent of an :class:`AgentRegistry`: runs the agent and returns
  its final answer (JSON for an agent with structured output).

Cupola errors (an unknown base, an empty query, a model that fails) reach the client as tool
errors carrying Cupola's message and hint.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from cupola import __version__
from cupola.agents.agent import Agent
from cupola.agents.loader import AgentRegistry
from cupola.agents.runner import Runner, RunResult
from cupola.naming import tool_name
from cupola.errors import CupolaError, UsageError
from cupola.knowledge.retrieval import SearchOptions
from cupola.knowledge.service import KnowledgeService
from cupola.knowledge.tool import format_results

SERVER_NAME = "cupola"
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
INSTRUCTIONS = ("Cupola runs models on this machine. list_knowledge_bases shows the knowledge bases; "
                "search_knowledge finds passages in one. Tools named agent_* run Cupola agents.")


def build_server(knowledge: KnowledgeService, registry: AgentRegistry | None = None, runner: Runner | None = None,
                 *, log_level: LogLevel = "WARNING") -> MCPServer:
    """The "cupola" MCP server: knowledge search over ``knowledge``, and one tool per agent of
    ``registry`` (run by ``runner``)."""
    agents = registry.agents if registry is not None else {}
    if agents and runner is None:
        raise UsageError("serving agents over MCP needs a Runner")
    server = MCPServer(SERVER_NAME, instructions=INSTRUCTIONS, version=__version__, log_level=log_level)
    _add_knowledge_tools(server, knowledge)
    for tool, agent in agent_tool_names(agents).items():
        _add_agent_tool(server, tool, agents[agent], runner)  # type: ignore[arg-type]
    return server


def agent_tool_names(agents: dict[str, Agent]) -> dict[str, str]:
    """``{tool name: agent name}``: ``agent_<name>`` with what a tool name cannot hold made ``_``."""
    names: dict[str, str] = {}
    for agent in agents:
        tool = tool_name("agent_" + agent)
        if tool in names:
            raise UsageError(f"agents {names[tool]!r} and {agent!r} would both be the MCP tool {tool!r}",
                             hint="rename one of them")
        names[tool] = agent
    return names


@contextmanager
def _as_tool_error() -> Iterator[None]:
    """Cupola errors become MCP tool errors (``isError`` results) with Cupola's message and hint."""
    try:
        yield
    except CupolaError as exc:
        raise ToolError(f"{exc.message} (hint: {exc.hint})" if exc.hint else exc.message) from exc


def _add_knowledge_tools(server: MCPServer, knowledge: KnowledgeService) -> None:
    @server.tool()
    async def list_knowledge_bases() -> str:
        """List the knowledge bases that search_knowledge can search, with what is in each."""
        with _as_tool_error():
            bases = knowledge.store.list()
        if not bases:
            return "There are no knowledge bases yet (create one with `cupola kb create NAME`)."
        return "\n".join(f"- {b.name}: {b.description or '(no description)'} "
                         f"({b.documents} documents, {b.chunks} passages)" for b in bases)

    @server.tool(description="Search a knowledge base for passages relevant to a query. Returns numbered "
                             "passages with their title and document id.")
    async def search_knowledge(
        base: Annotated[str, Field(description="The knowledge base to search (list_knowledge_bases names them)")],
        query: Annotated[str, Field(description="What to look for, in a few words")],
        k: Annotated[int, Field(ge=1, le=50, description="How many passages to return")] = 5,
        mode: Annotated[Literal["hybrid", "lexical", "semantic"],
                        Field(description="hybrid (words and meaning), lexical (words) or semantic (meaning)")]
        = "hybrid",
    ) -> str:
        with _as_tool_error():
            found = await knowledge.search(base, query, SearchOptions(mode=mode, k=k))
        return format_results(found)


def _add_agent_tool(server: MCPServer, tool: str, agent: Agent, runner: Runner) -> None:
    async def run_agent(input: Annotated[str, Field(description="What to ask the agent")]) -> str:
        with _as_tool_error():
            result = await runner.run(agent, input)
        return _answer(agent, result)

    server.add_tool(run_agent, name=tool, description=agent.description or f"Ask the Cupola agent {agent.name!r}.",
                    structured_output=False)


def _answer(agent: Agent, result: RunResult) -> str:
    """The final text, or the structured output as JSON; a run paused for approval is an error."""
    if result.status != "completed":
        calls = ", ".join(c["name"] for c in result.pending)
        raise ToolError(f"agent {agent.name} wants to call {calls}, which needs a person's approval; an MCP "
                        f"client cannot give it (run the agent with `cupola agent run`)")
    if agent.output_type is None:
        return result.text
    output = result.output.model_dump() if isinstance(result.output, BaseModel) else result.output
    return json.dumps(output, ensure_ascii=False)
