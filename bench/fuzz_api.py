"""Fuzz Cupola's whole HTTP API with schemathesis against live servers; results into reliability.md.

Two runs, side by side:

* **fake engines** — the full app (every route: /v1, /api/models, /api/kb, /api/workflows, hosted
  agents, /health, /metrics) with fake models, served by uvicorn (``python -m cupola.server.testing``),
  the shipped example agents and workflows loaded: the bulk of the requests;
* **real models** — ``cupola serve`` with smollm2-135m and minilm-l6: fewer requests, each a real
  generation or embedding.

Each run uses every schemathesis phase (coverage, fuzzing, stateful: the OpenAPI links chain create
base -> documents -> search -> ask -> delete and create response -> get -> input items -> delete) and
every check, plus ``openai_error_body`` (bench/fuzz_checks.py): every 4xx/5xx carries the OpenAI error
body. Afterwards the server must be alive, /health 200, and its log free of tracebacks.

Requests the document calls valid but that a rule spanning several fields refuses (listed in
CROSS_FIELD, each a clear 400) are reported apart from failures: no JSON Schema can state them.

    .venv/bin/python bench/fuzz_api.py                     # both runs, about 2,000 + 400 requests
    .venv/bin/python bench/fuzz_api.py --examples 20 --skip-real --no-write
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "reliability.md"
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
from sections import write_section  # noqa: E402

# Refusals of schema-valid bodies by rules over several fields (each a 400 naming the rule).
CROSS_FIELD = {
    "chunk_overlap must be between 0 and half the chunk size": "chunk_overlap at most half of chunk_tokens",
    "grounding needs a user message": "the knowledge option needs a user message to search for",
    "which is not in tools": "tool_choice must name one of the request's tools",
    "tool_choice needs tools": "tool_choice other than auto/none needs tools",
    "response_format cannot be combined with tools": "response_format and tools together, on adapter models",
    "timestamp_granularities needs response_format verbose_json": "timestamp_granularities needs verbose_json",
    "cannot read eval file": "an eval's path names a file the server cannot read",
    "no target ": "an eval run's target option names an id the eval does not have",
    "no test matches the filters": "an eval run's filter matches no test",
    "knowledge grounds a plain model answer": "the Responses API's knowledge option with an agent or tools",
}


def schemathesis(url: str, examples: int, seed: int, workdir: Path, extra: list[str], schema: str | None = None,
                 budget: float | None = None) -> dict:
    log = workdir / "calls.log"
    log.unlink(missing_ok=True)
    report = workdir / "report.json"
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "fuzz_checks", "CUPOLA_FUZZ_LOG": str(log),
           "PYTHONPATH": str(ROOT / "bench") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    where = [schema, "--url", url] if schema else [f"{url}/openapi.json"]
    cmd = [str(Path(sys.executable).parent / "schemathesis"), "run", *where, "--checks", "all",
           "--max-examples", str(examples), "--seed", str(seed), "--no-color", "--generation-database", "none",
           "--request-timeout", "180", "--report", "json", "--report-json-path", str(report), *extra]
    started = time.perf_counter()
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=workdir, timeout=budget)
        stdout, returncode, cut = out.stdout, out.returncode, False
    except subprocess.TimeoutExpired as exc:  # a long stream on a saturated machine: keep what was fuzzed
        stdout, returncode, cut = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) \
            else (exc.stdout or ""), -1, True
    (workdir / "schemathesis.out").write_text(stdout)
    calls = [line.split() for line in log.read_text().splitlines()] if log.exists() else []
    try:
        data = json.loads(report.read_text()) if report.exists() else {}
    except ValueError:
        data = {}
    failures, cross = classify(stdout)
    return {"seconds": time.perf_counter() - started, "requests": len(calls), "cut_short": cut,
            "statuses": collections.Counter(int(c[2]) for c in calls),
            "operations": (data.get("operations") or {}).get("tested", 0) or len({(c[0], c[1]) for c in calls}),
            "test_cases": data.get("test_cases", {}),
            "failures": failures, "cross_field": cross, "exit": returncode,
            "errors": len(data.get("errors") or []), "output": workdir / "schemathesis.out"}


def classify(output: str) -> tuple[list[str], collections.Counter]:
    """Failures from schemathesis' report, minus the cross-field refusals (counted apart)."""
    failures: list[str] = []
    cross: collections.Counter = collections.Counter()
    section = output.split("FAILURES", 1)[1].split("SUMMARY", 1)[0] if "FAILURES" in output else ""
    parts = re.split(r"\n_+ ([A-Z]+ [^\s]+) _+\n", section)
    for operation, body in zip(parts[1::2], parts[2::2]):
        for case in re.split(r"\n\d+\. Test Case ID: \S+\n", "\n" + body)[1:]:
            message = re.search(r'"message":"((?:[^"\\]|\\.)*)"', case)
            text = message.group(1) if message else ""
            rule = next((why for known, why in CROSS_FIELD.items() if known in text), None)
            titles = re.findall(r"^- (.+)$", case, flags=re.M)
            if rule and all(t.startswith("ST202") for t in titles):
                cross[rule] += 1
            else:
                failures.append(f"{operation}: {'; '.join(titles)} {text[:160]}".strip())
    return failures, cross


