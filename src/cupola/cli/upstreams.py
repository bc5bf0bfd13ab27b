"""`cupola upstreams`: OpenAI-compatible servers whose models Cupola serves under its own names."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from cupola.cli.common import console, err_console, fail, handle_errors
from cupola.config import Settings, UpstreamConfig, edit_config
from pydantic import ValidationError

from cupola.errors import CupolaError, UsageError, invalid

app = typer.Typer(help="Upstreams: other OpenAI-compatible servers (vLLM, Ollama, LM Studio, llama.cpp, "
                       "Azure OpenAI / Foundry, another Cupola) whose models Cupola serves.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="The upstream's name (an upstreams.NAME table in config.toml)")]


def _loaded() -> Any:
    return Settings.load()


@app.command("list")
@handle_errors
def list_upstreams(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """The declared upstreams, their models and whether their API key is set."""
    settings = _loaded().settings
    if as_json:
        console.print_json(data={n: c.model_dump() | {"api_key_set": bool(c.api_key_env and
                                                                             os.environ.get(c.api_key_env))}
                                 for n, c in settings.upstreams.items()})
        return
    if not settings.upstreams:
        console.print("no upstreams; add one with `cupola upstreams add NAME URL --model ALIAS=MODEL`")
        return
    table = Table("NAME", "KIND", "URL", "MODELS (alias = upstream name)", "API KEY", "MAX CONC.", "TIMEOUT")
    for name, cfg in settings.upstreams.items():
        key = "-" if not cfg.api_key_env else (f"${cfg.api_key_env} " + ("set" if os.environ.get(cfg.api_key_env)
                                                                          else "[red]not set[/]"))
        models = "\n".join(f"{a} = {m}" for a, m in cfg.models.items()) or "-"
        table.add_row(name, cfg.kind, cfg.url, models, key, str(cfg.max_concurrency), f"{cfg.timeout:g}s")
    console.print(table)


def _parse_models(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        alias, sep, model = item.partition("=")
        if not sep or not alias.strip() or not model.strip():
            fail(f"--model {item!r} is not ALIAS=UPSTREAM_MODEL", "e.g. --model lab-qwen=qwen2.5-7b-instruct")
        out[alias.strip()] = model.strip()
    return out


@app.command()
@handle_errors
def add(name: NameArg,
        url: Annotated[str, typer.Argument(help="Base URL, e.g. http://127.0.0.1:8080/v1")],
        kind: Annotated[str, typer.Option("--kind", help="openai (also vLLM, llama.cpp, LM Studio, Cupola) | "
                                                         "ollama | azure")] = "openai",
        model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="ALIAS=UPSTREAM_MODEL "
                                                           "(repeatable): serve the upstream's model as ALIAS")] = None,
        api_key_env: Annotated[Optional[str], typer.Option(help="Environment variable with the API key "
                                                                 "(the key itself is never written)")] = None,
        max_concurrency: Annotated[int, typer.Option(help="Requests sent at once")] = 8,
        timeout: Annotated[float, typer.Option(help="Seconds to wait for a connection or the first token")] = 120,
        api_version: Annotated[Optional[str], typer.Option(help="Azure: api-version")] = None,
        force: Annotated[bool, typer.Option("--force", help="Replace an upstream of that name")] = False) -> None:
    """Declare an upstream in config.toml."""
    loaded = _loaded()
    if name in loaded.settings.upstreams and not force:
        fail(f"upstream {name!r} exists already", "use --force to replace it, or `cupola upstreams rm` first")
    models = _parse_models(model or [])
    if not models:
        fail("name at least one model: --model ALIAS=UPSTREAM_MODEL",
             "the alias is what clients send as `model`; the upstream model is the server's own name")
    table: dict[str, Any] = {"url": url, "kind": kind}
    if api_key_env:
        table["api_key_env"] = api_key_env
    table.update(models=models, max_concurrency=max_concurrency, timeout=timeout)
    if api_version:
        table["api_version"] = api_version
    try:
        UpstreamConfig(**table)  # clear errors before touching the file
    except ValidationError as exc:
        raise invalid(exc.errors(), prefix=f"upstream {name}") from None

    def change(doc: Any) -> None:
        import tomlkit

        ups = doc.setdefault("upstreams", tomlkit.table(is_super_table=True))
        entry = tomlkit.table()
        for key, value in table.items():
            if key == "models":
                inline = tomlkit.inline_table()
                inline.update(value)
                entry[key] = inline
            else:
                entry[key] = value
        ups[name] = entry

    _check_aliases(loaded.settings, name, models)
    edit_config(loaded.config_path, change)
    console.print(f"added upstream {name} ({kind}, {url}) to {loaded.config_path}: "
                  + ", ".join(f"{a} -> {m}" for a, m in models.items()))
    if api_key_env and not os.environ.get(api_key_env):
        err_console.print(f"[yellow]note:[/] ${api_key_env} is not set in this shell; export it before `cupola serve`")


def _check_aliases(settings: Settings, name: str, models: dict[str, str]) -> None:
    from cupola.models.store import ModelStore

    local = {e.alias for e in ModelStore(settings.models_dir).entries()}
    others = {a: n for n, c in settings.upstreams.items() if n != name for a in c.models}
    for alias in models:
        if alias in local:
            raise UsageError(f"{alias!r} is a local model's name; pick another alias for the upstream's model")
        if alias in others:
            raise UsageError(f"{alias!r} is already a model of upstream {others[alias]}")
        if alias in settings.routers:
            raise UsageError(f"{alias!r} is a router's name")


@app.command("rm")
@handle_errors
def remove(name: NameArg,
           force: Annotated[bool, typer.Option("--force", help="Remove it even if fallbacks or routers use "
                                                               "its models")] = False) -> None:
    """Remove an upstream from config.toml."""
    loaded = _loaded()
    settings = loaded.settings
    if name not in settings.upstreams:
        fail(f"no upstream named {name!r}", "`cupola upstreams list` shows them")
    aliases = set(settings.upstreams[name].models)
    users = [f"[fallbacks] {k}" for k, chain in settings.fallbacks.items() if aliases & {k, *chain}]
    users += [f"[routers.{r}]" for r, cfg in settings.routers.items() if aliases & set(cfg.candidates)]
    if users and not force:
        fail(f"{', '.join(users)} use models of {name}", "edit those first, or pass --force")

    def change(doc: Any) -> None:
        del doc["upstreams"][name]
        if force:
            for key in [k for k, chain in settings.fallbacks.items() if k in aliases]:
                del doc["fallbacks"][key]
            for key, chain in settings.fallbacks.items():
                if key in doc.get("fallbacks", {}) and aliases & set(chain):
                    doc["fallbacks"][key] = [c for c in chain if c not in aliases]
            for r, cfg in settings.routers.items():
                if aliases & set(cfg.candidates):
                    del doc["routers"][r]

    edit_config(loaded.config_path, change)
    console.print(f"removed upstream {name}")


@app.command()
@handle_errors
def test(name: NameArg,
         model: Annotated[Optional[str], typer.Option("--model", "-m", help="The alias to chat with "
                                                      "(default: its first model)")] = None,
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Check an upstream: reachable, its models, one tiny chat, and how long each took."""
    settings = _loaded().settings
    if name not in settings.upstreams:
        fail(f"no upstream named {name!r}", "`cupola upstreams list` shows them")
    report = asyncio.run(_probe(settings, name, model))
    if as_json:
        console.print_json(data=report)
    else:
        for step in report["steps"]:
            mark = "[green]ok[/]" if step["ok"] else "[red]failed[/]"
            console.print(f"{mark} {step['step']}: {step['detail']} ({step['ms']:.0f} ms)", highlight=False)
    if not report["ok"]:
        raise typer.Exit(1)


