"""Every assertion type on fixed outputs: pass and fail, negation, weights, thresholds, `path`."""

from __future__ import annotations

import json
import textwrap

import pytest

from cupola.client import FunctionClient
from cupola.evals import grading
from cupola.evals.assertions import GradeContext, levenshtein, rouge_l, tool_f1
from cupola.evals.grading import CaseAssertion
from cupola.evals.judges import claims, weighted_digit
from cupola.evals.output import Output
from cupola.evals.spec import AssertionSpec


def check(spec: dict, out: Output | str, ctx: GradeContext | None = None) -> dict:
    out = Output(text=out) if isinstance(out, str) else out
    a = AssertionSpec.model_validate(spec)
    return _run(grading.grade_one(CaseAssertion(a, a), out, ctx or GradeContext()))


def _run(coro):
    import asyncio

    return asyncio.run(coro)


@pytest.mark.parametrize("spec, text, passed", [
    ({"type": "equals", "value": "Paris"}, " Paris\n", True),
    ({"type": "equals", "value": "Paris"}, "Paris.", False),
    ({"type": "equals", "value": {"a": 1}}, '{"a": 1.0}', True),
    ({"type": "equals", "value": [1, 2]}, "[1, 3]", False),
    ({"type": "contains", "value": "Paris"}, "It is Paris.", True),
    ({"type": "contains", "value": "Paris"}, "it is paris.", False),
    ({"type": "icontains", "value": "PARIS"}, "it is paris.", True),
    ({"type": "contains-any", "value": ["Lyon", "Paris"]}, "Paris", True),
    ({"type": "contains-any", "value": "Lyon, Nice"}, "Paris", False),
    ({"type": "contains-all", "value": ["a", "b"]}, "a and b", True),
    ({"type": "contains-all", "value": ["a", "z"]}, "a and b", False),
    ({"type": "icontains-all", "value": ["PARIS", "france"]}, "Paris is in France", True),
    ({"type": "icontains-any", "value": ["TOKYO"]}, "Paris", False),
    ({"type": "regex", "value": r"\b\d{4}\b"}, "born in 1990", True),
    ({"type": "regex", "value": "^paris$", "flags": "i"}, "PARIS", True),
    ({"type": "regex", "value": "^paris$"}, "PARIS", False),
    ({"type": "starts-with", "value": "Yes"}, "  Yes, indeed", True),
    ({"type": "starts-with", "value": "Yes"}, "No", False),
    ({"type": "is-json"}, '{"a": [1]}', True),
    ({"type": "is-json"}, "{a: 1}", False),
    ({"type": "is-json", "value": {"type": "object", "required": ["a"]}}, '{"b": 1}', False),
    ({"type": "json-schema", "value": {"type": "object", "properties": {"n": {"type": "integer"}}}}, '{"n": 3}', True),
    ({"type": "json-schema", "value": {"type": "object", "properties": {"n": {"type": "integer"}}}}, '{"n": "3"}', False),
    ({"type": "levenshtein", "value": "kitten"}, "sitting", True),  # distance 3 <= 5
    ({"type": "levenshtein", "value": "kitten", "threshold": 2}, "sitting", False),
    ({"type": "rouge-l", "value": "the cat sat on the mat"}, "the cat sat on the mat", True),
    ({"type": "rouge-l", "value": "the cat sat on the mat"}, "a dog ran", False),
    ({"type": "finish-reason", "value": "stop"}, "x", True),
])
def test_text_and_json_assertions(spec, text, passed):
    result = check(spec, Output(text=text, finish_reason="stop"))
    assert result["pass"] is passed, result
    assert 0.0 <= result["score"] <= 1.0 and result["reason"]


def test_negation_inverts_pass_and_score():
    plain = check({"type": "rouge-l", "value": "the cat sat"}, "the cat sat down")
    negated = check({"type": "not-rouge-l", "value": "the cat sat"}, "the cat sat down")
    assert plain["pass"] and not negated["pass"]
    assert negated["score"] == pytest.approx(1 - plain["score"], abs=1e-4)
    assert negated["reason"].startswith("not: ")
    assert check({"type": "not-contains", "value": "I don't know"}, "Paris")["pass"]
    assert not check({"type": "not-icontains", "value": "paris"}, "PARIS")["pass"]


