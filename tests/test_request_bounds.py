"""Inputs past a model's limits get a clear 400, never a silent cut or a slow failure: embeddings longer
than the model takes (unless `truncate`), max_tokens above the context, tool and response schemas nested
100 deep or impossible to satisfy."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cupola.engines.fake import FakeEmbeddingEngine, FakeFactory, fake_store
from cupola.engines.llamacpp import _raise_for_error
from cupola.errors import InvalidParameter
from cupola.runtime.runtime import Runtime
from cupola.server import schema_checks
from cupola.server.app import create_app

MESSAGES = [{"role": "user", "content": "hi"}]


class ShortEmbeddings(FakeFactory):
    def __call__(self, info):
        engine = FakeEmbeddingEngine(max_tokens=8) if info.entry.kind == "embedding" else super().__call__(info)
        self.engines[info.entry.alias] = engine
        return engine


@pytest.fixture
def client(settings):
    settings = settings.model_copy(update={"ctx_per_slot": 1024})
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=ShortEmbeddings())
    with TestClient(create_app(settings, runtime)) as c:
        yield c


def error_of(response, status, param=None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    if param is not None:
        assert error["param"] == param
    return error


def deep_schema(levels: int) -> dict:
    schema: dict = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}, "required": ["a"]}
    return schema


def test_embedding_input_over_the_limit_is_a_400_unless_truncate(client):
    long = "one two three four five six seven eight nine ten"
    error = error_of(client.post("/v1/embeddings", json={"model": "minilm-l6", "input": ["short", long]}), 400,
                     "input")
    assert error["code"] == "context_length_exceeded"
    assert "input 1 is 10 tokens" in error["message"] and "at most 8" in error["message"]
    assert '"truncate": true' in error["message"]
    cut = client.post("/v1/embeddings", json={"model": "minilm-l6", "input": long, "truncate": True})
    assert cut.status_code == 200 and cut.json()["usage"]["prompt_tokens"] == 8
    error_of(client.post("/v1/embeddings", json={"model": "minilm-l6", "input": "x", "truncate": "maybe"}), 400,
             "truncate")
    statuses = [r["status"] for r in client.get("/api/requests").json()["requests"] if r["endpoint"] == "embeddings"]
    assert statuses == ["ok", "error"]


def test_knowledge_bases_still_embed_long_chunks(client):
    # capabilities use the ModelClient interface, which cuts at the model's limit (the chunker sizes chunks)
    client.post("/api/kb", json={"name": "kb"})
    report = client.post("/api/kb/kb/documents", json={"documents": [{"id": "d", "text": "alpha beta " * 30}]})
    assert report.status_code == 200 and report.json()["embedded"] >= 1


def test_max_tokens_above_the_context_is_a_400(client):
    error = error_of(client.post("/v1/chat/completions", json={"model": "smollm2-135m", "messages": MESSAGES,
                                                               "max_tokens": 10**9}), 400, "max_tokens")
    assert "1,000,000,000" in error["message"] and "context of 1,024 tokens" in error["message"]
    assert error["code"] == "context_length_exceeded"
    error_of(client.post("/v1/chat/completions", json={"model": "smollm2-135m", "messages": MESSAGES,
                                                       "max_completion_tokens": 1025}), 400, "max_tokens")
    error_of(client.post("/v1/completions", json={"model": "smollm2-135m", "prompt": "x", "max_tokens": 5000}),
             400, "max_tokens")
    error_of(client.post("/v1/responses", json={"model": "smollm2-135m", "input": "x",
                                                "max_output_tokens": 5000}), 400, "max_tokens")
    ok = client.post("/v1/chat/completions", json={"model": "smollm2-135m", "messages": MESSAGES, "max_tokens": 1024})
    assert ok.status_code == 200
    with client.stream("POST", "/v1/chat/completions", json={"model": "smollm2-135m", "messages": MESSAGES,
                                                             "max_tokens": 10**9, "stream": True}) as streamed:
        assert streamed.status_code == 400  # before the stream starts


def test_schemas_nested_100_deep_are_refused_at_once(client):
    tool = {"type": "function", "function": {"name": "f", "parameters": deep_schema(100)}}
    error_of(client.post("/v1/chat/completions", json={"model": "smollm2-135m", "messages": MESSAGES,
                                                       "tools": [tool]}), 400, "tools")
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": deep_schema(100)}}
    error = error_of(client.post("/v1/chat/completions", json={"model": "smollm2-135m", "messages": MESSAGES,
                                                               "response_format": fmt}), 400)
    assert "nests deeper than 64 levels" in error["message"]
    error_of(client.post("/v1/responses", json={"model": "smollm2-135m", "input": "x", "tools": [
        {"type": "function", "name": "f", "parameters": deep_schema(100)}]}), 400, "tools")
    error_of(client.post("/v1/responses", json={"model": "smollm2-135m", "input": "x", "text": {
        "format": {"type": "json_schema", "name": "x", "schema": deep_schema(100)}}}), 400, "text")
    # a reasonable depth is fine
    tool = {"type": "function", "function": {"name": "f", "parameters": deep_schema(15)}}
    ok = client.post("/v1/chat/completions", json={"model": "smollm2-135m", "messages": MESSAGES, "tools": [tool]})
    assert ok.status_code == 200


@pytest.mark.parametrize("schema, why", [
    ({"type": "integer", "minimum": 5, "maximum": 1}, "minimum (5) is above maximum (1)"),
    ({"type": "number", "exclusiveMinimum": 3, "exclusiveMaximum": 3}, "exclusiveMinimum (3)"),
    ({"type": "string", "enum": []}, "enum is empty"),
    ({"not": {}}, "excludes every value"),
    ({"allOf": [{"type": "string"}, {"type": "integer"}]}, "no value has at once"),
    ({"type": "object", "properties": {"a": {"type": "string", "minLength": 3, "maxLength": 2}}, "required": ["a"]},
     "#/properties/a: minLength"),
    ({"type": "object", "properties": {"a": False}, "required": ["a"]}, "required but its schema is false"),
    ({"anyOf": [{"enum": []}, False]}, "every branch"),
    ({"type": "array", "minItems": 1, "items": {"enum": []}}, "#/items: enum is empty"),
])
def test_schemas_that_match_nothing_are_refused(client, schema, why):
    assert why in schema_checks.unsatisfiable(schema)
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    error = error_of(client.post("/v1/chat/completions", json={"model": "smollm2-135m", "messages": MESSAGES,
                                                               "response_format": fmt}), 400)
    assert "can match nothing" in error["message"]
    tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
    error_of(client.post("/v1/chat/completions", json={"model": "smollm2-135m", "messages": MESSAGES,
                                                       "tools": [tool]}), 400, "tools")


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"a": {"enum": []}}},  # optional: it can be left out
    {"anyOf": [{"enum": []}, {"type": "string"}]},
    {"type": "array", "items": False},  # the empty array
    {"type": "integer", "minimum": 1, "maximum": 1},
    {"allOf": [{"type": ["string", "null"]}, {"type": "null"}]},
])
def test_schemas_that_can_match_are_accepted(schema):
    assert schema_checks.unsatisfiable(schema) is None


def test_a_grammar_dead_end_in_the_engine_is_a_400():
    error = {"error": {"code": 500, "type": "server_error",
                       "message": "got exception: Unexpected empty grammar stack after accepting piece: . (30)"}}
    with pytest.raises(InvalidParameter) as raised:
        _raise_for_error(error, "m", {"response_format": {"type": "json_schema"}})
    assert raised.value.param == "response_format" and "cannot be satisfied" in raised.value.message


@pytest.mark.real
def test_real_models_refuse_what_they_cannot_do(live_server, openai_client):
    import openai

    with pytest.raises(openai.BadRequestError) as too_many:
        openai_client.chat.completions.create(model="smollm2-135m", messages=MESSAGES, max_tokens=10**9)
    assert too_many.value.body["param"] == "max_tokens"
    text = "The quick brown fox jumps over the lazy dog. " * 460  # about 4,600 tokens
    with pytest.raises(openai.BadRequestError) as too_long:
        openai_client.embeddings.create(model="minilm-l6", input=text)
    assert too_long.value.body["code"] == "context_length_exceeded"
    assert "at most 256 tokens" in too_long.value.body["message"] and "input 0 is 4," in too_long.value.body["message"]
    cut = openai_client.embeddings.create(model="minilm-l6", input=text, extra_body={"truncate": True})
    assert cut.usage.prompt_tokens == 256 and len(cut.data[0].embedding) == 384
    fine = openai_client.embeddings.create(model="minilm-l6", input="a short text")
    assert fine.usage.prompt_tokens < 256
    with pytest.raises(openai.BadRequestError):
        openai_client.chat.completions.create(model="smollm2-135m", messages=MESSAGES, response_format={
            "type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "integer", "minimum": 5,
                                                                            "maximum": 1}}})
