"""`cupola eval`: run evals (a matrix of targets x tests, with repeats), inspect, compare, gate CI.

Exit codes of `run` and `compare`: 0 when the run (or comparison) passes its gate, 1 when it
fails the gate (`--min-pass-rate`, `--fail-on-regression`), 2 when the eval could not run at all
(a bad file, a target that does not exist, no model server).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column, Table

from cupola.cli.common import console, err_console, load_settings, server_url
from cupola.config import Settings
from cupola.errors import CupolaError, UsageError

app = typer.Typer(help="Evaluations: golden sets, rule checks and judges over a matrix of variants, with repeats, "
                       "reports and a CI gate.", no_args_is_help=True)

GATE_FAILED, COULD_NOT_RUN = 1, 2
UrlOpt = Annotated[Optional[str], typer.Option("--url", help="Server URL (default: the running `cupola serve`)")]
LocalOpt = Annotated[bool, typer.Option("--local", help="Run the models in this process even if a server is running")]
RunArg = Annotated[str, typer.Argument(help="A run id, a unique prefix of one, or `last`")]


def _fail(message: str, hint: str | None = None, code: int = COULD_NOT_RUN) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    if hint:
        err_console.print(f"[dim]hint:[/] {hint}", highlight=False)
    raise typer.Exit(code)


def _guard(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn``; any Cupola error means the eval could not run (exit 2)."""
    try:
        return fn(*args, **kwargs)
    except CupolaError as exc:
        _fail(exc.message, exc.hint)
    except KeyboardInterrupt:
        err_console.print("[dim]interrupted[/]")
        raise typer.Exit(130) from None


def _store(settings: Settings) -> Any:
    from cupola.evals.store import EvalStore

    return EvalStore(settings.db_path("evals"))


def _env(settings: Settings, url: str | None, local: bool) -> Any:
    from cupola.client import LocalClient, RemoteClient
    from cupola.evals.targets import EvalEnv
    from cupola.knowledge.store import KnowledgeStore
    from cupola.models.store import ModelStore

    found = None if local else server_url(settings, url)
    if found:
        client: Any = RemoteClient(found, settings.api_key)
    else:
        from cupola.runtime.runtime import Runtime

        client = LocalClient(Runtime(settings))
    return EvalEnv(client, settings, KnowledgeStore(settings.db_path("knowledge")),
                   ModelStore(settings.models_dir, offline=settings.offline), server_url=found or url,
                   api_key=settings.api_key)


async def _close_env(env: Any) -> None:
    await env.client.aclose()
    env.knowledge.close()


def _write(path: str, text: str) -> None:
    if path == "-":
        console.out(text, highlight=False)
        return
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)


def write_outputs(doc: dict[str, Any], calibrations: dict[str, Any], json_out: str | None, html_out: str | None,
                  junit_out: str | None) -> None:
    from cupola.evals.junit import junit_xml
    from cupola.evals.report import html_report

    if json_out:
        _write(json_out, json.dumps(doc, indent=2, ensure_ascii=False, default=str))
    if html_out:
        _write(html_out, html_report(doc, calibrations))
    if junit_out:
        _write(junit_out, junit_xml(doc))


def _calibrations(store: Any, doc: dict[str, Any]) -> dict[str, Any]:
    keys = {a["judge_key"] for t in doc["targets"] for c in t["tests"] for s in c["repeats"]
            for a in s.get("assertions") or [] if a.get("judge_key")}
    return store.calibrations(keys)


# -- terminal rendering ------------------------------------------------------------------------------

def _cell(cell: dict[str, Any] | None) -> str:
    if not cell or not cell.get("n"):
        return "[dim]–[/]"
    if cell["errors"] == cell["n"]:
        return "[bold]ERR[/]"
    n, passed = cell["n"], cell["passed"]
    text = f"{passed}/{n}" if n > 1 else ("pass" if passed else "fail")
    color = "green" if passed == n else "red" if passed == 0 else "yellow"
    extra = " [yellow]~flaky[/]" if cell.get("flaky") else ""
    extra += f" [dim]{cell['errors']} err[/]" if cell["errors"] and cell["errors"] < n else ""
    return f"[{color}]{text}[/]{extra}"


def print_calibrations(calibrations: dict[str, Any]) -> None:
    for cal in calibrations.values():
        console.print(f"[blue]judge calibration[/] {cal.get('description')}: agreement with human labels "
                      f"{_pct(cal.get('accuracy'))}, Cohen's kappa {_num(cal.get('kappa'))} (n={cal.get('graded')})",
                      highlight=False)


