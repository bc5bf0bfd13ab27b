"""Loading eval files: YAML with line numbers, datasets, defaults, and checks before anything runs.

Every problem is reported with the file and line it comes from and what was expected, all at
once: an unknown assertion type (with the closest known one), a missing template variable, a
target's file that does not exist, a bad regex or JSON schema. A dataset row's problems point at
the dataset file's line.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cupola.errors import InvalidParameter, UsageError
from cupola.evals.grading import KINDS, CaseAssertion
from cupola.evals.judges import judge_key
from cupola.evals.spec import (
    AssertionSpec,
    CaseSpec,
    DatasetRef,
    DefaultSpec,
    EvalSpec,
    JudgeSpec,
    TargetSpec,
    render,
    variables,
)

DATASET_SUFFIXES = (".jsonl", ".csv", ".yaml", ".yml", ".json")
_CASE_KEYS = {"vars", "assert"}


class EvalFileError(InvalidParameter):
    """An eval file (or request body) that cannot run; ``problems`` lists each with its line."""

    code = "invalid_eval"

    def __init__(self, problems: list[str]) -> None:
        head = problems[0] if len(problems) == 1 else f"{len(problems)} problems:\n  " + "\n  ".join(problems)
        super().__init__(head, hint="fix the file and run it again")
        self.problems = problems


class SourceMap:
    """Where each value of a parsed document came from: ``path tuple -> line``."""

    def __init__(self, label: str, lines: dict[tuple, int] | None = None) -> None:
        self.label = label
        self.lines = lines or {}

    def line(self, path: tuple) -> int | None:
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    def where(self, path: tuple = ()) -> str:
        line = self.line(tuple(path))
        return f"{self.label}:{line}" if line else self.label


def _walk(node: yaml.Node, path: tuple, out: dict[tuple, int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = path + (key.value,)
            out[sub] = key.start_mark.line + 1
            _walk(value, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), out)


def load_yaml(text: str, label: str) -> tuple[Any, SourceMap]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{label}:{mark.line + 1}" if mark else label
        raise EvalFileError([f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}"]) from None
    finally:
        loader.dispose()
    lines: dict[tuple, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return data, SourceMap(label, lines)


def pydantic_problems(exc: ValidationError, smap: SourceMap, prefix: tuple = ()) -> list[str]:
    out = []
    for err in exc.errors():
        loc = prefix + tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        shown = ".".join(str(p) for p in loc) or "the file"
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "missing (required)"
        elif err["type"] == "extra_forbidden":
            msg = "unknown key"
        out.append(f"{smap.where(loc)}: {shown}: {msg}")
    return out


# -- the loaded eval ---------------------------------------------------------------------------

@dataclass
class Target:
    spec: TargetSpec
    id: str
    where: str

    @property
    def kind(self) -> str:
        return self.spec.kind


@dataclass
class Case:
    id: str
    description: str
    vars: dict[str, Any]
    assertions: list[CaseAssertion]
    metadata: dict[str, Any]
    threshold: float | None
    where: str
    named: bool = False  # the id was given (not a hash of the vars)

    def label(self) -> str:
        if self.description:
            return self.description
        if self.named:
            return self.id
        shown = ", ".join(f"{k}={v}" for k, v in self.vars.items() if not isinstance(v, (dict, list)))
        return (shown[:60] + "...") if len(shown) > 63 else (shown or self.id)

    def plan(self) -> dict[str, Any]:
        return {"id": self.id, "description": self.description, "label": self.label(), "vars": self.vars,
                "metadata": self.metadata, "where": self.where,
                "assert": [a.spec.model_dump(exclude_none=True, by_alias=True) for a in self.assertions]}


@dataclass
class Eval:
    description: str
    source: str
    base_dir: Path
    targets: list[Target]
    cases: list[Case]
    judge: JudgeSpec | None
    options: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)
    judge_where: str = ""

    def select(self, filters: dict[str, str] | None = None, ids: set[str] | None = None,
               targets: list[str] | None = None) -> "Eval":
        """A subset: tests whose metadata (or id) match every filter, whose id is in ``ids``;
        only the named targets."""
        cases = [c for c in self.cases if (ids is None or c.id in ids) and _matches(c, filters or {})]
        chosen = self.targets
        if targets:
            unknown = [t for t in targets if t not in {x.id for x in self.targets}]
            if unknown:
                raise UsageError(f"no target {unknown[0]!r} in {self.source} (targets: "
                                 f"{', '.join(t.id for t in self.targets)})", param="target")
            chosen = [t for t in self.targets if t.id in targets]
        return Eval(self.description, self.source, self.base_dir, chosen, cases, self.judge, self.options, self.data,
                    self.judge_where)


def _matches(case: Case, filters: dict[str, str]) -> bool:
    for key, wanted in filters.items():
        if key == "id":
            got: Any = case.id
        elif key in case.metadata:
            got = case.metadata[key]
        elif key in ("tag", "tags"):
            got = case.metadata.get("tags", case.metadata.get("tag"))
        else:
            return False
        if isinstance(got, list):
            if wanted not in [str(g) for g in got]:
                return False
        elif str(got) != wanted:
            return False
    return True


# -- loading ----------------------------------------------------------------------------------

def load_eval(path: Path) -> Eval:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read eval file {path}: {exc.strerror}", param="file") from exc
    data, smap = load_yaml(text, str(path))
    return parse_eval(data, smap, path.parent)


def parse_eval(data: Any, smap: SourceMap, base_dir: Path, strict: bool = False) -> Eval:
    """Validate an eval (parsed YAML or a JSON body) completely; raise :class:`EvalFileError`. ``strict``
    (JSON bodies): JSON's types as the OpenAPI document states them (no ``false`` as a number, ``"5"`` as an
    integer); an integral number still counts as an integer."""
    if not isinstance(data, dict):
        raise EvalFileError([f"{smap.where()}: an eval is a mapping with `targets` and `tests`"])
    if strict:
        data = {k: int(v) if k in ("repeat", "seed", "concurrency") and isinstance(v, float) and v.is_integer()
                and abs(v) < 2**63 else v for k, v in data.items()}
    try:
        spec = EvalSpec.model_validate(data, strict=strict)
    except ValidationError as exc:
        raise EvalFileError(pydantic_problems(exc, smap)) from None
    problems: list[str] = []
    targets = _targets(spec, smap, base_dir, problems)
    raw_cases = _raw_cases(spec, smap, base_dir, problems)
    cases = _cases(spec, raw_cases, targets, base_dir, smap, problems)
    if not cases and not problems:
        problems.append(f"{smap.where(('tests',))}: tests: no tests")
    if problems:
        raise EvalFileError(problems)
    options = {"repeat": spec.repeat, "seed": spec.seed, "concurrency": spec.concurrency,
               "timeout": spec.timeout, "min_pass_rate": spec.min_pass_rate}
    return Eval(spec.description or smap.label, smap.label, base_dir, targets, cases, spec.judge, options, data,
                smap.where(("judge",)))


def _default_id(t: TargetSpec) -> str:
    if t.kind == "agent":
        return Path(t.agent).stem  # type: ignore[arg-type]
    if t.kind == "workflow":
        return Path(t.workflow).stem  # type: ignore[arg-type]
    if t.kind == "hosted":
        return t.hosted.agent  # type: ignore[union-attr]
    if t.kind == "knowledge":
        return f"{t.model or 'default'}@{t.knowledge.base}"  # type: ignore[union-attr]
    return str(t.model)


def _targets(spec: EvalSpec, smap: SourceMap, base: Path, problems: list[str]) -> list[Target]:
    out: list[Target] = []
    seen: dict[str, int] = {}
    for i, t in enumerate(spec.targets):
        where = smap.where(("targets", i))
        for kind in ("agent", "workflow"):
            ref = getattr(t, kind)
            if ref is not None and not (base / ref).is_file():
                problems.append(f"{smap.where(('targets', i, kind))}: targets.{i}.{kind}: {(base / ref)} does not exist")
        if t.knowledge and t.knowledge.documents and not (base / t.knowledge.documents).exists():
            problems.append(f"{smap.where(('targets', i, 'knowledge', 'documents'))}: targets.{i}.knowledge.documents: "
                            f"{base / t.knowledge.documents} does not exist")
        tid = t.id or _default_id(t)
        if t.id and t.id in seen:
            problems.append(f"{smap.where(('targets', i, 'id'))}: targets.{i}.id: {t.id!r} is used by target {seen[t.id]}")
        elif not t.id and tid in seen:
            n = 2
            while f"{tid}#{n}" in seen:
                n += 1
            tid = f"{tid}#{n}"
        seen[tid] = i
        out.append(Target(t, tid, where))
    return out


def _raw_cases(spec: EvalSpec, smap: SourceMap, base: Path,
               problems: list[str]) -> list[tuple[dict[str, Any], SourceMap, tuple, dict[str, Any]]]:
    """``(row, its source map, its path there, dataset metadata)`` for every test, datasets expanded."""
    entries: list[Any] = [{"file": spec.tests}] if isinstance(spec.tests, str) else spec.tests
    rows = []
    for i, entry in enumerate(entries):
        path: tuple = ("tests",) if isinstance(spec.tests, str) else ("tests", i)
        if isinstance(entry, dict) and "file" in entry:
            try:
                ref = DatasetRef.model_validate(entry)
            except ValidationError as exc:
                problems += pydantic_problems(exc, smap, path)
                continue
            if not (base / ref.file).is_file():
                problems.append(f"{smap.where(path)}: tests: dataset {base / ref.file} does not exist")
                continue
            try:
                rows += [(r, m, p, ref.metadata) for r, m, p in load_dataset(base / ref.file, problems)]
            except EvalFileError as exc:
                problems += exc.problems
        elif isinstance(entry, dict):
            rows.append((entry, smap, path, {}))
        else:
            problems.append(f"{smap.where(path)}: tests.{i}: a test is a mapping (vars, assert, ...) or {{file: ...}}")
    return rows


def load_dataset(path: Path, problems: list[str] | None = None) -> list[tuple[dict[str, Any], SourceMap, tuple]]:
    """The rows of a JSONL, CSV, JSON or YAML golden set, each with where it came from.

    Problems with rows go into ``problems`` (the good rows are still returned), or are raised."""
    found: list[str] = []
    label = str(path)
    if path.suffix.lower() not in DATASET_SUFFIXES:
        raise EvalFileError([f"{label}: datasets are {', '.join(DATASET_SUFFIXES)} files"])
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EvalFileError([f"{label}: cannot read the dataset: {exc.strerror}"]) from None
    smap = SourceMap(label)
    rows: list[tuple[dict[str, Any], SourceMap, tuple]] = []
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            smap.lines[(n,)] = n
            try:
                row = json.loads(line)
            except ValueError as exc:
                found.append(f"{label}:{n}: not valid JSON: {exc}")
                continue
            rows.append((row, smap, (n,)))
    elif suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        for row in reader:
            n = reader.line_num
            smap.lines[(n,)] = n
            rows.append((_csv_row(row), smap, (n,)))
    else:
        data, smap = load_yaml(text, label) if suffix != ".json" else (json.loads(text), smap)
        if not isinstance(data, list):
            raise EvalFileError([f"{label}: a dataset file holds a list of tests"])
        rows = [(row, smap, (i,)) for i, row in enumerate(data)]
    found += [f"{smap.where(where)}: each row is an object" for row, _, where in rows if not isinstance(row, dict)]
    if found and problems is None:
        raise EvalFileError(found)
    if problems is not None:
        problems += found
    return [r for r in rows if isinstance(r[0], dict)]


def _csv_row(row: dict[str, str]) -> dict[str, Any]:
    """CSV columns are vars; ``id`` and ``description`` keep their meaning, ``metadata.X`` is metadata."""
    out: dict[str, Any] = {"vars": {}, "metadata": {}}
    for key, value in row.items():
        if key is None:
            continue
        if value and value[:1] in "[{":
            try:
                value = json.loads(value)
            except ValueError:
                pass
        if key in ("id", "description"):
            out[key] = value
        elif key.startswith("metadata."):
            out["metadata"][key[9:]] = value
        else:
            out["vars"][key] = value
    return out


def _as_case(row: dict[str, Any]) -> dict[str, Any]:
    if _CASE_KEYS & set(row):
        return row
    case = {k: row[k] for k in ("id", "description", "metadata", "threshold") if k in row}
    case["vars"] = {k: v for k, v in row.items() if k not in case}
    return case


def _cases(spec: EvalSpec, raw: list, targets: list[Target], base: Path, eval_map: SourceMap,
           problems: list[str]) -> list[Case]:
    default: DefaultSpec = spec.default
    used_by_targets = {t.id: variables(t.spec.templates()) for t in targets}
    cases: list[Case] = []
    ids: set[str] = set()
    unset: dict[str, list[str]] = {}  # per target: the tests that lack one of its variables
    never: dict[str, set[str]] = {}  # per target: the variables no test sets
    for row, smap, path, dataset_meta in raw:
        try:
            case = CaseSpec.model_validate(_as_case(row))
        except ValidationError as exc:
            problems += pydantic_problems(exc, smap, path)
            continue
        where = smap.where(path)
        values = {**default.vars, **case.vars}
        label = case.id or case.description or f"#{len(cases) + 1}"
        for tid, names in used_by_targets.items():
            missing = sorted(names - set(values))
            if missing:
                unset.setdefault(tid, []).append(f"{where}: test {label}: target {tid} uses {{{missing[0]}}}, which "
                                                 f"this test does not set (its vars: {', '.join(sorted(values)) or 'none'})")
                never.setdefault(tid, set(names)).intersection_update(missing)
            else:
                never[tid] = set()
        items = [build_assertion(a, values, eval_map, ("default", "assert", i), spec.judge, base, label, problems)
                 for i, a in enumerate(default.assert_)]
        items += [build_assertion(a, values, smap, path + ("assert", i), spec.judge, base, label, problems)
                  for i, a in enumerate(case.assert_)]
        cid = case.id or "t" + hashlib.sha1(json.dumps([case.description, values], sort_keys=True,
                                                        default=str).encode()).hexdigest()[:8]
        if cid in ids:
            if case.id:
                problems.append(f"{where}: test id {case.id!r} is used twice")
            n = 2
            while f"{cid}-{n}" in ids:
                n += 1
            cid = f"{cid}-{n}"
        ids.add(cid)
        metadata = {**default.metadata, **dataset_meta, **case.metadata}
        threshold = case.threshold if case.threshold is not None else default.threshold
        cases.append(Case(cid, case.description, values, [i for i in items if i is not None], metadata, threshold,
                          where, named=bool(case.id)))
    known = sorted(set(default.vars).union(*(c.vars for c in cases))) if cases else sorted(default.vars)
    for target in targets:
        if never.get(target.id) and len(unset[target.id]) == len(raw):  # a typo in the template, most likely
            name = sorted(never[target.id])[0]
            close = difflib.get_close_matches(name, known, n=1)
            problems.append(f"{target.where}: target {target.id} uses {{{name}}}, which no test sets"
                            + (f" (did you mean {{{close[0]}}}?)" if close else f" (the tests set: {', '.join(known) or 'nothing'})"))
        else:
            problems += unset.get(target.id, [])[:10]
    return cases


def build_assertion(a: AssertionSpec, values: dict[str, Any], smap: SourceMap, path: tuple, judge: JudgeSpec | None,
               base: Path, label: str, problems: list[str]) -> CaseAssertion | None:
    where = f"{smap.where(path)}: test {label}: {'.'.join(str(p) for p in path)}"
    kind = KINDS.get(a.base_type)
    if kind is None:
        close = difflib.get_close_matches(a.base_type, list(KINDS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(f"{where}: unknown assertion type {a.type!r}{hint}; expected one of: "
                        f"{', '.join(KINDS)} (or not-<type>)")
        return None
    extra = set(a.options) - set(kind.options)
    if extra:
        allowed = ", ".join(("value", "weight", "threshold", "path", "name") + kind.options
                            + (("judge",) if kind.model_graded else ()))
        problems.append(f"{where}: {a.type} takes no option {sorted(extra)[0]!r} (it takes: {allowed})")
        return None
    if kind.value == "required" and a.value is None:
        problems.append(f"{where}: {a.type} needs a `value`")
        return None
    if kind.value == "none" and a.value is not None:
        problems.append(f"{where}: {a.type} takes no `value`" + (" (the maximum is `threshold`)"
                                                                  if kind.threshold in ("ms", "tokens") else ""))
        return None
    if kind.threshold == "score" and a.threshold is not None and not 0 <= a.threshold <= 1:
        problems.append(f"{where}: threshold for {a.type} is a score from 0 to 1")
        return None
    if kind.model_graded and (a.judge or judge) is None:
        problems.append(f"{where}: {a.type} is graded by a model: set `judge: MODEL` at the top of the file "
                        "or on the assertion")
        return None
    missing = sorted(variables([a.value, a.options]) - set(values))
    if missing:
        problems.append(f"{where}: uses {{{missing[0]}}}, which this test does not set "
                        f"(its vars: {', '.join(sorted(values)) or 'none'})")
        return None
    rendered = AssertionSpec.model_validate({**a.model_dump(by_alias=True), "value": render(a.value, values),
                                             **render(a.options, values)})
    if kind.check is not None:
        try:
            kind.check(rendered, base)
        except ValueError as exc:
            problems.append(f"{where}: {a.type}: {exc}")
            return None
    return CaseAssertion(rendered, a, judge_key(a, a.judge or judge) if kind.model_graded else None, smap.where(path))
