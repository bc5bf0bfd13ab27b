"""The HTTP edge on the ASGI app with fake engines: shapes, streaming and every error mapping."""

import base64
import json
import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from cupola.runtime.runtime import Runtime
from cupola.server.app import create_app

from conftest import FakeFactory, fake_store

CHAT = {"model": "smollm2-135m", "messages": [{"role": "user", "content": "hi"}]}


def make_client(settings, factory=None, **updates):
    settings = settings.model_copy(update=updates)
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=factory or FakeFactory())
    return TestClient(create_app(settings, runtime))


@pytest.fixture
def client(settings):
    with make_client(settings) as c:
        yield c


def assert_openai_error(resp, status, param=None, contains=None):
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    if param is not None:
        assert err["param"] == param
    if contains is not None:
        assert contains in err["message"]
    return err


def test_chat_completion_shape(client):
    data = client.post("/v1/chat/completions", json=CHAT).json()
    assert data["object"] == "chat.completion" and data["model"] == "smollm2-135m"
    assert data["choices"][0]["message"]["content"] == "Hello from the fake model."
    assert data["usage"]["completion_tokens"] == 5


def test_chat_stream_is_sse_ending_in_done(client):
    with client.stream("POST", "/v1/chat/completions",
                       json={**CHAT, "stream": True, "stream_options": {"include_usage": True}}) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in resp.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) \
        == "Hello from the fake model."
    assert chunks[-1]["usage"]["total_tokens"] > 0


def test_developer_role_and_text_parts_are_accepted(client, settings):
    body = {"model": "smollm2-135m", "messages": [
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}]}]}
    assert client.post("/v1/chat/completions", json=body).status_code == 200


def test_completions_and_max_completion_tokens(client):
    data = client.post("/v1/completions", json={"model": "smollm2-135m", "prompt": "Once", "max_tokens": 2}).json()
    assert data["choices"][0]["text"] == "Hello from" and data["choices"][0]["finish_reason"] == "length"
    data = client.post("/v1/chat/completions", json={**CHAT, "max_completion_tokens": 1}).json()
    assert data["choices"][0]["message"]["content"] == "Hello"


def test_embeddings_float_and_base64(client):
    data = client.post("/v1/embeddings", json={"model": "minilm-l6", "input": ["a b", "c"]}).json()
    assert [d["index"] for d in data["data"]] == [0, 1]
    floats = np.array(data["data"][0]["embedding"], dtype=np.float32)
    data = client.post("/v1/embeddings", json={"model": "minilm-l6", "input": "a b",
                                               "encoding_format": "base64"}).json()
    decoded = np.frombuffer(base64.b64decode(data["data"][0]["embedding"]), dtype="<f4")
    assert np.allclose(decoded, floats, atol=1e-6)
    assert data["usage"]["prompt_tokens"] == 2


def test_models_and_native_routes(client):
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert ids == ["smollm2-135m", "minilm-l6"]
    catalog = client.get("/api/models").json()["models"]
    assert {m["alias"] for m in catalog} >= {"smollm2-135m", "minilm-l6"}
    assert client.post("/api/models/smollm2-135m/load", json={"keep_alive": "-1"}).json()["status"] == "loaded"
    ps = client.get("/api/ps").json()["models"]
    assert ps[0]["model"] == "smollm2-135m" and ps[0]["expires_at"] is None
    assert client.post("/api/models/smollm2-135m/unload").json()["status"] == "unloaded"
    assert client.get("/api/ps").json()["models"] == []
    assert client.get("/health").json()["status"] == "ok"


def test_metrics_count_requests_and_tokens(client):
    client.post("/v1/chat/completions", json=CHAT)
    text = client.get("/metrics").text
    assert 'cupola_requests_total{endpoint="chat",model="smollm2-135m",status="ok"} 1.0' in text
    assert 'cupola_tokens_total{kind="completion",model="smollm2-135m"} 5.0' in text
    for name in ("cupola_time_to_first_token_seconds_bucket", "cupola_request_duration_seconds_bucket",
                 "cupola_queue_depth", "cupola_models_loaded 1.0"):
        assert name in text
    records = client.get("/api/requests").json()["requests"]
    assert records[0]["model"] == "smollm2-135m" and records[0]["status"] == "ok"


# -- errors ---------------------------------------------------------------------------------

