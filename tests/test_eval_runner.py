"""The matrix runner on fake models with known answer distributions: statistics, repeats, seeds,
errors, timeouts, the cache, concurrency, and every kind of target."""

from __future__ import annotations

import asyncio
import json
import random
import textwrap
import threading
import time
from pathlib import Path

import pytest

from cupola.client import FunctionClient
from cupola.config import Settings
from cupola.errors import EngineError, NotFound
from cupola.evals import results
from cupola.evals.cache import contract_id
from cupola.evals.loader import EvalFileError, load_eval
from cupola.evals.runner import EvalRunner, run_to_end
from cupola.evals.store import EvalStore
from cupola.evals.targets import EvalEnv
from cupola.knowledge.store import KnowledgeStore

RATES = {"always": 1.0, "often": 0.7, "never": 0.0}


def noisy(messages, params):
    """Answers "yes" with the probability its system prompt names, seeded by the request's seed."""
    rate = RATES[messages[0]["content"]]
    rng = random.Random(f"{params['seed']}:{messages[-1]['content']}")
    return "yes" if rng.random() < rate else "no"


def write(tmp_path, text, name="eval.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def env(tmp_path, fn, **kw) -> EvalEnv:
    settings = Settings(home=tmp_path / "home")
    return EvalEnv(FunctionClient(fn), settings, **kw)


def run(env_, path, store=None, **options):
    async def go():
        last = await run_to_end(EvalRunner(env_, store, cache_path=env_.settings.db_path("eval-cache"))
                                .run(load_eval(path), **options))
        return last
    return asyncio.run(go())


MATRIX = """\
    description: known rates
    targets:
      - {id: always, model: m, system: always, prompt: "{q}"}
      - {id: often, model: m, system: often, prompt: "{q}"}
      - {id: never, model: m, system: never, prompt: "{q}"}
    tests:
      - vars: {q: first}
        assert: [{type: equals, value: "yes"}]
      - vars: {q: second}
        assert: [{type: equals, value: "yes"}]
"""


def test_known_distributions_show_their_rate_and_flakiness(tmp_path):
    store = EvalStore(tmp_path / "evals.db")
    last = run(env(tmp_path, noisy), write(tmp_path, MATRIX), store, repeat=60, concurrency=8)
    assert last["type"] == "run_finished" and last["status"] == "completed"
    by_id = {t["id"]: t for t in last["summary"]["targets"]}
    often = by_id["often"]
    assert abs(often["mean_score"] - 0.7) < 0.1 and abs(often["pass_rate"] - 0.7) < 0.1
    assert often["std"] == pytest.approx((0.7 * 0.3) ** 0.5, abs=0.06)  # a Bernoulli's spread
    assert often["flaky"] == 2 and all(c["flaky"] for c in often["cells"].values())
    assert often["pass_at_n"] == 1.0 and often["pass_hat_n"] == 0.0
    lo, hi = often["pass_rate_ci95"]
    assert lo < 0.7 < hi
    assert by_id["always"] == {**by_id["always"], "mean_score": 1.0, "std": 0.0, "flaky": 0, "pass_hat_n": 1.0}
    assert by_id["never"] == {**by_id["never"], "pass_rate": 0.0, "pass_at_n": 0.0, "flaky": 0}
    assert last["summary"]["samples"] == 3 * 2 * 60

    doc = results.document(store.run(last["run_id"]), store.samples(last["run_id"]))
    assert [t["id"] for t in doc["targets"]] == ["always", "often", "never"]
    assert {"id", "pass_rate", "mean_score", "std"} <= set(doc["targets"][1])
    cell = doc["targets"][1]["tests"][0]
    assert len(cell["repeats"]) == 60 and cell["flaky"]
    assert [s["seed"] for s in cell["repeats"]] == list(range(60))  # seeds varied and recorded
    assert doc["tests"][0]["results"]["often"]["n"] == 60
    sample = cell["repeats"][0]
    assert sample["contract_id"] == contract_id("m", [{"role": "system", "content": "often"},
                                                      {"role": "user", "content": "first"}], {"seed": 0})
    assert sample["assertions"][0]["type"] == "equals" and sample["prompt"] == "first"
    store.close()


def test_seeds_follow_the_run_the_target_and_the_repeat(tmp_path):
    seen = []
    path = write(tmp_path, """\
        seed: 100
        targets:
          - {id: a, model: m, prompt: "{q}"}
          - {id: b, model: m, prompt: "{q}", settings: {seed: 7, temperature: 0.5}}
        tests: [{vars: {q: x}}]
    """)
    fake = env(tmp_path, lambda m, p: seen.append((p["seed"], p.get("temperature"))) or "ok")
    run(fake, path, repeat=3, concurrency=1)
    assert sorted(seen) == sorted([(100, None), (101, None), (102, None), (7, 0.5), (8, 0.5), (9, 0.5)])
    seen.clear()
    run(fake, path, repeat=2, seed=5, concurrency=1)
    assert sorted(s for s, _ in seen) == [5, 6, 7, 8]


def test_a_failing_target_errors_its_cells_and_the_matrix_completes(tmp_path):
    calls = {"up": 0, "down": 0}

    def fn(messages, params):
        name = messages[-1]["content"].split()[0]
        calls[name] += 1
        if name == "down":
            raise EngineError("upstream down")
        return "fine"

    path = write(tmp_path, """\
        targets:
          - {id: up, model: m, prompt: "up {q}"}
          - {id: down, model: m, prompt: "down {q}"}
        tests: [{vars: {q: a}, assert: [{type: equals, value: fine}]},
                {vars: {q: b}, assert: [{type: equals, value: fine}]},
                {vars: {q: c}, assert: [{type: equals, value: fine}]},
                {vars: {q: d}, assert: [{type: equals, value: fine}]}]
    """)
    last = run(env(tmp_path, fn), path, repeat=2, concurrency=1)
    by_id = {t["id"]: t for t in last["summary"]["targets"]}
    assert by_id["up"]["passed"] == 8 and by_id["up"]["errors"] == 0
    assert by_id["down"]["errors"] == 8 and by_id["down"]["failed"] == 0 and by_id["down"]["pass_rate"] == 0.0
    assert calls == {"up": 8, "down": 3}  # after 3 errors and no success, the rest are marked at once
    assert last["summary"]["errors"] == 8 and last["summary"]["failed"] == 0


def test_cell_timeout_is_an_error(tmp_path):
    async def slow(messages, params):
        await asyncio.sleep(5 if "slow" in messages[-1]["content"] else 0)
        return "done"

    path = write(tmp_path, """\
        timeout: 0.2
        targets: [{model: m, prompt: "{q}"}]
        tests: [{vars: {q: slow}}, {vars: {q: quick}}]
    """)
    last = run(env(tmp_path, slow), path)
    cells = last["summary"]["targets"][0]["cells"]
    statuses = sorted(c["errors"] for c in cells.values())
    assert statuses == [0, 1] and last["summary"]["passed"] == 1


def test_cache_within_a_run_across_runs_and_never_across_repeats(tmp_path):
    calls = []
    fake = env(tmp_path, lambda m, p: calls.append(p["seed"]) or "same")
    path = write(tmp_path, """\
        targets:
          - {id: a, model: m, prompt: "{q}"}
          - {id: b, model: m, prompt: "{q}"}
        tests: [{vars: {q: x}, assert: [{type: equals, value: same}]}]
    """)
    run(fake, path, repeat=3, concurrency=4)
    assert sorted(calls) == [0, 1, 2]  # a and b ask the same thing: once per repeat, never shared across repeats
    calls.clear()
    store = EvalStore(tmp_path / "evals.db")
    first = run(fake, path, store, repeat=3, cache=True)
    assert len(calls) == 3
    calls.clear()
    second = run(fake, path, store, repeat=3, cache=True)
    assert calls == []  # every answer from the cache of the first run
    doc = results.document(store.run(second["run_id"]), store.samples(second["run_id"]))
    assert all(s["cached"] for t in doc["targets"] for c in t["tests"] for s in c["repeats"])
    assert second["summary"]["passed"] == first["summary"]["passed"] == 6
    run(fake, path, store, repeat=3)  # without --cache: asked again
    assert len(calls) == 3
    store.close()


def test_concurrency_keeps_that_many_cells_in_flight(tmp_path):
    state = {"now": 0, "max": 0}

    async def fn(messages, params):
        state["now"] += 1
        state["max"] = max(state["max"], state["now"])
        await asyncio.sleep(0.02)
        state["now"] -= 1
        return "x"

    tests = "\n".join(f"  - vars: {{q: q{i}}}" for i in range(12))
    path = write(tmp_path, "targets: [{model: m, prompt: \"{q}\"}]\ntests:\n" + tests + "\n")
    run(env(tmp_path, fn), path, concurrency=3)
    assert state["max"] == 3
    state["max"] = 0
    run(env(tmp_path, fn), path, concurrency=1)
    assert state["max"] == 1


def test_targets_that_do_not_exist_stop_the_run_before_anything_runs(tmp_path):
    from conftest import FakeFactory, fake_store

    from cupola.client import LocalClient
    from cupola.runtime.runtime import Runtime

    settings = Settings(home=tmp_path / "home")
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=FakeFactory())
    store = EvalStore(tmp_path / "evals.db")
    path = write(tmp_path, """\
        judge: no-such-judge
        targets:
          - {model: smollm2-135m, prompt: "{q}"}
          - {model: smollm3, prompt: "{q}"}
          - {knowledge: {base: nope}, prompt: "{q}"}
        tests:
          - vars: {q: x}
            assert: [{type: rubric, value: polite}]
    """)
    local = EvalEnv(LocalClient(runtime), settings, KnowledgeStore(tmp_path / "kb.db"), runtime.store)
    with pytest.raises(EvalFileError) as info:
        run(local, path, store)
    text = "\n".join(info.value.problems)
    assert len(info.value.problems) == 3
    assert "eval.yaml:4: target smollm3: model 'smollm3' not found; available: smollm2-135m" in text
    assert "eval.yaml:5: target default@nope: no knowledge base named 'nope'" in text
    assert "eval.yaml:1: judge: model 'no-such-judge' not found" in text
    assert store.runs() == []  # nothing ran, nothing stored
    with pytest.raises(NotFound):
        store.resolve("last")
    local.knowledge.close()
    store.close()
    asyncio.run(runtime.close())


