"""An agent: a name, instructions, a model, tools and (optionally) a structured output type."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from cupola.errors import UsageError
from cupola.tools.functions import FunctionTool, function_tool


@dataclass
class Agent:
    """``tools`` are plain functions (sync or async) or :class:`FunctionTool`\\ s; ``output_type``
    a pydantic model the final answer is validated into. ``settings`` are sampling parameters
    (``temperature``, ``top_p``, ``max_tokens``, ...); ``model=None`` uses the runner's default."""

    name: str
    instructions: str = ""
    model: str | None = None
    tools: Sequence[Callable[..., Any] | FunctionTool] = ()
    output_type: type[BaseModel] | dict[str, Any] | None = None  # a pydantic model or a JSON schema
    settings: dict[str, Any] = field(default_factory=dict)
    max_turns: int = 8
    description: str = ""
    mcp_servers: list[Any] = field(default_factory=list)  # MCPServerSpec: their tools join for each run

    def __post_init__(self) -> None:
        self.tools = [function_tool(t) for t in self.tools]
        names = [t.name for t in self.tools]
        if len(set(names)) != len(names):
            raise UsageError(f"agent {self.name}: two tools share a name: {names}")
        if self.max_turns < 1:
            raise UsageError(f"agent {self.name}: max_turns must be at least 1")

    @property
    def function_tools(self) -> list[FunctionTool]:
        return list(self.tools)  # type: ignore[arg-type]

    def tool(self, name: str) -> FunctionTool | None:
        return next((t for t in self.function_tools if t.name == name), None)
