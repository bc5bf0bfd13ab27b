"""Does the eval matrix runner keep the engine's slots busy? Eval throughput vs the server's own.

One `cupola serve` (smollm2-135m, N parallel slots) answers the same workload two ways, in
alternating rounds:

  server  N asyncio clients send chat completions straight to /v1/chat/completions, each taking
          the next prompt as soon as its previous answer is back (the server's aggregate tok/s
          at concurrency N);
  eval    `cupola eval`'s runner (EvalRunner over RemoteClient, concurrency N) runs an eval with
          one target and one test per prompt, graded by a deterministic assertion.

Both send identical requests (same prompts, max_tokens, sampling and seed), so they generate the
same tokens. Throughput is completion tokens / wall clock of the round. Target: eval >= 0.9x server.
Results go to bench/results/eval_throughput.{json,md}.

Run (from the repository root):

    .venv/bin/python bench/eval_throughput.py [--parallel 4] [--prompts 24] [--max-tokens 64] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from cupola.client import RemoteClient
from cupola.config import Settings
from cupola.evals.loader import SourceMap, parse_eval
from cupola.evals.runner import EvalRunner
from cupola.evals.store import EvalStore
from cupola.evals.targets import EvalEnv
from cupola.models.store import ModelStore

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
MODEL = "smollm2-135m"
TOPICS = ["a lighthouse keeper", "a refrigerator", "a young inventor", "the human heart", "a medieval blacksmith",
          "rising bread", "two friends in a snowy forest", "how airplanes fly", "a storm at sea", "photosynthesis",
          "a clockmaker", "a desert caravan", "volcanoes", "a city at night", "honey bees", "the moon landing"]
SEED = 7


def prompts(n: int) -> list[str]:
    return [f"Write a detailed story about {TOPICS[i % len(TOPICS)]} (part {i // len(TOPICS) + 1})." for i in range(n)]


def start_server(home: Path, parallel: int, ctx: int) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUPOLA_")}
    env["CUPOLA_HOME"] = str(home)
    log = open(home / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "cupola", "serve", "--port", "0", "--parallel", str(parallel),
                             "--ctx-per-slot", str(ctx)], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {(home / 'serve.log').read_text()[-2000:]}")
        try:
            info = json.loads((home / "server.json").read_text())
            if info.get("pid") == proc.pid and httpx.get(info["url"] + "/health", timeout=2).status_code == 200:
                return proc, info["url"]
        except (OSError, ValueError, KeyError, httpx.HTTPError):
            pass
        time.sleep(0.3)
    raise RuntimeError("the server did not become ready")


def stop_server(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGINT, 20), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
            proc.wait(wait)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


def body(prompt: str, max_tokens: int) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
            "temperature": 0.2, "seed": SEED}


async def server_round(url: str, texts: list[str], concurrency: int, max_tokens: int) -> dict:
    queue: asyncio.Queue = asyncio.Queue()
    for text in texts:
        queue.put_nowait(text)
    tokens, errors = [], 0
    limits = httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits, trust_env=False) as http:
        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                text = queue.get_nowait()
                resp = await http.post("/v1/chat/completions", json=body(text, max_tokens))
                if resp.status_code != 200:
                    errors += 1
                    continue
                tokens.append(resp.json()["usage"]["completion_tokens"])

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - began
    return {"wall_s": wall, "completion_tokens": sum(tokens), "requests": len(tokens), "errors": errors,
            "tok_per_s": sum(tokens) / wall}


async def eval_round(url: str, texts: list[str], concurrency: int, max_tokens: int, home: Path) -> dict:
    spec = {"description": "throughput", "seed": SEED,
            "targets": [{"model": MODEL, "prompt": "{prompt}", "settings": {"max_tokens": max_tokens,
                                                                           "temperature": 0.2}}],
            "tests": [{"vars": {"prompt": t}, "assert": [{"type": "not-contains", "value": "<error>"}]} for t in texts]}
    ev = parse_eval(spec, SourceMap("bench"), Path.cwd())
    (home / "eval-side").mkdir(exist_ok=True)
    client = RemoteClient(url)
    env = EvalEnv(client, Settings(home=home / "eval-side"))
    store = EvalStore(env.settings.db_path("evals"))  # as `cupola eval run` does: every sample stored
    tokens, errors = 0, 0
    began = time.perf_counter()
    try:
        async for event in EvalRunner(env, store).run(ev, concurrency=concurrency):
            if event["type"] == "run_finished":
                target = event["summary"]["targets"][0]
                tokens = target["completion_tokens"]["total"] or 0
                errors = target["errors"]
    finally:
        await client.aclose()
        store.close()
    wall = time.perf_counter() - began
    return {"wall_s": wall, "completion_tokens": tokens, "requests": len(texts) - errors, "errors": errors,
            "tok_per_s": tokens / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parallel", type=int, default=4, help="server slots = concurrency of both sides")
    ap.add_argument("--prompts", type=int, default=24)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds per side")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="cupola-eval-bench-"))
    store = ModelStore(home / "models")
    for alias in (MODEL, "minilm-l6"):
        store.pull(alias)
    proc, url = start_server(home, args.parallel, 1024)
    texts = prompts(args.prompts)
    rounds: dict[str, list[dict]] = {"server": [], "eval": []}
    try:
        asyncio.run(server_round(url, texts[:args.parallel], args.parallel, 8))  # warm up
        for r in range(args.rounds):
            order = ("server", "eval") if r % 2 == 0 else ("eval", "server")
            for side in order:
                if side == "server":
                    res = asyncio.run(server_round(url, texts, args.parallel, args.max_tokens))
                else:
                    res = asyncio.run(eval_round(url, texts, args.parallel, args.max_tokens, home))
                rounds[side].append(res)
                print(f"round {r + 1} {side:6s} {res['tok_per_s']:7.1f} tok/s  ({res['completion_tokens']} tokens in "
                      f"{res['wall_s']:.1f}s, {res['errors']} errors)", flush=True)
    finally:
        stop_server(proc)
    med = {side: statistics.median(x["tok_per_s"] for x in rs) for side, rs in rounds.items()}
    ratio = med["eval"] / med["server"]
    load = os.getloadavg()
    result = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": platform.platform(),
              "cpus": os.cpu_count(), "load_average_at_end": [round(x, 2) for x in load],
              "note": "measured while the machine was shared", "model": MODEL, "parallel": args.parallel,
              "prompts": args.prompts, "max_tokens": args.max_tokens, "rounds": rounds,
              "median_tok_per_s": med, "eval_over_server": ratio, "target": 0.9, "pass": ratio >= 0.9}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "eval_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Eval throughput: the matrix runner vs the server's aggregate tokens/s",
        "",
        f"{MODEL}, {args.parallel} slots = concurrency on both sides, {args.prompts} prompts per round, "
        f"max_tokens {args.max_tokens}, {args.rounds} alternating rounds per side. Measured while the machine was "
        f"shared ({os.cpu_count()} cores, load average {load[0]:.1f} at the end): absolute numbers are low and "
        "noisy; the ratio is what this measures.",
        "",
        "| side | round | tokens | wall | tok/s | errors |",
        "|---|---:|---:|---:|---:|---:|",
        *[f"| {side} | {i + 1} | {x['completion_tokens']} | {x['wall_s']:.1f}s | {x['tok_per_s']:.1f} | {x['errors']} |"
          for side, rs in rounds.items() for i, x in enumerate(rs)],
        "",
        f"Median: server {med['server']:.1f} tok/s, eval {med['eval']:.1f} tok/s: **eval / server = {ratio:.3f}x** "
        f"(target >= 0.9x: {'PASS' if ratio >= 0.9 else 'FAIL'}).",
        "",
        "Reproduce: `.venv/bin/python bench/eval_throughput.py` "
        f"`--parallel {args.parallel} --prompts {args.prompts} --max-tokens {args.max_tokens} --rounds {args.rounds}`",
    ]
    (RESULTS / "eval_throughput.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[-4:]))


if __name__ == "__main__":
    main()
