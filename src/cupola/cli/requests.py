"""`cupola requests`: the request log with each request's execution contract — list, show, diff, replay."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from cupola.cli.common import UrlOpt, console, err_console, fail, handle_errors, load_settings
from cupola.config import parse_duration
from cupola.runtime import contract
from cupola.runtime.records import RequestLog

app = typer.Typer(help="The request log: every model call with its execution contract (what went in, how it "
                       "was decoded, where and how it ran). Show one, diff two, replay one.", no_args_is_help=True)

IdArg = Annotated[str, typer.Argument(help="A request id (a unique prefix is enough)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _log() -> RequestLog:
    return RequestLog(load_settings().db_path("requests"))


def _get(log: RequestLog, request_id: str) -> dict[str, Any]:
    found = log.get(request_id)
    if found is None:
        fail(f"no request {request_id!r} in this home's log", "`cupola requests list` shows recent ones")
    return found  # type: ignore[return-value]


@app.command("list")
@handle_errors
def list_requests(model: Annotated[Optional[str], typer.Option(help="Only this model (run or requested)")] = None,
                  since: Annotated[Optional[str], typer.Option(help="Only the last N (e.g. 10m, 2h, 1d)")] = None,
                  status: Annotated[Optional[str], typer.Option(help="ok, error, cancelled or rejected")] = None,
                  limit: Annotated[int, typer.Option("-n", help="How many")] = 30, as_json: JsonOpt = False) -> None:
    """Recent requests, newest first."""
    after = None
    if since:
        try:
            seconds = parse_duration(since[:-1] + "h") * 24 if since.endswith("d") else parse_duration(since)
        except ValueError as exc:
            fail(str(exc), "e.g. --since 10m, 2h or 1d")
        after = time.time() - (seconds or 0)
    log = _log()
    try:
        rows = log.recent(limit, model=model, status=status, since=after)
    finally:
        log.close()
    if as_json:
        console.print_json(data=rows)
        return
    table = Table("ID", "WHEN", "ENDPOINT", "MODEL", "STATUS", "TOKENS IN/OUT", "TTFT MS", "MS", "TRACE")
    for r in rows:
        model_text = r["model"] if r.get("requested") in (None, r["model"]) else f"{r['model']} (asked {r['requested']})"
        table.add_row(r["id"], time.strftime("%H:%M:%S", time.localtime(r["created_at"])), r["endpoint"], model_text,
                      r["status"], f"{r['prompt_tokens'] or '-'}/{r['completion_tokens'] or '-'}",
                      f"{r['ttft_ms']:.0f}" if r["ttft_ms"] is not None else "-",
                      f"{r['duration_ms']:.0f}" if r["duration_ms"] is not None else "-", (r.get("trace_id") or "-")[:12])
    console.print(table)


@app.command()
@handle_errors
def show(request_id: IdArg, as_json: JsonOpt = False) -> None:
    """One request and its execution contract, readable."""
    log = _log()
    try:
        row = _get(log, request_id)
    finally:
        log.close()
    if as_json:
        console.print_json(data=row)
        return
    console.print(f"[bold]{row['id']}[/]  {row['endpoint']}  {row['status']}"
                  + (f"  error: {row['error']}" if row.get("error") else ""), highlight=False)
    c = row.get("contract") or {}
    for section in ("input", "shaping", "decode", "execution", "trace"):
        value = c.get(section)
        if not value:
            continue
        table = Table(title=section, show_header=False, title_justify="left", box=None)
        items = value.items() if isinstance(value, dict) else ((v.get("what"), v.get("detail")) for v in value)
        for key, v in items:
            if v is not None:
                table.add_row(f"  {key}", json.dumps(v) if isinstance(v, (dict, list)) else str(v))
        console.print(table)
    content = row.get("content")
    if content:
        console.rule("content (captured)")
        console.print_json(data=content)
    else:
        err_console.print("[dim]content not captured (set capture_content = true to keep messages and outputs)[/]")


@app.command()
@handle_errors
def diff(a: IdArg, b: Annotated[str, typer.Argument(help="The other request id")], as_json: JsonOpt = False) -> None:
    """Which contract fields differ between two requests: the first place to look when answers differ."""
    log = _log()
    try:
        ra, rb = _get(log, a), _get(log, b)
    finally:
        log.close()
    changes = contract.diff(ra.get("contract") or {}, rb.get("contract") or {})
    meaningful = contract.meaningful(changes)
    if as_json:
        console.print_json(data={"a": ra["id"], "b": rb["id"],
                                 "differences": [{"field": f, "a": x, "b": y} for f, x, y in meaningful],
                                 "also_different": [{"field": f, "a": x, "b": y} for f, x, y in changes
                                                    if (f, x, y) not in meaningful]})
        return
    if not meaningful:
        console.print("the contracts agree on everything that decides an answer (input, decoding, model, engine)")
    else:
        table = Table("FIELD", ra["id"], rb["id"])
        for field, x, y in meaningful:
            table.add_row(field, _short(x), _short(y))
        console.print(table)
    other = [f for f, _, _ in changes if not any(f == m[0] for m in meaningful)]
    if other:
        err_console.print(f"[dim]also different (timing, load, ids): {', '.join(other)}[/]")


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 70 else text[:67] + "..."


@app.command()
@handle_errors
def replay(request_id: IdArg,
           n: Annotated[int, typer.Option("--n", help="How many times to replay")] = 1,
           url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Run a request again with the same contract (needs captured content) and say whether the output is
    byte-identical, and where it diverges."""
    from cupola.replay import replay as run_replay

    if n < 1:
        fail("--n must be at least 1")
    settings = load_settings()
    log = _log()
    try:
        row = _get(log, request_id)
    finally:
        log.close()
    report = asyncio.run(run_replay(settings, row, n, url))
    if as_json:
        console.print_json(data=report)
    else:
        for i, run in enumerate(report["runs"], 1):
            if run["identical"]:
                console.print(f"replay {i}: [green]byte-identical[/] ({run['chars']} characters)")
            else:
                where = run["divergence"]
                console.print(f"replay {i}: [yellow]differs[/] at token {where['token']} (character {where['char']}): "
                              f"original {where['original']!r}, replay {where['replay']!r}", highlight=False)
        console.print(f"{report['identical']}/{report['n']} identical")
    if report["identical"] != report["n"]:
        raise typer.Exit(1)
