"""Tool-calling accuracy through a live Cupola server, next to the same tools sent straight to llama.cpp.

Case sets (bench/tool_calling/, format in build.py): ``dev`` (tune on this one; includes the first
bench's 106 cases) and ``test`` (measure generalization: different functions, written separately).
Any other JSONL file in the same format can be passed by path.

Modes (``--modes``; names are ``[baseline-]CHOICE[-MAX_TOKENS][-stream]``):

  required          tool_choice "required", max_tokens 256, call cases only
  required-32       the same with max_tokens 32 (any budget: required-16, required-64, ...)
  required-stream   streamed (SSE), tool calls reassembled from the deltas
  auto              tool_choice "auto", every case (no-call cases included)
  auto-stream       streamed
  named             tool_choice naming the expected function (call cases; not run by default)
  baseline-required / baseline-auto
                    the same requests to llama.cpp's own server inside xllamacpp, with the same
                    model file, slots and context: tools straight to the engine, no adapter

Every request carries the model's catalog sampling defaults and a seed derived from the case id,
so a case gets the same seed in every mode and in every subset. Two requests are in flight.

Metrics per set, mode, category and tag (see tool_calling/scoring.py): valid (schema-valid call),
right (right function), exact (right function and arguments), no_call_ok (no-call accuracy),
length (finish_reason "length"), content_no_call (text and no call on a call case; under required
this must be 0), missing (no call at all on a call case), budget_400 (a 400 naming max_tokens),
errors, mean_s (mean latency), and how often streamed and non-streamed answers made the same calls.

Run from the repository root:

    .venv/bin/python bench/tool_calling.py                      # both sets, default modes (~1-2 h)
    .venv/bin/python bench/tool_calling.py --sets dev --sample 10 --modes required auto
    .venv/bin/python bench/tool_calling.py --url http://127.0.0.1:8000 --sets dev --limit 5
    .venv/bin/python bench/tool_calling.py --rescore            # judge saved answers against today's cases

Results go to bench/results/tool_calling.{json,md} (runs with --limit/--sample to
tool_calling_sample.*). Cupola's answers are stored under ``--label`` (default "current adapter");
runs under other labels already in the file are kept, so a new adapter is shown next to the
"previous adapter". The baseline is stored under "baseline".
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
CASES = BENCH / "tool_calling"
RESULTS = BENCH / "results"
sys.path.insert(0, str(CASES))

import scoring

DEFAULT_MODES = ["required", "required-32", "required-stream", "auto", "auto-stream",
                 "baseline-required", "baseline-auto"]
MODE_RE = re.compile(r"^(baseline-)?(required|auto|named)(?:-(\d+))?(-stream)?$")
BASELINE = "baseline"
CATEGORY_ORDER = ("single", "choice_2_4", "choice_5plus", "parallel", "no_call")
RAW_SERVER = """
import sys, threading, xllamacpp as xlc
p = xlc.CommonParams(); p.model.path = sys.argv[1]; p.n_parallel = int(sys.argv[3])
p.n_ctx = int(sys.argv[3]) * 2048  # Cupola's default context per slot
p.cpuparams.n_threads = p.cpuparams_batch.n_threads = int(sys.argv[4])
p.cont_batching = True; p.verbosity = -1; p.hostnames = ["127.0.0.1"]; p.port = int(sys.argv[2])
s = xlc.Server(p); print(s.listening_address, flush=True); threading.Event().wait()
"""


@dataclass(frozen=True)
class Mode:
    name: str
    baseline: bool
    choice: str
    max_tokens: int
    stream: bool

    @classmethod
    def parse(cls, name: str) -> Mode:
        m = MODE_RE.match(name)
        if not m:
            raise SystemExit(f"unknown mode {name!r}: use [baseline-](required|auto|named)[-MAX_TOKENS][-stream]")
        return cls(name, bool(m.group(1)), m.group(2), int(m.group(3) or 256), bool(m.group(4)))

    @property
    def key(self) -> str:
        """The mode's name under its label (baseline modes are stored without the prefix)."""
        return self.name.removeprefix("baseline-")

    def applies(self, case: dict[str, Any]) -> bool:
        if self.choice == "auto":
            return True
        return case["category"] != "no_call" and not (self.choice == "named" and case["category"] == "parallel")

    def body(self, case: dict[str, Any], model: str, sampling: dict[str, Any]) -> dict[str, Any]:
        choice: Any = self.choice
        if choice == "named":
            choice = {"type": "function", "function": {"name": case["expected"]["name"]}}
        body = {"model": model, "messages": case["messages"], "tools": case["tools"], "tool_choice": choice,
                **sampling, "max_tokens": self.max_tokens, "seed": zlib.crc32(case["id"].encode()) & 0x7FFFFFFF}
        if case["category"] == "parallel":
            body["parallel_tool_calls"] = True
        if self.stream:
            body["stream"] = True
        return body


