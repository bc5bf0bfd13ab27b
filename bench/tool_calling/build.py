"""Build the tool-calling case sets from their hand-written sources.

    python bench/tool_calling/build.py           # writes dev.jsonl and test.jsonl next to this file
    python bench/tool_calling/build.py --check   # exit 1 when the committed files differ from a build

``source_dev.py`` and ``source_test.py`` declare functions (with the ``dsl`` vocabulary) and the
requests written against them; they were written separately, with different functions, so the
test set measures how tool calling generalizes to tools nobody tuned for. This script only
assembles: it gives each request a category (one tool, 2-4 candidates, 5+ candidates), picks the
other candidate functions (about half from the same domain, so the choice is a real one), derives
tags from the schemas, and adds the no-call cases. A source can grow by added parts
(``BOOK.part(name)``, see dsl.py): their requests name their category, get their own seed, and
their cases are numbered after the earlier ones, so adding a part changes no existing case. The development set also carries the 106 cases
of the first bench (``legacy_cases.jsonl``), ids ``dev-legacy-*``. Everything is seeded: a build
is byte-for-byte reproducible.

Case format (one JSON object a line):
  id, category (single | choice_2_4 | choice_5plus | no_call | parallel), domain, tags,
  messages (OpenAI chat messages), tools (OpenAI format),
  expected: {"name", "arguments"}, null for no-call, or a list of calls for ``parallel``,
  match: {argument path: rule} for arguments not compared by plain equality. Paths are dotted
  (``address.city``), ``[]`` stands for every element of an array (``items[].sku``). Rules:
  {"any_of": [values]}, {"contains": [needles]} (case-insensitive, all must occur),
  {"unordered": true} (a list in any order), {"may_omit": true} (absent is also right).
Every other argument is compared exactly after normalizing (numbers as numbers, strings stripped
and case-insensitive), and an argument the expected call leaves out must be left out.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import random
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dsl import Ask, Book, Function, NoCall, Rule

CATEGORIES = ("single", "choice_2_4", "choice_5plus", "no_call", "parallel")
SHARES = (("single", 0.3), ("choice_2_4", 0.4), ("choice_5plus", 0.3))
SHARES_NAMES = tuple(name for name, _ in SHARES)
UNIT_RE = re.compile(r"(^|_)(kg|g|mg|lb|lbs|km|m|cm|mm|mi|ml|l|kwh|kw|w|mph|kmh|celsius|fahrenheit|c|f|hours|hrs|"
                     r"minutes|mins|min|seconds|secs|sec|ms|days|mb|gb|tb|pct|percent|degrees|deg|ft|inches|in|"
                     r"liters|grams|meters|usd|eur|bpm|mmhg|psi|kb|hz|mhz|ghz|db|au|ly|pa|kpa|v|mah|cal|kcal)$",
                     re.IGNORECASE)
UNIT_NAMES = {"unit", "units", "temperature_unit", "currency", "distance_unit", "weight_unit"}


# -- values and rules ----------------------------------------------------------------------------

def split_rules(value: Any, path: str, rules: dict[str, dict[str, Any]]) -> Any:
    """The canonical value, with each ``Rule`` recorded under its argument path."""
    if isinstance(value, Rule):  # rules nest: may_omit(one_of(...)) is both
        rules[path] = {**rules.get(path, {}), **value.rule}
        return split_rules(value.value, path, rules)
    if isinstance(value, dict):
        return {k: split_rules(v, f"{path}.{k}" if path else k, rules) for k, v in value.items()}
    if isinstance(value, list):
        return [split_rules(v, f"{path}[]", rules) for v in value]
    return value


# -- tags ----------------------------------------------------------------------------------------

def name_style(name: str) -> str:
    if "." in name:
        return "name_dotted"
    if re.search(r"[a-z0-9][A-Z]", name):
        return "name_camel"
    return "name_snake"


def _walk(schema: dict[str, Any], value: Any, name: str, tags: set[str]) -> None:
    if not isinstance(schema, dict):
        return
    if "enum" in schema:
        tags.add("enum")
    if name and (UNIT_RE.search(name) or name.lower() in UNIT_NAMES):
        tags.add("units")
    if isinstance(value, bool):
        tags.add("boolean")
    elif isinstance(value, (int, float)):
        tags.add("number")
    elif isinstance(value, list):
        tags.add("array")
        for item in value:
            _walk(schema.get("items") or {}, item, name, tags)
    elif isinstance(value, dict):
        if name:
            tags.add("nested")
        props = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        if any(k not in required and k not in value for k in props):
            tags.add("optional")  # an optional parameter that must be left out
        if any(k not in required for k in value):
            tags.add("optional_given")
        for key, sub in value.items():
            _walk(props.get(key) or {}, sub, key, tags)


def derive_tags(case: dict[str, Any], manual: tuple[str, ...] = (), domains: dict[str, str] | None = None) -> list[str]:
    tags = set(manual)
    expected = case["expected"]
    calls = expected if isinstance(expected, list) else [expected] if expected else []
    tools = {t["function"]["name"]: t["function"] for t in case["tools"]}
    for call in calls:
        fn = tools[call["name"]]
        tags.add(name_style(call["name"]))
        _walk(fn["parameters"], call["arguments"], "", tags)
        desc = fn.get("description") or ""
        if not desc:
            tags.add("no_description")
        elif len(desc) < 30:
            tags.add("terse_description")
    if any("any_of" in r or "contains" in r for r in (case.get("match") or {}).values()):
        tags.add("free_text")
    roles = [m["role"] for m in case["messages"]]
    if "system" in roles:
        tags.add("system_prompt")
    if roles.count("user") > 1:
        tags.add("history")
    if domains and calls and case["category"].startswith("choice"):
        mine = {domains.get(c["name"]) for c in calls}
        if any(domains.get(n) in mine for n in tools if n not in {c["name"] for c in calls}):
            tags.add("near_miss")  # another candidate from the same domain
    return sorted(tags)


# -- assembling ----------------------------------------------------------------------------------

def messages(text: str, system: str | None, history: list[dict[str, str]] | None) -> list[dict[str, str]]:
    out = [{"role": "system", "content": system}] if system else []
    return out + list(history or []) + [{"role": "user", "content": text}]


def categories_for(asks: list[Ask], rng: random.Random) -> list[tuple[Ask, str]]:
    order = list(asks)
    rng.shuffle(order)
    out, start = [], 0
    for i, (category, share) in enumerate(SHARES):
        end = len(order) if i == len(SHARES) - 1 else start + round(share * len(order))
        out += [(a, category) for a in order[start:end]]
        start = end
    return out


def candidates(target: Function, category: str, pool: list[Function], rng: random.Random) -> list[Function]:
    if category == "single":
        return [target]
    k = rng.randint(1, 3) if category == "choice_2_4" else rng.randint(4, 6)
    ok = [f for f in pool if f is not target and f.name not in target.avoid and target.name not in f.avoid]
    same = [f for f in ok if f.domain == target.domain]
    other = [f for f in ok if f.domain != target.domain]
    n_same = min(len(same), math.ceil(k / 2) if rng.random() < 0.5 else k // 2)
    picked = rng.sample(same, n_same) + rng.sample(other, k - n_same)
    tools = [target] + picked
    rng.shuffle(tools)
    return tools


def call_case(ask: Ask, category: str, tools: list[Function], domains: dict[str, str]) -> dict[str, Any]:
    rules: dict[str, dict[str, Any]] = {}
    args = split_rules(ask.args, "", rules)
    case = {"id": "", "category": category, "domain": ask.fn.domain, "tags": [],
            "messages": messages(ask.text, ask.system, ask.history), "tools": [f.tool() for f in tools],
            "expected": {"name": ask.fn.name, "arguments": args}, "match": rules}
    case["tags"] = derive_tags(case, ask.tags, domains)
    return case


def no_call_case(nc: NoCall, pool: list[Function], rng: random.Random) -> dict[str, Any]:
    tools = nc.tools if nc.tools is not None else rng.sample(pool, rng.randint(1, 6))
    tools = list(tools)
    rng.shuffle(tools)
    case = {"id": "", "category": "no_call", "domain": tools[0].domain if nc.tools else "none", "tags": [],
            "messages": messages(nc.text, nc.system, nc.history), "tools": [f.tool() for f in tools],
            "expected": None, "match": {}}
    case["tags"] = derive_tags(case, nc.tags)
    return case


def legacy_cases() -> list[dict[str, Any]]:
    """The first bench's 106 cases in the new format (they join the development set)."""
    out = []
    for line in (HERE / "legacy_cases.jsonl").read_text().splitlines():
        old = json.loads(line)
        category = old["category"]
        if category == "choice":
            category = "choice_2_4" if len(old["tools"]) <= 4 else "choice_5plus"
        expected = old["expected"]
        if category != "parallel":
            expected = expected[0] if expected else None
        case = {"id": f"dev-legacy-{old['id']}", "category": category, "domain": "legacy", "tags": [],
                "messages": [{"role": "user", "content": old["message"]}], "tools": old["tools"],
                "expected": expected, "match": {}}
        case["tags"] = derive_tags(case, ("legacy",))
        out.append(case)
    return out


