"""Evals inside the server: runs that outlive the request that started them.

``start`` validates and prepares the eval (so a bad file or a missing target is an HTTP error
before anything runs), then drives the run in a background task; the caller follows its events
(NDJSON). A client that goes away stops following, not the run: ``GET /api/evals/{id}`` shows
it as it progresses. Closing the service cancels unfinished runs (stored as ``cancelled``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cupola.errors import CupolaError, UsageError, invalid
from cupola.evals import results
from cupola.evals.loader import Eval, SourceMap, load_eval, parse_eval
from cupola.evals.report import html_report
from cupola.evals.runner import EvalRunner
from cupola.evals.store import EvalStore
from cupola.evals.targets import EvalEnv

RUN_KEYS = ("cache", "filter", "target", "failed_from", "stream")


class RunRequest(BaseModel):
    """``{"path": ...}`` (a file the server can read) with run options."""

    model_config = ConfigDict(extra="forbid", strict=True)  # JSON's types, as the OpenAPI document states them

    path: str = Field(..., min_length=1)
    repeat: int | None = Field(None, ge=1, le=1000)
    seed: int | None = None
    concurrency: int | None = Field(None, ge=1, le=256)
    timeout: float | None = Field(None, gt=0)
    cache: bool = False
    filter: dict[str, str] = Field(default_factory=dict)
    target: list[str] | None = None
    failed_from: str | None = None
    stream: bool = True


class LiveRun:
    """The events of a run in progress, for any number of followers."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.done = False
        self._changed = asyncio.Event()

    def push(self, event: dict[str, Any] | None) -> None:
        if event is None:
            self.done = True
        else:
            self.events.append(event)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def follow(self) -> AsyncIterator[dict[str, Any]]:
        i = 0
        while True:
            while i < len(self.events):
                yield self.events[i]
                i += 1
            if self.done:
                return
            await self._changed.wait()


class EvalService:
    def __init__(self, env: EvalEnv, store: EvalStore, cache_path: Path | None = None) -> None:
        self.env = env
        self.store = store
        self.cache_path = cache_path
        self.live: dict[str, LiveRun] = {}
        self._tasks: set[asyncio.Task] = set()

    def parse(self, body: dict[str, Any]) -> tuple[Eval, dict[str, Any]]:
        """The eval and run options from a request body: the eval itself, or ``{"path": ...}``."""
        if "path" in body:
            try:
                req = RunRequest.model_validate(body)
            except ValidationError as exc:
                raise invalid(exc.errors()) from None
            ev = load_eval(Path(req.path).expanduser())
            opts = req.model_dump(exclude={"path"})
        else:
            opts = {k: body[k] for k in RUN_KEYS if k in body}
            try:
                extra = RunRequest.model_validate({"path": "-", **opts})
            except ValidationError as exc:
                raise invalid(exc.errors()) from None
            opts = extra.model_dump(exclude={"path"})
            ev = parse_eval({k: v for k, v in body.items() if k not in RUN_KEYS}, SourceMap("request body"),
                            Path.cwd(), strict=True)
        ids = None
        if opts.get("failed_from"):
            previous = self.document(opts["failed_from"])
            ids = {c["test"] for t in previous["targets"] for c in t["tests"] if c.get("passed", 0) < c.get("n", 0)}
        ev = ev.select(opts.get("filter"), ids, opts.get("target"))
        if not ev.cases:
            raise UsageError("no test matches the filters", param="filter")
        return ev, opts

    async def start(self, body: dict[str, Any],
                    server_url: str | None = None) -> tuple[AsyncIterator[dict[str, Any]], bool]:
        """Start a run; ``(its events, whether to stream them)``. Errors before it starts raise here.
        ``server_url`` (this server) is where hosted-agent targets without a ``url`` are called."""
        ev, opts = self.parse(body)
        runner = EvalRunner(dataclasses.replace(self.env, server_url=server_url or self.env.server_url), self.store,
                            cache_path=self.cache_path)
        events = runner.run(ev, repeat=opts.get("repeat"), seed=opts.get("seed"),
                                 concurrency=opts.get("concurrency"), timeout=opts.get("timeout"),
                                 cache=opts.get("cache"))
        first = await events.__anext__()  # prepares every target: EvalFileError / NotFound become HTTP errors
        live = LiveRun()
        live.push(first)
        self.live[first["run_id"]] = live
        task = asyncio.create_task(self._drive(first["run_id"], events, live))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return live.follow(), bool(opts.get("stream", True))

    async def _drive(self, run_id: str, events: AsyncIterator[dict[str, Any]], live: LiveRun) -> None:
        try:
            async for event in events:
                live.push(event)
        except CupolaError as exc:
            live.push({"type": "error", "run_id": run_id, **exc.to_openai()})
        except asyncio.CancelledError:
            live.push({"type": "error", "run_id": run_id, "error": {"message": "the server stopped the run",
                                                                   "type": "server_error", "param": None,
                                                                   "code": "cancelled"}})
            raise
        except Exception as exc:  # noqa: BLE001 - reported to followers, stored by the runner
            live.push({"type": "error", "run_id": run_id, "error": {"message": f"{type(exc).__name__}: {exc}",
                                                                   "type": "server_error", "param": None,
                                                                   "code": None}})
        finally:
            live.push(None)
            await events.aclose()  # type: ignore[attr-defined]
            self.live.pop(run_id, None)

    def list(self, limit: int = 50) -> list[dict[str, Any]]:
        return self.store.runs(limit)

    def document(self, ref: str) -> dict[str, Any]:
        run_id = self.store.resolve(ref)
        return results.document(self.store.run(run_id), self.store.samples(run_id))

    def report(self, ref: str) -> str:
        doc = self.document(ref)
        keys = {a["judge_key"] for t in doc["targets"] for c in t["tests"] for s in c["repeats"]
                for a in s.get("assertions") or [] if a.get("judge_key")}
        return html_report(doc, self.store.calibrations(keys))

    def delete(self, ref: str) -> str:
        run_id = self.store.resolve(ref)
        if run_id in self.live:
            raise UsageError(f"run {run_id} is still running", param="run")
        return self.store.delete(run_id)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.store.close()


def serve_evals(settings: Any, runtime: Any, knowledge: Any) -> EvalService:
    """The server's eval service: the in-process runtime, the server's knowledge bases, ``evals.db``."""
    from cupola.client import LocalClient

    env = EvalEnv(LocalClient(runtime), settings, knowledge.store, runtime.store,
                  allow_code=settings.evals_allow_code)
    return EvalService(env, EvalStore(settings.db_path("evals")), cache_path=settings.db_path("eval-cache"))
