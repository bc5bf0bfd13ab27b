"""Server-run tools in the Responses API on a scripted fake model: mcp_call items and events,
approvals with previous_response_id (also after a restart), hosted agents' approvals, errors —
through the ASGI app and the official openai client."""

from __future__ import annotations

import json

import openai
import pytest
from fastapi.testclient import TestClient

from cupola.client import FunctionClient
from cupola.responses.convert import items_to_messages, normalize_input
from cupola.runtime.runtime import Runtime
from cupola.server.app import create_app

from conftest import FakeFactory, fake_store
from test_http_api import assert_openai_error

CALC = {"type": "mcp", "server_label": "cupola", "allowed_tools": ["calculator"], "require_approval": "never"}


def calculator_model(messages, params):
    """Calls the calculator once, then states its result."""
    if messages[-1]["role"] == "tool":
        return f"The result is {messages[-1]['content']}."
    return [("calculator", {"expression": "12 * 7"})]


def writer_model(messages, params):
    if messages[-1]["role"] == "tool":
        return f"Done: {messages[-1]['content']}"
    return [("write_file", {"path": "notes.txt", "content": "hello"})]


def make(settings, fn=calculator_model):
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=FakeFactory())
    app = create_app(settings, runtime)
    model = FunctionClient(fn)
    app.state.hosted.runner.client = model
    client = TestClient(app)
    client.model = model
    return client


@pytest.fixture
def client(settings):
    with make(settings) as c:
        yield c


def sdk(client):
    return openai.OpenAI(base_url="http://testserver/v1", api_key="x", http_client=client, max_retries=0)


def test_builtin_tool_calls_are_mcp_call_items(client):
    resp = sdk(client).responses.create(model="smollm2-135m", input="What is 12 * 7?", tools=[CALC],
                                        instructions="Use the calculator.")
    call, message = resp.output
    assert call.type == "mcp_call" and call.server_label == "cupola" and call.name == "calculator"
    assert json.loads(call.arguments) == {"expression": "12 * 7"} and call.output == "84" and call.error is None
    assert message.type == "message" and resp.output_text == "The result is 84."
    first_turn = client.model.calls[0][0]
    assert first_turn[0] == {"role": "system", "content": "Use the calculator."}
    assert client.model.calls[0][1]["tools"][0]["function"]["name"] == "calculator"
    stored = client.get(f"/v1/responses/{resp.id}").json()
    assert [i["type"] for i in stored["output"]] == ["mcp_call", "message"]


