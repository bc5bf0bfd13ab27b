"""Scoring tool-calling answers against the cases (format: see build.py), and summarising them.

One scored row per (case, mode). For cases that expect a call:
  valid  the answer has at least one call, every call names an offered tool and its arguments are a
         JSON object that validates against that tool's schema
  right  the called function names are exactly the expected ones
  exact  right, and the arguments match (``arguments_match``)
For no-call cases, ``no_call_ok``: the answer made no call (and was not an error).
Also kept: the finish reason, whether text came back without any call, HTTP errors (a 400 that
names ``max_tokens`` is counted apart: the server may reject a budget too small for any call).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema

METRICS = ("valid", "right", "exact", "no_call_ok")


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def expected_calls(case: dict[str, Any]) -> list[dict[str, Any]]:
    exp = case["expected"]
    return exp if isinstance(exp, list) else [exp] if exp else []


# -- comparing arguments -------------------------------------------------------------------------

def norm(value: Any) -> Any:
    """Numbers as numbers (1 == 1.0, but never True), strings trimmed, case- and space-insensitive."""
    if isinstance(value, bool) or value is None:
        return ("b", value)
    if isinstance(value, (int, float)):
        return ("n", float(value))
    if isinstance(value, str):
        return ("s", " ".join(value.split()).casefold())
    if isinstance(value, dict):
        return ("o", tuple(sorted((k, norm(v)) for k, v in value.items())))
    if isinstance(value, list):
        return ("a", tuple(norm(v) for v in value))
    return ("?", repr(value))


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def arguments_match(expected: Any, got: Any, match: dict[str, dict[str, Any]], path: str = "") -> bool:
    """``got`` equals ``expected`` under the case's rules (keys left out must stay out)."""
    rule = match.get(path, {})
    if "any_of" in rule:
        return any(arguments_match(v, got, {}, path) for v in rule["any_of"])
    if "contains" in rule:
        if not isinstance(got, str):
            return False
        text = " ".join(got.split()).casefold()
        return all(" ".join(n.split()).casefold() in text for n in rule["contains"])
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return False
        for key in got:
            if key not in expected:
                return False
        for key, value in expected.items():
            sub = _child(path, key)
            if key not in got:
                if not match.get(sub, {}).get("may_omit"):
                    return False
            elif not arguments_match(value, got[key], match, sub):
                return False
        return True
    if isinstance(expected, list):
        if not isinstance(got, list) or len(got) != len(expected):
            return False
        item = f"{path}[]"
        if rule.get("unordered"):
            left = list(got)
            for value in expected:
                hit = next((i for i, g in enumerate(left) if arguments_match(value, g, match, item)), None)
                if hit is None:
                    return False
                left.pop(hit)
            return True
        return all(arguments_match(e, g, match, item) for e, g in zip(expected, got))
    return norm(expected) == norm(got)


# -- one answer ----------------------------------------------------------------------------------

def parse_arguments(raw: Any) -> tuple[Any, str | None]:
    if isinstance(raw, dict):
        return raw, None
    try:
        args = json.loads(raw or "")
    except (json.JSONDecodeError, TypeError):
        return raw, "arguments are not JSON"
    return args, None if isinstance(args, dict) else "arguments are not an object"