def build(book: Book, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    everything = book.functions
    domains = {f.name: f.domain for f in everything}
    if len(domains) != len(everything):
        raise SystemExit(f"{book.name}: a function name is declared twice")
    pool = [f for f in everything if not f.part]  # the first part, built exactly as before parts existed
    asks = [a for f in pool for a in f.asks]
    if any(a.category for a in asks):
        raise SystemExit(f"{book.name}: the first part's categories are drawn, not given")
    cases = [call_case(ask, cat, candidates(ask.fn, cat, pool, rng), domains)
             for ask, cat in categories_for(asks, rng)]
    cases += [no_call_case(nc, pool, rng) for nc in book.no_calls]
    for i, part in enumerate(book.parts[1:], 1):  # added parts: own seed, given categories, appended after
        part_rng = random.Random(f"{seed}:{part}")
        known = [f for f in everything if f.part in book.parts[:i + 1]]  # never a later part's functions
        for ask in (a for f in everything if f.part == part for a in f.asks):
            cat = ask.category or "single"
            if cat not in SHARES_NAMES:
                raise SystemExit(f"{book.name}: {ask.fn.name}: category {cat!r} is not a call category")
            cases.append(call_case(ask, cat, candidates(ask.fn, cat, known, part_rng), domains))
    short = {"single": "single", "choice_2_4": "choice", "choice_5plus": "many", "no_call": "none"}
    counters: dict[str, int] = {}
    for case in cases:
        counters[case["category"]] = counters.get(case["category"], 0) + 1
        case["id"] = f"{book.name}-{short[case['category']]}-{counters[case['category']]:03d}"
    if book.name == "dev":
        cases += legacy_cases()
    return sorted(cases, key=lambda c: (CATEGORIES.index(c["category"]), c["id"]))


def render(cases: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with the committed files instead of writing")
    args = ap.parse_args()
    stale = []
    for name, seed in (("dev", 20251), ("test", 90210)):
        book = importlib.import_module(f"source_{name}").BOOK
        text = render(build(book, seed))
        path = HERE / f"{name}.jsonl"
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
            print(f"{path.name}: {text.count(chr(10))} cases")
    if stale:
        raise SystemExit(f"out of date: {', '.join(stale)} (run python bench/tool_calling/build.py)")


if __name__ == "__main__":
    main()
