"""The matrix runner: every target on every test, each repeat independent, concurrently.

A run prepares every target first (so a target that does not exist stops the run before any
cell runs), then schedules the cells repeat by repeat, keeping ``concurrency`` of them in flight
(default: the engine's parallel slots, so they stay busy). Each cell gets its own seed (the
target's ``settings.seed`` or the run's seed, plus the repeat index, recorded with the sample),
its own cache-aware client, and a timeout. A target that fails at run time marks its cells as
errors and the rest of the matrix completes; after ``FAIL_FAST`` errors without a single
success, its remaining cells are marked at once instead of waiting for each to fail.

Events: ``run_started``, ``sample`` (one per cell and repeat, with ``done`` / ``total``), and
``run_finished`` with the summary.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from cupola.errors import CupolaError
from cupola.evals import grading, results, targets
from cupola.evals.assertions import GradeContext
from cupola.evals.cache import CellClient, ResponseCache
from cupola.evals.loader import Case, Eval, Target
from cupola.evals.output import Output
from cupola.evals.store import EvalStore
from cupola.evals.targets import EvalEnv, Runnable
from cupola.naming import new_id

FAIL_FAST = 3


def plan_of(ev: Eval, built: dict[str, Runnable], options: dict[str, Any]) -> dict[str, Any]:
    def target(t: Target) -> dict[str, Any]:
        spec = t.spec
        return {"id": t.id, "kind": t.kind, "alias": built[t.id].alias if t.id in built else None,
                "description": spec.description, "where": t.where,
                "spec": spec.model_dump(exclude_none=True, exclude_defaults=True)}

    return {"description": ev.description, "source": ev.source, "options": options,
            "judge": ev.judge.model_dump() if ev.judge else None,
            "targets": [target(t) for t in ev.targets], "tests": [c.plan() for c in ev.cases]}


DEFAULT_CONCURRENCY = 8  # cells in flight when neither the file nor `parallel` says: keeps a small model's slots busy

class EvalRunner:
    def __init__(self, env: EvalEnv, store: EvalStore | None = None, *, cache_path: Path | None = None) -> None:
        self.env = env
        self.store = store
        self.cache_path = cache_path

    def options(self, ev: Eval, **overrides: Any) -> dict[str, Any]:
        opts = {**ev.options, **{k: v for k, v in overrides.items() if v is not None}}
        opts["concurrency"] = opts.get("concurrency") or self.env.settings.parallel or DEFAULT_CONCURRENCY
        opts["cache"] = bool(overrides.get("cache"))
        return opts

    async def run(self, ev: Eval, **overrides: Any) -> AsyncIterator[dict[str, Any]]:
        """Run ``ev``; overrides: ``repeat``, ``seed``, ``concurrency``, ``timeout``, ``cache``."""
        options = self.options(ev, **overrides)
        built = await targets.prepare(ev, self.env)  # EvalFileError here: nothing ran
        cache = ResponseCache(self.cache_path if options["cache"] else None)
        run_id = new_id("eval")
        plan = plan_of(ev, built, options)
        if self.store is not None:
            self.store.start(run_id, ev.description, ev.source, plan)
        status, error = "cancelled", None
        samples: list[dict[str, Any]] = []
        try:
            jobs = [(r, case, t) for r in range(options["repeat"]) for case in ev.cases for t in ev.targets]
            yield {"type": "run_started", "run_id": run_id, "description": ev.description, "total": len(jobs),
                   "targets": [t.id for t in ev.targets], "tests": len(ev.cases), "repeat": options["repeat"],
                   "concurrency": options["concurrency"]}
            async for sample in self._cells(ev, built, jobs, options, cache):
                samples.append(sample)
                if self.store is not None:
                    self.store.add_sample(run_id, sample)
                yield {"type": "sample", "run_id": run_id, "done": len(samples), "total": len(jobs),
                       **{k: sample[k] for k in ("target", "test", "repeat", "status", "score", "latency_ms", "error")}}
            summary = results.summarize(plan, samples)
            status = "completed"
            if self.store is not None:
                self.store.finish(run_id, status, summary)
            yield {"type": "run_finished", "run_id": run_id, "status": status, "summary": summary}
        except Exception as exc:
            status, error = "failed", exc.message if isinstance(exc, CupolaError) else f"{type(exc).__name__}: {exc}"
            raise
        finally:
            if status != "completed" and self.store is not None:
                self.store.finish(run_id, status, results.summarize(plan, samples) if samples else None, error)
            cache.close()
            await targets.close(built)

    async def _cells(self, ev: Eval, built: dict[str, Runnable], jobs: list[tuple[int, Case, Target]],
                     options: dict[str, Any], cache: ResponseCache) -> AsyncIterator[dict[str, Any]]:
        limit = asyncio.Semaphore(options["concurrency"])
        queue: asyncio.Queue = asyncio.Queue()
        health: dict[str, list[Any]] = {t.id: [0, 0, None] for t in ev.targets}  # ok, errors, last error

        async def one(repeat: int, case: Case, target: Target) -> None:
            async with limit:
                ok, errors, last = health[target.id]
                if errors >= FAIL_FAST and ok == 0:
                    sample = self._error(case, target, repeat, self._seed(target, options, repeat),
                                         f"not run: the target failed its first {errors} cells (last: {last})")
                else:
                    try:
                        sample = await self._cell(ev, built[target.id], case, target, repeat, options, cache)
                    except Exception as exc:  # a bug must not leave the run waiting for this cell forever
                        sample = self._error(case, target, repeat, self._seed(target, options, repeat),
                                             f"internal error: {type(exc).__name__}: {exc}")
                        sample["target_error"] = False
                    if sample["status"] == "error" and sample.get("target_error"):
                        health[target.id][1] += 1
                        health[target.id][2] = sample["error"]
                    else:
                        health[target.id][0] += 1
                sample.pop("target_error", None)
                await queue.put(sample)

        tasks = [asyncio.create_task(one(*job)) for job in jobs]
        try:
            for _ in jobs:
                yield await queue.get()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    @staticmethod
    def _seed(target: Target, options: dict[str, Any], repeat: int) -> int:
        return int(target.spec.settings.get("seed", options["seed"])) + repeat

    def _error(self, case: Case, target: Target, repeat: int, seed: int, message: str) -> dict[str, Any]:
        return {"target": target.id, "test": case.id, "repeat": repeat, "seed": seed, "status": "error",
                "score": None, "error": message, "target_error": True, "assertions": [], "output": None,
                "latency_ms": None, "tokens": None, "cost": None, "contract_id": None, "cached": False}

    async def _cell(self, ev: Eval, runnable: Runnable, case: Case, target: Target, repeat: int,
                    options: dict[str, Any], cache: ResponseCache) -> dict[str, Any]:
        seed = self._seed(target, options, repeat)
        timeout = target.spec.timeout or options["timeout"]
        client = CellClient(self.env.client, cache, seed, repeat)
        started = time.perf_counter()
        try:
            out: Output = await asyncio.wait_for(runnable.run(case.vars, client, seed), timeout)
        except asyncio.TimeoutError:
            return self._error(case, target, repeat, seed, f"timed out after {timeout:g} s")
        except CupolaError as exc:
            return self._error(case, target, repeat, seed, exc.message)
        except Exception as exc:  # an upstream that is down, a broken workflow file: an error, not a failure
            return self._error(case, target, repeat, seed, f"{type(exc).__name__}: {exc}")
        out.latency_ms = (time.perf_counter() - started) * 1000 + client.saved_ms
        out.cached = client.calls > 0 and client.hits == client.calls
        cost = target.spec.cost
        if cost is not None and (out.prompt_tokens is not None or out.completion_tokens is not None):
            out.cost = ((out.prompt_tokens or 0) * cost.input + (out.completion_tokens or 0) * cost.output) / 1e6
        judge_client = CellClient(self.env.client, cache, seed, repeat)
        ctx = GradeContext(vars=case.vars, client=judge_client, judge=ev.judge,
                           embedding_model=self.env.settings.default_embedding_model, base_dir=ev.base_dir)
        try:
            verdict = await asyncio.wait_for(grading.grade(case.assertions, out, ctx, case.threshold), timeout)
        except asyncio.TimeoutError:
            verdict = grading.Verdict("error", None, [], f"grading timed out after {timeout:g} s")
        sample = {"target": target.id, "test": case.id, "repeat": repeat, "seed": seed, "status": verdict.status,
                  "score": verdict.score, "error": verdict.error, "assertions": verdict.results,
                  "output": out.text, "value": out.value, "prompt": out.prompt, "tool_calls": out.tool_calls,
                  "turns": out.turns, "finish_reason": out.finish_reason,
                  "sources": out.to_dict()["sources"], "citations": out.citations,
                  "latency_ms": round(out.latency_ms, 1),
                  "tokens": {"prompt": out.prompt_tokens, "completion": out.completion_tokens,
                             "total": out.total_tokens},
                  "judge_tokens": {"prompt": judge_client.prompt_tokens, "completion": judge_client.completion_tokens}
                  if judge_client.calls else None,
                  "cost": out.cost, "contract_id": out.contract_id, "cached": out.cached,
                  "model_calls": out.model_calls}
        return sample


async def run_to_end(events: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    """Drain a run's events; return the ``run_finished`` event."""
    last: dict[str, Any] = {}
    async for event in events:
        last = event
    return last
