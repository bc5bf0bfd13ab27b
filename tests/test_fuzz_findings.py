"""Regressions for what bench/fuzz_api.py found (fake engines): each a 5xx, a body the document called valid
but the server refused, or the reverse. The document must state what the validators check."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cupola.server.testing import fake_app


@pytest.fixture
def client(settings):
    with TestClient(fake_app(settings)) as c:
        yield c


@pytest.fixture
def doc(client):
    return client.get("/openapi.json").json()


def body_schema(doc: dict, method: str, path: str, media: str = "application/json") -> dict:
    schema = doc["paths"][path][method]["requestBody"]["content"][media]["schema"]
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def openai_error(response, status: int, param: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    if param is not None:
        assert error["param"] == param, error
    return error


def test_a_conversation_item_whose_type_is_not_a_string_is_a_400_not_a_500(client):
    # found: {"items": [{"type": {}}]} answered 500 "unhashable type: 'dict'"
    openai_error(client.post("/v1/conversations", json={"items": [{"type": {}}]}), 400, "items.0.type")
    conv = client.post("/v1/conversations", json={}).json()
    openai_error(client.post(f"/v1/conversations/{conv['id']}/items", json={"items": [{"type": ["x"]}]}), 400,
                 "items.0.type")
    assert client.get(f"/v1/conversations/{conv['id']}/items").json()["data"] == []  # nothing half-added


def test_conversation_items_and_metadata_are_documented_as_the_store_checks_them(client, doc):
    create = body_schema(doc, "post", "/v1/conversations")["properties"]
    items = next(b for b in create["items"]["anyOf"] if b.get("type") == "array")
    assert items["maxItems"] == 20
    message = items["items"]["anyOf"][0]
    assert message["required"] == ["role", "content"]  # found: [{}] was schema-valid, refused "unknown role"
    assert message["properties"]["role"]["enum"] == ["user", "assistant", "system", "developer"]
    metadata = next(b for b in create["metadata"]["anyOf"] if b.get("type") == "object")
    assert metadata["additionalProperties"] == {"type": "string", "maxLength": 512} and metadata["maxProperties"] == 16
    add = body_schema(doc, "post", "/v1/conversations/{conversation_id}/items")["properties"]["items"]
    assert add["minItems"] == 1
    # and the server agrees with the document on both sides
    assert client.post("/v1/conversations", json={"items": [{}]}).status_code == 400
    ok = client.post("/v1/conversations", json={"items": [{"role": "user", "content": [
        {"type": "input_text", "text": "hi"}]}], "metadata": {"title": "t"}})
    assert ok.status_code == 200, ok.text
    openai_error(client.post(f"/v1/conversations/{ok.json()['id']}", json={"metadata": {"a": {"b": 1}}}), 400)


@pytest.mark.parametrize("path,limit", [("/v1/conversations", 100), ("/api/workflows/runs", 1000)])
def test_list_limits_are_declared_and_enforced(client, doc, path, limit):
    # found: limit=-1651 was schema-valid (a bare integer), refused "limit must be between 1 and ..."
    param = next(p for p in doc["paths"][path]["get"]["parameters"] if p["name"] == "limit")
    assert param["schema"]["minimum"] == 1 and param["schema"]["maximum"] == limit
    openai_error(client.get(path, params={"limit": -1651}), 400)
    openai_error(client.get(path, params={"limit": limit + 1}), 400)


def test_audio_form_fields_are_never_null_and_language_lists_what_whisper_knows(doc):
    # found: language "null" (schemathesis' rendering of a nullable form field) refused as an unknown language
    props = body_schema(doc, "post", "/v1/audio/transcriptions", "multipart/form-data")["properties"]
    for name, prop in props.items():
        assert "null" not in str(prop.get("anyOf", "")), name
    assert {"", "en", "de", "german", "cantonese"} <= set(props["language"]["enum"])
    assert props["timestamp_granularities[]"]["items"] == {"enum": ["segment", "word"]}


def test_eval_bodies_are_documented_and_take_json_types_strictly(client, doc):
    schema = body_schema(doc, "post", "/api/evals")
    assert len(schema["anyOf"]) == 2  # {"path": FILE} or the eval itself
    assert "application/x-ndjson" in doc["paths"]["/api/evals"]["post"]["responses"]["200"]["content"]
    judge = doc["components"]["schemas"]["EvalJudgeSpec"]
    assert {"type": "string", "description": "A model alias"} in judge["anyOf"]
    ev = {"targets": [{"model": "smollm2-135m", "prompt": "Capital of {country}?"}],
          "tests": [{"vars": {"country": "France"}, "assert": [{"type": "icontains", "value": "paris"}]}],
          "stream": False}
    assert client.post("/api/evals", json=ev).status_code == 200
    assert client.post("/api/evals", json={**ev, "judge": "smollm2-135m"}).status_code == 200
    # found: "stream": 0, "min_pass_rate": false and a null body were accepted or refused against the document
    openai_error(client.post("/api/evals", json={**ev, "stream": 0}), 400)
    openai_error(client.post("/api/evals", json={**ev, "min_pass_rate": False}), 400)
    openai_error(client.post("/api/evals", json={**ev, "repeat": "2"}), 400)
    assert client.post("/api/evals", json={**ev, "repeat": 1.0}).status_code == 200  # integral: an integer
    openai_error(client.post("/api/evals", json={"path": ""}), 400)


def test_links_chain_the_new_resources(doc):
    def links(method: str, path: str) -> set[str]:
        return set(doc["paths"][path][method]["responses"]["200"].get("links", {}))

    assert {"GetConversation", "AddItems", "DeleteConversation"} <= links("post", "/v1/conversations")
    assert {"GetItem", "DeleteItem"} <= links("post", "/v1/conversations/{conversation_id}/items")
    assert "GetRequest" in links("get", "/api/requests") and "GetTrace" in links("get", "/api/traces")
    assert {"GetEvalRun", "EvalReport"} <= links("get", "/api/evals")
    assert {"GetRun", "ResumeRun"} <= links("get", "/api/workflows/runs")