def score(case: dict[str, Any], message: dict[str, Any] | None, finish: str | None,
          error: str | None = None, status: int | None = None) -> dict[str, Any]:
    """Score one answer (an OpenAI assistant message) to ``case``."""
    schemas = {t["function"]["name"]: t["function"].get("parameters") or {} for t in case["tools"]}
    message = message or {}
    content = message.get("content") or ""
    calls, problems = [], []
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        name = fn.get("name")
        args, problem = parse_arguments(fn.get("arguments"))
        if problem:
            problems.append(f"{name}: {problem}")
        elif name not in schemas:
            problems.append(f"{name}: no such tool")
        else:
            validator = jsonschema.validators.validator_for(schemas[name])(schemas[name])
            problems += [f"{name}: {e.message}" for e in validator.iter_errors(args)]
        calls.append({"name": name, "arguments": args})
    want = expected_calls(case)
    rejected = error is not None and status == 400 and "max_tokens" in error
    row: dict[str, Any] = {
        "id": case["id"], "category": case["category"], "finish": finish, "error": error,
        "budget_400": rejected, "called": bool(calls),
        "content_no_call": bool(content.strip()) and not calls, "calls": calls, "problems": problems,
        "content": content[:240],
    }
    if want:
        right = error is None and Counter(c["name"] or "" for c in calls) == Counter(w["name"] for w in want)
        row.update(valid=bool(calls) and not problems and error is None, right=right,
                   exact=right and not problems and _all_match(want, calls, case.get("match") or {}),
                   no_call_ok=None)
    else:
        row.update(valid=None, right=None, exact=None, no_call_ok=error is None and not calls)
    return row


def rescore(row: dict[str, Any], case: dict[str, Any]) -> None:
    """Judge a saved answer's arguments again against ``case`` as it is now (its expected values or match
    rules may have been corrected since the answer was scored)."""
    want = expected_calls(case)
    if want and row.get("right") is not None:
        calls = row["calls"]
        row["right"] = row["error"] is None and Counter(c["name"] or "" for c in calls) == Counter(w["name"] for w in want)
        row["exact"] = row["right"] and not row["problems"] and _all_match(want, calls, case.get("match") or {})


def _all_match(want: list[dict[str, Any]], calls: list[dict[str, Any]], match: dict[str, Any]) -> bool:
    left = list(calls)
    for w in want:
        hit = next((i for i, c in enumerate(left)
                    if c["name"] == w["name"] and arguments_match(w["arguments"], c["arguments"], match)), None)
        if hit is None:
            return False
        left.pop(hit)
    return not left


# -- summaries -----------------------------------------------------------------------------------

def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Rates and counts over a group of scored rows."""
    out: dict[str, Any] = {"n": len(rows)}
    for metric in METRICS:
        vals = [r[metric] for r in rows if r[metric] is not None]
        out[metric] = sum(vals) / len(vals) if vals else None
    calls = [r for r in rows if r["valid"] is not None]
    out["length"] = sum(r["finish"] == "length" for r in rows)
    out["content_no_call"] = sum(r["content_no_call"] for r in calls)
    out["missing"] = sum(not r["called"] and not r["error"] for r in calls)
    out["budget_400"] = sum(r["budget_400"] for r in rows)
    out["invalid"] = sum(not r["valid"] and not r["budget_400"] for r in calls)  # neither a valid call nor the 400
    out["errors"] = sum(bool(r["error"]) and not r["budget_400"] for r in rows)
    secs = [r["seconds"] for r in rows if r.get("seconds") is not None]
    out["mean_s"] = round(sum(secs) / len(secs), 3) if secs else None
    return out


def breakdown(rows: list[dict[str, Any]], cases: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Summaries overall, per category and per tag."""
    by_cat: dict[str, list] = {}
    by_tag: dict[str, list] = {}
    for r in rows:
        by_cat.setdefault(r["category"], []).append(r)
        for tag in cases[r["id"]]["tags"]:
            by_tag.setdefault(tag, []).append(r)
    return {"overall": summarise(rows),
            "category": {k: summarise(v) for k, v in by_cat.items()},
            "tag": {k: summarise(v) for k, v in sorted(by_tag.items())}}


def agreement(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> dict[str, Any]:
    """How often two modes (e.g. streamed and not) answered the same case with the same calls."""
    left = {r["id"]: r for r in a}
    pairs = [(left[r["id"]], r) for r in b if r["id"] in left and not r["error"] and not left[r["id"]]["error"]]
    same = sum(json.dumps(x["calls"], sort_keys=True) == json.dumps(y["calls"], sort_keys=True) for x, y in pairs)
    return {"n": len(pairs), "same_calls": same / len(pairs) if pairs else None}
