"""`cupola router`: model routers — show how they decide, train them on your results, benchmark them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from cupola.cli.common import UrlOpt, console, err_console, fail, handle_errors, load_settings

app = typer.Typer(help="Model routers (routers.NAME tables in config.toml): virtual models that pick a candidate "
                       "per request. Show them, train them on your evaluation results, benchmark them.",
                  no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="The router's name (a routers.NAME table in config.toml)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _router(name: str) -> tuple[Any, Any]:
    from cupola.runtime.runtime import Runtime

    settings = load_settings()
    if name not in settings.routers:
        known = ", ".join(settings.routers) or "none"
        fail(f"no router named {name!r} (routers: {known})",
             "declare one in config.toml: [routers.NAME] candidates = [...], mode = \"balanced\"")
    runtime = Runtime(settings)
    return runtime, runtime.routers[name]


@app.command("list")
@handle_errors
def list_routers(as_json: JsonOpt = False) -> None:
    """The declared routers: candidates, mode, and whether they are trained."""
    from cupola.runtime.router import RouterModel

    settings = load_settings()
    rows = []
    for name, cfg in settings.routers.items():
        model = RouterModel.load(settings.home / "routers" / f"{name}.json")
        rows.append({"name": name, "candidates": cfg.candidates, "mode": cfg.mode, "trained": model is not None})
    if as_json:
        console.print_json(data=rows)
        return
    table = Table("ROUTER", "MODE", "CANDIDATES", "TRAINED")
    for r in rows:
        table.add_row(r["name"], r["mode"], ", ".join(r["candidates"]), "yes" if r["trained"] else "no (heuristic)")
    console.print(table)


@app.command()
@handle_errors
def show(name: NameArg, as_json: JsonOpt = False) -> None:
    """How a router decides: trained or heuristic, candidates and costs, calibration."""
    runtime, router = _router(name)
    try:
        data = router.describe()
    finally:
        asyncio.run(runtime.close())
    if as_json:
        console.print_json(data=data)
        return
    table = Table(show_header=False, box=None)
    for key, value in data.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v if not isinstance(v, float) else round(v, 3)}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        table.add_row(f"[bold]{key}[/]", str(value))
    console.print(table)


@app.command()
@handle_errors
def train(name: NameArg,
          source: Annotated[Path, typer.Option("--from", help="JSONL rows {prompt, target, score} (or "
                                               "{prompt, scores: {model: score}}), e.g. from `cupola eval export`")],
          calibrate: Annotated[Optional[float], typer.Option(help="Send about this share of traffic (0-1) to the "
                                                             "strongest candidate (RouteLLM calibration)")] = None,
          l2: Annotated[Optional[float], typer.Option(help="Use a logistic regression with this regularisation "
                                                      "(default: the scorer and its settings are chosen by "
                                                      "cross-validation)")] = None,
          kind: Annotated[str, typer.Option(help="Scorer: auto (chosen by cross-validation), logistic, "
                                            "neighbours (similarity-weighted k nearest neighbours), ensemble "
                                            "(the mean of both), or types (by task type: needs a category on "
                                            "every row; auto tries it when they have one)")] = "auto",
          head_words: Annotated[Optional[int], typer.Option(help="Embed this many words of the prompt's head "
                                                            "(default: 12, 24, 48 or 256, chosen by "
                                                            "cross-validation, none slower to embed than "
                                                            "routing's 10 ms budget)", min=1)] = None) -> None:
    """Train a router's classifier on per-prompt, per-candidate results.

    Unless pinned with --l2, --kind or --head-words, the scorer, its settings and the embedded head
    length are chosen by cross-validated log loss on the training prompts (5 folds stratified by
    which candidates passed, repeated with 3 seeds); the output names the choice and its loss."""
    from cupola.runtime.router import read_rows, train as fit

    runtime, router = _router(name)
    rows = read_rows(source)
    if not rows:
        fail(f"{source} has no rows")
    settings = runtime.settings

    async def go() -> Any:
        try:
            async def embed(texts: list[str]) -> Any:
                return (await runtime.embeddings(settings.default_embedding_model, texts, record=False,
                                                 truncate=True)).vectors

            return await fit(router.config.candidates, rows, embed, calibrate=calibrate, l2=l2, kind=kind,
                             head_words=head_words, embedding_model=settings.default_embedding_model)
        finally:
            await runtime.close()

    model = asyncio.run(go())
    path = runtime.router_path(name)
    model.save(path)
    ignored = sum(1 for r in rows if r["target"] not in router.config.candidates)
    settings_text = ", ".join(f"{k}={v:g}" for k, v in model.settings().items())
    console.print(f"trained router {name} on {model.prompts} prompts ({model.rows} rows; {model.kind} scorer, "
                  f"{settings_text}; head of {model.head_words} words) -> {path}")
    console.print(f"  cross-validation: {model.cv_summary()}")
    if ignored:
        err_console.print(f"[dim]{ignored} rows name models that are not candidates and were ignored[/]")
    for c, mean in model.mean_scores.items():
        console.print(f"  {c}: mean score {mean:.3f}" + ("  (strongest)" if c == model.strongest else ""))
    if model.threshold is not None:
        console.print(f"  calibrated: ~{model.calibrated_share:.0%} of requests go to {model.strongest} "
                      f"(lead threshold {model.threshold:.3f})")


@app.command()
@handle_errors
def bench(prompts: Annotated[Path, typer.Argument(help="JSONL prompts: {prompt, category, expect?}")],
          paths: Annotated[str, typer.Option("--paths", help="Two model names to compare, e.g. auto,qwen2.5-coder-0.5b "
                                             "(routers, models or upstream models)")],
          runs: Annotated[int, typer.Option(help="Times each prompt is sent per path")] = 1,
          concurrency: Annotated[int, typer.Option(help="Requests in flight per path")] = 4,
          max_tokens: Annotated[int, typer.Option(help="max_tokens of each request")] = 128,
          out: Annotated[Optional[Path], typer.Option("--out", help="Write OUT.jsonl (every response), "
                                                      "OUT.json and OUT.md")] = None,
          url: UrlOpt = None,
          local: Annotated[bool, typer.Option("--local", help="Run in this process even if a server runs")] = False,
          as_json: JsonOpt = False) -> None:
    """Send a prompt set through two paths and compare success, latency, speed and model choices."""
    from cupola.cli.common import model_client
    from cupola import router_bench

    names = [p.strip() for p in paths.split(",") if p.strip()]
    if len(names) != 2:
        fail("--paths takes two model names separated by a comma", "e.g. --paths auto,smollm2-135m")
    if runs < 1 or concurrency < 1:
        fail("--runs and --concurrency must be at least 1")
    rows = router_bench.read_prompts(prompts)
    settings = load_settings()
    client = model_client(settings, url, local)

    async def go() -> Any:
        try:
            return await router_bench.run(client, rows, names, runs=runs, concurrency=concurrency,
                                          max_tokens=max_tokens, progress=err_console)
        finally:
            await client.aclose()

    report = asyncio.run(go())
    if out is not None:
        router_bench.write(report, out)
        err_console.print(f"[dim]wrote {out}.jsonl, {out}.json and {out}.md[/]")
    if as_json:
        console.print_json(data=router_bench.summary(report))
    else:
        router_bench.print_tables(report, console)
