"""The shipped example workflows end to end with the real embedded models: through the CLI, and
through a live `cupola serve --workflows` streaming NDJSON events."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cupola.cli.main import app
from cupola.knowledge import citing

from conftest import LiveServer, events_of, new_home
from test_kb_live import write_notes

pytestmark = pytest.mark.real
FLOWS = Path(__file__).resolve().parent.parent / "examples" / "workflows"
runner = CliRunner()


def test_research_desk_runs_every_stage(home_with_models, tmp_path):
    assert runner.invoke(app, ["kb", "ingest", "docs", str(write_notes(tmp_path / "docs")), "--create"]).exit_code == 0
    result = runner.invoke(app, ["workflow", "run", str(FLOWS / "research_desk.py"),
                                 "How do honey bees tell others where flowers are?", "--json"])
    assert result.exit_code == 0, result.output
    events = events_of(result.output)
    finished = [e["step"] for e in events if e["type"] == "step_finished"]
    for step in ("research_desk/plan", "research_desk/gather/retriever", "research_desk/gather/researcher",
                 "research_desk/gather", "research_desk/review/1/draft", "research_desk/review/1/critic",
                 "research_desk/review", "research_desk/final", "research_desk/cite"):
        assert step in finished, (step, finished)
    order = [(e["type"], e.get("step")) for e in events]
    # both branches start before either finishes: they run concurrently
    assert order.index(("step_started", "research_desk/gather/researcher")) < \
        order.index(("step_finished", "research_desk/gather/retriever"))
    retriever = next(e for e in events if e["type"] == "step_finished" and e["step"].endswith("retriever"))
    retrieved = [s["doc_id"] for s in retriever["output"]["sources"]]
    assert "bees.txt" in retrieved
    assert any(e["type"] == "tool_call" and e["name"] == "search_knowledge" for e in events)
    # every draft that cites something not retrieved is rejected without asking the model critic
    finished = {e["step"]: e.get("output") for e in events if e["type"] == "step_finished"}
    for i in (1, 2):
        draft = finished.get(f"research_desk/review/{i}/draft")
        if draft is not None:
            cites_absent = bool(citing.absent(draft, retrieved))
            assert (finished[f"research_desk/review/{i}/critic"]["route"] == "reject") == cites_absent
    assert events[-1]["type"] == "workflow_finished" and events[-1]["status"] == "completed"
    result = events[-1]["output"]
    assert result["answer"].strip() and not citing.absent(result["answer"], retrieved)
    assert all(c["doc_id"] in retrieved for c in result["citations"])


def test_incident_triage_routes_and_waits_for_approval(home_with_models):
    result = runner.invoke(app, ["workflow", "run", str(FLOWS / "incident_triage.py"),
                                 "Slow SQL queries and lock waits: the database CPU is at 100%", "--json",
                                 "--no-interactive"])
    assert result.exit_code == 0, result.output
    events = events_of(result.output)
    assert [e["to"] for e in events if e["type"] == "handoff"] == ["database"]
    assert events[-1]["type"] == "approval_required" and "Page the on-call team" in events[-1]["prompt"]
    run_id = events[-1]["run_id"]
    resumed = runner.invoke(app, ["workflow", "resume", str(FLOWS / "incident_triage.py"), run_id, "--approve",
                                  "--json"])
    assert resumed.exit_code == 0, resumed.output
    after = events_of(resumed.output)
    assert sum(e["type"] == "step_restored" for e in after) >= 3  # nothing before the approval runs again
    assert after[-1]["status"] == "completed" and after[-1]["output"]["paged"] is True
    listed = runner.invoke(app, ["workflow", "runs"])
    assert run_id in listed.output and "completed" in listed.output


@pytest.fixture(scope="module")
def flow_server(models_home, tmp_path_factory):
    home = new_home(tmp_path_factory.mktemp("flows") / "home", models_home)
    server = LiveServer(home, "--workflows", str(FLOWS), "--parallel", "2", "--ctx-per-slot", "2048")
    yield server
    server.stop()


def test_live_server_streams_workflow_events_as_ndjson(flow_server):
    with httpx.Client(base_url=flow_server.url, timeout=300) as http:
        names = {w["name"] for w in http.get("/api/workflows").json()["data"]}
        assert names == {"research_desk", "incident_triage"}
        with http.stream("POST", "/api/workflows/incident_triage/runs",
                         json={"input": "DNS lookups fail and packets are dropped between hosts"}) as resp:
            assert resp.status_code == 200
            events = [json.loads(line) for line in resp.iter_lines() if line]
        assert [e["to"] for e in events if e["type"] == "handoff"] == ["network"]
        assert any(e["type"] == "delta" for e in events)
        assert events[-1]["type"] == "approval_required"
        rejected = http.post(f"/api/workflows/runs/{events[-1]['run_id']}/resume",
                             json={"approve": False, "note": "not now", "stream": False}).json()
        assert rejected["type"] == "workflow_finished" and rejected["status"] == "rejected"
