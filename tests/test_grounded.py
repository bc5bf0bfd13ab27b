"""Grounded answers with fakes: the loop guard, the citation matcher, and their wiring (runtime records,
the kb ask API, chat completions with knowledge)."""

from __future__ import annotations

import json

import numpy as np

from cupola.engines.fake import FakeFactory
from cupola.knowledge import citing
from cupola.runtime import repetition
from cupola.runtime.repetition import LoopGuard
from cupola.runtime.runtime import Runtime

SOURCES = [
    {"n": 1, "doc_id": "noise", "title": "How loud is the Aurora heat pump?", "position": 0,
     "text": "The Aurora outdoor unit runs at 38 decibels in night mode, about as loud as a quiet library."},
    {"n": 2, "doc_id": "filters", "title": "Cleaning the filter", "position": 0,
     "text": "Clean the washable mesh filter every three months, or every month if you have pets."},
    {"n": 3, "doc_id": "warranty", "title": "Warranty", "position": 0,
     "text": "Every Aurora heat pump has a 5-year warranty on parts and a 10-year warranty on the compressor."},
]


def feed_in_pieces(guard: LoopGuard, text: str, size: int = 3) -> tuple[str, bool]:
    shown = []
    for i in range(0, len(text), size):
        out, stop = guard.feed(text[i:i + size])
        shown.append(out)
        if stop:
            return "".join(shown), True
    return "".join(shown) + guard.finish(), False


# -- the loop guard ----------------------------------------------------------------------------------

def test_a_repeated_sentence_is_held_back_dropped_and_stops_the_answer():
    guard = LoopGuard()
    shown, stop = feed_in_pieces(guard, "The unit runs at 38 dB at night [1]. Night mode limits the fan. "
                                        "The unit runs at 38 dB at night [2]. And more text after it.")
    assert stop and shown == "The unit runs at 38 dB at night [1]. Night mode limits the fan. "
    assert "repeated a sentence" in guard.reason


def test_a_sentence_that_only_starts_like_an_earlier_one_is_passed_on_whole():
    guard = LoopGuard()
    text = "The unit is quiet at night. The unit is loud on the coldest days. Done."
    assert feed_in_pieces(guard, text) == (text, False) and guard.reason is None


def test_short_sentences_may_repeat():
    text = "Yes. It does. Yes. It does."
    assert feed_in_pieces(LoopGuard(), text) == (text, False)


def test_a_run_of_words_said_a_third_time_stops_an_answer_without_sentence_ends():
    guard = LoopGuard()
    loop = "clean the filter every three months and check the drain hose, "
    shown, stop = feed_in_pieces(guard, loop * 6)
    assert stop and shown.count("clean the filter") == 3 and len(shown) < len(loop) * 3 and "3 times" in guard.reason


def test_an_answer_ending_in_a_repeat_without_punctuation_drops_it():
    guard = LoopGuard()
    shown, stop = feed_in_pieces(guard, "The filter is washable. The filter is washable")
    assert (shown, stop) == ("The filter is washable. ", False) and guard.reason


def chunk(text=None, finish=None):
    delta = {"content": text} if text is not None else {}
    return {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta,
                                                                     "finish_reason": finish}]}


async def test_stop_loops_ends_the_stream_cleanly_and_closes_the_model_stream():
    closed = []

    async def model():
        try:
            for word in ("It is very quiet. " * 50).split(" "):
                yield chunk(word + " ")
            yield chunk(finish="length")
        finally:
            closed.append(True)

    notes: list[str] = []
    out = [c async for c in repetition.stop_loops(model(), notes.append)]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in out if c.get("choices"))
    assert " ".join(text.split()) == "It is very quiet."
    assert out[-1]["choices"][0]["finish_reason"] == "stop" and out[-1]["shaping"][0]["what"] == "repetition"
    assert closed == [True] and len(notes) == 1


