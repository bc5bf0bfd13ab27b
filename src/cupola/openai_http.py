"""The one OpenAI-compatible HTTP client: JSON requests, SSE and NDJSON streams, error bodies.

Used wherever Cupola talks HTTP to an OpenAI-compatible server: remote engines (upstreams),
``RemoteClient`` (agents and knowledge on another server) and the CLI commands that call a running
``cupola serve``. Connections are pooled (one ``httpx.AsyncClient``). Failures become Cupola errors:
transport failures :class:`~cupola.errors.Unavailable`, time-outs
:class:`~cupola.errors.UpstreamTimeout`, and an HTTP error status the error class of the OpenAI
error body it carries (``context_length_exceeded`` stays itself, 429 keeps its ``Retry-After``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from cupola.errors import (AuthenticationError, ContextLengthExceeded, CupolaError, InvalidParameter, ModelNotFound,
                           NotFound, Overloaded, Unavailable, UpstreamError, UpstreamTimeout, UsageError)


def error_from(status: int, body: bytes | str | Mapping[str, Any], *, server: str = "server",
               retry_after: str | None = None) -> CupolaError:
    """The Cupola error for an HTTP error status and its body (OpenAI error body or not)."""
    err: Any = None
    if isinstance(body, Mapping):
        err = body.get("error", body)
    else:
        raw = body.decode(errors="replace") if isinstance(body, bytes) else body
        try:
            err = json.loads(raw).get("error")
        except (ValueError, AttributeError):
            err = None
        if err is None:
            err = {"message": raw.strip()[:500] or f"HTTP {status}"}
    if isinstance(err, str):
        err = {"message": err}
    if not isinstance(err, Mapping):
        err = {"message": str(err)[:500]}
    message = f"{server} answered {status}: {err.get('message') or 'no message'}"
    code, param = err.get("code"), err.get("param")
    if code == "context_length_exceeded" or err.get("type") == "exceed_context_size_error":
        return ContextLengthExceeded(message, param=param)
    if status == 429:
        try:
            seconds = max(1, int(float(retry_after or 1)))
        except ValueError:
            seconds = 1
        return Overloaded(message, retry_after=seconds)
    if status in (401, 403):
        return AuthenticationError(message)
    if status == 404:
        return (ModelNotFound if code in ("model_not_found", None) and "model" in message.lower() else NotFound)(
            message, param=param)
    if status == 503:
        return Unavailable(message)
    if status == 504:
        return UpstreamTimeout(message)
    if 400 <= status < 500:
        return (InvalidParameter if code in (None, "invalid_parameter") else UsageError)(message, param=param)
    return UpstreamError(message)


def _transport_error(exc: httpx.HTTPError, server: str, hint: str | None = None) -> CupolaError:
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        return UpstreamTimeout(f"{server} did not answer in time ({type(exc).__name__})", hint=hint)
    return Unavailable(f"cannot reach {server}: {exc or type(exc).__name__}", hint=hint)


def parse_sse(lines: list[str]) -> dict[str, Any] | None:
    """One SSE event (its lines) as a dict: ``{"event": name, "data": text}``; None if empty."""
    data, event = [], None
    for line in lines:
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
    if not data:
        return None
    return {"event": event, "data": "\n".join(data)}


class OpenAIHTTP:
    """An OpenAI-compatible server at ``base_url`` (e.g. ``http://127.0.0.1:8765/v1``)."""

    def __init__(self, base_url: str, *, headers: Mapping[str, str] | None = None,
                 params: Mapping[str, str] | None = None, timeout: float = 600, connect_timeout: float = 10,
                 max_connections: int = 100, transport: httpx.AsyncBaseTransport | None = None,
                 name: str | None = None, hint: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = name or self.base_url
        self.hint = hint  # said with "cannot reach" errors
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=dict(headers or {}), params=dict(params or {}),
            timeout=httpx.Timeout(timeout, connect=min(connect_timeout, timeout)), transport=transport,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections))

    async def request(self, method: str, path: str, *, json_body: Any = None,
                      params: Mapping[str, str] | None = None, timeout: float | None = None,
                      headers: Mapping[str, str] | None = None) -> Any:
        """Send one request; return the JSON answer (or text when it is not JSON)."""
        extra: dict[str, Any] = {"timeout": timeout} if timeout is not None else {}
        if headers:
            extra["headers"] = dict(headers)
        try:
            resp = await self._http.request(method, path, json=json_body, params=params, **extra)
        except httpx.HTTPError as exc:
            raise _transport_error(exc, self.name, self.hint) from exc
        if resp.status_code >= 400:
            raise error_from(resp.status_code, resp.content, server=self.name,
                             retry_after=resp.headers.get("retry-after"))
        try:
            return resp.json()
        except ValueError:
            return resp.text

    async def upload(self, path: str, fields: Mapping[str, str], files: Mapping[str, Any]) -> Any:
        """A multipart form POST (file uploads); the JSON answer."""
        try:
            resp = await self._http.post(path, data=dict(fields), files=dict(files))
        except httpx.HTTPError as exc:
            raise _transport_error(exc, self.name, self.hint) from exc
        if resp.status_code >= 400:
            raise error_from(resp.status_code, resp.content, server=self.name,
                             retry_after=resp.headers.get("retry-after"))
        return resp.json()

    async def post(self, path: str, body: Any, **kw: Any) -> Any:
        return await self.request("POST", path, json_body=body, **kw)

    async def get(self, path: str, **kw: Any) -> Any:
        return await self.request("GET", path, **kw)

    async def events(self, path: str, body: Any = None, *, params: Mapping[str, str] | None = None,
                     headers: dict[str, str] | None = None, form: Mapping[str, Any] | None = None,
                     files: Mapping[str, Any] | None = None) -> AsyncIterator[dict[str, Any]]:
        """POST ``body`` as JSON (or ``form`` and ``files`` as a multipart upload) and stream the
        answer's server-sent events as parsed JSON objects.

        Stops at ``data: [DONE]``. An in-band error object (``{"error": ...}``) raises its error.
        For named events (the Responses API) the event's ``type`` is in its data already.
        """
        async with _Opened(self, "POST", path, body, params, headers, form, files) as resp:
            pending: list[str] = []
            lines = resp.aiter_lines()
            while True:
                try:
                    line = await lines.__anext__()
                except StopAsyncIteration:
                    line = None if not pending else ""  # a last event without its blank line
                    if line is None:
                        return
                except httpx.HTTPError as exc:
                    raise UpstreamError(f"{self.name} broke off the stream: {exc or type(exc).__name__}") from exc
                if line:
                    pending.append(line)
                    continue
                event, pending = parse_sse(pending), []
                if event is None:
                    continue
                if event["data"].strip() == "[DONE]":
                    return
                try:
                    data = json.loads(event["data"])
                except ValueError as exc:
                    raise UpstreamError(f"{self.name} sent an event that is not JSON: {event['data'][:200]!r}") from exc
                if isinstance(data, dict) and "error" in data and not data.get("choices") and "type" not in data:
                    raise error_from(_status_of(data), data, server=self.name)
                yield data

    async def lines(self, path: str, body: Any, *, method: str = "POST") -> AsyncIterator[dict[str, Any]]:
        """Send a request and stream its NDJSON answer, one object per line."""
        async with self._open(method, path, body, None, None) as resp:
            async for line in resp.aiter_lines():
                if line.strip():
                    yield json.loads(line)

    def _open(self, method: str, path: str, body: Any, params: Mapping[str, str] | None,
              headers: dict[str, str] | None) -> Any:
        return _Opened(self, method, path, body, params, headers)

    async def aclose(self) -> None:
        await self._http.aclose()


