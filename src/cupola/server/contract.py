"""The OpenAPI contract: every status each route can return, with the OpenAI error body's schema.

FastAPI documents a route's success and a 422 it never sends here (validation errors are 400s with an
OpenAI error body). :func:`install` replaces the app's ``openapi()`` with one that, for every
operation,

* drops the 422 and declares the statuses the route can answer with — the ones every route can
  (400 bad JSON or parameters, 401/403 keys and scopes, 413 body too large, 500) plus its own
  (:data:`STATUSES`: 404 unknown things, 409 already exists, and for routes a model answers 429 busy
  with ``Retry-After``, 502/503/504 upstream or engine failures) — each with :class:`ErrorResponse`;
* declares the media types it streams (``text/event-stream``, ``application/x-ndjson``) and that
  ``/metrics`` is Prometheus text;
* adds OpenAPI links where one answer names the next request's resource (a created knowledge base →
  its documents, search, ask and delete; a created response → get, input items and delete), so
  stateful fuzzers can chain them.

Clients and fuzzers can then rely on the document: a status or a body shape it does not declare is a
bug (``tests/test_contract.py`` and ``bench/fuzz_api.py`` check it with schemathesis).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    message: str = Field(..., description="What went wrong, and how to fix it where Cupola knows")
    type: str = Field(..., description="invalid_request_error | authentication_error | permission_error | "
                      "rate_limit_error | server_error")
    param: str | None = Field(None, description="The request parameter at fault, if any")
    code: str | None = Field(None, description="A stable machine-readable code, e.g. model_not_found, overloaded")


class ErrorResponse(BaseModel):
    """The OpenAI error body every 4xx and 5xx answer carries."""

    error: ErrorDetail


DESCRIPTIONS = {
    400: "Invalid request: a body that is not JSON, a parameter missing or out of range, a prompt or input "
         "longer than the model takes, a model of the wrong kind",
    401: "An API key is required (keys exist, or the server is off loopback) and none or an unknown one was sent",
    403: "The API key's scope does not allow this route",
    404: "Not found: an unknown model, knowledge base, document, response, agent, workflow or run",
    409: "Conflict: it already exists, or it is not in a state that allows this",
    413: "The request body (or upload) is larger than the server accepts (max_body_bytes, max_upload_bytes)",
    429: "The model is busy: a request now would wait longer than max_queue_wait (or the queue is full); "
         "retry after Retry-After seconds",
    500: "An unexpected failure of the server or an engine",
    502: "An upstream server or a model source failed (a download, an upstream's own error)",
    503: "The model cannot be reached or loaded now (an upstream down, its circuit breaker open)",
    504: "An upstream sent no token within its timeout",
}
COMMON = (400, 401, 403, 413, 500)
MODEL = (404, 429, 502, 503, 504)  # routes a model answers (directly, through knowledge, agents or workflows)

# (method, path) -> the statuses beyond COMMON. A route not listed gets MODEL (declaring more is safe).
STATUSES: dict[tuple[str, str], tuple[int, ...]] = {
    ("GET", "/health"): (503,),
    ("GET", "/metrics"): (),
    ("GET", "/v1/models"): (),
    ("GET", "/v1/models/{model}"): (404,),
    ("GET", "/v1/responses/{response_id}"): (404,),
    ("DELETE", "/v1/responses/{response_id}"): (404,),
    ("GET", "/v1/responses/{response_id}/input_items"): (404,),
    ("GET", "/api/agents"): (),
    ("GET", "/api/models"): (),
    ("GET", "/api/models/{alias}"): (404,),
    ("DELETE", "/api/models/{alias}"): (404,),
    ("POST", "/api/models/pull"): (404,),
    ("POST", "/api/models/{alias}/unload"): (404,),
    ("POST", "/api/models/{alias}/load"): MODEL,
    ("GET", "/api/ps"): (),
    ("GET", "/api/requests"): (),
    ("GET", "/api/kb"): (),
    ("POST", "/api/kb"): (404, 409),
    ("GET", "/api/kb/{name}"): (404,),
    ("DELETE", "/api/kb/{name}"): (404,),
    ("GET", "/api/kb/{name}/documents"): (404,),
    ("DELETE", "/api/kb/{name}/documents/{doc_id}"): (404,),
    ("GET", "/api/workflows"): (),
    ("GET", "/api/workflows/runs/{run_id}"): (404,),
    ("POST", "/api/workflows/runs/{run_id}/resume"): (*MODEL, 409),
}
STREAMS: dict[tuple[str, str], str] = {
    ("POST", "/v1/chat/completions"): "text/event-stream",
    ("POST", "/v1/completions"): "text/event-stream",
    ("POST", "/v1/responses"): "text/event-stream",
    ("POST", "/api/models/pull"): "application/x-ndjson",
    ("POST", "/api/kb/{name}/ask"): "application/x-ndjson",
    ("POST", "/api/workflows/{name}/runs"): "application/x-ndjson",
    ("POST", "/api/workflows/runs/{run_id}/resume"): "application/x-ndjson",
    ("POST", "/api/evals"): "application/x-ndjson",
}
_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
_HEADERS = {
    429: {"Retry-After": {"description": "Seconds after which the request is likely to be admitted",
                          "schema": {"type": "integer", "minimum": 1}}},
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
}
# (method, path of the answer) -> links: name -> (method, path of the next operation, parameters)
LINKS: dict[tuple[str, str], dict[str, tuple[str, str, dict[str, str]]]] = {
    ("POST", "/api/kb"): {
        "GetBase": ("GET", "/api/kb/{name}", {"name": "$response.body#/name"}),
        "AddDocuments": ("POST", "/api/kb/{name}/documents", {"name": "$response.body#/name"}),
        "ListDocuments": ("GET", "/api/kb/{name}/documents", {"name": "$response.body#/name"}),
        "Search": ("POST", "/api/kb/{name}/search", {"name": "$response.body#/name"}),
        "Ask": ("POST", "/api/kb/{name}/ask", {"name": "$response.body#/name"}),
        "DeleteBase": ("DELETE", "/api/kb/{name}", {"name": "$response.body#/name"}),
    },
    ("POST", "/v1/conversations"): {
        "GetConversation": ("GET", "/v1/conversations/{conversation_id}", {"conversation_id": "$response.body#/id"}),
        "UpdateConversation": ("POST", "/v1/conversations/{conversation_id}",
                               {"conversation_id": "$response.body#/id"}),
        "ListItems": ("GET", "/v1/conversations/{conversation_id}/items", {"conversation_id": "$response.body#/id"}),
        "AddItems": ("POST", "/v1/conversations/{conversation_id}/items", {"conversation_id": "$response.body#/id"}),
        "DeleteConversation": ("DELETE", "/v1/conversations/{conversation_id}",
                               {"conversation_id": "$response.body#/id"}),
    },
    ("POST", "/v1/conversations/{conversation_id}/items"): {
        "GetItem": ("GET", "/v1/conversations/{conversation_id}/items/{item_id}",
                    {"conversation_id": "$request.path.conversation_id", "item_id": "$response.body#/data/0/id"}),
        "DeleteItem": ("DELETE", "/v1/conversations/{conversation_id}/items/{item_id}",
                       {"conversation_id": "$request.path.conversation_id", "item_id": "$response.body#/data/0/id"}),
    },
    ("GET", "/v1/models"): {"GetModel": ("GET", "/v1/models/{model}", {"model": "$response.body#/data/0/id"})},
    ("GET", "/api/requests"): {
        "GetRequest": ("GET", "/api/requests/{request_id}", {"request_id": "$response.body#/requests/0/id"})},
    ("GET", "/api/traces"): {
        "GetTrace": ("GET", "/api/traces/{trace_id}", {"trace_id": "$response.body#/traces/0/trace_id"})},
    ("GET", "/api/workflows"): {
        "StartRun": ("POST", "/api/workflows/{name}/runs", {"name": "$response.body#/data/0/name"})},
    ("GET", "/api/workflows/runs"): {
        "GetRun": ("GET", "/api/workflows/runs/{run_id}", {"run_id": "$response.body#/data/0/id"}),
        "ResumeRun": ("POST", "/api/workflows/runs/{run_id}/resume", {"run_id": "$response.body#/data/0/id"})},
    ("GET", "/api/evals"): {
        "GetEvalRun": ("GET", "/api/evals/{run_id}", {"run_id": "$response.body#/data/0/id"}),
        "EvalReport": ("GET", "/api/evals/{run_id}/report", {"run_id": "$response.body#/data/0/id"}),
        "DeleteEvalRun": ("DELETE", "/api/evals/{run_id}", {"run_id": "$response.body#/data/0/id"})},
    ("POST", "/v1/responses"): {
        "GetResponse": ("GET", "/v1/responses/{response_id}", {"response_id": "$response.body#/id"}),
        "InputItems": ("GET", "/v1/responses/{response_id}/input_items", {"response_id": "$response.body#/id"}),
        "DeleteResponse": ("DELETE", "/v1/responses/{response_id}", {"response_id": "$response.body#/id"}),
    },
}


def statuses_of(method: str, path: str) -> tuple[int, ...]:
    """Every status ``method path`` declares, sorted (success statuses excluded)."""
    return tuple(sorted({*COMMON, *STATUSES.get((method.upper(), path), MODEL)}))


def document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with the contract applied."""
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorResponse"] = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(components["ErrorResponse"].pop("$defs", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    operation_ids = {(m.upper(), p): op.get("operationId") for p, ops in schema["paths"].items()
                     for m, op in ops.items()}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            key = (method.upper(), path)
            for media in ((operation.get("requestBody") or {}).get("content") or {}).values():
                components.update((media.get("schema") or {}).pop("$defs", {}))  # hand-written bodies' models
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status in statuses_of(*key):
                if key == ("GET", "/health") and status == 503:
                    responses["503"] = {"description": "Models are still loading",
                                        "content": {"application/json": {"schema": {"type": "object"}}}}
                    continue
                entry: dict[str, Any] = {"description": DESCRIPTIONS[status],
                                         "content": {"application/json": {"schema": _ERROR_REF}}}
                if status in _HEADERS:
                    entry["headers"] = _HEADERS[status]
                responses[str(status)] = entry
            success = next((s for s in ("200", "201") if s in responses), None)
            if success is not None:
                content = responses[success].setdefault("content", {})
                if key in STREAMS:
                    content[STREAMS[key]] = {"schema": {"type": "string"}}
                if key == ("GET", "/metrics"):
                    responses[success]["content"] = {"text/plain": {"schema": {"type": "string"}}}
                links = {name: {"operationId": operation_ids[(m, p)], "parameters": params}
                         for name, (m, p, params) in LINKS.get(key, {}).items() if operation_ids.get((m, p))}
                if links:
                    responses[success]["links"] = links
    return schema


def install(app: FastAPI) -> None:
    """Serve the contract at ``/openapi.json`` (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the document lists for ``path`` (a 405's ``Allow``): every route of that path. A parameter
    is one segment; only when no template matches so may the last one span several (``{doc_id:path}``)."""
    paths = app.openapi()["paths"]
    for spans in (False, True):
        matching = [t for t in paths if _pattern(t, spans).match(path)]
        fewest = min((t.count("{") for t in matching), default=0)  # /api/models/pull, not /api/models/{alias}
        methods = {m.upper() for t in matching if t.count("{") == fewest for m in paths[t]}
        if methods:
            if "GET" in methods:
                methods.add("HEAD")
            return sorted(methods)
    return []


def _pattern(template: str, last_spans: bool) -> re.Pattern[str]:
    parts = re.split(r"({\w+})", template)
    out = ""
    for i, part in enumerate(parts):
        if part.startswith("{"):
            out += ".+" if last_spans and i == len(parts) - 2 and parts[-1] == "" else "[^/]+"
        else:
            out += re.escape(part)
    return re.compile(f"^{out}$")
