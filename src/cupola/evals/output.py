"""What a target produced for one test: the text and everything assertions look at."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Output:
    text: str = ""
    value: Any = None  # the structured answer (parsed JSON) when the target gives one
    prompt: str = ""  # the rendered prompt (the user's input to the target)
    messages: list[dict[str, Any]] = field(default_factory=list)  # what the model was sent
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # {"name", "arguments"} in call order
    turns: int = 1
    sources: list[dict[str, Any]] = field(default_factory=list)  # retrieved sources: n, doc_id, title, text
    citations: list[dict[str, Any]] = field(default_factory=list)  # the sources the answer cites as [n]
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float = 0.0
    model: str | None = None
    contract_id: str | None = None
    cached: bool = False
    cost: float | None = None
    model_calls: int = 0

    def parsed(self) -> Any:
        """The output as JSON: the structured value, or the text parsed (ValueError if it is not JSON)."""
        if self.value is not None:
            return self.value
        return json.loads(self.text)

    @property
    def total_tokens(self) -> int | None:
        if self.prompt_tokens is None and self.completion_tokens is None:
            return None
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["messages"] = data["messages"][-4:]  # enough to see the prompt; full transcripts are large
        data["sources"] = [{k: s.get(k) for k in ("n", "doc_id", "title", "text") if k in s} for s in self.sources]
        return data
