"""The eval file's shape: pydantic models for targets, tests, assertions and judges, and templates.

The minimal file::

    description: capitals
    targets:
      - model: smollm2-135m
        prompt: "Answer in one word. What is the capital of {country}?"
    tests:
      - vars: {country: France}
        assert:
          - {type: icontains, value: paris}

Templates fill ``{name}`` (or ``{name.field}``) from a test's ``vars``; any other brace is left
alone, so JSON examples in a prompt need no escaping (``{{`` and ``}}`` still give a literal brace).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_VAR = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\}")


def variables(template: Any) -> set[str]:
    """The top-level variable names a template (or a structure of templates) uses."""
    if isinstance(template, str):
        return {m.group(1).split(".")[0] for m in _VAR.finditer(template) if m.group(1)}
    if isinstance(template, dict):
        return set().union(*(variables(v) for v in template.values())) if template else set()
    if isinstance(template, (list, tuple)):
        return set().union(*(variables(v) for v in template)) if template else set()
    return set()


def _lookup(values: dict[str, Any], name: str) -> Any:
    value: Any = values
    for part in name.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(name)
    return value


def render(template: Any, values: dict[str, Any]) -> Any:
    """``template`` with every ``{var}`` filled (non-strings as JSON); lists and dicts recursively.

    A string that is exactly one ``{var}`` becomes the variable's value itself (a list stays a
    list), so ``value: "{expected}"`` can carry any JSON value from a dataset.
    """
    if isinstance(template, str):
        whole = _VAR.fullmatch(template)
        if whole and whole.group(1):
            return _lookup(values, whole.group(1))

        def fill(match: re.Match) -> str:
            if not match.group(1):
                return match.group(0)[0]
            value = _lookup(values, match.group(1))
            return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

        return _VAR.sub(fill, template)
    if isinstance(template, dict):
        return {k: render(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, values) for v in template]
    return template


def render_text(template: str, values: dict[str, Any]) -> str:
    value = render(template, values)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


# -- judges ----------------------------------------------------------------------------------

class JudgeSpec(BaseModel):
    """The model that grades (any alias: local, upstream, router) and its sampling settings."""

    model_config = ConfigDict(extra="forbid")

    model: str
    settings: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _alias(cls, data: Any) -> Any:
        return {"model": data} if isinstance(data, str) else data


# -- targets ---------------------------------------------------------------------------------

class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "developer", "user", "assistant"]
    content: str


class HostedSpec(BaseModel):
    """A hosted agent: called by name through a server's Responses API."""

    model_config = ConfigDict(extra="forbid")

    agent: str
    url: str | None = Field(None, description="The server (default: the running `cupola serve`, or --url)")
    api_key: str | None = None


class KnowledgeSpec(BaseModel):
    """Knowledge-grounded chat: search ``base`` for the prompt, answer from the numbered sources."""

    model_config = ConfigDict(extra="forbid")

    base: str
    k: int = Field(4, ge=1, le=50)
    mode: Literal["lexical", "semantic", "hybrid"] = "hybrid"
    budget_tokens: int = Field(1200, ge=64)
    documents: str | None = Field(None, description="A folder or file ingested into the base before the run "
                                  "(created if missing; unchanged documents are skipped)")


