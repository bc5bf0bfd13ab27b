"""`cupola eval` through the CLI runner: gate exit codes, outputs, list/show/compare/export/calibrate."""

from __future__ import annotations

import json
import random
import textwrap
import xml.etree.ElementTree as ET

import pytest
from test_eval_runner import serve_in_thread
from typer.testing import CliRunner

from cupola.cli import eval as eval_cli
from cupola.cli.main import app
from cupola.client import FunctionClient
from cupola.config import Settings
from cupola.evals.targets import EvalEnv
from cupola.knowledge.store import KnowledgeStore

runner = CliRunner()

CAPITALS = """\
    description: capitals
    targets:
      - model: smollm2-135m
        prompt: "Answer in one word. What is the capital of {country}?"
    tests:
      - vars: {country: France}
        metadata: {tags: [europe]}
        assert: [{type: icontains, value: paris}]
      - vars: {country: Japan}
        assert: [{type: icontains, value: tokyo}]
"""


@pytest.fixture
def fake_models(monkeypatch):
    """The CLI's model client replaced by a fake model whose answers the test sets."""
    state = {"fn": lambda messages, params: "Paris", "calls": 0}

    def fn(messages, params):
        state["calls"] += 1
        return state["fn"](messages, params)

    def fake_env(settings: Settings, url, local):
        return EvalEnv(FunctionClient(fn), settings, KnowledgeStore(settings.db_path("knowledge")))

    monkeypatch.setattr(eval_cli, "_env", fake_env)
    return state


