"""What every CLI command shares: settings, error rendering, progress bars, server discovery."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Optional, TypeVar

import typer
from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn, TransferSpeedColumn)

from cupola.client import LocalClient, ModelClient, RemoteClient
from cupola.config import Settings
from cupola.errors import CupolaError
from cupola.server.serve import read_server_file

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, hint: str | None = None, code: int = 1) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    if hint:
        err_console.print(f"[dim]hint:[/] {hint}", highlight=False)
    raise typer.Exit(code)


def handle_errors(func: F) -> F:
    """Turn Cupola errors into a message and a non-zero exit instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CupolaError as exc:
            fail(exc.message, exc.hint, code=2 if exc.status < 500 else 1)
        except KeyboardInterrupt:
            err_console.print("[dim]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def load_settings(**overrides: Any) -> Settings:
    """Settings with CLI flags on top (flags left at None do not override)."""
    return Settings.load(overrides).settings


def server_url(settings: Settings, url: str | None) -> str | None:
    if url:
        return url
    info = read_server_file(settings.server_file)
    return info["url"] if info else None


def model_client(settings: Settings, url: str | None, local: bool) -> ModelClient:
    """The running server's models when there is one (or ``url``), else an in-process runtime."""
    found = None if local else server_url(settings, url)
    if found:
        return RemoteClient(found, settings.api_key)
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
                            default_chat_model=settings.default_chat_model)


UrlOpt = Annotated[Optional[str], typer.Option("--url", help="Server URL (default: the running `cupola serve`)")]
LocalOpt = Annotated[bool, typer.Option("--local", help="Run in this process even if a server is running")]


def require_server(settings: Settings, url: str | None) -> str:
    found = server_url(settings, url)
    if not found:
        fail("no Cupola server is running", "start one with `cupola serve`, or pass --url")
    return found  # type: ignore[return-value]


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
