"""Declarative agents and hosted agents on the ASGI app with fake models."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from cupola.agents.loader import AgentRegistry, ToolContext, describe_folder, load_agent
from cupola.errors import InvalidParameter, NotFound, UsageError
from cupola.runtime.runtime import Runtime
from cupola.server.app import create_app

from conftest import FakeFactory, fake_store
from test_http_api import assert_openai_error

HELPER = """
name: helper
description: Says hello
instructions: You are a friendly helper.
settings: {temperature: 0.2, max_tokens: 64}
"""


def write_agents(folder, **files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text)
    return folder


def test_yaml_agent_fields_and_tools(tmp_path):
    folder = write_agents(tmp_path / "agents", calc="""
name: calc
instructions: Use the calculator.
model: smollm2-135m
tools: [calculator, read_file]
workspace: ./ws
output_schema: {type: object, properties: {answer: {type: number}}, required: [answer]}
max_turns: 3
""")
    agent = load_agent(folder / "calc.yaml")
    assert (agent.name, agent.model, agent.max_turns) == ("calc", "smollm2-135m", 3)
    assert [t.name for t in agent.function_tools] == ["calculator", "read_file"]
    assert agent.output_type["required"] == ["answer"]
    assert (folder / "ws").is_dir()  # the workspace, relative to the file
    assert describe_folder(folder)[0]["tools"] == ["calculator", "read_file"]


@pytest.mark.parametrize("text, message", [
    ("name: x\ntools: [teleport]", "unknown tool 'teleport'"),
    ("name: x\ntools: [read_file]", "needs a `workspace:`"),
    ("name: x\nworkspace: w\ntools: [run_command]", "needs an allowlist"),
    ("name: x\ntools: [{search_knowledge: {k: 2}}]", "needs a base"),
    ("name: 'bad name'", "name"),
    ("name: x\ncolour: blue", "colour: Extra inputs"),
    ("[1, 2]", "YAML mapping"),
    ("name: [unclosed", "not valid YAML"),
])
def test_bad_agent_files_are_clear_errors(tmp_path, text, message):
    (tmp_path / "a.yaml").write_text(text)
    with pytest.raises(UsageError, match=message):
        load_agent(tmp_path / "a.yaml", ToolContext(knowledge=object()))


def test_registry_rejects_duplicates_and_names_known_agents(tmp_path):
    folder = write_agents(tmp_path / "a", one=HELPER, two=HELPER)
    with pytest.raises(InvalidParameter, match="already defines agent 'helper'"):
        AgentRegistry.load(folder)
    registry = AgentRegistry.load(write_agents(tmp_path / "b", one=HELPER))
    with pytest.raises(NotFound, match=r"hosted agents: helper"):
        registry.get("nobody")


@pytest.fixture
def hosted(settings, tmp_path):
    settings = settings.model_copy(update={"agents_dir": write_agents(tmp_path / "agents", helper=HELPER)})
    factory = FakeFactory(reply="Hello there, friend.")
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=factory)
    with TestClient(create_app(settings, runtime)) as client:
        client.factory = factory
        yield client


def test_hosted_agent_through_responses(hosted):
    assert hosted.get("/api/agents").json()["data"][0]["name"] == "helper"
    first = hosted.post("/v1/responses", json={"agent": {"name": "helper", "type": "agent_reference"},
                                               "input": "hi"}).json()
    assert first["status"] == "completed" and first["output_text"] == "Hello there, friend."
    assert first["agent"] == {"name": "helper", "type": "agent_reference"} and first["model"] == "smollm2-135m"
    sent = hosted.factory.engines["smollm2-135m"].requests[-1]
    assert sent["messages"][0] == {"role": "system", "content": "You are a friendly helper."}
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 64
    second = hosted.post("/v1/responses", json={"agent": "helper", "input": "again",
                                                "previous_response_id": first["id"]}).json()
    assert second["previous_response_id"] == first["id"]
    history = hosted.factory.engines["smollm2-135m"].requests[-1]["messages"]
    assert [m["content"] for m in history] == ["You are a friendly helper.", "hi", "Hello there, friend.", "again"]


def test_hosted_agent_streams_response_events(hosted):
    with hosted.stream("POST", "/v1/responses", json={"agent": "helper", "input": "hi", "stream": True}) as resp:
        events = [json.loads(line[5:]) for line in resp.iter_lines() if line.startswith("data:")]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == "Hello there, friend."
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


def test_hosted_agent_errors(hosted, settings):
    assert_openai_error(hosted.post("/v1/responses", json={"agent": "nobody", "input": "x"}), 404, "agent",
                        "hosted agents: helper")
    assert_openai_error(hosted.post("/v1/responses", json={"agent": "helper", "input": "x",
                                                           "tools": [{"type": "function", "name": "f"}]}), 400, "tools")
    assert_openai_error(hosted.post("/v1/responses", json={"input": "x"}), 400, "model")
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=FakeFactory())
    with TestClient(create_app(settings, runtime)) as plain:
        assert_openai_error(plain.post("/v1/responses", json={"agent": "helper", "input": "x"}), 404, "agent",
                            "hosts no agents")


def test_a_bad_agent_folder_stops_the_server_from_starting(settings, tmp_path):
    folder = write_agents(tmp_path / "bad", x="name: x\ntools: [teleport]")
    with pytest.raises(UsageError, match="unknown tool"):
        create_app(settings.model_copy(update={"agents_dir": folder}))