def _status_of(data: dict[str, Any]) -> int:
    err = data.get("error")
    code = err.get("code") if isinstance(err, dict) else None
    if code == "context_length_exceeded":
        return 400
    if isinstance(code, int) or (isinstance(code, str) and code.isdigit()):
        return int(code)
    return 500


class _Opened:
    """``async with``: an open streamed response, checked for an error status first."""

    def __init__(self, http: OpenAIHTTP, method: str, path: str, body: Any, params: Mapping[str, str] | None,
                 headers: dict[str, str] | None, form: Mapping[str, Any] | None = None,
                 files: Mapping[str, Any] | None = None) -> None:
        self.http, self.method, self.path, self.params, self.headers = http, method, path, params, headers
        self.content: dict[str, Any] = {"data": dict(form or {}), "files": dict(files)} if files else {"json": body}
        self._cm: Any = None

    async def __aenter__(self) -> httpx.Response:
        self._cm = self.http._http.stream(self.method, self.path, params=self.params, headers=self.headers,
                                          **self.content)
        try:
            resp = await self._cm.__aenter__()
        except httpx.HTTPError as exc:
            raise _transport_error(exc, self.http.name, self.http.hint) from exc
        if resp.status_code >= 400:
            content = await resp.aread()
            await self._cm.__aexit__(None, None, None)
            raise error_from(resp.status_code, content, server=self.http.name,
                             retry_after=resp.headers.get("retry-after"))
        return resp

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._cm.__aexit__(*exc_info)
