"""The short version of bench/crash_kill.py: each scenario killed at two random points (SIGKILL to
the whole process group; here right after a random number of acknowledged writes, so that the kill
lands mid-work on any machine), checked after each kill, then resumed to the end. The bench runs 20
kill points per scenario and records them in bench/results/reliability.md."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "crash_kill.py"
spec = importlib.util.spec_from_file_location("crash_kill", BENCH)
crash_kill = importlib.util.module_from_spec(spec)
sys.modules["crash_kill"] = crash_kill  # dataclasses look their module up
spec.loader.exec_module(crash_kill)

SMALL = {"ingest": 300, "sessions": 400, "responses": 400, "workflows": 60, "pulls": 1}


@pytest.mark.parametrize("name", list(crash_kill.SCENARIOS))
def test_killed_at_random_points_nothing_is_lost_and_work_resumes(name, tmp_path, models_home):
    scenario = crash_kill.SCENARIOS[name]
    scenario = type(scenario)(scenario.name, min(scenario.window, 1.0), SMALL[name], scenario.description)
    outcome = crash_kill.run_scenario(scenario, 2, tmp_path / name, random.Random(name), log=lambda *_: None,
                                      calibrate=False, by_acks=True)
    assert outcome.problems == []
    assert outcome.points >= 1  # at least one kill landed while the child was writing


async def test_the_checks_see_what_a_torn_write_would_leave(tmp_path):
    """The checks are not vacuous: the state a non-atomic write would leave is reported."""
    import sqlite3

    from cupola.agents import SessionStore

    ingest = crash_kill.SCENARIOS["ingest"]
    home = tmp_path / "ingest"
    service = ingest.service(home)
    service.create("kb", chunk_tokens=120, chunk_overlap=10)
    docs = type(ingest)("ingest", 1, 8).corpus()
    await service.ingest("kb", docs)
    service.store.close()
    acked = [[d.id for d in docs]]
    assert ingest.check(home, acked) == []
    conn = sqlite3.connect(home / "knowledge.db")
    conn.execute("DELETE FROM chunks WHERE id = (SELECT max(id) FROM chunks)")  # a document missing a chunk
    conn.commit()
    conn.close()
    assert any("without all their chunks" in p for p in ingest.check(home, acked))
    assert any("missing" in p for p in ingest.check(home, acked + [["doc-9999.md"]]))

    sessions = crash_kill.SCENARIOS["sessions"]
    store = SessionStore(tmp_path / "sessions" / "agents.db")
    store.append("s0", "adder", [{"role": "user", "content": "add 1 1"}])  # a turn cut after the question
    store.close()
    assert any("half-written turn" in p for p in sessions.check(tmp_path / "sessions", []))
    assert any("acknowledged turns missing" in p for p in sessions.check(tmp_path / "sessions", [5]))
