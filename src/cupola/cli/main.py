"""`cupola`: serve models, manage the store, chat from the terminal."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from cupola import __version__
from cupola.cli import models as models_cli
from cupola.cli import agent as agent_cli
from cupola.cli import eval as eval_cli
from cupola.cli import kb as kb_cli
from cupola.cli import keys as keys_cli
from cupola.cli import mcp as mcp_cli
from cupola.cli import transcribe as transcribe_cli
from cupola.cli import workflow as workflow_cli
from cupola.cli import upstreams as upstreams_cli
from cupola.cli import router as router_cli
from cupola.cli import requests as requests_cli
from cupola.cli import trace as trace_cli
from cupola.cli.prompt import PromptCommand, read_prompt
from cupola.cli.common import (LocalOpt, UrlOpt, console, err_console, handle_errors, load_settings, model_client,
                               progress_bars)
from cupola.client import ModelClient
from cupola.config import Settings
from cupola.errors import DownloadError
from cupola.models.store import ModelStore

app = typer.Typer(help="Cupola: a local-first AI foundry. Models, an OpenAI-compatible server, chat.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)
app.add_typer(models_cli.app, name="models")
app.add_typer(kb_cli.app, name="kb")
app.add_typer(agent_cli.app, name="agent")
app.add_typer(workflow_cli.app, name="workflow")
app.add_typer(mcp_cli.app, name="mcp")
app.add_typer(upstreams_cli.app, name="upstreams")
app.add_typer(router_cli.app, name="router")
app.add_typer(requests_cli.app, name="requests")
app.add_typer(trace_cli.app, name="trace")
app.add_typer(keys_cli.app, name="keys")
app.command("transcribe")(handle_errors(transcribe_cli.transcribe))
app.add_typer(eval_cli.app, name="eval")


def _version(value: bool) -> None:
    if value:
        console.print(f"cupola {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                               help="Print the version")] = False) -> None:
    """Cupola: a local-first AI foundry."""


@app.command()
@handle_errors
def serve(
    host: Annotated[Optional[str], typer.Option(help="Address to bind (default 127.0.0.1)")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (0 picks a free one)")] = None,
    parallel: Annotated[Optional[int], typer.Option(help="Parallel decoding slots per chat model (default 0: "
                                                    "sized from the model and free memory)")] = None,
    ctx_per_slot: Annotated[Optional[int], typer.Option(help="Context tokens per slot")] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads (0: all cores)")] = None,
    api_key: Annotated[Optional[str], typer.Option(help="Require bearer keys and accept this one as an admin key "
                                                        "(keys from `cupola keys create` work too; off loopback "
                                                        "one of the two is needed)")] = None,
    preload: Annotated[bool, typer.Option(help="Load the default chat model at start")] = True,
    agents: Annotated[Optional[Path], typer.Option("--agents", help="Host the agents defined by the YAML files "
                                                   "in this folder (call them through /v1/responses)")] = None,
    workflows: Annotated[Optional[Path], typer.Option("--workflows", help="Run the workflows defined by the "
                                                      "Python files in this folder at /api/workflows")] = None,
    studio: Annotated[Optional[bool], typer.Option("--studio/--no-studio", help="Serve Cupola Studio, the web UI, "
                                                   "at / (default: on)")] = None,
) -> None:
    """Serve the OpenAI-compatible API and Cupola Studio (the web UI), pulling the default models
    first if they are missing."""
    from cupola.server.serve import check_exposure, serve as run_server

    settings = load_settings(host=host, port=port, parallel=parallel, ctx_per_slot=ctx_per_slot,
                             threads=threads, api_key=api_key, agents_dir=agents,
                             workflows_dir=workflows, studio=studio)
    check_exposure(settings)
    store = ModelStore(settings.models_dir, offline=settings.offline)
    defaults = [settings.default_chat_model, settings.default_embedding_model]
    missing = [alias for alias in defaults if not store.info(alias).pulled]
    if missing:
        err_console.print(f"pulling the default models: {', '.join(missing)}")
        with progress_bars() as progress:
            for alias in missing:
                try:
                    store.pull(alias, progress)
                except DownloadError as exc:  # serve what is there; say what is missing and why
                    err_console.print(f"[yellow]warning:[/] could not pull {alias}: {exc.message}")

    def ready(info: dict[str, Any]) -> None:
        studio_at = f"Studio at {info['url']}/, " if settings.studio else ""
        err_console.print(f"Cupola {__version__} listening on [bold]{info['url']}[/] "
                          f"({studio_at}OpenAI API at {info['url']}/v1, docs at {info['url']}/docs)", highlight=False)

    run_server(settings, preload=[settings.default_chat_model] if preload and settings.preload else [],
               on_ready=ready)


@app.command("config")
@handle_errors
def show_config() -> None:
    """Print the effective settings and where each came from."""
    loaded = Settings.load()
    table = Table("SETTING", "VALUE", "SOURCE", title=f"config file: {loaded.config_path}")
    for name, value, source in loaded.rows():
        table.add_row(name, value, source)
    console.print(table)


async def _stream_answer(client: ModelClient, model: str, messages: list[dict[str, Any]],
                         params: dict[str, Any]) -> str:
    parts: list[str] = []
    async for chunk in client.stream(model, messages, **params):
        for choice in chunk.get("choices") or []:
            text = (choice.get("delta") or {}).get("content")
            if text:
                parts.append(text)
                console.out(text, end="", highlight=False)
    console.out("")
    return "".join(parts)


def _params(max_tokens: int | None, temperature: float | None) -> dict[str, Any]:
    return {k: v for k, v in {"max_tokens": max_tokens, "temperature": temperature}.items() if v is not None}


SystemOpt = Annotated[Optional[str], typer.Option("--system", "-s", help="System prompt")]
MaxOpt = Annotated[Optional[int], typer.Option("--max-tokens", "-n", help="Maximum tokens to generate")]
TempOpt = Annotated[Optional[float], typer.Option("--temperature", "-t", help="Sampling temperature")]


@app.command(cls=PromptCommand)
@handle_errors
def run(model: Annotated[str, typer.Argument(help="Model alias")],
        prompt: Annotated[str, typer.Argument(help="The prompt; - reads it from standard input. A prompt that "
                                                   "starts with dashes works when it holds a space or newline "
                                                   "(\"$(cat notes.md)\"), or after -- (cupola run MODEL -- -x)")],
        system: SystemOpt = None, max_tokens: MaxOpt = None, temperature: TempOpt = None,
        url: UrlOpt = None, local: LocalOpt = False) -> None:
    """Answer one prompt, streaming the answer (through the running server if there is one)."""
    settings = load_settings()
    prompt = read_prompt(prompt)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]

    async def go() -> None:
        client = model_client(settings, url, local)
        try:
            await _stream_answer(client, model, messages, _params(max_tokens, temperature))
        finally:
            await client.aclose()

    asyncio.run(go())


@app.command()
@handle_errors
def chat(model: Annotated[str, typer.Argument(help="Model alias")],
         system: SystemOpt = None, max_tokens: MaxOpt = None, temperature: TempOpt = None,
         url: UrlOpt = None, local: LocalOpt = False) -> None:
    """Interactive multi-turn chat. /clear forgets the conversation, /exit (or Ctrl-D) quits."""
    settings = load_settings()
    base = [{"role": "system", "content": system}] if system else []

    async def go() -> None:
        client = model_client(settings, url, local)
        history = list(base)
        err_console.print(f"chatting with {model} — /clear to forget, /exit to quit", highlight=False)
        try:
            while True:
                try:
                    line = await asyncio.to_thread(console.input, "[bold green]>>> [/]")
                except EOFError:
                    break
                text = line.strip()
                if not text:
                    continue
                if text in ("/exit", "/quit", "/bye"):
                    break
                if text == "/clear":
                    history = list(base)
                    err_console.print("[dim]conversation cleared[/]")
                    continue
                history.append({"role": "user", "content": text})
                answer = await _stream_answer(client, model, history, _params(max_tokens, temperature))
                history.append({"role": "assistant", "content": answer})
        finally:
            await client.aclose()

    asyncio.run(go())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
