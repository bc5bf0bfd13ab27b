"""Are seeded answers reproducible, alone and under load? (Continuous batching can change numerics.)

A `cupola serve` (smollm2-135m) answers N seeded prompts one at a time, nothing else running
("alone"), then the same prompts again alone (the baseline: the same request twice), then again
while 8 other streams of mixed lengths decode on the same model ("under load"). For each prompt the
answers are compared byte for byte; where they differ, the first diverging token (streamed delta)
is reported. Runs with --parallel values given by --slots (default 4 and 1: with one slot nothing
is ever batched together).

Run (from the repository root):

    .venv/bin/python bench/determinism.py [--prompts 20] [--max-tokens 64] [--slots 4 1]

Results: bench/results/determinism.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_concurrency import RESULTS, cupola_server_url, start, stop, wait_ready  # noqa: E402

PROMPTS = ["Describe a lighthouse at night.", "Explain why the sea is salty.", "Write two lines about autumn.",
           "What makes bread rise?", "Give three tips for learning to juggle.", "Describe a busy train station.",
           "Why do cats purr?", "Explain how a bicycle stays upright.", "Write a haiku about snow.",
           "What is a rainbow made of?", "Describe the smell of rain.", "How do bees make honey?",
           "Write a short toast for a wedding.", "Explain what a volcano is.", "Describe a quiet library.",
           "Why is the sky blue?", "Give advice for a first job interview.", "Describe a mountain sunrise.",
           "What do owls eat?", "Explain how tides work."]


async def answer(http: httpx.AsyncClient, url: str, prompt: str, seed: int, max_tokens: int,
                 temperature: float) -> list[str]:
    body = {"model": "smollm2-135m", "messages": [{"role": "user", "content": prompt}], "seed": seed,
            "max_tokens": max_tokens, "temperature": temperature, "stream": True}
    for _ in range(60):  # a busy server may refuse with 429: wait as told and ask again
        deltas: list[str] = []
        async with http.stream("POST", url + "/v1/chat/completions", json=body) as resp:
            if resp.status_code == 429:
                await asyncio.sleep(min(float(resp.headers.get("retry-after", 1)), 5.0))
                continue
            if resp.status_code != 200:
                raise RuntimeError(f"{resp.status_code}: {(await resp.aread())[:300]!r}")
            await _read(resp, deltas)
            return deltas
    raise RuntimeError("still refused with 429 after 60 tries")


async def _read(resp: httpx.Response, deltas: list[str]) -> None:
    async for line in resp.aiter_lines():
        if line.startswith("data:") and line[5:].strip() != "[DONE]":
            for choice in json.loads(line[5:]).get("choices") or []:
                text = (choice.get("delta") or {}).get("content")
                if text:
                    deltas.append(text)


def first_divergence(a: list[str], b: list[str]) -> int | None:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


async def background(http: httpx.AsyncClient, url: str, stop_event: asyncio.Event, k: int) -> None:
    lengths = [16, 48, 96, 160, 24, 64, 128, 200]
    while not stop_event.is_set():
        await answer(http, url, f"Tell a story about number {k}.", 1000 + k, lengths[k % len(lengths)], 0.8)


async def run(url: str, n: int, max_tokens: int, temperature: float) -> dict:
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(timeout=600, limits=limits, trust_env=False) as http:
        alone = [await answer(http, url, p, 7 + i, max_tokens, temperature) for i, p in enumerate(PROMPTS[:n])]
        again = [await answer(http, url, p, 7 + i, max_tokens, temperature) for i, p in enumerate(PROMPTS[:n])]
        stop_event = asyncio.Event()
        noise = [asyncio.create_task(background(http, url, stop_event, k)) for k in range(8)]
        await asyncio.sleep(1.0)
        loaded = [await answer(http, url, p, 7 + i, max_tokens, temperature) for i, p in enumerate(PROMPTS[:n])]
        stop_event.set()
        await asyncio.gather(*noise, return_exceptions=True)

    def compare(a: list[list[str]], b: list[list[str]]) -> dict:
        div = [first_divergence(x, y) for x, y in zip(a, b)]
        different = [d for d in div if d is not None]
        return {"identical": sum(d is None for d in div), "of": len(div),
                "first_divergence_tokens": different, "earliest": min(different) if different else None}

    return {"temperature": temperature, "alone_vs_alone": compare(alone, again),
            "alone_vs_under_load": compare(alone, loaded)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=20)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--slots", type=int, nargs="+", default=[4, 1])
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="cupola-determinism-"))
    results = []
    for slots in args.slots:
        env = {**os.environ, "CUPOLA_HOME": str(home)}
        proc = start(f"determinism-{slots}", [sys.executable, "-m", "cupola", "serve", "--port", "0",
                                              "--parallel", str(slots)], env=env)
        try:
            url = wait_ready(f"determinism-{slots}", proc, lambda: cupola_server_url(home, proc.pid), "/health")
            for temperature in (0.0, 0.7):
                got = asyncio.run(run(url, args.prompts, args.max_tokens, temperature))
                got["slots"] = slots
                results.append(got)
                print(json.dumps(got), flush=True)
        finally:
            stop(proc)
    report = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": platform.platform(),
              "cpus": os.cpu_count(), "settings": vars(args), "results": results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "determinism.json").write_text(json.dumps(report, indent=2))
    lines = [f"# Determinism of seeded requests ({report['date']})", "",
             f"smollm2-135m, {args.prompts} seeded prompts, {args.max_tokens} tokens, streamed. 'under load': while 8 "
             "other streams of mixed lengths decode on the same model.", "",
             "| slots | temperature | alone vs alone | alone vs under load | earliest divergence (token) |",
             "|---|---|---|---|---|"]
    for r in results:
        a, b = r["alone_vs_alone"], r["alone_vs_under_load"]
        lines.append(f"| {r['slots']} | {r['temperature']} | {a['identical']}/{a['of']} identical | "
                     f"{b['identical']}/{b['of']} identical | {b['earliest'] if b['earliest'] is not None else '-'} |")
    lines += ["", "Reproduce: `.venv/bin/python bench/determinism.py`"]
    (RESULTS / "determinism.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
