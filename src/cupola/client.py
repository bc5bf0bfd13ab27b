"""The one small interface capabilities use to talk to models: chat, stream, embed.

``LocalClient`` runs on the in-process runtime; ``RemoteClient`` on any OpenAI-compatible
endpoint (a ``cupola serve``, Ollama, vLLM, Foundry Local, Azure OpenAI). Code written against
one runs unchanged against the other.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Protocol

import numpy as np

from cupola.openai_http import OpenAIHTTP
from cupola.runtime.runtime import Runtime


class ModelClient(Protocol):
    async def chat(self, model: str, messages: list[dict[str, Any]], **params: Any) -> dict[str, Any]: ...

    def stream(self, model: str, messages: list[dict[str, Any]], **params: Any) -> AsyncIterator[dict[str, Any]]: ...

    async def embed(self, model: str, texts: list[str]) -> np.ndarray: ...

    async def aclose(self) -> None: ...


class LocalClient:
    """The in-process runtime: the one model path (local models, upstreams, routers, fallbacks and
    the tool-call adapter, so tools work on every model)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def chat(self, model: str, messages: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
        return await self.runtime.chat(model, messages, **params)

    def stream(self, model: str, messages: list[dict[str, Any]], **params: Any) -> AsyncIterator[dict[str, Any]]:
        return self.runtime.stream(model, messages, **params)

    async def embed(self, model: str, texts: list[str]) -> np.ndarray:
        return await self.runtime.embed(model, texts)

    async def transcribe(self, model: str, audio: bytes, **options: Any) -> dict[str, Any]:
        """Speech to text (a speech model): the whole result, in OpenAI's ``verbose_json`` shape."""
        result: dict[str, Any] = {}
        async for event in self.runtime.transcribe(model, audio, **options):
            if event.pop("type") == "result":
                event.pop("queue_ms", None)
                result = event
        return result

    async def aclose(self) -> None:
        await self.runtime.close()


class RemoteClient:
    """Any OpenAI-compatible endpoint (a ``cupola serve``, Ollama, vLLM, Foundry Local, ...)."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 600) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        url = base_url.rstrip("/")
        self.base_url = url if url.endswith("/v1") else url + "/v1"
        self.http = OpenAIHTTP(self.base_url, headers=headers, timeout=timeout, name=f"the server at {self.base_url}",
                               hint="is the server running there? (`cupola serve`; or check the URL)")

    async def chat(self, model: str, messages: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
        return await self.http.post("/chat/completions", {"model": model, "messages": messages, **params})

    async def stream(self, model: str, messages: list[dict[str, Any]], **params: Any) -> AsyncIterator[dict[str, Any]]:
        body = {"model": model, "messages": messages, **params, "stream": True}
        async for chunk in self.http.events("/chat/completions", body):
            yield chunk

    async def embed(self, model: str, texts: list[str]) -> np.ndarray:
        data = await self.http.post("/embeddings", {"model": model, "input": texts})
        rows = sorted(data["data"], key=lambda d: d["index"])
        return np.array([r["embedding"] for r in rows], dtype=np.float32)

    async def transcribe(self, model: str, audio: bytes, *, filename: str = "audio", **options: Any) -> dict[str, Any]:
        """Speech to text on the server (``/audio/transcriptions``, verbose_json)."""
        fields = {"model": model, "response_format": "verbose_json",
                  **{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in options.items() if v is not None}}
        return await self.http.upload("/audio/transcriptions", fields, {"file": (filename, audio)})

    async def aclose(self) -> None:
        await self.http.aclose()


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
