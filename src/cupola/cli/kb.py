"""`cupola kb`: knowledge bases — create, ingest, search, ask, evaluate."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from cupola.cli.common import (knowledge_service, LocalOpt, UrlOpt, console, count_bars, err_console, fail, handle_errors, load_settings,
                               model_client)
from cupola.config import Settings
from cupola.knowledge.retrieval import SearchOptions
from cupola.knowledge.service import KnowledgeService
from cupola.knowledge.store import KnowledgeStore

app = typer.Typer(help="Knowledge bases: hybrid search over your documents, grounded answers with citations.",
                  no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="Knowledge base name")]
ModeOpt = Annotated[str, typer.Option("--mode", "-m", help="lexical, semantic or hybrid")]
KOpt = Annotated[int, typer.Option("-k", help="How many results")]
FusionOpt = Annotated[str, typer.Option("--fusion", help="Hybrid fusion: rrf or weighted")]
RrfOpt = Annotated[float, typer.Option("--rrf-k", help="Reciprocal rank fusion constant")]
FilterOpt = Annotated[Optional[list[str]], typer.Option(
    "--filter", "-f", help="Metadata filter KEY=VALUE (repeatable; VALUE may be JSON, e.g. year={\"$gte\": 2020})")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _store(settings: Settings) -> KnowledgeStore:
    return KnowledgeStore(settings.db_path("knowledge"))


def _service(settings: Settings, url: str | None = None, local: bool = False) -> KnowledgeService:
    return knowledge_service(settings, model_client(settings, url, local))


def _filters(items: list[str] | None) -> dict[str, Any] | None:
    if not items:
        return None
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            fail(f"--filter {item!r} is not KEY=VALUE", "e.g. --filter tags=faq or --filter 'year={\"$gte\": 2020}'")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _closing(service: KnowledgeService, coro: Any) -> Any:
    try:
        return await coro
    finally:
        await service.client.aclose()
        service.store.close()


@app.command()
@handle_errors
def create(name: NameArg,
           embedding_model: Annotated[Optional[str], typer.Option(help="Embedding model alias")] = None,
           chunk_tokens: Annotated[Optional[int], typer.Option(help="Chunk size in tokens (default: the embedding "
                                                                    "model's maximum input)")] = None,
           chunk_overlap: Annotated[Optional[int], typer.Option(help="Overlap in tokens (default: 1/8 of a chunk)")] = None,
           description: Annotated[str, typer.Option(help="What is in it")] = "") -> None:
    """Create an empty knowledge base."""
    service = _service(load_settings(), local=True)  # no model runs: the runtime stays empty

    async def go() -> Any:
        return service.create(name, embedding_model=embedding_model, chunk_tokens=chunk_tokens,
                              chunk_overlap=chunk_overlap, description=description)

    base = _run(_closing(service, go()))
    console.print(f"created knowledge base [bold]{base.name}[/] (embeddings: {base.embedding_model}, chunks of "
                  f"{base.chunk_tokens} tokens overlapping by {base.chunk_overlap}); add documents with "
                  f"`cupola kb ingest {base.name} PATH`", highlight=False)


@app.command()
@handle_errors
def ingest(name: NameArg,
           paths: Annotated[list[Path], typer.Argument(help="Files or folders (Markdown, text, HTML, PDF)")],
           prune: Annotated[bool, typer.Option(help="Remove documents that came from these folders and are gone")] = False,
           create: Annotated[bool, typer.Option("--create", help="Create the base if it does not exist")] = False,
           url: UrlOpt = None, local: LocalOpt = False, as_json: JsonOpt = False) -> None:
    """Add or update documents. Unchanged files are skipped; changed ones are replaced atomically.

    Files whose content is binary (whatever their name) are skipped and listed with the reason;
    files that cannot be read (a broken PDF, bad front matter) are listed as failed and make the
    exit status 1. What the PDF reader repaired is listed as a warning."""
    settings = load_settings()
    service = _service(settings, url, local)
    if create and not any(b.name == name for b in service.store.list()):
        service.create(name)

    async def go() -> Any:
        with count_bars() as progress:
            return await service.ingest_paths(name, paths, prune=prune, progress=progress)

    report = _run(_closing(service, go()))
    if as_json:
        console.print_json(data=report.as_dict())
        if report.failed:
            raise typer.Exit(1)
        return
    rate = f", {report.chunks / report.seconds:.1f} chunks/s" if report.chunks and report.seconds else ""
    console.print(f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
                  f"{report.removed} removed; {report.chunks} chunks indexed, {report.embedded} embedded "
                  f"in {report.seconds:.1f}s{rate}", highlight=False)
    for warning in report.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    for note in report.file_warnings:
        err_console.print(f"[yellow]warning:[/] {note['source']}: {note['warning']}", highlight=False)
    for skip in report.skipped:
        err_console.print(f"[yellow]skipped[/] {skip['source']}: {skip['reason']}", highlight=False)
    for failure in report.failed:
        err_console.print(f"[red]failed[/] {failure['source']}: {failure['error']}", highlight=False)
    if report.failed:
        raise typer.Exit(1)


@app.command("list")
@handle_errors
def list_bases(as_json: JsonOpt = False) -> None:
    """List knowledge bases."""
    bases = [b.describe() for b in _store(load_settings()).list()]
    if as_json:
        console.print_json(data=bases)
        return
    table = Table("NAME", "DOCUMENTS", "CHUNKS", "EMBEDDED", "EMBEDDING MODEL", "DESCRIPTION")
    for b in bases:
        table.add_row(b["name"], str(b["documents"]), str(b["chunks"]), str(b["chunks_embedded"]),
                      b["embedding_model"] or "-", b["description"])
    console.print(table)


@app.command()
@handle_errors
def show(name: NameArg, limit: Annotated[int, typer.Option(help="Documents to list")] = 50,
         as_json: JsonOpt = False) -> None:
    """Show a knowledge base: settings, counts and its documents."""
    store = _store(load_settings())
    base = store.get(name)
    documents = store.documents(base, limit=limit)
    if as_json:
        console.print_json(data={**base.describe(), "documents_list": documents})
        return
    info = base.describe()
    for key in ("name", "description", "embedding_model", "chunk_tokens", "chunk_overlap", "documents", "chunks",
                "chunks_embedded"):
        console.print(f"[bold]{key:>16}[/]  {info[key]}", highlight=False)
    table = Table("DOC ID", "TITLE", "CHUNKS", "CHARS", "METADATA")
    for d in documents:
        table.add_row(d["doc_id"], d["title"], str(d["chunks"]), str(d["chars"]),
                      json.dumps(d["metadata"])[:60] if d["metadata"] else "")
    console.print(table)
    if base.documents > limit:
        console.print(f"[dim]... {base.documents - limit} more (use --limit)[/]")


@app.command()
@handle_errors
def search(name: NameArg, query: Annotated[str, typer.Argument(help="What to look for")],
           mode: ModeOpt = "hybrid", k: KOpt = 5, fusion: FusionOpt = "rrf", rrf_k: RrfOpt = 60.0,
           filter: FilterOpt = None, url: UrlOpt = None, local: LocalOpt = False, as_json: JsonOpt = False) -> None:
    """Search a knowledge base and show the ranked chunks with their scores."""
    settings = load_settings()
    options = SearchOptions(mode=mode, k=k, fusion=fusion, rrf_k=rrf_k, filters=_filters(filter))  # type: ignore[arg-type]
    service = _service(settings, url, local)
    found = _run(_closing(service, service.search(name, query, options)))
    if as_json:
        console.print_json(data=found)
        return
    if found["fallback"]:
        err_console.print(f"[yellow]note:[/] {found['fallback']}", highlight=False)
    if not found["results"]:
        console.print("no results")
    for i, r in enumerate(found["results"], 1):
        signals = ", ".join(f"{s} {v:.3f} (#{found_rank})" for s, v in r["scores"].items() if v is not None
                            for found_rank in [r["ranks"][s]])
        console.print(f"[bold]{i}. {r['title']}[/] [dim]{r['doc_id']} #{r['position']}  score {r['score']:.4f}"
                      f"  {signals}[/]", highlight=False)
        text = " ".join(r["text"].split())
        console.print(f"   {text[:300]}{'...' if len(text) > 300 else ''}", highlight=False)
    console.print(f"[dim]{found['mode']} search, {found['took_ms']:.1f} ms[/]")


@app.command()
@handle_errors
def ask(name: NameArg, question: Annotated[str, typer.Argument(help="The question")],
        model: Annotated[Optional[str], typer.Option("--model", help="Chat model")] = None,
        mode: ModeOpt = "hybrid", k: Annotated[int, typer.Option("-k", help="Sources to give the model")] = 4,
        filter: FilterOpt = None,
        max_tokens: Annotated[Optional[int], typer.Option("--max-tokens", "-n",
                                                          help="Longest answer in tokens (default 256)")] = None,
        temperature: Annotated[Optional[float], typer.Option("--temperature", "-t")] = None,
        seed: Annotated[Optional[int], typer.Option("--seed", help="Sampling seed (repeatable answers)")] = None,
        stop_loops: Annotated[bool, typer.Option("--stop-loops/--no-stop-loops",
                                                 help="End the answer where it starts repeating itself")] = True,
        url: UrlOpt = None, local: LocalOpt = False, as_json: JsonOpt = False) -> None:
    """Answer a question from a knowledge base, streaming, then list its sources: * marks the ones
    that support the answer's sentences (only retrieved sources are ever cited)."""
    settings = load_settings()
    options = SearchOptions(mode=mode, k=k, filters=_filters(filter))  # type: ignore[arg-type]
    params = {k_: v for k_, v in {"max_tokens": max_tokens, "temperature": temperature, "seed": seed,
                                  "stop_loops": stop_loops}.items() if v is not None}
    service = _service(settings, url, local)

    async def go() -> None:
        sources: list[dict[str, Any]] = []
        async for event in service.ask(name, question, model=model, options=options, **params):
            if as_json:  # one JSON object: the answer, its citations and sources (like /api/kb/{name}/ask)
                if event["type"] == "sources":
                    sources = event["sources"]
                elif event["type"] == "done":
                    console.print_json(data={"object": "knowledge.answer", "base": name, "sources": sources,
                                             **{k: v for k, v in event.items() if k != "type"}})
                continue
            if event["type"] == "sources":
                sources = event["sources"]
                if event["fallback"]:
                    err_console.print(f"[yellow]note:[/] {event['fallback']}", highlight=False)
            elif event["type"] == "delta":
                console.out(event["text"], end="", highlight=False)
            elif event["type"] == "done":
                console.out("")
                if event.get("note"):
                    err_console.print(f"[yellow]note:[/] {event['note']}", highlight=False)
                elif event.get("finish_reason") == "length":
                    err_console.print("[yellow]note:[/] the answer reached its token limit (--max-tokens)",
                                      highlight=False)
                cited = {c["n"] for c in event["citations"]}
                console.print("\n[bold]Sources[/]" + ("" if cited else " [dim](the answer cites none)[/]"))
                for s in sources:
                    mark = "*" if s["n"] in cited else " "
                    console.print(f" {mark}[{s['n']}] {s['title']} [dim]({s['doc_id']} #{s['position']})[/]",
                                  highlight=False)

    _run(_closing(service, go()))


