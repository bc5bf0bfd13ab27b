"""Knowledge-base retrieval: quality and latency on SciFact, ingest throughput vs raw ONNX Runtime.

In one run, on the same machine and data:

  quality   `cupola kb eval` on a BEIR dataset (--dataset DIR; default: the developers' SciFact copy):
            nDCG@10, Recall@10/100, MRR@10 and per-query latency (p50/p95, query embedding included,
            100 documents per query) for lexical (SQLite FTS5 BM25), semantic (minilm-l6 vectors),
            hybrid with reciprocal rank fusion, and hybrid with weighted min-max fusion.
  peer      rank_bm25's BM25Okapi (what LangChain's BM25Retriever runs) over the same corpus,
            whitespace/word tokens, the usual "samples" setup: quality and latency next to Cupola's
            lexical mode. Skipped when rank_bm25 is not installed (pip install rank_bm25).
  ingest    Cupola's ingest of the first N corpus documents (parse, chunk by model tokens, embed,
            write SQLite + FTS5 + vectors in transactions) in chunks/s, next to raw ONNX Runtime
            embedding exactly the same texts in exactly the same batches (the batches Cupola's
            engine ran, replayed with the tokenizer and session used directly).

Run from the repository root (the first run indexes the corpus, ~15 min on 2 cores; later runs
reuse the base in --home):

    .venv/bin/python bench/kb_retrieval.py [--dataset DIR] [--ingest-docs 300] [--skip-peer]

Writes bench/results/kb_retrieval.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
PUBLISHED = "published BEIR test-split nDCG@10: BM25 0.665 (BEIR) / 0.679 (Anserini), all-MiniLM-L6-v2 0.645"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "datasets" / "scifact")
    p.add_argument("--home", type=Path, default=BENCH / ".cupola-home-kb")
    p.add_argument("--ingest-docs", type=int, default=300, help="documents for the ingest throughput part")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N queries")
    p.add_argument("--skip-peer", action="store_true")
    p.add_argument("--skip-ingest", action="store_true")
    p.add_argument("--out", type=Path, default=RESULTS / "kb_retrieval")
    return p.parse_args()


class RecordingClient:
    """Passes calls through to the real client and remembers every embedding batch."""

    def __init__(self, client) -> None:
        self.client = client
        self.batches: list[list[str]] = []

    async def embed(self, model, texts):
        self.batches.append(list(texts))
        return await self.client.embed(model, texts)

    def __getattr__(self, name):
        return getattr(self.client, name)


def raw_onnx_seconds(model_dir: Path, batches: list[list[str]], batch_size: int = 32) -> float:
    """ONNX Runtime + tokenizers used directly on the same texts and batches: tokenize, pad, run,
    mean-pool, normalise. Same session options as Cupola (all cores, no spinning)."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.enable_truncation(max_length=256)
    tok.no_padding()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = os.cpu_count() or 1
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(model_dir / "model.onnx"), opts, providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    started = time.perf_counter()
    for texts in batches:
        enc = tok.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(enc[i].ids))
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            width = max(len(enc[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), np.int64)
            mask = np.zeros((len(idx), width), np.int64)
            for r, i in enumerate(idx):
                ids[r, :len(enc[i].ids)] = enc[i].ids
                mask[r, :len(enc[i].ids)] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = session.run(None, feeds)[0]
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(1) / m.sum(1)
            pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    return time.perf_counter() - started


async def ingest_part(service, recorder, dataset, n_docs: int, model_dir: Path) -> dict:
    from itertools import islice

    name = "bench-ingest"
    if any(b.name == name for b in service.store.list()):
        service.store.delete(name)
    service.create(name)
    docs = list(islice(dataset.corpus(), n_docs))
    recorder.batches.clear()
    await service.client.embed("minilm-l6", ["warm up"])  # load the model outside the timing
    recorder.batches.clear()
    report = await service.ingest(name, docs)
    batches = list(recorder.batches)
    raw = raw_onnx_seconds(model_dir, batches)
    texts = sum(len(b) for b in batches)
    service.store.delete(name)
    cupola_rate = report.chunks / report.seconds
    raw_rate = texts / raw
    return {"documents": n_docs, "chunks": report.chunks, "embedding_batches": len(batches),
            "cupola_seconds": round(report.seconds, 2), "raw_onnx_seconds": round(raw, 2),
            "cupola_chunks_per_s": round(cupola_rate, 1), "raw_onnx_chunks_per_s": round(raw_rate, 1),
            "ratio": round(cupola_rate / raw_rate, 3)}


def peer_part(dataset, limit: int | None) -> dict:
    from rank_bm25 import BM25Okapi

    from cupola.knowledge.evaluation import mrr_at, ndcg_at, percentile, recall_at

    words = re.compile(r"\w+")
    ids, corpus = [], []
    for doc in dataset.corpus():
        ids.append(doc.id)
        corpus.append(words.findall(f"{doc.title} {doc.text}".lower()))
    started = time.perf_counter()
    bm25 = BM25Okapi(corpus)
    build = time.perf_counter() - started
    qids = sorted(dataset.queries)[:limit] if limit else sorted(dataset.queries)
    sums = {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    lat = []
    for qid in qids:
        t = time.perf_counter()
        scores = bm25.get_scores(words.findall(dataset.queries[qid].lower()))
        top = np.argsort(-scores)[:100]
        lat.append((time.perf_counter() - t) * 1000)
        ranked = [ids[i] for i in top]
        judged = dataset.qrels[qid]
        sums["ndcg@10"] += ndcg_at(ranked, judged)
        sums["recall@10"] += recall_at(ranked, judged, 10)
        sums["recall@100"] += recall_at(ranked, judged, 100)
        sums["mrr@10"] += mrr_at(ranked, judged)
    n = len(qids)
    return {**{k: round(v / n, 4) for k, v in sums.items()}, "index_seconds": round(build, 2),
            "latency_ms": {"p50": round(percentile(lat, 50), 2), "p95": round(percentile(lat, 95), 2)}}


async def k10_latency(service, dataset, base: str, limit: int | None) -> dict:
    """Per-query wall time of service.search(k=10) in each mode, query embedding included."""
    from cupola.knowledge.evaluation import percentile
    from cupola.knowledge.retrieval import SearchOptions

    qids = sorted(dataset.queries)[:limit] if limit else sorted(dataset.queries)
    out = {}
    for mode in ("lexical", "semantic", "hybrid"):
        lat = []
        for qid in qids:
            t = time.perf_counter()
            await service.search(base, dataset.queries[qid], SearchOptions(mode=mode, k=10))
            lat.append((time.perf_counter() - t) * 1000)
        out[mode] = {"p50": round(percentile(lat, 50), 2), "p95": round(percentile(lat, 95), 2)}
    return out


async def main() -> None:
    args = parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from cupola.client import LocalClient
    from cupola.config import Settings
    from cupola.knowledge.evaluation import Dataset, evaluate
    from cupola.knowledge.retrieval import SearchOptions
    from cupola.knowledge.service import KnowledgeService
    from cupola.knowledge.store import KnowledgeStore
    from cupola.runtime.runtime import Runtime

    env = {k: v for k, v in os.environ.items() if not k.startswith("CUPOLA_")}
    settings = Settings.load({"home": args.home}, env).settings
    runtime = Runtime(settings)
    runtime.store.pull("minilm-l6")
    recorder = RecordingClient(LocalClient(runtime))
    service = KnowledgeService(KnowledgeStore(settings.db_path("knowledge")), recorder, models=runtime.store)
    dataset = Dataset.load(args.dataset)
    out: dict = {"dataset": str(args.dataset), "split": dataset.split, "machine": f"{os.cpu_count()} cores"}

    if not args.skip_ingest:
        print(f"ingest: {args.ingest_docs} documents, Cupola vs raw ONNX Runtime on the same batches ...", flush=True)
        out["ingest"] = await ingest_part(service, recorder, dataset, args.ingest_docs,
                                          runtime.store.info("minilm-l6").path)
        print(json.dumps(out["ingest"]), flush=True)

    base = "beir-" + args.dataset.resolve().name
    if not any(b.name == base for b in service.store.list()):
        service.create(base)
    print(f"indexing {dataset.corpus_size()} documents into {base} (skips what is already there) ...", flush=True)
    report = await service.ingest(base, dataset.corpus())
    out["index"] = report.as_dict()
    out["index"]["chunks_total"] = service.get(base).chunks
    modes = {}
    for label, mode, fusion in [("lexical", "lexical", "rrf"), ("semantic", "semantic", "rrf"),
                                ("hybrid (rrf)", "hybrid", "rrf"), ("hybrid (weighted)", "hybrid", "weighted")]:
        print(f"evaluating {label} ...", flush=True)
        result = await evaluate(service, dataset, base, [mode], options=SearchOptions(fusion=fusion),
                                limit=args.limit)
        modes[label] = result["modes"][mode]
        out["queries"] = result["queries"]
        print(label, json.dumps(modes[label]), flush=True)
    out["modes"] = modes
    print("latency of a typical search (k=10, hybrid rrf) ...", flush=True)
    out["search_k10"] = await k10_latency(service, dataset, base, args.limit)
    print(json.dumps(out["search_k10"]), flush=True)
    if not args.skip_peer:
        try:
            print("peer: rank_bm25 BM25Okapi ...", flush=True)
            out["peer_rank_bm25"] = peer_part(dataset, args.limit)
        except ImportError:
            print("rank_bm25 not installed; skipping the peer (pip install rank_bm25)")
    await runtime.close()
    service.store.close()
    write(out, args.out)


def write(out: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".json").write_text(json.dumps(out, indent=2))
    lines = [f"# Knowledge-base retrieval: {Path(out['dataset']).name} ({out['split']} split, "
             f"{out.get('queries')} queries), {out['machine']}", "",
             "| mode | nDCG@10 | Recall@10 | Recall@100 | MRR@10 | p50 ms | p95 ms |", "|---|---|---|---|---|---|---|"]
    rows = dict(out["modes"])
    if "peer_rank_bm25" in out:
        rows["peer: rank_bm25 BM25Okapi"] = out["peer_rank_bm25"]
    for label, m in rows.items():
        lines.append(f"| {label} | {m['ndcg@10']:.4f} | {m['recall@10']:.4f} | {m['recall@100']:.4f} | "
                     f"{m['mrr@10']:.4f} | {m['latency_ms']['p50']:.1f} | {m['latency_ms']['p95']:.1f} |")
    best_single = max(out["modes"]["lexical"]["ndcg@10"], out["modes"]["semantic"]["ndcg@10"])
    hybrid = out["modes"]["hybrid (rrf)"]["ndcg@10"]
    lines += ["", f"Hybrid (rrf) vs the best single mode on nDCG@10: {hybrid / best_single:.3f}x "
              f"({hybrid:.4f} vs {best_single:.4f}). {PUBLISHED} (not the same split).",
              "Latency: one search returning 100 documents (k=100, one chunk per document, 400 candidates per "
              "signal), query embedding included, in-process."]
    if "search_k10" in out:
        k10 = out["search_k10"]
        lines.append("Typical search (k=10, 50 candidates per signal, near-duplicate removal on): " + ", ".join(
            f"{m} p50 {v['p50']:.1f} ms / p95 {v['p95']:.1f} ms" for m, v in k10.items()) + " (target: hybrid p95 <= 30 ms).")
    if "peer_rank_bm25" in out:
        peer = out["peer_rank_bm25"]
        lex = out["modes"]["lexical"]
        lines.append(f"Cupola lexical vs rank_bm25: nDCG@10 {lex['ndcg@10'] / peer['ndcg@10']:.3f}x, "
                     f"p95 latency {lex['latency_ms']['p95'] / peer['latency_ms']['p95']:.3f}x.")
    if "ingest" in out:
        i = out["ingest"]
        lines += ["", f"Ingest of {i['documents']} documents ({i['chunks']} chunks): Cupola "
                  f"{i['cupola_chunks_per_s']} chunks/s, raw ONNX Runtime on the same batches "
                  f"{i['raw_onnx_chunks_per_s']} chunks/s: ratio {i['ratio']:.3f}."]
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