async def _probe(settings: Settings, name: str, model: str | None) -> dict[str, Any]:
    from cupola.runtime.upstreams import Upstreams

    upstreams = Upstreams({name: settings.upstreams[name]}, default_max_queue=settings.max_queue,
                          default_max_wait=settings.max_queue_wait)
    server = upstreams.servers[name]
    cfg = settings.upstreams[name]
    steps: list[dict[str, Any]] = []

    async def step(label: str, coro: Any) -> Any:
        started = time.perf_counter()
        try:
            value = await coro
            ok = True
        except CupolaError as exc:
            value, ok = exc.message, False
        steps.append({"step": label, "ok": ok, "ms": (time.perf_counter() - started) * 1000, "detail": value})
        return value if ok else None

    try:
        listed = await step("models", server.models())
        if listed is not None:
            steps[-1]["detail"] = ", ".join(listed[:20]) + (" ..." if len(listed) > 20 else "") or "(none listed)"
            missing = [m for m in cfg.models.values() if listed and m not in listed]
            if missing:
                steps.append({"step": "configured models", "ok": False, "ms": 0.0,
                              "detail": f"not listed by the server: {', '.join(missing)}"})
        alias = model or next(iter(cfg.models))
        if alias not in cfg.models:
            raise UsageError(f"{alias!r} is not a model of upstream {name}")
        body = {"messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 8}

        async def chat() -> str:
            engine = upstreams.engine(alias)
            first_at = None
            started = time.perf_counter()
            text = ""
            async for chunk in engine.stream(body):
                for choice in chunk.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content") or ""
                    if piece and first_at is None:
                        first_at = time.perf_counter()
                    text += piece
            ttft = ((first_at or time.perf_counter()) - started) * 1000
            return f"{alias} ({cfg.models[alias]}) answered {json.dumps(text.strip()[:60])}, first token {ttft:.0f} ms"

        await step("chat", chat())
    finally:
        await upstreams.close()
    return {"upstream": name, "ok": all(s["ok"] for s in steps), "steps": steps}