def test_metrics_by_hand():
    assert levenshtein("kitten", "sitting") == 3 and levenshtein("", "abc") == 3 and levenshtein("ab", "ab") == 0
    # LCS of "the cat sat on the mat" / "the cat on the mat": 5 words; P = 5/5, R = 5/6
    assert rouge_l("the cat on the mat", "the cat sat on the mat") == pytest.approx(2 * 1 * (5 / 6) / (1 + 5 / 6))
    assert tool_f1(["a", "b"], ["a", "c"]) == pytest.approx(0.5)
    assert tool_f1(["a", "a"], ["a"]) == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert tool_f1([], []) == 1.0 and tool_f1(["a"], []) == 0.0


def test_scores_and_thresholds():
    r = check({"type": "levenshtein", "value": "abcd"}, "abce")  # 1 edit of 4
    assert r["pass"] and r["score"] == pytest.approx(0.75)
    r = check({"type": "rouge-l", "value": "a b c d", "threshold": 0.4}, "a b x y")
    assert r["score"] == pytest.approx(0.5) and r["pass"]
    r = check({"type": "rouge-l", "value": "a b c d", "threshold": 0.6}, "a b x y")
    assert not r["pass"]


def test_latency_and_tokens():
    out = Output(text="x", latency_ms=1500, prompt_tokens=20, completion_tokens=40)
    assert check({"type": "latency", "threshold": 2000}, out)["pass"]
    slow = check({"type": "latency", "threshold": 1000}, out)
    assert not slow["pass"] and slow["score"] == pytest.approx(1000 / 1500, abs=1e-4)
    assert check({"type": "tokens", "threshold": 40}, out)["pass"]
    assert not check({"type": "tokens", "threshold": 50, "count": "total"}, out)["pass"]
    unknown = check({"type": "tokens", "threshold": 50}, Output(text="x"))
    assert not unknown["pass"] and "no completion token count" in unknown["reason"]


def test_path_checks_a_field_of_json_output():
    out = Output(text=json.dumps({"urgency": "high", "tags": ["a", "b"], "n": 2}))
    assert check({"type": "equals", "path": "urgency", "value": "high"}, out)["pass"]
    assert not check({"type": "equals", "path": "urgency", "value": "low"}, out)["pass"]
    assert check({"type": "equals", "path": "tags.1", "value": "b"}, out)["pass"]
    assert check({"type": "equals", "path": "n", "value": 2}, out)["pass"]
    missing = check({"type": "equals", "path": "area", "value": "x"}, out)
    assert not missing["pass"] and "no field 'area'" in missing["reason"]
    not_json = check({"type": "equals", "path": "a", "value": "x"}, "plain text")
    assert not not_json["pass"] and "not JSON" in not_json["reason"]
    structured = Output(text="ignored", value={"area": "login"})  # an agent's validated output wins
    assert check({"type": "equals", "path": "area", "value": "login"}, structured)["pass"]


def test_tool_assertions():
    out = Output(text="", turns=3, tool_calls=[
        {"name": "search", "arguments": {"query": "Heat pump noise", "k": 3}},
        {"name": "calculator", "arguments": '{"expression": "12*7"}'}])
    assert check({"type": "tool-called", "value": "search"}, out)["pass"]
    assert check({"type": "tool-called", "value": ["nope", "calculator"]}, out)["pass"]
    assert not check({"type": "tool-called", "value": "nope"}, out)["pass"]
    assert check({"type": "tool-args-match", "tool": "search", "value": {"query": "heat pump noise"}}, out)["pass"]
    assert check({"type": "tool-args-match", "tool": "search", "value": {"k": 3.0}}, out)["pass"]
    assert check({"type": "tool-args-match", "tool": "calculator", "value": {"expression": "12*7"}}, out)["pass"]
    wrong = check({"type": "tool-args-match", "tool": "search", "value": {"k": 4}}, out)
    assert not wrong["pass"] and "expected" in wrong["reason"]
    assert check({"type": "tool-sequence", "value": ["search", "calculator"]}, out)["pass"]
    assert not check({"type": "tool-sequence", "value": ["calculator", "search"]}, out)["pass"]
    assert not check({"type": "tool-sequence", "value": ["search"], "strict": True}, out)["pass"]
    f1 = check({"type": "tool-call-f1", "value": ["search", "weather"], "threshold": 0.5}, out)
    assert f1["pass"] and f1["score"] == pytest.approx(0.5)
    assert not check({"type": "tool-call-f1", "value": ["search", "weather"]}, out)["pass"]  # default threshold 1
    assert check({"type": "max-turns", "value": 3}, out)["pass"]
    assert not check({"type": "max-turns", "value": 2}, out)["pass"]


