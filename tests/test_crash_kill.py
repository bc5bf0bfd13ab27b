"""The short version of bench/crash_kill.py: each scenario killed at two random points (SIGKILL to
the whole process group), checked after each kill, then resumed to the end. The bench runs 20
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
    outcome = crash_kill.run_scenario(scenario, 2, tmp_path / name, random.Random(name), log=lambda *_: None)
    assert outcome.problems == []
    assert outcome.points + outcome.finished_early == 2
