"""OpenAI-compatible routes: /v1/models, /v1/chat/completions, /v1/completions, /v1/embeddings.

Routes only translate: validate the body (pydantic), call the runtime, shape the answer.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from cupola.errors import InvalidParameter
from cupola.knowledge.service import citations, public_source
from cupola.runtime.runtime import Runtime
from cupola.tools import chat as tool_chat
from cupola.server.kb_schemas import KnowledgeOption
from cupola.server.streaming import prefetch, sse
from cupola.server.openai_schemas import ChatCompletionRequest, CompletionRequest, EmbeddingRequest

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


async def _generate(request: Request, endpoint: str, body: dict[str, Any], model: str, stream: bool,
                    keep_alive: Any, knowledge: KnowledgeOption | None = None):
    runtime = runtime_of(request)
    grounding = None
    if knowledge is not None:
        body = dict(body)
        body["messages"], grounding = await _ground(request, knowledge, body["messages"])
    if endpoint == "chat":  # tool-aware: the adapter makes tool calls work on every model
        if not stream:
            response = await tool_chat.generate(runtime, model, body, keep_alive=keep_alive)
            if grounding is not None:
                content = (response["choices"][0]["message"].get("content") or "") if response["choices"] else ""
                response["knowledge"] = {**grounding, "citations": citations(content, grounding["sources"])}
            return JSONResponse(response)
        chunks = tool_chat.stream(runtime, model, body, keep_alive=keep_alive)
        if grounding is not None:
            chunks = _cite_stream(chunks, grounding)
    elif not stream:
        return JSONResponse(await runtime.generate(model, body, endpoint=endpoint, keep_alive=keep_alive))
    else:
        chunks = runtime.stream(model, body, endpoint=endpoint, keep_alive=keep_alive)
    return sse(await prefetch(chunks))


async def _ground(request: Request, option: KnowledgeOption,
                  messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    service = request.app.state.knowledge
    grounded, found = await service.grounded_messages(option.base, messages, option.options())
    return grounded, {"base": option.base, "mode": found["mode"], "fallback": found["fallback"],
                      "sources": [public_source(r) for r in found["results"]]}


async def _cite_stream(chunks: AsyncIterator[dict[str, Any]], grounding: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """Sources on the first chunk; the citations found in the answer on the chunk that finishes it."""
    parts: list[str] = []
    first = True
    async for chunk in chunks:
        if first:
            chunk = {**chunk, "knowledge": grounding}
            first = False
        for choice in chunk.get("choices") or []:
            parts.append((choice.get("delta") or {}).get("content") or "")
            if choice.get("finish_reason"):
                cited = citations("".join(parts), grounding["sources"])
                chunk = {**chunk, "knowledge": {**chunk.get("knowledge", {}), "citations": cited}}
        yield chunk


@router.get("/models", summary="List the models this server can answer with")
async def list_models(request: Request) -> dict[str, Any]:
    runtime = runtime_of(request)
    data = []
    for info in runtime.store.list():
        if info.pulled or info.entry.alias in runtime.models:
            data.append({"id": info.entry.alias, "object": "model",
                         "created": int(info.pulled_at or time.time()), "owned_by": "cupola",
                         "kind": info.entry.kind})
    return {"object": "list", "data": data}


@router.get("/models/{model}", summary="Describe one model")
async def get_model(model: str, request: Request) -> dict[str, Any]:
    info = runtime_of(request).store.info(model)
    return {"id": model, "object": "model", "created": int(info.pulled_at or time.time()),
            "owned_by": "cupola", "kind": info.entry.kind}


@router.post("/chat/completions", summary="Create a chat completion (streaming with stream=true)")
async def chat_completions(body: ChatCompletionRequest, request: Request):
    return await _generate(request, "chat", body.engine_body(), body.model, body.stream, body.keep_alive,
                           body.knowledge)


@router.post("/completions", summary="Create a text completion")
async def completions(body: CompletionRequest, request: Request):
    return await _generate(request, "completion", body.engine_body(), body.model, body.stream, body.keep_alive)


@router.post("/embeddings", summary="Embed one string or a list of strings")
async def embeddings(body: EmbeddingRequest, request: Request) -> dict[str, Any]:
    runtime = runtime_of(request)
    texts = [body.input] if isinstance(body.input, str) else list(body.input)
    vectors, tokens = await runtime.embed(body.model, texts, keep_alive=body.keep_alive)
    if body.dimensions is not None and body.dimensions != vectors.shape[1]:
        raise InvalidParameter(f"{body.model} returns {vectors.shape[1]} dimensions; it cannot "
                               f"shorten them to {body.dimensions}", param="dimensions")
    data = []
    for i, row in enumerate(vectors):
        if body.encoding_format == "base64":
            value: Any = base64.b64encode(row.astype("<f4").tobytes()).decode()
        else:
            value = row.astype(np.float64).round(7).tolist()
        data.append({"object": "embedding", "index": i, "embedding": value})
    return {"object": "list", "data": data, "model": body.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
