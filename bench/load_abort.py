"""Overload and aborts against `cupola serve` with its default settings (real smollm2-135m).

1. **Burst**: N concurrent streaming clients (default 64). Every request must end with 200 or 429 +
   Retry-After (a client waiting past --hang-after seconds counts as a hang); the server's memory is sampled
   throughout; afterwards /health is 200, no slot is busy, and a new request's first token comes as fast as
   before the burst (median of 3, side by side: the ratio is printed).
2. **Aborts**: M clients that disconnect mid-stream after a random number of chunks (default 100), mixed
   with K normal ones (default 20). Every slot must be freed (/api/ps and the metrics' running and queued
   gauges back to 0), every normal request complete, the aborted ones recorded as cancelled.

Results go to bench/results/reliability.md (section "Overload and aborts"), measured while the machine is
shared unless said otherwise.

    .venv/bin/python bench/load_abort.py                      # 64 streams, 100 aborts + 20 normal
    .venv/bin/python bench/load_abort.py --clients 16 --aborts 10 --normal 4 --no-write
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live import ROOT, Served  # noqa: E402
from sections import write_section  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "reliability.md"
PROMPT = "Write a short story about a lighthouse keeper and a storm."


def body(seed: int, max_tokens: int) -> dict:
    return {"model": "smollm2-135m", "stream": True, "max_tokens": max_tokens, "temperature": 0.2, "seed": seed,
            "messages": [{"role": "user", "content": PROMPT}]}


async def stream_one(client: httpx.AsyncClient, seed: int, max_tokens: int, *, abort_after: int | None = None,
                     hang_after: float = 600) -> dict:
    started = time.perf_counter()
    out: dict = {"status": None, "ttft": None, "chunks": 0, "finish": None, "retry_after": None, "aborted": False}
    try:
        async with asyncio.timeout(hang_after):
            async with client.stream("POST", "/v1/chat/completions", json=body(seed, max_tokens)) as response:
                out["status"] = response.status_code
                if response.status_code != 200:
                    out["retry_after"] = response.headers.get("retry-after")
                    out["error"] = json.loads(await response.aread()).get("error", {}).get("code")
                    return out
                async for line in response.aiter_lines():
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    chunk = json.loads(line[6:])
                    if "error" in chunk:
                        out["error"] = chunk["error"].get("code")
                        continue
                    choices = chunk.get("choices") or []
                    if choices and choices[0].get("delta", {}).get("content") and out["ttft"] is None:
                        out["ttft"] = time.perf_counter() - started
                    if choices and choices[0].get("finish_reason"):
                        out["finish"] = choices[0]["finish_reason"]
                    out["chunks"] += 1
                    if abort_after is not None and out["chunks"] >= abort_after:
                        out["aborted"] = True
                        return out  # leaving the block closes the connection mid-stream
    except TimeoutError:
        out["status"] = "hang"
    except httpx.HTTPError as exc:
        out["status"] = f"transport: {type(exc).__name__}"
    out["seconds"] = time.perf_counter() - started
    return out


class MemorySampler:
    def __init__(self, server: Served, every: float = 0.25) -> None:
        self.server, self.every, self.peak = server, every, server.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, self.server.rss())

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def first_token(url: str, runs: int = 3) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        times = [(await stream_one(client, 1000 + i, 8))["ttft"] for i in range(runs)]
    return statistics.median(t for t in times if t is not None)


def busy(url: str) -> tuple[int, int]:
    models = httpx.get(url + "/api/ps", timeout=10).json()["models"]
    return sum(m["running"] for m in models), sum(m["queued"] for m in models)


def gauges(url: str) -> tuple[float, float]:
    text = httpx.get(url + "/metrics", timeout=10).text
    running = sum(float(v) for v in re.findall(r'^cupola_requests_running\{[^}]*\} (\S+)$', text, re.M))
    queued = sum(float(v) for v in re.findall(r'^cupola_queue_depth\{[^}]*\} (\S+)$', text, re.M))
    return running, queued


def wait_idle(url: str, timeout: float = 60) -> float | None:
    """Seconds until no slot is busy and nothing waits (by /api/ps and the metrics), or None."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if busy(url) == (0, 0) and gauges(url) == (0.0, 0.0):
            return time.monotonic() - started
        time.sleep(0.1)
    return None


