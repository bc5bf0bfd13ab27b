"""Streaming throughput and time-to-first-token under concurrency: Cupola vs. raw llama.cpp vs. a peer.

Three servers answer the same streaming chat workload on the same GGUF model (smollm2-135m) with
the same settings (slots, threads, context per slot), one server at a time:

  cupola  `python -m cupola serve` (llama.cpp embedded through xllamacpp, behind FastAPI)
  raw     llama.cpp's own HTTP server as embedded in xllamacpp (no Cupola in the way)
  peer    llama-cpp-python's server (`python -m llama_cpp.server`), run with
          --interrupt_requests False so that each queued request is answered in full

For each concurrency N (default 1, 4, 8), N asyncio clients each stream R requests (default 4)
one after another, max_tokens 96. Throughput is completion tokens / wall clock of the round; TTFT
is the time from sending a request to its first content token. Results go to
bench/results/serve_concurrency.{json,md}, server logs to bench/results/logs/. Takes ~3 minutes.

Run (from the repository root):

    .venv/bin/python bench/serve_concurrency.py [--peer-python /tmp/peer-venv/bin/python]

Without --peer-python, bench/.peer-venv is used, and created (llama-cpp-python compiles for about
six minutes) if missing. --skip-peer leaves the peer out.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import datetime
import importlib.metadata
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
MODEL = "smollm2-135m"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPTS = [
    "Write a detailed story about a lighthouse keeper who finds a message in a bottle.",
    "Explain in detail how a refrigerator keeps food cold.",
    "Write a detailed story about a young inventor building a flying machine.",
    "Explain in detail how the human heart pumps blood through the body.",
    "Describe in detail a day in the life of a medieval blacksmith.",
    "Explain in detail how bread rises when it is baked.",
    "Write a detailed story about two friends lost in a snowy forest.",
    "Explain in detail how airplanes stay in the air.",
    "Write a long letter from a sailor to his family describing a storm at sea.",
    "Explain in detail how plants turn sunlight into food.",
]
RAW_SERVER = """
import sys, threading, xllamacpp as xlc
gguf, parallel, ctx, threads, port = sys.argv[1], *map(int, sys.argv[2:])
p = xlc.CommonParams(); p.model.path = gguf; p.n_parallel = parallel; p.n_ctx = parallel * ctx
p.cpuparams.n_threads = threads; p.cpuparams_batch.n_threads = threads; p.cont_batching = True
p.verbosity = -1; p.hostnames = ["127.0.0.1"]; p.port = port
s = xlc.Server(p); print(s.listening_address, flush=True); threading.Event().wait()
"""
SERVERS = ("cupola", "raw", "peer")
PROCS: list[subprocess.Popen] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent() -> None:
    """In the child: get SIGKILL if this script dies without cleaning up (Linux only)."""
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start(name: str, cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a server in its own process group, logging to results/logs/NAME.log."""
    (RESULTS / "logs").mkdir(parents=True, exist_ok=True)
    with open(RESULTS / "logs" / f"{name}.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                preexec_fn=die_with_parent)
    PROCS.append(proc)
    return proc


def stop(proc: subprocess.Popen) -> None:
    """Stop a server we started (and its process group): SIGTERM, then SIGKILL after 15 s."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
            proc.wait(wait)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    if proc in PROCS:
        PROCS.remove(proc)


def wait_ready(name: str, proc: subprocess.Popen, url_of, path: str, timeout: float = 180) -> str:
    """Poll until the server answers GET path with 200; url_of() gives its base URL or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (RESULTS / "logs" / f"{name}.log").read_text()[-2000:]
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")
        url = url_of()
        if url:
            try:
                if httpx.get(url + path, timeout=2, trust_env=False).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    raise RuntimeError(f"{name} was not ready after {timeout:.0f}s")


def cupola_server_url(home: Path, pid: int) -> str | None:
    try:
        info = json.loads((home / "server.json").read_text())
    except (OSError, ValueError):
        return None
    return info["url"] if info.get("pid") == pid else None


async def one_request(client: httpx.AsyncClient, url: str, body: dict) -> dict:
    """One streamed chat completion: TTFT (first content delta), total time, tokens, error."""
    started = time.perf_counter()
    out = {"ttft": None, "total": None, "deltas": 0, "usage_tokens": None, "seed": body["seed"], "error": None}
    try:
        async with client.stream("POST", url + "/v1/chat/completions", json=body) as resp:
            if resp.status_code != 200:
                out["error"] = f"HTTP {resp.status_code}: {(await resp.aread())[:200]!r}"
            else:
                await read_stream(resp, started, out)
    except (httpx.HTTPError, ValueError) as exc:
        out["error"] = repr(exc)[:200]
    out["total"] = time.perf_counter() - started
    out["tokens"] = out["usage_tokens"] if out["usage_tokens"] is not None else out["deltas"]
    return out


async def read_stream(resp: httpx.Response, started: float, out: dict) -> None:
    async for line in resp.aiter_lines():
        if not line.startswith("data:"):
            continue  # blank lines, SSE comments and pings
        data = line[5:].strip()
        if data == "[DONE]":
            return
        chunk = json.loads(data)
        if "error" in chunk:
            out["error"] = str(chunk["error"])[:200]
            return
        if chunk.get("usage"):
            out["usage_tokens"] = chunk["usage"].get("completion_tokens")
        for choice in chunk.get("choices") or []:
            if (choice.get("delta") or {}).get("content"):
                out["deltas"] += 1
                if out["ttft"] is None:
                    out["ttft"] = time.perf_counter() - started


def request_body(model: str, k: int, seed: int, max_tokens: int) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": PROMPTS[k % len(PROMPTS)]}],
            "max_tokens": max_tokens, "temperature": 0.2, "top_p": 0.95, "top_k": 40, "seed": seed,
            "stream": True, "stream_options": {"include_usage": True}}


