"""Tool-calling accuracy on smollm2-135m: Cupola's adapter vs. the same tools sent straight to llama.cpp.

Cases live in bench/tool_calling_cases.jsonl (one JSON object a line: id, category, tools in OpenAI
format, the user message, and the expected calls). Categories: single (one tool, call it), choice
(3-5 tools, pick the right one), parallel (two calls needed; parallel_tool_calls=true) and no_call
(tools offered, but the message is small talk: no call expected).

Configurations, on the same cases and the same model/settings, one server at a time:

  cupola           `python -m cupola serve`, tool_choice "auto" (adapter: tools in the system
                   prompt + llguidance grammar; "auto" routed by embedding relevance)
  baseline         llama.cpp's own HTTP server embedded in xllamacpp, the same OpenAI request
                   (tools, tool_choice "auto") with no adapter in between
  cupola-required  Cupola with tool_choice "required", call cases only

Metrics per response: "called" (at least one tool call), "valid" (every call names an offered tool
and its arguments are a JSON object that validates against that tool's schema; share of responses
with calls), "right" (exactly the expected function names; for no_call: no call), "exact" (right
names and arguments equal after normalising: numbers as numbers, strings stripped and
case-insensitive), "content_call" (no tool_calls, but the content looks like a call).

Run (from the repository root, ~10 minutes on 2 cores):

    .venv/bin/python bench/tool_calling.py [--configs cupola baseline cupola-required] [--limit N]

Writes bench/results/tool_calling.{json,md}; server logs go to bench/results/logs/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import jsonschema

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
MODEL = "smollm2-135m"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Cupola runs in its own home (server.json, databases) whose models/ links to bench/.cupola-home's,
# so that another benchmark using bench/.cupola-home at the same time is not disturbed.
SHARED_HOME = BENCH / ".cupola-home"
HOME = BENCH / ".cupola-home-tools"
CATEGORIES = ("single", "choice", "parallel", "no_call")
SAMPLING = {"temperature": 0.2, "top_p": 0.95, "top_k": 40, "max_tokens": 128}
RAW_SERVER = """
import os, sys, threading, xllamacpp as xlc
p = xlc.CommonParams(); p.model.path = sys.argv[1]; p.n_parallel = 2; p.n_ctx = 4096
p.cpuparams.n_threads = p.cpuparams_batch.n_threads = os.cpu_count() or 2  # as Cupola (threads 0: all cores)
p.verbosity = -1; p.hostnames = ["127.0.0.1"]; p.port = int(sys.argv[2])
s = xlc.Server(p); print(s.listening_address, flush=True); threading.Event().wait()
"""


# -- servers -------------------------------------------------------------------------------------

def start(name: str, cmd: list[str], env: dict | None = None) -> subprocess.Popen:
    (RESULTS / "logs").mkdir(parents=True, exist_ok=True)
    with open(RESULTS / "logs" / f"{name}.log", "w") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group, SIGKILL after 15 s."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
                proc.wait(wait)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass


def wait_ready(name: str, proc: subprocess.Popen, url_of, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}; see {RESULTS / 'logs' / name}.log")
        url = url_of()
        try:
            if url and httpx.get(url + "/health", timeout=2, trust_env=False).status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{name} was not ready after {timeout:.0f}s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_cupola() -> tuple[subprocess.Popen, str]:
    HOME.mkdir(exist_ok=True)
    if not (HOME / "models").exists():
        (HOME / "models").symlink_to(SHARED_HOME / "models")
    env = dict(os.environ, CUPOLA_HOME=str(HOME))
    py = [sys.executable, "-m", "cupola"]
    subprocess.run(py + ["models", "pull", MODEL], env=env, check=True, capture_output=True)
    proc = start("tool_calling-cupola", py + ["serve", "--port", "0", "--parallel", "2", "--no-preload"], env=env)

    def url():
        try:
            info = json.loads((HOME / "server.json").read_text())
        except (OSError, ValueError):
            return None
        return info["url"] if info.get("pid") == proc.pid else None
    return proc, wait_ready("tool_calling-cupola", proc, url)


def start_baseline() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = start("tool_calling-baseline", [sys.executable, "-c", RAW_SERVER, str(HOME / "models" / MODEL / GGUF), str(port)])
    return proc, wait_ready("tool_calling-baseline", proc, lambda: f"http://127.0.0.1:{port}")


# -- scoring -------------------------------------------------------------------------------------

def norm(value):
    """Numbers as floats, strings stripped and lower-cased, objects order-free."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, dict):
        return tuple(sorted((k, norm(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(norm(v) for v in value)
    return repr(value)


def looks_like_call(content: str, names: list[str]) -> bool:
    """Content that reads as an attempted call: the adapter's tag, JSON naming a tool, or name(...)."""
    if "<tool_call>" in content or re.search(r'"(arguments|parameters|tool_call)"\s*:', content):
        return True
    return any(re.search(rf'"{re.escape(n)}"|\b{re.escape(n)}\s*\(', content) for n in names)


def score(case: dict, resp: dict | None, error: str | None) -> dict:
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in case["tools"]}
    msg = ((resp or {}).get("choices") or [{}])[0].get("message") or {}
    content = msg.get("content") or ""
    calls, problems = [], []
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") or {}
        name, args = fn.get("name"), fn.get("arguments")
        try:
            args = json.loads(args) if isinstance(args, str) else args
        except json.JSONDecodeError:
            problems.append(f"{name}: arguments are not JSON")
        if not isinstance(args, dict):
            problems.append(f"{name}: arguments are not an object")
        elif name not in schemas:
            problems.append(f"{name}: no such tool")
        else:
            err = jsonschema.validators.validator_for(schemas[name])(schemas[name]).iter_errors(args)
            problems += [f"{name}: {e.message}" for e in err]
        calls.append({"name": name, "arguments": args})
    want = case["expected"]
    right = error is None and sorted(c["name"] or "" for c in calls) == sorted(w["name"] for w in want)
    exact = right and Counter(norm(c) for c in calls) == Counter(norm(w) for w in want)
    return {"id": case["id"], "category": case["category"], "error": error, "called": bool(calls),
            "valid": (not problems) if calls else None, "right": right, "exact": exact,
            "content_call": not calls and looks_like_call(content, list(schemas)),
            "calls": calls, "problems": problems, "content": content[:400],
            "finish_reason": ((resp or {}).get("choices") or [{}])[0].get("finish_reason")}


# -- running -------------------------------------------------------------------------------------

async def run_config(url: str, cases: list[dict], choice: str) -> list[dict]:
    sem = asyncio.Semaphore(2)
    async with httpx.AsyncClient(timeout=httpx.Timeout(300, connect=10), trust_env=False) as client:
        async def one(i: int, case: dict) -> dict:
            body = {"model": MODEL, "messages": [{"role": "user", "content": case["message"]}],
                    "tools": case["tools"], "tool_choice": choice, "seed": 1000 + i, **SAMPLING}
            if case["category"] == "parallel":
                body["parallel_tool_calls"] = True
            async with sem:
                began = time.perf_counter()
                resp, error = None, None
                try:
                    r = await client.post(url + "/v1/chat/completions", json=body)
                    if r.status_code == 200:
                        resp = r.json()
                    else:
                        error = f"HTTP {r.status_code}: {r.text[:300]}"
                except httpx.HTTPError as exc:
                    error = repr(exc)[:300]
                out = score(case, resp, error)
                out["seconds"] = round(time.perf_counter() - began, 2)
                return out
        return await asyncio.gather(*(one(i, c) for i, c in enumerate(cases)))


def summarise(rows: list[dict]) -> dict:
    def rate(sel, key):
        vals = [r[key] for r in sel if r[key] is not None]
        return sum(vals) / len(vals) if vals else None
    groups = {cat: [r for r in rows if r["category"] == cat] for cat in CATEGORIES}
    groups["overall"] = rows
    return {name: {"n": len(sel), "called": rate(sel, "called"), "valid": rate(sel, "valid"),
                   "right": rate(sel, "right"), "exact": rate(sel, "exact"),
                   "content_calls": sum(r["content_call"] for r in sel), "errors": sum(bool(r["error"]) for r in sel),
                   "mean_s": sum(r["seconds"] for r in sel) / len(sel)}
            for name, sel in groups.items() if sel}


def pct(x) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


def table(summary: dict) -> str:
    cols = [c for c in ("cupola", "baseline", "cupola-required") if c in summary]
    head = ["category", "metric"] + cols + (["cupola/baseline"] if {"cupola", "baseline"} <= set(cols) else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cat in (*CATEGORIES, "overall"):
        for metric in ("called", "valid", "right", "exact", "content_calls"):
            cells = []
            for c in cols:
                s = summary[c].get(cat)
                cells.append("" if s is None else str(s[metric]) if metric == "content_calls" else pct(s[metric]))
            if len(head) > len(cols) + 2:
                a, b = summary["cupola"].get(cat, {}).get(metric), summary["baseline"].get(cat, {}).get(metric)
                cells.append(f"{a / b:.2f}x" if metric == "right" and a is not None and b else
                             "∞" if metric == "right" and a and b == 0 else "")
            lines.append(f"| {cat} | {metric} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(summary: dict) -> list[str]:
    out = []
    if "cupola-required" in summary:
        s = summary["cupola-required"]["overall"]
        out.append(f"{'PASS' if s['valid'] == 1 else 'FAIL'}: every constrained call valid (cupola-required: "
                   f"valid {pct(s['valid'])} of responses with calls)")
        out.append(f"{'PASS' if s['called'] == 1 else 'FAIL'}: every required response carries a call "
                   f"(called {pct(s['called'])}; a miss is a call cut off by max_tokens)")
    if {"cupola", "baseline"} <= set(summary):
        a, b = summary["cupola"]["overall"]["right"], summary["baseline"]["overall"]["right"]
        ok = a >= 1.5 * b and a - b >= 0.2
        out.append(f"{'PASS' if ok else 'FAIL'}: cupola right-function rate well above baseline "
                   f"({pct(a)} vs {pct(b)}; target >= 1.5x and +20 points)")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", nargs="+", default=["cupola", "baseline", "cupola-required"])
    ap.add_argument("--cases", type=Path, default=BENCH / "tool_calling_cases.jsonl")
    ap.add_argument("--limit", type=int, default=0, help="only the first N cases of each category")
    ap.add_argument("--rescore", action="store_true", help="re-summarise results/tool_calling.json, no servers")
    args = ap.parse_args()
    cases = [json.loads(line) for line in args.cases.read_text().splitlines() if line.strip()]
    if args.limit:
        cases = [c for cat in CATEGORIES for c in [c for c in cases if c["category"] == cat][:args.limit]]
    for c in cases:  # the expected calls must themselves be valid
        for w in c["expected"]:
            tool = next(t for t in c["tools"] if t["function"]["name"] == w["name"])
            jsonschema.validate(w["arguments"], tool["function"]["parameters"])
    print(f"{len(cases)} cases: {dict(Counter(c['category'] for c in cases))}", flush=True)

    if args.rescore:  # recompute the summary from the saved per-case outcomes
        write({k: v for k, v in json.loads((RESULTS / "tool_calling.json").read_text())["cases"].items()}, cases)
        return
    results: dict[str, list[dict]] = {}
    plan = [("cupola", start_cupola, [c for c in args.configs if c.startswith("cupola")]),
            ("baseline", start_baseline, [c for c in args.configs if c == "baseline"])]
    for server, starter, configs in plan:
        if not configs:
            continue
        proc, url = starter()
        try:
            for config in configs:
                chosen = cases if config != "cupola-required" else [c for c in cases if c["category"] != "no_call"]
                began = time.perf_counter()
                results[config] = asyncio.run(run_config(url, chosen, "required" if config == "cupola-required" else "auto"))
                print(f"{config}: {len(chosen)} requests in {time.perf_counter() - began:.0f}s", flush=True)
        finally:
            stop(proc)
    write(results, cases)


def write(results: dict[str, list[dict]], cases: list[dict]) -> None:
    summary = {name: summarise(rows) for name, rows in results.items()}
    text = table(summary)
    verdict = verdicts(summary)
    print("\n" + text + "\n\n" + "\n".join(verdict))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "tool_calling.json").write_text(json.dumps(
        {"model": MODEL, "sampling": SAMPLING, "concurrency": 2, "summary": summary, "verdicts": verdict,
         "cases": results}, indent=1, ensure_ascii=False))
    (RESULTS / "tool_calling.md").write_text(
        f"# Tool calling on {MODEL}: Cupola adapter vs. raw llama.cpp\n\n"
        f"{len(cases)} cases ({dict(Counter(c['category'] for c in cases))}), sampling {SAMPLING}, "
        f"seed 1000+case index, 2 requests in flight. `valid` is over responses that made calls; "
        f"`content_calls` counts responses with no tool_calls whose content looks like a call.\n\n"
        f"{text}\n\n" + "\n".join(f"- {v}" for v in verdict) + "\n\n"
        "Reproduce: `.venv/bin/python bench/tool_calling.py`\n")


if __name__ == "__main__":
    main()
