"""Upstreams against real servers on loopback: a second `cupola serve` as the remote, killed
mid-stream, made busy (its own 429s) and slow; fallbacks, the breaker, routers, agents, hosted
agents and knowledge answers running on the remote, through the official openai client."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest
from typer.testing import CliRunner

from conftest import LiveServer, new_home

pytestmark = pytest.mark.real

HELLO = [{"role": "user", "content": "Say hello."}]
STORY = [{"role": "user", "content": "Write a very long story about a dragon and a knight."}]
AGENT = """name: remote-calc
instructions: For arithmetic, call the calculator tool with the expression, then state the result.
model: lab-smol
tools: [calculator]
settings: {temperature: 0.2, max_tokens: 96, tool_choice: required, seed: 7}
max_turns: 4
"""


def config(remote_url: str, *, timeout: float = 60, retries: int = 1, extra: str = "") -> str:
    return f"""
[upstreams.lab]
url = "{remote_url}/v1"
kind = "openai"
models = {{ "lab-smol" = "smollm2-135m", "lab-smol-direct" = "smollm2-135m", "lab-minilm" = "minilm-l6" }}
max_concurrency = 4
timeout = {timeout}
retries = {retries}
breaker_failures = 2
breaker_cooldown = 60

[fallbacks]
lab-smol = ["smollm2-135m"]