async def burst(server: Served, clients: int, max_tokens: int, hang_after: float) -> dict:
    url = server.url
    before = await first_token(url)
    rss_before = server.rss()
    limits = httpx.Limits(max_connections=clients + 8, max_keepalive_connections=clients + 8)
    with MemorySampler(server) as memory:
        started = time.perf_counter()
        async with httpx.AsyncClient(base_url=url, timeout=hang_after + 30, limits=limits) as client:
            results = await asyncio.gather(*(stream_one(client, i, max_tokens, hang_after=hang_after)
                                             for i in range(clients)))
        seconds = time.perf_counter() - started
    idle_after = wait_idle(url)
    health = httpx.get(url + "/health", timeout=10).status_code
    after = await first_token(url)
    ok = [r for r in results if r["status"] == 200 and r["finish"] and not r.get("error")]
    refused = [r for r in results if r["status"] == 429]
    other = [r for r in results if r not in ok and r not in refused]
    slots = httpx.get(url + "/api/ps", timeout=10).json()["models"]
    return {"clients": clients, "max_tokens": max_tokens, "ok": len(ok), "refused": len(refused),
            "refused_with_retry_after": sum(1 for r in refused if r["retry_after"] and int(r["retry_after"]) >= 1),
            "retry_after": sorted({int(r["retry_after"]) for r in refused if r["retry_after"]}),
            "other": [f"{r['status']} {r.get('error')}" for r in other],
            "worst_ttft": max((r["ttft"] for r in ok if r["ttft"] is not None), default=None),
            "median_ttft": statistics.median([r["ttft"] for r in ok if r["ttft"] is not None] or [0]),
            "seconds": seconds, "rss_before": rss_before, "rss_peak": memory.peak, "idle_after": idle_after,
            "health": health, "ttft_before": before, "ttft_after": after,
            "slots": {m["model"]: m["slots"] for m in slots}}