async def test_a_stream_cut_at_a_loop_still_reports_its_usage():
    """Found by CI: `/api/kb/{name}/ask` answered `usage: null` when the loop detector ended the answer (the
    engine's own usage chunk never comes); llama.cpp's running counts give the same figures."""
    async def model():
        for i, word in enumerate(("It is very quiet. " * 50).split(" ")):
            yield {**chunk(word + " "), "timings": {"prompt_n": 30, "cache_n": 10, "predicted_n": i + 1}}

    out = [c async for c in repetition.stop_loops(model(), lambda why: None)]
    assert out[-2]["choices"][0]["finish_reason"] == "stop"
    usage = out[-1]["usage"]
    assert out[-1]["choices"] == [] and usage["prompt_tokens"] == 40
    assert 8 <= usage["completion_tokens"] < 50 and usage["total_tokens"] == 40 + usage["completion_tokens"]


def test_trim_cuts_a_whole_completion_at_the_loop():
    result = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "A b c d. E f g h. A b c d. "
                                                   "A b c d."}, "finish_reason": "length"}]}
    notes: list[str] = []
    trimmed = repetition.trim(result, notes.append)
    assert trimmed["choices"][0]["message"]["content"] == "A b c d. E f g h."
    assert trimmed["choices"][0]["finish_reason"] == "stop" and notes
    fine = {"choices": [{"index": 0, "message": {"content": "Fine."}, "finish_reason": "stop"}]}
    assert repetition.trim(fine, notes.append) is fine


async def test_the_runtime_stops_a_looping_answer_and_notes_it_in_the_record(settings):
    from conftest import fake_store

    factory = FakeFactory(reply="The unit is quiet at night. " * 40)
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=factory)
    try:
        messages = [{"role": "user", "content": "how loud?"}]
        chunks = [c async for c in runtime.stream("smollm2-135m", messages, stop_loops=True, max_tokens=400)]
        text = "".join((c["choices"][0].get("delta") or {}).get("content") or "" for c in chunks if c["choices"])
        assert text.strip() == "The unit is quiet at night."
        assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
        engine = factory.engines["smollm2-135m"]
        assert "stop_loops" not in engine.requests[-1]  # Cupola's option, not the engine's
        record = runtime.records.recent(1, full=True)[0]
        assert record["finish_reason"] == "stop" and record["status"] == "ok"
        assert record["contract"]["shaping"][0]["what"] == "repetition"

        done = await runtime.chat("smollm2-135m", messages, stop_loops=True, max_tokens=400)
        assert done["choices"][0]["message"]["content"] == "The unit is quiet at night."
        assert done["choices"][0]["finish_reason"] == "stop"
        assert runtime.records.recent(1, full=True)[0]["contract"]["shaping"][0]["what"] == "repetition"
        plain = await runtime.chat("smollm2-135m", messages, max_tokens=400)  # off unless asked for
        assert plain["choices"][0]["message"]["content"].count("quiet") == 40
    finally:
        await runtime.close()


# -- the citation matcher ----------------------------------------------------------------------------

def test_sentences_keep_their_spans_and_markers():
    answer = "It runs at 38 decibels [1]. Clean the filter every three months [2, 3].\nDone"
    parts = citing.sentences(answer)
    assert [p.markers for p in parts] == [[1], [2, 3], []]
    assert [answer[p.start:p.end] for p in parts] == [p.text for p in parts]
    assert parts[1].text == "Clean the filter every three months [2, 3]."


async def test_each_sentence_cites_the_source_that_supports_it_whatever_its_marker_says():
    answer = "The outdoor unit runs at 38 decibels in night mode [2]. Clean the mesh filter every three months [2]."
    cited = await citing.cite(None, answer, SOURCES)
    assert [c["doc_id"] for c in cited] == ["noise", "filters"]
    assert cited[0]["sentences"][0]["text"].startswith("The outdoor unit") and cited[1]["sentences"][0]["start"] > 0
    markers = citing.marker_citations(answer, SOURCES)  # the old way: the model's markers, unchecked
    assert [c["doc_id"] for c in markers] == ["filters"]


async def test_never_a_source_that_was_not_retrieved_and_no_citation_for_unsupported_or_unknown():
    assert await citing.cite(None, "The compressor warranty is 10 years [7].", SOURCES[:2]) == []
    assert await citing.cite(None, "I do not know; the sources do not say [1].", SOURCES) == []
    assert await citing.cite(None, "Bananas are yellow and grow in tropical places [1].", SOURCES) == []
    assert await citing.cite(None, "", SOURCES) == [] and await citing.cite(None, "Anything.", []) == []


