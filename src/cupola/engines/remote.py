"""Models on another OpenAI-compatible server (an "upstream"): vLLM, llama.cpp's server, LM Studio,
Ollama, Azure OpenAI / Foundry, or another ``cupola serve``.

A :class:`RemoteServer` is one upstream: its dialect (URL shapes and headers), one pooled HTTP
client, its admission (``max_concurrency`` and a queue), its circuit breaker, and the retry policy:
connection errors and 429/502/503/504 are retried with exponential backoff *before the first
byte*, never after output has started. A :class:`RemoteEngine` is one of its models behind the
ordinary engine contract. Requests always stream from the upstream (a non-streaming request is
the stream assembled), so the same first-token timeout applies everywhere and a client that goes
away stops the upstream's generation too.

Dialects (``kind``):

* ``openai`` — OpenAI, vLLM, llama.cpp's server, LM Studio, another Cupola: ``{url}/chat/completions``
  with ``Authorization: Bearer``; a URL without a path gets ``/v1``.
* ``ollama`` — Ollama's OpenAI-compatible ``/v1`` routes on the server root, models listed from
  ``/api/tags``.
* ``azure`` — Azure OpenAI and Foundry: an ``api-key`` header, and by the URL's shape either the
  v1 API (``https://RES.openai.azure.com/openai/v1``: model in the body), Foundry model inference
  (``https://RES.services.ai.azure.com/models``: ``api-version`` query), or classic deployments
  (``https://RES.openai.azure.com``: ``/openai/deployments/{deployment}/chat/completions`` with
  ``api-version``, default ``2024-10-21``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import numpy as np

from cupola import tracing
from cupola.completions import collect
from cupola.digest import prompt_sha256, sha256
from cupola.engines.base import Capabilities, Endpoint
from cupola.errors import (AuthenticationError, CupolaError, InvalidParameter, Overloaded, Unavailable, UpstreamError,
                           UpstreamTimeout, UsageError)
from cupola.openai_http import OpenAIHTTP

Operation = Literal["chat", "completion", "embeddings"]
_PATHS = {"chat": "/chat/completions", "completion": "/completions", "embeddings": "/embeddings"}
RETRYABLE = (Unavailable, UpstreamTimeout, Overloaded, UpstreamError)


class Dialect:
    """URL shapes, headers and bodies of one kind of server. The base is plain OpenAI."""

    kind = "openai"

    def __init__(self, url: str, api_version: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.api_version = api_version

    @property
    def base_url(self) -> str:
        return self.url + "/v1" if urlsplit(self.url).path in ("", "/") else self.url

    def headers(self, api_key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def route(self, op: Operation, model: str) -> tuple[str, dict[str, str]]:
        """The path (relative to ``base_url``) and query parameters of an operation."""
        return _PATHS[op], {}

    def body(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        return {**body, "model": model}

    models_path = "/models"

    def model_names(self, data: Any) -> list[str]:
        return [m["id"] for m in (data or {}).get("data", []) if isinstance(m, dict) and "id" in m]


class OllamaDialect(Dialect):
    kind = "ollama"

    @property
    def base_url(self) -> str:
        root = self.url.removesuffix("/v1")
        return root + "/v1"

    @property
    def models_path(self) -> str:  # type: ignore[override]
        return self.url.removesuffix("/v1") + "/api/tags"  # absolute: Ollama's native listing

    def model_names(self, data: Any) -> list[str]:
        return [m.get("name") or m.get("model") for m in (data or {}).get("models", []) if isinstance(m, dict)]


class AzureDialect(Dialect):
    kind = "azure"

    def __init__(self, url: str, api_version: str | None = None) -> None:
        super().__init__(url, api_version)
        path = urlsplit(self.url).path.rstrip("/")
        if path.endswith("/openai/v1"):
            self.shape = "v1"
        elif path.endswith("/models"):
            self.shape = "foundry"
        else:
            self.shape = "deployments"

    @property
    def base_url(self) -> str:
        return self.url

    def headers(self, api_key: str | None) -> dict[str, str]:
        return {"api-key": api_key} if api_key else {}

    def _version(self) -> dict[str, str]:
        default = "2024-05-01-preview" if self.shape == "foundry" else "2024-10-21"
        return {"api-version": self.api_version or default}

    def route(self, op: Operation, model: str) -> tuple[str, dict[str, str]]:
        if self.shape == "v1":
            return _PATHS[op], {}
        if self.shape == "foundry":
            return _PATHS[op], self._version()
        return f"/openai/deployments/{model}{_PATHS[op]}", self._version()

    def body(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        if self.shape == "deployments":  # the deployment in the URL names the model
            return {k: v for k, v in body.items() if k != "model"}
        return {**body, "model": model}

    @property
    def models_path(self) -> str:  # type: ignore[override]
        return "/models" if self.shape == "v1" else ""


DIALECTS: dict[str, type[Dialect]] = {"openai": Dialect, "ollama": OllamaDialect, "azure": AzureDialect}


def dialect(kind: str, url: str, api_version: str | None = None) -> Dialect:
    try:
        return DIALECTS[kind](url, api_version)
    except KeyError:
        raise InvalidParameter(f"unknown upstream kind {kind!r}; use one of {', '.join(DIALECTS)}",
                               param="kind") from None


class RemoteServer:
    """One upstream server: dialect, pooled HTTP client, admission, breaker, retries, timeouts."""

    def __init__(self, name: str, dialect: Dialect, *, api_key: str | None, admission: Any, breaker: Any,
                 timeout: float = 120, retries: int = 2, backoff: float = 0.25,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.name = name
        self.dialect = dialect
        self.admission = admission
        self.breaker = breaker
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.http = OpenAIHTTP(dialect.base_url, headers=dialect.headers(api_key), timeout=timeout,
                               max_connections=max(4, admission.capacity * 2), transport=transport,
                               name=f"upstream {name}")

    def _problem(self, exc: CupolaError) -> CupolaError:
        """An upstream's refusal of Cupola's own key is Cupola's configuration problem, not the caller's."""
        if isinstance(exc, AuthenticationError):
            return UpstreamError(f"{exc.message} (check the upstream's api_key_env)",
                                 hint=f"set the API key of upstream {self.name} in the environment")
        return exc

    async def _attempts(self, first_try: Any) -> Any:
        """Run ``first_try()`` with the breaker, retrying retryable failures with backoff."""
        attempt = 0
        while True:
            self.breaker.check()
            try:
                result = await first_try()
            except RETRYABLE as exc:
                if not isinstance(exc, Overloaded):
                    self.breaker.failure(exc.message)
                if attempt >= self.retries:
                    raise self._problem(exc)
                wait = self.backoff * (2 ** attempt) * (0.5 + random.random())
                if isinstance(exc, Overloaded):
                    wait = max(wait, min(float(exc.retry_after), 5.0))
                attempt += 1
                await asyncio.sleep(wait)
                continue
            except CupolaError as exc:
                self.breaker.success()  # it answered: alive, the request was wrong
                raise self._problem(exc)
            self.breaker.success()
            return result

    async def call(self, op: Operation, model: str, body: dict[str, Any]) -> Any:
        path, params = self.dialect.route(op, model)
        payload = self.dialect.body(body, model)
        headers = tracing.inject()
        await self.admission.acquire()
        started = time.perf_counter()
        try:
            return await self._attempts(lambda: self.http.post(path, payload, params=params, headers=headers))
        finally:
            self.admission.release(time.perf_counter() - started)

    def payload(self, op: Operation, model: str, body: dict[str, Any]) -> dict[str, Any]:
        """The JSON body as sent (its canonical form is what the execution contract hashes)."""
        return {**self.dialect.body(body, model), "stream": True} if op != "embeddings" else \
            self.dialect.body(body, model)

    async def stream(self, op: Operation, model: str, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        path, params = self.dialect.route(op, model)
        payload = self.payload(op, model, body)
        headers = tracing.inject()  # the caller's trace continues on the upstream
        waited = time.perf_counter()
        await self.admission.acquire()
        started = time.perf_counter()
        waited = (started - waited) * 1000
        events: Any = None
        try:
            async def open_and_first() -> tuple[Any, Any]:
                it = self.http.events(path, payload, params=params, headers=headers or None)
                try:
                    first = await asyncio.wait_for(it.__anext__(), self.timeout)
                except asyncio.TimeoutError:
                    await it.aclose()
                    raise UpstreamTimeout(f"upstream {self.name} sent no token within {self.timeout:g}s") from None
                except StopAsyncIteration:
                    return it, None
                except BaseException:
                    await it.aclose()
                    raise
                return it, first

            events, first = await self._attempts(open_and_first)
            if first is None:
                raise UpstreamError(f"upstream {self.name} answered with an empty stream")
            finished = _finished(first)
            first["timings"] = {**(first.get("timings") or {}), "queue_ms": waited}
            yield first
            try:
                async for chunk in events:
                    finished = finished or _finished(chunk)
                    yield chunk
            except UpstreamError as exc:  # broke off mid-stream: no retry once output started
                self.breaker.failure(exc.message)
                raise
            if not finished:
                self.breaker.failure("stream ended early")
                raise UpstreamError(f"upstream {self.name} ended the stream before the answer was finished")
        finally:
            if events is not None:
                await events.aclose()
            self.admission.release(time.perf_counter() - started)

    async def models(self) -> list[str]:
        if not self.dialect.models_path:
            return []
        data = await self._attempts(lambda: self.http.get(self.dialect.models_path))
        return self.dialect.model_names(data)

    async def aclose(self) -> None:
        await self.http.aclose()


def _finished(chunk: dict[str, Any]) -> bool:
    return any(c.get("finish_reason") for c in chunk.get("choices") or [])


class RemoteEngine:
    """One model of an upstream, as an engine. ``model`` is the upstream's own name for it."""

    def __init__(self, server: RemoteServer, model: str, capabilities: Capabilities) -> None:
        self.server = server
        self.model = model
        self.capabilities = capabilities
        self.admission = server.admission
        self.description = f"upstream {server.name} ({server.dialect.kind}, {server.dialect.base_url}, model {model})"

    async def fingerprint(self, request: dict[str, Any], endpoint: Endpoint = "chat") -> dict[str, Any]:
        """The sha256 of the canonical JSON request sent to the upstream (and of its prompt part)."""
        sent = self.server.payload(endpoint, self.model, request)
        return {"rendered_sha256": prompt_sha256(sent), "rendered_from": "request_json",
                "request_sha256": sha256(sent)}

    async def chat(self, body: dict[str, Any], endpoint: Endpoint = "chat") -> dict[str, Any]:
        request = {k: v for k, v in body.items() if k != "stream"}
        request["stream_options"] = {"include_usage": True}
        return await collect(self.stream(request, endpoint), endpoint)

    def stream(self, body: dict[str, Any], endpoint: Endpoint = "chat") -> AsyncIterator[dict[str, Any]]:
        return self.server.stream(endpoint, self.model, body)

    async def embed(self, texts: list[str], truncate: bool = False) -> tuple[np.ndarray, int]:
        # ``truncate`` is not forwarded: OpenAI's API has no such field; the upstream's own rule applies.
        data = await self.server.call("embeddings", self.model, {"input": texts})
        try:
            rows = sorted(data["data"], key=lambda d: d["index"])
            vectors = np.array([r["embedding"] for r in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise UpstreamError(f"upstream {self.server.name} sent embeddings in an unknown shape") from exc
        if isinstance(rows[0]["embedding"], str):
            raise UsageError("the upstream returned base64 embeddings; Cupola asks for floats")
        return vectors, int((data.get("usage") or {}).get("prompt_tokens") or 0)

    async def close(self) -> None:
        pass  # the server's connections are shared by its models; the runtime closes the server