async def aborts(server: Served, aborting: int, normal: int, max_tokens: int, hang_after: float) -> dict:
    url = server.url
    rng = random.Random(14)
    jobs = [("abort", rng.randint(1, max_tokens // 2)) for _ in range(aborting)] + [("normal", None)] * normal
    rng.shuffle(jobs)
    before = len([r for r in httpx.get(url + "/api/requests", params={"limit": 1000}).json()["requests"]
                  if r["status"] == "cancelled"])
    limits = httpx.Limits(max_connections=len(jobs) + 8, max_keepalive_connections=len(jobs) + 8)
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=hang_after + 30, limits=limits) as client:

        async def one(i: int, kind: str, after: int | None) -> tuple[str, dict]:
            await asyncio.sleep(rng.random() * 2)  # arrivals spread over 2 s
            return kind, await stream_one(client, 5000 + i, max_tokens, abort_after=after, hang_after=hang_after)

        results = await asyncio.gather(*(one(i, kind, after) for i, (kind, after) in enumerate(jobs)))
    seconds = time.perf_counter() - started
    idle_after = wait_idle(url)
    cancelled = len([r for r in httpx.get(url + "/api/requests", params={"limit": 1000}).json()["requests"]
                     if r["status"] == "cancelled"]) - before
    normals = [r for kind, r in results if kind == "normal"]
    aborted = [r for kind, r in results if kind == "abort"]
    return {"aborting": aborting, "normal": normal, "seconds": seconds,
            "normal_ok": sum(1 for r in normals if r["status"] == 200 and r["finish"]),
            "normal_refused": sum(1 for r in normals if r["status"] == 429),
            "aborted_mid_stream": sum(1 for r in aborted if r["aborted"]),
            "aborted_refused": sum(1 for r in aborted if r["status"] == 429),
            "aborted_finished_first": sum(1 for r in aborted if r["status"] == 200 and not r["aborted"]),
            "other": [f"{r['status']} {r.get('error')}" for _, r in results
                      if r["status"] not in (200, 429) or r.get("error")],
            "cancelled_records": cancelled, "idle_after": idle_after,
            "health": httpx.get(url + "/health", timeout=10).status_code}


def burst_row(name: str, b: dict) -> str:
    mb = 1024 * 1024
    retry = f" (Retry-After {', '.join(map(str, b['retry_after']))} s)" if b["retry_after"] else ""
    worst = f"{b['worst_ttft']:.1f} s" if b["worst_ttft"] is not None else "-"
    return (f"| {name} | {b['ok']} | {b['refused']} ({b['refused'] / b['clients']:.0%}) | "
            f"{b['refused_with_retry_after']}{retry} | {len(b['other'])} {'; '.join(b['other'])} | {worst} | "
            f"{b['median_ttft']:.1f} s | {b['rss_before'] / mb:.0f} → {b['rss_peak'] / mb:.0f} MB | "
            f"{b['seconds']:.0f} s |")


def section(b: dict, a: dict, command: str, old: dict | None = None, over: dict | None = None) -> str:
    share = b["refused"] / b["clients"]
    ttft_ratio = b["ttft_after"] / b["ttft_before"] if b["ttft_before"] else float("nan")
    lines = ["## Overload and aborts", "",
             "Measured on a quiet machine (2 cores, nothing else running).", "",
             f"Command: `{command}` — `cupola serve` with its default settings (slots sized from the model and "
             f"free memory: {', '.join(f'{m} {n}' for m, n in b['slots'].items())}; admission by expected wait, "
             "max_queue_wait 60 s).", "",
             f"### {b['clients']} concurrent streaming clients ({b['max_tokens']} tokens each)", "",
             "| settings | answered 200 | 429 (share) | 429 with Retry-After | other (hang, 5xx, broken) | "
             "worst first token | median first token | server memory before → peak | all done in |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
             burst_row(f"defaults now ({', '.join(map(str, b['slots'].values()))} slots, wait ≤ 60 s)", b),
             *([burst_row("old defaults (4 slots, 16 may wait)", old)] if old else []), "",
             *([f"Then, on the same server, a burst beyond what it serves in a minute: {over['clients']} clients "
                f"({over['max_tokens']} tokens each). The admitted ones wait up to the limit; the rest are told at "
                "once when to come back:", "",
                "| burst | answered 200 | 429 (share) | 429 with Retry-After | other (hang, 5xx, broken) | "
                "worst first token | median first token | server memory before → peak | all done in |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
                burst_row(f"{over['clients']} clients", over), ""] if over else []),
             f"Afterwards: /health {b['health']}; every slot free and the queue empty "
             f"{'after ' + format(b['idle_after'], '.1f') + ' s' if b['idle_after'] is not None else 'NOT reached'} "
             f"(/api/ps and the metrics' gauges); a new request's first token {b['ttft_after']:.2f} s against "
             f"{b['ttft_before']:.2f} s before the burst (ratio {ttft_ratio:.2f}, median of 3 each).", "",
             *([f"Ratios, defaults now against the old ones in the same run: worst first token "
                f"{b['worst_ttft'] / old['worst_ttft']:.2f}, 429 share {share:.0%} against "
                f"{old['refused'] / old['clients']:.0%}, all done in {b['seconds'] / old['seconds']:.2f}.", ""]
               if old and old.get("worst_ttft") and b.get("worst_ttft") else []),
             f"### {a['aborting']} clients that disconnect mid-stream, mixed with {a['normal']} normal ones", "",
             "| normal completed | normal refused | aborted mid-stream | aborting ones refused / finished first | "
             "other | cancelled in the request log | slots free after | /health |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |",
             f"| {a['normal_ok']} / {a['normal']} | {a['normal_refused']} | {a['aborted_mid_stream']} | "
             f"{a['aborted_refused']} / {a['aborted_finished_first']} | {len(a['other'])} | {a['cancelled_records']} | "
             f"{'yes, ' + format(a['idle_after'], '.1f') + ' s after the last client' if a['idle_after'] is not None else 'NO'}"
             f" | {a['health']} |", "",
             "Hanging peers (tests/test_hangs.py): an upstream that accepts connections and never answers gives "
             "504 `upstream_timeout` after its `timeout` (streamed or not, embeddings too) and frees its slot; with a "
             "fallback the request is served by the next model. An MCP server that never greets fails with "
             "`did not answer the MCP handshake within N s` (`connect_timeout`), one whose tool never returns with "
             "`tool X did not answer within N s` (`timeout`).",
             ]
    return "\n".join(lines)



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--aborts", type=int, default=100)
    parser.add_argument("--normal", type=int, default=20)
    parser.add_argument("--hang-after", type=float, default=300, help="seconds after which a client counts as hung")
    parser.add_argument("--overload", type=int, default=256,
                        help="then a burst of this many clients, more than a minute's work (0: skip)")
    parser.add_argument("--skip-old", action="store_true", help="skip the burst on the old defaults")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    command = "python bench/load_abort.py" + "".join(
        f" --{k.replace('_', '-')} {v}" for k, v in vars(args).items()
        if k not in ("no_write", "skip_old") and v != parser.get_default(k))
    with tempfile.TemporaryDirectory(prefix="cupola-load-") as tmp:
        old = None
        if not args.skip_old:  # side by side: the same burst on the old defaults (4 slots, 16 may wait)
            server = Served(Path(tmp) / "old", "--parallel", "4", env={"CUPOLA_MAX_QUEUE": "16"})
            try:
                old = asyncio.run(burst(server, args.clients, args.max_tokens, args.hang_after))
                print("old defaults:", json.dumps(old, indent=1, default=str), flush=True)
            finally:
                server.stop()
        server = Served(Path(tmp) / "home")
        try:
            b = asyncio.run(burst(server, args.clients, args.max_tokens, args.hang_after))
            print(json.dumps(b, indent=1, default=str), flush=True)
            over = asyncio.run(burst(server, args.overload, args.max_tokens, args.hang_after)) if args.overload else None
            print("overload:", json.dumps(over, indent=1, default=str), flush=True)
            a = asyncio.run(aborts(server, args.aborts, args.normal, args.max_tokens, args.hang_after))
            print(json.dumps(a, indent=1, default=str), flush=True)
            alive = server.alive()
        finally:
            server.stop()
    text = section(b, a, ".venv/bin/" + command, old, over)
    print(text)
    if not args.no_write:
        write_section(RESULTS, "load_abort", text)
        print(f"wrote {RESULTS}")
    problems = b["other"] + a["other"] + (over["other"] if over else [])
    if problems or b["idle_after"] is None or a["idle_after"] is None or not alive or a["normal_ok"] + \
            a["normal_refused"] != a["normal"]:
        raise SystemExit(f"problems: {problems}")
    print(f"429 share {b['refused'] / b['clients']:.0%}; worst first token {b['worst_ttft']:.1f} s; "
          f"first token after/before {b['ttft_after'] / b['ttft_before']:.2f}")


if __name__ == "__main__":
    main()