def test_agent_target_records_tool_calls_turns_and_structured_output(tmp_path):
    (tmp_path / "calc.yaml").write_text(textwrap.dedent("""\
        name: calc
        instructions: Use the calculator.
        tools: [calculator]
        settings: {temperature: 0.2}
        max_turns: 3
    """))
    (tmp_path / "triage.yaml").write_text(textwrap.dedent("""\
        name: triage
        instructions: Classify.
        output_schema: {type: object, properties: {area: {type: string}}, required: [area]}
    """))

    def fn(messages, params):
        if messages[0]["content"].startswith("Classify"):
            return '{"area": "login"}' if "password" in messages[-1]["content"] else "not json"
        if messages[-1]["role"] == "tool":
            return f"The answer is {messages[-1]['content']}."
        return [("calculator", {"expression": "12 * 7"})]

    path = write(tmp_path, """\
        targets:
          - {agent: calc.yaml, prompt: "{q}"}
          - {agent: triage.yaml, prompt: "{q}"}
        tests:
          - vars: {q: "What is 12 * 7?"}
            assert:
              - {type: tool-called, value: calculator}
              - {type: tool-args-match, tool: calculator, value: {expression: "12 * 7"}}
              - {type: contains, value: "84"}
              - {type: max-turns, value: 2}
          - vars: {q: "I forgot my password"}
            assert:
              - {type: equals, path: area, value: login}
    """)
    store = EvalStore(tmp_path / "evals.db")
    last = run(env(tmp_path, fn), path, store)
    doc = results.document(store.run(last["run_id"]), store.samples(last["run_id"]))
    calc, triage = doc["targets"]
    sample = calc["tests"][0]["repeats"][0]
    assert sample["status"] == "passed", sample["assertions"]
    assert sample["tool_calls"] == [{"name": "calculator", "arguments": {"expression": "12 * 7"}}]
    assert sample["turns"] == 2 and sample["model_calls"] == 2 and calc["alias"] == "smollm2-135m"
    assert triage["tests"][1]["repeats"][0]["status"] == "passed"
    assert triage["tests"][1]["repeats"][0]["value"] == {"area": "login"}
    bad = triage["tests"][0]["repeats"][0]  # invalid structured output: a failure of the agent, not an error
    assert bad["finish_reason"] == "invalid_output" and bad["status"] in ("passed", "failed")
    store.close()


