"""The Responses API on the ASGI app with fake engines: conversion, storage, errors, events."""

import json

import pytest
from fastapi.testclient import TestClient

from cupola.responses.convert import items_to_messages, normalize_input
from cupola.runtime.runtime import Runtime
from cupola.server.app import create_app

from conftest import FakeFactory, fake_store

CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
TOOLS = [{"type": "function", "name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


def app_client(settings, reply="Hello from the fake model.", fail_after=None):
    factory = FakeFactory(reply=reply, fail_after=fail_after)
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=factory)
    return TestClient(create_app(settings, runtime)), factory


def test_items_become_chat_messages():
    items = normalize_input([
        {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": {"ok": True}},
        {"role": "developer", "content": "be nice"}])
    assert all(i["id"] for i in items)
    msgs = items_to_messages(items)
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "system"]
    assert [c["id"] for c in msgs[1]["tool_calls"]] == ["c1", "c2"]
    assert msgs[2] == {"role": "tool", "tool_call_id": "c1", "content": '{"ok": true}'}


@pytest.mark.parametrize("body, status, param", [
    ({"input": [{"type": "image", "url": "x"}]}, 400, "input.0.type"),
    ({"input": [{"role": "wizard", "content": "x"}]}, 400, "input.0.role"),
    ({"input": "x", "tools": [{"type": "web_search"}]}, 400, "tools.0.type"),
    ({"input": "x", "temperature": 9}, 400, "temperature"),
    ({"input": "x", "previous_response_id": "resp_nope"}, 404, "previous_response_id"),
    ({"input": "x", "model": "gpt-9"}, 404, "model"),
])
def test_bad_requests_get_openai_errors(settings, body, status, param):
    client, _ = app_client(settings)
    with client:
        resp = client.post("/v1/responses", json={"model": "smollm2-135m", **body})
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["param"] == param


def test_chain_get_items_delete(settings):
    client, factory = app_client(settings)
    with client:
        first = client.post("/v1/responses", json={"model": "smollm2-135m", "input": "one",
                                                   "instructions": "sys"}).json()
        assert first["output_text"] == "Hello from the fake model." and first["status"] == "completed"
        second = client.post("/v1/responses", json={"model": "smollm2-135m", "input": "two",
                                                    "previous_response_id": first["id"]}).json()
        sent = factory.engines["smollm2-135m"].requests[-1]["messages"]
        assert [m["role"] for m in sent] == ["user", "assistant", "user"]  # instructions do not carry over
        assert client.get(f"/v1/responses/{second['id']}").json()["id"] == second["id"]
        items = client.get(f"/v1/responses/{second['id']}/input_items").json()
        assert items["object"] == "list" and items["data"][0]["content"][0]["text"] == "two"
        assert client.delete(f"/v1/responses/{first['id']}").json()["deleted"] is True
        assert client.get(f"/v1/responses/{first['id']}").status_code == 404
        assert client.delete(f"/v1/responses/{first['id']}").status_code == 404
        unstored = client.post("/v1/responses", json={"model": "smollm2-135m", "input": "x", "store": False}).json()
        assert client.get(f"/v1/responses/{unstored['id']}").status_code == 404


def test_function_call_output_items_and_events(settings):
    client, _ = app_client(settings, reply=CALL)
    with client:
        resp = client.post("/v1/responses", json={"model": "smollm2-135m", "input": "weather?", "tools": TOOLS,
                                                  "tool_choice": "required"}).json()
        call = resp["output"][0]
        assert call["type"] == "function_call" and json.loads(call["arguments"]) == {"city": "Oslo"}
        with client.stream("POST", "/v1/responses", json={"model": "smollm2-135m", "input": "weather?",
                                                          "tools": TOOLS, "stream": True}) as stream:
            lines = [line for line in stream.iter_lines() if line.startswith("data: ")]
    events = [json.loads(line[6:]) for line in lines]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.function_call_arguments.delta" in kinds and "response.output_text.delta" not in kinds
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert json.loads(done["arguments"]) == {"city": "Oslo"}


def test_a_failure_mid_stream_ends_with_response_failed(settings):
    client, _ = app_client(settings, fail_after=2)
    with client, client.stream("POST", "/v1/responses", json={"model": "smollm2-135m", "input": "x",
                                                              "stream": True}) as stream:
        events = [json.loads(line[6:]) for line in stream.iter_lines() if line.startswith("data: ")]
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["status"] == "failed"
    assert "mid-stream" in events[-1]["response"]["error"]["message"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


def test_a_failure_mid_stream_in_chat_is_reported_in_band(settings):
    client, _ = app_client(settings, fail_after=2)
    with client, client.stream("POST", "/v1/chat/completions", json={
            "model": "smollm2-135m", "stream": True, "messages": [{"role": "user", "content": "x"}]}) as stream:
        lines = [line for line in stream.iter_lines() if line.startswith("data: ")]
    assert json.loads(lines[-1][6:])["error"]["code"] == "engine_error"
