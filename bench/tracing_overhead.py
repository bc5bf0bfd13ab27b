"""What recording contracts and tracing cost: 8 concurrent streams with tracing off, local (spans to
traces.db, the default) and otlp (also exported over OTLP/HTTP to a receiver on loopback).

The request record and its execution contract are written in every mode; "off" creates no spans.
For each mode a `cupola serve` (smollm2-135m, 8 slots) answers --rounds rounds of 8 clients x
--requests streamed chat completions of --max-tokens tokens (ignore_eos); modes alternate order
between rounds. Reported: aggregate tokens/s per mode and the ratio to "off" (target: >= 0.98).

Run (from the repository root):

    .venv/bin/python bench/tracing_overhead.py [--rounds 3] [--requests 3]

Results: bench/results/tracing_overhead.{json,md}.
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
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_concurrency import RESULTS, cupola_server_url, start, stop, wait_ready  # noqa: E402
from upstream_overhead import round_  # noqa: E402

MODES = ("off", "local", "otlp")


class Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that accepts and drops spans (the cost measured is Cupola's side)."""

    received = 0

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Sink.received += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=96)
    args = ap.parse_args()
    sink = HTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    rates: dict[str, list[float]] = {m: [] for m in MODES}
    servers = {}
    try:
        for mode in MODES:
            home = Path(tempfile.mkdtemp(prefix=f"cupola-tracing-{mode}-"))
            env = {**os.environ, "CUPOLA_HOME": str(home), "CUPOLA_TRACING": mode,
                   "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.server_address[1]}"}
            proc = start(f"tracing-{mode}", [sys.executable, "-m", "cupola", "serve", "--port", "0", "--parallel",
                                             "8", "--ctx-per-slot", "1024"], env=env)
            servers[mode] = (proc, wait_ready(f"tracing-{mode}", proc, lambda h=home, p=proc: cupola_server_url(h, p.pid),
                                              "/health"))
        for url in (u for _, u in servers.values()):
            asyncio.run(round_(url, "smollm2-135m", 2, 1, 8, 9000))
        for r in range(args.rounds):
            order = MODES if r % 2 == 0 else tuple(reversed(MODES))
            for mode in order:
                got = asyncio.run(round_(servers[mode][1], "smollm2-135m", 8, args.requests, args.max_tokens, 100 * r))
                rates[mode].append(got["tok_per_s"])
                print(f"round {r + 1} {mode:5s} {got['tok_per_s']:7.1f} tok/s errors {got['errors']}", flush=True)
    finally:
        for proc, _ in servers.values():
            stop(proc)
        sink.shutdown()
    med = {m: statistics.median(v) for m, v in rates.items()}
    report = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": platform.platform(),
              "cpus": os.cpu_count(), "settings": vars(args), "tok_per_s": rates, "median": med,
              "ratio_to_off": {m: med[m] / med["off"] for m in MODES}, "otlp_posts_received": Sink.received}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tracing_overhead.json").write_text(json.dumps(report, indent=2))
    lines = [f"# Cost of contracts and tracing ({report['date']})", "",
             f"8 concurrent streams x {args.requests} requests x {args.rounds} rounds, {args.max_tokens} tokens "
             f"(ignore_eos), smollm2-135m, 8 slots, {os.cpu_count()} cores. Request records with execution contracts "
             "are written in every mode.", "",
             "| tracing | tok/s (median) | ratio to off |", "|---|---|---|"]
    for m in MODES:
        lines.append(f"| {m} | {med[m]:.1f} | {med[m] / med['off']:.3f} |")
    lines += ["", f"OTLP posts received by the loopback sink: {Sink.received}.", "",
              "Reproduce: `.venv/bin/python bench/tracing_overhead.py`"]
    (RESULTS / "tracing_overhead.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
