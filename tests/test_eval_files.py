"""Eval files: the minimal shape, datasets, defaults, filters, and bad input rejected with file and line."""

from __future__ import annotations

import textwrap

import pytest

from cupola.evals.loader import EvalFileError, SourceMap, load_eval, parse_eval
from cupola.evals.spec import render, variables

MINIMAL = """\
description: capitals
targets:
  - model: smollm2-135m
    prompt: "Answer in one word. What is the capital of {country}?"
  - model: smollm2-135m
    prompt: "You are a geography expert. Capital of {country}? One word."
    settings: {temperature: 0.2}
tests:
  - vars: {country: France}
    assert:
      - {type: icontains, value: paris}
  - vars: {country: Japan}
    assert:
      - {type: icontains, value: tokyo}
      - {type: not-contains, value: "I don't know"}
"""


def write(tmp_path, text, name="eval.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems(tmp_path, text, **files):
    for name, content in files.items():
        (tmp_path / name).write_text(textwrap.dedent(content))
    with pytest.raises(EvalFileError) as info:
        load_eval(write(tmp_path, text))
    return info.value.problems


def test_the_minimal_shape(tmp_path):
    ev = load_eval(write(tmp_path, MINIMAL))
    assert ev.description == "capitals"
    assert [t.id for t in ev.targets] == ["smollm2-135m", "smollm2-135m#2"]
    assert ev.targets[1].spec.settings == {"temperature": 0.2}
    assert [c.vars for c in ev.cases] == [{"country": "France"}, {"country": "Japan"}]
    assert [a.spec.type for a in ev.cases[1].assertions] == ["icontains", "not-contains"]
    assert ev.cases[0].label() == "country=France" and ev.cases[0].where.endswith("eval.yaml:9")
    again = load_eval(write(tmp_path, MINIMAL, "again.yaml"))
    assert [c.id for c in again.cases] == [c.id for c in ev.cases]  # stable ids: --failed-from and compare match


def test_templates():
    assert variables("Capital of {country}? JSON like {\"a\": 1} {{literal}} {user.name}") == {"country", "user"}
    assert render("Capital of {country}? {{x}} {\"a\": 1}", {"country": "Peru"}) == "Capital of Peru? {x} {\"a\": 1}"
    assert render("{expected}", {"expected": ["a", "b"]}) == ["a", "b"]  # a whole-template var keeps its type
    assert render("n={n} {user.name}", {"n": 3, "user": {"name": "Ada"}}) == "n=3 Ada"
    assert render({"q": ["{a}"]}, {"a": "x"}) == {"q": ["x"]}


def test_datasets_defaults_and_metadata(tmp_path):
    (tmp_path / "golden.jsonl").write_text(
        '{"vars": {"country": "Peru", "city": "Lima"}, "metadata": {"category": "americas", "tags": ["smoke"]}}\n'
        '\n{"country": "Chile", "city": "Santiago", "id": "chile"}\n')
    (tmp_path / "more.csv").write_text('country,city,metadata.category\nKenya,Nairobi,africa\n')
    (tmp_path / "more.yaml").write_text('- {vars: {country: Spain, city: Madrid}, metadata: {tags: [smoke]}}\n')
    ev = load_eval(write(tmp_path, """\
        targets:
          - model: smollm2-135m
            prompt: "Capital of {country}?"
        default:
          assert:
            - {type: icontains, value: "{city}"}
          metadata: {suite: capitals}
        tests:
          - file: golden.jsonl
          - file: more.csv
            metadata: {source: csv}
          - file: more.yaml
          - vars: {country: France, city: Paris}
            assert: [{type: not-contains, value: Lyon}]
    """))
    assert [c.vars["city"] for c in ev.cases] == ["Lima", "Santiago", "Nairobi", "Madrid", "Paris"]
    assert ev.cases[1].id == "chile"
    assert ev.cases[0].metadata == {"suite": "capitals", "category": "americas", "tags": ["smoke"]}
    assert ev.cases[2].metadata == {"suite": "capitals", "source": "csv", "category": "africa"}
    assert [a.spec.value for a in ev.cases[4].assertions] == ["Paris", "Lyon"]  # default first, rendered
    assert ev.cases[0].where.endswith("golden.jsonl:1") and ev.cases[1].where.endswith("golden.jsonl:3")
    assert ev.cases[2].where.endswith("more.csv:2")
    assert [c.vars["country"] for c in ev.select({"tag": "smoke"}).cases] == ["Peru", "Spain"]
    assert [c.id for c in ev.select({"category": "africa"}).cases] == [ev.cases[2].id]
    assert ev.select({"id": "chile"}).cases[0].vars["country"] == "Chile"
    assert ev.select(ids={"chile"}).cases[0].id == "chile"
    assert ev.select(targets=["smollm2-135m"]).targets == ev.targets
    with pytest.raises(Exception, match="no target 'x'"):
        ev.select(targets=["x"])
    assert load_eval(write(tmp_path, """\
        targets: [{model: m, prompt: "{country}"}]
        tests: golden.jsonl
    """, "short.yaml")).cases[0].vars["country"] == "Peru"


def test_unknown_assertion_type_is_rejected_with_line_and_suggestion(tmp_path):
    found = problems(tmp_path, MINIMAL.replace("type: icontains, value: paris", "type: icontain, value: paris"))
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path / 'eval.yaml'}:11:")
    assert "unknown assertion type 'icontain'" in found[0] and "did you mean 'icontains'" in found[0]
    assert "expected one of: equals, contains" in found[0]


