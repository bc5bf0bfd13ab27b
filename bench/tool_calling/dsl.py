"""A small vocabulary for writing tool-calling cases by hand; ``build.py`` turns them into JSONL.

Functions are declared per domain with typed parameters::

    fx = Domain("finance")
    rate = fx.fn("fx.get_rate", "Latest exchange rate between two currencies.",
                 base=S("ISO 4217 code, e.g. USD"), quote=S("ISO 4217 code"),
                 date=S("YYYY-MM-DD; today when left out", opt=True))

and requests are written against them with the arguments a careful assistant would send::

    rate.ask("what's the dollar worth in yen right now", {"base": "USD", "quote": "JPY"}, "terse")

Argument values are compared exactly after normalising (numbers as numbers, strings stripped and
case-insensitive); free text gets a rule instead of a value: ``one_of(canonical, *alternatives)``,
``contains(canonical, needle, ...)`` (case-insensitive, every needle), ``unordered([...])`` for a
list whose order does not matter, ``may_omit(value)`` for an optional argument the user implied
but a careful assistant may also leave to its default. The canonical value is what goes into the
case's ``expected`` arguments (so it must validate against the schema).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# -- parameters ----------------------------------------------------------------------------------

@dataclass
class Param:
    schema: dict[str, Any]
    optional: bool = False


def _param(schema: dict[str, Any], desc: str | None, opt: bool, extra: dict[str, Any]) -> Param:
    if desc:
        schema["description"] = desc
    schema.update(extra)
    return Param(schema, opt)


def S(desc: str | None = None, *, opt: bool = False, **extra: Any) -> Param:
    """A string."""
    return _param({"type": "string"}, desc, opt, extra)


def N(desc: str | None = None, *, opt: bool = False, **extra: Any) -> Param:
    """A number (integers are numbers too)."""
    return _param({"type": "number"}, desc, opt, extra)


def I(desc: str | None = None, *, opt: bool = False, **extra: Any) -> Param:
    """An integer."""
    return _param({"type": "integer"}, desc, opt, extra)


def B(desc: str | None = None, *, opt: bool = False, **extra: Any) -> Param:
    """A boolean."""
    return _param({"type": "boolean"}, desc, opt, extra)


def E(values: list[Any], desc: str | None = None, *, opt: bool = False, **extra: Any) -> Param:
    """One of fixed values (strings or integers)."""
    kind = "integer" if all(isinstance(v, int) for v in values) else "string"
    return _param({"type": kind, "enum": list(values)}, desc, opt, extra)


def A(items: Param, desc: str | None = None, *, opt: bool = False, **extra: Any) -> Param:
    """An array of ``items``."""
    return _param({"type": "array", "items": items.schema}, desc, opt, extra)


def O(desc: str | None = None, *, opt: bool = False, **props: Param) -> Param:
    """A nested object; its parameters are required unless marked ``opt``."""
    return _param(_object(props), desc, opt, {})


def Obj(desc: str | None = None, *, opt: bool = False, **extra: Any) -> Param:
    """A free-form JSON object (no listed properties), e.g. a query filter."""
    return _param({"type": "object"}, desc, opt, extra)


def _object(props: dict[str, Param]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": {k: p.schema for k, p in props.items()}}
    required = [k for k, p in props.items() if not p.optional]
    if required:
        schema["required"] = required
    return schema


# -- argument rules ------------------------------------------------------------------------------

@dataclass
class Rule:
    """An argument value with a comparison rule other than plain equality."""

    value: Any
    rule: dict[str, Any]


def one_of(canonical: Any, *alternatives: Any) -> Rule:
    return Rule(canonical, {"any_of": [canonical, *alternatives]})


def contains(canonical: str, *needles: str) -> Rule:
    return Rule(canonical, {"contains": list(needles) or [canonical]})


def unordered(values: list[Any]) -> Rule:
    return Rule(values, {"unordered": True})


def may_omit(value: Any) -> Rule:
    return Rule(value, {"may_omit": True})


# -- functions and requests ----------------------------------------------------------------------

@dataclass
class Ask:
    """One user request and the call that answers it."""

    fn: Function
    text: str
    args: dict[str, Any]
    tags: tuple[str, ...]
    system: str | None = None
    history: list[dict[str, str]] | None = None
    category: str | None = None  # only in an added part (``Book.part``); None there means "single"


@dataclass
class Function:
    name: str
    description: str | None
    params: dict[str, Param]
    domain: str
    asks: list[Ask] = field(default_factory=list)
    avoid: set[str] = field(default_factory=set)  # functions that must not be offered as distractors
    part: str = ""  # "" for the first part of the book, else the name given to ``Book.part``

    def tool(self) -> dict[str, Any]:
        fn: dict[str, Any] = {"name": self.name}
        if self.description:
            fn["description"] = self.description
        fn["parameters"] = _object(self.params)
        return {"type": "function", "function": fn}

    def ask(self, text: str, args: dict[str, Any] | None = None, tags: str = "", *,
            system: str | None = None, history: list[dict[str, str]] | None = None,
            category: str | None = None) -> Ask:
        ask = Ask(self, text, args or {}, tuple(tags.split()), system, history, category)
        self.asks.append(ask)
        return ask


@dataclass
class NoCall:
    """A message no offered tool fits: small talk, or a question none of the tools answers."""

    text: str
    tools: list[Function] | None  # None: the build picks unrelated tools
    tags: tuple[str, ...]
    system: str | None = None
    history: list[dict[str, str]] | None = None


class Domain:
    """The functions of one domain, in the order written."""

    registry: dict[str, list[Domain]] = {}

    def __init__(self, name: str, book: str, part: str = "") -> None:
        self.name = name
        self.part = part
        self.functions: list[Function] = []
        Domain.registry.setdefault(book, []).append(self)

    def fn(self, name: str, description: str | None, /, **params: Param) -> Function:
        f = Function(name, description, params, self.name, part=self.part)
        self.functions.append(f)
        return f


def not_with(*functions: Function) -> None:
    """These functions could each answer the others' requests: never offer them together."""
    for f in functions:
        f.avoid.update(g.name for g in functions if g is not f)


class Book:
    """All the functions, requests and no-call messages of one case set."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.no_calls: list[NoCall] = []
        self.parts: list[str] = [""]

    def part(self, name: str) -> None:
        """Start an added part: the domains declared from here on belong to it.

        The build leaves every case of the earlier parts as it was (ids, categories, candidates) and
        appends the new part's cases after them, numbered on. Requests of an added part are written
        against its own functions and name their category (``ask(..., category="choice_2_4")``;
        ``single`` when left out); their other candidates may come from this part or an earlier one.
        """
        if not name or name in self.parts:
            raise ValueError(f"part name {name!r} is empty or taken")
        self.parts.append(name)

    def domain(self, name: str) -> Domain:
        return Domain(name, self.name, self.parts[-1])

    @property
    def functions(self) -> list[Function]:
        return [f for d in Domain.registry.get(self.name, []) for f in d.functions]

    def no_call(self, text: str, tools: list[Function] | None = None, tags: str = "", *,
                system: str | None = None, history: list[dict[str, str]] | None = None) -> None:
        self.no_calls.append(NoCall(text, tools, tuple(tags.split()), system, history))