async def run_round(url: str, model: str, n: int, r: int, max_tokens: int) -> dict:
    limits = httpx.Limits(max_connections=n + 4, max_keepalive_connections=n + 4)
    async with httpx.AsyncClient(timeout=httpx.Timeout(600, connect=10), limits=limits, trust_env=False) as client:
        async def client_loop(i: int) -> list[dict]:
            return [await one_request(client, url, request_body(model, i * r + j, 1000 * n + i * r + j, max_tokens))
                    for j in range(r)]

        began = time.perf_counter()
        per_client = await asyncio.gather(*(client_loop(i) for i in range(n)))
        wall = time.perf_counter() - began
    reqs = [q for qs in per_client for q in qs]
    ok = [q for q in reqs if q["error"] is None]
    ttfts = [q["ttft"] for q in ok if q["ttft"] is not None]
    tokens = sum(q["tokens"] for q in ok)
    return {"clients": n, "requests": len(reqs), "errors": len(reqs) - len(ok), "wall_s": wall,
            "completion_tokens": tokens, "tok_per_s": tokens / wall,
            "mean_tokens_per_request": tokens / len(ok) if ok else 0.0,
            "ttft_p50_s": statistics.median(ttfts) if ttfts else None, "ttft_max_s": max(ttfts, default=None),
            "error_samples": sorted({q["error"] for q in reqs if q["error"]})[:3], "per_request": reqs}


def bench_server(name: str, url: str, model: str, args) -> dict:
    print(f"[{name}] ready at {url}; model {model!r}; warming up", flush=True)
    warm = asyncio.run(run_round(url, model, 1, 1, 16))
    if warm["errors"]:
        raise RuntimeError(f"{name} warm-up failed: {warm['error_samples']}")
    rounds = {}
    for n in args.concurrency:
        res = asyncio.run(run_round(url, model, n, args.requests, args.max_tokens))
        rounds[n] = res
        print(f"[{name}] N={n}: {res['tok_per_s']:.1f} tok/s, TTFT p50 {fmt(res['ttft_p50_s'])} "
              f"max {fmt(res['ttft_max_s'])}, {res['mean_tokens_per_request']:.1f} tok/req, "
              f"{res['errors']} errors, {res['wall_s']:.1f}s", flush=True)
    return rounds