def test_unknown_model_is_404_listing_available(client):
    err = assert_openai_error(client.post("/v1/chat/completions", json={**CHAT, "model": "gpt-9"}), 404,
                              param="model", contains="smollm2-135m")
    assert err["code"] == "model_not_found"
    assert_openai_error(client.post("/v1/chat/completions", json={**CHAT, "model": "gpt-9", "stream": True}), 404)


@pytest.mark.parametrize("patch, param", [
    ({"temperature": 3}, "temperature"),
    ({"top_p": "high"}, "top_p"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
    ({"messages": [{"role": "user"}]}, "messages.0"),
    ({"n": 2}, "n"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"response_format": {"type": "json_schema"}}, "response_format"),
    ({"model": None}, "model"),
])
def test_invalid_parameters_are_400_naming_the_parameter(client, patch, param):
    err = assert_openai_error(client.post("/v1/chat/completions", json={**CHAT, **patch}), 400, param=param)
    assert err["type"] == "invalid_request_error"


def test_missing_and_malformed_bodies(client):
    assert_openai_error(client.post("/v1/chat/completions", json={"messages": CHAT["messages"]}), 400,
                        param="model", contains="missing required parameter")
    err = assert_openai_error(client.post("/v1/chat/completions", content=b"{nope",
                                          headers={"content-type": "application/json"}), 400)
    assert "JSON" in err["message"]
    assert_openai_error(client.post("/v1/embeddings", json={"model": "minilm-l6", "input": []}), 400, param="input")
    assert_openai_error(client.post("/v1/embeddings", json={"model": "minilm-l6", "input": "x", "dimensions": 8}),
                        400, param="dimensions")
    assert_openai_error(client.post("/v1/embeddings", json={"model": "smollm2-135m", "input": "x"}), 400,
                        param="model")
    assert_openai_error(client.get("/v1/nothing"), 404)


def test_context_overflow_is_400_naming_both_counts(settings):
    with make_client(settings, FakeFactory(context=2)) as client:
        for stream in (False, True):
            err = assert_openai_error(client.post("/v1/chat/completions",
                                                  json={**CHAT, "stream": stream,
                                                        "messages": [{"role": "user", "content": "a b c"}]}), 400)
            assert err["code"] == "context_length_exceeded" and "3" in err["message"] and "2" in err["message"]


def test_api_key_is_required_when_set(settings):
    with make_client(settings, api_key="s3cret") as client:
        assert_openai_error(client.get("/v1/models"), 401)
        assert_openai_error(client.get("/v1/models", headers={"Authorization": "Bearer wrong"}), 401)
        assert client.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert client.get("/health").status_code == 200  # probes need no key


def test_health_is_503_while_preloading(settings):
    gate = threading.Event()

    class SlowFactory(FakeFactory):
        def __call__(self, info):
            gate.wait(5)
            return super().__call__(info)

    runtime = Runtime(settings, fake_store(settings.home), engine_factory=SlowFactory())
    with TestClient(create_app(settings, runtime, preload=["smollm2-135m"])) as client:
        resp = client.get("/health")
        assert resp.status_code == 503 and resp.json()["loading"] == ["smollm2-135m"]
        gate.set()
        for _ in range(100):
            if client.get("/health").status_code == 200:
                break
            time.sleep(0.02)
        assert client.get("/health").json() == {"status": "ok", "loading": [], "loaded": ["smollm2-135m"]}


def test_pull_streams_ndjson_progress(client, tmp_path):
    lines = [json.loads(x) for x in client.post("/api/models/pull", json={"model": "smollm2-135m"}).iter_lines() if x]
    assert lines[0]["status"] == "starting" and lines[-1]["status"] == "success"  # already there: no-op
    assert_openai_error(client.post("/api/models/pull", json={"model": "gpt-9"}), 404)


WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Get the current weather",
                                                 "parameters": {"type": "object",
                                                                "properties": {"city": {"type": "string"}}}}}


@pytest.mark.parametrize("message, routed", [("what is the weather in Paris", True),
                                             ("hello there, how are you", False)])
