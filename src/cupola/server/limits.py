"""Request limits: body size (counted as the bytes arrive), upload size, messages and tools per request.

The limits are settings (``max_body_bytes``, ``max_upload_bytes``, ``max_messages``, ``max_tools``).
:class:`LimitsMiddleware` (plain ASGI) answers a declared ``Content-Length`` above the limit
with 413 at once, without reading the body, and otherwise lets Starlette's
``RequestBodyLimitMiddleware`` count the bytes as they arrive (a chunked body that grows past the
limit stops there, 413). Multipart uploads to ``/api/kb/{name}/documents`` get
``max_upload_bytes``; every other body ``max_body_bytes``.

Counts inside a body are checked by the request models before they validate each item (a million
messages fail fast): they read the limits of the request being served through :func:`current`,
which the middleware sets for its duration.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from cupola.errors import PayloadTooLarge

_UPLOAD_PATH = re.compile(r"^/api/kb/[^/]+/documents$")


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 16 * 2**20
    max_upload_bytes: int = 64 * 2**20
    max_messages: int = 2048
    max_tools: int = 128

    @classmethod
    def of(cls, settings: Any) -> "Limits":
        return cls(settings.max_body_bytes, settings.max_upload_bytes, settings.max_messages, settings.max_tools)


_current: ContextVar[Limits] = ContextVar("cupola_request_limits", default=Limits())


def current() -> Limits:
    """The limits of the request being served (the defaults outside a request)."""
    return _current.get()


def check_count(value: Any, what: str, limit: int) -> Any:
    """For ``mode="before"`` validators: refuse a list longer than ``limit`` before validating its items."""
    if isinstance(value, (list, tuple)) and len(value) > limit:
        raise ValueError(f"at most {limit} {what} per request (got {len(value)}); the server's limit is the "
                         f"setting max_{what}")
    return value


MAX_SCHEMA_DEPTH = 64
"""How deeply a tool's or a response format's JSON schema may nest (JSON levels: a schema of 20 nested
objects is about 60). Deeper ones are refused before anything renders them into a prompt or a grammar."""


def depth(value: Any, limit: int) -> int:
    """The nesting depth of a JSON value, counting no further than ``limit + 1`` (no recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def check_depth(value: Any, what: str, limit: int = MAX_SCHEMA_DEPTH) -> Any:
    """For validators: refuse a JSON schema (or list of tools) nested deeper than ``limit`` levels."""
    if depth(value, limit) > limit:
        raise ValueError(f"{what} nests deeper than {limit} levels; flatten the schema")
    return value


def too_large(limit: int, setting: str) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is larger than this server accepts ({limit:,} bytes, the setting "
                           f"{setting})", param=None)


class LimitsMiddleware:
    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.limits = limits
        self.body = RequestBodyLimitMiddleware(app, limits.max_body_bytes)
        self.upload = RequestBodyLimitMiddleware(app, limits.max_upload_bytes)
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        upload = scope["method"] == "POST" and _UPLOAD_PATH.match(scope["path"]) is not None and \
            _header(scope, b"content-type").startswith(b"multipart/")
        limit = self.limits.max_upload_bytes if upload else self.limits.max_body_bytes
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > limit:
            problem = too_large(limit, "max_upload_bytes" if upload else "max_body_bytes")
            response = JSONResponse(problem.to_openai(), status_code=problem.status, headers={"Connection": "close"})
            return await response(scope, receive, send)
        token = _current.set(self.limits)
        try:
            await (self.upload if upload else self.body)(scope, receive, send)
        finally:
            _current.reset(token)


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key == name:
            return value.strip()
    return b""
