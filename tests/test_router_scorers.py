"""Router scorers: nearest neighbours vs logistic picked by cross-validation, the stored head length,
out-of-fold calibration, saved models (fake bag-of-words embeddings), and the CLI on the real
embedding model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cupola.cli.main import app
from cupola.config import RouterConfig
from cupola.engines.fake import FakeEmbeddingEngine
from cupola.errors import InvalidParameter
from cupola.runtime import scorers
from cupola.runtime.router import HEAD_CHOICES, Router, RouterModel, train

SMALL, LARGE = "small-model", "large-model"
# Three kinds of request; the small model fails only the middle one, which no single direction in a
# bag-of-words space separates from both others as well as their neighbourhoods do.
KINDS = {"easy": (["Say hello to {}", "Greet {} warmly", "Wish {} a good morning"], 1.0),
         "hard": (["Write a Python parser for {}", "Implement a Python validator of {}",
                   "Code a Python serializer for {}"], 0.0),
         "mid": (["Translate a note about {} into French", "Summarise a French note about {}",
                  "Reply in French to {}"], 1.0)}
THINGS = ["the team", "dates", "invoices", "Bob", "the students", "CSV files", "our neighbours", "e-mails"]


async def fake_embed(texts: list[str]) -> np.ndarray:
    return FakeEmbeddingEngine(dims=256).embed(texts)[0]


def rows() -> list[dict]:
    out = []
    for templates, small_score in KINDS.values():
        for template in templates:
            for thing in THINGS:
                p = template.format(thing)
                out += [{"prompt": p, "target": SMALL, "score": small_score},
                        {"prompt": p, "target": LARGE, "score": 1.0}]
    return out


def ask(text: str) -> dict:
    return {"messages": [{"role": "user", "content": text}]}


def router(model: RouterModel | None) -> Router:
    return Router("auto", RouterConfig(candidates=[SMALL, LARGE], mode="balanced"), model, {SMALL: 1.0, LARGE: 5.0})


async def test_neighbours_scorer_routes_by_similar_training_prompts():
    model = await train([SMALL, LARGE], rows(), fake_embed, kind="neighbours")
    assert model.kind == "neighbours" and model.weights == {} and model.l2 is None
    assert set(model.settings()) == {"k", "sharpness"} and model.selection  # chosen by CV among settings
    r = router(model)
    code = await r.choose(ask("Write a Python parser for log lines"), fake_embed)
    hello = await r.choose(ask("Greet the new interns warmly"), fake_embed)
    assert code.order[0] == LARGE and hello.order[0] == SMALL
    assert code.predicted[SMALL] < 0.5 < hello.predicted[SMALL]
    assert r.describe()["scorer"] == "neighbours" and "neighbours scorer" in r.describe()["policy"]


async def test_neighbours_fall_back_to_the_means_for_requests_unlike_any_training_prompt():
    # Training rows are prompts without tools: a request with tools has no near neighbour, so each
    # candidate's prediction is about its mean score (not the score of look-alike prompts).
    model = await train([SMALL, LARGE], rows(), fake_embed, kind="neighbours")
    body = ask("Greet the new interns warmly") | {"tools": [{"type": "function", "function": {"name": "f"}}]}
    with_tools = await router(model).choose(body, fake_embed)
    plain = await router(model).choose(ask("Greet the new interns warmly"), fake_embed)
    assert abs(with_tools.predicted[SMALL] - model.mean_scores[SMALL]) < 0.05
    assert plain.predicted[SMALL] > with_tools.predicted[SMALL] + 0.2


async def test_auto_picks_the_lowest_cross_validated_loss_among_kinds_and_head_lengths():
    model = await train([SMALL, LARGE], rows(), fake_embed)
    heads = {label.split(":")[0] for label in model.selection}
    assert heads == {"head 12"}  # every prompt fits 12 words: longer heads would embed the same text
    kinds = {label.split(": ")[1].split()[0] for label in model.selection}
    assert kinds == {"logistic", "neighbours", "ensemble"}
    best = min(model.selection, key=model.selection.get)
    assert best.startswith(f"head {model.head_words}: {model.kind}")
    # every option's spread over the repeated cross-validation is kept next to its mean loss
    assert model.selection_spread.keys() == model.selection.keys()
    assert all(v >= 0 for v in model.selection_spread.values())
    assert any(v > 0 for v in model.selection_spread.values())  # the repeats use other folds
    pinned = await train([SMALL, LARGE], rows(), fake_embed, l2=1.0)  # a given l2 means logistic with it
    assert pinned.kind == "logistic" and pinned.l2 == 1.0 and pinned.selection == {}
    with pytest.raises(InvalidParameter, match="unknown scorer kind 'forest'"):
        await train([SMALL, LARGE], rows(), fake_embed, kind="forest")


async def test_the_head_length_is_stored_and_used_when_routing():
    seen: list[str] = []

    async def recording(texts: list[str]) -> np.ndarray:
        seen.extend(texts)
        return await fake_embed(texts)

    model = await train([SMALL, LARGE], rows(), recording, kind="logistic", head_words=3)
    assert model.head_words == 3 and all(len(t.split()) <= 3 for t in seen)
    seen.clear()
    await router(model).choose(ask("one two three four five six"), recording)
    assert seen == ["one two three"]
    default = await train([SMALL, LARGE], rows(), fake_embed, kind="logistic")
    assert default.head_words in HEAD_CHOICES  # chosen by cross-validation


async def test_calibration_uses_held_out_predictions_so_new_traffic_gets_about_the_share():
    # In-sample, every training prompt is its own nearest neighbour (cosine 1): calibrating on those
    # scores would put the threshold where unseen prompts rarely reach it.
    model = await train([SMALL, LARGE], rows(), fake_embed, kind="neighbours", calibrate=0.4)
    r = router(model)
    unseen = [t.format(x) for templates, _ in KINDS.values() for t in templates
              for x in ["the board", "pay slips", "Maria", "logs", "the crew", "receipts"]]
    picks = [(await r.choose(ask(p), fake_embed)).order[0] for p in unseen]
    assert 0.25 <= picks.count(LARGE) / len(picks) <= 0.55
    assert "calibrated" in (await r.choose(ask(unseen[0]), fake_embed)).reason or picks[0] == SMALL


async def test_saved_neighbours_model_round_trips_and_old_files_still_load(tmp_path):
    model = await train([SMALL, LARGE], rows(), fake_embed, kind="neighbours")
    model.save(tmp_path / "auto.json")
    again = RouterModel.load(tmp_path / "auto.json")
    assert again is not None and again.kind == "neighbours" and again.head_words == model.head_words
    x = np.vstack([await fake_embed(["Write a Python parser for logs"]), await fake_embed(["Greet Ana"])])
    x = np.hstack([x, np.zeros((2, 3), dtype=np.float32)])
    for c in (SMALL, LARGE):  # stored as float16: scores agree to about 1e-3
        assert np.allclose(again.scores(x)[c], model.scores(x)[c], atol=5e-3)
    # A file written before the scorer kinds existed: a logistic model over 12-word heads.
    legacy = {k: v for k, v in json.loads((tmp_path / "auto.json").read_text()).items()
              if k not in ("kind", "scorer", "head_words", "selection")}
    legacy["weights"] = {SMALL: [0.0] * 388, LARGE: [0.0] * 388}
    (tmp_path / "old.json").write_text(json.dumps(legacy))
    old = RouterModel.load(tmp_path / "old.json")
    assert old is not None and old.kind == "logistic" and old.head_words == 12


def test_scorer_selection_and_out_of_fold_predictions():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(4, 16))
    x = np.vstack([c + 0.05 * rng.normal(size=(30, 16)) for c in centres])
    # An XOR of clusters: no linear boundary, but each cluster's neighbours agree.
    y = np.repeat([1.0, 0.0, 0.0, 1.0], 30)
    labels = {"m": scorers.Labels(np.arange(120), y)}
    found = scorers.select(x, labels, scorers.options(), ensemble=False)
    assert found.kind == "neighbours" and len(found.tried) == len(scorers.options())
    oof = scorers.out_of_fold(found.kind, found.params, x, labels, scorers.folds(120))["m"]
    assert not np.isnan(oof).any() and ((oof > 0.5) == (y > 0.5)).mean() > 0.95
    only = scorers.select(x, labels, [("logistic", {"l2": 3.0})])
    assert (only.kind, only.params, only.tried) == ("logistic", {"l2": 3.0}, {})


@pytest.mark.real
def test_train_a_neighbours_router_with_the_real_embedding_model_and_route(home_with_models, tmp_path):
    import asyncio

    from cupola.client import LocalClient
    from cupola.config import Settings
    from cupola.runtime.runtime import Runtime

    (home_with_models / "config.toml").write_text(
        '[routers.auto]\ncandidates = ["smollm2-135m", "qwen2.5-coder-0.5b"]\nmode = "balanced"\n')
    data = tmp_path / "results.jsonl"
    with data.open("w") as fh:
        for templates, small_score in KINDS.values():
            for template in templates:
                for thing in THINGS[:4]:
                    fh.write(json.dumps({"prompt": template.format(thing),
                                         "scores": {"smollm2-135m": small_score, "qwen2.5-coder-0.5b": 1.0}}) + "\n")
    runner = CliRunner()
    trained = runner.invoke(app, ["router", "train", "auto", "--from", str(data), "--kind", "neighbours",
                                  "--calibrate", "0.4"])
    assert trained.exit_code == 0, trained.output
    assert "neighbours scorer" in trained.output and "calibrated" in trained.output
    assert "cross-validation: head 12: neighbours" in trained.output and "log loss" in trained.output
    shown = json.loads(runner.invoke(app, ["router", "show", "auto", "--json"]).output)
    assert shown["trained"] and shown["scorer"] == "neighbours" and shown["head_words"] in HEAD_CHOICES
    assert "±" in shown["cross_validation"]
    pinned = runner.invoke(app, ["router", "train", "auto", "--from", str(data), "--kind", "ensemble",
                                 "--head-words", "4"])
    assert pinned.exit_code == 0 and "ensemble scorer" in pinned.output and "head of 4 words" in pinned.output
    shown = json.loads(runner.invoke(app, ["router", "show", "auto", "--json"]).output)
    assert shown["scorer"] == "ensemble" and shown["head_words"] == 4
    assert set(shown["scorer_settings"]) == {"l2", "k", "sharpness"}
    typed = tmp_path / "typed.jsonl"  # with each prompt's task type: the types scorer
    typed.write_text("".join(json.dumps({**json.loads(line), "category": "code" if "Python" in line else "chat"}) + "\n"
                             for line in data.read_text().splitlines()))
    by_type = runner.invoke(app, ["router", "train", "auto", "--from", str(typed), "--kind", "types"])
    assert by_type.exit_code == 0 and "types scorer" in by_type.output, by_type.output
    bad = runner.invoke(app, ["router", "train", "auto", "--from", str(data), "--kind", "forest"])
    assert bad.exit_code != 0 and "unknown scorer kind" in bad.output

    async def go() -> tuple[str, str, dict]:
        # the config file is found through CUPOLA_HOME (the "home" override alone does not read it)
        runtime = Runtime(Settings.load({"home": home_with_models}, {"CUPOLA_HOME": str(home_with_models)}).settings)
        client = LocalClient(runtime)
        try:
            async def embed(texts: list[str]) -> np.ndarray:
                return (await runtime.embeddings("minilm-l6", texts, record=False)).vectors

            code = await runtime.routers["auto"].choose(ask("Implement a Python validator of postcodes"), embed)
            answer = await client.chat("auto", [{"role": "user", "content": "Say hello to my sister"}], max_tokens=8)
            return code.order[0], answer["model"], code.predicted
        finally:
            await client.aclose()

    code_model, answered_by, predicted = asyncio.run(go())
    assert code_model == "qwen2.5-coder-0.5b", predicted
    assert answered_by == "smollm2-135m"


# -- what cross-validation chooses: head length, ensemble; stratified, repeated folds; the dual fit ------

PREFIX = "please read the following request carefully and then answer it as well as you possibly can:"


def late_rows() -> list[dict]:
    """Prompts whose first 14 words are the same: only the words after them say which model passes."""
    out = []
    for (task, small_score) in (("write a Python function that parses {}", 0.0), ("say hello to {}", 1.0)):
        for thing in THINGS + ["the cat", "Lisbon", "the printer", "our guests"]:
            p = f"{PREFIX} {task.format(thing)}"
            out += [{"prompt": p, "target": SMALL, "score": small_score},
                    {"prompt": p, "target": LARGE, "score": 1.0}]
    return out


async def test_cross_validation_chooses_a_head_long_enough_to_see_what_matters():
    assert len(PREFIX.split()) > 12
    model = await train([SMALL, LARGE], late_rows(), fake_embed, kind="logistic")
    assert {k.split(":")[0] for k in model.selection} == {"head 12", "head 24"}  # 24 covers every prompt
    assert model.head_words == 24 and model.chosen.startswith("head 24: logistic")
    assert "log loss" in model.cv_summary() and "±" in model.cv_summary()
    assert model.selection[f"head {model.head_words}: logistic l2={model.l2:g}"] < min(
        v for k, v in model.selection.items() if k.startswith("head 12:"))
    r = router(model)
    code = await r.choose(ask(f"{PREFIX} write a Python function that parses postcodes"), fake_embed)
    hello = await r.choose(ask(f"{PREFIX} say hello to the new interns"), fake_embed)
    assert code.order[0] == LARGE and code.predicted[SMALL] < 0.5 < hello.predicted[SMALL]
    pinned = await train([SMALL, LARGE], late_rows(), fake_embed, kind="logistic", head_words=12)
    assert pinned.head_words == 12 and all(k.startswith("logistic") for k in pinned.selection)


async def test_ensemble_averages_the_two_scorers_and_round_trips(tmp_path):
    model = await train([SMALL, LARGE], rows(), fake_embed, kind="ensemble", head_words=12)
    assert model.kind == "ensemble" and {"l2", "k", "sharpness"} <= set(model.settings())
    x = np.hstack([await fake_embed(["Write a Python parser for logs", "Greet Ana"]), np.zeros((2, 3), np.float32)])
    parts = [scorers.predict(part, x) for part in model.scorer["parts"]]
    assert [p["kind"] for p in model.scorer["parts"]] == ["logistic", "neighbours"]
    for c in (SMALL, LARGE):
        assert np.allclose(model.scores(x)[c], (parts[0][c] + parts[1][c]) / 2)
    model.save(tmp_path / "auto.json")
    again = RouterModel.load(tmp_path / "auto.json")
    assert again is not None and again.kind == "ensemble"
    assert np.allclose(again.scores(x)[SMALL], model.scores(x)[SMALL], atol=5e-3)
    code = await router(again).choose(ask("Write a Python parser for log lines"), fake_embed)
    assert code.order[0] == LARGE and "ensemble" in router(again).describe()["policy"]


def typed_rows() -> list[dict]:
    """rows() with each prompt's task type, as `cupola eval export --router-data` writes it."""
    kind_of = {t.format(x): name for name, (templates, _) in KINDS.items() for t in templates for x in THINGS}
    return [{**r, "category": kind_of[r["prompt"]]} for r in rows()]


