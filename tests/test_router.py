"""Model routers: training, modes, calibration, the CLI, with bag-of-words fake embeddings."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cupola.cli.main import app
from cupola.config import RouterConfig
from cupola.engines.fake import FakeEmbeddingEngine
from cupola.errors import InvalidParameter
from cupola.runtime.router import Router, RouterModel, read_rows, train

SMALL, LARGE = "small-model", "large-model"
CODE = ["Write a Python function that {} and add tests", "Implement {} in Python with error handling",
        "Write code to {} efficiently"]
CHAT = ["Say hello to {}", "Greet {} warmly", "Reply with a friendly hello for {}"]
THINGS = ["sorts a list", "parses dates", "merges two dicts", "reverses words", "counts vowels", "reads a CSV",
          "the team", "my friend Ana", "our new colleague", "the students", "Bob", "the neighbours"]


async def fake_embed(texts: list[str]) -> np.ndarray:
    return FakeEmbeddingEngine(dims=256).embed(texts)[0]


def rows() -> list[dict]:
    out = []
    for i, thing in enumerate(THINGS):
        for template in CODE:
            p = template.format(thing)
            out += [{"prompt": p, "target": SMALL, "score": 0.0 if i % 5 else 1.0},
                    {"prompt": p, "target": LARGE, "score": 1.0}]
        for template in CHAT:
            p = template.format(thing)
            out += [{"prompt": p, "target": SMALL, "score": 1.0}, {"prompt": p, "target": LARGE, "score": 1.0}]
    return out


def router(model: RouterModel | None, mode: str = "balanced") -> Router:
    return Router("auto", RouterConfig(candidates=[SMALL, LARGE], mode=mode), model, {SMALL: 1.0, LARGE: 5.0})


def ask(text: str) -> dict:
    return {"messages": [{"role": "user", "content": text}]}


async def test_trained_router_sends_code_to_the_large_model_and_chat_to_the_small():
    model = await train([SMALL, LARGE], rows(), fake_embed)
    assert model.strongest == LARGE and model.mean_scores[LARGE] == 1.0
    r = router(model)
    code = await r.choose(ask("Write a Python function that flattens nested lists"), fake_embed)
    chat = await r.choose(ask("Say hello to the committee"), fake_embed)
    assert code.order[0] == LARGE and chat.order[0] == SMALL
    assert set(code.predicted) == {SMALL, LARGE} and "balanced" in code.reason
    quality = router(model, "quality")
    assert (await quality.choose(ask("Say hello to the committee"), fake_embed)).order[0] in (SMALL, LARGE)
    cost = router(model, "cost")
    assert (await cost.choose(ask("Say hello to the committee"), fake_embed)).order[0] == SMALL


async def test_calibration_sends_about_the_asked_share_to_the_strongest():
    data = rows()
    model = await train([SMALL, LARGE], data, fake_embed, calibrate=0.3)
    r = router(model)
    prompts = sorted({row["prompt"] for row in data})
    picks = [(await r.choose(ask(p), fake_embed)).order[0] for p in prompts]
    share = picks.count(LARGE) / len(picks)
    assert 0.2 <= share <= 0.4
    assert r.describe()["calibrated_share"] == 0.3


async def test_untrained_router_describes_its_heuristic():
    r = router(None)
    info = r.describe()
    assert info["trained"] is False and "untrained heuristic" in info["policy"]
    long = await r.choose(ask("word " * 500), fake_embed)
    assert long.order[0] == LARGE and "long prompt" in long.reason


async def test_saved_model_round_trips(tmp_path):
    model = await train([SMALL, LARGE], rows(), fake_embed)
    model.save(tmp_path / "auto.json")
    again = RouterModel.load(tmp_path / "auto.json")
    assert again is not None and again.weights == model.weights
    stale = Router("auto", RouterConfig(candidates=[SMALL, "other"]), again, {})
    assert stale.model is None and "train again" in stale.describe()["policy"]


def test_training_rows_in_both_shapes_and_errors(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"prompt": "p1", "target": SMALL, "passed": True}) + "\n"
                    + json.dumps({"prompt": "p2", "scores": {SMALL: 0.5, LARGE: 1}}) + "\n")
    assert read_rows(path) == [{"prompt": "p1", "target": SMALL, "score": 1.0},
                               {"prompt": "p2", "target": SMALL, "score": 0.5},
                               {"prompt": "p2", "target": LARGE, "score": 1.0}]
    path.write_text(json.dumps({"prompt": "p1", "target": SMALL, "passed": True, "category": "chat"}) + "\n"
                    + json.dumps({"prompt": "p2", "scores": {SMALL: 0}, "category": "code"}) + "\n")
    assert [r["category"] for r in read_rows(path)] == ["chat", "code"]  # the task type, kept
    path.write_text('{"prompt": "p", "target": "x", "score": 7}\n')
    with pytest.raises(InvalidParameter, match=r"rows.jsonl:1: a score is a number from 0 to 1"):
        read_rows(path)
    path.write_text('{"target": "x"}\n')
    with pytest.raises(InvalidParameter, match="string `prompt`"):
        read_rows(path)


async def test_training_needs_rows_for_every_candidate():
    with pytest.raises(InvalidParameter, match="no rows for large-model"):
        await train([SMALL, LARGE], [r for r in rows() if r["target"] == SMALL], fake_embed)


def test_router_cli_show_and_train(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('[routers.auto]\ncandidates = ["smollm2-135m", "qwen2.5-coder-0.5b"]\n'
                                      'mode = "balanced"\n')
    runner = CliRunner()
    shown = runner.invoke(app, ["router", "show", "auto", "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert data["trained"] is False and data["strongest"] == "qwen2.5-coder-0.5b"  # larger on disk
    missing = runner.invoke(app, ["router", "show", "nope"])
    assert missing.exit_code != 0 and "no router named 'nope'" in missing.output
    listed = runner.invoke(app, ["router", "list"])
    assert "auto" in listed.output and "heuristic" in listed.output
