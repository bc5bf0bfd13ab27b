"""MCP with the official SDK, no mocks: MCP servers' tools as Cupola tools (stdio and streamable
HTTP), an agent using them, and Cupola's own MCP server (in-process, and `cupola mcp serve` on the
real embedded models)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from mcp import Client
from typer.testing import CliRunner

from cupola.agents.agent import Agent
from cupola.agents.loader import AgentRegistry
from cupola.agents.runner import Runner
from cupola.cli.mcp import app as mcp_app
from cupola.client import FunctionClient, LocalClient
from cupola.config import Settings
from cupola.errors import InvalidParameter, UsageError
from cupola.knowledge.documents import Document
from cupola.knowledge.service import KnowledgeService
from cupola.knowledge.store import KnowledgeStore
from cupola.mcp_server import agent_tool_names, build_server
from cupola.models.store import ModelStore
from cupola.runtime.runtime import Runtime
from cupola.tools.functions import ToolArgumentsError
from cupola.naming import tool_name
from cupola.tools.mcp import MCPError, MCPServerSpec, MCPToolError, MCPToolset

from conftest import new_home

TINY_SERVER = '''
import sys
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("tiny")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def fail() -> str:
    """Always fails."""
    raise ToolError("the flux capacitor is broken")


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
'''

DOCS = [Document("station", "The Cupola is an observatory module of the International Space Station with seven "
                            "windows.", "The Cupola module"),
        Document("bread", "Sourdough bread rises with a starter of wild yeast and lactic bacteria.", "Sourdough")]


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny_server.py"
    path.write_text(TINY_SERVER)
    return path


def stdio_spec(script: Path, **extra) -> MCPServerSpec:
    return MCPServerSpec(command=sys.executable, args=[str(script)], **extra)


# -- MCP servers' tools as Cupola tools --------------------------------------------------------


async def test_stdio_tools_are_listed_called_and_checked(tiny):
    async with MCPToolset(stdio_spec(tiny)) as ts:
        assert ts.server_info.name == "tiny"
        add, fail = ts.tools
        assert (add.name, add.description) == ("add", "Add two integers.")
        assert add.parameters["properties"]["a"]["type"] == "integer"
        assert add.parameters["required"] == ["a", "b"]
        assert add.schema()["function"]["parameters"] == add.parameters
        assert add.metadata == {"mcp_server": ts.label, "mcp_tool": "add"}
        assert ts.label.startswith(f"{Path(sys.executable).name} /")

        assert await add('{"a": 2, "b": 3}') == "5"
        assert await add({"a": 40, "b": 2}) == "42"
        with pytest.raises(MCPToolError, match="the flux capacitor is broken"):
            await fail("")
        with pytest.raises(ToolArgumentsError) as err:
            await add('{"a": "x"}')
        assert str(err.value) == "add: arguments: 'b' is a required property; a: 'x' is not of type 'integer'"
        with pytest.raises(ToolArgumentsError, match="not JSON"):
            await add("{nope")


async def test_tool_filter_prefix_and_approval(tiny):
    async with MCPToolset(stdio_spec(tiny, tools=["add"], prefix="calc.", needs_approval=["add"])) as ts:
        [add] = ts.tools
        assert add.name == "calc_add" and add.remote_name == "add" and add.needs_approval
        assert await add('{"a": 1, "b": 1}') == "2"
    with pytest.raises(InvalidParameter, match=r"has no tool 'multiply' \(its tools: add, fail\)"):
        async with MCPToolset(stdio_spec(tiny, tools=["multiply"])):
            pass


async def test_errors_in_the_block_come_out_unwrapped(tiny):
    with pytest.raises(KeyError, match="mine"):
        async with MCPToolset(stdio_spec(tiny)):
            raise KeyError("mine")


async def test_connection_failures_are_clear(tmp_path):
    with pytest.raises(MCPError, match="command 'no-such-mcp-server' not found") as err:
        async with MCPToolset(command="no-such-mcp-server"):
            pass
    assert "full path" in err.value.hint

    crash = ["-c", "import sys; print('missing API key', file=sys.stderr); sys.exit(3)"]
    with pytest.raises(MCPError, match=r"closed the connection(.|\n)*missing API key") as err:
        async with MCPToolset(command=sys.executable, args=crash, name="crashy"):
            pass
    assert str(err.value).startswith('MCP server "crashy"')
    assert "run the server yourself" in err.value.hint

    with pytest.raises(MCPError, match=r"cannot reach MCP server \"http://127.0.0.1:\d+/mcp\"") as err:
        async with MCPToolset(url=f"http://127.0.0.1:{free_port()}/mcp"):
            pass
    assert "is the server running" in err.value.hint

    with pytest.raises(InvalidParameter, match="give `command` .* or `url` .*: one of them"):
        MCPToolset(command="x", url="http://127.0.0.1/mcp")


def test_tool_names_are_made_valid():
    assert tool_name("files/read.text") == "files_read_text"
    assert tool_name("2fa") == "2fa"
    assert len(tool_name("x" * 100)) == 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tiny_http(tiny, tmp_path):
    """The tiny server on streamable HTTP, in a subprocess on a free port."""
    port = free_port()
    with open(tmp_path / "tiny_http.log", "w") as log:
        proc = subprocess.Popen([sys.executable, str(tiny), "http", str(port)], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the MCP server did not start: {(tmp_path / 'tiny_http.log').read_text()}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            proc.terminate()
            proc.wait(10)


async def test_streamable_http_round_trip(tiny_http):
    async with MCPToolset(url=tiny_http, headers={"X-Client": "cupola-test"}) as ts:
        assert [t.name for t in ts.tools] == ["add", "fail"]
        assert await ts.tools[0]('{"a": 2, "b": 3}') == "5"
        with pytest.raises(MCPToolError, match="flux capacitor"):
            await ts.tools[1]("{}")
    with pytest.raises(MCPError, match="Not Found") as err:
        async with MCPToolset(url=tiny_http.removesuffix("/mcp") + "/wrong"):
            pass
    assert "/mcp" in err.value.hint


async def test_an_agent_uses_mcp_tools(tiny):
    def model(messages, params):
        return "done" if messages[-1]["role"] == "tool" else [("add", {"a": 2, "b": 3})]

    async with MCPToolset(stdio_spec(tiny)) as ts:
        result = await Runner(FunctionClient(model)).run(Agent("a", tools=ts.tools), "add")
    tool_message = next(m for m in result.messages if m["role"] == "tool")
    assert tool_message["content"] == "5"
    assert result.text == "done"


def test_cli_lists_a_servers_tools(tiny):
    result = CliRunner().invoke(mcp_app, ["tools", "--command", sys.executable, "--arg", str(tiny), "--json"])
    assert result.exit_code == 0, result.output
    tools = json.loads(result.stdout)
    assert [t["name"] for t in tools] == ["add", "fail"]
    assert tools[0]["parameters"]["required"] == ["a", "b"]
    table = CliRunner().invoke(mcp_app, ["tools", "--command", sys.executable, "--arg", str(tiny)])
    assert "Add two integers." in table.stdout and "tiny" in table.stdout
    missing = CliRunner().invoke(mcp_app, ["tools", "--command", "no-such-mcp-server"])
    assert missing.exit_code == 1 and "not found" in missing.output


# -- Cupola as an MCP server -------------------------------------------------------------------


async def test_cupola_server_in_process(tmp_path):
    """build_server over the SDK's in-process transport, with fake models."""
    def model(messages, params):
        if "response_format" in params:
            return json.dumps({"answer": "42"})
        return "pong: " + messages[-1]["content"]

    client = FunctionClient(model)
    store = KnowledgeStore(tmp_path / "knowledge.db")
    knowledge = KnowledgeService(store, client)
    knowledge.create("notes", description="Facts")
    await knowledge.ingest("notes", DOCS)
    registry = AgentRegistry({"echo": Agent("echo", description="Echoes the input"),
                              "team.json": Agent("team.json", output_type={
                                  "type": "object", "properties": {"answer": {"type": "string"}},
                                  "required": ["answer"]})})
    server = build_server(knowledge, registry, Runner(client))
    try:
        async with Client(server) as mcp:
            listed = {t.name: t for t in (await mcp.list_tools()).tools}
            assert set(listed) == {"list_knowledge_bases", "search_knowledge", "agent_echo", "agent_team_json"}
            assert listed["agent_echo"].description == "Echoes the input"
            assert listed["search_knowledge"].input_schema["required"] == ["base", "query"]
            assert listed["search_knowledge"].description.startswith("Search a knowledge base for passages")
            assert listed["search_knowledge"].input_schema["properties"]["mode"]["enum"] == [
                "hybrid", "lexical", "semantic"]

            bases = await mcp.call_tool("list_knowledge_bases", {})
            assert "- notes: Facts (2 documents" in bases.content[0].text
            found = await mcp.call_tool("search_knowledge", {"base": "notes", "query": "sourdough yeast", "k": 1})
            assert "(document bread, part 1)" in found.content[0].text and not found.is_error
            missing = await mcp.call_tool("search_knowledge", {"base": "nope", "query": "x"})
            assert missing.is_error and "no knowledge base named 'nope'" in missing.content[0].text
            assert "cupola kb create nope" in missing.content[0].text

            echoed = await mcp.call_tool("agent_echo", {"input": "ping"})
            assert echoed.content[0].text == "pong: ping"
            structured = await mcp.call_tool("agent_team_json", {"input": "?"})
            assert json.loads(structured.content[0].text) == {"answer": "42"}
    finally:
        store.close()


