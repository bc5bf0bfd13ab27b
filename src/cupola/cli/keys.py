"""`cupola keys`: API keys with scopes for the server (create, list, revoke)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.table import Table

from cupola.cli.common import console, err_console, handle_errors, load_settings
from cupola.keys import SCOPES, KeyStore

app = typer.Typer(help="API keys: once a key exists, every route of `cupola serve` but /health needs one. "
                       "Scopes: inference (chat, completions, embeddings, responses, agents, workflow runs, "
                       "knowledge search and ask) and admin (everything).", no_args_is_help=True)


def _store() -> KeyStore:
    return KeyStore(load_settings().db_path("keys"))


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "-"


@app.command()
@handle_errors
def create(name: Annotated[str, typer.Argument(help="A name to recognise the key by (who or what uses it)")],
           scope: Annotated[str, typer.Option("--scope", "-s", help=f"One of: {', '.join(SCOPES)}")] = "inference",
           ) -> None:
    """Create a key and print it once (only its hash is stored: copy it now)."""
    store = _store()
    try:
        key, token = store.create(name, scope)
    finally:
        store.close()
    err_console.print(f"created {key.scope} key [bold]{key.name}[/] ({key.id}); it is shown only now:",
                      highlight=False)
    console.out(token, highlight=False)
    err_console.print("clients send it as 'Authorization: Bearer <key>' (the openai client: api_key=...); "
                      f"revoke it with `cupola keys revoke {key.name}`", highlight=False)


@app.command("list")
@handle_errors
def list_keys(all_: Annotated[bool, typer.Option("--all", help="Also list revoked keys")] = False) -> None:
    """List the keys (names, ids, scopes; never the keys themselves)."""
    store = _store()
    try:
        keys = store.list(revoked=all_)
    finally:
        store.close()
    if not keys:
        console.print("no API keys: a server on 127.0.0.1 needs none; create one with `cupola keys create NAME`")
        return
    table = Table("NAME", "ID", "SCOPE", "CREATED", *(["REVOKED"] if all_ else []))
    for k in keys:
        table.add_row(k.name, k.id, k.scope, _when(k.created_at), *([_when(k.revoked_at)] if all_ else []))
    console.print(table)


@app.command()
@handle_errors
def revoke(key: Annotated[str, typer.Argument(help="The key's name or id")]) -> None:
    """Revoke a key: it stops working at once, in running servers too."""
    store = _store()
    try:
        revoked = store.revoke(key)
    finally:
        store.close()
    console.print(f"revoked {revoked.scope} key {revoked.name} ({revoked.id})", highlight=False)