async def test_task_types_route_by_the_kind_of_request_and_round_trip(tmp_path):
    model = await train([SMALL, LARGE], typed_rows(), fake_embed, kind="types", head_words=12)
    assert model.kind == "types" and {"l2", "beta", "k", "sharpness"} <= set(model.settings())
    assert model.scorer["types"] == ["easy", "hard", "mid"]
    assert model.scorer["means"][SMALL][1] < 0.2 < 0.8 < model.scorer["means"][SMALL][0]  # hard vs easy
    r = router(model)
    code = await r.choose(ask("Write a Python parser for log lines"), fake_embed)
    hello = await r.choose(ask("Say hello to the new interns"), fake_embed)
    assert code.order[0] == LARGE and code.predicted[SMALL] < 0.2 < 0.8 < hello.predicted[SMALL]
    model.save(tmp_path / "auto.json")
    again = RouterModel.load(tmp_path / "auto.json")
    x = np.hstack([await fake_embed(["Write a Python parser for logs"]), np.zeros((1, 3), np.float32)])
    assert again is not None and np.allclose(again.scores(x)[SMALL], model.scores(x)[SMALL], atol=5e-3)
    # auto tries task types when every row has one, and not otherwise
    auto = await train([SMALL, LARGE], typed_rows(), fake_embed, head_words=12)
    assert any(label.startswith("types ") for label in auto.selection)
    plain = await train([SMALL, LARGE], rows(), fake_embed, head_words=12)
    assert plain.selection and not any(label.startswith("types ") for label in plain.selection)
    with pytest.raises(InvalidParameter, match="needs a `category`"):
        await train([SMALL, LARGE], rows(), fake_embed, kind="types")


