"""Plain Python functions as tools: the JSON schema from type hints, ``Annotated`` descriptions
and the docstring; arguments validated with pydantic before the call.

    @tool
    def get_weather(city: Annotated[str, "City name"], unit: Literal["C", "F"] = "C") -> str:
        '''Current weather for a city.'''

Descriptions come from ``Annotated[T, "text"]`` or ``Annotated[T, Field(description=...)]``, or
from a Google-style ``Args:`` section of the docstring. Sync functions run on a worker thread,
async ones are awaited. The result is given to the model as text (JSON for anything but ``str``).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.fields import FieldInfo

from cupola.naming import is_tool_name
from cupola.errors import InvalidParameter, UsageError



class ToolArgumentsError(InvalidParameter):
    """The model called a tool with arguments that do not fit its schema."""


@dataclass
class FunctionTool:
    name: str
    description: str
    parameters: dict[str, Any]
    func: Callable[..., Any]
    arguments: type[BaseModel]
    needs_approval: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)

    def schema(self) -> dict[str, Any]:
        """The OpenAI chat-completions tool definition."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.parameters}}

    def parse(self, arguments: str | dict[str, Any] | None) -> dict[str, Any]:
        try:
            raw = json.loads(arguments) if isinstance(arguments, str) else (arguments or {})
        except json.JSONDecodeError as exc:
            raise ToolArgumentsError(f"{self.name}: the arguments are not JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise ToolArgumentsError(f"{self.name}: the arguments must be a JSON object")
        try:
            return dict(self.arguments.model_validate(raw))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                                 for e in exc.errors())
            raise ToolArgumentsError(f"{self.name}: {problems}") from exc

    async def call(self, arguments: str | dict[str, Any] | None) -> Any:
        kwargs = self.parse(arguments)
        if inspect.iscoroutinefunction(self.func):
            return await self.func(**kwargs)
        return await asyncio.to_thread(self.func, **kwargs)

    async def __call__(self, arguments: str | dict[str, Any] | None = None) -> str:
        return as_text(await self.call(arguments))


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return json.dumps(value, default=str, ensure_ascii=False)


def _doc_parts(doc: str) -> tuple[str, dict[str, str]]:
    """The description (text before ``Args:``) and per-argument descriptions from a docstring."""
    doc = inspect.cleandoc(doc or "")
    section = re.search(r"^[A-Z][A-Za-z ]*:\s*$", doc, flags=re.M)  # Args:, Returns:, Raises: ...
    head = doc[:section.start()] if section else doc
    args = re.search(r"^(Args|Arguments|Parameters):\s*$", doc, flags=re.M)
    rest = doc[args.end():] if args else ""
    params: dict[str, str] = {}
    current, indent = None, None
    for line in rest.splitlines():
        if not line.strip():
            continue
        if re.match(r"^\S", line):  # a new section (Returns:, Raises:) ends Args
            break
        depth = len(line) - len(line.lstrip())
        indent = depth if indent is None else indent
        m = re.match(r"^\s+(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$", line) if depth == indent else None
        if m:
            current = m.group(1)
            params[current] = m.group(2).strip()
        elif current:
            params[current] += " " + line.strip()
    return " ".join(head.split()), params


def function_tool(func: Callable[..., Any], *, name: str | None = None, description: str | None = None,
                  needs_approval: bool = False) -> FunctionTool:
    """Build a :class:`FunctionTool` from a function's signature and docstring."""
    if isinstance(func, FunctionTool):
        return func
    tool_name = name or func.__name__
    if not is_tool_name(tool_name):
        raise UsageError(f"{tool_name!r} is not a valid tool name (1-64 letters, digits, '_', '.' or '-')")
    summary, arg_docs = _doc_parts(func.__doc__ or "")
    hints = get_type_hints(func, include_extras=True)
    fields: dict[str, Any] = {}
    for pname, param in inspect.signature(func).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise UsageError(f"tool {tool_name}: *args and **kwargs cannot be described to a model")
        annotation = hints.get(pname, str)
        described: str | None = None
        declared: FieldInfo | None = None
        if get_origin(annotation) is Annotated:
            annotation, *extras = get_args(annotation)
            for extra in extras:
                if isinstance(extra, str):
                    described = extra
                elif isinstance(extra, FieldInfo):
                    declared = extra
        default = ... if param.default is inspect.Parameter.empty else param.default
        text = described or (declared.description if declared else None) or arg_docs.get(pname)
        info = Field(default, description=text)
        if declared is not None:
            info = FieldInfo.merge_field_infos(declared, info)
        fields[pname] = (annotation, info)
    model = create_model(f"{tool_name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)
    return FunctionTool(tool_name, description or summary or tool_name.replace("_", " "),
                        _clean_schema(model.model_json_schema()), func, model, needs_approval)


def tool(func: Callable[..., Any] | None = None, *, name: str | None = None, description: str | None = None,
         needs_approval: bool = False) -> Any:
    """Decorator form of :func:`function_tool` (``@tool`` or ``@tool(needs_approval=True)``)."""
    def wrap(f: Callable[..., Any]) -> FunctionTool:
        return function_tool(f, name=name, description=description, needs_approval=needs_approval)

    return wrap(func) if func is not None else wrap


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's ``title`` keys (noise in a prompt); keep everything else."""
    if isinstance(schema, dict):
        return {k: _clean_schema(v) for k, v in schema.items() if k != "title" or not isinstance(v, str)}
    if isinstance(schema, list):
        return [_clean_schema(v) for v in schema]  # type: ignore[return-value]
    return schema