def test_workflow_target_auto_approves(tmp_path):
    (tmp_path / "flow.py").write_text(textwrap.dedent("""\
        from cupola.agents import Agent
        from cupola.workflows import AgentStep, Approval, FunctionStep, Workflow

        workflow = Workflow("notes", [
            AgentStep("draft", Agent("writer", "Write release notes."), "Notes for {input}"),
            Approval("review", "Publish? {draft}"),
            FunctionStep("publish", lambda s: {"published": s["draft"]}),
        ])
    """))
    path = write(tmp_path, """\
        targets: [{workflow: flow.py, prompt: "{version}"}]
        tests:
          - vars: {version: v2}
            assert: [{type: equals, path: published, value: "Version v2 is out"}]
    """)
    last = run(env(tmp_path, lambda m, p: f"Version {m[-1]['content'].split()[-1]} is out"), path)
    assert last["summary"]["passed"] == 1, last
    blocked = EvalEnv(FunctionClient(lambda m, p: "x"), Settings(home=tmp_path / "h"), allow_code=False)
    with pytest.raises(EvalFileError, match="workflow targets are not allowed here"):
        run(blocked, path)


def test_knowledge_target_grounds_answers(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "noise.md").write_text("---\nid: noise\ntitle: Noise\n---\nThe pump runs at 38 decibels at night.\n")
    (docs / "filters.md").write_text("---\nid: filters\ntitle: Filters\n---\nClean the filter every three months.\n")

    def fn(messages, params):
        assert "[1]" in messages[0]["content"]  # the sources are in the system message
        return "It runs at 38 decibels [1]."

    path = write(tmp_path, """\
        targets:
          - model: m
            knowledge: {base: aurora, k: 2, mode: lexical, documents: docs}
            prompt: "{question}"
        tests:
          - vars: {question: "How loud is the pump at night?"}
            assert:
              - {type: retrieved, value: noise}
              - {type: cites, value: 1}
              - {type: icontains, value: "38 decibels"}
    """)
    store = EvalStore(tmp_path / "evals.db")
    kb = KnowledgeStore(tmp_path / "kb.db")
    last = run(env(tmp_path, fn, knowledge=kb), path, store)
    doc = results.document(store.run(last["run_id"]), store.samples(last["run_id"]))
    sample = doc["targets"][0]["tests"][0]["repeats"][0]
    assert sample["status"] == "passed", sample["assertions"]
    assert sample["sources"][0]["doc_id"] == "noise" and sample["citations"][0]["n"] == 1
    assert kb.get("aurora").documents == 2  # ingested before the run; a second run skips unchanged files
    run(env(tmp_path, fn, knowledge=kb), path, store)
    assert kb.get("aurora").documents == 2
    kb.close()
    store.close()