# -- servers -------------------------------------------------------------------------------------

class Server:
    """A server process in its own process group, stopped with SIGTERM then SIGKILL."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        self.name = name
        (RESULTS / "logs").mkdir(parents=True, exist_ok=True)
        self.log_path = RESULTS / "logs" / f"tool_calling-{name}.log"
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def wait_ready(self, url_of, timeout: float = 300) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            url = url_of()
            try:
                if url and httpx.get(url + "/health", timeout=2, trust_env=False).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise SystemExit(f"{self.name} was not ready after {timeout:.0f}s; see {self.log_path}")

    def stop(self) -> None:
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
            if self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, sig)
                    self.proc.wait(wait)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_cupola(models_dir: Path, parallel: int, threads: int, home: Path) -> tuple[Server, str]:
    """``cupola serve --port 0`` in a temporary home whose models/ links to the shared model cache."""
    (home / "models").symlink_to(models_dir, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUPOLA_")}
    env["CUPOLA_HOME"] = str(home)
    server = Server("cupola", [sys.executable, "-m", "cupola", "serve", "--port", "0", "--parallel", str(parallel),
                               "--threads", str(threads)], env)

    def url() -> str | None:
        try:
            info = json.loads((home / "server.json").read_text())
        except (OSError, ValueError):
            return None
        return info["url"] if info.get("pid") == server.proc.pid else None
    return server, server.wait_ready(url)


def start_baseline(gguf: Path, parallel: int, threads: int) -> tuple[Server, str]:
    port = free_port()
    server = Server(BASELINE, [sys.executable, "-c", RAW_SERVER, str(gguf), str(port), str(parallel),
                               str(threads or os.cpu_count() or 2)])  # 0: every core, as Cupola
    return server, server.wait_ready(lambda: f"http://127.0.0.1:{port}")


def prepare_models(models_dir: Path, model: str, embedder: str) -> tuple[Path, dict[str, Any]]:
    """Pull the models into the cache; the chat model's file and its catalog sampling defaults."""
    from cupola.models.store import ModelStore

    store = ModelStore(models_dir)
    info = store.pull(model)
    store.pull(embedder)  # Cupola routes tool_choice "auto" with the embedding model
    return info.file(), dict(info.entry.defaults)


# -- asking --------------------------------------------------------------------------------------