def test_agent_tool_names_must_not_clash():
    with pytest.raises(UsageError, match="would both be the MCP tool 'agent_a_b'"):
        agent_tool_names({"a.b": Agent("a.b"), "a_b": Agent("a_b")})


@pytest.mark.real
async def test_cupola_mcp_serve_over_stdio(tmp_path, models_home):
    """`python -m cupola.cli.mcp serve` in a subprocess on the real embedded models."""
    home = new_home(tmp_path / "mcp-home", models_home)
    settings = Settings(home=home)
    runtime = Runtime(settings)
    store = KnowledgeStore(settings.db_path("knowledge"))
    try:
        knowledge = KnowledgeService(store, LocalClient(runtime), models=ModelStore(settings.models_dir))
        knowledge.create("notes", description="Space and bread")
        report = await knowledge.ingest("notes", DOCS)
        assert report.embedded == 2
    finally:
        store.close()
        await runtime.close()
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "helper.yaml").write_text(textwrap.dedent("""\
        name: helper
        description: Says hello
        instructions: Answer in one short sentence.
        """))

    spec = MCPServerSpec(command=sys.executable, args=["-m", "cupola.cli.mcp", "serve", "--local",
                                                       "--agents", str(agents)],
                         env={"CUPOLA_HOME": str(home)}, connect_timeout=60)
    async with MCPToolset(spec) as ts:
        tools = {t.name: t for t in ts.tools}
        assert set(tools) == {"list_knowledge_bases", "search_knowledge", "agent_helper"}
        assert ts.server_info.name == "cupola"
        assert "- notes: Space and bread (2 documents" in await tools["list_knowledge_bases"]("{}")
        found = await tools["search_knowledge"]('{"base": "notes", "query": "windows of the space station"}')
        assert found.startswith("[1] The Cupola module (document station, part 1)")
        with pytest.raises(MCPToolError, match="no knowledge base named 'nope'"):
            await tools["search_knowledge"]('{"base": "nope", "query": "x"}')
        assert tools["agent_helper"].description == "Says hello"  # runs are covered in-process, with a fake model


