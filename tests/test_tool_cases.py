"""The tool-calling case sets of bench/tool_calling/: their shape, and that the bench scores them right."""

from __future__ import annotations

import copy
import importlib.util
import subprocess
import sys
from collections import Counter
from pathlib import Path

import jsonschema
import pytest

from cupola.naming import is_tool_name

CASES = Path(__file__).resolve().parents[1] / "bench" / "tool_calling"
SETS = ("dev", "test")
MINIMUMS = {"total": 300, "single": 80, "choice_2_4": 80, "choice_5plus": 60, "no_call": 50}
TAG_MINIMUMS = {"nested": 15, "array": 20, "enum": 60, "units": 40, "optional": 60, "optional_given": 40,
                "number": 80, "free_text": 30, "near_miss": 100, "name_snake": 15, "name_dotted": 15,
                "name_camel": 15, "words": 15, "indirect": 30, "terse": 30}
TOOL_COUNTS = {"single": (1, 1), "choice_2_4": (2, 4), "choice_5plus": (5, 8), "no_call": (1, 8),
               "parallel": (1, 8)}


def _load_scoring():
    spec = importlib.util.spec_from_file_location("tool_cases_scoring", CASES / "scoring.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


scoring = _load_scoring()


@pytest.fixture(scope="module")
def sets() -> dict[str, list[dict]]:
    return {name: scoring.load(CASES / f"{name}.jsonl") for name in SETS}


def _paths(value, path=""):
    """Every argument path of a value, in the cases' notation (a.b, a[])."""
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for v in value:
            yield from _paths(v, f"{path}[]")


@pytest.mark.parametrize("name", SETS)
def test_every_case_is_well_formed(sets, name):
    for case in sets[name]:
        where = f"{name}/{case['id']}"
        assert set(case) == {"id", "category", "domain", "tags", "messages", "tools", "expected", "match"}, where
        lo, hi = TOOL_COUNTS[case["category"]]
        assert lo <= len(case["tools"]) <= hi, where
        assert case["messages"][-1]["role"] == "user" and all(
            m["role"] in ("system", "user", "assistant") and m["content"].strip() for m in case["messages"]), where
        names = [t["function"]["name"] for t in case["tools"]]
        assert len(set(names)) == len(names), where
        for tool in case["tools"]:
            assert tool["type"] == "function" and is_tool_name(tool["function"]["name"]), where
            jsonschema.Draft202012Validator.check_schema(tool["function"]["parameters"])
        calls = scoring.expected_calls(case)
        if case["category"] == "no_call":
            assert case["expected"] is None and not case["match"], where
        elif case["category"] == "parallel":
            assert isinstance(case["expected"], list) and len(calls) >= 2, where
        else:
            assert isinstance(case["expected"], dict), where
        for call in calls:  # each expected call validates against its tool's schema
            tool = next(t["function"] for t in case["tools"] if t["function"]["name"] == call["name"])
            jsonschema.validate(call["arguments"], tool["parameters"])
        known = {p for call in calls for p in _paths(call["arguments"])}
        for path, rule in case["match"].items():
            assert path in known, f"{where}: rule for a missing argument {path}"
            assert set(rule) <= {"any_of", "contains", "unordered", "may_omit"} and rule, where


@pytest.mark.parametrize("name", SETS)
def test_each_set_meets_the_minimums(sets, name):
    cases = sets[name]
    counts = Counter(c["category"] for c in cases)
    assert len(cases) >= MINIMUMS["total"]
    for category, least in MINIMUMS.items():
        if category != "total":
            assert counts[category] >= least, f"{name}: {counts[category]} {category} cases, want {least}"
    tags = Counter(t for c in cases for t in c["tags"])
    for tag, least in TAG_MINIMUMS.items():
        assert tags[tag] >= least, f"{name}: {tags[tag]} cases tagged {tag}, want {least}"
    assert len({c["domain"] for c in cases}) >= 15


def test_the_sets_are_independent(sets):
    ids = [c["id"] for name in SETS for c in sets[name]]
    assert len(ids) == len(set(ids))
    requests = [{str(c["messages"]) for c in sets[name]} for name in SETS]
    assert not requests[0] & requests[1], "a request appears in both sets"
    tools = [{t["function"]["name"] for c in sets[name] for t in c["tools"]} for name in SETS]
    assert not tools[0] & tools[1], f"functions in both sets: {sorted(tools[0] & tools[1])}"


def test_the_committed_sets_are_what_the_sources_build():
    done = subprocess.run([sys.executable, str(CASES / "build.py"), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr + done.stdout


def _answer(calls):
    return {"role": "assistant", "content": None,
            "tool_calls": [{"type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                           for c in calls]}


@pytest.mark.parametrize("name", SETS)
def test_the_expected_answer_scores_exact_and_wrong_ones_do_not(sets, name):
    import json

    for case in sets[name]:
        calls = scoring.expected_calls(case)
        as_json = [{"name": c["name"], "arguments": json.dumps(c["arguments"])} for c in calls]
        row = scoring.score(case, _answer(as_json), "tool_calls")
        if not calls:
            assert row["no_call_ok"] and scoring.score(case, {"content": "Hi!"}, "stop")["no_call_ok"]
            continue
        assert row["valid"] and row["right"] and row["exact"], f"{name}/{case['id']}: {row['problems']}"
        extra = copy.deepcopy(calls)
        extra[0]["arguments"]["zz_not_asked_for"] = 1
        assert not scoring.score(case, _answer(extra), "tool_calls")["exact"], case["id"]
        other = next((t["function"]["name"] for t in case["tools"] if t["function"]["name"] != calls[0]["name"]),
                     None)
        if other:
            wrong = copy.deepcopy(calls)
            wrong[0]["name"] = other
            assert not scoring.score(case, _answer(wrong), "tool_calls")["right"], case["id"]
        text = scoring.score(case, {"content": "I would call a tool here."}, "stop")
        assert not text["valid"] and text["content_no_call"], case["id"]


def test_arguments_match_rules():
    match = scoring.arguments_match
    assert match({"n": 5}, {"n": 5.0}, {}) and not match({"n": 5}, {"n": "5"}, {})
    assert not match({"flag": True}, {"flag": 1}, {})
    assert match({"city": "New York"}, {"city": " new  york "}, {})
    assert not match({"city": "Paris"}, {"city": "Paris", "unit": "celsius"}, {})  # optional left out
    assert match({"q": "x"}, {"q": "Vegan CURRY, quick"}, {"q": {"contains": ["curry", "vegan"]}})
    assert not match({"q": "x"}, {"q": "curry"}, {"q": {"contains": ["curry", "vegan"]}})
    assert match({"c": "LH400"}, {"c": "LH 400"}, {"c": {"any_of": ["LH400", "LH 400"]}})
    assert match({"t": [1, 2]}, {"t": [2, 1]}, {"t": {"unordered": True}})
    assert not match({"t": [1, 2]}, {"t": [2, 1]}, {})
    assert match({"a": 1, "u": "cold"}, {"a": 1}, {"u": {"may_omit": True}})
    assert not match({"a": 1, "u": "cold"}, {"a": 1, "u": "hot"}, {"u": {"may_omit": True}})
    assert match({"items": [{"s": "A"}, {"s": "B"}]}, {"items": [{"s": "b"}, {"s": "a"}]},
                 {"items": {"unordered": True}})
    assert match({"p": {"x": 1, "y": 2}}, {"p": {"y": 2, "x": 1}}, {})


def _load_bench():
    spec = importlib.util.spec_from_file_location("tool_calling_bench", CASES.parent / "tool_calling.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_bench_modes_make_the_requests_they_name(sets):
    bench = _load_bench()
    case = next(c for c in sets["test"] if c["category"] == "choice_2_4")
    mode = bench.Mode.parse("required-32-stream")
    assert (mode.baseline, mode.choice, mode.max_tokens, mode.stream, mode.key) == (False, "required", 32, True,
                                                                                    "required-32-stream")
    body = mode.body(case, "smollm2-135m", {"temperature": 0.2})
    assert body["tool_choice"] == "required" and body["max_tokens"] == 32 and body["stream"] is True
    assert body["seed"] == bench.Mode.parse("auto").body(case, "m", {})["seed"]  # one seed per case, every mode
    named = bench.Mode.parse("baseline-named").body(case, "m", {})
    assert named["tool_choice"] == {"type": "function", "function": {"name": case["expected"]["name"]}}
    assert bench.Mode.parse("baseline-auto").key == "auto"
    no_call = next(c for c in sets["test"] if c["category"] == "no_call")
    assert bench.Mode.parse("auto").applies(no_call) and not bench.Mode.parse("required").applies(no_call)
    with pytest.raises(SystemExit):
        bench.Mode.parse("sometimes")
    picked = bench.subset(sets["dev"], 0, 3, seed=1)
    assert picked == bench.subset(sets["dev"], 0, 3, seed=1) and len(picked) == 3 * 5
    assert [c["id"] for c in bench.subset(sets["dev"], 2, 0, 0)][:2] == [c["id"] for c in sets["dev"][:2]]


def _load_build():
    spec = importlib.util.spec_from_file_location("tool_cases_build", CASES / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_added_part_changes_no_earlier_case():
    """An added part's requests get other candidates only from their own and earlier parts: adding the
    "2026-fresh" part once changed the distractors of 38 cases of the part added before it."""
    build = _load_build()
    from dsl import Book, N  # importable once build.py is loaded

    def parts(book, names):
        for domain in ("one", "two"):  # the first part
            d = book.domain(domain)
            for i in range(6):
                d.fn(f"{domain}.f{i}", f"Function {i}.", x=N()).ask(f"{domain} f{i} with {i}", {"x": i})
        for name in names:  # added parts, each with requests among 5+ candidates
            book.part(name)
            d = book.domain(name)
            for i in range(4):
                d.fn(f"{name}.h{i}", f"H {i}.", x=N()).ask(f"{name} h{i} of {i}", {"x": i}, category="choice_5plus")

    def cases(book):  # by id, without the book's name
        return {(key := c["id"].split("-", 1)[1]): {**c, "id": key} for c in build.build(book, 7)}

    alone, grown = Book("partsalone"), Book("partsgrown")
    parts(alone, ["a"])
    parts(grown, ["a", "b"])
    before, after = cases(alone), cases(grown)
    assert len(after) == len(before) + 4
    assert all(after[k] == case for k, case in before.items())


def test_rescore_judges_a_saved_answer_against_the_case_as_it_is_now():
    case = {"id": "c", "category": "single", "tools": [{"type": "function", "function": {
        "name": "paint", "parameters": {"type": "object", "properties": {"width_m": {"type": "number"}}}}}],
        "expected": {"name": "paint", "arguments": {"width_m": 3.66}}, "match": {}}
    answer = {"role": "assistant", "tool_calls": [{"type": "function", "function": {
        "name": "paint", "arguments": '{"width_m": 3.6576}'}}]}
    row = scoring.score(case, answer, "tool_calls")
    assert row["right"] and not row["exact"]
    scoring.rescore(row, {**case, "match": {"width_m": {"any_of": [3.66, 3.6576]}}})  # the case corrected
    assert row["exact"]
    scoring.rescore(row, {**case, "expected": {"name": "paint_wall", "arguments": {"width_m": 3.6576}}})  # renamed
    assert not row["right"] and not row["exact"]