def write(tmp_path, text, name="capitals.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_run_gate_exit_codes_and_outputs(tmp_path, fake_models):
    path = write(tmp_path, CAPITALS)
    ok = runner.invoke(app, ["eval", "run", str(path), "--min-pass-rate", "0.5", "--json", str(tmp_path / "r.json"),
                             "--junit", str(tmp_path / "r.xml"), "--html", str(tmp_path / "r.html")])
    assert ok.exit_code == 0, ok.output
    assert "country=France" in ok.output and "pass rate" in ok.output and "gate passed" in ok.output
    assert "country=Japan × smollm2-135m (repeat 1): icontains \"tokyo\"" in ok.output
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["targets"][0]["id"] == "smollm2-135m" and doc["targets"][0]["pass_rate"] == 0.5
    assert {"id", "pass_rate", "mean_score", "std"} <= set(doc["targets"][0])
    assert [len(c["repeats"]) for c in doc["targets"][0]["tests"]] == [1, 1] and len(doc["tests"]) == 2
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "1" and suite.get("errors") == "0"
    assert "tokyo" in suite.find("testcase[failure]").find("failure").get("message")
    assert "<!DOCTYPE html>" in (tmp_path / "r.html").read_text()

    failed = runner.invoke(app, ["eval", "run", str(path), "--min-pass-rate", "0.9"])
    assert failed.exit_code == 1 and "gate failed" in failed.output

    bad = write(tmp_path, CAPITALS.replace("icontains, value: paris", "icontain, value: paris"), "bad.yaml")
    broken = runner.invoke(app, ["eval", "run", str(bad)])
    assert broken.exit_code == 2 and "bad.yaml:8:" in broken.output and "did you mean 'icontains'" in broken.output
    assert runner.invoke(app, ["eval", "run", str(tmp_path / "nope.yaml")]).exit_code == 2
    gated = write(tmp_path, CAPITALS.replace("description: capitals", "description: gated\n    min_pass_rate: 0.8"),
                  "gated.yaml")
    assert runner.invoke(app, ["eval", "run", str(gated)]).exit_code == 1  # the file's own gate
    assert runner.invoke(app, ["eval", "run", str(gated), "--min-pass-rate", "0.5"]).exit_code == 0


def test_filters_failed_from_and_targets(tmp_path, fake_models):
    path = write(tmp_path, CAPITALS)
    first = runner.invoke(app, ["eval", "run", str(path), "--json", "-"])
    assert first.exit_code == 0
    doc = json.loads(first.stdout)
    fake_models["calls"] = 0
    rerun = runner.invoke(app, ["eval", "run", str(path), "--failed-from", doc["id"], "--json", "-"])
    assert rerun.exit_code == 0 and fake_models["calls"] == 1
    assert [t["label"] for t in json.loads(rerun.stdout)["tests"]] == ["country=Japan"]
    tagged = runner.invoke(app, ["eval", "run", str(path), "-f", "tag=europe", "--json", "-", "--repeat", "3"])
    assert [len(c["repeats"]) for c in json.loads(tagged.stdout)["targets"][0]["tests"]] == [3]
    none = runner.invoke(app, ["eval", "run", str(path), "-f", "tag=asia"])
    assert none.exit_code == 2 and "no test matches" in none.output
    assert runner.invoke(app, ["eval", "run", str(path), "--target", "nope"]).exit_code == 2
    assert runner.invoke(app, ["eval", "run", str(path), "-f", "oops"]).exit_code == 2


def test_folder_runs_every_file(tmp_path, fake_models):
    folder = tmp_path / "evals"
    folder.mkdir()
    write(folder, CAPITALS, "a.yaml")
    write(folder, CAPITALS.replace("capitals", "second"), "b.yaml")
    result = runner.invoke(app, ["eval", "run", str(folder), "--json", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.json", "b.json"]


def test_list_show_export_rm(tmp_path, fake_models):
    path = write(tmp_path, CAPITALS)
    assert runner.invoke(app, ["eval", "run", str(path), "-q"]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["eval", "list", "--json"]).stdout)
    run_id = listed["data"][0]["id"]
    assert listed["data"][0] == {**listed["data"][0], "description": "capitals", "status": "completed",
                                 "pass_rate": 0.5, "samples": 2, "targets": ["smollm2-135m"]}
    table = runner.invoke(app, ["eval", "list"])
    assert run_id in table.output and "50.0%" in table.output
    shown = runner.invoke(app, ["eval", "show", run_id[:10], "--failures"])
    assert shown.exit_code == 0 and "country=Japan" in shown.output
    assert json.loads(runner.invoke(app, ["eval", "show", "last", "--json"]).stdout)["id"] == run_id
    out = tmp_path / "router.jsonl"
    exported = runner.invoke(app, ["eval", "export", "last", "--router-data", str(out), "--html",
                                   str(tmp_path / "x.html")])
    assert exported.exit_code == 0, exported.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == [{"prompt": "Answer in one word. What is the capital of France?", "target": "smollm2-135m",
                     "score": 1.0, "passed": True, "category": None},
                    {"prompt": "Answer in one word. What is the capital of Japan?", "target": "smollm2-135m",
                     "score": 0.0, "passed": False, "category": None}]
    assert runner.invoke(app, ["eval", "export", "last"]).exit_code == 2
    missing = runner.invoke(app, ["eval", "show", "eval_nope"])
    assert missing.exit_code == 2 and "no eval run 'eval_nope'" in missing.output
    assert runner.invoke(app, ["eval", "rm", run_id]).exit_code == 0
    assert json.loads(runner.invoke(app, ["eval", "list", "--json"]).stdout)["data"] == []


def test_compare_finds_regressions_with_significance(tmp_path, fake_models):
    path = write(tmp_path, CAPITALS)
    rng = random.Random(0)
    fake_models["fn"] = lambda m, p: "Paris" if "France" in m[-1]["content"] else "Tokyo"
    good = json.loads(runner.invoke(app, ["eval", "run", str(path), "--repeat", "8", "--json", "-"]).stdout)["id"]
    fake_models["fn"] = lambda m, p: "Paris" if "France" in m[-1]["content"] else ("Tokyo" if rng.random() < 0.1
                                                                                      else "Kyoto")
    bad = json.loads(runner.invoke(app, ["eval", "run", str(path), "--repeat", "8", "--json", "-"]).stdout)["id"]
    result = runner.invoke(app, ["eval", "compare", good, bad, "--json"])
    assert result.exit_code == 0
    comparison = json.loads(result.stdout)
    regression = comparison["regressions"][0]
    assert regression["label"] == "country=Japan" and regression["a_pass_rate"] == 1.0 and regression["significant"]
    assert regression["p_value"] < 0.05 and comparison["improvements"] == []
    gated = runner.invoke(app, ["eval", "compare", good, bad, "--fail-on-regression"])
    assert gated.exit_code == 1 and "regressions" in gated.output and "significant" in gated.output
    same = runner.invoke(app, ["eval", "compare", good, good, "--fail-on-regression"])
    assert same.exit_code == 0 and "no regressions" in same.output
    # with single samples a flip is all there is to go on: it counts
    fake_models["fn"] = lambda m, p: "Paris" if "France" in m[-1]["content"] else "Tokyo"
    one_good = json.loads(runner.invoke(app, ["eval", "run", str(path), "--json", "-"]).stdout)["id"]
    fake_models["fn"] = lambda m, p: "Paris"
    one_bad = json.loads(runner.invoke(app, ["eval", "run", str(path), "--json", "-"]).stdout)["id"]
    assert runner.invoke(app, ["eval", "compare", one_good, one_bad, "--fail-on-regression"]).exit_code == 1


def test_calibrate_reports_agreement_and_reports_show_it(tmp_path, fake_models):
    (tmp_path / "judge.yaml").write_text(textwrap.dedent("""\
        description: polite judge
        judge: smollm2-135m
        assert:
          - {type: rubric, value: "The reply is polite"}
        labels: labels.jsonl
    """))
    rows = [("Thank you, happy to help!", True, 1.0), ("Please hold, I will check.", True, 0.8),
            ("Go away.", False, 0.0), ("Whatever.", False, 0.2), ("Thanks!", True, 0.9)]
    (tmp_path / "labels.jsonl").write_text("".join(json.dumps({"output": o, "pass": p, "score": s}) + "\n"
                                                   for o, p, s in rows))

    def judge(messages, params):  # a judge that is fooled by "Whatever."
        text = messages[-1]["content"].split("OUTPUT:\n")[1].split("\n\nCRITERION")[0]
        polite = any(w in text for w in ("Thank", "Please", "Whatever"))
        return json.dumps({"score": 9 if polite else 1, "pass": polite, "reason": "judged"})

    fake_models["fn"] = judge
    result = runner.invoke(app, ["eval", "calibrate", str(tmp_path / "judge.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    cal = json.loads(result.stdout)
    assert cal["n"] == 5 and cal["accuracy"] == 0.8 and cal["confusion"] == {"tp": 3, "fp": 1, "fn": 0, "tn": 1}
    assert cal["kappa"] == pytest.approx(0.5455, abs=1e-4) and cal["spearman"] is not None
    table = runner.invoke(app, ["eval", "calibrate", str(tmp_path / "judge.yaml")])
    assert "accuracy 80.0%" in table.output and "Cohen's kappa 0.55" in table.output
    # an eval using the same grader shows the calibration in its report
    (tmp_path / "uses.yaml").write_text(textwrap.dedent("""\
        judge: smollm2-135m
        targets: [{model: smollm2-135m, prompt: "{q}"}]
        tests:
          - vars: {q: hi}
            assert:
              - {type: rubric, value: "The reply is polite"}
    """))
    fake_models["fn"] = lambda m, p: judge(m, p) if "CRITERION" in m[-1]["content"] else "Thank you!"
    html = tmp_path / "r.html"
    used = runner.invoke(app, ["eval", "run", str(tmp_path / "uses.yaml"), "--html", str(html)])
    assert used.exit_code == 0 and "judge calibration polite judge: agreement with human labels 80.0%" in used.output
    assert "judge vs humans: accuracy 80%" in html.read_text() and "polite judge" in html.read_text()
    no_labels = runner.invoke(app, ["eval", "calibrate", str(tmp_path / "uses.yaml")])
    assert no_labels.exit_code == 2


def test_cli_against_a_server(tmp_path, monkeypatch):
    """Through --url: the RemoteClient path, with the model checked on the server."""
    from conftest import FakeFactory, fake_store

    from cupola.runtime.runtime import Runtime
    from cupola.server.app import create_app

    settings = Settings(home=tmp_path / "srv")
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=FakeFactory(reply="Paris, of course."))
    server, thread, url = serve_in_thread(create_app(settings, runtime))
    try:
        path = write(tmp_path, CAPITALS)
        result = runner.invoke(app, ["eval", "run", str(path), "--url", url, "--json", "-", "-q"])
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        assert doc["summary"]["passed"] == 1 and doc["targets"][0]["tests"][0]["repeats"][0]["tokens"]["completion"] == 3
        unknown = write(tmp_path, CAPITALS.replace("model: smollm2-135m", "model: gpt-17"), "unknown.yaml")
        missing = runner.invoke(app, ["eval", "run", str(unknown), "--url", url])
        assert missing.exit_code == 2 and "has no model 'gpt-17'" in missing.output
    finally:
        server.should_exit = True
        thread.join(10)
