"""`cupola trace`: traces recorded locally (no collector needed) — list them, show one as a tree."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.tree import Tree

from cupola.cli.common import console, fail, handle_errors, load_settings
from cupola.tracing import SpanStore

app = typer.Typer(help="Traces of model calls, agents, tools, workflow steps and knowledge searches, recorded "
                       "locally in traces.db (and exported over OTLP when configured).", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _store() -> SpanStore:
    path = load_settings().home / "traces.db"
    if not Path(path).exists():
        fail("no traces recorded in this home yet", "traces are recorded when tracing is local (the default) or otlp")
    return SpanStore(path)


@app.command("list")
@handle_errors
def list_traces(limit: Annotated[int, typer.Option("-n", help="How many")] = 20, as_json: JsonOpt = False) -> None:
    """Recent traces: their root span, how many spans, how long."""
    store = _store()
    try:
        rows = store.recent_traces(limit)
    finally:
        store.shutdown()
    if as_json:
        console.print_json(data=rows)
        return
    table = Table("TRACE", "WHEN", "ROOT", "SPANS", "MS")
    for r in rows:
        table.add_row(r["trace_id"], time.strftime("%H:%M:%S", time.localtime(r["start_ns"] / 1e9)), r["root"] or "-",
                      str(r["spans"]), f"{(r['end_ns'] - r['start_ns']) / 1e6:.0f}")
    console.print(table)


@app.command()
@handle_errors
def show(trace_id: Annotated[str, typer.Argument(help="A trace id (a unique prefix is enough)")],
         as_json: JsonOpt = False) -> None:
    """A trace as a tree of spans, with durations and token counts."""
    store = _store()
    try:
        spans = store.trace(trace_id)
        if not spans:
            matches = [t["trace_id"] for t in store.recent_traces(10_000) if t["trace_id"].startswith(trace_id)]
            if len(matches) == 1:
                spans = store.trace(matches[0])
    finally:
        store.shutdown()
    if not spans:
        fail(f"no trace {trace_id!r} recorded in this home", "`cupola trace list` shows recent ones")
    if as_json:
        console.print_json(data=spans)
        return
    console.print(render(spans))


def render(spans: list[dict[str, Any]]) -> Tree:
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for s in spans:
        parent = s["parent_id"] if s["parent_id"] in ids else None
        children.setdefault(parent, []).append(s)
    total = max(s["end_ns"] for s in spans) - min(s["start_ns"] for s in spans)
    tree = Tree(f"[bold]trace {spans[0]['trace_id']}[/] ({len(spans)} spans, {total / 1e6:.0f} ms)")

    def add(node: Tree, parent: str | None) -> None:
        for s in sorted(children.get(parent, []), key=lambda x: x["start_ns"]):
            add(node.add(_label(s)), s["span_id"])

    add(tree, None)
    return tree


def _label(s: dict[str, Any]) -> str:
    a = s["attributes"]
    parts = [f"[bold]{s['name']}[/]", f"{(s['end_ns'] - s['start_ns']) / 1e6:.0f} ms"]
    if a.get("gen_ai.usage.input_tokens") is not None or a.get("gen_ai.usage.output_tokens") is not None:
        parts.append(f"tokens {a.get('gen_ai.usage.input_tokens', '-')} in / {a.get('gen_ai.usage.output_tokens', '-')} out")
    if a.get("gen_ai.response.model") and a.get("gen_ai.response.model") not in s["name"]:
        parts.append(f"model {a['gen_ai.response.model']}")
    if a.get("cupola.knowledge.results") is not None:
        parts.append(f"{a['cupola.knowledge.results']} results ({a.get('cupola.knowledge.mode_used')})")
    if s["status"] == "ERROR":
        parts.append(f"[red]error {a.get('error.type', '')}[/]")
    return "  ".join(parts)


def dumps(spans: list[dict[str, Any]]) -> str:
    return json.dumps(spans, indent=2)