[routers.auto]
candidates = ["smollm2-135m", "lab-smol"]
mode = "balanced"
{extra}"""


def front(models_home: Path, base: Path, remote_url: str, *args: str, **kw) -> LiveServer:
    home = new_home(base, models_home)
    (home / "config.toml").write_text(config(remote_url, **kw))
    return LiveServer(home, *args)


@pytest.fixture(scope="module")
def remote(models_home, tmp_path_factory):
    server = LiveServer(new_home(tmp_path_factory.mktemp("remote") / "home", models_home), "--parallel", "4",
                        "--ctx-per-slot", "1024")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(models_home, tmp_path_factory, remote):
    base = tmp_path_factory.mktemp("gateway")
    agents = base / "agents"
    agents.mkdir()
    (agents / "remote-calc.yaml").write_text(AGENT)
    server = front(models_home, base / "home", remote.url, "--parallel", "2", "--ctx-per-slot", "1024",
                   "--agents", str(agents))
    yield server
    server.stop()


def client(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=120)


def test_remote_models_serve_chat_streams_tools_and_embeddings(gateway):
    c = client(gateway)
    listed = {m.id: m for m in c.models.list().data}
    assert listed["lab-smol"].model_extra["location"] == "upstream:lab"
    assert listed["auto"].model_extra["location"] == "router"
    raw = c.chat.completions.with_raw_response.create(model="lab-smol", messages=HELLO, max_tokens=16, seed=1)
    resp = raw.parse()
    assert resp.model == "lab-smol" and resp.choices[0].message.content.strip()
    assert raw.headers["x-cupola-route"].startswith("lab-smol -> lab-smol (upstream:lab)")
    text = "".join(ch.choices[0].delta.content or "" for ch in
                   c.chat.completions.create(model="lab-smol", messages=HELLO, max_tokens=16, stream=True)
                   if ch.choices)
    assert text.strip()
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Current weather of a city",
                                               "parameters": {"type": "object", "required": ["city"],
                                                              "properties": {"city": {"type": "string"}}}}}]
    called = c.chat.completions.create(model="lab-smol", messages=[{"role": "user", "content": "Weather in Paris?"}],
                                       tools=tools, tool_choice="required", max_tokens=128, seed=3)
    call = called.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and "city" in json.loads(call.function.arguments)
    vectors = c.embeddings.create(model="lab-minilm", input=["a cat", "a kitten"])
    assert len(vectors.data) == 2 and len(vectors.data[0].embedding) == 384


def test_upstreams_test_command_reports_reachability_models_and_a_chat(gateway, monkeypatch):
    from cupola.cli.main import app

    monkeypatch.setenv("CUPOLA_HOME", str(gateway.home))
    result = CliRunner().invoke(app, ["upstreams", "test", "lab", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] and [s["step"] for s in report["steps"]] == ["models", "chat"]
    assert "smollm2-135m" in report["steps"][0]["detail"]


def test_router_through_the_openai_client(gateway):
    c = client(gateway)
    raw = c.chat.completions.with_raw_response.create(model="auto", messages=HELLO, max_tokens=8)
    assert raw.parse().model in ("smollm2-135m", "lab-smol")
    assert "router auto" in raw.headers["x-cupola-route"]


def test_hosted_agent_and_knowledge_answer_run_on_the_remote(gateway):
    c = client(gateway)
    resp = c.responses.create(input="What is 12 * 7?", extra_body={"agent": {"name": "remote-calc",
                                                                            "type": "agent_reference"}})
    assert resp.status == "completed" and resp.output_text.strip()
    records = httpx.get(gateway.url + "/api/requests?limit=20").json()["requests"]
    assert any(r["model"] == "lab-smol" and r["location"] == "upstream:lab" for r in records)
    base = httpx.post(gateway.url + "/api/kb", json={"name": "remote-kb"})
    assert base.status_code == 201, base.text
    docs = {"documents": [{"id": "bees", "title": "Bees", "text": "Honey bees dance to tell where flowers are."}]}
    assert httpx.post(gateway.url + "/api/kb/remote-kb/documents", json=docs, timeout=60).status_code == 200
    answer = httpx.post(gateway.url + "/api/kb/remote-kb/ask", timeout=120, json={
        "question": "How do bees share where flowers are?", "model": "lab-smol", "stream": False, "max_tokens": 48})
    assert answer.status_code == 200, answer.text
    assert answer.json()["answer"].strip() and answer.json()["sources"][0]["doc_id"] == "bees"


def test_agent_on_a_remote_upstream_through_the_cli(gateway, tmp_path, monkeypatch):
    from cupola.cli.main import app

    monkeypatch.setenv("CUPOLA_HOME", str(gateway.home))
    agent = tmp_path / "calc.yaml"
    agent.write_text(AGENT)
    result = CliRunner().invoke(app, ["agent", "run", str(agent), "What is 6 * 7?", "--json"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert any(e["type"] == "tool_call" and e["name"] == "calculator" for e in events)
    assert events[-1]["type"] == "final_output"


def test_killed_remote_mid_stream_then_fallback_and_breaker(models_home, tmp_path):
    remote = LiveServer(new_home(tmp_path / "remote", models_home), "--parallel", "2")
    gate = front(models_home, tmp_path / "gate", remote.url, "--parallel", "2", retries=0)
    try:
        c = client(gate)
        stream = c.chat.completions.create(model="lab-smol", messages=STORY, max_tokens=400, stream=True)
        first = next(iter(stream))
        assert first.model == "lab-smol"
        remote.proc.send_signal(signal.SIGKILL)
        with pytest.raises(openai.APIError) as broken:  # reported in-band, never a hang
            for _ in stream:
                pass
        assert "upstream lab" in str(broken.value)
        raw = c.chat.completions.with_raw_response.create(model="lab-smol", messages=HELLO, max_tokens=8)
        assert raw.parse().model == "smollm2-135m"
        route = raw.headers["x-cupola-route"]
        assert "fallback after lab-smol" in route and "cannot reach upstream lab" in route
        ps = httpx.get(gate.url + "/api/ps").json()
        assert ps["upstreams"][0]["breaker"]["state"] == "open"  # two failures in a row
        metrics = httpx.get(gate.url + "/metrics").text
        assert 'cupola_upstream_breaker_open{upstream="lab"} 1.0' in metrics
        raw = c.chat.completions.with_raw_response.create(model="lab-smol", messages=HELLO, max_tokens=8)
        assert "skipped" in raw.headers["x-cupola-route"]  # the open breaker fails over at once
    finally:
        gate.stop()
        remote.stop()


def test_slow_and_busy_remote_fall_back_or_answer_429(models_home, tmp_path):
    remote = LiveServer(new_home(tmp_path / "remote", models_home), "--parallel", "1",
                        env={"CUPOLA_MAX_QUEUE": "2"})
    gate = front(models_home, tmp_path / "gate", remote.url, "--parallel", "2", timeout=1.5, retries=0)
    holders: list[threading.Thread] = []

    def hold() -> None:
        t = threading.Thread(target=_long_request, args=(remote.url,), daemon=True)
        t.start()
        holders.append(t)

    try:
        c = client(gate)
        hold(), hold()
        _wait_busy(remote.url, running=1, queued=1)
        # Slow: the request waits in the remote's queue and no token comes within 1.5 s.
        raw = c.chat.completions.with_raw_response.create(model="lab-smol", messages=HELLO, max_tokens=8)
        assert raw.parse().model == "smollm2-135m"
        assert "no token within 1.5s" in raw.headers["x-cupola-route"]
        hold()
        _wait_busy(remote.url, running=1, queued=2)
        # Busy: the remote's own admission answers 429 at once.
        raw = c.chat.completions.with_raw_response.create(model="lab-smol", messages=HELLO, max_tokens=8)
        assert raw.parse().model == "smollm2-135m"
        assert "answered 429" in raw.headers["x-cupola-route"]
        # Without a fallback chain the 429 reaches the client, with Retry-After.
        with pytest.raises(openai.RateLimitError) as refused:
            c.chat.completions.create(model="lab-smol-direct", messages=HELLO, max_tokens=8)
        assert int(refused.value.response.headers["retry-after"]) >= 1
    finally:
        gate.stop()
        remote.stop()


def _long_request(url: str) -> None:
    try:
        httpx.post(url + "/v1/chat/completions", timeout=120, json={
            "model": "smollm2-135m", "messages": STORY, "max_tokens": 400, "seed": 1, "ignore_eos": True})
    except httpx.HTTPError:
        pass


def _wait_busy(url: str, running: int, queued: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        models = httpx.get(url + "/api/ps").json()["models"]
        if models and models[0]["running"] >= running and models[0]["queued"] >= queued:
            return
        time.sleep(0.05)
    raise AssertionError("the remote did not get busy")