async def test_a_yaml_agent_uses_an_mcp_server(tiny, tmp_path):
    """`- mcp: {command: ..., args: [...]}` in an agent file: the server's tools join each run."""
    from cupola.agents.loader import load_agent

    (tmp_path / "adder.yaml").write_text(
        f"name: adder\ntools:\n  - calculator\n  - mcp: {{command: {sys.executable!r}, args: [{str(tiny)!r}], "
        f"tools: [add]}}\n")
    agent = load_agent(tmp_path / "adder.yaml")
    assert [t.name for t in agent.function_tools] == ["calculator"] and len(agent.mcp_servers) == 1
    client = FunctionClient(lambda m, p: "done" if m[-1]["role"] == "tool" else [("add", {"a": 2, "b": 3})])
    result = await Runner(client).run(agent, "add")
    assert [m["content"] for m in result.messages if m["role"] == "tool"] == ["5"]
    offered = [t["function"]["name"] for t in client.calls[0][1]["tools"]]
    assert offered == ["calculator", "add"]
    (tmp_path / "bad.yaml").write_text("name: bad\ntools:\n  - mcp: {command: x, url: 'http://h'}\n")
    with pytest.raises(InvalidParameter, match="bad.yaml: mcp:"):
        load_agent(tmp_path / "bad.yaml")
