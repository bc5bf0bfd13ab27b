"""Request bodies of the OpenAI-compatible API (validated with pydantic).

Only what Cupola understands is declared; unknown fields are accepted and ignored, as most
OpenAI-compatible servers do, so newer clients keep working. ``engine_body`` turns a validated
request into what the engine receives.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from cupola.config import parse_duration
from cupola.naming import TOOL_NAME
from cupola.server import limits, schema_checks
from cupola.server.json_types import StrictJSON
from cupola.server.kb_schemas import KnowledgeOption

# Fields passed to llama.cpp as they are, beyond the declared OpenAI ones.
_ENGINE_EXTRAS = ("top_k", "min_p", "repeat_penalty", "logit_bias", "logprobs", "top_logprobs", "ignore_eos")


# Unions are validated by the validators below (one clear message and parameter name each); these say the
# same in the OpenAPI document, so clients and fuzzers know what is accepted.
DURATION_PATTERN = r"^\s*-?(\d+(\.\d*)?|\.\d+)\s*([mM][sS]|[sSmMhH])?\s*$"
Duration = Annotated[str | int | float, BeforeValidator(lambda v: check_duration(v)), WithJsonSchema(
    {"anyOf": [{"type": "string", "pattern": DURATION_PATTERN}, {"type": "number"}]})]
"""A keep-alive: ``5m``, ``30s``, ``1h``, ``250ms`` or seconds (0: unload at once, negative: never)."""
_STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}}


class _Request(StrictJSON):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False, strict=True)

    model: str = Field(..., min_length=1, description="A model alias, e.g. smollm2-135m")
    keep_alive: Duration | None = Field(
        None, description="How long the model stays loaded after this request (e.g. 5m, 0, -1)")

    @field_validator("keep_alive", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> Any:
        return check_duration(v)


def check_duration(value: Any) -> Any:
    """A ``keep_alive`` value: a duration (``5m``, ``30s``, seconds) or None; NaN and infinity are not."""
    if value is not None and (not isinstance(value, (str, int, float)) or isinstance(value, bool)):
        raise ValueError("use a duration such as 5m, 30s, 0 or -1")
    if value is not None:
        parse_duration(value)
    return value


class _Sampling(_Request):
    @field_validator("stop")
    @classmethod
    def _stops(cls, v: str | list[str] | None) -> str | list[str] | None:
        if isinstance(v, list) and len(v) > 4:
            raise ValueError("at most 4 stop sequences")
        return v

    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    stop: Annotated[str | list[str] | None, WithJsonSchema(
        {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "maxItems": 4},
                   {"type": "null"}]})] = Field(None, description="Up to 4 stop sequences")
    seed: int | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    n: int | None = Field(None, ge=1, le=1, description="Only 1 choice is supported")
    stream: bool = False
    stream_options: StreamOptions | None = None

    def engine_body(self, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
        body = self.model_dump(exclude_none=True, exclude={"keep_alive", "n", *exclude})
        extras = self.model_extra or {}
        declared = set(type(self).model_fields)
        body = {k: v for k, v in body.items() if k in declared or k in _ENGINE_EXTRAS}
        body.update({k: v for k, v in extras.items() if k in _ENGINE_EXTRAS and v is not None})
        return body


class StreamOptions(StrictJSON):
    include_usage: bool = False


class TextPart(BaseModel):
    """A content part of a message (documented; messages check their parts themselves)."""

    model_config = ConfigDict(extra="allow")

    type: Literal["text"] = Field(..., description="Only text parts are supported")
    text: str = ""


class ChatMessage(StrictJSON):
    model_config = ConfigDict(extra="allow", strict=True, json_schema_extra={
        # what the validator below checks, said in the schema: content, unless the message carries tool calls
        "anyOf": [{"required": ["content"], "properties": {"content": {"not": {"type": "null"}}}},
                  {"required": ["tool_calls"], "properties": {"tool_calls": {"type": "array", "minItems": 1}}}]})

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Annotated[str | list[dict[str, Any]] | None, WithJsonSchema({"anyOf": [
        {"type": "string"}, {"type": "array", "items": TextPart.model_json_schema()}, {"type": "null"}]})] = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _content(self) -> "ChatMessage":
        if self.content is None and not self.tool_calls:
            raise ValueError(f"a {self.role} message needs content")
        if isinstance(self.content, list):
            for part in self.content:
                if part.get("type") != "text":
                    raise ValueError(f"content part type {part.get('type')!r} is not supported; "
                                     "only text parts are")
                if not isinstance(part.get("text", ""), str):
                    raise ValueError("a text part's text must be a string")
        return self


class JSONSchemaFormat(StrictJSON):
    name: str = Field(..., min_length=1, max_length=64)
    schema_: dict[str, Any] = Field(..., alias="schema")
    strict: bool | None = None
    description: str | None = None

    model_config = ConfigDict(populate_by_name=True, strict=True)

    @field_validator("schema_", mode="before")
    @classmethod
    def _depth(cls, v: Any) -> Any:
        return schema_checks.check(limits.check_depth(v, "the JSON schema"), "the JSON schema")


class ResponseFormat(StrictJSON):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema(self) -> "ResponseFormat":
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("response_format.type 'json_schema' needs a json_schema object")
        return self


_PARAMETERS = {"type": "object", "description": "A JSON Schema object"}
FUNCTION = {"type": "object", "required": ["name"], "properties": {
    "name": {"type": "string", "pattern": TOOL_NAME.pattern}, "description": {"type": "string"},
    "parameters": _PARAMETERS, "strict": {"type": "boolean"}}}
CHAT_TOOL = {"type": "object", "required": ["type", "function"],
             "properties": {"type": {"const": "function"}, "function": FUNCTION}}
RESPONSES_TOOL = {"type": "object", "required": ["type", "name"],
                  "properties": {"type": {"const": "function"}, **FUNCTION["properties"]}}
"""The tool shapes the runtime checks (``runtime.tool_adapter``, ``responses.convert``), for the document."""


class ChatCompletionRequest(_Sampling):
    messages: list[ChatMessage] = Field(..., min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    response_format: ResponseFormat | None = None
    tools: Annotated[list[dict[str, Any]] | None, WithJsonSchema(
        {"anyOf": [{"type": "array", "items": CHAT_TOOL}, {"type": "null"}]})] = None
    tool_choice: Literal["auto", "none", "required"] | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    knowledge: KnowledgeOption | None = Field(
        None, description="Cupola extension: ground the answer in a knowledge base (numbered sources, citations; "
        "max_tokens defaults to 256 and stop_loops to true)")
    stop_loops: bool | None = Field(
        None, description="Cupola extension: end the answer (finish_reason stop) where it starts repeating a sentence "
        "or a run of words (default: on with knowledge, else off)")

    @field_validator("messages", mode="before")
    @classmethod
    def _messages_limit(cls, v: Any) -> Any:
        return limits.check_count(v, "messages", limits.current().max_messages)

    @field_validator("tools", mode="before")
    @classmethod
    def _tools_limit(cls, v: Any) -> Any:
        return check_tools(limits.check_depth(limits.check_count(v, "tools", limits.current().max_tools),
                                               "a tool's schema"))

    def engine_body(self, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
        body = super().engine_body(exclude=("messages", "response_format", "max_completion_tokens", "knowledge",
                                            *exclude))
        if self.max_completion_tokens is not None:
            body["max_tokens"] = self.max_completion_tokens
        body["messages"] = [_engine_message(m) for m in self.messages]
        if self.response_format is not None and self.response_format.type != "text":
            body["response_format"] = self.response_format.model_dump(by_alias=True, exclude_none=True)
        return body


def check_tools(tools: Any) -> Any:
    """Tools whose parameters can match nothing are refused (their calls would be impossible)."""
    for tool in tools if isinstance(tools, list) else []:
        fn = tool.get("function") if isinstance(tool, dict) else None
        params = fn.get("parameters") if isinstance(fn, dict) else (tool.get("parameters") if isinstance(tool, dict)
                                                                   else None)
        if params is not None:
            name = (fn or tool).get("name", "?")
            schema_checks.check(params, f"the parameters of tool {name!r}")
    return tools


def _engine_message(message: ChatMessage) -> dict[str, Any]:
    data = message.model_dump(exclude_none=True)
    if data["role"] == "developer":  # chat templates know "system"
        data["role"] = "system"
    if isinstance(data.get("content"), list):
        data["content"] = "".join(part.get("text", "") for part in data["content"])
    return data


class CompletionRequest(_Sampling):
    prompt: Annotated[str | list[str], WithJsonSchema({"anyOf": [
        {"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 1}]})] = Field(
        ..., description="One prompt (a string, or a list of exactly one)")
    echo: bool | None = None
    suffix: Annotated[str | None, WithJsonSchema({"anyOf": [{"type": "string", "maxLength": 0}, {"type": "null"}]})] \
        = Field(None, description="Not supported (fill-in-the-middle): leave it out")

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, list) and len(v) != 1:
            raise ValueError("exactly one prompt per request is supported")
        return v

    @field_validator("suffix")
    @classmethod
    def _no_suffix(cls, v: str | None) -> str | None:
        if v:
            raise ValueError("suffix (fill-in-the-middle) is not supported")
        return v

    def engine_body(self, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
        body = super().engine_body(exclude=("prompt", "echo", "suffix", *exclude))
        body["prompt"] = self.prompt if isinstance(self.prompt, str) else self.prompt[0]
        body.setdefault("max_tokens", 16)  # the OpenAI default for completions
        return body


class EmbeddingRequest(_Request):
    input: Annotated[str | list[str], WithJsonSchema({"anyOf": [
        {"type": "string", "minLength": 1}, {**_STRINGS, "minItems": 1, "maxItems": 2048}]})] = Field(
        ..., description="A non-empty string, or a list of 1 to 2,048 of them")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)
    truncate: bool = Field(False, description="Cupola extension: embed only the first tokens of an input longer "
                           "than the model takes (its limit). Without it such an input is a 400 naming the limit "
                           "and the input's token count; nothing is cut silently")



    @field_validator("input")
    @classmethod
    def _non_empty(cls, v: str | list[str]) -> str | list[str]:
        items = [v] if isinstance(v, str) else v
        if not items:
            raise ValueError("input must not be an empty list")
        if len(items) > 2048:
            raise ValueError("at most 2048 inputs per request")
        if any(not s for s in items):
            raise ValueError("input strings must not be empty")
        return v


class ModelRef(StrictJSON):
    model: str = Field(..., min_length=1)
    keep_alive: Duration | None = None


class LoadRequest(StrictJSON):
    keep_alive: Duration | None = Field(None, description="How long it stays loaded when idle (e.g. 5m, 0, -1)")


_Sampling.model_rebuild()
ChatCompletionRequest.model_rebuild()
CompletionRequest.model_rebuild()