def test_grounding_assertions():
    sources = [{"n": 1, "doc_id": "noise"}, {"n": 2, "doc_id": "filters"}, {"n": 3, "doc_id": "warranty"}]
    out = Output(text="It is quiet [1] and filters last [2].", sources=sources,
                 citations=[{"n": 1, "doc_id": "noise"}, {"n": 2, "doc_id": "filters"}])
    assert check({"type": "cites"}, out)["pass"]
    assert check({"type": "cites", "value": 2}, out)["pass"]
    three = check({"type": "cites", "value": 3}, out)
    assert not three["pass"] and three["score"] == pytest.approx(2 / 3, abs=1e-4)
    assert not check({"type": "cites"}, Output(text="no sources"))["pass"]
    assert check({"type": "retrieved", "value": "warranty"}, out)["pass"]
    half = check({"type": "retrieved", "value": ["noise", "missing"]}, out)
    assert not half["pass"] and half["score"] == 0.5
    assert check({"type": "retrieved", "value": ["noise", "missing"], "threshold": 0.5}, out)["pass"]


def test_python_assertion(tmp_path):
    (tmp_path / "checks.py").write_text(textwrap.dedent("""
        def short(output, context):
            return len(output) <= context["options"].get("limit", 10)

        def score(output, context):
            return 0.25 if context["vars"]["x"] == 1 else 1.0

        def detailed(output, context):
            return {"pass": False, "score": 0.1, "reason": "too vague"}

        async def slow(output, context):
            return True

        def broken(output, context):
            raise RuntimeError("boom")
    """))
    ctx = GradeContext(vars={"x": 1}, base_dir=tmp_path)
    assert check({"type": "python", "value": "checks.py:short"}, "short", ctx)["pass"]
    low = check({"type": "python", "value": "checks.py:score"}, "x", ctx)
    assert not low["pass"] and low["score"] == 0.25
    assert check({"type": "python", "value": "checks.py:score", "threshold": 0.2}, "x", ctx)["pass"]
    detail = check({"type": "python", "value": "checks.py:detailed"}, "x", ctx)
    assert detail == {**detail, "pass": False, "score": 0.1, "reason": "too vague"}
    assert check({"type": "python", "value": "checks.py:slow"}, "x", ctx)["pass"]
    broken = check({"type": "python", "value": "checks.py:broken"}, "x", ctx)
    assert broken["pass"] is None and "RuntimeError: boom" in broken["error"]


def test_weights_thresholds_and_errors_make_the_verdict():
    def item(spec):
        a = AssertionSpec.model_validate(spec)
        return CaseAssertion(a, a)

    out = Output(text="Paris is the capital")
    items = [item({"type": "icontains", "value": "paris", "weight": 3}),
             item({"type": "contains", "value": "France", "weight": 1})]
    verdict = _run(grading.grade(items, out, GradeContext()))
    assert verdict.status == "failed" and verdict.score == pytest.approx(0.75)
    assert _run(grading.grade(items, out, GradeContext(), threshold=0.7)).status == "passed"
    assert _run(grading.grade(items, out, GradeContext(), threshold=0.8)).status == "failed"
    info = [items[0], item({"type": "contains", "value": "France", "weight": 0})]  # weight 0: recorded only
    verdict = _run(grading.grade(info, out, GradeContext()))
    assert verdict.status == "passed" and verdict.score == 1.0 and verdict.results[1]["pass"] is False
    failing = [items[0], item({"type": "python", "value": "nowhere.py:f"})]
    verdict = _run(grading.grade(failing, out, GradeContext()))
    assert verdict.status == "error" and verdict.score is None and "python" in verdict.error


def judge_client(answer: dict | str):
    return FunctionClient(lambda messages, params: answer if isinstance(answer, str) else json.dumps(answer))


