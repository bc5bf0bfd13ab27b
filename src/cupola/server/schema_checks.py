"""JSON schemas that can match nothing, found before a model runs.

A ``response_format`` JSON schema or a tool's ``parameters`` becomes a grammar that constrains
decoding; a schema no value satisfies would let the model start and then leave it nowhere to go
(llama.cpp fails mid-answer with "empty grammar stack"). The contradictions that are easy to see
are refused up front with a 400 naming where they are: an empty ``enum``, ``false`` or ``not: {}``
as a schema, a lower bound above its upper bound (``minimum``/``maximum``, the exclusive ones,
``minLength``/``maxLength``, ``minItems``/``maxItems``, ``minProperties``/``maxProperties``), a
required property whose schema is ``false``, and ``allOf`` branches of disjoint types. What slips
through still ends with that 400 from the engine, after a few tokens.
"""

from __future__ import annotations

from typing import Any

_BOUNDS = (("minimum", "maximum", False), ("exclusiveMinimum", "exclusiveMaximum", True),
           ("minimum", "exclusiveMaximum", True), ("exclusiveMinimum", "maximum", True),
           ("minLength", "maxLength", False), ("minItems", "maxItems", False),
           ("minProperties", "maxProperties", False))


def _types(schema: dict[str, Any]) -> set[str] | None:
    kind = schema.get("type")
    if isinstance(kind, str):
        kinds = {kind}
    elif isinstance(kind, list) and all(isinstance(k, str) for k in kind):
        kinds = set(kind)
    else:
        return None
    if "integer" in kinds:
        kinds.add("number")  # an integer is a number
    return kinds


def _problem(schema: Any) -> str | None:
    if schema is False:
        return "the schema is false (nothing matches it)"
    if not isinstance(schema, dict):
        return None
    if "enum" in schema and schema["enum"] == []:
        return "enum is empty"
    if schema.get("not") in ({}, True):
        return "not: {} excludes every value"
    for low, high, strict in _BOUNDS:
        a, b = schema.get(low), schema.get(high)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
                and not isinstance(b, bool) and (a >= b if strict else a > b):
            return f"{low} ({a}) is above {high} ({b})"
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    for name in schema.get("required") or []:
        if isinstance(name, str) and properties.get(name) is False:
            return f"property {name!r} is required but its schema is false"
    branches = [b for b in schema.get("allOf") or [] if isinstance(b, dict)]
    kinds = [k for k in (_types(b) for b in [schema, *branches]) if k is not None]
    if len(kinds) > 1 and not set.intersection(*kinds):
        return "allOf requires types that no value has at once"
    return None


def unsatisfiable(schema: Any) -> str | None:
    """Where and why ``schema`` can match nothing (``"#/properties/age: minimum (5) is above maximum (1)"``),
    or None when no contradiction is seen. Only parts every value must satisfy are checked: the schema,
    its ``allOf`` branches, its required properties, the items of an array that needs some, and
    ``anyOf``/``oneOf`` when every branch is impossible. Walks without recursion."""
    stack: list[tuple[Any, str]] = [(schema, "#")]
    while stack:
        node, where = stack.pop()
        problem = _problem(node)
        if problem:
            return f"{where}: {problem}"
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("allOf"), list):
            stack.extend((sub, f"{where}/allOf/{i}") for i, sub in enumerate(node["allOf"]))
        for key in ("anyOf", "oneOf"):
            options = node.get(key)
            if isinstance(options, list) and options and all(_problem(o) for o in options):
                return f"{where}/{key}: every branch matches nothing"
        properties = node.get("properties")
        if isinstance(properties, dict):
            stack.extend((properties[name], f"{where}/properties/{name}") for name in node.get("required") or []
                         if isinstance(name, str) and name in properties)
        min_items = node.get("minItems")
        if isinstance(node.get("items"), (dict, bool)) and isinstance(min_items, int) and min_items >= 1:
            stack.append((node["items"], f"{where}/items"))
    return None


def check(schema: Any, what: str) -> Any:
    """For validators: refuse a schema that can match nothing (``ValueError`` naming the spot)."""
    problem = unsatisfiable(schema)
    if problem:
        raise ValueError(f"{what} can match nothing: {problem}")
    return schema