def test_task_types_learn_that_longer_prompts_of_a_type_are_harder_when_cross_validation_says_so():
    # Two task types told apart by the embedding; within "solve", the small model passes the short
    # prompts and fails the long ones, and nothing but the length (the column after the embedding) says which.
    rng = np.random.default_rng(5)
    n = 120
    kind = np.arange(n) % 2  # 0: "greet" (always passed), 1: "solve"
    chars = rng.integers(40, 400, size=n)
    emb = np.zeros((n, 8))
    emb[np.arange(n), kind] = 1.0
    emb[:, 2:] = 0.05 * rng.normal(size=(n, 6))
    x = np.hstack([emb, np.log1p(chars)[:, None] / 8.0, np.zeros((n, 2))])
    small = np.where(kind == 0, 1.0, (chars < 200).astype(float))
    labels = {SMALL: scorers.Labels(np.arange(n), small), LARGE: scorers.Labels(np.arange(n), np.ones(n))}
    types = ["greet" if k == 0 else "solve" for k in kind]
    layout = {"columns": 8, "flags": [9, 10]}
    base = {"l2": 0.1, "beta": 0.0, "k": 10, "sharpness": 5.0, **layout}
    probe = np.zeros((2, 11))
    probe[:, 1] = 1.0  # two "solve" prompts, 60 and 350 characters
    probe[:, 8] = np.log1p([60, 350]) / 8.0
    flat = scorers.predict(scorers.fit(scorers.TYPED, base, x, labels, types), probe)[SMALL]
    sloped_state = scorers.fit(scorers.TYPED, {**base, "slope": 1.0}, x, labels, types)
    sloped = scorers.predict(sloped_state, probe)[SMALL]
    assert abs(flat[0] - flat[1]) < 0.05  # the type's mean alone cannot tell them apart
    assert sloped[0] > flat[0] + 0.2 and sloped[1] < flat[1] - 0.2
    assert sloped_state["slopes"][SMALL][1] < 0 and abs(sloped_state["slopes"][SMALL][0]) < 1e-9
    chosen = scorers.select(x, labels, scorers.options((scorers.TYPED,), layout=layout), types=types)
    assert chosen.params.get("slope") is not None
    assert any("slope=" in label for label in chosen.tried) and any("slope=" not in k for k in chosen.tried)