class Cost(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: float = Field(0.0, ge=0, description="Price per million prompt tokens")
    output: float = Field(0.0, ge=0, description="Price per million completion tokens")


class TargetSpec(BaseModel):
    """One variant: a model with a prompt, a YAML agent, a hosted agent, a workflow or grounded chat."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:#@/+-]{0,79}$")
    description: str = ""
    model: str | None = None
    prompt: str | list[Message] | None = None
    system: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    agent: str | None = None
    hosted: HostedSpec | None = None
    workflow: str | None = None
    knowledge: KnowledgeSpec | None = None
    approve: bool = Field(True, description="Workflows: the decision at approval steps")
    cost: Cost | None = None
    timeout: float | None = Field(None, gt=0)

    @property
    def kind(self) -> str:
        for kind in ("agent", "hosted", "workflow", "knowledge"):
            if getattr(self, kind) is not None:
                return kind
        return "model"

    @model_validator(mode="after")
    def _one_kind(self) -> "TargetSpec":
        kinds = [k for k in ("agent", "hosted", "workflow", "knowledge") if getattr(self, k) is not None]
        if len(kinds) > 1:
            raise ValueError(f"a target is one of model, agent, hosted, workflow or knowledge, not "
                             f"{' and '.join(kinds)}")
        if not kinds:
            if not self.model:
                raise ValueError("a target needs `model` (with `prompt`), or `agent`, `hosted`, `workflow` "
                                 "or `knowledge`")
            if self.prompt is None:
                raise ValueError("a model target needs a `prompt` template, e.g. prompt: \"{question}\"")
        if kinds and kinds[0] in ("agent", "hosted", "workflow") and (self.system or isinstance(self.prompt, list)):
            raise ValueError(f"a {kinds[0]} target takes its input from `prompt` (a string template); "
                             "its instructions come from the agent")
        if kinds and kinds[0] in ("hosted", "workflow") and self.model:
            raise ValueError(f"a {kinds[0]} target brings its own model; remove `model`")
        if "seed" in self.settings and not isinstance(self.settings["seed"], int):
            raise ValueError("settings.seed must be an integer")
        return self

    def templates(self) -> list[Any]:
        return [self.prompt if not isinstance(self.prompt, list) else [m.content for m in self.prompt],
                self.system]


# -- assertions ------------------------------------------------------------------------------

class AssertionSpec(BaseModel):
    """One check. ``type`` may start with ``not-`` (negation); type-specific options are extra keys,
    checked against the type's own options when the file is loaded."""

    model_config = ConfigDict(extra="allow")

    type: str
    value: Any = None
    weight: float = Field(1.0, ge=0)
    threshold: float | None = None
    path: str | None = Field(None, description="Check this field of a JSON output (dotted: `a.b.0`)")
    judge: JudgeSpec | None = None
    name: str | None = None

    @field_validator("type")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.strip().lower()

    @property
    def negated(self) -> bool:
        return self.type.startswith("not-")

    @property
    def base_type(self) -> str:
        return self.type[4:] if self.negated else self.type

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def label(self) -> str:
        if self.name:
            return self.name
        shown = self.value if not isinstance(self.value, str) or len(self.value) <= 40 else self.value[:37] + "..."
        return self.type if shown is None else f"{self.type} {json.dumps(shown, ensure_ascii=False)}"


class DefaultSpec(BaseModel):
    """Applied to every test: assertions added, vars and metadata as defaults."""

    model_config = ConfigDict(extra="forbid")

    vars: dict[str, Any] = Field(default_factory=dict)
    assert_: list[AssertionSpec] = Field(default_factory=list, alias="assert")
    metadata: dict[str, Any] = Field(default_factory=dict)
    threshold: float | None = Field(None, ge=0, le=1)


class CaseSpec(BaseModel):
    """One test: vars for the templates, assertions, metadata (``category``, ``tags``, ...)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:#@/+-]{0,79}$")
    description: str = ""
    vars: dict[str, Any] = Field(default_factory=dict)
    assert_: list[AssertionSpec] = Field(default_factory=list, alias="assert")
    metadata: dict[str, Any] = Field(default_factory=dict)
    threshold: float | None = Field(None, ge=0, le=1, description="Pass when the weighted score reaches this, "
                                    "instead of when every assertion passes")


class DatasetRef(BaseModel):
    """Tests from a JSONL, CSV or YAML file (a golden set)."""

    model_config = ConfigDict(extra="forbid")

    file: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class EvalSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    description: str = ""
    targets: list[TargetSpec] = Field(..., min_length=1)
    tests: list[Any] | str = Field(..., description="Tests (inline, or `{file: ...}` datasets), or a dataset file")
    default: DefaultSpec = Field(default_factory=DefaultSpec)
    judge: JudgeSpec | None = None
    repeat: int = Field(1, ge=1, le=1000)
    seed: int = 0
    concurrency: int | None = Field(None, ge=1, le=256)
    timeout: float = Field(300.0, gt=0, description="Seconds per cell (one target on one test, one repeat)")
    min_pass_rate: float | None = Field(None, ge=0, le=1)
