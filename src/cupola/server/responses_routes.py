"""OpenAI Responses API routes: create (streaming or not), get, delete, list input items."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field, WithJsonSchema, field_validator

from cupola.errors import InvalidParameter
from cupola.responses import grounded
from cupola.responses.service import ResponsesService
from cupola.server import limits, schema_checks
from cupola.server.json_types import StrictJSON
from cupola.server.kb_schemas import KnowledgeOption
from cupola.server.openai_schemas import RESPONSES_TOOL, Duration, check_duration, check_tools
from cupola.server.streaming import prefetch, sse

router = APIRouter(prefix="/v1/responses", tags=["OpenAI Responses"])


_TEXT = {"anyOf": [{"type": "string"}, {"type": "array", "items": {
    "type": "object", "required": ["type"], "properties": {
        "type": {"enum": ["input_text", "output_text", "text"]}, "text": {"type": "string"}}}}]}
INPUT_ITEM = {"anyOf": [
    {"type": "object", "required": ["role", "content"], "properties": {
        "type": {"const": "message"}, "role": {"enum": ["user", "assistant", "system", "developer"]},
        "content": _TEXT}},
    {"type": "object", "required": ["type", "call_id", "name", "arguments"], "properties": {
        "type": {"const": "function_call"}, "call_id": {"type": "string"}, "name": {"type": "string"},
        "arguments": {"type": "string"}}},
    {"type": "object", "required": ["type", "call_id"], "properties": {
        "type": {"const": "function_call_output"}, "call_id": {"type": "string"}}}]}
"""The input items ``responses.convert.normalize_input`` accepts, for the document."""


AGENT = {"anyOf": [{"type": "string", "minLength": 1}, {"type": "object", "required": ["name"], "properties": {
    "name": {"type": "string", "minLength": 1}, "type": {"const": "agent_reference"}}}]}


class CreateResponse(StrictJSON):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False, strict=True, json_schema_extra={
        "anyOf": [{"required": ["model"], "properties": {"model": {"type": "string"}}},  # a model,
                  {"required": ["agent"], "properties": {"agent": AGENT}}]})  # or a hosted agent

    model: str | None = Field(None, min_length=1, description="Required unless `agent` names a hosted agent")
    agent: Annotated[str | dict[str, Any] | None, WithJsonSchema({"anyOf": [AGENT, {"type": "null"}]})] = Field(
        None, description="A hosted agent: its name or {\"name\": ..., \"type\": \"agent_reference\"}")
    input: Annotated[str | list[dict[str, Any]], WithJsonSchema(
        {"anyOf": [{"type": "string"}, {"type": "array", "items": INPUT_ITEM}]})]
    instructions: str | None = None
    tools: Annotated[list[dict[str, Any]] | None, WithJsonSchema(
        {"anyOf": [{"type": "array", "items": RESPONSES_TOOL}, {"type": "null"}]})] = None
    tool_choice: Literal["auto", "none", "required"] | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    text: dict[str, Any] | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_output_tokens: int | None = Field(None, ge=1)
    store: bool = True
    previous_response_id: str | None = None
    metadata: Annotated[dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=512)]],
                        Field(max_length=16)] | None = Field(None, description="Up to 16 pairs: keys up to 64, "
                                                             "values up to 512 characters")
    stream: bool = False
    keep_alive: Duration | None = None
    knowledge: KnowledgeOption | None = Field(
        None, description="Cupola extension: ground the answer in a knowledge base; its sentences get file_citation "
        "annotations for the sources that support them (max_output_tokens defaults to 256)")

    @field_validator("keep_alive", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> Any:
        return check_duration(v)

    @field_validator("input", mode="before")
    @classmethod
    def _input_limit(cls, v: Any) -> Any:
        return limits.check_count(v, "messages", limits.current().max_messages)

    @field_validator("tools", mode="before")
    @classmethod
    def _tools_limit(cls, v: Any) -> Any:
        return check_tools(limits.check_depth(limits.check_count(v, "tools", limits.current().max_tools),
                                               "a tool's schema"))

    @field_validator("text", mode="before")
    @classmethod
    def _text_schema(cls, v: Any) -> Any:
        limits.check_depth(v, "text.format's JSON schema")
        fmt = v.get("format") if isinstance(v, dict) else None
        if isinstance(fmt, dict) and isinstance(fmt.get("schema"), dict):
            schema_checks.check(fmt["schema"], "text.format's JSON schema")
        return v



def service_of(request: Request) -> ResponsesService:
    return request.app.state.responses


@router.post("", summary="Create a model response (streaming with stream=true)")
async def create(body: CreateResponse, request: Request):
    service = service_of(request)
    req = body.model_dump(exclude_none=True)
    req.setdefault("agent", (body.model_extra or {}).get("agent_reference"))
    keep_alive = req.pop("keep_alive", None)
    hosted = request.app.state.hosted
    if hosted.wants(req):  # an agent, Cupola's built-in tools, or an approval: tools run on the server
        if body.knowledge is not None:
            raise InvalidParameter("knowledge grounds a plain model answer; an agent or Cupola's tools search a "
                                   "base with the search_knowledge tool instead", param="knowledge")
        plan = hosted.plan(req)
        if not body.stream:
            return JSONResponse(await hosted.create(plan))
        events = hosted.stream(plan)
    else:
        req.pop("agent", None)
        if not body.model:
            raise InvalidParameter("missing required parameter: model (or name a hosted agent with `agent`)",
                                   param="model")
        req.pop("knowledge", None)
        prep = service.prepare(req)
        if body.knowledge is not None:
            await grounded.ground(request.app.state.knowledge, prep, body.knowledge.base, body.knowledge.options())
        if not body.stream:
            return JSONResponse(await service.create(prep, keep_alive))
        events = service.stream(prep, keep_alive)
    return sse(await prefetch(events), done=False, named=True)


@router.get("/{response_id}", summary="Get a stored response")
async def get(response_id: str, request: Request) -> dict[str, Any]:
    return service_of(request).get(response_id)


@router.delete("/{response_id}", summary="Delete a stored response")
async def delete(response_id: str, request: Request) -> dict[str, Any]:
    return service_of(request).delete(response_id)


@router.get("/{response_id}/input_items", summary="The input items of a stored response")
async def input_items(response_id: str, request: Request, limit: int = 20, order: Literal["asc", "desc"] = "desc",
                      after: str | None = None) -> dict[str, Any]:
    items = service_of(request).input_items(response_id)
    if order == "desc":
        items = list(reversed(items))
    if after:
        ids = [i["id"] for i in items]
        items = items[ids.index(after) + 1:] if after in ids else []
    page = items[:max(1, min(limit, 100))]
    return {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None, "has_more": len(items) > len(page)}
