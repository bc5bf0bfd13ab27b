"""Grounded answers: do they end, do they repeat, do they cite the right source? Before vs after.

A question set written for this bench (bench/grounded/questions.jsonl: 48 questions over the 12
shipped documents in examples/docs, 4 per document, each with the document that answers it; half
``dev`` — the only half tuned on — and half ``test``) is asked through the knowledge service's
``ask`` (what `cupola kb ask` and ``POST /api/kb/{name}/ask`` run) on the embedded models
(smollm2-135m answers, minilm-l6 embeds), with the same seed per question in every variant.

Variants, side by side in one run, each in its own process:

  before   the code as it was before grounded answers were fixed (``--before-src DIR``: a copy of
           its ``src``, e.g. ``git archive <commit> src | tar -x -C DIR``), called as the CLI called
           it: no max_tokens.
  after    the code in this tree, called as the CLI calls it now (its default max_tokens).

Per variant and split: citation precision (share of citations that point at the supporting
document), recall (share of answers citing at least one supporting document), answers with no
citation, answer length (completion tokens), repetition rate (answers with a sentence said twice or
an 8-word sequence said three times), finish_reason mix, and keyword accuracy (the answer contains
an expected fact). For "after" it also scores each way of citing on the same answers: the ``[n]``
markers the model wrote, the sentence matcher alone, and the two combined (what the service returns).

    PYTHONPATH=src python bench/grounded_answers.py --before-src /tmp/before/src [--split dev] [--limit N]

Writes bench/results/grounded_answers.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
QUESTIONS = BENCH / "grounded" / "questions.jsonl"
DOCS = ROOT / "examples" / "docs"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", nargs="?", default="compare", choices=["compare", "worker"])
    p.add_argument("--before-src", type=Path, help="a copy of the old code's src/ (skip 'before' without it)")
    p.add_argument("--models", type=Path, required=False,
                   help="a models folder holding smollm2-135m and minilm-l6 (pulled into a temp home if absent)")
    p.add_argument("--split", choices=["dev", "test", "all"], default="all")
    p.add_argument("--limit", type=int, default=None, help="only the first N questions of the split")
    p.add_argument("--per-doc", type=int, default=None, help="only the first N questions per document (a "
                   "stratified subset for a busy machine)")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--variant", default="after", help="(worker) the variant's name")
    p.add_argument("--out", type=Path, default=RESULTS / "grounded_answers")
    p.add_argument("--raw", type=Path, help="(worker) where to write the records")
    p.add_argument("--variants", default="before,after", help="which variants to run (comma-separated)")
    p.add_argument("--partial", action="store_true", help="with --reuse: report the records a stopped run kept "
                   "(<variant>.partial.jsonl) instead of running the variant")
    p.add_argument("--reuse", type=Path, help="a folder of earlier raw records (<variant>.json): reuse them "
                   "instead of running those variants again; new raw records are kept there too")
    return p.parse_args()


def questions(split: str, limit: int | None, per_doc: int | None = None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if split == "all" or r["split"] == split]
    if per_doc:
        rows = [r for r in rows if [x["id"] for x in rows if x["doc"] == r["doc"]].index(r["id"]) < per_doc]
    return rows[:limit] if limit else rows


# -- worker: one variant, in its own process (its own src on sys.path) --------------------------------

class Recorder:
    """Passes a client through and remembers each stream's finish_reason."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.finish: dict[str, str | None] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    async def embed(self, model: str, texts: list[str]) -> Any:
        return await self.client.embed(model, texts)

    async def chat(self, model: str, messages: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
        return await self.client.chat(model, messages, **params)

    async def stream(self, model: str, messages: list[dict[str, Any]], **params: Any):
        key = str(params.get("seed"))
        async for chunk in self.client.stream(model, messages, **params):
            for choice in chunk.get("choices") or []:
                if choice.get("finish_reason"):
                    self.finish[key] = choice["finish_reason"]
            yield chunk

    async def aclose(self) -> None:
        await self.client.aclose()


async def run_worker(args: argparse.Namespace) -> None:
    from cupola.client import LocalClient
    from cupola.config import Settings
    from cupola.knowledge.retrieval import SearchOptions
    from cupola.knowledge.service import KnowledgeService
    from cupola.knowledge.store import KnowledgeStore
    from cupola.models.store import ModelStore
    from cupola.runtime.runtime import Runtime

    # a busy machine: wait for a slot rather than be refused by admission (max_queue_wait)
    settings = Settings.load().settings.model_copy(update={"parallel": args.concurrency, "max_queue_wait": 3600.0})
    client = Recorder(LocalClient(Runtime(settings)))
    service = KnowledgeService(KnowledgeStore(settings.db_path("knowledge")), client,
                               models=ModelStore(settings.models_dir, offline=True))
    service.create("aurora")
    await service.ingest_paths("aurora", [DOCS])
    try:  # what `cupola kb ask` sends by default in this variant
        from cupola.knowledge.service import ASK_MAX_TOKENS as default_max  # type: ignore[attr-defined]
    except ImportError:
        default_max = None
    try:
        from cupola.knowledge import citing  # type: ignore[attr-defined]
    except ImportError:
        citing = None
    gate = asyncio.Semaphore(args.concurrency)

    async def one(i: int, q: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {"seed": 1000 + i}
        if default_max:
            params["max_tokens"] = default_max
        async with gate:
            started = time.perf_counter()
            sources: list[dict[str, Any]] = []
            done: dict[str, Any] = {}
            deltas = 0
            async for event in service.ask("aurora", q["question"], options=SearchOptions(k=4), **params):
                if event["type"] == "sources":
                    sources = event["sources"]
                elif event["type"] == "delta":
                    deltas += 1
                elif event["type"] == "done":
                    done = event
            seconds = time.perf_counter() - started
        answer = done.get("answer", "")
        record = {**q, "answer": answer, "seconds": round(seconds, 2),
                  "retrieved": [s["doc_id"] for s in sources],
                  "citations": [c["doc_id"] for c in done.get("citations", [])],
                  "finish_reason": done.get("finish_reason") or client.finish.get(str(params["seed"])),
                  # a stream stopped at a loop has no usage: its chunks (one token each) are counted
                  "completion_tokens": (done.get("usage") or {}).get("completion_tokens") or deltas,
                  "note": done.get("note")}
        if citing is not None:  # each way of citing, on the same answer
            methods = await citing.compare_methods(service, "aurora", answer, sources)
            record["methods"] = {m: [c["doc_id"] for c in cited] for m, cited in methods.items()}
        print(f"{record['id']}: {record['finish_reason']} {record['completion_tokens']} tok, "
              f"cites {record['citations']}", file=sys.stderr, flush=True)
        with args.raw.with_suffix(".partial.jsonl").open("a") as f:  # what a stopped run got done
            f.write(json.dumps(record) + "\n")
        return record

    rows = questions(args.split, args.limit, args.per_doc)
    try:
        records = await asyncio.gather(*(one(i, q) for i, q in enumerate(rows)))
    finally:
        await client.aclose()
    args.raw.write_text(json.dumps({"variant": args.variant, "max_tokens": default_max, "records": records}))


# -- scoring ------------------------------------------------------------------------------------------

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def repeats(answer: str) -> bool:
    """A sentence said twice, or an 8-word sequence said three times."""
    sentences = [" ".join(s.lower().split()) for s in _SENTENCE.split(answer)]
    sentences = [s for s in sentences if len(s.split()) >= 4]
    if any(n >= 2 for n in Counter(sentences).values()):
        return True
    words = answer.lower().split()
    grams = Counter(tuple(words[i:i + 8]) for i in range(len(words) - 7))
    return any(n >= 3 for n in grams.values())


def score(records: list[dict[str, Any]], cite_key: str | None = None) -> dict[str, Any]:
    """Citation precision/recall (over ``citations`` or ``methods[cite_key]``), length, repetition, finish."""
    def cited(r: dict[str, Any]) -> list[str]:
        return r["citations"] if cite_key is None else r.get("methods", {}).get(cite_key, [])

    n = len(records) or 1
    all_cites = [(r["doc"], d) for r in records for d in cited(r)]
    tokens = sorted(r["completion_tokens"] or 0 for r in records)
    return {
        "answers": len(records),
        "citation_precision": sum(doc == d for doc, d in all_cites) / len(all_cites) if all_cites else None,
        "citation_recall": sum(r["doc"] in cited(r) for r in records) / n,
        "uncited": sum(not cited(r) for r in records) / n,
        "outside_retrieved": sum(d not in r["retrieved"] for r in records for d in cited(r)),
        "retrieved_right_doc": sum(r["doc"] in r["retrieved"] for r in records) / n,
        "tokens_mean": sum(tokens) / n, "tokens_max": tokens[-1] if tokens else 0,
        "repetition_rate": sum(repeats(r["answer"]) for r in records) / n,
        "finish": dict(Counter(str(r["finish_reason"]) for r in records)),
        "keyword_accuracy": sum(any(e.lower() in r["answer"].lower() for e in r["expect"]) for r in records) / n,
        "seconds_mean": sum(r["seconds"] for r in records) / n,
    }


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def markdown(results: dict[str, Any], args: argparse.Namespace) -> str:
    lines = ["# Grounded answers: before and after", "",
             "Measured on 2 cores with nothing else running: lengths, citations and finish reasons do not depend "
             "on load, seconds do. DIR: the code before this work, `git archive 2a8aa32 src | tar -x -C DIR`.", "",
             f"Run: `PYTHONPATH=src python bench/grounded_answers.py --before-src DIR` (split {args.split}"
             f"{f', first {args.limit}' if args.limit else ''}{f', {args.per_doc} per document' if args.per_doc else ''}"
             "); questions in `bench/grounded/questions.jsonl` "
             "(48 over examples/docs, dev and test halves; only dev was used for tuning). smollm2-135m answers, "
             "minilm-l6 embeds, k=4 hybrid search, seed 1000+i per question in both variants.", ""]
    variants = list(results)
    for split in ("dev", "test", "all"):
        if not any(split in results[v]["scores"] for v in variants):
            continue
        lines += [f"## {split}", "", "| | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants)]
        rows = [("answers", lambda s: str(s["answers"])),
                ("citation precision (cited doc supports the answer)", lambda s: pct(s["citation_precision"])),
                ("citation recall (answers citing a right doc)", lambda s: pct(s["citation_recall"])),
                ("answers with no citation", lambda s: pct(s["uncited"])),
                ("citations outside the retrieved sources", lambda s: str(s["outside_retrieved"])),
                ("right doc among retrieved", lambda s: pct(s["retrieved_right_doc"])),
                ("answer length, mean tokens", lambda s: f"{s['tokens_mean']:.0f}"),
                ("answer length, max tokens", lambda s: str(s["tokens_max"])),
                ("repetition rate", lambda s: pct(s["repetition_rate"])),
                ("finish_reason", lambda s: ", ".join(f"{k} {v}" for k, v in sorted(s["finish"].items()))),
                ("keyword accuracy (expected fact in answer)", lambda s: pct(s["keyword_accuracy"])),
                ("seconds per answer, mean (4 at once)", lambda s: f"{s['seconds_mean']:.1f}")]
        for label, fmt in rows:
            lines.append(f"| {label} | " + " | ".join(fmt(results[v]["scores"][split]) if split in results[v]["scores"]
                                                      else "–" for v in variants) + " |")
        methods = {v: results[v]["methods"].get(split) for v in variants if results[v].get("methods")}
        for v, per in methods.items():
            if not per:
                continue
            lines += ["", f"Ways of citing, scored on the same {v} answers ({split}):", "",
                      "| method | precision | recall | no citation |", "|---|---|---|---|"]
            for m, s in per.items():
                lines.append(f"| {m} | {pct(s['citation_precision'])} | {pct(s['citation_recall'])} | {pct(s['uncited'])} |")
        lines.append("")
    base = variants[0]
    if len(variants) > 1 and "all" in results[base]["scores"]:
        b, a = results[base]["scores"]["all"], results[variants[-1]]["scores"]["all"]
        lines += ["## Ratios (after / before, all questions)", "",
                  f"- mean answer length: {a['tokens_mean'] / max(b['tokens_mean'], 1):.2f}x",
                  f"- seconds per answer: {a['seconds_mean'] / max(b['seconds_mean'], 0.01):.2f}x", ""]
    return "\n".join(lines)


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    records = raw["records"]
    out: dict[str, Any] = {"max_tokens": raw.get("max_tokens"), "scores": {}, "methods": {}}
    for split in ("dev", "test", "all"):
        subset = [r for r in records if split == "all" or r["split"] == split]
        if not subset:
            continue
        out["scores"][split] = score(subset)
        if any("methods" in r for r in subset):
            out["methods"][split] = {m: score(subset, m) for m in subset[0]["methods"]}
    return out


def run_variant(name: str, src: Path, args: argparse.Namespace, models: Path, work: Path) -> dict[str, Any]:
    home = work / name
    home.mkdir()
    (home / "models").symlink_to(models, target_is_directory=True)
    raw = (args.reuse or work) / f"{name}.json"
    if args.reuse and raw.exists():
        print(f"== {name}: reusing {raw}", file=sys.stderr, flush=True)
        return json.loads(raw.read_text())
    partial = raw.with_suffix(".partial.jsonl")
    if args.reuse and args.partial and partial.exists():
        records = [json.loads(line) for line in partial.read_text().splitlines() if line.strip()]
        print(f"== {name}: {len(records)} records of a stopped run ({partial})", file=sys.stderr, flush=True)
        return {"variant": name, "max_tokens": None, "partial": True, "records": records}
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUPOLA_")}
    env.update({"CUPOLA_HOME": str(home), "PYTHONPATH": str(src), "CUPOLA_OFFLINE": "1"})
    cmd = [sys.executable, str(Path(__file__).resolve()), "worker", "--variant", name, "--raw", str(raw),
           "--split", args.split, "--concurrency", str(args.concurrency)]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    if args.per_doc:
        cmd += ["--per-doc", str(args.per_doc)]
    print(f"== {name} ({src})", file=sys.stderr, flush=True)
    subprocess.run(cmd, env=env, check=True)
    return json.loads(raw.read_text())


def main() -> None:
    args = parse_args()
    if args.mode == "worker":
        asyncio.run(run_worker(args))
        return
    with tempfile.TemporaryDirectory(prefix="cupola-grounded-") as tmp:
        work = Path(tmp)
        models = args.models
        if models is None:
            from cupola.models.store import ModelStore
            models = work / "models"
            store = ModelStore(models)
            store.pull("smollm2-135m")
            store.pull("minilm-l6")
        wanted = args.variants.split(",")
        variants = {}
        if args.before_src and "before" in wanted:
            variants["before"] = args.before_src
        if "after" in wanted:
            variants["after"] = ROOT / "src"
        if args.reuse:
            args.reuse.mkdir(parents=True, exist_ok=True)
        raws = {name: run_variant(name, src, args, models.resolve(), work) for name, src in variants.items()}
    results = {name: summarize(raw) for name, raw in raws.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"results": results, "raw": raws}, indent=1))
    text = markdown(results, args)
    args.out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