def serve_in_thread(app):
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


def test_hosted_agent_target_over_http(tmp_path):
    from conftest import FakeFactory, fake_store

    from cupola.runtime.runtime import Runtime
    from cupola.server.app import create_app

    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "helper.yaml").write_text("name: helper\ninstructions: Help.\n")
    settings = Settings(home=tmp_path / "srv", agents_dir=agents)
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=FakeFactory(reply="Happy to help."))
    server, thread, url = serve_in_thread(create_app(settings, runtime))
    try:
        path = write(tmp_path, """\
            targets:
              - hosted: {agent: helper}
                prompt: "{q}"
            tests: [{vars: {q: hi}, assert: [{type: icontains, value: help}]}]
        """)
        last = run(env(tmp_path, lambda m, p: "unused", server_url=url), path)
        assert last["summary"]["passed"] == 1, last
        missing = write(tmp_path, "targets: [{hosted: {agent: nobody}, prompt: '{q}'}]\ntests: [{vars: {q: x}}]\n",
                        "missing.yaml")
        with pytest.raises(EvalFileError, match="hosts no agent 'nobody' \\(it hosts: helper\\)"):
            run(env(tmp_path, lambda m, p: "unused", server_url=url), missing)
    finally:
        server.should_exit = True
        thread.join(10)
    down = write(tmp_path, "targets: [{hosted: {agent: helper, url: 'http://127.0.0.1:9'}, prompt: '{q}'}]\n"
                           "tests: [{vars: {q: x}}]\n", "down.yaml")
    with pytest.raises(EvalFileError, match="cannot reach http://127.0.0.1:9"):
        run(env(tmp_path, lambda m, p: "unused"), down)