def test_auto_on_an_adapter_model_is_routed_by_relevance(settings, fake_factory, message, routed):
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=fake_factory)
    with TestClient(create_app(settings, runtime)) as client:
        resp = client.post("/v1/chat/completions", json={**CHAT, "tools": [WEATHER_TOOL],
                                                         "messages": [{"role": "user", "content": message}]})
        # the fake engine ignores grammars: a call promised by routing that does not come (twice) is an
        # engine error, never text
        assert resp.status_code == (500 if routed else 200)
        if routed:
            assert "did not produce a valid tool call" in resp.json()["error"]["message"]
    sent = fake_factory.engines["smollm2-135m"].requests[-1]
    assert ("grammar" in sent) is routed
    assert ("# Tools" in sent["messages"][0]["content"]) is routed


@pytest.mark.parametrize("arguments, valid", [('{"city": "Paris"}', True), ('{"city": 5}', False),
                                              ('{"town": "Paris", "city": "Paris"}', True), ('{"city": "Par', False)])
def test_a_forced_call_the_schema_refuses_is_generated_again_and_never_returned(settings, arguments, valid):
    """llama.cpp drops a grammar whose lexer runs out of fuel and goes on unconstrained: a forced call
    whose arguments the function's schema refuses is generated once more with the next seed, and never
    returned (the fake engine ignores grammars and answers the same both times)."""
    factory = FakeFactory(reply=f'<tool_call>{{"name": "get_weather", "arguments": {arguments}}}</tool_call>')
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=factory)
    with TestClient(create_app(settings, runtime)) as client:
        resp = client.post("/v1/chat/completions", json={**CHAT, "tools": [WEATHER_TOOL], "tool_choice": "required"})
    sent = factory.engines["smollm2-135m"].requests
    if valid:
        assert resp.status_code == 200 and len(sent) == 1
        assert json.loads(resp.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]) \
            == json.loads(arguments)
    else:
        assert resp.status_code == 500 and "did not produce a valid tool call" in resp.json()["error"]["message"]
        assert len(sent) == 2 and sent[1]["seed"] == (sent[0]["seed"] + 1) % (2**31 - 1)
        # the second grammar copies nothing from the message (its lexer cannot run out of fuel as the first's did)
        assert "substring_chunks" in sent[0]["grammar"] and "substring_chunks" not in sent[1]["grammar"]


@pytest.mark.parametrize("arguments, valid", [('{"city": "Paris"}', True), ('{"city": 5}', False),
                                              ('{"city": "Par', False)])
def test_a_streamed_forced_call_is_checked_before_it_is_sent(settings, arguments, valid):
    """The same on the streamed path: a forced call is held back until whole; refused, it is generated
    again (not streamed) and the stream carries only a valid call, or the request fails with a status
    before any chunk."""
    factory = FakeFactory(reply=f'<tool_call>{{"name": "get_weather", "arguments": {arguments}}}</tool_call>')
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=factory)
    with TestClient(create_app(settings, runtime)) as client:
        with client.stream("POST", "/v1/chat/completions", json={
                **CHAT, "tools": [WEATHER_TOOL], "tool_choice": "required", "stream": True}) as resp:
            status = resp.status_code
            lines = [line for line in resp.iter_lines() if line]
    sent = factory.engines["smollm2-135m"].requests
    if valid:
        assert status == 200 and lines[-1] == "data: [DONE]" and len(sent) == 1
        chunks = [json.loads(line[6:]) for line in lines[:-1]]
        deltas = [tc for c in chunks for ch in c["choices"] for tc in ch["delta"].get("tool_calls") or []]
        assert deltas[0]["function"]["name"] == "get_weather"
        assert json.loads("".join(d["function"].get("arguments") or "" for d in deltas)) == json.loads(arguments)
        assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    else:
        assert status == 500 and "did not produce a valid tool call" in json.loads(lines[0])["error"]["message"]
        assert len(sent) == 2 and sent[1]["seed"] == (sent[0]["seed"] + 1) % (2**31 - 1)
        assert "substring_chunks" in sent[0]["grammar"] and "substring_chunks" not in sent[1]["grammar"]


def test_auto_after_a_tool_result_answers(settings, fake_factory):
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=fake_factory)
    messages = [{"role": "user", "content": "what is the weather in Paris"},
                {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {
                    "name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"}]
    with TestClient(create_app(settings, runtime)) as client:
        assert client.post("/v1/chat/completions", json={**CHAT, "tools": [WEATHER_TOOL],
                                                         "messages": messages}).status_code == 200
    sent = fake_factory.engines["smollm2-135m"].requests[-1]
    assert "grammar" not in sent and [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