def fmt(x, spec=".2f", suffix="s") -> str:
    return "-" if x is None else f"{x:{spec}}{suffix}"


def ratio(a, b) -> float | None:
    return a / b if a is not None and b else None


def report(results: dict, args, machine: dict) -> tuple[str, dict]:
    """Markdown: one row per concurrency with every server side by side, then details and targets."""
    names = list(results)
    head = ["N"] + [f"{s} tok/s" for s in names] + [f"{s} TTFT p50 / max" for s in names] + \
        ["cupola/raw tok/s", "cupola/peer tok/s", "cupola/peer worst TTFT"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    targets, cup, raw, peer = {}, results.get("cupola", {}), results.get("raw", {}), results.get("peer", {})
    for n in args.concurrency:
        c, w, p = cup.get(n), raw.get(n), peer.get(n)
        vs_raw = ratio(c and c["tok_per_s"], w and w["tok_per_s"])
        vs_peer = ratio(c and c["tok_per_s"], p and p["tok_per_s"])
        ttft = ratio(c and c["ttft_max_s"], p and p["ttft_max_s"])
        row = [str(n)] + [f"{results[s][n]['tok_per_s']:.1f}" for s in names] + \
            [f"{fmt(results[s][n]['ttft_p50_s'])} / {fmt(results[s][n]['ttft_max_s'])}" for s in names] + \
            [fmt(vs_raw, ".3f", "x"), fmt(vs_peer, ".2f", "x"), fmt(ttft, ".3f", "x")]
        lines.append("| " + " | ".join(row) + " |")
        targets[f"cupola >= 0.95x raw tok/s at N={n}"] = None if vs_raw is None else vs_raw >= 0.95
        if n == 8:
            targets["cupola >= 1.7x peer tok/s at N=8"] = None if vs_peer is None else vs_peer >= 1.7
            targets["cupola worst TTFT <= 0.2x peer's at N=8"] = None if ttft is None else ttft <= 0.2
    lines += ["", "| server | N | requests | errors | tokens/request | wall | tok/s |", "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {s} | {n} | {r['requests']} | {r['errors']} | {r['mean_tokens_per_request']:.1f} | "
              f"{r['wall_s']:.1f}s | {r['tok_per_s']:.1f} |" for s, rounds in results.items() for n, r in rounds.items()]
    lines += ["", "Targets: Cupola >= 0.95x raw throughput at every concurrency; at 8 clients Cupola >= 1.7x "
              "the peer's throughput with worst TTFT <= 0.2x the peer's.", ""]
    lines += [f"- {'PASS' if ok else 'not measured' if ok is None else 'FAIL'}: {t}" for t, ok in targets.items()]
    lines += ["", f"Machine: {machine['cpu_count']} x {machine['cpu_model']}; {machine['date']}; xllamacpp "
              f"{machine['xllamacpp']}, llama-cpp-python {machine['llama_cpp_python']}, cupola {machine['cupola']}."]
    return "\n".join(lines), targets


def peer_python(args) -> str:
    if args.peer_python:
        return args.peer_python
    venv = BENCH / ".peer-venv"
    if not (venv / "bin" / "python").exists():
        print(f"creating {venv} and installing llama-cpp-python[server] (it compiles llama.cpp: ~6 minutes)",
              flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "llama-cpp-python[server]"], check=True)
    return str(venv / "bin" / "python")


def machine_info(peer: str | None) -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    peer_version = None
    if peer:
        peer_version = subprocess.run([peer, "-c", "import importlib.metadata as m; print(m.version('llama_cpp_python'))"],
                                      capture_output=True, text=True).stdout.strip() or None
    return {"cpu_count": os.cpu_count(), "cpu_model": cpu, "platform": platform.platform(),
            "python": platform.python_version(), "date": datetime.datetime.now().astimezone().isoformat(),
            "xllamacpp": importlib.metadata.version("xllamacpp"), "llama_cpp_python": peer_version,
            "cupola": importlib.metadata.version("cupola")}