async def _stream(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> tuple[dict, str | None, str | None,
                                                                                        int]:
    """POST a streamed request; the message reassembled from the chunks, finish reason, error, status."""
    content, calls, finish = [], {}, None
    async with client.stream("POST", url, json=body) as r:
        if r.status_code != 200:
            return {}, None, (await r.aread()).decode(errors="replace")[:400], r.status_code
        async for line in r.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            if "error" in chunk:
                return {}, None, json.dumps(chunk["error"])[:400], r.status_code
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    content.append(delta["content"])
                for tc in delta.get("tool_calls") or []:
                    call = calls.setdefault(tc.get("index", 0), {"name": None, "arguments": ""})
                    fn = tc.get("function") or {}
                    call["name"] = fn.get("name") or call["name"]
                    call["arguments"] += fn.get("arguments") or ""
                finish = choice.get("finish_reason") or finish
    message = {"content": "".join(content) or None,
               "tool_calls": [{"type": "function", "function": calls[i]} for i in sorted(calls)]}
    return message, finish, None, 200


async def run_mode(url: str, headers: dict[str, str], mode: Mode, cases: list[dict[str, Any]], model: str,
                   sampling: dict[str, Any], concurrency: int, progress: str) -> list[dict[str, Any]]:
    sem = asyncio.Semaphore(concurrency)
    done = 0
    endpoint = url.rstrip("/") + "/v1/chat/completions"
    async with httpx.AsyncClient(timeout=httpx.Timeout(600, connect=10), trust_env=False, headers=headers) as client:
        async def one(case: dict[str, Any]) -> dict[str, Any]:
            nonlocal done
            body = mode.body(case, model, sampling)
            async with sem:
                began = time.perf_counter()
                message, finish, error, status = {}, None, None, None
                try:
                    if mode.stream:
                        message, finish, error, status = await _stream(client, endpoint, body)
                    else:
                        r = await client.post(endpoint, json=body)
                        status = r.status_code
                        if status == 200:
                            choice = r.json()["choices"][0]
                            message, finish = choice.get("message") or {}, choice.get("finish_reason")
                        else:
                            error = r.text[:400]
                except (httpx.HTTPError, json.JSONDecodeError) as exc:
                    error = repr(exc)[:400]
                row = scoring.score(case, message, finish, error, status)
                row["seconds"] = round(time.perf_counter() - began, 3)
            done += 1
            if done % 25 == 0 or done == len(cases):
                print(f"  {progress} {mode.name}: {done}/{len(cases)}", flush=True)
            return row
        return list(await asyncio.gather(*(one(c) for c in cases)))


# -- selecting cases -----------------------------------------------------------------------------

def case_file(name: str) -> Path:
    path = Path(name) if name.endswith(".jsonl") else CASES / f"{name}.jsonl"
    if not path.exists():
        raise SystemExit(f"no case file {path}: name a set (dev, test) or a .jsonl path")
    return path.resolve()


def subset(cases: list[dict[str, Any]], limit: int, sample: int, seed: int) -> list[dict[str, Any]]:
    """The first ``limit`` or a seeded random ``sample`` of cases of each category (all when 0)."""
    if not limit and not sample:
        return cases
    out = []
    for cat in dict.fromkeys(c["category"] for c in cases):
        members = [c for c in cases if c["category"] == cat]
        out += members[:limit] if limit else random.Random(f"{seed}-{cat}").sample(members, min(sample, len(members)))
    return out


# -- reporting -----------------------------------------------------------------------------------

def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


def labels_of(results: dict[str, Any]) -> list[str]:
    """Baseline first, then adapter runs in the order they were first recorded."""
    runs = list(results["runs"])
    return ([BASELINE] if BASELINE in runs else []) + [r for r in runs if r != BASELINE]


def _summary(results: dict[str, Any], label: str, set_name: str, mode: str) -> dict[str, Any] | None:
    return results["runs"].get(label, {}).get("sets", {}).get(set_name, {}).get(mode, {}).get("summary")


def headline(results: dict[str, Any], set_name: str, mode: str, metrics: tuple[str, ...]) -> str | None:
    labels = [lb for lb in labels_of(results) if _summary(results, lb, set_name, mode)]
    if not labels:
        return None
    cats = [c for c in CATEGORY_ORDER
            if any(c in _summary(results, lb, set_name, mode)["category"] for lb in labels)]
    head = ["category", "n"] + [f"{lb}: {m}" for lb in labels for m in metrics]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cat in cats + ["overall"]:
        cells, n = [], ""
        for lb in labels:
            s = _summary(results, lb, set_name, mode)
            s = s["overall"] if cat == "overall" else s["category"].get(cat)
            n = n or (str(s["n"]) if s else "")
            cells += [pct(s[m]) if s else "" for m in metrics]
        if any(c not in ("", "—") for c in cells):
            lines.append(f"| {cat} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) if len(lines) > 2 else None


def robustness(results: dict[str, Any], set_name: str) -> str | None:
    """Budgets and streaming under ``required``: the answers that carry no call, and agreement."""
    head = ["run", "mode", "n", "valid", "missing call", "text, no call", "finish length", "400 max_tokens",
            "errors", "mean s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for lb in labels_of(results):
        modes = results["runs"][lb].get("sets", {}).get(set_name, {})
        for mode in sorted(modes, key=lambda m: (not m.startswith("required"), m)):
            s = modes[mode]["summary"]["overall"]
            lines.append(f"| {lb} | {mode} | {s['n']} | {pct(s['valid'])} | {s['missing']} | {s['content_no_call']} "
                         f"| {s['length']} | {s['budget_400']} | {s['errors']} | {s['mean_s']} |")
    return "\n".join(lines) if len(lines) > 2 else None


def agreement_lines(results: dict[str, Any], set_name: str) -> list[str]:
    out = []
    for lb in labels_of(results):
        for pair, a in results["runs"][lb].get("agreement", {}).get(set_name, {}).items():
            out.append(f"- {lb}, {pair}: the same calls in {pct(a['same_calls'])} of {a['n']} cases (same seed)")
    return out


def detail(summary: dict[str, Any]) -> str:
    head = ["group", "n", "valid", "right", "exact", "no-call ok", "missing", "text, no call", "length", "400",
            "errors", "mean s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    groups = [("**overall**", summary["overall"])]
    groups += [(f"**{c}**", summary["category"][c]) for c in CATEGORY_ORDER if c in summary["category"]]
    groups += [(f"tag {t}", s) for t, s in summary["tag"].items()]
    for name, s in groups:
        lines.append(f"| {name} | {s['n']} | {pct(s['valid'])} | {pct(s['right'])} | {pct(s['exact'])} | "
                     f"{pct(s['no_call_ok'])} | {s['missing']} | {s['content_no_call']} | {s['length']} | "
                     f"{s['budget_400']} | {s['errors']} | {s['mean_s']} |")
    return "\n".join(lines)


def verdicts(results: dict[str, Any], set_name: str = "test") -> list[str]:
    """The issue's targets on the test set, for each adapter run."""
    out = []
    for lb in labels_of(results):
        if lb == BASELINE:
            continue
        modes = results["runs"][lb].get("sets", {}).get(set_name, {})
        req = modes.get("required", {}).get("summary")
        if not req:
            continue
        valid = {m: modes[m]["summary"]["overall"] for m in modes if m.startswith("required")}
        checks = [(all(s.get("invalid", 0 if s["valid"] in (1, None) else 1) == 0 for s in valid.values())
                   and all(s["missing"] == 0 and s["errors"] == 0 for s in valid.values()),
                   "a schema-valid call, or the 400 naming max_tokens, in every required answer (" +
                   ", ".join(f"{m}: {pct(s['valid'])} valid, {s['budget_400']} 400" for m, s in valid.items()) + ")"),
                  (sum(s["content_no_call"] for s in valid.values()) == 0,
                   "never text without a call under required (" +
                   ", ".join(f"{m}: {s['content_no_call']}" for m, s in valid.items()) + ")")]
        choice = req["category"].get("choice_2_4")
        if choice:
            checks.append((choice["right"] >= 0.9,
                           f"right function >= 90% with 2-4 candidates ({pct(choice['right'])})"))
        single = req["category"].get("single")
        if single:
            checks.append((single["exact"] >= 0.6,
                           f"exact arguments >= 60% for single functions ({pct(single['exact'])})"))
        out += [f"{'PASS' if ok else 'FAIL'} ({lb}, {set_name}): {text}" for ok, text in checks]
    return out


def render(results: dict[str, Any], sets: dict[str, list[dict[str, Any]]]) -> tuple[str, str]:
    """(terminal text, Markdown)."""
    model = results["model"]
    md = [f"# Tool calling on {model}: Cupola's adapter next to llama.cpp without one", "",
          "Written by `bench/tool_calling.py`; cases in `bench/tool_calling/` (the development set `dev` is for "
          "tuning, the test set `test` measures generalization: its functions were written separately). "
          f"Sampling: the catalog defaults {results['sampling']}, a seed per case, "
          f"{results['concurrency']} requests in flight.", "",
          "- **valid**: the answer has a call that validates against the offered tool's schema (share of the "
          "cases that expect a call); **right**: the right function; **exact**: right function and arguments "
          "(numbers as numbers, strings case-insensitive, free text by the case's rule, optional parameters "
          "left out unless asked for); **no-call ok**: no call when none of the tools fits.",
          "- **missing call**: no call at all; **text, no call**: content but no call (under `required` this "
          "must be 0); **finish length**: answers cut by `max_tokens`; **400 max_tokens**: the server refused "
          "a budget too small for any call.", "", "## Runs", ""]
    for lb in labels_of(results):
        run = results["runs"][lb]
        md.append(f"- **{lb}**: {run.get('what', '')} ({run.get('servers', '')}) — measured {run.get('date', '?')}"
                  + (f", {run['note']}" if run.get("note") else ""))
    term = []
    answered = {s for run in results["runs"].values() for s in run.get("sets", {})}
    for set_name in [s for s in ("test", "dev") if s in sets] + [s for s in sets if s not in ("test", "dev")]:
        if set_name not in answered:
            continue
        n = len(sets[set_name])
        md += ["", f"## {set_name} set ({n} cases in the file)", ""]
        for title, mode, metrics in (
                ("`tool_choice: required`, `max_tokens: 256`", "required", ("valid", "right", "exact")),
                ("`tool_choice: auto`, `max_tokens: 256` (no-call cases included)", "auto",
                 ("right", "exact", "no_call_ok"))):
            table = headline(results, set_name, mode, metrics)
            if table:
                md += [f"### {title}", "", table, ""]
                term += [f"\n{set_name}: {title}", table]
        table = robustness(results, set_name)
        if table:
            md += ["### Budgets and streaming", "", table, ""] + agreement_lines(results, set_name)
            term += [f"\n{set_name}: budgets and streaming", table] + agreement_lines(results, set_name)
    verdict = verdicts(results)
    if verdict:
        md += ["", "## The issue's targets (test set)", ""] + [f"- {v}" for v in verdict]
        term += [""] + verdict
    md += ["", "## Per category and tag", "",
           "Tags: `nested`, `array`, `enum`, `units`, `number`, `boolean`; `optional` (an optional parameter "
           "must be left out), `optional_given` (one was asked for); `free_text` (compared by a rule); "
           "`near_miss` (another candidate from the same domain); `name_snake` / `name_dotted` / `name_camel`; "
           "`no_description` / `terse_description`; the request's phrasing: `terse`, `polite`, `indirect`, "
           "`words` (numbers in words); `system_prompt`, `history`; no-call kinds: `small_talk`, `near_miss`, "
           "`off_topic`; `legacy` (the first bench's cases)."]
    for lb in labels_of(results):
        for set_name, modes in results["runs"][lb].get("sets", {}).items():
            for mode, data in modes.items():
                md += ["", f"<details><summary>{lb} — {set_name} — {mode}</summary>", "",
                       detail(data["summary"]), "", "</details>"]
    md += ["", "Reproduce: `.venv/bin/python bench/tool_calling.py --label \"current adapter\"` (add `--note` to "
           "describe the machine; `--sets dev --sample 10` for a quick look).", ""]
    return "\n".join(term), "\n".join(md)


def git_describe() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=BENCH, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=BENCH.parent, capture_output=True,
                               text=True).stdout.strip()
        return head + (" with uncommitted changes under src/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def all_sets(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every case set the results file has answers for (paths relative to bench/)."""
    return {name: scoring.load(BENCH / rel) for name, rel in results.get("case_files", {}).items()}


def resummarise(results: dict[str, Any], sets: dict[str, list[dict[str, Any]]]) -> None:
    for run in results["runs"].values():
        run["agreement"] = {}
        for set_name, modes in run.get("sets", {}).items():
            cases = {c["id"]: c for c in sets[set_name]}
            for data in modes.values():
                for row in data["rows"]:
                    scoring.rescore(row, cases[row["id"]])
                data["summary"] = scoring.breakdown(data["rows"], cases)
            for mode in modes:
                if mode.endswith("-stream") and mode.removesuffix("-stream") in modes:
                    run["agreement"].setdefault(set_name, {})[f"{mode.removesuffix('-stream')} vs {mode}"] = \
                        scoring.agreement(modes[mode.removesuffix("-stream")]["rows"], modes[mode]["rows"])


# -- main ----------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="+", default=["dev", "test"], help="set names (dev, test) or .jsonl paths")
    ap.add_argument("--modes", nargs="+", default=DEFAULT_MODES, help="see above (default: %(default)s)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N cases of each category")
    ap.add_argument("--sample", type=int, default=0, help="a seeded random N cases of each category")
    ap.add_argument("--seed", type=int, default=0, help="seed of --sample")
    ap.add_argument("--url", help="a running Cupola server instead of starting one")
    ap.add_argument("--baseline-url", help="a running llama.cpp server for the baseline modes")
    ap.add_argument("--api-key", default=os.environ.get("CUPOLA_API_KEY"), help="bearer key for --url")
    ap.add_argument("--model", default="smollm2-135m", help="catalog alias of the chat model")
    ap.add_argument("--embedding-model", default="minilm-l6", help="pulled for Cupola's auto routing")
    ap.add_argument("--models-dir", type=Path, default=BENCH / ".cupola-home" / "models",
                    help="model cache shared by the benches (default: %(default)s)")
    ap.add_argument("--parallel", type=int, default=2, help="decoding slots of each server, and requests in flight")
    ap.add_argument("--threads", type=int, default=0,
                    help="CPU threads of each server (0: every core; on a busy machine 1 is much faster)")
    ap.add_argument("--temperature", type=float, help="send this temperature instead of the catalog default's")
    ap.add_argument("--label", default="current adapter", help="name of this run of Cupola's adapter")
    ap.add_argument("--note", default="", help="what to say about the measurement (e.g. the machine was shared)")
    ap.add_argument("--out", help="results file stem in bench/results/ (default tool_calling, or "
                                  "tool_calling_sample with --limit/--sample), or a path")
    ap.add_argument("--fresh", action="store_true", help="discard earlier runs in the results file")
    ap.add_argument("--rescore", action="store_true",
                    help="judge the saved answers again against the cases as they are now; no servers")
    args = ap.parse_args()
    if args.label == BASELINE:
        raise SystemExit(f"--label {BASELINE!r} is reserved for the llama.cpp baseline")
    modes = [Mode.parse(m) for m in args.modes]
    stem = args.out or ("tool_calling_sample" if args.limit or args.sample else "tool_calling")
    path = Path(stem).with_suffix(".json") if "/" in stem else RESULTS / f"{stem}.json"
    results = json.loads(path.read_text()) if path.exists() and not args.fresh else {}
    if results and results.get("model") != args.model:
        raise SystemExit(f"{path} holds results for {results.get('model')}; use --out or --fresh")

    if not args.rescore:
        files = {case_file(n).stem: case_file(n) for n in args.sets}
        sets = {name: subset(scoring.load(f), args.limit, args.sample, args.seed) for name, f in files.items()}
        for name, cases in sets.items():
            print(f"{name}: {len(cases)} cases", flush=True)
        results.setdefault("case_files", {}).update(
            {name: os.path.relpath(f, BENCH) for name, f in files.items()})
        gguf, sampling = prepare_models(args.models_dir.resolve(), args.model, args.embedding_model)
        if args.temperature is not None:
            sampling = {**sampling, "temperature": args.temperature}
        results.update(model=args.model, sampling=sampling, concurrency=args.parallel)
        results.setdefault("runs", {})
        date = dt.date.today().isoformat()
        for baseline in (False, True):
            chosen = [m for m in modes if m.baseline == baseline]
            if not chosen:
                continue
            label = BASELINE if baseline else args.label
            run = results["runs"].setdefault(label, {"sets": {}})
            run.update(date=date, note=args.note, servers=f"{args.parallel} slots, threads {args.threads or 'all'}",
                       what=(
                "llama.cpp's server in xllamacpp, tools passed straight through" if baseline
                else f"Cupola at {git_describe()}" if not args.url else f"Cupola at {args.url}"))
            url, server, home = (args.baseline_url if baseline else args.url), None, None
            try:
                if url is None:
                    if baseline:
                        server, url = start_baseline(gguf, args.parallel, args.threads)
                    else:
                        home = Path(tempfile.mkdtemp(prefix="cupola-bench-tools-"))
                        server, url = start_cupola(args.models_dir.resolve(), args.parallel, args.threads, home)
                headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key and not baseline else {}
                for set_name, cases in sets.items():
                    for mode in chosen:
                        chosen_cases = [c for c in cases if mode.applies(c)]
                        began = time.perf_counter()
                        rows = asyncio.run(run_mode(url, headers, mode, chosen_cases, args.model, sampling,
                                                    args.parallel, set_name))
                        run["sets"].setdefault(set_name, {})[mode.key] = {"rows": rows}
                        print(f"{label} / {set_name} / {mode.name}: {len(rows)} requests in "
                              f"{time.perf_counter() - began:.0f}s", flush=True)
                        save(results, path, quiet=True)  # an interrupted run keeps the modes it finished
            finally:
                if server:
                    server.stop()
                if home:
                    shutil.rmtree(home, ignore_errors=True)
    elif not results:
        raise SystemExit(f"nothing to rescore in {path}")
    save(results, path)


def save(results: dict[str, Any], path: Path, quiet: bool = False) -> None:
    """Summarise every saved answer and write the JSON and Markdown results."""
    sets = all_sets(results)
    resummarise(results, sets)
    term, md = render(results, sets)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    path.with_suffix(".md").write_text(md)
    if not quiet:
        print(term + f"\n\nwrote {path} and {path.with_suffix('.md')}")


if __name__ == "__main__":
    main()
