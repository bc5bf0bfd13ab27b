"""What every CLI command shares: settings, error rendering, progress bars, server discovery."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Optional, TypeVar

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn, TransferSpeedColumn)

from cupola.client import LocalClient, ModelClient, RemoteClient
from cupola.config import Settings
from cupola.errors import CupolaError
from cupola.openai_http import OpenAIHTTP
from cupola.server import registry

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, hint: str | None = None, code: int = 1) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    if hint:
        err_console.print(f"[dim]hint:[/] {escape(hint)}", highlight=False)
    raise typer.Exit(code)


def handle_errors(func: F) -> F:
    """Turn Cupola errors into a message and a non-zero exit instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CupolaError as exc:
            fail(exc.message, exc.hint, code=2 if exc.status < 500 else 1)
        except httpx.TransportError as exc:
            where = f" at {exc.request.url.scheme}://{exc.request.url.netloc.decode()}" if _has_request(exc) else ""
            fail(f"cannot reach the server{where}: {exc}",
                 "is `cupola serve` running there? Check --url, or use --local to run in this process")
        except KeyboardInterrupt:
            err_console.print("[dim]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _has_request(exc: httpx.TransportError) -> bool:
    try:
        exc.request
    except RuntimeError:
        return False
    return True


def load_settings(**overrides: Any) -> Settings:
    """Settings with CLI flags on top (flags left at None do not override)."""
    return Settings.load(overrides).settings


def server_url(settings: Settings, url: str | None) -> str | None:
    """``url``, else the running server of this home: the one on the configured port, or the only
    one (several others: an error saying to choose with --url)."""
    if url:
        return url
    info = registry.choose(registry.live(settings.home), settings.port)
    return info["url"] if info else None


def server_key(settings: Settings, url: str) -> str | None:
    """The key to send to the server at ``url``: the configured ``api_key``, else the local token
    of this home's server there (so the CLI works when the server requires API keys)."""
    return settings.api_key or registry.token_for(settings.home, url)


def server_headers(settings: Settings, url: str) -> dict[str, str]:
    key = server_key(settings, url)
    return {"Authorization": f"Bearer {key}"} if key else {}


def model_client(settings: Settings, url: str | None, local: bool) -> ModelClient:
    """The running server's models when there is one (or ``url``), else an in-process runtime."""
    found = None if local else server_url(settings, url)
    if found:
        return RemoteClient(found, server_key(settings, found))
    from cupola.runtime.runtime import Runtime

    return LocalClient(Runtime(settings.model_copy(update={"parallel": 1})))


def knowledge_service(settings: Settings, client: ModelClient) -> Any:
    """The knowledge bases of this home, with ``client`` for embeddings and answers."""
    from cupola.knowledge.service import KnowledgeService
    from cupola.knowledge.store import KnowledgeStore
    from cupola.models.store import ModelStore

    return KnowledgeService(KnowledgeStore(settings.db_path("knowledge")), client,
                            models=ModelStore(settings.models_dir, offline=settings.offline),
                            default_embedding_model=settings.default_embedding_model,
                            default_chat_model=settings.default_chat_model,
                            speech_model=settings.default_speech_model)


UrlOpt = Annotated[Optional[str], typer.Option("--url", help="Server URL (default: the running `cupola serve`)")]
LocalOpt = Annotated[bool, typer.Option("--local", help="Run in this process even if a server is running")]


def require_server(settings: Settings, url: str | None) -> str:
    found = server_url(settings, url)
    if not found:
        fail("no Cupola server is running", "start one with `cupola serve`, or pass --url")
    return found  # type: ignore[return-value]


def server_http(settings: Settings, url: str | None, timeout: float = 600) -> OpenAIHTTP:
    """The one HTTP client, pointed at the running server (or ``url``), with the key it needs."""
    base = require_server(settings, url).rstrip("/")
    return OpenAIHTTP(base, headers=server_headers(settings, base), timeout=timeout, name=f"the server at {base}",
                      hint="is `cupola serve` running there? Check --url")


def call_server(settings: Settings, url: str | None, method: str, path: str, body: Any = None) -> Any:
    """One request to the running server; its errors become CLI errors (through handle_errors)."""

    async def go() -> Any:
        http = server_http(settings, url)
        try:
            return await http.request(method, path, json_body=body)
        finally:
            await http.aclose()

    return asyncio.run(go())


@contextmanager
def _bars(*columns: Any) -> Iterator[Callable[[str, int, int | None], None]]:
    """A progress callback ``(name, done, total)`` drawing one bar per name with these columns."""
    bars = Progress(*columns, console=err_console, transient=False)
    tasks: dict[str, Any] = {}

    def update(name: str, done: int, total: int | None) -> None:
        if name not in tasks:
            tasks[name] = bars.add_task(name, total=total)
        bars.update(tasks[name], completed=done, total=total)

    with bars:
        yield update


def progress_bars() -> Any:
    """Byte bars, one per file being downloaded."""
    return _bars(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                 TimeRemainingColumn())


def seconds_bars() -> Any:
    """Bars over seconds of audio (``done`` and ``total`` in seconds), one per file being transcribed."""
    return _bars(TextColumn("{task.description}"), BarColumn(),
                 TextColumn("{task.completed:.0f}/{task.total:.0f} s of audio"), TimeElapsedColumn(),
                 TimeRemainingColumn())


def count_bars() -> Any:
    """Counting bars, one per stage (documents, embeddings, queries)."""
    return _bars(TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                 TimeRemainingColumn())
