"""/api/evals on the ASGI app with fake models: NDJSON progress, list, fetch, report, errors."""

from __future__ import annotations

import json
import textwrap
import time

import pytest
from conftest import FakeFactory, fake_store
from fastapi.testclient import TestClient
from test_http_api import assert_openai_error

from cupola.runtime.runtime import Runtime
from cupola.server.app import create_app

EVAL = {
    "description": "capitals over http",
    "targets": [{"model": "smollm2-135m", "prompt": "Capital of {country}? One word."}],
    "tests": [{"vars": {"country": "France"}, "assert": [{"type": "icontains", "value": "paris"}]},
              {"vars": {"country": "Japan"}, "assert": [{"type": "icontains", "value": "tokyo"}]}],
}


@pytest.fixture
def client(settings):
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=FakeFactory(reply="Paris."))
    with TestClient(create_app(settings, runtime)) as c:
        yield c


def ndjson(resp):
    return [json.loads(line) for line in resp.iter_lines() if line]


def test_run_streams_progress_then_the_summary(client):
    with client.stream("POST", "/api/evals", json={**EVAL, "repeat": 2}) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/x-ndjson")
        events = ndjson(resp)
    kinds = [e["type"] for e in events]
    assert kinds == ["run_started"] + ["sample"] * 4 + ["run_finished"]
    assert events[0]["total"] == 4 and events[0]["targets"] == ["smollm2-135m"]
    assert [e["done"] for e in events[1:-1]] == [1, 2, 3, 4]
    summary = events[-1]["summary"]
    assert summary["pass_rate"] == 0.5 and summary["samples"] == 4
    run_id = events[0]["run_id"]

    listed = client.get("/api/evals").json()
    assert listed["object"] == "list"
    row = listed["data"][0]
    assert {k: row[k] for k in ("id", "description", "status", "pass_rate")} == {
        "id": run_id, "description": "capitals over http", "status": "completed", "pass_rate": 0.5}
    assert isinstance(row["created_at"], float)
    doc = client.get(f"/api/evals/{run_id}").json()
    assert doc["object"] == "eval.run" and doc["targets"][0]["pass_rate"] == 0.5
    assert len(doc["targets"][0]["tests"][0]["repeats"]) == 2
    report = client.get(f"/api/evals/{run_id}/report")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "capitals over http" in report.text and "<svg" in report.text
    assert client.delete(f"/api/evals/{run_id}").json()["deleted"] is True
    assert_openai_error(client.get(f"/api/evals/{run_id}"), 404, "run")


def test_non_streaming_and_file_paths(client, tmp_path):
    done_first = client.post("/api/evals", json={**EVAL, "stream": False}).json()
    assert done_first["type"] == "run_finished" and done_first["summary"]["passed"] == 1
    path = tmp_path / "capitals.yaml"
    path.write_text(textwrap.dedent("""\
        description: from a file
        targets: [{model: smollm2-135m, prompt: "Capital of {country}?"}]
        tests:
          - vars: {country: France}
            metadata: {tags: [smoke]}
            assert: [{type: icontains, value: paris}]
          - vars: {country: Japan}
            assert: [{type: icontains, value: tokyo}]
    """))
    done = client.post("/api/evals", json={"path": str(path), "stream": False, "repeat": 3,
                                           "filter": {"tag": "smoke"}}).json()
    assert done["summary"] == {**done["summary"], "samples": 3, "passed": 3}
    nothing_failed = client.post("/api/evals", json={"path": str(path), "failed_from": "last"})
    assert_openai_error(nothing_failed, 400, "filter", "no test matches")
    first = done_first["run_id"]  # Japan failed there: the same test (same vars) in this file
    rerun = client.post("/api/evals", json={"path": str(path), "stream": False, "failed_from": first}).json()
    assert rerun["summary"] == {**rerun["summary"], "samples": 1, "passed": 0}


def test_bad_evals_are_http_errors_before_anything_runs(client, tmp_path):
    bad = {**EVAL, "tests": [{"vars": {"country": "France"}, "assert": [{"type": "icontain", "value": "x"}]}]}
    resp = client.post("/api/evals", json=bad)
    assert_openai_error(resp, 400, None, "unknown assertion type 'icontain'")
    assert resp.json()["error"]["code"] == "invalid_eval"
    assert "request body" in resp.json()["error"]["message"]
    missing = client.post("/api/evals", json={**EVAL, "targets": [{"model": "nope-9b", "prompt": "{country}"}]})
    assert_openai_error(missing, 400, None, "model 'nope-9b' not found")
    assert_openai_error(client.post("/api/evals", json={"path": str(tmp_path / "none.yaml")}), 400, "file")
    assert_openai_error(client.post("/api/evals", json=[1, 2]), 400, None, "the body is an eval")
    assert_openai_error(client.post("/api/evals", json={**EVAL, "repeat": 0}), 400, None, "repeat")
    assert_openai_error(client.post("/api/evals", json={"path": "x.yaml", "colour": "red"}), 400, "colour")
    assert_openai_error(client.get("/api/evals/eval_missing/report"), 404, "run")
    assert client.get("/api/evals").json()["data"] == []  # nothing ran


def test_code_from_files_needs_the_server_setting(settings, tmp_path):
    (tmp_path / "checks.py").write_text("def ok(output, context):\n    return True\n")
    body = {**EVAL, "tests": [{"vars": {"country": "x"}, "assert": [{"type": "python",
                                                                   "value": str(tmp_path / "checks.py") + ":ok"}]}]}
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=FakeFactory(reply="Paris."))
    with TestClient(create_app(settings, runtime)) as c:
        assert_openai_error(c.post("/api/evals", json=body), 400, None, "python assertions are not allowed here")
    allowed = settings.model_copy(update={"evals_allow_code": True})
    runtime = Runtime(allowed, fake_store(allowed.home), engine_factory=FakeFactory(reply="Paris."))
    with TestClient(create_app(allowed, runtime)) as c:
        assert c.post("/api/evals", json={**body, "stream": False}).json()["summary"]["passed"] == 1


def test_the_run_outlives_its_follower(settings):
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=FakeFactory(reply="Paris.", delay=0.05))
    with TestClient(create_app(settings, runtime)) as c:
        with c.stream("POST", "/api/evals", json={**EVAL, "repeat": 3}) as resp:
            first = json.loads(next(resp.iter_lines()))
        run_id = first["run_id"]  # the client left after the first event
        deadline = time.monotonic() + 30
        while c.get(f"/api/evals/{run_id}").json()["status"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        doc = c.get(f"/api/evals/{run_id}").json()
        assert doc["status"] == "completed" and doc["summary"]["samples"] == 6
