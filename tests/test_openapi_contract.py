"""The OpenAPI contract: every route declares the statuses it can return with the OpenAI error body's
schema; a short schemathesis run against a live server (fake engines) finds no undeclared status, no 5xx,
no body outside the schema and no 4xx without the OpenAI error body (bench/fuzz_api.py is the long run)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cupola.server import contract
from cupola.server.testing import fake_app

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app(settings):
    return fake_app(settings)


def test_every_route_declares_its_statuses_with_the_error_body(app):
    doc = app.openapi()
    assert "ErrorResponse" in doc["components"]["schemas"] and "HTTPValidationError" not in doc["components"]["schemas"]
    routes = [(m.upper(), path) for path, ops in doc["paths"].items() for m in ops]
    assert len(routes) >= 30
    for method, path in routes:
        responses = doc["paths"][path][method.lower()]["responses"]
        assert "422" not in responses, (method, path)
        for status in contract.statuses_of(method, path):
            declared = responses[str(status)]
            if (method, path, status) == ("GET", "/health", 503):
                continue
            assert declared["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}
        assert {"400", "401", "403", "413", "500"} <= set(responses)
    chat = doc["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert {"404", "429", "502", "503", "504"} <= set(chat) and "Retry-After" in chat["429"]["headers"]
    assert "text/event-stream" in chat["200"]["content"]
    assert set(doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
    links = doc["paths"]["/api/kb"]["post"]["responses"]["201"]["links"]
    assert {"AddDocuments", "Search", "DeleteBase"} <= set(links)
    # the table names only routes that exist
    assert set(contract.STATUSES) <= set(routes) | {("GET", "/health"), ("GET", "/metrics")}


def test_a_405_lists_every_method_of_the_path(app):
    with TestClient(app) as client:
        response = client.put("/api/kb/notes")
        assert response.status_code == 405
        assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "DELETE"}
        assert response.json()["error"]["code"] == "405"


def test_metadata_filters_found_by_fuzzing(app):
    with TestClient(app) as client:
        client.post("/api/kb", json={"name": "kb"})
        client.post("/api/kb/kb/documents", json={"documents": [{"id": "d", "text": "alpha", "metadata": {"t": 1}}]})
        empty_ops = client.post("/api/kb/kb/search", json={"query": "alpha", "filters": {"t": {}}})
        assert empty_ops.status_code == 200 and len(empty_ops.json()["results"]) == 1  # was a 500 (invalid SQL)
        bad = client.post("/api/kb/kb/search", json={"query": "alpha", "filters": {"t": {"$exists": "yes"}}})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "filters"
        assert client.post("/api/kb", json={"name": "x", "chunk_tokens": 64.0}).status_code == 201  # integral
        assert client.post("/api/kb", json={"name": "y", "chunk_tokens": True}).status_code == 400


def test_short_fuzz_run_against_a_live_server(tmp_path):
    pytest.importorskip("schemathesis")
    sys.path.insert(0, str(ROOT / "bench"))
    from fuzz_api import fake_run

    result = fake_run(examples=6, seed=7, workdir=tmp_path)
    assert result["requests"] >= 200, result
    assert result["operations"] >= 30
    assert result["failures"] == [], result["output"].read_text()[-4000:]
    assert not any(code >= 500 for code in result["statuses"]), result["statuses"]
    assert result["alive"] and result["health"] == 200 and result["tracebacks"] == 0