def test_folds_are_stratified_by_which_candidates_passed_and_repeats_differ():
    rng = np.random.default_rng(3)
    small = (rng.random(100) < 0.2).astype(float)  # few prompts that the small model passes
    large = np.ones(100)
    labels = {SMALL: scorers.Labels(np.arange(100), small), LARGE: scorers.Labels(np.arange(100), large)}
    key = scorers.strata(100, labels)
    assert len(np.unique(key)) == 2
    a = scorers.folds(100, 5, seed=0, strata=key)
    b = scorers.folds(100, 5, seed=1, strata=key)
    assert not np.array_equal(a, b)
    for fold_of in (a, b):
        assert np.bincount(fold_of).min() >= 19  # about equal folds
        passed = np.bincount(fold_of[small == 1], minlength=5)
        assert passed.max() - passed.min() <= 1  # each fold gets its share of the rare stratum
    # A prompt without a label for a candidate is its own stratum value (not counted as a fail).
    partial = {SMALL: scorers.Labels(np.arange(50), small[:50]), LARGE: labels[LARGE]}
    assert len(np.unique(scorers.strata(100, partial))) == 3


def test_logistic_dual_fit_equals_the_primal_one():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(30, 60))  # fewer rows than features: the dual path
    y = (x[:, 0] + 0.5 * rng.normal(size=30) > 0).astype(float)
    dual = scorers.fit_logistic(x, y, 1.0)
    # the same problem solved in the features' (primal) space by Newton's method
    xb = np.hstack([x, np.ones((30, 1))])
    w = np.zeros(61)
    reg = np.full(61, 1.0)
    reg[-1] = 0.0
    for _ in range(30):
        p = 1 / (1 + np.exp(-(xb @ w)))
        w -= np.linalg.solve((xb * (p * (1 - p))[:, None]).T @ xb + np.diag(reg), xb.T @ (p - y) + reg * w)
    assert np.allclose(dual, w, atol=1e-6)
    tall = rng.normal(size=(200, 5))  # more rows than features: the primal path still works
    w_tall = scorers.fit_logistic(tall, (tall[:, 1] > 0).astype(float), 0.1)
    assert w_tall.shape == (6,) and w_tall[1] > 1
