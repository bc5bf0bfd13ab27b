"""Streamed HTTP answers: the one SSE framing, the one NDJSON framing, and the first item as status.

Every streaming route answers through :func:`sse` or :func:`ndjson`, after :func:`prefetch`
has pulled the stream's first item: an unknown model, an overload or a prompt that does not fit
fails before any byte is sent and becomes a real HTTP status with an OpenAI error body. An error
after that, when the status line is gone, is reported in-band: an SSE ``data:`` frame (or an
``event: error`` frame for named events) with the error body, or an NDJSON line
``{"type": "error", "error": {...}}``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi.responses import StreamingResponse

from cupola.errors import CupolaError

T = TypeVar("T")
_NO_BUFFERING = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def dumps(data: Any) -> str:
    """Compact JSON as every stream writes it (UTF-8 kept, non-JSON values as strings)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)


async def prefetch(events: AsyncIterator[T]) -> AsyncIterator[T]:
    """Await the first item now (errors raise here, as HTTP errors), then yield it and the rest."""
    try:
        first = await events.__anext__()
    except StopAsyncIteration:
        return _empty()
    return _chain(first, events)


async def _chain(first: T, rest: AsyncIterator[T]) -> AsyncIterator[T]:
    try:
        yield first
        async for item in rest:
            yield item
    finally:
        aclose = getattr(rest, "aclose", None)
        if aclose is not None:
            await aclose()


@asynccontextmanager
async def _closing(events: Any) -> AsyncIterator[None]:
    """Close the event source when the response ends (a client that went away stops the work now)."""
    try:
        yield
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


async def _empty() -> AsyncIterator[Any]:
    return
    yield  # pragma: no cover - makes this an async generator


def sse(events: AsyncIterator[dict[str, Any]], *, done: bool = True, named: bool = False,
        headers: dict[str, str] | None = None) -> StreamingResponse:
    """Server-sent events: ``data: {...}`` frames (``event: <type>`` first when ``named``), and
    ``data: [DONE]`` at the end when ``done`` (the chat-completions convention)."""

    async def frames() -> AsyncIterator[bytes]:
        try:
            async with _closing(events):
                async for event in events:
                    head = f"event: {event['type']}\n" if named else ""
                    yield f"{head}data: {dumps(event)}\n\n".encode()
        except CupolaError as exc:  # headers are sent: report the error in-band, as OpenAI does
            head = "event: error\n" if named else ""
            yield f"{head}data: {dumps(exc.to_openai())}\n\n".encode()
            return
        if done:
            yield b"data: [DONE]\n\n"

    return StreamingResponse(frames(), media_type="text/event-stream", headers={**_NO_BUFFERING, **(headers or {})})


def ndjson(events: AsyncIterator[dict[str, Any]], headers: dict[str, str] | None = None) -> StreamingResponse:
    """One JSON object per line; an error after the start is the line ``{"type": "error", "error": ...}``."""

    async def lines() -> AsyncIterator[bytes]:
        try:
            async with _closing(events):
                async for event in events:
                    yield dumps(event).encode() + b"\n"
        except CupolaError as exc:
            yield dumps({"type": "error", **exc.to_openai()}).encode() + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson", headers={**_NO_BUFFERING, **(headers or {})})