async def test_embeddings_join_the_word_overlap_and_a_failing_embedder_falls_back_to_words():
    calls = []

    async def embed(texts):
        calls.append(texts)
        vectors = np.zeros((len(texts), 3), np.float32)
        for i, t in enumerate(texts):
            vectors[i, 0 if "loud" in t.lower() or "decibel" in t.lower() else 1] = 1.0
        return vectors

    cited = await citing.cite(embed, "How loud is it? The unit runs at 38 decibels at night.", SOURCES)
    assert cited and cited[0]["doc_id"] == "noise" and len(calls) == 1
    assert len(calls[0]) == 2 + len(SOURCES)  # sentences, then sources, in one call

    async def broken(texts):
        from cupola.errors import ModelNotFound
        raise ModelNotFound("no embedding model")

    assert [c["doc_id"] for c in await citing.cite(broken, "38 decibels in night mode.", SOURCES)] == ["noise"]


async def test_an_answer_drawn_from_the_sources_cites_at_least_its_best_match():
    # no sentence reaches the support bar alone, but the answer plainly used source 3
    answer = "Aurora compressor warranty lasts a decade when owners keep receipts."
    assert citing.SUPPORT > citing.overlap(answer, SOURCES[2]["title"] + " " + SOURCES[2]["text"]) >= citing.USED
    cited = await citing.cite(None, answer, SOURCES)
    assert [c["doc_id"] for c in cited] == ["warranty"]


def test_annotations_are_file_citations_at_the_end_of_each_cited_sentence():
    cited = [{"n": 1, "doc_id": "noise", "title": "Noise", "position": 0,
              "sentences": [{"start": 0, "end": 20, "text": "x"}, {"start": 30, "end": 44, "text": "y"}]}]
    assert citing.annotations(cited) == [
        {"type": "file_citation", "file_id": "noise", "filename": "Noise", "index": 20},
        {"type": "file_citation", "file_id": "noise", "filename": "Noise", "index": 44}]


# -- wiring --------------------------------------------------------------------------------------------

def test_grounded_chat_gets_the_default_length_and_the_loop_guard(settings):
    from test_kb_http import DOCS, make_client

    factory = FakeFactory(reply="Solar panels turn sunlight into electricity. " * 30)
    with make_client(settings, factory) as client:
        client.post("/api/kb", json={"name": "notes"})
        client.post("/api/kb/notes/documents", json=DOCS)
        body = {"model": "smollm2-135m", "messages": [{"role": "user", "content": "what do solar panels do"}],
                "knowledge": {"base": "notes", "k": 2}}
        resp = client.post("/v1/chat/completions", json=body).json()
        assert factory.engines["smollm2-135m"].requests[-1]["max_tokens"] == 256
        assert resp["choices"][0]["message"]["content"] == "Solar panels turn sunlight into electricity."
        assert resp["choices"][0]["finish_reason"] == "stop"
        assert [c["doc_id"] for c in resp["knowledge"]["citations"]] == ["solar"]
        resp = client.post("/v1/chat/completions", json={**body, "max_tokens": 12, "stop_loops": False}).json()
        assert factory.engines["smollm2-135m"].requests[-1]["max_tokens"] == 12
        assert resp["choices"][0]["finish_reason"] == "length"
        answer = client.post("/api/kb/notes/ask", json={"question": "solar?", "stream": False}).json()
        assert answer["finish_reason"] == "stop" and answer["note"] and "repeated" in answer["note"]
        assert answer["citations"][0]["doc_id"] == "solar"
        with client.stream("POST", "/api/kb/notes/ask", json={"question": "solar?"}) as stream:
            events = [json.loads(line) for line in stream.iter_lines() if line]
        assert events[-1]["type"] == "done" and events[-1]["finish_reason"] == "stop"