def test_judge_assertions_on_a_fake_judge():
    from cupola.evals.spec import JudgeSpec

    ctx = GradeContext(client=judge_client({"score": 8, "pass": True, "reason": "polite"}), judge=JudgeSpec(model="j"))
    r = check({"type": "rubric", "value": "Is polite"}, Output(text="Hello!", prompt="Greet me"), ctx)
    assert r["pass"] and r["score"] == pytest.approx(0.8) and r["reason"] == "polite"
    assert r["details"]["judge"] == "j"
    strict = check({"type": "rubric", "value": "Is polite", "threshold": 0.9}, "Hello!", ctx)
    assert not strict["pass"]  # a threshold: the score decides, not the judge's verdict
    weighted = check({"type": "rubric", "criteria": [{"description": "a", "weight": 3}, "b"]}, "x", ctx)
    assert weighted["score"] == pytest.approx(0.8) and len(weighted["details"]["criteria"]) == 2
    geval = check({"type": "g-eval", "value": "coherence"},
                  "x", GradeContext(client=judge_client({"score": 4, "pass": True, "reason": "ok"}),
                                    judge=JudgeSpec(model="j")))
    assert geval["score"] == pytest.approx(0.75)  # (4 - 1) / 4: no logprobs from a fake judge
    rel = check({"type": "answer-relevance"}, Output(text="Paris", prompt="Capital of France?"), ctx)
    assert rel["pass"] and rel["score"] == pytest.approx(0.8)
    faithful = check({"type": "faithfulness"}, Output(text="Pumps are quiet [1]. Filters last a year [2].",
                                                      sources=[{"n": 1, "title": "t", "text": "quiet"}]), ctx)
    assert faithful["pass"] and len(faithful["details"]["claims"]) == 2
    unsupported = check({"type": "faithfulness"}, Output(text="Pumps are quiet.", sources=[{"n": 1, "text": "x"}]),
                        GradeContext(client=judge_client({"score": 1, "pass": False, "reason": "no"}),
                                     judge=JudgeSpec(model="j")))
    assert not unsupported["pass"] and unsupported["score"] == 0.0
    no_sources = check({"type": "faithfulness"}, "Pumps are quiet.", ctx)
    assert no_sources["error"] and "needs sources" in no_sources["error"]
    garbage = check({"type": "rubric", "value": "x"}, "x", GradeContext(client=judge_client("not json"),
                                                                        judge=JudgeSpec(model="j")))
    assert garbage["pass"] is None and "did not answer a verdict" in garbage["error"]


def test_judge_requests_are_schema_constrained():
    from cupola.evals.spec import JudgeSpec

    fake = judge_client({"score": 5, "pass": True, "reason": "r"})
    check({"type": "rubric", "value": "x"}, "y", GradeContext(client=fake, judge=JudgeSpec(model="j",
                                                                                          settings={"temperature": 0.1})))
    params = fake.calls[0][1]
    schema = params["response_format"]["json_schema"]
    assert params["response_format"]["type"] == "json_schema" and schema["strict"] is True
    assert set(schema["schema"]["required"]) == {"score", "pass", "reason"} and params["temperature"] == 0.1


def test_similar_uses_embeddings():
    ctx = GradeContext(client=FunctionClient(lambda m, p: ""))  # its embed() is the bag-of-words fake
    same = check({"type": "similar", "value": "the heat pump is quiet"}, "the heat pump is quiet", ctx)
    assert same["pass"] and same["score"] == pytest.approx(1.0, abs=1e-4)
    other = check({"type": "similar", "value": "the heat pump is quiet"}, "bananas grow on trees", ctx)
    assert not other["pass"]


def test_claims_and_weighted_digits():
    assert claims("It is quiet [1]. Yes. Filters last a year [2, 3]!\n- Install it outside.") == [
        "It is quiet.", "Filters last a year!", "Install it outside."]
    content = [{"token": "{\"", "logprob": 0}, {"token": "score", "logprob": 0}, {"token": "\":", "logprob": 0},
               {"token": "4", "logprob": -0.5, "top_logprobs": [
                   {"token": "4", "logprob": -0.6931}, {"token": "2", "logprob": -0.6931}, {"token": "x", "logprob": -1}]}]
    assert weighted_digit({"content": content}, 1, 5) == pytest.approx(3.0, abs=1e-3)
    assert weighted_digit(None, 1, 5) is None