def print_matrix(doc: dict[str, Any], failures: int = 8) -> None:
    n = doc["options"].get("repeat", 1)
    table = Table(title=f"{doc.get('description')}  [dim]{doc['id']}[/]", title_justify="left")
    table.add_column("test")
    for t in doc["targets"]:
        table.add_column(t["id"], justify="center")
    for test in doc["tests"]:
        table.add_row(test.get("label") or test["id"], *[_cell((test.get("results") or {}).get(t["id"]))
                                                         for t in doc["targets"]])
    table.add_section()
    table.add_row("[bold]pass rate[/]", *[f"[bold]{_pct(t.get('pass_rate'))}[/]" for t in doc["targets"]])
    table.add_row("mean score ± std", *[f"{_num(t.get('mean_score'))} ± {_num(t.get('std'))}" for t in doc["targets"]])
    if n > 1:
        table.add_row(f"pass@{n} / pass^{n}", *[f"{_pct(t.get('pass_at_n'))} / {_pct(t.get('pass_hat_n'))}"
                                                for t in doc["targets"]])
        table.add_row("flaky tests", *[str(t.get("flaky", 0)) for t in doc["targets"]])
    table.add_row("latency p50", *[_ms((t.get("latency_ms") or {}).get("p50")) for t in doc["targets"]])
    console.print(table)
    shown = 0
    labels = {t["id"]: t.get("label") or t["id"] for t in doc["tests"]}
    for t in doc["targets"]:
        for cell in t["tests"]:
            for s in cell["repeats"]:
                if s["status"] == "passed" or shown >= failures:
                    continue
                shown += 1
                head = f"[red]✗[/] {labels.get(cell['test'])} × {t['id']} (repeat {s['repeat'] + 1})"
                if s["status"] == "error":
                    console.print(f"{head}: [bold]error[/] {s.get('error')}", highlight=False)
                    continue
                bad = next((a for a in s["assertions"] if a.get("pass") is False), None)
                why = f"{bad['label']}: {bad['reason']}" if bad else "below the threshold"
                console.print(f"{head}: {why}", highlight=False)
    total = sum(1 for t in doc["targets"] for c in t["tests"] for s in c["repeats"] if s["status"] != "passed")
    if total > shown:
        console.print(f"[dim]... {total - shown} more (cupola eval show {doc['id']} --failures)[/]")


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _ms(x: float | None) -> str:
    return "–" if x is None else f"{x:.0f} ms" if x < 1000 else f"{x / 1000:.1f} s"


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


# -- run ---------------------------------------------------------------------------------------------

def _filters(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _fail(f"--filter {item!r} is not KEY=VALUE", "e.g. --filter tag=smoke or --filter category=routing")
        out[key] = value
    return out


def _eval_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        if not files:
            _fail(f"{path} holds no eval files (*.yaml)")
        return files
    return [path]


def _out(base: str | None, file: Path, many: bool, suffix: str) -> str | None:
    if base is None or not many or base == "-":
        return base
    return str(Path(base) / f"{file.stem}{suffix}")


async def _run_one(file: Path, env: Any, store: Any, opts: dict[str, Any], quiet: bool) -> dict[str, Any]:
    from cupola.evals import results
    from cupola.evals.loader import load_eval
    from cupola.evals.runner import EvalRunner

    ev = load_eval(file)
    ids = None
    if opts["failed_from"]:
        previous = results.document(store.run(opts["failed_from"]), store.samples(store.resolve(opts["failed_from"])))
        ids = {c["test"] for t in previous["targets"] for c in t["tests"] if c.get("passed", 0) < c.get("n", 0)}
    ev = ev.select(opts["filters"], ids, opts["targets"])
    if not ev.cases:
        raise UsageError(f"{file}: no test matches the filters", hint="check --filter, --failed-from and --target")
    runner = EvalRunner(env, store, cache_path=env.settings.db_path("eval-cache"))
    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=err_console, transient=True, disable=quiet)
    last: dict[str, Any] = {}
    with bars:
        task = None
        counts = {"passed": 0, "failed": 0, "error": 0}
        async for event in runner.run(ev, repeat=opts["repeat"], seed=opts["seed"], concurrency=opts["concurrency"],
                                      timeout=opts["timeout"], cache=opts["cache"]):
            if event["type"] == "run_started":
                task = bars.add_task(f"{file.name}", total=event["total"])
            elif event["type"] == "sample" and task is not None:
                counts[event["status"]] += 1
                bars.update(task, completed=event["done"], description=f"{file.name} [green]{counts['passed']}✓[/] "
                            f"[red]{counts['failed']}✗[/] [dim]{counts['error']} err[/]")
            last = event
    run_id = last["run_id"]
    return results.document(store.run(run_id), store.samples(run_id))