def test_responses_api_knowledge_gives_file_citation_annotations(settings):
    from test_kb_http import DOCS, make_client

    factory = FakeFactory(reply="Solar panels turn sunlight into electricity [2]. Bananas are yellow [1].")
    with make_client(settings, factory) as client:
        client.post("/api/kb", json={"name": "notes"})
        client.post("/api/kb/notes/documents", json=DOCS)
        body = {"model": "smollm2-135m", "input": "what do solar panels do", "knowledge": {"base": "notes", "k": 2}}
        resp = client.post("/v1/responses", json=body).json()
        part = resp["output"][0]["content"][0]
        first = part["text"].index(".") + 1
        assert part["annotations"] == [{"type": "file_citation", "file_id": "solar", "filename": "Solar",
                                        "index": first}]
        assert resp["knowledge"]["sources"][0]["doc_id"] == "solar"
        assert [c["doc_id"] for c in resp["knowledge"]["citations"]] == ["solar"]
        assert factory.engines["smollm2-135m"].requests[-1]["max_tokens"] == 256
        stored = client.get(f"/v1/responses/{resp['id']}").json()
        assert stored["output"][0]["content"][0]["annotations"] == part["annotations"]

        with client.stream("POST", "/v1/responses", json={**body, "stream": True}) as stream:
            events = [json.loads(line[6:]) for line in stream.iter_lines() if line.startswith("data: ")]
        assert [e["sequence_number"] for e in events] == list(range(len(events)))
        added = [e for e in events if e["type"] == "response.output_text.annotation.added"]
        assert [a["annotation"]["file_id"] for a in added] == ["solar"]
        done = events[-1]["response"]
        assert done["output"][0]["content"][0]["annotations"] == [added[0]["annotation"]]
        hosted = {**body, "tools": [{"type": "mcp", "server_label": "cupola", "allowed_tools": ["calculator"]}]}
        error = client.post("/v1/responses", json=hosted)
        assert error.status_code == 400 and error.json()["error"]["param"] == "knowledge"


# -- the research desk ---------------------------------------------------------------------------------

async def test_research_desk_critic_rejects_a_draft_citing_an_absent_document(tmp_path, fake_runtime, settings):
    from pathlib import Path

    from cupola.agents import Runner
    from cupola.agents.loader import ToolContext
    from cupola.client import FunctionClient, LocalClient
    from cupola.knowledge.service import KnowledgeService
    from cupola.knowledge.store import KnowledgeStore
    from cupola.workflows import WorkflowRunner, WorkflowStore
    from cupola.workflows.loader import load_workflow
    from test_knowledge import ENERGY

    kb = KnowledgeService(KnowledgeStore(settings.db_path("knowledge")), LocalClient(fake_runtime),
                          models=fake_runtime.store)
    kb.create("docs")
    await kb.ingest("docs", ENERGY)
    drafts = iter(["Solar panels turn sunlight into electricity [facebook.com].",
                   "Solar panels turn sunlight into electricity [solar]."])

    def model(messages, params):
        system = messages[0]["content"]
        if system.startswith("You plan"):
            return "What do solar panels do?"
        if system.startswith("Search"):
            return [("search_knowledge", {"query": "solar panels"})] if len(messages) < 3 else "Panels: sunlight."
        if system.startswith("You write"):
            return next(drafts)
        if system.startswith("You review"):
            return '{"approved": true, "feedback": "supported"}'
        return "Solar panels turn sunlight into electricity on the roof [solar] [ghost]."

    flow = load_workflow(Path(__file__).resolve().parent.parent / "examples" / "workflows" / "research_desk.py",
                         ToolContext(knowledge=kb))
    store = WorkflowStore(tmp_path / "workflows.db")
    try:
        events = [e async for e in WorkflowRunner(Runner(FunctionClient(model)), store).run(
            flow, "How do solar panels help?")]
    finally:
        store.close()
    finished = {e["step"]: e.get("output") for e in events if e["type"] == "step_finished"}
    retrieved = [s["doc_id"] for s in finished["research_desk/gather/retriever"]["sources"]]
    assert "solar" in retrieved and "facebook.com" not in retrieved
    first = finished["research_desk/review/1/critic"]
    assert first["route"] == "reject" and first["output"]["approved"] is False
    assert "facebook.com" in first["output"]["feedback"] and "research_desk/review/1/critic/judge" not in finished
    second = finished["research_desk/review/2/critic"]
    assert second["route"] == "review" and second["output"]["approved"] is True
    result = events[-1]["output"]
    assert events[-1]["status"] == "completed" and "[ghost]" not in result["answer"]
    assert [c["doc_id"] for c in result["citations"]] == ["solar"]
    assert set(result["retrieved"]) == set(retrieved)
