"""The knowledge-base HTTP API and the chat-completions `knowledge` option, on the ASGI app with fake models."""

from __future__ import annotations

import json

import pytest

from test_http_api import assert_openai_error, make_client

DOCS = {"documents": [
    {"id": "solar", "title": "Solar", "text": "Solar panels turn sunlight into electricity.", "metadata": {"tags": ["energy"]}},
    {"id": "bread", "title": "Bread", "text": "Knead the dough and bake the bread.", "metadata": {"tags": ["food"]}},
]}


@pytest.fixture
def client(settings):
    with make_client(settings) as c:
        assert c.post("/api/kb", json={"name": "notes", "description": "test notes"}).status_code == 201
        yield c


def test_bases_create_list_show_delete(client):
    assert_openai_error(client.post("/api/kb", json={"name": "notes"}), 409, "name", "already exists")
    assert_openai_error(client.post("/api/kb", json={"name": "bad name!"}), 400, "name")
    assert_openai_error(client.post("/api/kb", json={"name": "x", "chunk_tokens": 4}), 400, "chunk_tokens")
    assert [b["name"] for b in client.get("/api/kb").json()["data"]] == ["notes"]
    shown = client.get("/api/kb/notes").json()
    assert shown["embedding_model"] == "minilm-l6" and shown["documents"] == 0
    assert client.delete("/api/kb/notes").json() == {"name": "notes", "deleted": True}
    assert_openai_error(client.get("/api/kb/notes"), 404, "name")


def test_json_documents_search_and_delete(client):
    report = client.post("/api/kb/notes/documents", json=DOCS).json()
    assert (report["added"], report["chunks"], report["embedded"]) == (2, 2, 2)
    assert client.post("/api/kb/notes/documents", json=DOCS).json()["unchanged"] == 2
    found = client.post("/api/kb/notes/search", json={"query": "solar electricity", "k": 1}).json()
    assert found["mode"] == "hybrid" and found["fallback"] is None
    top = found["results"][0]
    assert top["doc_id"] == "solar" and set(top["scores"]) == {"lexical", "semantic"}
    filtered = client.post("/api/kb/notes/search", json={"query": "bake electricity", "filters": {"tags": "food"}})
    assert [r["doc_id"] for r in filtered.json()["results"]] == ["bread"]
    assert [d["doc_id"] for d in client.get("/api/kb/notes/documents").json()["data"]] == ["bread", "solar"]
    assert client.delete("/api/kb/notes/documents/bread").json()["deleted"] is True
    assert_openai_error(client.delete("/api/kb/notes/documents/bread"), 404, "doc_id")


def test_file_upload_multipart(client, tmp_path):
    files = [("files", ("guide.md", b"---\ntitle: Guide\ntags: [howto]\n---\nHeat pumps move heat.", "text/markdown")),
             ("files", ("page.html", b"<title>Page</title><p>Batteries store charge.</p>", "text/html")),
             ("files", ("weird.docx", b"zz", "application/octet-stream"))]
    report = client.post("/api/kb/notes/documents", files=files).json()
    assert report["added"] == 2
    assert report["failed"][0]["source"] == "weird.docx" and "unsupported" in report["failed"][0]["error"]
    docs = {d["doc_id"]: d for d in client.get("/api/kb/notes/documents").json()["data"]}
    assert docs["guide.md"]["title"] == "Guide" and docs["guide.md"]["metadata"] == {"tags": ["howto"]}
    hit = client.post("/api/kb/notes/search", json={"query": "batteries", "mode": "lexical"}).json()["results"][0]
    assert hit["doc_id"] == "page.html"


def test_bad_requests_are_openai_errors(client):
    assert_openai_error(client.post("/api/kb/notes/search", json={"query": "x", "mode": "fuzzy"}), 400, "mode")
    assert_openai_error(client.post("/api/kb/notes/search", json={"query": "x", "filters": {"a": {"$re": 1}}}),
                        400, "filters", "unknown operator")
    assert_openai_error(client.post("/api/kb/missing/search", json={"query": "x"}), 404, "name")
    assert_openai_error(client.post("/api/kb/notes/documents", json={"documents": [{"text": "no id"}]}), 400,
                        "documents.0.id")
    assert_openai_error(client.post("/api/kb/notes/documents", content=b"not json",
                                    headers={"content-type": "application/json"}), 400)
    assert_openai_error(client.post("/api/kb/notes/documents", files=[("other", ("a.md", b"x"))]), 400, "files")


def test_ask_streams_ndjson_and_answers_json(settings):
    from conftest import FakeFactory

    with make_client(settings, FakeFactory(reply="Sunlight becomes electricity [1].")) as client:
        client.post("/api/kb", json={"name": "notes"})
        client.post("/api/kb/notes/documents", json=DOCS)
        with client.stream("POST", "/api/kb/notes/ask", json={"question": "What do solar panels do?"}) as resp:
            assert resp.headers["content-type"].startswith("application/x-ndjson")
            events = [json.loads(line) for line in resp.iter_lines() if line]
        assert events[0]["type"] == "sources" and events[0]["sources"][0]["doc_id"] == "solar"
        assert {e["type"] for e in events[1:-1]} == {"delta"}
        assert events[-1]["citations"][0]["doc_id"] == "solar"
        answer = client.post("/api/kb/notes/ask", json={"question": "solar?", "stream": False}).json()
        assert answer["answer"] == "Sunlight becomes electricity [1]." and answer["citations"][0]["n"] == 1
        assert_openai_error(client.post("/api/kb/notes/ask", json={"question": ""}), 400, "question")


def test_chat_completions_knowledge_option(settings):
    from conftest import FakeFactory

    factory = FakeFactory(reply="Solar panels make electricity from sunlight [1].")
    with make_client(settings, factory) as client:
        client.post("/api/kb", json={"name": "notes"})
        client.post("/api/kb/notes/documents", json=DOCS)
        body = {"model": "smollm2-135m", "messages": [{"role": "user", "content": "what do solar panels do"}],
                "knowledge": {"base": "notes", "k": 2}}
        resp = client.post("/v1/chat/completions", json=body).json()
        knowledge = resp["knowledge"]
        assert knowledge["sources"][0]["doc_id"] == "solar" and knowledge["citations"][0]["n"] == 1
        sent = factory.engines["smollm2-135m"].requests[-1]["messages"]
        assert sent[0]["role"] == "system" and "[1] Solar" in sent[0]["content"]
        with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as stream:
            chunks = [json.loads(line[6:]) for line in stream.iter_lines() if line.startswith("data: {")]
        assert chunks[0]["knowledge"]["sources"][0]["doc_id"] == "solar"
        assert [c for c in chunks if c.get("knowledge", {}).get("citations")][0]["knowledge"]["citations"][0]["n"] == 1
        missing = {**body, "knowledge": {"base": "nope"}}
        assert_openai_error(client.post("/v1/chat/completions", json=missing), 404, "name")
