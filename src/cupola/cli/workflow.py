"""`cupola workflow`: run multi-agent workflows with live step events; approve and resume runs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from cupola.cli.common import knowledge_service, LocalOpt, UrlOpt, console, err_console, handle_errors, load_settings, model_client

app = typer.Typer(help="Workflows: compose agents (sequential, concurrent, critic loops, hand-offs, approvals).",
                  no_args_is_help=True)

FileArg = Annotated[Path, typer.Argument(help="A Python file defining `workflow`")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the events as NDJSON")]


def _render(event: dict[str, Any], as_json: bool, state: dict[str, Any]) -> None:
    if as_json:
        console.out(json.dumps(event, default=str), highlight=False)
        return
    kind, step = event["type"], event.get("step", "")
    if kind != "delta" and state.get("in_delta"):
        console.out("")
        state["in_delta"] = False
    if kind == "step_started":
        err_console.print(f"[bold cyan]> {step}[/] [dim]({event['kind']})[/]", highlight=False)
    elif kind == "step_restored":
        err_console.print(f"[dim]= {step} (restored from checkpoint)[/]", highlight=False)
    elif kind == "delta":
        console.out(event["text"], end="", highlight=False, style="dim")
        state["in_delta"] = True
    elif kind == "tool_call":
        err_console.print(f"[dim]  -> {event['name']}({str(event['arguments']).strip()})[/]", highlight=False)
    elif kind == "tool_result":
        text = " ".join(str(event["output"]).split())
        err_console.print(f"[dim]  <- {text[:200]}{'...' if len(text) > 200 else ''}[/]", highlight=False)
    elif kind == "handoff":
        err_console.print(f"[magenta]  hand-off to {event['to']}[/]", highlight=False)
    elif kind == "step_finished":
        err_console.print(f"[green]  done {step}[/] [dim]{event['ms'] / 1000:.1f}s[/]", highlight=False)
    elif kind == "loop_exhausted":
        err_console.print(f"[yellow]  {step}: stopped after {event['iterations']} iterations[/]", highlight=False)
    elif kind == "workflow_finished":
        output = event["output"]
        console.rule(f"{event['status']} in {event['ms'] / 1000:.1f}s")
        if isinstance(output, str):
            console.out(output, highlight=False)
        elif output is not None:
            console.print_json(data=output)
    elif kind == "workflow_failed":
        err_console.print(f"[bold red]failed:[/] {event['error']}", highlight=False)


def _setup(file: Path, url: str | None, local: bool) -> tuple[Any, Any, Any, Any]:
    from cupola.agents.loader import ToolContext
    from cupola.agents.runner import Runner
    from cupola.workflows import WorkflowRunner, WorkflowStore
    from cupola.workflows.loader import load_workflow

    settings = load_settings()
    client = model_client(settings, url, local)
    knowledge = knowledge_service(settings, client)
    workflow = load_workflow(file, ToolContext(knowledge=knowledge))
    store = WorkflowStore(settings.db_path("workflows"))
    runner = WorkflowRunner(Runner(client, default_model=settings.default_chat_model), store)

    def close() -> None:
        knowledge.store.close()
        store.close()
        asyncio.run(client.aclose())

    return workflow, runner, store, close


def _drive(runner: Any, workflow: Any, events: Any, as_json: bool, yes: bool, interactive: bool) -> int:
    async def go() -> int:
        current = events
        while True:
            state: dict[str, Any] = {}
            last: dict[str, Any] = {}
            async for event in current:
                _render(event, as_json, state)
                last = event
            if last.get("type") == "approval_required":
                err_console.print(f"[bold yellow]approval needed[/] at {last['step']}:\n{last['prompt']}",
                                  highlight=False)
                if yes:
                    decision = True
                elif interactive:
                    decision = await asyncio.to_thread(typer.confirm, "approve?", default=False)
                else:
                    err_console.print(f"run {last['run_id']} is paused; continue it with `cupola workflow resume "
                                      f"FILE {last['run_id']} --approve` (or --reject)", highlight=False)
                    return 0
                current = runner.resume(workflow, last["run_id"], approve=decision)
                continue
            return 1 if last.get("type") == "workflow_failed" else 0

    return asyncio.run(go())


@app.command()
@handle_errors
def run(file: FileArg, input: Annotated[str, typer.Argument(help="The workflow's input")],
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Approve every approval step")] = False,
        interactive: Annotated[bool, typer.Option(help="Ask at approval steps (else pause and exit)")] = True,
        url: UrlOpt = None, local: LocalOpt = False, as_json: JsonOpt = False) -> None:
    """Run a workflow, showing every step live; ask at approval steps."""
    workflow, runner, _, close = _setup(file, url, local)
    try:
        code = _drive(runner, workflow, runner.run(workflow, input), as_json, yes, interactive)
    finally:
        close()
    raise typer.Exit(code)


@app.command()
@handle_errors
def resume(file: FileArg, run_id: Annotated[str, typer.Argument(help="The run to continue")],
           approve: Annotated[Optional[bool], typer.Option("--approve/--reject",
                                                           help="The decision for a paused run")] = None,
           url: UrlOpt = None, local: LocalOpt = False, as_json: JsonOpt = False) -> None:
    """Continue a paused run (with --approve or --reject) or one interrupted by a crash."""
    workflow, runner, _, close = _setup(file, url, local)
    try:
        code = _drive(runner, workflow, runner.resume(workflow, run_id, approve=approve), as_json, False, False)
    finally:
        close()
    raise typer.Exit(code)


@app.command()
@handle_errors
def runs(limit: Annotated[int, typer.Option(help="How many")] = 20) -> None:
    """List recent workflow runs and their status."""
    from cupola.workflows import WorkflowStore

    store = WorkflowStore(load_settings().db_path("workflows"))
    table = Table("RUN", "WORKFLOW", "STATUS")
    for r in store.runs(limit):
        table.add_row(r["id"], r["workflow"], r["status"])
    store.close()
    console.print(table)
