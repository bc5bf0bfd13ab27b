"""Servers that hang: an upstream that accepts connections and never answers, and MCP servers that never
greet or never finish a tool call. The caller gets a timeout error (504 / MCPError), never a hang."""

from __future__ import annotations

import socket
import sys
import threading

import pytest
from fastapi.testclient import TestClient

from cupola.config import Settings, UpstreamConfig
from cupola.engines.fake import FakeFactory, fake_store
from cupola.runtime.runtime import Runtime
from cupola.server.app import create_app
from cupola.tools.mcp import MCPError, MCPServerSpec, MCPToolset

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def silent_port():
    """A socket that accepts every connection and never answers (nor closes)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    sock.close()


def test_a_hanging_upstream_times_out_with_504_and_falls_back(tmp_path, silent_port):
    upstream = UpstreamConfig(url=f"http://127.0.0.1:{silent_port}/v1", models={"stuck": "m", "stuck2": "m"},
                              timeout=1, retries=0)
    settings = Settings(home=tmp_path / "home", upstreams={"hang": upstream}, fallbacks={"stuck2": ["smollm2-135m"]})
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=FakeFactory())
    with TestClient(create_app(settings, runtime)) as client:
        for stream in (False, True):
            r = client.post("/v1/chat/completions", json={"model": "stuck", "messages": MESSAGES, "stream": stream})
            assert r.status_code == 504, r.text
            assert r.json()["error"]["code"] == "upstream_timeout" and "within 1s" in r.json()["error"]["message"]
        embedded = client.post("/v1/embeddings", json={"model": "stuck", "input": "x"})
        assert embedded.status_code == 504 and embedded.json()["error"]["code"] == "upstream_timeout"
        served = client.post("/v1/chat/completions", json={"model": "stuck2", "messages": MESSAGES})
        assert served.status_code == 200 and served.json()["model"] == "smollm2-135m"
        assert "no token within 1s" in served.headers["x-cupola-route"]
        ps = client.get("/api/ps").json()["upstreams"][0]
        assert ps["running"] == 0 and ps["queued"] == 0  # the hung requests gave their slots back


NEVER_GREETS = "import sys, time\nsys.stdin.read()\ntime.sleep(3600)\n"
HANGS_IN_A_CALL = '''
import time
from mcp.server.mcpserver import MCPServer

server = MCPServer("stuck")


@server.tool()
def wait() -> str:
    """Never returns."""
    time.sleep(3600)
    return "never"


server.run()
'''


async def test_an_mcp_server_that_never_greets_is_a_timeout_error(tmp_path):
    script = tmp_path / "silent.py"
    script.write_text(NEVER_GREETS)
    with pytest.raises(MCPError, match="did not answer the MCP handshake within 1 s"):
        async with MCPToolset(MCPServerSpec(command=sys.executable, args=[str(script)], connect_timeout=1)):
            pass


async def test_an_mcp_tool_call_that_never_returns_is_a_timeout_error(tmp_path):
    script = tmp_path / "stuck.py"
    script.write_text(HANGS_IN_A_CALL)
    spec = MCPServerSpec(command=sys.executable, args=[str(script)], timeout=1, connect_timeout=60)
    async with MCPToolset(spec) as tools:
        with pytest.raises(MCPError, match="tool wait did not answer within 1 s"):
            await tools.call_tool("wait", {})