def test_a_run_interrupted_is_stored_as_cancelled(tmp_path):
    async def slow(messages, params):
        await asyncio.sleep(10)
        return "x"

    store = EvalStore(tmp_path / "evals.db")
    path = write(tmp_path, "targets: [{model: m, prompt: '{q}'}]\ntests: [{vars: {q: a}}, {vars: {q: b}}]\n")

    async def go():
        events = EvalRunner(env(tmp_path, slow), store).run(load_eval(path))
        started = await events.__anext__()
        task = asyncio.ensure_future(events.__anext__())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await events.aclose()
        return started["run_id"]

    run_id = asyncio.run(go())
    assert store.run(run_id)["status"] == "cancelled"
    store.close()


def test_router_rows(tmp_path):
    store = EvalStore(tmp_path / "evals.db")
    path = write(tmp_path, """\
        targets:
          - {id: good, model: model-a, system: always, prompt: "{q}"}
          - {id: bad, model: model-b, system: never, prompt: "{q}"}
        tests:
          - vars: {q: first}
            metadata: {category: easy}
            assert: [{type: equals, value: "yes"}]
          - vars: {q: second}
            assert: [{type: equals, value: "yes"}]
    """)
    last = run(env(tmp_path, noisy), path, store, repeat=2)
    rows = results.router_rows(results.document(store.run(last["run_id"]), store.samples(last["run_id"])))
    assert rows == [
        {"prompt": "first", "target": "model-a", "score": 1.0, "passed": True, "category": "easy"},
        {"prompt": "second", "target": "model-a", "score": 1.0, "passed": True, "category": None},
        {"prompt": "first", "target": "model-b", "score": 0.0, "passed": False, "category": "easy"},
        {"prompt": "second", "target": "model-b", "score": 0.0, "passed": False, "category": None}]
    store.close()
    json.dumps(rows)
    assert Path(path).exists()


def test_overload_is_retried_after_its_retry_after(tmp_path):
    from cupola.errors import Overloaded

    attempts = []

    def busy(messages, params):
        attempts.append(1)
        if len(attempts) < 3:
            raise Overloaded("queue full", retry_after=0)
        return "ok"

    path = write(tmp_path, "targets: [{model: m, prompt: '{q}'}]\ntests: [{vars: {q: a}, assert: [{type: equals, "
                           "value: ok}]}]\n")
    last = run(env(tmp_path, busy), path)
    assert last["summary"]["passed"] == 1 and len(attempts) == 3


def test_in_process_models_are_loaded_before_the_first_cell(tmp_path):
    from cupola.client import LocalClient
    from cupola.errors import EngineError
    from cupola.runtime.runtime import Runtime

    from conftest import FakeFactory, fake_store

    class Broken(FakeFactory):
        def __call__(self, info):
            if self.engines:  # the first model loads, the second cannot
                raise EngineError("out of memory")
            return super().__call__(info)

    settings = Settings(home=tmp_path / "home")
    factory = FakeFactory()
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=factory)
    path = write(tmp_path, "targets: [{model: smollm2-135m, prompt: '{q}'}]\ntests: [{vars: {q: a}}]\n")

    async def go(rt):
        events = EvalRunner(EvalEnv(LocalClient(rt), settings)).run(load_eval(path))
        try:
            await events.__anext__()  # run_started: nothing has been asked yet, the model is resident
            return list(rt.models)
        finally:
            await events.aclose()
            await rt.close()

    assert asyncio.run(go(runtime)) == ["smollm2-135m"] and factory.engines["smollm2-135m"].requests == []
    two = write(tmp_path, "judge: minilm-l6\ntargets: [{model: smollm2-135m, prompt: '{q}'}]\n"
                          "tests: [{vars: {q: a}, assert: [{type: rubric, value: x}]}]\n", "two.yaml")
    broken = Runtime(settings, fake_store(settings.home), engine_factory=Broken())

    async def fails():
        try:
            await EvalRunner(EvalEnv(LocalClient(broken), settings)).run(load_eval(two)).__anext__()
        finally:
            await broken.close()

    with pytest.raises(EvalFileError, match="model minilm-l6 could not be loaded: out of memory"):
        asyncio.run(fails())
