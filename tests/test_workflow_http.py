"""Workflow routes on the ASGI app: NDJSON event streams, approval over HTTP, errors."""

from __future__ import annotations

import json
import textwrap

import pytest
from fastapi.testclient import TestClient

from cupola.errors import UsageError
from cupola.runtime.runtime import Runtime
from cupola.server.app import create_app
from cupola.workflows.loader import load_workflow

from conftest import FakeFactory, fake_store
from test_http_api import assert_openai_error

FLOW = textwrap.dedent('''
    from cupola.agents import Agent
    from cupola.workflows import AgentStep, Approval, FunctionStep, Workflow

    workflow = Workflow("shipit", [
        AgentStep("draft", Agent("writer", "Write release notes."), "Notes for {input}"),
        Approval("review", "Publish these notes? {draft}"),
        FunctionStep("publish", lambda s: {"published": s["draft"]}),
    ], description="drafts, asks, publishes")
''')


@pytest.fixture
def client(settings, tmp_path):
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "shipit.py").write_text(FLOW)
    settings = settings.model_copy(update={"workflows_dir": folder})
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=FakeFactory(reply="Version 2 is out."))
    with TestClient(create_app(settings, runtime)) as c:
        yield c


def ndjson(resp):
    return [json.loads(line) for line in resp.iter_lines() if line]


def test_run_streams_events_pauses_and_resumes_over_http(client):
    described = client.get("/api/workflows").json()["data"][0]
    assert {k: described[k] for k in ("name", "description", "steps")} == {
        "name": "shipit", "description": "drafts, asks, publishes", "steps": ["draft", "review", "publish"]}
    assert [(n["kind"], n["path"]) for n in described["graph"]["children"]] == [
        ("agent", "shipit/draft"), ("approval", "shipit/review"), ("function", "shipit/publish")]
    with client.stream("POST", "/api/workflows/shipit/runs", json={"input": "v2"}) as resp:
        assert resp.headers["content-type"].startswith("application/x-ndjson")
        events = ndjson(resp)
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["workflow_started", "step_started"] and kinds[-1] == "approval_required"
    assert "".join(e["text"] for e in events if e["type"] == "delta") == "Version 2 is out."
    run_id = events[0]["run_id"]
    run = client.get(f"/api/workflows/runs/{run_id}").json()
    assert run["status"] == "paused" and run["pending"]["prompt"] == "Publish these notes? Version 2 is out."
    assert run["steps"] == {"shipit/draft": "Version 2 is out."}
    done = client.post(f"/api/workflows/runs/{run_id}/resume", json={"approve": True, "stream": False}).json()
    assert done["type"] == "workflow_finished" and done["output"] == {"published": "Version 2 is out."}
    assert_openai_error(client.post(f"/api/workflows/runs/{run_id}/resume", json={"approve": True}), 400,
                        "run_id", "completed")


def test_workflow_errors(client, settings):
    assert_openai_error(client.post("/api/workflows/nope/runs", json={"input": "x"}), 404, "workflow",
                        "served workflows: shipit")
    assert_openai_error(client.get("/api/workflows/runs/wfr_missing"), 404, "run_id")
    assert_openai_error(client.post("/api/workflows/shipit/runs", json={}), 400, "input")
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=FakeFactory())
    with TestClient(create_app(settings, runtime)) as plain:
        assert_openai_error(plain.post("/api/workflows/shipit/runs", json={"input": "x"}), 404, "workflow",
                            "runs no workflows")


def test_bad_workflow_files(tmp_path):
    (tmp_path / "a.py").write_text("x = 1")
    with pytest.raises(UsageError, match="must define `workflow`"):
        load_workflow(tmp_path / "a.py")
    (tmp_path / "b.py").write_text("raise RuntimeError('boom')")
    with pytest.raises(UsageError, match="RuntimeError: boom"):
        load_workflow(tmp_path / "b.py")
