"""OpenAI-compatible routes: /v1/models, /v1/chat/completions, /v1/completions, /v1/embeddings.

Routes only translate: validate the body (pydantic), call the runtime (the one model path), shape
the answer. Every answer from a model carries the header ``x-cupola-route``: which model answered,
where it ran, and why (a router's choice, a fallback).
"""

from __future__ import annotations

import base64
from contextlib import aclosing
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from cupola.errors import InvalidParameter
from cupola.knowledge import grounding
from cupola.runtime.runtime import Runtime
from cupola.server.kb_schemas import KnowledgeOption
from cupola.server.openai_schemas import ChatCompletionRequest, CompletionRequest, EmbeddingRequest
from cupola.server.streaming import sse

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])
ROUTE_HEADER = "x-cupola-route"


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


async def _generate(request: Request, endpoint: str, body: dict[str, Any], model: str, stream: bool,
                    keep_alive: Any, knowledge: KnowledgeOption | None = None):
    runtime = runtime_of(request)
    grounded = None
    if knowledge is not None:
        body = grounding.defaults(body)
        body["messages"], grounded = await grounding.ground(request.app.state.knowledge, knowledge.base,
                                                            knowledge.options(), body["messages"])
    if not stream:
        done = await runtime.complete(model, body, endpoint=endpoint, keep_alive=keep_alive)
        response = done.response
        if grounded is not None:
            response = await grounding.cite(request.app.state.knowledge, response, grounded)
        return JSONResponse(response, headers={ROUTE_HEADER: done.route.header()})
    streamed = await runtime.open_stream(model, body, endpoint=endpoint, keep_alive=keep_alive)
    chunks = _closing(streamed)
    if grounded is not None:
        chunks = grounding.cite_stream(request.app.state.knowledge, chunks, grounded)
    return sse(chunks, headers={ROUTE_HEADER: streamed.route.header()})


async def _closing(streamed: Any):
    async with aclosing(streamed):
        async for chunk in streamed:
            yield chunk


@router.get("/models", summary="List the models this server can answer with")
async def list_models(request: Request) -> dict[str, Any]:
    return {"object": "list", "data": [{"object": "model", **m} for m in runtime_of(request).describe_models()]}


@router.get("/models/{model}", summary="Describe one model")
async def get_model(model: str, request: Request) -> dict[str, Any]:
    runtime = runtime_of(request)
    for m in runtime.describe_models():
        if m["id"] == model:
            return {"object": "model", **m}
    info = runtime.store.info(model)  # a catalog model that is not pulled yet (404 when unknown)
    return {"id": model, "object": "model", "created": 0, "owned_by": "cupola", "kind": info.entry.kind,
            "location": "local", "pulled": False}


@router.post("/chat/completions", summary="Create a chat completion (streaming with stream=true)")
async def chat_completions(body: ChatCompletionRequest, request: Request):
    return await _generate(request, "chat", body.engine_body(), body.model, body.stream, body.keep_alive,
                           body.knowledge)


@router.post("/completions", summary="Create a text completion")
async def completions(body: CompletionRequest, request: Request):
    return await _generate(request, "completion", body.engine_body(), body.model, body.stream, body.keep_alive)


@router.post("/embeddings", summary="Embed one string or a list of strings")
async def embeddings(body: EmbeddingRequest, request: Request) -> dict[str, Any]:
    texts = [body.input] if isinstance(body.input, str) else list(body.input)
    result = await runtime_of(request).embeddings(body.model, texts, keep_alive=body.keep_alive,
                                                  truncate=body.truncate)
    vectors = result.vectors
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
            "usage": {"prompt_tokens": result.tokens, "total_tokens": result.tokens}}
