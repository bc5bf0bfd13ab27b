"""Grounded answers on the real embedded models over the shipped documents (examples/docs): they
end (finish_reason stop, or the bounded default length), cite at least one source, and cite only
sources that were retrieved — through `cupola kb ask`, `/api/kb/{name}/ask`, chat completions with
`knowledge` (the official `openai` client against a live server) and the Responses API."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cupola.cli.main import app

pytestmark = pytest.mark.real
DOCS = Path(__file__).resolve().parent.parent / "examples" / "docs"
runner = CliRunner()


def assert_cites_retrieved(citations: list[dict], sources: list[dict]) -> None:
    retrieved = {(s["n"], s["doc_id"]) for s in sources}
    assert citations, "a grounded answer cites at least one source"
    for c in citations:
        assert (c["n"], c["doc_id"]) in retrieved, (c, retrieved)
        assert c["sentences"] and all(s["text"] for s in c["sentences"])


def test_cli_kb_ask_ends_and_cites_retrieved_sources(home_with_models):
    assert runner.invoke(app, ["kb", "ingest", "aurora", str(DOCS), "--create"]).exit_code == 0
    result = runner.invoke(app, ["kb", "ask", "aurora", "How loud is the outdoor unit at night?", "--seed", "3",
                                 "--json", "--local"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output[result.output.index("{"):])
    assert answer["finish_reason"] in ("stop", "length") and answer["usage"]["completion_tokens"] <= 256
    assert_cites_retrieved(answer["citations"], answer["sources"])
    assert "noise" in [c["doc_id"] for c in answer["citations"]]
    shown = runner.invoke(app, ["kb", "ask", "aurora", "How loud is the outdoor unit at night?", "--seed", "3",
                                "--local"])
    assert shown.exit_code == 0 and "Sources\n" in shown.output and "(the answer cites none)" not in shown.output
    assert " *[" in shown.output  # the cited source is marked


@pytest.fixture(scope="module")
def aurora(live_server):
    http = httpx.Client(base_url=live_server.url, timeout=300)
    if http.get("/api/kb/aurora").status_code == 404:
        assert http.post("/api/kb", json={"name": "aurora"}).status_code == 201
        files = [("files", (p.name, p.read_bytes())) for p in sorted(DOCS.glob("*.md"))]
        assert http.post("/api/kb/aurora/documents", files=files).json()["added"] == 12
    yield http
    http.close()


def test_http_ask_ends_and_cites_retrieved_sources(aurora):
    answer = aurora.post("/api/kb/aurora/ask", json={"question": "How long is the warranty on the compressor?",
                                                     "stream": False, "max_tokens": 96, "seed": 3}).json()
    assert answer["finish_reason"] in ("stop", "length") and answer["usage"]["completion_tokens"] <= 96
    assert_cites_retrieved(answer["citations"], answer["sources"])
    assert "warranty" in [c["doc_id"] for c in answer["citations"]]


def test_chat_completions_with_knowledge_cite_retrieved_sources(openai_client, aurora):
    question = [{"role": "user", "content": "How often should I clean the air filter?"}]
    resp = openai_client.chat.completions.create(model="smollm2-135m", messages=question, seed=5, max_tokens=64,
                                                 extra_body={"knowledge": {"base": "aurora", "k": 3}})
    knowledge = resp.model_extra["knowledge"]
    assert resp.choices[0].finish_reason in ("stop", "length") and resp.usage.completion_tokens <= 64
    assert_cites_retrieved(knowledge["citations"], knowledge["sources"])
    assert "filters" in [c["doc_id"] for c in knowledge["citations"]]
    stream = openai_client.chat.completions.create(model="smollm2-135m", messages=question, seed=5, max_tokens=64,
                                                   stream=True, extra_body={"knowledge": {"base": "aurora", "k": 3}})
    chunks = list(stream)
    sources = chunks[0].model_extra["knowledge"]["sources"]
    cited = [c.model_extra["knowledge"]["citations"] for c in chunks if "citations" in (c.model_extra.get("knowledge")
                                                                                        or {})]
    assert len(cited) == 1 and chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert_cites_retrieved(cited[0], sources)


def test_responses_with_knowledge_annotate_cited_sentences(openai_client, aurora):
    resp = openai_client.responses.create(model="smollm2-135m", input="What does error code E1 mean?",
                                          max_output_tokens=64, extra_body={"knowledge": {"base": "aurora", "k": 3}})
    text = resp.output[0].content[0]
    knowledge = resp.model_extra["knowledge"]
    assert_cites_retrieved(knowledge["citations"], knowledge["sources"])
    retrieved = {s["doc_id"] for s in knowledge["sources"]}
    assert text.annotations and all(a.type == "file_citation" and a.file_id in retrieved for a in text.annotations)
    assert all(0 < a.index <= len(text.text) for a in text.annotations)
