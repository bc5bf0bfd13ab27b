"""Workflow orchestration with fake models: order, real concurrency, loops, hand-offs, approvals,
checkpoints and resume after a kill."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from cupola.agents import Agent, Runner, tool
from cupola.client import FunctionClient
from cupola.errors import UsageError
from cupola.workflows import (AgentStep, Approval, Concurrent, FunctionStep, Loop, Route, Workflow, WorkflowRunner,
                              WorkflowStore, run_to_end)


@pytest.fixture
def store(tmp_path):
    s = WorkflowStore(tmp_path / "workflows.db")
    yield s
    s.close()


def runner_for(store, fn=lambda m, p: "ok"):
    return WorkflowRunner(Runner(FunctionClient(fn)), store)


async def collect(events):
    return [e async for e in events]


async def test_sequential_order_state_and_events(store):
    seen = []

    def first(state):
        seen.append("first")
        return state["input"].upper()

    def second(state):
        seen.append("second")
        return f"{state['first']}!"

    events = await collect(runner_for(store).run(Workflow("w", [FunctionStep("first", first),
                                                                FunctionStep("second", second)]), "hi"))
    assert seen == ["first", "second"]
    kinds = [(e["type"], e.get("step")) for e in events]
    assert kinds == [("workflow_started", None), ("step_started", "w/first"), ("step_finished", "w/first"),
                     ("step_started", "w/second"), ("step_finished", "w/second"), ("workflow_finished", None)]
    assert events[-1]["output"] == "HI!" and events[-1]["status"] == "completed"
    assert all(e["run_id"] == events[0]["run_id"] and e["t"] >= 0 for e in events)
    assert events[2]["ms"] >= 0 and store.run(events[0]["run_id"])["status"] == "completed"


async def test_concurrent_branches_really_run_at_the_same_time(store):
    barrier = asyncio.Barrier(2)  # a sequential run would wait here forever

    async def branch(state):
        await asyncio.wait_for(barrier.wait(), timeout=10)
        return "done"

    wf = Workflow("fan", [Concurrent("both", [FunctionStep("a", branch), FunctionStep("b", branch)]),
                          FunctionStep("join", lambda s: sorted(s["both"]))])
    last = await run_to_end(runner_for(store).run(wf, None))
    assert last["status"] == "completed" and last["output"] == ["a", "b"]


async def test_loop_until_the_critic_approves_and_its_maximum(store):
    drafts = []

    def draft(state):
        drafts.append(state.get("feedback", ""))
        return f"draft {state['iteration']}"

    def critic(state):
        return {"approved": state["iteration"] == 2, "feedback": f"improve {state['iteration']}"}

    last = await run_to_end(runner_for(store).run(
        Workflow("w", [Loop("review", FunctionStep("draft", draft), FunctionStep("critic", critic), 5)]), None))
    assert last["output"] == "draft 2" and drafts == ["", "improve 1"]

    events = await collect(runner_for(store).run(
        Workflow("w", [Loop("review", FunctionStep("draft", draft), FunctionStep("critic", lambda s: False), 3)]),
        None))
    assert [e for e in events if e["type"] == "loop_exhausted"][0]["iterations"] == 3
    assert events[-1]["output"] == "draft 3"


async def test_route_hands_off_to_the_chosen_specialist(store):
    ran = []

    def specialist(name):
        return FunctionStep(name, lambda s: ran.append(name) or f"{name} handled {s['input']}")

    wf = Workflow("triage", [Route("route", FunctionStep("router", lambda s: {"route": "db"}),
                                   {"net": specialist("net"), "db": specialist("db")})])
    events = await collect(runner_for(store).run(wf, "outage"))
    assert ran == ["db"] and events[-1]["output"] == {"route": "db", "output": "db handled outage"}
    assert [e["to"] for e in events if e["type"] == "handoff"] == ["db"]
    bad = Workflow("t2", [Route("route", FunctionStep("router", lambda s: "nope"), {"db": specialist("db")})])
    last = await run_to_end(runner_for(store).run(bad, None))
    assert last["type"] == "workflow_failed" and "not a route" in last["error"]


async def test_approval_pauses_and_resume_restores_finished_steps(store):
    counts = {"before": 0, "after": 0}

    def count(name):
        def fn(state):
            counts[name] += 1
            return name
        return FunctionStep(name, fn)

    wf = Workflow("w", [count("before"), Approval("ok", "Ship {before}?"), count("after")])
    runner = runner_for(store)
    events = await collect(runner.run(wf, None))
    assert events[-1]["type"] == "approval_required" and events[-1]["prompt"] == "Ship before?"
    run_id = events[0]["run_id"]
    assert store.run(run_id)["status"] == "paused"
    with pytest.raises(UsageError, match="waits for approval"):
        runner.resume(wf, run_id)
    events = await collect(runner.resume(wf, run_id, approve=True, note="go"))
    assert [e["type"] for e in events][:3] == ["workflow_started", "step_restored", "step_restored"]
    assert events[-1]["status"] == "completed" and counts == {"before": 1, "after": 1}
    with pytest.raises(UsageError, match="completed"):
        runner.resume(wf, run_id, approve=True)

    events = await collect(runner.run(wf, None))
    rejected = await collect(runner.resume(wf, events[0]["run_id"], approve=False, note="no"))
    assert rejected[-1]["status"] == "rejected" and counts["after"] == 1


async def test_agent_steps_stream_events_and_render_prompts(store):
    @tool
    def lookup(topic: str) -> str:
        """Look a topic up."""
        return f"facts about {topic}"

    def model(messages, params):
        if messages[-1]["role"] == "tool":
            return "summary of " + messages[-1]["content"]
        if params.get("tools"):
            return [("lookup", {"topic": "bees"})]
        return "plan: " + messages[-1]["content"]

    wf = Workflow("desk", [AgentStep("plan", Agent("planner"), "Plan for {input}"),
                           AgentStep("research", Agent("researcher", tools=[lookup]), "Research: {plan}")])
    events = await collect(runner_for(store, model).run(wf, "bees"))
    deltas = "".join(e["text"] for e in events if e["type"] == "delta" and e["step"] == "desk/plan")
    assert deltas == "plan: Plan for bees"
    call = next(e for e in events if e["type"] == "tool_call")
    assert call["step"] == "desk/research" and call["name"] == "lookup"
    assert events[-1]["output"] == "summary of facts about bees"
    broken = Workflow("x", [AgentStep("a", Agent("a"), "{nothing}")])
    last = await run_to_end(runner_for(store).run(broken, None))
    assert "no earlier step produced" in last["error"]


SCRIPT = textwrap.dedent('''
    import asyncio, os, sys, time
    from pathlib import Path
    from cupola.agents import Runner
    from cupola.client import FunctionClient
    from cupola.workflows import FunctionStep, Workflow, WorkflowRunner, WorkflowStore, run_to_end

    log = Path(sys.argv[2]) if __name__ == "__main__" else None  # the test sets it when importing

    def step(name, slow=False):
        def fn(state):
            with log.open("a") as f:
                f.write(name + "\\n")
            if slow and os.environ.get("HANG"):
                time.sleep(60)
            return name
        return FunctionStep(name, fn)

    WORKFLOW = Workflow("crashy", [step("one"), step("two", slow=True), step("three")])

    if __name__ == "__main__":
        store = WorkflowStore(Path(sys.argv[1]))
        runner = WorkflowRunner(Runner(FunctionClient(lambda m, p: "x")), store)
        asyncio.run(run_to_end(runner.run(WORKFLOW, None, run_id="wfr_crash")))
''')


async def test_a_killed_run_resumes_from_its_last_completed_step(tmp_path):
    script = tmp_path / "crashy.py"
    script.write_text(SCRIPT)
    db, log = tmp_path / "wf.db", tmp_path / "log.txt"
    proc = subprocess.Popen([sys.executable, str(script), str(db), str(log)], env={**os.environ, "HANG": "1"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not log.exists() or "two" not in log.read_text()):
        await asyncio.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert log.read_text().split() == ["one", "two"]

    sys.path.insert(0, str(tmp_path))
    try:
        import crashy
    finally:
        sys.path.remove(str(tmp_path))
    crashy.log = log
    store = WorkflowStore(db)
    assert store.run("wfr_crash")["status"] == "running" and list(store.checkpoints("wfr_crash")) == ["crashy/one"]
    events = await collect(WorkflowRunner(Runner(FunctionClient(lambda m, p: "x")), store).resume(
        crashy.WORKFLOW, "wfr_crash"))
    assert events[-1]["status"] == "completed" and events[-1]["output"] == "three"
    assert log.read_text().split() == ["one", "two", "two", "three"]  # "one" restored, not run again
    store.close()


def test_bad_workflows_are_refused():
    with pytest.raises(UsageError, match="unique"):
        Workflow("w", [FunctionStep("a", str), FunctionStep("a", str)])
    with pytest.raises(UsageError, match="default route"):
        Route("r", FunctionStep("router", str), {"x": FunctionStep("x", str)}, default="y")


async def test_a_failing_branch_stops_its_sibling(store):
    stopped = asyncio.Event()

    async def slow(state):
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            stopped.set()
            raise

    def broken(state):
        raise RuntimeError("branch failed")

    wf = Workflow("w", [Concurrent("both", [FunctionStep("slow", slow), FunctionStep("broken", broken)])])
    last = await run_to_end(runner_for(store).run(wf, None))
    assert last["type"] == "workflow_failed" and "branch failed" in last["error"]
    assert stopped.is_set()
