"""The one small interface capabilities use to talk to models: chat, stream, embed.

``LocalClient`` runs on the in-process runtime; ``RemoteClient`` on any OpenAI-compatible
endpoint (a ``cupola serve``, Ollama, vLLM, Foundry Local, Azure OpenAI). Code written against
one runs unchanged against the other.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Protocol

import httpx
import numpy as np

from cupola.errors import (AuthenticationError, ContextLengthExceeded, CupolaError, EngineError,
                           InvalidParameter, ModelNotFound, Overloaded, RuntimeFailure)
from cupola.runtime.runtime import Runtime
from cupola.tools import chat as tool_chat


class ModelClient(Protocol):
    async def chat(self, model: str, messages: list[dict[str, Any]], **params: Any) -> dict[str, Any]: ...

    def stream(self, model: str, messages: list[dict[str, Any]], **params: Any) -> AsyncIterator[dict[str, Any]]: ...

    async def embed(self, model: str, texts: list[str]) -> np.ndarray: ...

    async def aclose(self) -> None: ...


class LocalClient:
    """The in-process runtime, with the tool-call adapter in front (tools work on every model)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def chat(self, model: str, messages: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
        return await tool_chat.generate(self.runtime, model, {"messages": messages, **params})

    async def stream(self, model: str, messages: list[dict[str, Any]], **params: Any) -> AsyncIterator[dict[str, Any]]:
        async for chunk in tool_chat.stream(self.runtime, model, {"messages": messages, **params}):
            yield chunk

    async def embed(self, model: str, texts: list[str]) -> np.ndarray:
        vectors, _ = await self.runtime.embed(model, texts)
        return vectors

    async def aclose(self) -> None:
        await self.runtime.close()


_BY_STATUS = {400: InvalidParameter, 401: AuthenticationError, 404: ModelNotFound, 429: Overloaded}


def _error_from(status: int, body: bytes) -> CupolaError:
    try:
        err = json.loads(body)["error"]
        message, code = err.get("message", ""), err.get("code")
    except (ValueError, KeyError, TypeError, AttributeError):
        message, code = body.decode(errors="replace")[:500], None
    if code == "context_length_exceeded":
        return ContextLengthExceeded(message)
    cls = _BY_STATUS.get(status, EngineError if status >= 500 else RuntimeFailure)
    return cls(f"server answered {status}: {message}")


class RemoteClient:
    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 600) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        if not self.base_url.endswith("/v1"):
            self.base_url += "/v1"
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=headers,
                                       timeout=httpx.Timeout(timeout, connect=10))

    async def chat(self, model: str, messages: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
        resp = await self._http.post("/chat/completions", json={"model": model, "messages": messages, **params})
        if resp.status_code != 200:
            raise _error_from(resp.status_code, resp.content)
        return resp.json()

    async def stream(self, model: str, messages: list[dict[str, Any]], **params: Any) -> AsyncIterator[dict[str, Any]]:
        body = {"model": model, "messages": messages, **params, "stream": True}
        async with self._http.stream("POST", "/chat/completions", json=body) as resp:
            if resp.status_code != 200:
                raise _error_from(resp.status_code, await resp.aread())
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                chunk = json.loads(data)
                if "error" in chunk:
                    raise _error_from(500, data.encode())
                yield chunk

    async def embed(self, model: str, texts: list[str]) -> np.ndarray:
        resp = await self._http.post("/embeddings", json={"model": model, "input": texts})
        if resp.status_code != 200:
            raise _error_from(resp.status_code, resp.content)
        rows = sorted(resp.json()["data"], key=lambda d: d["index"])
        return np.array([r["embedding"] for r in rows], dtype=np.float32)

    async def aclose(self) -> None:
        await self._http.aclose()


class FunctionClient:
    """A fake model for tests and demos: ``fn(messages, params)`` decides each answer.

    ``fn`` returns a string (the answer) or a list of ``(tool name, arguments dict)`` (tool calls);
    it may be async. Answers stream word by word, calls as OpenAI ``tool_calls`` deltas.
    """

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.calls: list[tuple[list[dict[str, Any]], dict[str, Any]]] = []

    async def _decide(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> Any:
        self.calls.append((json.loads(json.dumps(messages)), params))
        answer = self.fn(messages, params)
        if hasattr(answer, "__await__"):
            answer = await answer
        return answer

    async def chat(self, model: str, messages: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
        answer = await self._decide(messages, params)
        if isinstance(answer, str):
            message: dict[str, Any] = {"role": "assistant", "content": answer}
        else:
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
                for i, (n, a) in enumerate(answer)]}
        finish = "stop" if isinstance(answer, str) else "tool_calls"
        return {"object": "chat.completion", "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}]}

    async def stream(self, model: str, messages: list[dict[str, Any]], **params: Any) -> AsyncIterator[dict[str, Any]]:
        answer = await self._decide(messages, params)
        if isinstance(answer, str):
            for i, word in enumerate(answer.split(" ")):
                yield {"choices": [{"index": 0, "delta": {"content": word if i == 0 else " " + word}}]}
        else:
            for i, (name, args) in enumerate(answer):
                yield {"choices": [{"index": 0, "delta": {"tool_calls": [
                    {"index": i, "id": f"call_{len(self.calls)}_{i}", "type": "function",
                     "function": {"name": name, "arguments": ""}}]}}]}
                yield {"choices": [{"index": 0, "delta": {"tool_calls": [
                    {"index": i, "function": {"arguments": json.dumps(args)}}]}}]}
        yield {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop" if isinstance(answer, str) else "tool_calls"}]}

    async def embed(self, model: str, texts: list[str]) -> np.ndarray:
        from cupola.engines.fake import FakeEmbeddingEngine

        return FakeEmbeddingEngine().embed(texts)[0]

    async def aclose(self) -> None:
        pass
