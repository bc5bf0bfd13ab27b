"""Deterministic assertions: text checks, JSON, similarity metrics, latency and tokens, Python
functions, and tool / agent / retrieval behaviour.

Every assertion type is a :class:`Kind`: which options it takes, whether it needs a ``value``, a
load-time check (so a bad regex or schema is reported with its line before anything runs) and an
async ``grade`` returning a :class:`Grade` (pass, a score in 0..1 and the reason). Negation
(``not-``), weights, ``path`` and thresholds are applied around every kind by ``grading``.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cupola.evals.output import Output
from cupola.evals.spec import AssertionSpec


@dataclass
class Grade:
    passed: bool
    score: float
    reason: str
    details: dict[str, Any] | None = None


@dataclass
class GradeContext:
    """What an assertion may use besides the output: the test's vars, a model client for judges
    and embeddings, the file's default judge, and the eval file's folder."""

    vars: dict[str, Any] = field(default_factory=dict)
    client: Any = None  # a ModelClient
    judge: Any = None  # the eval file's JudgeSpec
    embedding_model: str = "minilm-l6"
    base_dir: Path = Path(".")


GradeFn = Callable[[AssertionSpec, Output, str, GradeContext], Awaitable[Grade]]


@dataclass(frozen=True)
class Kind:
    name: str
    grade: GradeFn
    value: str = "required"  # "required", "optional" or "none"
    options: tuple[str, ...] = ()
    check: Callable[[AssertionSpec, Path], None] | None = None  # raises ValueError with what is wrong
    model_graded: bool = False
    threshold: str = "score"  # what `threshold` means: "score" (0..1), or a unit ("ms", "tokens", "edits")
    help: str = ""


def _ok(passed: bool, reason: str, score: float | None = None) -> Grade:
    return Grade(bool(passed), float(passed) if score is None else max(0.0, min(1.0, float(score))), reason)


def _short(text: str, n: int = 80) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


# -- text --------------------------------------------------------------------------------------

async def _equals(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
    if isinstance(spec.value, str):
        return _ok(text.strip() == spec.value.strip(), f"output {_short(text)!r} vs expected {_short(spec.value)!r}")
    try:
        got = json.loads(text)
    except ValueError:
        return _ok(False, f"expected {json.dumps(spec.value)}; the output is not JSON: {_short(text)!r}")
    return _ok(got == spec.value, f"output {_short(json.dumps(got))} vs expected {_short(json.dumps(spec.value))}")


def _contains(fold: bool) -> GradeFn:
    async def grade(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
        needle = str(spec.value)
        hay, look = (text.lower(), needle.lower()) if fold else (text, needle)
        return _ok(look in hay, f"{needle!r} {'found' if look in hay else 'not found'} in {_short(text)!r}")
    return grade


def _contains_set(fold: bool, every: bool) -> GradeFn:
    async def grade(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
        needles = _strings(spec.value)
        hay = text.lower() if fold else text
        found = [n for n in needles if (n.lower() if fold else n) in hay]
        missing = [n for n in needles if n not in found]
        if every:
            return _ok(not missing, f"missing {missing}" if missing else f"all of {needles} found",
                       len(found) / len(needles) if needles else 1.0)
        return _ok(bool(found), f"found {found}" if found else f"none of {needles} found")
    return grade


def _check_list(spec: AssertionSpec, base: Path) -> None:
    if not isinstance(spec.value, (str, list)) or not _strings(spec.value):
        raise ValueError("value must be a non-empty list of strings")


async def _regex(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
    flags = re.IGNORECASE if "i" in str(spec.options.get("flags", "")) else 0
    found = re.search(str(spec.value), text, flags | re.MULTILINE)
    return _ok(found is not None, f"matched {found.group(0)!r}" if found else f"no match in {_short(text)!r}")


def _check_regex(spec: AssertionSpec, base: Path) -> None:
    try:
        re.compile(str(spec.value))
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None


async def _starts_with(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
    ok = text.strip().startswith(str(spec.value))
    return _ok(ok, f"output starts with {_short(text, 30)!r}")


# -- JSON ----------------------------------------------------------------------------------------

def _validate_schema(value: Any, schema: dict[str, Any]) -> str | None:
    import jsonschema

    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        return f"{exc.message}" + (f" (at {where})" if where else "")
    return None


def _check_schema(spec: AssertionSpec, base: Path) -> None:
    import jsonschema

    if spec.value is None and spec.base_type == "is-json":
        return
    if not isinstance(spec.value, dict):
        raise ValueError("value must be a JSON schema (a mapping)")
    try:
        jsonschema.validators.validator_for(spec.value).check_schema(spec.value)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"not a valid JSON schema: {exc.message}") from None


async def _is_json(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
    try:
        value = json.loads(text)
    except ValueError as exc:
        return _ok(False, f"not JSON ({exc}): {_short(text)!r}")
    if spec.value is not None:
        problem = _validate_schema(value, spec.value)
        if problem:
            return _ok(False, f"JSON, but it does not fit the schema: {problem}")
    return _ok(True, "valid JSON" + (" that fits the schema" if spec.value is not None else ""))


# -- similarity metrics --------------------------------------------------------------------------

def levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


async def _levenshtein(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
    expected = str(spec.value)
    dist = levenshtein(text.strip(), expected.strip())
    limit = spec.threshold if spec.threshold is not None else 5
    similarity = 1 - dist / max(len(text.strip()), len(expected.strip()), 1)
    return _ok(dist <= limit, f"edit distance {dist} (at most {limit:g})", similarity)


_WORD = re.compile(r"\w+")


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 over lower-cased word tokens (longest common subsequence)."""
    c, r = _WORD.findall(candidate.lower()), _WORD.findall(reference.lower())
    if not c or not r:
        return 0.0
    previous = [0] * (len(r) + 1)
    for wc in c:
        current = [0]
        for j, wr in enumerate(r, 1):
            current.append(previous[j - 1] + 1 if wc == wr else max(previous[j], current[j - 1]))
        previous = current
    lcs = previous[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(c), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


async def _rouge(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
    score = rouge_l(text, str(spec.value))
    limit = spec.threshold if spec.threshold is not None else 0.75
    return _ok(score >= limit, f"ROUGE-L {score:.3f} (at least {limit:g})", score)


# -- cost of the answer ----------------------------------------------------------------------------

async def _latency(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
    limit = float(spec.threshold)  # type: ignore[arg-type]
    ok = out.latency_ms <= limit
    return _ok(ok, f"{out.latency_ms:.0f} ms (at most {limit:g} ms)", 1.0 if ok else limit / max(out.latency_ms, 1e-9))


async def _tokens(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
    limit = float(spec.threshold)  # type: ignore[arg-type]
    which = str(spec.options.get("count", "completion"))
    used = {"completion": out.completion_tokens, "prompt": out.prompt_tokens, "total": out.total_tokens}[which]
    if used is None:
        return _ok(False, f"the target reported no {which} token count")
    ok = used <= limit
    return _ok(ok, f"{used} {which} tokens (at most {limit:g})", 1.0 if ok else limit / max(used, 1))


def _check_limit(spec: AssertionSpec, base: Path) -> None:
    if spec.threshold is None or spec.threshold <= 0:
        raise ValueError(f"{spec.base_type} needs a positive `threshold` (the maximum)")
    if spec.base_type == "tokens" and spec.options.get("count", "completion") not in ("completion", "prompt", "total"):
        raise ValueError("count must be completion, prompt or total")


async def _finish_reason(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
    return _ok(out.finish_reason == spec.value, f"finish_reason {out.finish_reason!r}")


# -- Python functions ------------------------------------------------------------------------------

_MODULES: dict[str, Any] = {}


def python_function(ref: str, base: Path) -> Callable[..., Any]:
    """``path.py:function`` (relative to the eval file) as a callable."""
    file, sep, name = str(ref).rpartition(":")
    if not sep or not file or not name.isidentifier():
        raise ValueError("value must be `path/to/file.py:function_name`")
    path = (base / file).resolve()
    if not path.is_file():
        raise ValueError(f"{path} does not exist")
    module = _MODULES.get(str(path))
    if module is None:
        spec = importlib.util.spec_from_file_location(f"cupola_eval_check_{len(_MODULES)}_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise ValueError(f"{path} is not a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise ValueError(f"{path} failed to import: {type(exc).__name__}: {exc}") from exc
        _MODULES[str(path)] = module
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ValueError(f"{path} has no function {name!r}")
    return fn


async def _python(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
    fn = python_function(spec.value, ctx.base_dir)
    result = fn(text, {"vars": ctx.vars, "output": out.to_dict(), "options": spec.options})
    if hasattr(result, "__await__"):
        result = await result
    if isinstance(result, bool):
        return _ok(result, f"{spec.value} returned {result}")
    if isinstance(result, (int, float)):
        limit = spec.threshold if spec.threshold is not None else 0.5
        return _ok(result >= limit, f"{spec.value} scored {result:.3f} (at least {limit:g})", result)
    if isinstance(result, dict) and "pass" in result:
        score = float(result.get("score", float(bool(result["pass"]))))
        return _ok(bool(result["pass"]), str(result.get("reason", f"{spec.value} returned {result}")), score)
    raise TypeError(f"{spec.value} must return a bool, a number, or a dict with `pass` (got {type(result).__name__})")


def _check_python(spec: AssertionSpec, base: Path) -> None:
    python_function(spec.value, base)


# -- tools, agents, retrieval -----------------------------------------------------------------------

def _args(call: dict[str, Any]) -> Any:
    args = call.get("arguments")
    if isinstance(args, str):
        try:
            return json.loads(args or "{}")
        except ValueError:
            return args
    return args


def _same(got: Any, expected: Any) -> bool:
    if isinstance(expected, str) and isinstance(got, str):
        return got.strip().lower() == expected.strip().lower()
    if isinstance(expected, dict) and isinstance(got, dict):
        return all(k in got and _same(got[k], v) for k, v in expected.items())
    if isinstance(expected, (int, float)) and isinstance(got, (int, float)) and not isinstance(got, bool):
        return math.isclose(float(got), float(expected), rel_tol=1e-9, abs_tol=1e-9)
    return got == expected


def _called(out: Output) -> list[str]:
    return [c.get("name", "") for c in out.tool_calls]


async def _tool_called(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
    names = _strings(spec.value)
    called = _called(out)
    hit = [n for n in names if n in called]
    return _ok(bool(hit), f"called {called or 'no tool'}")


async def _tool_args(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
    tool = spec.options["tool"]
    calls = [c for c in out.tool_calls if c.get("name") == tool]
    if not calls:
        return _ok(False, f"{tool} was not called (called: {_called(out) or 'no tool'})")
    for call in calls:
        if _same(_args(call), spec.value):
            return _ok(True, f"{tool} called with {_short(json.dumps(_args(call)), 120)}")
    shown = "; ".join(_short(json.dumps(_args(c)), 80) for c in calls)
    return _ok(False, f"{tool} called with {shown}, expected {_short(json.dumps(spec.value), 80)}")


def _check_tool_args(spec: AssertionSpec, base: Path) -> None:
    if not isinstance(spec.options.get("tool"), str):
        raise ValueError("tool-args-match needs `tool: NAME` and `value: {expected arguments}`")
    if not isinstance(spec.value, dict):
        raise ValueError("value must be a mapping of the expected arguments")


async def _tool_sequence(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
    expected, called = _strings(spec.value), _called(out)
    if spec.options.get("strict"):
        return _ok(called == expected, f"called {called}, expected exactly {expected}")
    it = iter(called)
    ok = all(name in it for name in expected)  # a subsequence, in order
    return _ok(ok, f"called {called}, expected {expected} in this order")


def tool_f1(called: list[str], expected: list[str]) -> float:
    if not called and not expected:
        return 1.0
    common = sum((Counter(called) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(called), common / len(expected)
    return 2 * precision * recall / (precision + recall)


async def _tool_f1(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
    expected = _strings(spec.value) if spec.value else []
    called = _called(out)
    score = tool_f1(called, expected)
    limit = spec.threshold if spec.threshold is not None else 1.0
    return _ok(score >= limit, f"F1 {score:.3f} (at least {limit:g}): called {called}, expected {expected}", score)


async def _max_turns(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
    limit = int(spec.value)
    return _ok(out.turns <= limit, f"{out.turns} turns (at most {limit})")


def _check_count(spec: AssertionSpec, base: Path) -> None:
    if spec.value is not None and (not isinstance(spec.value, int) or isinstance(spec.value, bool) or spec.value < 0):
        raise ValueError("value must be a whole number")


async def _cites(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
    need = 1 if spec.value is None else int(spec.value)
    if not out.sources:
        return _ok(False, "the target retrieved no sources (use a knowledge target)")
    known = {s.get("n") for s in out.sources}
    cited = sorted({c["n"] for c in out.citations if c.get("n") in known})
    return _ok(len(cited) >= need, f"cites {len(cited)} of {len(out.sources)} sources {cited} (at least {need})",
               min(1.0, len(cited) / need) if need else 1.0)


async def _retrieved(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
    wanted = _strings(spec.value)
    got = [s.get("doc_id") for s in out.sources]
    found = [w for w in wanted if w in got]
    fraction = len(found) / len(wanted)
    ok = fraction >= spec.threshold if spec.threshold is not None else len(found) == len(wanted)
    return _ok(ok, f"retrieved {got or 'nothing'}; expected {wanted}", fraction)


KINDS: dict[str, Kind] = {k.name: k for k in [
    Kind("equals", _equals, help="the output (trimmed) equals value; a non-string value compares parsed JSON"),
    Kind("contains", _contains(False), help="value is a substring of the output"),
    Kind("icontains", _contains(True), help="the same, ignoring case"),
    Kind("contains-any", _contains_set(False, False), check=_check_list, help="some value of the list is in it"),
    Kind("contains-all", _contains_set(False, True), check=_check_list, help="every value of the list is in it"),
    Kind("icontains-any", _contains_set(True, False), check=_check_list, help="contains-any, ignoring case"),
    Kind("icontains-all", _contains_set(True, True), check=_check_list, help="contains-all, ignoring case"),
    Kind("regex", _regex, options=("flags",), check=_check_regex, help="re.search(value, output); flags: i"),
    Kind("starts-with", _starts_with, help="the output (trimmed) starts with value"),
    Kind("is-json", _is_json, value="optional", check=_check_schema, help="the output parses as JSON "
         "(and fits value, a JSON schema, when given)"),
    Kind("json-schema", _is_json, check=_check_schema, help="the output is JSON that validates against value"),
    Kind("levenshtein", _levenshtein, threshold="edits", help="edit distance to value at most threshold (5)"),
    Kind("rouge-l", _rouge, help="ROUGE-L F1 against value at least threshold (0.75)"),
    Kind("latency", _latency, value="none", check=_check_limit, threshold="ms",
         help="the target answered within threshold milliseconds"),
    Kind("tokens", _tokens, value="none", options=("count",), check=_check_limit, threshold="tokens",
         help="at most threshold completion tokens (count: prompt, total)"),
    Kind("finish-reason", _finish_reason, help="the model stopped for this reason (stop, length, tool_calls)"),
    Kind("python", _python, check=_check_python, help="value `file.py:fn`; fn(output, context) returns a bool, "
         "a score, or {pass, score, reason}"),
    Kind("tool-called", _tool_called, check=_check_list, help="the tool (or one of the list) was called"),
    Kind("tool-args-match", _tool_args, options=("tool",), check=_check_tool_args,
         help="some call of `tool` has arguments containing value (strings compared ignoring case)"),
    Kind("tool-sequence", _tool_sequence, options=("strict",), check=_check_list,
         help="the tools were called in this order (strict: exactly these calls)"),
    Kind("tool-call-f1", _tool_f1, value="optional",
         help="F1 of the called tool names against value at least threshold (1.0)"),
    Kind("max-turns", _max_turns, check=_check_count, help="the agent finished within value turns"),
    Kind("cites", _cites, value="optional", check=_check_count,
         help="a grounded answer cites at least value (1) of its retrieved sources as [n]"),
    Kind("retrieved", _retrieved, check=_check_list, help="the expected document id(s) are among the sources"),
]}
