"""Benchmark two model paths on one prompt set (`cupola router bench`), as RouteLens reports it.

Each prompt (JSONL: ``prompt``, ``category``, optional ``id`` and ``expect``) is sent ``runs`` times
through each path — two routers, a router and a fixed model, or two upstream models — with
``concurrency`` requests in flight, streamed so that time to first token is measured. Every
response is logged; the report gives, per path and category: success rate, p50/p95 latency,
tokens/s, which models answered, and the prompts the two paths sent to different models.

``expect`` makes success checkable: ``{"contains": "paris"}`` (case-insensitive), ``{"regex": ...}``,
``{"equals": ...}`` or ``{"any": ["a", "b"]}``; without it, success is a non-empty answer.
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from cupola import jsonl
from cupola.errors import CupolaError, InvalidParameter


def read_prompts(path: Path) -> list[dict[str, Any]]:
    out = []
    for number, row in jsonl.rows(path, required="prompt"):
        row.setdefault("id", f"p{number}")
        row.setdefault("category", "general")
        out.append(row)
    if not out:
        raise InvalidParameter(f"{path} has no prompts")
    return out


def check(expect: Any, text: str) -> bool:
    if not expect:
        return bool(text.strip())
    low = text.lower()
    if "contains" in expect:
        return str(expect["contains"]).lower() in low
    if "any" in expect:
        return any(str(v).lower() in low for v in expect["any"])
    if "regex" in expect:
        return re.search(expect["regex"], text, re.I | re.S) is not None
    if "equals" in expect:
        return text.strip().lower() == str(expect["equals"]).strip().lower()
    return bool(text.strip())


async def _one(client: Any, path: str, row: dict[str, Any], run: int, max_tokens: int) -> dict[str, Any]:
    started = time.perf_counter()
    first, text, model, usage, error = None, "", None, None, None
    try:
        async for chunk in client.stream(path, [{"role": "user", "content": row["prompt"]}], max_tokens=max_tokens,
                                         seed=run, stream_options={"include_usage": True}):
            model = chunk.get("model") or model
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content") or ""
                if piece and first is None:
                    first = time.perf_counter()
                text += piece
    except CupolaError as exc:
        error = exc.message
    ended = time.perf_counter()
    tokens = (usage or {}).get("completion_tokens")
    decode = ended - (first or ended)
    return {"path": path, "run": run, "id": row["id"], "category": row["category"], "prompt": row["prompt"],
            "model": model, "ok": error is None, "success": error is None and check(row.get("expect"), text),
            "latency_ms": round((ended - started) * 1000, 1),
            "ttft_ms": round(((first or ended) - started) * 1000, 1), "completion_tokens": tokens,
            "tokens_per_s": round(tokens / decode, 2) if tokens and decode > 0 else None,
            "text": text, "error": error}


async def run(client: Any, rows: list[dict[str, Any]], paths: list[str], *, runs: int = 1, concurrency: int = 4,
              max_tokens: int = 128, progress: Any = None) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    started = time.time()
    for r in range(runs):
        for path in paths:
            gate = asyncio.Semaphore(concurrency)

            async def bounded(row: dict[str, Any]) -> dict[str, Any]:
                async with gate:
                    return await _one(client, path, row, r, max_tokens)

            done = await asyncio.gather(*(bounded(row) for row in rows))
            results += done
            if progress is not None:
                ok = sum(d["success"] for d in done)
                progress.print(f"[dim]run {r + 1}/{runs} {path}: {ok}/{len(done)} succeeded[/]")
    return {"paths": paths, "runs": runs, "concurrency": concurrency, "max_tokens": max_tokens,
            "prompts": len(rows), "started_at": started, "results": results}


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(round(q * (len(values) - 1))))], 1)


def _stats(items: list[dict[str, Any]]) -> dict[str, Any]:
    lat = [i["latency_ms"] for i in items if i["ok"]]
    tps = [i["tokens_per_s"] for i in items if i["tokens_per_s"]]
    return {"n": len(items), "success_rate": round(sum(i["success"] for i in items) / len(items), 4) if items else 0,
            "errors": sum(not i["ok"] for i in items), "p50_ms": _pct(lat, 0.5), "p95_ms": _pct(lat, 0.95),
            "tokens_per_s": round(statistics.mean(tps), 2) if tps else None,
            "models": dict(Counter(i["model"] or "(error)" for i in items))}


def summary(report: dict[str, Any]) -> dict[str, Any]:
    res = report["results"]
    by_path: dict[str, Any] = {}
    for path in report["paths"]:
        mine = [r for r in res if r["path"] == path]
        cats: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in mine:
            cats[r["category"]].append(r)
        by_path[path] = {"all": _stats(mine), "categories": {c: _stats(v) for c, v in sorted(cats.items())}}
    a, b = report["paths"]
    models: dict[tuple[str, int], dict[str, Any]] = {}
    for r in res:
        models.setdefault((r["id"], r["run"]), {})[r["path"]] = r
    differ = [{"id": k[0], "run": k[1], "category": v[a]["category"], "prompt": v[a]["prompt"][:120],
               a: v[a]["model"], b: v[b]["model"]}
              for k, v in models.items() if a in v and b in v and v[a]["model"] != v[b]["model"]]
    return {k: v for k, v in report.items() if k != "results"} | {"by_path": by_path, "routed_differently": differ}


def write(report: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{out}.jsonl", "w") as fh:
        for r in report["results"]:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    data = summary(report)
    Path(f"{out}.json").write_text(json.dumps(data, indent=2))
    Path(f"{out}.md").write_text(markdown(data))


def markdown(data: dict[str, Any]) -> str:
    lines = [f"# Router bench: {' vs '.join(data['paths'])}", "",
             f"{data['prompts']} prompts x {data['runs']} runs, concurrency {data['concurrency']}, "
             f"max_tokens {data['max_tokens']}.", "",
             "| path | category | n | success | p50 ms | p95 ms | tok/s | models |", "|---|---|---|---|---|---|---|---|"]
    for path, stats in data["by_path"].items():
        for cat, s in [("**all**", stats["all"]), *stats["categories"].items()]:
            models = ", ".join(f"{m} {n}" for m, n in s["models"].items())
            lines.append(f"| {path} | {cat} | {s['n']} | {s['success_rate']:.0%} | {s['p50_ms']} | {s['p95_ms']} | "
                         f"{s['tokens_per_s']} | {models} |")
    differ = data["routed_differently"]
    lines += ["", f"## Routed to different models ({len(differ)})", ""]
    if differ:
        a, b = data["paths"]
        lines += [f"| id | category | {a} | {b} | prompt |", "|---|---|---|---|---|"]
        lines += [f"| {d['id']} | {d['category']} | {d[a]} | {d[b]} | {d['prompt'].replace('|', '/')} |"
                  for d in differ[:100]]
    return "\n".join(lines) + "\n"


def print_tables(report: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    data = summary(report)
    table = Table("PATH", "CATEGORY", "N", "SUCCESS", "P50 MS", "P95 MS", "TOK/S", "MODELS",
                  title=f"{data['prompts']} prompts x {data['runs']} runs, concurrency {data['concurrency']}")
    for path, stats in data["by_path"].items():
        for cat, s in [("all", stats["all"]), *stats["categories"].items()]:
            table.add_row(path, cat, str(s["n"]), f"{s['success_rate']:.0%}", str(s["p50_ms"]), str(s["p95_ms"]),
                          str(s["tokens_per_s"]), ", ".join(f"{m}: {n}" for m, n in s["models"].items()),
                          style="bold" if cat == "all" else None)
    console.print(table)
    differ = data["routed_differently"]
    console.print(f"{len(differ)} prompt runs were routed to different models by the two paths")
    for d in differ[:10]:
        a, b = data["paths"]
        console.print(f"  [{d['category']}] {d['prompt'][:70]!r}: {a}->{d[a]}, {b}->{d[b]}", highlight=False)
