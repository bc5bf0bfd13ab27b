"""`cupola mcp`: the Model Context Protocol — serve Cupola to MCP clients, inspect MCP servers.

`cupola mcp serve` exposes knowledge search (and the agents of an `--agents` folder) to MCP clients
such as Claude Desktop, VS Code or other agents, over stdio (the client starts the command) or
streamable HTTP. `cupola mcp tools` connects to an MCP server and lists its tools.

Also runnable as `python -m cupola.cli.mcp ...`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.table import Table

from cupola.cli.common import knowledge_service, LocalOpt, UrlOpt, console, err_console, fail, handle_errors, load_settings, model_client
from cupola.errors import UsageError

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from cupola.client import ModelClient

app = typer.Typer(help="Model Context Protocol: serve Cupola's knowledge bases and agents to MCP clients, "
                       "list the tools of an MCP server.", no_args_is_help=True)

TRANSPORTS = ("stdio", "http")


@app.command()
@handle_errors
def serve(transport: Annotated[str, typer.Option(help="stdio (an MCP client starts this command) or http "
                                                      "(streamable HTTP at http://HOST:PORT/mcp)")] = "stdio",
          host: Annotated[str, typer.Option(help="Address to bind with --transport http (loopback only)")]
          = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port for --transport http")] = 8766,
          agents: Annotated[Optional[Path], typer.Option("--agents", help="Also serve the agents defined by the "
                                                         "YAML files in this folder (as tools agent_<name>)")]
          = None,
          url: UrlOpt = None, local: LocalOpt = False) -> None:
    """Serve knowledge search (and agents) to MCP clients."""
    from cupola.agents.loader import AgentRegistry, ToolContext
    from cupola.agents.runner import Runner
    from cupola.agents.sessions import SessionStore
    from cupola.mcp_server import build_server
    from cupola.server.serve import is_loopback

    if transport not in TRANSPORTS:
        fail(f"--transport must be stdio or http, not {transport!r}")
    if transport == "http" and not is_loopback(host):
        raise UsageError(f"refusing to serve MCP on {host}: the MCP endpoint has no authentication",
                         hint="keep 127.0.0.1 and reach it through an SSH tunnel or an authenticating proxy")
    settings = load_settings()
    client = model_client(settings, url, local)
    knowledge = knowledge_service(settings, client)
    sessions = SessionStore(settings.db_path("agents"))
    try:
        registry = AgentRegistry.load(agents, ToolContext(knowledge=knowledge)) if agents is not None else None
        runner = Runner(client, sessions=sessions, default_model=settings.default_chat_model)
        server = build_server(knowledge, registry, runner, log_level="WARNING" if transport == "stdio" else "INFO")
        served = f"{len(registry.agents)} agents and knowledge search" if registry else "knowledge search"
        where = "stdio" if transport == "stdio" else f"http://{host}:{port}/mcp"
        err_console.print(f"Cupola MCP server: {served} on {where}", highlight=False)
        asyncio.run(_run(server, transport, host, port, client))
    finally:
        knowledge.store.close()
        sessions.close()


async def _run(server: MCPServer, transport: str, host: str, port: int, client: ModelClient) -> None:
    """Serve until the client goes away (stdio) or Ctrl-C (http); then release the models."""
    try:
        if transport == "stdio":
            await server.run_stdio_async()
        else:
            await server.run_streamable_http_async(host=host, port=port)
    finally:
        await client.aclose()


def _pairs(items: list[str] | None, flag: str) -> dict[str, str] | None:
    """``KEY=VALUE`` options as a dict."""
    if not items:
        return None
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"{flag} {item!r} is not KEY=VALUE")
        out[key] = value
    return out


@app.command()
@handle_errors
def tools(command: Annotated[Optional[str], typer.Option("--command", help="Start this MCP server (stdio)")] = None,
          arg: Annotated[Optional[list[str]], typer.Option("--arg", help="An argument of --command (repeatable, "
                                                                         "in order)")] = None,
          env: Annotated[Optional[list[str]], typer.Option("--env", help="KEY=VALUE for --command's environment "
                                                                         "(repeatable)")] = None,
          url: Annotated[Optional[str], typer.Option("--url", help="Or reach an MCP server over streamable HTTP "
                                                                   "(e.g. http://127.0.0.1:8766/mcp)")] = None,
          header: Annotated[Optional[list[str]], typer.Option("--header", help="KEY=VALUE HTTP header for --url "
                                                                               "(repeatable)")] = None,
          as_json: Annotated[bool, typer.Option("--json", help="Print the tools and their schemas as JSON")] = False,
          ) -> None:
    """List the tools of an MCP server: `--command CMD --arg A ...` or `--url URL`."""
    from cupola.tools.mcp import MCPServerSpec, MCPToolset

    fields: dict[str, Any] = {"command": command, "url": url, "args": arg or [], "env": _pairs(env, "--env"),
                              "headers": _pairs(header, "--header")}
    spec = MCPServerSpec.parse({k: v for k, v in fields.items() if v})

    async def go() -> tuple[Any, list[Any]]:
        async with MCPToolset(spec) as toolset:
            return toolset.server_info, toolset.tools

    info, found = asyncio.run(go())
    if as_json:
        console.print_json(data=[{"name": t.name, "description": t.description, "parameters": t.parameters}
                                 for t in found])
        return
    about = f"{info.name} {info.version}".strip() if info is not None else spec.label
    table = Table("TOOL", "ARGUMENTS", "DESCRIPTION", title=f"{about}: {len(found)} tools")
    for t in found:
        required = set(t.parameters.get("required") or [])
        names = [f"{p}{'' if p in required else '?'}" for p in t.parameters.get("properties") or {}]
        table.add_row(t.name, ", ".join(names) or "-", t.description)
    console.print(table)


if __name__ == "__main__":
    app()
