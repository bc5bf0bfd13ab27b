"""A real Cupola server on fake engines, for fuzzing, load and abort tests.

The whole app (routes, middleware, runtime, admission, stores) with :mod:`cupola.engines.fake` in
place of llama.cpp and ONNX Runtime, served by uvicorn on a port of its own (0: a free one)::

    python -m cupola.server.testing --home /tmp/fuzz-home --delay 0.01 --parallel 4

It prints one JSON line, ``{"url": ..., "pid": ...}``, once it listens, and stops on SIGINT/SIGTERM.
Nothing here is for production: the models answer with a fixed text.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from fastapi import FastAPI

from cupola.config import Settings
from cupola.engines.fake import FakeFactory, fake_store
from cupola.runtime.runtime import Runtime


def fake_app(settings: Settings, factory: FakeFactory | None = None) -> FastAPI:
    """The app of ``cupola serve``, its models fake (both embedded models look pulled)."""
    from cupola.server.app import create_app

    runtime = Runtime(settings, fake_store(settings.home), engine_factory=factory or FakeFactory())
    return create_app(settings, runtime)


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from cupola.server.serve import bind

    parser = argparse.ArgumentParser(prog="python -m cupola.server.testing", description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, required=True, help="Cupola home (databases); made if missing")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds per generated token")
    parser.add_argument("--words", type=int, default=6, help="words in each answer")
    parser.add_argument("--parallel", type=int, default=4, help="slots per fake chat model")
    parser.add_argument("--max-queue-wait", type=float, default=60.0, help="admission limit (seconds)")
    parser.add_argument("--agents", type=Path, help="a folder of agent YAML files to host")
    parser.add_argument("--workflows", type=Path, help="a folder of workflow files to run")
    args = parser.parse_args(argv)

    settings = Settings(home=args.home, port=args.port, parallel=args.parallel, max_queue_wait=args.max_queue_wait,
                        agents_dir=args.agents, workflows_dir=args.workflows, preload=False)
    reply = " ".join(["Hello"] + ["word"] * max(0, args.words - 1))
    app = fake_app(settings, FakeFactory(reply, delay=args.delay))
    sock = bind("127.0.0.1", args.port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5))
    print(json.dumps({"url": f"http://127.0.0.1:{sock.getsockname()[1]}", "pid": os.getpid()}), flush=True)
    server.run(sockets=[sock])  # uvicorn stops on SIGINT and SIGTERM
    sock.close()


class FakeServer:
    """``python -m cupola.server.testing`` in a subprocess (for tests and benchmarks)."""

    def __init__(self, home: Path, *args: str, timeout: float = 60) -> None:
        home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CUPOLA_")}
        self.log = open(home / "fake-server.log", "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "cupola.server.testing", "--home", str(home), *args],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the first line, once it listens
        if not line:
            self.proc.wait(timeout)
            raise RuntimeError(f"the fake server did not start: {(home / 'fake-server.log').read_text()[-2000:]}")
        self.url: str = json.loads(line)["url"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


if __name__ == "__main__":  # pragma: no cover - run as a program
    main(sys.argv[1:])