@app.command("rm")
@handle_errors
def remove(name: NameArg,
           doc: Annotated[Optional[list[str]], typer.Option("--doc", help="Remove only these document ids")] = None,
           yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask")] = False) -> None:
    """Delete a knowledge base, or only some of its documents with --doc."""
    store = _store(load_settings())
    base = store.get(name)
    if doc:
        removed = store.remove(base, doc)
        console.print(f"removed {removed} of {len(doc)} documents from {name}")
        if removed < len(doc):
            raise typer.Exit(1)
        return
    if not yes and not typer.confirm(f"delete knowledge base {name} ({base.documents} documents)?"):
        raise typer.Exit(1)
    store.delete(name)
    console.print(f"deleted knowledge base {name}")


@app.command("eval")
@handle_errors
def evaluate(dataset: Annotated[Path, typer.Option("--dataset", "-d", help="BEIR-format folder")],
             mode: Annotated[Optional[list[str]], typer.Option("--mode", "-m", help="Modes (repeatable; default all)")] = None,
             base: Annotated[Optional[str], typer.Option(help="Knowledge base to index the corpus in "
                                                              "(default beir-<folder>; kept for reuse)")] = None,
             split: Annotated[Optional[str], typer.Option(help="qrels split (default test, dev or train)")] = None,
             limit: Annotated[Optional[int], typer.Option(help="Evaluate only the first N queries")] = None,
             fusion: FusionOpt = "rrf", rrf_k: RrfOpt = 60.0,
             out: Annotated[Optional[Path], typer.Option(help="Also write the results as JSON here")] = None,
             url: UrlOpt = None, local: LocalOpt = False, as_json: JsonOpt = False) -> None:
    """Measure retrieval on a BEIR dataset: nDCG@10, Recall@10/100, MRR@10 and latency per mode."""
    from cupola.knowledge.evaluation import Dataset
    from cupola.knowledge.evaluation import evaluate as run_eval

    settings = load_settings()
    data = Dataset.load(dataset, split)
    modes = mode or ["lexical", "semantic", "hybrid"]
    options = SearchOptions(fusion=fusion, rrf_k=rrf_k)  # type: ignore[arg-type]
    for m in modes:
        SearchOptions(mode=m)  # type: ignore[arg-type]  # validates
    name = base or "beir-" + "".join(c if c.isalnum() or c in "-_." else "-" for c in dataset.resolve().name)
    service = _service(settings, url, local)

    async def go() -> dict[str, Any]:
        if not any(b.name == name for b in service.store.list()):
            service.create(name, description=f"BEIR corpus from {dataset.resolve()}")
        else:
            err_console.print(f"reusing knowledge base {name}; `cupola kb rm {name}` deletes it", highlight=False)
        with count_bars() as progress:
            report = await service.ingest(name, data.corpus(), total=data.corpus_size(), progress=progress)
            result = await run_eval(service, data, name, modes, options=options, limit=limit, progress=progress)
        result["ingest"] = report.as_dict()
        return result

    result = _run(_closing(service, go()))
    if out:
        out.write_text(json.dumps(result, indent=2))
    if as_json:
        console.print_json(data=result)
        return
    table = Table("MODE", "nDCG@10", "Recall@10", "Recall@100", "MRR@10", "p50 ms", "p95 ms",
                  title=f"{dataset} ({data.split}: {result['queries']} queries)")
    for m, r in result["modes"].items():
        label = m if r["used_mode"] == m else f"{m} (fell back to {r['used_mode']})"
        table.add_row(label, f"{r['ndcg@10']:.4f}", f"{r['recall@10']:.4f}", f"{r['recall@100']:.4f}",
                      f"{r['mrr@10']:.4f}", f"{r['latency_ms']['p50']:.1f}", f"{r['latency_ms']['p95']:.1f}")
    console.print(table)