def hidden_routes() -> dict:
    """An OpenAPI document for the routes the server's own document leaves out (they are not API): Studio's
    page and files, /docs and its Swagger UI files, /openapi.json itself. Fuzzed like the rest."""
    error = {"description": "Not found", "content": {"application/json": {"schema": {
        "type": "object", "required": ["error"], "properties": {"error": {"type": "object"}}}}}}
    cache = [{"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}},
             {"name": "Accept-Encoding", "in": "header", "required": False,
              "schema": {"type": "string"}}]

    def page(media: str, *, param: str | None = None) -> dict:
        body = {"type": "object"} if media == "application/json" else {"type": "string"}
        responses = {"200": {"description": "The file", "content": {media: {"schema": body}}},
                     "304": {"description": "Not modified (ETag)"}}
        if param:
            responses["404"] = error
        params = cache + ([{"name": param, "in": "path", "required": True, "schema": {"type": "string"}}]
                          if param else [])
        return {"get": {"parameters": params, "responses": responses}}

    return {"openapi": "3.1.0", "info": {"title": "Cupola: routes outside the API document", "version": "1"},
            "paths": {"/": page("text/html"), "/studio/{path}": page("*/*", param="path"),
                      "/docs": page("text/html"), "/docs/oauth2-redirect": page("text/html"),
                      "/docs/static/{file}": page("*/*", param="file"),
                      "/openapi.json": page("application/json")}}


def merge(a: dict, b: dict) -> dict:
    """Two schemathesis runs against one server as one."""
    return {**a, "seconds": a["seconds"] + b["seconds"], "requests": a["requests"] + b["requests"],
            "statuses": a["statuses"] + b["statuses"], "operations": a["operations"] + b["operations"],
            "failures": a["failures"] + b["failures"], "cross_field": a["cross_field"] + b["cross_field"],
            "exit": a["exit"] or b["exit"], "errors": a["errors"] + b["errors"]}


def fake_run(examples: int, seed: int, workdir: Path) -> dict:
    from cupola.server.testing import FakeServer

    server = FakeServer(workdir / "home", "--agents", str(ROOT / "examples" / "agents"), "--workflows",
                        str(ROOT / "examples" / "workflows"), "--delay", "0.001")
    try:
        result = schemathesis(server.url, examples, seed, workdir, ["--workers", "2"])
        hidden = workdir / "hidden"
        hidden.mkdir(exist_ok=True)
        (hidden / "openapi.json").write_text(json.dumps(hidden_routes()))
        result = merge(result, schemathesis(server.url, examples, seed, hidden, ["--workers", "2"],
                                            schema=str(hidden / "openapi.json")))
        result.update(after(server.url, server.alive(), workdir / "home" / "fake-server.log"))
    finally:
        server.stop()
    return result


def real_run(examples: int, seed: int, workdir: Path, budget: float | None = None) -> dict:
    from live import Served

    server = Served(workdir / "home", "--ctx-per-slot", "512", "--agents", str(ROOT / "examples" / "agents"))
    try:
        result = schemathesis(server.url, examples, seed, workdir, ["--workers", "1"], budget=budget)
        result.update(after(server.url, server.alive(), server.log_path))
    finally:
        server.stop()
    return result


def after(url: str, alive: bool, log: Path) -> dict:
    try:
        health = httpx.get(url + "/health", timeout=10).status_code
    except httpx.HTTPError:
        health = None
    text = log.read_text(errors="replace") if log.exists() else ""
    return {"alive": alive, "health": health, "tracebacks": text.count("Traceback (most recent call last)")}


def report(runs: dict[str, dict], seed: int, examples: dict[str, int], note: str = "") -> str:
    lines = ["## Fuzzing the HTTP API", "",
             *([note, ""] if note else []),
             f"Command: `.venv/bin/python bench/fuzz_api.py --seed {seed}` (schemathesis "
             f"{version()}, every phase and check, plus the OpenAI error body check in `bench/fuzz_checks.py`; "
             "the short version runs in `tests/test_openapi_contract.py`). The fake run also fuzzes the routes the "
             "document leaves out (Studio's `/` and `/studio/{path}`, `/docs` and its files, `/openapi.json`) "
             "from a document of their own (`hidden_routes()`): 6 of its operations.", "",
             "| run | operations | requests | 2xx | 4xx | 5xx | failures | cross-field 400s | server after | seconds |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in runs.items():
        s = r["statuses"]
        ok2 = sum(n for code, n in s.items() if 200 <= code < 300)
        c4 = sum(n for code, n in s.items() if 400 <= code < 500)
        c5 = sum(n for code, n in s.items() if code >= 500)
        state = "alive, /health 200" if r["alive"] and r["health"] == 200 else f"alive={r['alive']} health={r['health']}"
        state += f", {r['tracebacks']} tracebacks" + (" (cut short at its time budget)" if r.get("cut_short") else "")
        lines.append(f"| {name} (-n {examples[name]}) | {r['operations']} | {r['requests']:,} | {ok2:,} | {c4:,} | "
                     f"{c5} | {len(r['failures'])} | {sum(r['cross_field'].values())} | {state} | "
                     f"{r['seconds']:.0f} |")
    lines += ["", "Statuses seen: " + "; ".join(
        f"{name}: " + ", ".join(f"{code} x{n}" for code, n in sorted(r["statuses"].items())) for name, r in runs.items()),
        ""]
    for name, r in runs.items():
        if r["failures"]:
            lines += [f"Failures ({name}):", ""] + [f"- {f}" for f in r["failures"]] + [""]
        if r["cross_field"]:
            lines += [f"Schema-valid bodies refused by a rule over several fields ({name}; a 400 naming the rule; "
                      "no JSON Schema states these):", ""]
            lines += [f"- {why}: {n}" for why, n in r["cross_field"].most_common()] + [""]
    lines += [FOUND, ]
    return "\n".join(lines)


FOUND = """Found by fuzzing and fixed (first runs: 56 failures in 420 requests; then 7, 5, 0):

- 31 operations answered statuses their document did not declare (400, 401, 403, 404, 409, 413, 429, 5xx) and
  declared a 422 they never send: every route now declares its statuses with the OpenAI error body's schema
  (`cupola.server.contract`), streamed media types (`text/event-stream`, `application/x-ndjson`), Prometheus text
  for `/metrics`, and links for stateful runs.
- 405 answers had no `Allow` header, then one naming only the first route of a path: now every method of the path.
- Bodies the document called valid were refused (the rule lived only in a validator): knowledge base names, empty
  embedding inputs, message content or tool calls, tools and Responses input items, keep-alive durations,
  retrieval weights and metadata filters, `limit`/`offset`: the document now states each rule.
- Bodies the document called invalid were accepted (`false` as a number, `"5"` as an integer): request bodies
  take JSON's types strictly (integral numbers still count as integers).
- A 500: a metadata filter with an empty operator object (`{"key": {}}`) made invalid SQL; it now matches every row.
- `$exists` with a non-boolean was taken as truthy: now a 400.

Then over the routes added since (evals, conversations, audio, traces, request records, Studio; regression tests in
`tests/test_fuzz_findings.py`; first run 11 failures in 2,513 requests, then 6, 5, 1 — that one in this bench's own
document for the routes outside the API's):

- A 500: a conversation item whose `type` is not a string (`{"items": [{"type": {}}]}`) raised "unhashable type";
  now a 400 naming `items.0.type`, nothing added.
- Conversation items and metadata were documented as any objects: the document now states the item types and their
  required fields (a message needs `role` and `content`), at most 20 items (at least 1 to add), metadata of up to 16
  string pairs.
- `limit` of `GET /v1/conversations`, its items and `GET /api/workflows/runs` had bounds only in code: declared.
- The audio forms declared `null` for fields a multipart form cannot make null (sent as the text "null", refused
  as a language); the language is now the list of codes and names Whisper knows, granularities `segment`/`word`.
- `POST /api/evals` took any JSON (`null` was schema-valid) and streamed NDJSON its document did not declare; its
  body is now documented (an eval or `{"path": FILE}`, the judge as an object or a model alias) and taken with
  JSON's types strictly (`"stream": 0`, `"min_pass_rate": false` and `"repeat": "2"` were accepted).
- Links now chain conversations → items, request and trace lists → one record, workflow and eval run lists → one
  run, `/v1/models` → one model."""


def version() -> str:
    try:
        from importlib.metadata import version as v

        return v("schemathesis")
    except Exception:  # noqa: BLE001
        return "?"



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=50, help="schemathesis examples per operation (fake run)")
    parser.add_argument("--real-examples", type=int, default=8, help="examples per operation (real-model run)")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--real-budget", type=float, default=1800,
                        help="seconds the real-model run may take; past them it stops and reports what it fuzzed")
    parser.add_argument("--no-write", action="store_true", help="print, do not update reliability.md")
    parser.add_argument("--note", default="", help="a sentence on the machine the run was measured on")
    parser.add_argument("--keep", type=Path, help="keep the servers' homes, logs and schemathesis output here")
    args = parser.parse_args()
    runs: dict[str, dict] = {}
    examples = {"fake engines": args.examples, "real models": args.real_examples}
    with tempfile.TemporaryDirectory(prefix="cupola-fuzz-") as tmp:
        if args.keep:
            tmp = str(args.keep)
        runs["fake engines"] = fake_run(args.examples, args.seed, Path(tmp) / "fake")
        print(summary("fake engines", runs["fake engines"]), flush=True)
        if not args.skip_real:
            runs["real models"] = real_run(args.real_examples, args.seed, Path(tmp) / "real", args.real_budget)
            print(summary("real models", runs["real models"]), flush=True)
        section = report(runs, args.seed, examples, args.note)
        if args.no_write:
            print(section)
        else:
            write_section(RESULTS, "fuzz_api", section)
            print(f"wrote {RESULTS}")
        bad = [n for n, r in runs.items() if r["failures"] or r["tracebacks"] or not r["alive"] or r["health"] != 200
               or any(code >= 500 for code in r["statuses"])]
        if bad:
            for n in bad:
                print(f"--- {n}: schemathesis output\n{runs[n]['output'].read_text()[-6000:]}")
            raise SystemExit(f"problems in: {', '.join(bad)}")


def summary(name: str, r: dict) -> str:
    return (f"{name}: {r['requests']:,} requests over {r['operations']} operations in {r['seconds']:.0f}s; "
            f"statuses {dict(sorted(r['statuses'].items()))}; failures {len(r['failures'])}; cross-field "
            f"{sum(r['cross_field'].values())}; alive {r['alive']}, health {r['health']}, tracebacks {r['tracebacks']}")


if __name__ == "__main__":
    main()
