"""Knowledge bases with fake models: documents, chunking, fusion math, metrics, store and service."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cupola.client import LocalClient
from cupola.errors import Conflict, InvalidParameter, NotFound, UsageError
from cupola.knowledge import documents as docs
from cupola.knowledge.chunking import chunk_text, word_spans
from cupola.knowledge.evaluation import Dataset, mrr_at, ndcg_at, recall_at
from cupola.knowledge.retrieval import SearchOptions, min_max, rrf, select, top_k, weighted
from cupola.knowledge.service import KnowledgeService, citations
from cupola.knowledge.store import KnowledgeStore, compile_filter, fts_query
from cupola.knowledge.tool import call as call_tool
from cupola.knowledge.tool import search_knowledge_tool

# -- documents -------------------------------------------------------------------------------


def test_markdown_front_matter_gives_id_title_and_metadata():
    doc = docs.parse(b"---\ntitle: Solar panels\nid: kb-7\ntags: [energy, roof]\nyear: 2021\n---\n# Ignored\n"
                     b"Panels make power.", "notes/solar.md", doc_id="notes/solar.md")
    assert (doc.id, doc.title) == ("kb-7", "Solar panels")
    assert doc.metadata == {"tags": ["energy", "roof"], "year": 2021}
    assert doc.text.endswith("Panels make power.")


def test_markdown_without_front_matter_uses_heading_and_path():
    doc = docs.parse(b"# Heat pumps\nThey move heat.", "heat.md", doc_id="sub/heat.md")
    assert (doc.id, doc.title, doc.metadata) == ("sub/heat.md", "Heat pumps", {})


def test_html_text_without_scripts_and_with_title():
    doc = docs.parse(b"<html><head><title>Wind</title><style>p{}</style></head><body><script>evil()</script>"
                     b"<p>Turbines spin.</p><p>Blades&nbsp;turn.</p></body></html>", "wind.html")
    assert doc.title == "Wind"
    assert "Turbines spin." in doc.text and "Blades" in doc.text
    assert "evil" not in doc.text and "p{}" not in doc.text


def test_pdf_text_is_extracted(tmp_path):
    fpdf = pytest.importorskip("fpdf")
    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 10, "Geothermal wells reach hot rock deep underground.")
    pdf.set_title("Geothermal")
    path = tmp_path / "geo.pdf"
    pdf.output(str(path))
    doc = docs.load_file(path, tmp_path)
    assert doc.title == "Geothermal" and doc.id == "geo.pdf"
    assert "Geothermal wells reach hot rock" in doc.text


def test_bad_inputs_are_clear_errors(tmp_path):
    with pytest.raises(InvalidParameter, match="unsupported file type"):
        docs.parse(b"x", "a.docx")
    with pytest.raises(InvalidParameter, match="front matter"):
        docs.parse(b"---\ntitle: [unclosed\n---\nbody", "a.md")
    with pytest.raises(InvalidParameter, match="not a readable PDF"):
        docs.parse(b"%PDF-1.4 garbage", "a.pdf")
    with pytest.raises(UsageError, match="does not exist"):
        docs.find_files(tmp_path / "missing")


def test_folder_walk_skips_hidden_and_unsupported(tmp_path):
    (tmp_path / "a.md").write_text("a")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("b")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "c.md").write_text("c")
    (tmp_path / "d.bin").write_bytes(b"\0")
    assert [d.id for d in docs.iter_documents(tmp_path)] == ["a.md", "sub/b.txt"]


# -- chunking --------------------------------------------------------------------------------


def test_chunks_are_exact_slices_within_size_with_overlap():
    text = " ".join(f"word{i}" for i in range(1000))
    chunks = chunk_text(text, word_spans, size=100, overlap=20)
    assert all(c.tokens <= 100 for c in chunks)
    assert all(text[c.start:c.end] == c.text for c in chunks)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert chunks[0].text.startswith("word0 ") and chunks[-1].text.endswith("word999")
    # consecutive chunks share exactly `overlap` tokens
    assert chunks[1].text.split()[:20] == chunks[0].text.split()[-20:]
    assert len(chunks) == math.ceil((1000 - 20) / 80)


def test_chunks_prefer_to_end_at_a_sentence():
    text = ("Alpha beta gamma delta. " * 30).strip()
    chunks = chunk_text(text, word_spans, size=50, overlap=5)
    assert all(c.text.endswith(".") for c in chunks)


def test_short_and_empty_text():
    assert [c.text for c in chunk_text("One sentence.", word_spans, 64, 8)] == ["One sentence."]
    assert chunk_text("", word_spans, 64, 8) == []


# -- fusion math -----------------------------------------------------------------------------


def test_rrf_by_hand():
    lexical = {1: 12.0, 2: 7.0, 3: 1.0}
    semantic = {2: 0.9, 4: 0.8, 1: 0.1}
    fused = rrf({"lexical": lexical, "semantic": semantic}, k=60)
    assert fused[1] == pytest.approx(1 / 61 + 1 / 63)
    assert fused[2] == pytest.approx(1 / 62 + 1 / 61)
    assert fused[3] == pytest.approx(1 / 63)
    assert fused[4] == pytest.approx(1 / 62)
    weighted_rrf = rrf({"lexical": lexical, "semantic": semantic}, k=10, weights={"lexical": 2, "semantic": 0.5})
    assert weighted_rrf[4] == pytest.approx(0.5 / 12)


def test_min_max_and_weighted_fusion_by_hand():
    assert min_max({1: 10.0, 2: 5.0, 3: 0.0}) == {1: 1.0, 2: 0.5, 3: 0.0}
    assert min_max({1: 3.0, 2: 3.0}) == {1: 1.0, 2: 1.0}
    assert min_max({}) == {}
    fused = weighted({"lexical": {1: 10.0, 2: 5.0, 3: 0.0}, "semantic": {2: 0.8, 3: 0.6, 4: 0.4}},
                     {"lexical": 0.3, "semantic": 0.7})
    assert fused == pytest.approx({1: 0.3, 2: 0.3 * 0.5 + 0.7 * 1.0, 3: 0.7 * 0.5, 4: 0.0})


def test_top_k_is_sorted_and_bounded():
    sims = np.array([0.1, 0.9, 0.5, 0.7, 0.3])
    assert top_k(sims, 3).tolist() == [1, 3, 2]
    assert top_k(sims, 10).tolist() == [1, 3, 2, 4, 0]


def test_select_drops_near_duplicates_and_repeats_per_document():
    v = {1: np.array([1.0, 0.0]), 2: np.array([0.999, 0.0447]), 3: np.array([0.0, 1.0])}
    texts = {1: "alpha", 2: "alpha again", 3: "beta", 4: "  Alpha "}
    doc_of = {1: "a", 2: "b", 3: "a", 4: "c"}
    assert select([1, 2, 3, 4], 5, vectors=v, texts=texts, documents=doc_of, dedupe=0.95,
                  per_document=False) == [1, 3]
    assert select([1, 2, 3], 5, vectors=v, texts=texts, documents=doc_of, dedupe=1.0,
                  per_document=True) == [1, 2]


def test_search_options_are_validated():
    with pytest.raises(InvalidParameter, match="mode"):
        SearchOptions(mode="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="fusion"):
        SearchOptions(fusion="max")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="weights"):
        SearchOptions(weights={"lexical": -1})


def test_fts_query_quotes_terms_and_drops_stopwords():
    assert fts_query('What is the "best" heat-pump?') == '"best" OR "heat" OR "pump"'
    assert fts_query("the of") == '"the" OR "of"'
    assert fts_query("?!") is None


def test_filter_compiles_to_parameters_only():
    where, args = compile_filter({"tags": "x'; DROP TABLE bases; --", "year": {"$gte": 2020}})
    assert "DROP" not in where and args[1] == "x'; DROP TABLE bases; --"
    with pytest.raises(InvalidParameter, match="unknown operator"):
        compile_filter({"year": {"$regex": "2."}})


# -- metrics ---------------------------------------------------------------------------------


def test_metrics_by_hand():
    judged = {"d1": 1, "d2": 2, "d9": 1}
    ranked = ["d3", "d2", "d4", "d1"]
    dcg = 2 / math.log2(3) + 1 / math.log2(5)
    idcg = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at(ranked, judged, 10) == pytest.approx(dcg / idcg)
    assert recall_at(ranked, judged, 2) == pytest.approx(1 / 3)
    assert recall_at(ranked, judged, 100) == pytest.approx(2 / 3)
    assert mrr_at(ranked, judged, 10) == pytest.approx(1 / 2)
    assert mrr_at(["x"] * 10 + ["d1"], judged, 10) == 0.0
    assert ndcg_at(["d2", "d1", "d9"], judged) == pytest.approx(1.0)


def test_beir_loader_picks_split_and_skips_header(tmp_path):
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text('{"_id": "d1", "title": "T", "text": "x"}\n')
    (tmp_path / "queries.jsonl").write_text('{"_id": "q1", "text": "a"}\n{"_id": "q2", "text": "b"}\n')
    (tmp_path / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    data = Dataset.load(tmp_path)
    assert (data.split, data.queries, data.qrels) == ("train", {"q1": "a"}, {"q1": {"d1": 1}})
    assert [d.id for d in data.corpus()] == ["d1"]
    with pytest.raises(NotFound, match="splits: train"):
        Dataset.load(tmp_path, "test")
    with pytest.raises(UsageError, match="not a BEIR dataset"):
        Dataset.load(tmp_path / "qrels")


# -- store and service on fake models --------------------------------------------------------

ENERGY = [
    docs.Document("solar", "Solar panels turn sunlight into electricity on the roof.", "Solar",
                  {"tags": ["energy", "roof"], "year": 2021}),
    docs.Document("wind", "Wind turbines spin in the breeze and generate power.", "Wind",
                  {"tags": ["energy"], "year": 2019}),
    docs.Document("bread", "Knead the dough, let it rise, then bake the bread.", "Bread",
                  {"tags": ["food"], "year": 2023}),
]


@pytest.fixture
def kb(fake_runtime, settings):
    store = KnowledgeStore(settings.db_path("knowledge"))
    service = KnowledgeService(store, LocalClient(fake_runtime), models=fake_runtime.store)
    yield service
    store.close()


def chunk_ids(service, name):
    base = service.get(name)
    return {r[0] for r in service.store.db.query("SELECT id FROM chunks WHERE base_id = ?", (base.id,))}


async def test_create_list_show_delete(kb):
    base = kb.create("energy", description="power")
    assert (base.embedding_model, base.chunk_tokens, base.chunk_overlap) == ("minilm-l6", 254, 31)
    with pytest.raises(Conflict):
        kb.create("energy")
    with pytest.raises(InvalidParameter, match="not a valid knowledge base name"):
        kb.create("../etc")
    with pytest.raises(InvalidParameter, match="chunk_overlap"):
        kb.create("x", chunk_tokens=64, chunk_overlap=40)
    assert [b.name for b in kb.store.list()] == ["energy"]
    kb.store.delete("energy")
    with pytest.raises(NotFound, match="no knowledge base named 'energy'") as exc:
        kb.get("energy")
    assert "cupola kb create energy" in exc.value.hint


async def test_ingest_is_idempotent_and_updates_replace_chunks(kb):
    kb.create("energy")
    report = await kb.ingest("energy", ENERGY)
    assert (report.added, report.chunks, report.embedded) == (3, 3, 3)
    assert (await kb.ingest("energy", ENERGY)).unchanged == 3
    before = chunk_ids(kb, "energy")
    changed = docs.Document("bread", "Sourdough needs a starter and a long proof.", "Bread", {"tags": ["food"]})
    report = await kb.ingest("energy", [changed])
    assert (report.updated, report.added) == (1, 0)
    after = chunk_ids(kb, "energy")
    assert len(after) == 3 and len(before & after) == 2
    assert (await kb.search("energy", "knead dough", SearchOptions(mode="lexical")))["results"] == []
    hit = (await kb.search("energy", "sourdough starter", SearchOptions(mode="lexical")))["results"][0]
    assert hit["doc_id"] == "bread"
    assert kb.remove_documents("energy", ["bread"]) == 1
    assert kb.get("energy").documents == 2
    fts_rows = kb.store.db.query(f"SELECT count(*) FROM fts_{kb.get('energy').id}")[0][0]
    assert fts_rows == 2


async def test_result_fields_and_modes(kb):
    kb.create("energy")
    await kb.ingest("energy", ENERGY)
    for mode in ("lexical", "semantic", "hybrid"):
        found = await kb.search("energy", "solar panels on the roof", SearchOptions(mode=mode, k=2))
        assert found["mode"] == mode and found["fallback"] is None
        top = found["results"][0]
        assert top["doc_id"] == "solar" and top["title"] == "Solar" and top["position"] == 0
        assert top["mode"] == mode and top["metadata"]["year"] == 2021
        expected = {"lexical": ["lexical"], "semantic": ["semantic"], "hybrid": ["lexical", "semantic"]}[mode]
        assert sorted(top["scores"]) == expected and all(top["ranks"][s] == 1 for s in expected)
    hybrid = (await kb.search("energy", "solar panels", SearchOptions(k=3)))["results"][0]
    assert hybrid["score"] == pytest.approx(1 / 61 + 1 / 61)
    weighted_top = (await kb.search("energy", "solar panels", SearchOptions(fusion="weighted")))["results"][0]
    assert weighted_top["score"] == pytest.approx(2.0)
    with pytest.raises(InvalidParameter, match="empty"):
        await kb.search("energy", "  ")


async def test_metadata_filters(kb):
    kb.create("energy")
    await kb.ingest("energy", ENERGY)

    async def ids(filters, mode="hybrid"):
        found = await kb.search("energy", "power electricity bread roof", SearchOptions(mode=mode, k=10,
                                                                                         filters=filters))
        return sorted(r["doc_id"] for r in found["results"])

    for mode in ("lexical", "semantic", "hybrid"):
        assert await ids({"tags": "energy"}, mode) == ["solar", "wind"]
    assert await ids({"year": {"$gte": 2021}}) == ["bread", "solar"]
    assert await ids({"tags": {"$in": ["roof", "food"]}}) == ["bread", "solar"]
    assert await ids({"tags": {"$ne": "energy"}}) == ["bread"]
    assert await ids({"missing": {"$exists": True}}) == []


async def test_near_duplicate_chunks_are_returned_once(kb):
    kb.create("dups")
    await kb.ingest("dups", [docs.Document("a", "The boiler needs a yearly service."),
                             docs.Document("b", "The boiler needs a yearly service!"),
                             docs.Document("c", "Service the car every year.")])
    found = await kb.search("dups", "boiler yearly service", SearchOptions(k=3))
    assert [r["doc_id"] for r in found["results"]].count("a") + \
        [r["doc_id"] for r in found["results"]].count("b") == 1
    keep_all = await kb.search("dups", "boiler yearly service", SearchOptions(k=3, dedupe=1.0))
    assert len(keep_all["results"]) == 3


async def test_fallback_to_lexical_when_embeddings_are_unavailable(kb, fake_runtime):
    kb.create("nomodel", embedding_model="no-such-embedder")
    report = await kb.ingest("nomodel", ENERGY)
    assert report.embedded == 0 and report.warnings and "lexical search only" in report.warnings[0]
    found = await kb.search("nomodel", "wind turbines", SearchOptions(mode="hybrid"))
    assert found["mode"] == "lexical" and found["requested_mode"] == "hybrid"
    assert "embeddings unavailable" in found["fallback"]
    assert found["results"][0]["doc_id"] == "wind"
    # The model becomes available (same base, embedding model switched): the next ingest completes vectors.
    kb.store.db.query("UPDATE bases SET embedding_model = 'minilm-l6' WHERE name = 'nomodel'")
    report = await kb.ingest("nomodel", ENERGY)
    assert (report.unchanged, report.embedded) == (3, 3)
    assert kb.get("nomodel").embedded == 3
    assert (await kb.search("nomodel", "wind turbines"))["mode"] == "hybrid"


async def test_ingest_paths_with_prune_and_bad_files(kb, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.md").write_text("---\ntags: [x]\n---\nAlpha notes about heat pumps.")
    (folder / "b.txt").write_text("Beta notes about batteries.")
    (folder / "bad.md").write_text("---\ntitle: [oops\n---\nbroken")
    kb.create("notes")
    report = await kb.ingest_paths("notes", [folder])
    assert report.added == 2 and [f["source"].endswith("bad.md") for f in report.failed] == [True]
    (folder / "b.txt").unlink()
    (folder / "bad.md").unlink()
    report = await kb.ingest_paths("notes", [folder], prune=True)
    assert (report.unchanged, report.removed) == (1, 1)
    assert [d["doc_id"] for d in kb.store.documents(kb.get("notes"))] == ["a.md"]


async def test_long_documents_are_chunked_and_positions_kept(kb):
    kb.create("long", chunk_tokens=40, chunk_overlap=5)
    text = " ".join(f"Sentence number {i} talks about topic{i}." for i in range(60))
    await kb.ingest("long", [docs.Document("big", text, "Big")])
    base = kb.get("long")
    assert base.chunks > 5
    hit = (await kb.search("long", "topic55", SearchOptions(mode="lexical")))["results"][0]
    assert hit["position"] == base.chunks - 1 and "topic55" in hit["text"]
    assert text[hit["start"]:hit["end"]] == hit["text"]


async def test_search_knowledge_tool(kb):
    kb.create("energy", description="home energy notes")
    await kb.ingest("energy", ENERGY)
    tool = search_knowledge_tool(kb, "energy", k=2)
    assert tool.schema["function"]["name"] == "search_knowledge"
    assert "home energy notes" in tool.schema["function"]["description"]
    text = await tool("wind turbines")
    assert text.startswith("[1] Wind (document wind, part 1)")
    assert "Wind" in await call_tool(kb, "energy", '{"query": "breeze"}')


async def test_ask_streams_sources_answer_and_citations(kb, fake_factory):
    fake_factory.reply = "Solar panels turn sunlight into electricity [1]. See also [2, 9]."
    kb.create("energy")
    await kb.ingest("energy", ENERGY)
    events = [e async for e in kb.ask("energy", "How do solar panels help?")]
    assert events[0]["type"] == "sources" and events[0]["sources"][0]["n"] == 1
    assert "".join(e["text"] for e in events if e["type"] == "delta") == fake_factory.reply
    done = events[-1]
    # "See also [2, 9]" says nothing a source could support: only the sentence about panels cites
    assert done["type"] == "done" and [c["doc_id"] for c in done["citations"]] == ["solar"]
    assert done["finish_reason"] == "stop" and done["citations"][0]["sentences"][0]["start"] == 0


def test_citations_parse_numbers_that_exist():
    sources = [{"n": 1, "doc_id": "a", "title": "A", "position": 0}, {"n": 2, "doc_id": "b", "title": "B",
                                                                        "position": 3}]
    assert [c["doc_id"] for c in citations("x [2] y [1][2] [7]", sources)] == ["b", "a"]
    assert citations("no citations", sources) == []


async def test_fast_bm25_equals_sqlite_bm25(kb):
    """The numpy scorer and SQLite's bm25() give the same ranking and scores, also after changes."""
    kb.create("bm25", chunk_tokens=24, chunk_overlap=4)
    words = ("cell cells cellular membrane protein proteins signal signalling pathway gene genes expression "
             "tumour growth factor receptor binding kinase mouse model").split() + [f"filler{i}" for i in range(200)]
    rng = np.random.default_rng(7)
    weights = 1 / np.arange(1, len(words) + 1)  # Zipf-like: some words common, most rare
    weights /= weights.sum()

    def text(n):
        return " ".join(rng.choice(words, size=n, p=weights))

    corpus = [docs.Document(f"d{i}", text(int(rng.integers(5, 80))), text(3)) for i in range(120)]
    await kb.ingest("bm25", corpus)
    queries = ["cells signalling pathway", "the protein and the genes", "mouse", "kinase receptor binding growth",
               "cell cells cellular", "nothingmatches"]

    def check():
        base = kb.store.base("bm25")
        for q in queries:
            fast = kb.store.lexical(base, q, 1000)
            slow = kb.store.lexical_sql(base, q, 1000)
            assert dict(fast) == pytest.approx(dict(slow), rel=1e-9), q  # same chunks, same scores
            assert [s for _, s in fast] == pytest.approx([s for _, s in slow], rel=1e-9), q  # same order

    check()
    await kb.ingest("bm25", [docs.Document("d3", "kinase kinase kinase mouse", "new"), *corpus[4:]])
    kb.remove_documents("bm25", ["d5", "d6"])
    check()
    base = kb.store.base("bm25")  # a word FTS5 reads as a phrase takes the SQLite path, same answer
    assert kb.store.lexical(base, "growth_factor", 5) == kb.store.lexical_sql(base, "growth_factor", 5)


async def test_grounding_joins_the_callers_system_message(kb):
    kb.create("energy")
    await kb.ingest("energy", ENERGY)
    messages, found = await kb.grounded_messages(
        "energy", [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "solar panels?"}],
        SearchOptions(k=2))
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"].startswith("Be brief.\n\nAnswer the question")
    assert "[1] Solar" in messages[0]["content"] and found["results"][0]["n"] == 1


async def test_a_recreated_base_never_reuses_a_cached_index(kb, settings):
    """Another process deletes and recreates a base: this process's caches must not serve the old one."""
    kb.create("b")
    await kb.ingest("b", ENERGY)
    assert (await kb.search("b", "solar"))["results"][0]["doc_id"] == "solar"
    other = KnowledgeStore(settings.db_path("knowledge"))  # e.g. the CLI while a server runs
    other.delete("b")
    other.create("b", embedding_model="minilm-l6", chunk_tokens=254, chunk_overlap=31)
    other.close()
    await kb.ingest("b", [docs.Document("bread2", "Rye bread with seeds.", "Rye")])
    found = await kb.search("b", "solar bread", SearchOptions(k=5))
    assert [r["doc_id"] for r in found["results"]] == ["bread2"]