def launch(name: str, args, env: dict, home: Path, gguf: Path, peer: str | None) -> tuple:
    """Start one server and wait until it answers: (process, base URL, model name for requests)."""
    py, slots, threads, ctx = sys.executable, str(args.parallel), str(args.threads), str(args.ctx_per_slot)
    if name == "cupola":
        (home / "server.json").unlink(missing_ok=True)
        proc = start(name, [py, "-m", "cupola", "serve", "--port", "0", "--parallel", slots, "--threads", threads,
                            "--ctx-per-slot", ctx, "--no-preload"], env)
        return proc, wait_ready(name, proc, lambda: cupola_server_url(home, proc.pid), "/health"), MODEL
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    if name == "raw":
        proc = start(name, [py, "-c", RAW_SERVER, str(gguf), slots, ctx, threads, str(port)])
        return proc, wait_ready(name, proc, lambda: base, "/health"), MODEL
    proc = start(name, [peer, "-m", "llama_cpp.server", "--model", str(gguf), "--n_ctx", ctx,
                        "--n_threads", threads, "--n_threads_batch", threads, "--port", str(port),
                        "--host", "127.0.0.1", "--interrupt_requests", "False", "--verbose", "False"])
    url = wait_ready(name, proc, lambda: base, "/v1/models")
    return proc, url, httpx.get(url + "/v1/models", trust_env=False).json()["data"][0]["id"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parallel", type=int, default=8, help="slots (cupola and raw)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--ctx-per-slot", type=int, default=1024)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--requests", type=int, default=4, help="requests per client, one after another")
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--out", type=Path, default=RESULTS / "serve_concurrency", help="results path without suffix")
    ap.add_argument("--cupola-home", type=Path, default=BENCH / ".cupola-home")
    ap.add_argument("--peer-python", help="python of a venv with llama-cpp-python[server]")
    ap.add_argument("--skip-peer", action="store_true", help="benchmark only cupola and raw")
    ap.add_argument("--servers", nargs="+", choices=SERVERS, default=list(SERVERS), help="which servers to run, in this order")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally below

    home = args.cupola_home.resolve()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUPOLA_")} | {"CUPOLA_HOME": str(home)}
    py = sys.executable
    servers = [s for s in dict.fromkeys(args.servers) if not (s == "peer" and args.skip_peer)]
    for alias in (MODEL, "minilm-l6"):  # `cupola serve` pulls both default models before it listens
        subprocess.run([py, "-m", "cupola", "models", "pull", alias], env=env, check=True)
    gguf = home / "models" / MODEL / GGUF_NAME
    peer = peer_python(args) if "peer" in servers else None
    settings = {k: v for k, v in vars(args).items() if k not in ("cupola_home", "out")} | {
        "model": MODEL, "gguf": str(gguf), "temperature": 0.2, "top_p": 0.95, "top_k": 40}

    results: dict[str, dict] = {}
    try:
        for name in servers:
            proc, url, model = launch(name, args, env, home, gguf, peer)
            results[name] = bench_server(name, url, model, args)
            stop(proc)
    finally:
        for proc in list(PROCS):
            stop(proc)

    machine = machine_info(peer)
    table, targets = report(results, args, machine)
    print("\n" + table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(
        f"# Serving under concurrency: Cupola vs raw llama.cpp vs llama-cpp-python\n\n"
        f"{MODEL}, {args.parallel} slots, {args.threads} threads, {args.ctx_per_slot} ctx/slot, "
        f"{args.requests} requests per client, max_tokens {args.max_tokens}.\n\n{table}\n")
    args.out.with_suffix(".json").write_text(json.dumps(
        {"settings": settings, "machine": machine, "targets": targets, "results": results}, indent=1))
    print(f"\nwrote {args.out.with_suffix('.json')} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted; servers stopped")