def test_missing_variable_is_rejected(tmp_path):
    typo = problems(tmp_path, MINIMAL.replace("Capital of {country}?", "Capital of {contry}?"))
    assert typo == [f"{tmp_path / 'eval.yaml'}:5: target smollm2-135m#2 uses {{contry}}, which no test sets "
                    "(did you mean {country}?)"]
    one_test = problems(tmp_path, MINIMAL.replace("vars: {country: Japan}", "vars: {land: Japan}"))
    assert any(p.startswith(f"{tmp_path / 'eval.yaml'}:12: test #2: target smollm2-135m uses {{country}}, which "
                            "this test does not set (its vars: land)") for p in one_test)
    in_assert = problems(tmp_path, MINIMAL.replace("value: tokyo", 'value: "{city}"'))
    assert len(in_assert) == 1 and ":14:" in in_assert[0] and "uses {city}" in in_assert[0]


def test_targets_that_do_not_exist_and_bad_options(tmp_path):
    found = problems(tmp_path, """\
        targets:
          - agent: agents/nope.yaml
          - workflow: flows/nope.py
          - model: m
          - model: m
            prompt: x
            agent: a.yaml
        tests:
          - vars: {}
            assert:
              - {type: regex, value: "("}
              - {type: json-schema, value: {type: 12}}
              - {type: latency}
              - {type: cites, value: many}
              - {type: tool-args-match, value: {a: 1}}
              - {type: contains}
              - {type: faithfulness, value: x}
              - {type: rubric, value: polite, threshold: 5}
              - {type: python, value: "checks.py:nothing"}
    """, **{"checks.py": "x = 1\n"})
    text = "\n".join(found)
    assert len(found) == 1  # the structure first: the rest is checked once it is right
    assert "eval.yaml:4: targets.2: a model target needs a `prompt` template" in text
    fixed = problems(tmp_path, """\
        targets:
          - agent: agents/nope.yaml
          - workflow: flows/nope.py
        tests:
          - vars: {}
            assert:
              - {type: regex, value: "("}
              - {type: json-schema, value: {type: 12}}
              - {type: latency}
              - {type: cites, value: many}
              - {type: tool-args-match, value: {a: 1}}
              - {type: contains}
              - {type: faithfulness, value: x}
              - {type: rubric, value: polite, threshold: 5, judge: j}
              - {type: python, value: "checks.py:nothing"}
    """, **{"checks.py": "x = 1\n"})
    joined = "\n".join(fixed)
    assert f"eval.yaml:2: targets.0.agent: {tmp_path / 'agents/nope.yaml'} does not exist" in joined
    assert f"eval.yaml:3: targets.1.workflow: {tmp_path / 'flows/nope.py'} does not exist" in joined
    for line, what in [(7, "not a valid regular expression"), (8, "not a valid JSON schema"),
                       (9, "latency needs a positive `threshold`"), (10, "value must be a whole number"),
                       (11, "tool-args-match needs `tool: NAME`"), (12, "contains needs a `value`"),
                       (13, "faithfulness takes no `value`"), (14, "threshold for rubric is a score from 0 to 1"),
                       (15, "has no function 'nothing'")]:
        assert any(f"eval.yaml:{line}:" in p and what in p for p in fixed), (line, what, fixed)


def test_structure_errors_point_at_lines(tmp_path):
    found = problems(tmp_path, """\
        description: x
        targets:
          - model: m
            prompt: "{q}"
            temperature: 0.2
        tests:
          - vars: {q: a}
            asert: []
        repeat: 0
    """)
    assert any(":5: targets.0.temperature: unknown key" in p for p in found)
    assert any(":9: repeat: Input should be greater than or equal to 1" in p for p in found)
    tests_only = problems(tmp_path, """\
        targets: [{model: m, prompt: "{q}"}]
        tests:
          - vars: {q: a}
            asert: []
    """)
    assert tests_only == [f"{tmp_path / 'eval.yaml'}:4: tests.0.asert: unknown key"]
    bad_yaml = problems(tmp_path, "targets: [\n  {model: m\ntests: []\n")
    assert "not valid YAML" in bad_yaml[0] and ":3" in bad_yaml[0]
    dataset = problems(tmp_path, """\
        targets: [{model: m, prompt: "{q}"}]
        tests:
          - file: rows.jsonl
          - file: missing.jsonl
    """, **{"rows.jsonl": '{"vars": {"q": 1}}\n{"vars": {"q": 2}, "assert": [{"type": "nope"}]}\n[1]\n'})
    assert any("rows.jsonl:2: test #2" in p and "unknown assertion type 'nope'" in p for p in dataset)
    assert any("rows.jsonl:3: each row is an object" in p for p in dataset)
    assert any(":4: tests: dataset" in p and "missing.jsonl does not exist" in p for p in dataset)


def test_json_bodies_have_no_lines_but_say_where():
    with pytest.raises(EvalFileError) as info:
        parse_eval({"targets": [{"model": "m", "prompt": "{q}"}], "tests": [{"vars": {}}]},
                   SourceMap("request body"), __import__("pathlib").Path("."))
    assert info.value.problems == ["request body: target m uses {q}, which no test sets (the tests set: nothing)"]
    assert info.value.status == 400 and info.value.code == "invalid_eval"


def test_readme_documents_every_assertion_type():
    from pathlib import Path

    from cupola.evals.grading import KINDS

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Evaluations")[1].split("\n## ")[0]
    missing = [name for name in KINDS if f"`{name}`" not in section]
    assert not missing, f"README's Evaluations section does not mention {missing}"
