"""What the operating-system sandbox costs per command: 100 x `ls`, side by side in one run.

Four ways to run the same `ls -la` in the same workspace, interleaved round by round so a busy
machine slows them alike:

* ``direct``     - subprocess.run of /usr/bin/ls (no checks, no sandbox): the floor;
* ``opt-out``    - run_command with ``sandbox=False`` (argument checks, limits, launcher; no namespaces);
* ``bwrap only`` - the same bubblewrap command line without the Landlock launcher;
* ``sandboxed``  - run_command as shipped (argument checks + bubblewrap + Landlock + limits).

    python bench/sandbox_cost.py [--runs 100]      # writes bench/results/sandbox_cost.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from cupola.tools.builtins import Workspace, command_tools
from cupola.tools.sandbox import availability
from cupola.tools.sandbox.runner import Sandbox


def _timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "sandbox_cost.md")
    opts = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cupola-bench-"))
    for i in range(20):
        (root / f"file{i}.txt").write_text("x" * i)
    ws = Workspace(root)
    sandboxed = command_tools(ws, ["ls"])[0]
    unsandboxed = command_tools(ws, ["ls"], sandbox=False)[0]
    call = json.dumps({"command": "ls", "args": ["-la"]})
    box = Sandbox(root)
    full = box.command(["/usr/bin/ls", "-la"])
    bwrap_only = full[: full.index("--") + 1] + ["/usr/bin/ls", "-la"]

    def check(output: str) -> None:
        assert output.startswith("exit code: 0") and "file19.txt" in output, output

    ways = {
        "direct": lambda: subprocess.run(["/usr/bin/ls", "-la"], cwd=root, capture_output=True, check=True),
        "opt-out": lambda: check(asyncio.run(unsandboxed(call))),
        "bwrap only": lambda: subprocess.run(bwrap_only, cwd=root, capture_output=True, check=True,
                                             env=box.environment()),
        "sandboxed": lambda: check(asyncio.run(sandboxed(call))),
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    for name, fn in ways.items():  # warm-up: page cache, the availability probe
        fn()
    for _ in range(opts.runs):
        for name, fn in ways.items():
            times[name] += _timed(fn, 1)
    base = statistics.median(times["direct"])
    rows = []
    for name, values in times.items():
        med = statistics.median(values)
        p95 = sorted(values)[int(len(values) * 0.95) - 1]
        rows.append(f"| {name} | {med:.1f} | {p95:.1f} | {sum(values) / 1000:.2f} | {med / base:.1f}x |")
    status = availability()
    lines = [
        "# Sandbox cost per command (100 x `ls -la`)",
        "",
        "Measured while the machine was shared (2 cores, other engineers' jobs running): absolute times are",
        "noisy, the ratios between rows of one run are what to read.",
        "",
        f"- {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} cores",
        f"- sandbox: {status.describe()}",
        f"- command: `python bench/sandbox_cost.py --runs {opts.runs}` (rows interleaved, round by round)",
        "",
        "| way | median ms | p95 ms | total s | vs direct |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"The sandbox adds {statistics.median(times['sandboxed']) - base:.0f} ms per command (median) over a bare "
        f"`subprocess.run`; bubblewrap's namespaces account for "
        f"{statistics.median(times['bwrap only']) - base:.0f} ms of it, the Python launcher that applies Landlock "
        "and the limits (and the argument checks) for the rest.",
        "",
    ]
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
