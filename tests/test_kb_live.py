"""Knowledge bases end to end with the real embedded models: the CLI, a live server and the
official `openai` client, crash safety with a killed ingest, and BEIR evaluation."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cupola.cli.main import app
from cupola.knowledge.tool import format_results, schema


pytestmark = pytest.mark.real
runner = CliRunner()

NOTES = {
    "cupola.md": "---\ntitle: The Cupola module\ntags: [space, station]\nyear: 2010\n---\n"
                 "The Cupola is an observatory module of the International Space Station. It has seven windows "
                 "that give astronauts a panoramic view of Earth and of arriving spacecraft.",
    "bread.md": "---\ntitle: Sourdough bread\ntags: [food]\n---\n"
                "Sourdough bread rises with a starter of wild yeast and lactic bacteria instead of baker's yeast. "
                "The dough ferments slowly for many hours before it is baked in a hot oven.",
    "bees.txt": "Honey bees communicate the direction and distance of flowers with a waggle dance performed "
                "inside the hive.",
    "volcano.html": "<html><head><title>Volcanoes</title></head><body><p>A volcano erupts when molten rock, "
                    "called magma, rises through the crust and escapes as lava, ash and gas.</p></body></html>",
}


def cli(*args):
    result = runner.invoke(app, list(args))
    return result


def write_notes(folder: Path) -> Path:
    """NOTES as files in ``folder``."""
    folder.mkdir()
    for name, text in NOTES.items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture
def notes(tmp_path):
    folder = write_notes(tmp_path / "notes")
    fpdf = pytest.importorskip("fpdf")
    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 10, "Glaciers are slow rivers of ice. They carve valleys as they move downhill under their "
                          "own weight.")
    pdf.set_title("Glaciers")
    pdf.output(str(folder / "glaciers.pdf"))
    return folder


def test_cli_create_ingest_search_ask_rm(home_with_models, notes):
    result = cli("kb", "create", "notes", "--description", "mixed notes")
    assert result.exit_code == 0, result.output
    assert "chunks of 254 tokens" in result.output
    result = cli("kb", "ingest", "notes", str(notes), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert (report["added"], report["embedded"]) == (5, report["chunks"]) and report["chunks"] >= 5
    result = cli("kb", "ingest", "notes", str(notes))
    assert "0 added, 0 updated, 5 unchanged" in result.output

    for mode in ("lexical", "semantic", "hybrid"):
        result = cli("kb", "search", "notes", "How many windows does the space station observatory have?",
                     "--mode", mode, "-k", "2", "--json")
        assert result.exit_code == 0, result.output
        found = json.loads(result.output)
        assert found["mode"] == mode and found["results"][0]["doc_id"] == "cupola.md", found
    semantic = json.loads(cli("kb", "search", "notes", "frozen water flowing down mountains", "--mode", "semantic",
                              "--json").output)
    assert semantic["results"][0]["doc_id"] == "glaciers.pdf"  # no shared words: only the vectors find it
    filtered = json.loads(cli("kb", "search", "notes", "bread windows", "-f", "tags=food", "--json").output)
    assert [r["doc_id"] for r in filtered["results"]] == ["bread.md"]
    shown = cli("kb", "show", "notes")
    assert "The Cupola module" in shown.output and "Volcanoes" in shown.output

    result = cli("kb", "ask", "notes", "What does sourdough bread rise with?", "-k", "2", "--temperature", "0.2",
                 "--max-tokens", "60")
    assert result.exit_code == 0, result.output
    assert "Sources" in result.output and "Sourdough bread (bread.md #0)" in result.output

    assert cli("kb", "rm", "notes", "--doc", "bees.txt").exit_code == 0
    assert "4" in cli("kb", "list").output
    assert cli("kb", "rm", "notes", "--yes").exit_code == 0
    result = cli("kb", "search", "notes", "bees")
    assert result.exit_code == 2 and "no knowledge base named 'notes'" in result.output


def test_cli_errors_say_how_to_fix(home_with_models, tmp_path):
    result = cli("kb", "ingest", "nobase", str(tmp_path))
    assert result.exit_code == 2 and "cupola kb create nobase" in result.output
    cli("kb", "create", "b")
    result = cli("kb", "ingest", "b", str(tmp_path / "missing"))
    assert result.exit_code == 2 and "does not exist" in result.output
    result = cli("kb", "search", "b", "x", "--mode", "fuzzy")
    assert result.exit_code == 2 and "mode must be one of" in result.output
    result = cli("kb", "eval", "--dataset", str(tmp_path))
    assert result.exit_code == 2 and "not a BEIR dataset" in result.output


def test_eval_on_a_small_beir_dataset(home_with_models, tmp_path):
    data = tmp_path / "mini-beir"
    (data / "qrels").mkdir(parents=True)
    corpus = [{"_id": f"d{i}", "title": t, "text": x} for i, (t, x) in enumerate([
        ("Cupola", NOTES["cupola.md"].split("---\n")[-1]), ("Sourdough", NOTES["bread.md"].split("---\n")[-1]),
        ("Bees", NOTES["bees.txt"]), ("Volcano", "Magma rises through the crust and erupts as lava and ash."),
        ("Glaciers", "Glaciers are rivers of ice that carve valleys."), ("Tides", "The Moon's gravity pulls the "
                                                                                "oceans and causes tides.")])]
    (data / "corpus.jsonl").write_text("\n".join(json.dumps(c) for c in corpus))
    queries = [("q1", "station observatory windows", "d0"), ("q2", "wild yeast starter", "d1"),
               ("q3", "waggle dance of bees", "d2"), ("q4", "why do oceans have tides", "d5")]
    (data / "queries.jsonl").write_text("\n".join(json.dumps({"_id": q, "text": t}) for q, t, _ in queries))
    (data / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" +
                                             "".join(f"{q}\t{d}\t1\n" for q, _, d in queries))
    out = tmp_path / "eval.json"
    result = cli("kb", "eval", "--dataset", str(data), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "nDCG@10" in result.output and "hybrid" in result.output
    metrics = json.loads(out.read_text())
    assert metrics["queries"] == 4 and metrics["split"] == "test" and metrics["ingest"]["added"] == 6
    for mode in ("lexical", "semantic", "hybrid"):
        m = metrics["modes"][mode]
        assert m["used_mode"] == mode and m["recall@10"] == 1.0 and m["ndcg@10"] > 0.9
        assert m["latency_ms"]["p95"] >= m["latency_ms"]["p50"] > 0
    again = cli("kb", "eval", "--dataset", str(data), "--mode", "lexical", "--json")
    assert "reusing knowledge base beir-mini-beir" in again.output
    assert json.loads(again.output[again.output.index("{"):])["ingest"]["unchanged"] == 6


# -- crash safety ----------------------------------------------------------------------------

def consistency(db: Path) -> dict[str, int]:
    """Check every invariant a reader relies on; return counts."""
    conn = sqlite3.connect(db)
    try:
        (base_id,) = conn.execute("SELECT id FROM bases WHERE name = 'crash'").fetchone()
        bad = conn.execute("SELECT d.doc_id FROM documents d WHERE d.chunks != "
                           "(SELECT count(*) FROM chunks c WHERE c.document_id = d.id)").fetchall()
        assert bad == [], f"documents with missing chunks: {bad[:5]}"
        chunks = conn.execute("SELECT count(*) FROM chunks WHERE base_id = ?", (base_id,)).fetchone()[0]
        fts = conn.execute(f"SELECT count(*) FROM fts_{base_id}").fetchone()[0]
        assert fts == chunks, "the BM25 index and the chunks disagree"
        unembedded = conn.execute("SELECT count(*) FROM chunks c LEFT JOIN vectors v ON v.chunk_id = c.id "
                                  "WHERE v.chunk_id IS NULL").fetchone()[0]
        assert unembedded == 0, "chunks written without their vectors"
        docs = conn.execute("SELECT count(*) FROM documents WHERE base_id = ?", (base_id,)).fetchone()[0]
        return {"documents": docs, "chunks": chunks}
    finally:
        conn.close()


def test_killed_ingest_leaves_a_consistent_base_and_the_next_ingest_completes_it(home_with_models, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    total = 900
    for i in range(total):
        (folder / f"doc{i:04d}.md").write_text(f"---\ntitle: Note {i}\n---\nNote {i} is about topic {i % 17} and "
                                               f"item {i}. " * 3)
    assert cli("kb", "create", "crash").exit_code == 0
    db = home_with_models / "knowledge.db"
    env = {**os.environ, "CUPOLA_HOME": str(home_with_models)}
    proc = subprocess.Popen([sys.executable, "-m", "cupola", "kb", "ingest", "crash", str(folder), "--local"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen = 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        conn = sqlite3.connect(db)
        seen = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        conn.close()
        if seen > 0:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the ingest finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = consistency(db)
    assert 0 < partial["documents"] < total
    result = cli("kb", "ingest", "crash", str(folder))
    assert result.exit_code == 0, result.output
    assert f"{total - partial['documents']} added, 0 updated, {partial['documents']} unchanged" in result.output
    assert consistency(db)["documents"] == total


# -- live server and the openai client -------------------------------------------------------

@pytest.fixture(scope="module")
def live_kb(live_server):
    http = httpx.Client(base_url=live_server.url, timeout=120)
    if http.get("/api/kb/live").status_code == 404:
        assert http.post("/api/kb", json={"name": "live", "description": "facts"}).status_code == 201
        files = [("files", (name, text.encode())) for name, text in NOTES.items()]
        report = http.post("/api/kb/live/documents", files=files).json()
        assert report["added"] == 4 and report["embedded"] == report["chunks"]
    yield http
    http.close()


def test_live_search_and_streamed_ask(live_kb):
    found = live_kb.post("/api/kb/live/search", json={"query": "panoramic windows on the space station"}).json()
    assert found["mode"] == "hybrid" and found["results"][0]["doc_id"] == "cupola.md"
    with live_kb.stream("POST", "/api/kb/live/ask", json={"question": "How do honey bees tell others where "
                                                          "flowers are?", "k": 2, "max_tokens": 60}) as resp:
        events = [json.loads(line) for line in resp.iter_lines() if line]
    assert events[0]["type"] == "sources" and events[0]["sources"][0]["doc_id"] == "bees.txt"
    answer = "".join(e["text"] for e in events if e["type"] == "delta")
    assert events[-1]["type"] == "done" and events[-1]["answer"] == answer and answer.strip()


def test_openai_client_chat_with_knowledge(openai_client, live_kb):
    resp = openai_client.chat.completions.create(
        model="smollm2-135m", messages=[{"role": "user", "content": "What is the Cupola module?"}],
        max_tokens=60, temperature=0.2, extra_body={"knowledge": {"base": "live", "k": 2}})
    knowledge = resp.model_extra["knowledge"]
    assert knowledge["sources"][0]["doc_id"] == "cupola.md" and knowledge["mode"] == "hybrid"
    assert isinstance(knowledge["citations"], list) and resp.choices[0].message.content
    stream = openai_client.chat.completions.create(
        model="smollm2-135m", messages=[{"role": "user", "content": "What is the Cupola module?"}],
        max_tokens=30, temperature=0.2, stream=True, extra_body={"knowledge": {"base": "live", "k": 2}})
    chunks = list(stream)
    assert chunks[0].model_extra["knowledge"]["sources"][0]["doc_id"] == "cupola.md"
    assert "citations" in chunks[-1].model_extra.get("knowledge", {}) or \
        any("citations" in (c.model_extra.get("knowledge") or {}) for c in chunks)


def test_search_knowledge_tool_round_trip(openai_client, live_kb):
    messages = [{"role": "user", "content": "Search the knowledge base: what is a volcano?"}]
    tools = [schema("live", "facts")]
    first = openai_client.chat.completions.create(model="smollm2-135m", messages=messages, tools=tools,
                                                  tool_choice="required", max_tokens=100, temperature=0.2, seed=1)
    call = first.choices[0].message.tool_calls[0]
    assert call.function.name == "search_knowledge"
    query = json.loads(call.function.arguments)["query"]
    found = live_kb.post("/api/kb/live/search", json={"query": query or "volcano", "k": 2}).json()
    result = format_results(found)
    assert result.startswith("[1] ")
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": result}]
    final = openai_client.chat.completions.create(model="smollm2-135m", messages=messages, tools=tools,
                                                  max_tokens=60, temperature=0.2)
    assert final.choices[0].message.content and not final.choices[0].message.tool_calls
