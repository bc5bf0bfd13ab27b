"""`cupola models ...`: the catalog and store, and (through a running server) the runtime."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from cupola.cli.common import call_server, console, handle_errors, load_settings, progress_bars
from cupola.models.store import ModelStore

app = typer.Typer(help="List, pull, import and remove models; load them into a running server.",
                  no_args_is_help=True)

UrlOpt = Annotated[Optional[str], typer.Option("--url", help="Server URL (default: the running `cupola serve`)")]


def _store() -> ModelStore:
    settings = load_settings()
    return ModelStore(settings.models_dir, offline=settings.offline)


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)


@app.command("list")
@handle_errors
def list_models(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """List every model a request can name: the local catalog (built-in and imported, and which are
    pulled), the models of upstream servers, and routers."""
    settings = load_settings()
    infos = ModelStore(settings.models_dir, offline=settings.offline).list()
    remote = [(alias, name, model) for name, cfg in settings.upstreams.items() for alias, model in cfg.models.items()]
    if as_json:
        rows = [i.entry.to_dict() | {"pulled": i.pulled, "location": "local"} for i in infos]
        rows += [{"alias": a, "kind": "chat", "location": f"upstream:{n}", "upstream_model": m} for a, n, m in remote]
        rows += [{"alias": n, "kind": "chat", "location": "router", "candidates": r.candidates, "mode": r.mode}
                 for n, r in settings.routers.items()]
        console.print_json(json.dumps(rows))
        return
    table = Table()
    table.add_column("ALIAS", no_wrap=True)
    for header in ("KIND", "RUNS ON", "QUANT", "SIZE", "PULLED"):
        table.add_column(header, no_wrap=True)
    table.add_column("DESCRIPTION", overflow="fold")
    for i in infos:
        e = i.entry
        table.add_row(e.alias, e.kind, "local", e.quantization or "-", _size(e.size),
                      "yes" if i.pulled else "no", e.description)
    for alias, name, model in remote:
        cfg = settings.upstreams[name]
        table.add_row(alias, "chat", f"upstream {name}", "-", "-", "-", f"{model} at {cfg.url} ({cfg.kind})")
    for name, router in settings.routers.items():
        table.add_row(name, "chat", "router", "-", "-", "-",
                      f"{router.mode} router over {', '.join(router.candidates)}")
    console.print(table)


@app.command()
@handle_errors
def pull(alias: Annotated[str, typer.Argument(help="Model alias, e.g. smollm2-135m")]) -> None:
    """Download a model into the store (verified by sha256; a no-op when already there)."""
    store = _store()
    if store.info(alias).pulled:
        console.print(f"{alias} is already pulled")
        return
    with progress_bars() as progress:
        info = store.pull(alias, progress)
    console.print(f"pulled {alias} -> {info.path} (from {info.source})")


@app.command()
@handle_errors
def show(alias: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show one model's catalog entry and local state."""
    info = _store().info(alias)
    data = info.entry.to_dict() | {"pulled": info.pulled, "path": str(info.path) if info.path else None,
                                   "source": info.source}
    if as_json:
        console.print_json(json.dumps(data, default=str))
        return
    table = Table(show_header=False, box=None)
    for key, value in data.items():
        if value in (None, (), [], {}):
            continue
        if key == "artifacts":
            value = "\n".join(f"{a['name']} ({_size(a['size'])}, sha256 {a['sha256'] or '?'})" for a in value)
        elif isinstance(value, (list, tuple)):
            value = ", ".join(map(str, value))
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        table.add_row(f"[bold]{key}[/]", str(value))
    console.print(table)


@app.command("rm")
@handle_errors
def remove(alias: str) -> None:
    """Delete a model's local files (an imported model leaves the catalog)."""
    if _store().remove(alias):
        console.print(f"removed {alias}")
    else:
        console.print(f"{alias} was not pulled; nothing to remove")


@app.command("import")
@handle_errors
def import_model(path: Annotated[Path, typer.Argument(help="A GGUF file")],
                 alias: Annotated[str, typer.Option("--alias", help="Name to serve it under")],
                 kind: Annotated[Optional[str], typer.Option(
                     "--kind", help="chat or embedding (default: from the file's metadata: encoder models such as "
                     "BERT, and models with a pooling type, are embedding models)")] = None) -> None:
    """Add a local GGUF file to the store; its kind, architecture, context and chat template come from its
    metadata. Embedding models are served at /v1/embeddings by llama.cpp's embedding mode."""
    with progress_bars() as progress:
        info = _store().import_gguf(path, alias, progress, kind=kind)
    e = info.entry
    if e.kind == "embedding":
        console.print(f"imported {alias}: embedding model, {e.architecture}, at most {e.max_input_tokens} tokens "
                      f"per input, {e.quantization or 'unknown quantization'}")
        return
    console.print(f"imported {alias}: {e.architecture}, context {e.context_length}, "
                  f"{e.quantization or 'unknown quantization'}, chat template: {e.chat_template}")


def _call(method: str, url: str | None, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return call_server(load_settings(), url, method, path, body)


@app.command()
@handle_errors
def ps(url: UrlOpt = None) -> None:
    """Models loaded in the running server."""
    data = _call("GET", url, "/api/ps")
    table = Table("MODEL", "KIND", "RUNNING", "QUEUED", "UNLOADS IN")
    for m in data["models"]:
        exp = m["expires_at"]
        table.add_row(m["model"], m["kind"], str(m["running"]), str(m["queued"]),
                      "never" if exp is None else f"{max(0, exp - time.time()):.0f}s")
    console.print(table)


@app.command()
@handle_errors
def load(alias: str, keep_alive: Annotated[Optional[str], typer.Option(help="e.g. 10m, -1 (forever)")] = None,
         url: UrlOpt = None) -> None:
    """Load a model into the running server now."""
    body = {"keep_alive": keep_alive} if keep_alive is not None else None
    data = _call("POST", url, f"/api/models/{alias}/load", body)
    console.print(f"{alias} loaded ({data['seconds']}s)")


@app.command()
@handle_errors
def unload(alias: str, url: UrlOpt = None) -> None:
    """Unload a model from the running server (after its running requests finish)."""
    data = _call("POST", url, f"/api/models/{alias}/unload")
    console.print(f"{alias}: {data['status']}")
