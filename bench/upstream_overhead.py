"""What Cupola costs as a gateway: streams straight to a raw llama.cpp server vs through Cupola to it.

One raw llama.cpp server (the one embedded in xllamacpp, on TCP, smollm2-135m, 8 slots) is the
upstream. The same workload — N concurrent clients each streaming R chat completions of
--max-tokens tokens (ignore_eos, so every answer has exactly that length) — runs alternately
straight against it and through `cupola serve` configured with it as `[upstreams.raw]`, for
--rounds rounds each, in alternating order. Reported side by side: aggregate tokens/s and time to
first token (p50/p95) per path, the throughput ratio (target >= 0.95) and the first-token latency
Cupola adds (p95 difference, target <= 15 ms), also measured on sequential single requests.

Run (from the repository root):

    .venv/bin/python bench/upstream_overhead.py [--clients 8] [--requests 3] [--rounds 3]

Results: bench/results/upstream_overhead.{json,md}; logs in bench/results/logs/.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_concurrency import (RAW_SERVER, RESULTS, cupola_server_url, free_port, one_request, start,  # noqa: E402
                               stop, wait_ready)

MODEL = "smollm2-135m"


def body(model: str, k: int, max_tokens: int) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": f"Tell story number {k} about a lighthouse."}],
            "max_tokens": max_tokens, "temperature": 0.2, "top_p": 0.95, "top_k": 40, "seed": k,
            "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}}


async def round_(url: str, model: str, clients: int, requests: int, max_tokens: int, base: int) -> dict:
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(timeout=httpx.Timeout(600, connect=10), limits=limits, trust_env=False) as http:
        async def loop(i: int) -> list[dict]:
            return [await one_request(http, url, body(model, base + i * requests + j, max_tokens))
                    for j in range(requests)]

        began = time.perf_counter()
        per = await asyncio.gather(*(loop(i) for i in range(clients)))
        wall = time.perf_counter() - began
    reqs = [q for qs in per for q in qs]
    errors = [q["error"] for q in reqs if q["error"]]
    tokens = sum(q["tokens"] for q in reqs if not q["error"])
    return {"tok_per_s": tokens / wall, "ttfts": [q["ttft"] for q in reqs if q["ttft"] is not None],
            "errors": len(errors), "error_samples": errors[:3], "tokens": tokens, "wall_s": wall}


async def sequential(url: str, model: str, n: int, base: int) -> list[float]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(600, connect=10), trust_env=False) as http:
        out = []
        for k in range(n):
            q = await one_request(http, url, body(model, base + k, 4))
            if q["ttft"] is not None:
                out.append(q["ttft"])
        return out


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=3, help="requests per client per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--sequential", type=int, default=20, help="single requests per path for the added-latency check")
    args = ap.parse_args()

    from cupola.models.store import ModelStore

    home = Path(tempfile.mkdtemp(prefix="cupola-bench-"))
    store = ModelStore(home / "models")
    gguf = store.pull(MODEL).file()
    raw_port = free_port()
    raw = start("upstream-raw", [sys.executable, "-c", RAW_SERVER, str(gguf), str(args.clients), "1024",
                                 str(args.threads), str(raw_port)])
    raw_url = wait_ready("upstream-raw", raw, lambda: f"http://127.0.0.1:{raw_port}", "/health")
    (home / "config.toml").write_text(f'preload = false\n[upstreams.raw]\nurl = "{raw_url}/v1"\n'
                                      f'models = {{ "raw-smol" = "{MODEL}" }}\nmax_concurrency = {args.clients}\n')
    env = {**os.environ, "CUPOLA_HOME": str(home)}
    gateway = start("upstream-gateway", [sys.executable, "-m", "cupola", "serve", "--port", "0", "--no-preload"],
                    env=env)
    try:
        gw_url = wait_ready("upstream-gateway", gateway, lambda: cupola_server_url(home, gateway.pid), "/health")
        paths = {"direct": (raw_url, MODEL), "cupola": (gw_url, "raw-smol")}
        for url, model in paths.values():  # warm both (prompt cache, connections)
            asyncio.run(round_(url, model, 2, 1, 8, 10_000))
        results: dict[str, dict] = {p: {"rounds": [], "ttfts": [], "seq": []} for p in paths}
        order = list(paths)
        for r in range(args.rounds):
            for name in order if r % 2 == 0 else reversed(order):
                url, model = paths[name]
                got = asyncio.run(round_(url, model, args.clients, args.requests, args.max_tokens, 1000 * r))
                results[name]["rounds"].append(got)
                results[name]["ttfts"] += got["ttfts"]
                print(f"round {r + 1} {name:7s} {got['tok_per_s']:7.1f} tok/s  errors {got['errors']}", flush=True)
        for name in order:
            url, model = paths[name]
            results[name]["seq"] = asyncio.run(sequential(url, model, args.sequential, 50_000))
    finally:
        stop(gateway)
        stop(raw)

    summary = {}
    for name, res in results.items():
        rates = [x["tok_per_s"] for x in res["rounds"]]
        summary[name] = {"tok_per_s_median": statistics.median(rates), "tok_per_s_rounds": rates,
                         "ttft_p50_ms": 1000 * pct(res["ttfts"], 0.5), "ttft_p95_ms": 1000 * pct(res["ttfts"], 0.95),
                         "single_ttft_p50_ms": 1000 * pct(res["seq"], 0.5),
                         "single_ttft_p95_ms": 1000 * pct(res["seq"], 0.95),
                         "errors": sum(x["errors"] for x in res["rounds"])}
    d, c = summary["direct"], summary["cupola"]
    report = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": platform.platform(),
        "cpus": os.cpu_count(), "settings": vars(args), "paths": summary,
        "throughput_ratio": c["tok_per_s_median"] / d["tok_per_s_median"],
        "added_ttft_p95_ms": c["ttft_p95_ms"] - d["ttft_p95_ms"],
        "added_single_ttft_p50_ms": c["single_ttft_p50_ms"] - d["single_ttft_p50_ms"],
        "added_single_ttft_p95_ms": c["single_ttft_p95_ms"] - d["single_ttft_p95_ms"],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "upstream_overhead.json").write_text(json.dumps(report, indent=2))
    lines = [f"# Cupola as a gateway to a raw llama.cpp server ({report['date']})", "",
             f"{args.clients} concurrent clients x {args.requests} streamed requests x {args.rounds} rounds, "
             f"{args.max_tokens} tokens each (ignore_eos), smollm2-135m, {args.threads} threads, "
             f"{os.cpu_count()} cores.", "",
             "| path | tok/s (median of rounds) | TTFT p50 ms | TTFT p95 ms | single TTFT p50 ms | "
             "single TTFT p95 ms | errors |", "|---|---|---|---|---|---|---|"]
    for name, s in summary.items():
        lines.append(f"| {name} | {s['tok_per_s_median']:.1f} | {s['ttft_p50_ms']:.1f} | {s['ttft_p95_ms']:.1f} | "
                     f"{s['single_ttft_p50_ms']:.1f} | {s['single_ttft_p95_ms']:.1f} | {s['errors']} |")
    lines += ["", f"- throughput, Cupola / direct: **{report['throughput_ratio']:.3f}x** (target >= 0.95)",
              f"- added first-token latency p95 under load: **{report['added_ttft_p95_ms']:.1f} ms** "
              f"(target <= 15 ms); single requests: p50 {report['added_single_ttft_p50_ms']:.1f} ms, "
              f"p95 {report['added_single_ttft_p95_ms']:.1f} ms", "",
              "Reproduce: `.venv/bin/python bench/upstream_overhead.py`"]
    (RESULTS / "upstream_overhead.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