def test_streamed_mcp_call_events(client):
    events = list(sdk(client).responses.create(model="smollm2-135m", input="What is 12 * 7?", tools=[CALC],
                                               stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert kinds.count("response.in_progress") == 2  # each model turn starts with one: call, then answer
    call_events = [k for k in kinds if "mcp_call" in k or k.startswith("response.output_item")]
    assert call_events[:6] == ["response.output_item.added", "response.mcp_call_arguments.delta",
                               "response.mcp_call_arguments.done", "response.mcp_call.in_progress",
                               "response.mcp_call.completed", "response.output_item.done"]
    done = [e for e in events if e.type == "response.output_item.done"]
    assert done[0].item.type == "mcp_call" and done[0].item.output == "84"
    assert done[1].item.type == "message" and done[1].output_index == 1
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "The result is 84."


def test_a_failing_tool_call_is_reported_as_failed(settings):
    with make(settings, lambda m, p: "Sorry." if m[-1]["role"] == "tool" else [("calculator", {"expression": "1/0"})]) as c:
        resp = c.post("/v1/responses", json={"model": "smollm2-135m", "input": "1/0?", "tools": [CALC]}).json()
    call = resp["output"][0]
    assert call["status"] == "failed" and call["output"] is None and "division" in call["error"].lower()


def test_approval_request_then_approve_after_a_restart(settings):
    tools = [{**CALC, "require_approval": "always"}]
    with make(settings) as c:
        first = sdk(c).responses.create(model="smollm2-135m", input="What is 12 * 7?", tools=tools)
    request = first.output[-1]
    assert request.type == "mcp_approval_request" and request.name == "calculator"
    assert json.loads(request.arguments) == {"expression": "12 * 7"} and first.status == "completed"
    with make(settings) as c:  # a new process: the paused run is in the agents database
        events = list(sdk(c).responses.create(
            model="smollm2-135m", tools=tools, previous_response_id=first.id, stream=True,
            input=[{"type": "mcp_approval_response", "approval_request_id": request.id, "approve": True}]))
        final = events[-1].response
        assert [i.type for i in final.output] == ["mcp_call", "message"]
        assert final.output[0].output == "84" and final.output_text == "The result is 84."
        assert_openai_error(c.post("/v1/responses", json={
            "model": "smollm2-135m", "tools": tools, "previous_response_id": first.id,
            "input": [{"type": "mcp_approval_response", "approval_request_id": request.id, "approve": True}]}),
            400, "input", "already decided")


def test_a_rejected_call_tells_the_model(client):
    tools = [{**CALC, "require_approval": {"always": {"tool_names": ["calculator"]}}}]
    first = client.post("/v1/responses", json={"model": "smollm2-135m", "input": "12*7?", "tools": tools}).json()
    request = first["output"][-1]
    final = client.post("/v1/responses", json={
        "model": "smollm2-135m", "tools": tools, "previous_response_id": first["id"],
        "input": [{"type": "mcp_approval_response", "approval_request_id": request["id"], "approve": False}]}).json()
    call = final["output"][0]
    assert call["type"] == "mcp_call" and call["status"] == "failed" and call["error"] == "denied by the user"
    assert json.loads(call["arguments"]) == {"expression": "12 * 7"}
    assert "did not approve" in client.model.calls[-1][0][-1]["content"]


def test_hosted_agent_approval_writes_the_file(settings, tmp_path):
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "scribe.yaml").write_text("name: scribe\ninstructions: Write notes.\ntools: [write_file]\n"
                                        "workspace: ./ws\napprove_writes: true\n")
    settings = settings.model_copy(update={"agents_dir": agents})
    with make(settings, writer_model) as c:
        oa = sdk(c)
        first = oa.responses.create(input="Save hello", extra_body={"agent": "scribe"})
        request = first.output[-1]
        assert request.type == "mcp_approval_request" and request.name == "write_file"
        assert not (agents / "ws" / "notes.txt").exists()
        # no tools and no agent named: the paused run says which agent continues
        final = oa.responses.create(previous_response_id=first.id, input=[
            {"type": "mcp_approval_response", "approval_request_id": request.id, "approve": True}])
    assert (agents / "ws" / "notes.txt").read_text() == "hello"
    assert final.output[0].type == "mcp_call" and final.output_text.startswith("Done:")


@pytest.mark.parametrize("tools, param, message", [
    ([{"type": "mcp", "server_label": "cupola", "allowed_tools": ["run_command"]}], "tools.0.allowed_tools", "unknown"),
    ([{"type": "mcp", "server_label": "cupola", "allowed_tools": ["search_knowledge"]}], "tools.0.knowledge", "base"),
    ([{"type": "mcp", "server_label": "cupola", "allowed_tools": ["search_knowledge"],
       "knowledge": {"base": "b", "k": 99}}], "tools.0.knowledge.k", "1 to 20"),
    ([CALC, {"type": "function", "name": "f"}], "tools", "mixed"),
    ([{**CALC, "server_url": "http://x"}], "tools.0.server_url", "remote"),
    ([{**CALC, "require_approval": "sometimes"}], "tools.require_approval", "require_approval"),
])
def test_bad_tool_requests(client, tools, param, message):
    assert_openai_error(client.post("/v1/responses", json={"model": "smollm2-135m", "input": "x", "tools": tools}),
                        400, param, message)


def test_bad_approvals(client):
    tools = [{**CALC, "require_approval": "always"}]
    first = client.post("/v1/responses", json={"model": "smollm2-135m", "input": "x", "tools": tools}).json()
    approval = {"type": "mcp_approval_response", "approval_request_id": first["output"][-1]["id"], "approve": True}
    body = {"model": "smollm2-135m", "tools": tools}
    assert_openai_error(client.post("/v1/responses", json={**body, "input": [approval]}), 400, "previous_response_id")
    assert_openai_error(client.post("/v1/responses", json={**body, "previous_response_id": first["id"],
                                                           "input": [approval, {"role": "user", "content": "hi"}]}),
                        400, "input.1")
    assert_openai_error(client.post("/v1/responses", json={**body, "previous_response_id": first["id"], "input": [
        {**approval, "approval_request_id": "mcpr_nope"}]}), 400)
    assert_openai_error(client.post("/v1/responses", json={"model": "smollm2-135m", "previous_response_id": first["id"],
                                                           "input": [approval]}), 400, "tools", "same tools")


def test_errors_before_the_model_answers_are_http_statuses(settings):
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=FakeFactory())
    with TestClient(create_app(settings, runtime)) as c:  # the runtime's own model path, fake engines
        for stream in (False, True):
            assert_openai_error(c.post("/v1/responses", json={"model": "no-such-model", "input": "x", "tools": [CALC],
                                                              "stream": stream}), 404, "model")


def test_mcp_call_items_replay_as_tool_messages():
    items = normalize_input([
        {"role": "user", "content": "12*7?"},
        {"type": "mcp_call", "id": "mcp_1", "server_label": "cupola", "name": "calculator", "arguments": "{}",
         "output": "84"},
        {"type": "mcp_call", "id": "mcp_2", "server_label": "cupola", "name": "calculator", "arguments": "{}",
         "output": None, "error": "boom"},
        {"type": "mcp_approval_request", "id": "mcpr_x", "server_label": "cupola", "name": "c", "arguments": "{}"},
        {"role": "assistant", "content": "84"}])
    messages = items_to_messages(items)
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool", "assistant"]
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["mcp_1", "mcp_2"]
    assert messages[3] == {"role": "tool", "tool_call_id": "mcp_2", "content": "Error: boom"}
    assert all("_mcp" not in m for m in messages)