@app.command()
def run(
    path: Annotated[Path, typer.Argument(help="An eval file (YAML), or a folder of them (each runs on its own)")],
    repeat: Annotated[Optional[int], typer.Option("--repeat", "-r", min=1, help="Run each cell N times, "
                                                  "independently (seeds varied and recorded)")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Base seed (repeat i uses seed + i); default: the file's, or 0")] = None,
    concurrency: Annotated[Optional[int], typer.Option("--concurrency", "-c", min=1, help="Cells in flight "
                                                       "(default: the parallel setting, else 8)")] = None,
    timeout: Annotated[Optional[float], typer.Option(help="Seconds per cell before it counts as an error")] = None,
    cache: Annotated[bool, typer.Option("--cache", help="Reuse answers from earlier runs with the same execution "
                                        "contract (never across repeats)")] = False,
    filter: Annotated[Optional[list[str]], typer.Option("--filter", "-f", help="Only tests whose metadata matches "
                                                        "KEY=VALUE (tag=x matches a tag; id=... a test id); repeatable")] = None,
    failed_from: Annotated[Optional[str], typer.Option("--failed-from", help="Only the tests that did not pass "
                                                       "everywhere in this earlier run")] = None,
    target: Annotated[Optional[list[str]], typer.Option("--target", "-t", help="Only this target id; repeatable")] = None,
    json_out: Annotated[Optional[str], typer.Option("--json", help="Write the results as JSON (`-`: stdout)")] = None,
    html_out: Annotated[Optional[str], typer.Option("--html", help="Write the self-contained HTML report")] = None,
    junit_out: Annotated[Optional[str], typer.Option("--junit", help="Write JUnit XML for CI systems")] = None,
    min_pass_rate: Annotated[Optional[float], typer.Option("--min-pass-rate", min=0, max=1, help="The gate: exit 1 "
                                                           "when the overall pass rate is below this")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or matrix")] = False,
    url: UrlOpt = None, local: LocalOpt = False,
) -> None:
    """Run an eval: every target on every test (x repeats), graded, stored; a matrix, reports, a gate.

    Exit code 0: passed (or no gate), 1: below --min-pass-rate, 2: the eval could not run.
    With a folder, --json/--html/--junit name folders (one file per eval)."""
    settings = _guard(load_settings)
    files = _eval_files(path)
    many = len(files) > 1
    opts = {"repeat": repeat, "seed": seed, "concurrency": concurrency, "timeout": timeout, "cache": cache,
            "filters": _filters(filter), "failed_from": failed_from, "targets": target}

    async def go() -> int:
        env = _env(settings, url, local)
        store = _store(settings)
        code = 0
        try:
            for file in files:
                doc = await _run_one(file, env, store, opts, quiet or json_out == "-")
                calibrations = _calibrations(store, doc)
                write_outputs(doc, calibrations, _out(json_out, file, many, ".json"),
                              _out(html_out, file, many, ".html"), _out(junit_out, file, many, ".xml"))
                if not quiet and json_out != "-":
                    print_matrix(doc)
                    print_calibrations(calibrations)
                code = max(code, _gate(doc, min_pass_rate, quiet or json_out == "-"))
        finally:
            store.close()
            await _close_env(env)
        return code

    raise typer.Exit(_guard(asyncio.run, go()))


def _gate(doc: dict[str, Any], min_pass_rate: float | None, quiet: bool) -> int:
    summary = doc["summary"]
    gate = min_pass_rate if min_pass_rate is not None else doc["options"].get("min_pass_rate")
    rate = summary.get("pass_rate") or 0.0
    say = (lambda m: None) if quiet else (lambda m: err_console.print(m, highlight=False))
    say(f"run {doc['id']}: {_pct(summary.get('pass_rate'))} passed ({summary['passed']}/{summary['samples']}), "
        f"{summary['failed']} failed, {summary['errors']} errors, {summary['flaky']} flaky")
    if gate is None:
        return 0
    if rate < gate:
        say(f"[bold red]gate failed:[/] pass rate {_pct(rate)} is below {_pct(gate)}")
        return GATE_FAILED
    say(f"[green]gate passed:[/] pass rate {_pct(rate)} ≥ {_pct(gate)}")
    return 0


# -- inspecting ----------------------------------------------------------------------------------------

@app.command("list")
def list_runs(limit: Annotated[int, typer.Option(help="How many runs")] = 20,
              as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """List eval runs, newest first."""
    def go() -> None:
        store = _store(load_settings())
        rows = store.runs(limit)
        store.close()
        if as_json:
            console.out(json.dumps({"object": "list", "data": rows}, default=str), highlight=False)
            return
        table = Table(Column("RUN", no_wrap=True, min_width=29), "STATUS", Column("PASS", no_wrap=True, justify="right"),
                      Column("N", justify="right"), Column("ERR", justify="right"), Column("FLAKY", justify="right"),
                      "DESCRIPTION")
        for r in rows:
            table.add_row(r["id"], r["status"], _pct(r["pass_rate"]), str(r["samples"] or "–"), str(r["errors"] or 0),
                          str(r["flaky"] or 0), r["description"])
        console.print(table)

    _guard(go)


def _document(store: Any, ref: str) -> dict[str, Any]:
    from cupola.evals import results

    run_id = store.resolve(ref)
    return results.document(store.run(run_id), store.samples(run_id))


@app.command()
def show(run_ref: RunArg,
         as_json: Annotated[bool, typer.Option("--json", help="Print the run as JSON")] = False,
         failures: Annotated[bool, typer.Option("--failures", help="List every sample that did not pass")] = False) -> None:
    """Show a stored run: the matrix, the numbers per target and what failed."""
    def go() -> None:
        store = _store(load_settings())
        try:
            doc = _document(store, run_ref)
            calibrations = _calibrations(store, doc)
        finally:
            store.close()
        if as_json:
            console.out(json.dumps(doc, ensure_ascii=False, default=str), highlight=False)
            return
        print_matrix(doc, failures=10_000 if failures else 8)
        print_calibrations(calibrations)

    _guard(go)


@app.command()
def export(run_ref: RunArg,
           json_out: Annotated[Optional[str], typer.Option("--json", help="The run as JSON (`-`: stdout)")] = None,
           html_out: Annotated[Optional[str], typer.Option("--html", help="The self-contained HTML report")] = None,
           junit_out: Annotated[Optional[str], typer.Option("--junit", help="JUnit XML")] = None,
           router_data: Annotated[Optional[str], typer.Option("--router-data", help="Router training data (JSONL): "
                                                              "{prompt, target, score, passed, category} per "
                                                              "prompt x target")] = None) -> None:
    """Write a stored run as JSON, HTML, JUnit XML, or router training data."""
    if not any((json_out, html_out, junit_out, router_data)):
        _fail("say what to write: --json, --html, --junit or --router-data")

    def go() -> None:
        from cupola.evals.results import router_rows

        store = _store(load_settings())
        try:
            doc = _document(store, run_ref)
            write_outputs(doc, _calibrations(store, doc), json_out, html_out, junit_out)
        finally:
            store.close()
        if router_data:
            rows = router_rows(doc)
            _write(router_data, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).rstrip("\n"))
            if router_data != "-":
                err_console.print(f"{len(rows)} rows written to {router_data}", highlight=False)

    _guard(go)


@app.command()
def compare(run_a: Annotated[str, typer.Argument(help="The baseline run (id, prefix or `last`)")],
            run_b: Annotated[str, typer.Argument(help="The candidate run")],
            fail_on_regression: Annotated[bool, typer.Option("--fail-on-regression", help="Exit 1 when a test "
                                                             "regressed (significantly, when both runs have repeats)")] = False,
            alpha: Annotated[float, typer.Option(help="Significance level")] = 0.05,
            as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Compare two runs test by test: regressions and improvements, with significance where repeats allow."""
    def go() -> int:
        from cupola.evals.compare import compare as compare_runs

        store = _store(load_settings())
        try:
            result = compare_runs(_document(store, run_a), _document(store, run_b), alpha)
        finally:
            store.close()
        if as_json:
            console.out(json.dumps(result, ensure_ascii=False), highlight=False)
        else:
            _print_comparison(result)
        if fail_on_regression and result["gate_failures"]:
            if not as_json:
                err_console.print(f"[bold red]gate failed:[/] {len(result['gate_failures'])} regression(s)")
            return GATE_FAILED
        return 0

    raise typer.Exit(_guard(go))


def _print_comparison(result: dict[str, Any]) -> None:
    table = Table("TARGET", f"A {result['a'][:14]}", f"B {result['b'][:14]}", "Δ PASS RATE", "p (sign test)",
                  title="targets", title_justify="left")
    for t in result["targets"]:
        delta = t["delta_pass_rate"]
        color = "green" if (delta or 0) > 0 else "red" if (delta or 0) < 0 else "dim"
        table.add_row(t["id"], _pct(t["a"]["pass_rate"]), _pct(t["b"]["pass_rate"]),
                      f"[{color}]{'–' if delta is None else f'{delta * 100:+.1f} pts'}[/]", f"{t['p_value']:.3f}")
    console.print(table)
    for kind, rows, color in (("regressions", result["regressions"], "red"),
                              ("improvements", result["improvements"], "green")):
        if not rows:
            console.print(f"[dim]no {kind}[/]")
            continue
        table = Table("TEST", "TARGET", "A", "B", "p (Fisher)", "", title=kind, title_justify="left")
        for r in rows:
            table.add_row(r["label"], r["target"], f"{r['a_pass_rate'] * r['a_n']:.0f}/{r['a_n']}",
                          f"[{color}]{r['b_pass_rate'] * r['b_n']:.0f}/{r['b_n']}[/]", f"{r['p_value']:.3f}",
                          "significant" if r["significant"] else "")
        console.print(table)
    for side in ("only_in_a", "only_in_b"):
        if result[side]:
            console.print(f"[dim]targets {side.replace('_', ' ')}: {', '.join(result[side])}[/]")


@app.command()
def calibrate(judge_file: Annotated[Path, typer.Argument(help="A judge file: `judge` and the assertion to calibrate")],
              labels: Annotated[Optional[Path], typer.Option("--labels", "-l", help="Human-labelled outputs "
                                                             "(JSONL: vars, output, pass, score)")] = None,
              concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, help="Rows in flight")] = 4,
              as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
              url: UrlOpt = None, local: LocalOpt = False) -> None:
    """Measure how far to trust a judge: agreement with human labels (accuracy, Cohen's kappa,
    confusion matrix, Spearman for scores). The result is shown next to this judge's results in reports."""
    settings = _guard(load_settings)

    async def go() -> dict[str, Any]:
        from cupola.evals.calibration import calibrate as run_calibration
        from cupola.evals.calibration import labels_path, load_judge_file
        from cupola.naming import new_id

        cal = load_judge_file(judge_file)
        env = _env(settings, url, local)
        store = _store(settings)
        try:
            with err_console.status("grading the labelled outputs..."):
                result = await run_calibration(cal, labels_path(cal, labels), env.client, concurrency=concurrency,
                                               embedding_model=settings.default_embedding_model)
            result["id"] = new_id("cal")
            store.add_calibration(result["id"], result["description"], result["source"], result["judge_keys"],
                                  {k: v for k, v in result.items() if k != "rows"})
        finally:
            store.close()
            await _close_env(env)
        return result

    result = _guard(asyncio.run, go())
    if as_json:
        console.out(json.dumps(result, ensure_ascii=False), highlight=False)
        return
    c = result["confusion"]
    table = Table("", "human: pass", "human: fail", title=f"{result['description']}  [dim]{result['id']}[/]",
                  title_justify="left")
    table.add_row("judge: pass", str(c["tp"]), str(c["fp"]))
    table.add_row("judge: fail", str(c["fn"]), str(c["tn"]))
    console.print(table)
    console.print(f"labels {result['n']}, graded {result['graded']}, errors {result['errors']}")
    console.print(f"accuracy {_pct(result['accuracy'])}   Cohen's kappa {_num(result['kappa'])}" +
                  (f"   Spearman {_num(result['spearman'])} (n={result['scored']})" if result["scored"] else ""))


@app.command()
def rm(run_ref: RunArg) -> None:
    """Delete a stored run."""
    def go() -> None:
        store = _store(load_settings())
        try:
            console.print(f"deleted {store.delete(run_ref)}")
        finally:
            store.close()

    _guard(go)
