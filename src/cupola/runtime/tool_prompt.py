"""How the adapter shows tools to a model without a tool template: signatures, not JSON Schema.

A small model copies what it sees. Shown the raw schema (``{"query": {"type": "string",
"maxLength": 200, "minLength": 1}}``) it wrote ``"query.maxLength: 200, minLength: 1, type: "``
as a search query. So each tool is a TypeScript-like signature, one line, with the types a model
can fill in (``city: string``, ``unit?: "celsius" | "fahrenheit"``), followed by what the function
does and one line per parameter in words ("up to 200 characters", "from 1 to 20"): nothing in it
has the form of a value to copy. The grammar (``tool_grammar``) enforces the schema itself.
"""

from __future__ import annotations

import json
from typing import Any

from cupola.runtime.tool_grammar import CLOSE, OPEN


def type_of(schema: Any, depth: int = 0) -> str:
    """A short TypeScript-like type for a JSON schema."""
    if not isinstance(schema, dict) or depth > 4:
        return "any"
    if "const" in schema:
        return json.dumps(schema["const"], ensure_ascii=False)
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return " | ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return " | ".join(type_of(s, depth + 1) for s in schema[key])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(type_of({**schema, "type": k}, depth + 1) for k in kind)
    if kind == "array" or "items" in schema:
        inner = type_of(schema.get("items"), depth + 1)
        return f"({inner})[]" if "|" in inner else f"{inner}[]"
    if kind == "object" or "properties" in schema:
        props = schema.get("properties")
        if not isinstance(props, dict) or not props:
            return "object"
        required = set(schema.get("required") or [])
        inner = ", ".join(f"{k}{'' if k in required else '?'}: {type_of(v, depth + 1)}" for k, v in props.items())
        return "{" + inner + "}"
    return {"string": "string", "number": "number", "integer": "integer", "boolean": "boolean",
            "null": "null"}.get(kind, "any")


def _limits(schema: dict[str, Any]) -> list[str]:
    out = []
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is not None and high is not None:
        out.append(f"from {low} to {high}")
    elif low is not None:
        out.append(f"at least {low}" if "minimum" in schema else f"more than {low}")
    elif high is not None:
        out.append(f"at most {high}" if "maximum" in schema else f"less than {high}")
    if "maxLength" in schema:
        out.append(f"up to {schema['maxLength']} characters")
    if "maxItems" in schema:
        out.append(f"up to {schema['maxItems']} items")
    if "format" in schema:
        out.append(f"a {schema['format']}")
    return out


def signature(spec: dict[str, Any]) -> str:
    """``name(a: string, b?: number)`` then the description and one line per described parameter."""
    params = spec.get("parameters") or {}
    props = params.get("properties") if isinstance(params.get("properties"), dict) else {}
    required = set(params.get("required") or [])
    args = ", ".join(f"{k}{'' if k in required else '?'}: {type_of(v)}" for k, v in props.items())
    lines = [f"{spec['name']}({args})"]
    if spec.get("description"):
        lines.append(f"  {spec['description'].strip()}")
    for key, sub in props.items():
        if not isinstance(sub, dict):
            continue
        words = [sub["description"].strip().rstrip(".")] if sub.get("description") else []
        words += _limits(sub)
        if key not in required:
            words.append("optional: leave it out unless the user gives it")
        if words:
            lines.append(f"  - {key}: {'; '.join(words)}")
    return "\n".join(lines)


def render(specs: list[dict[str, Any]], choice: str, bare: bool) -> str:
    """The system-prompt section: the functions, the call format, and the rule for this request."""
    lines = ["# Tools", "", "You can call these functions:", ""]
    for spec in specs:
        lines += [signature(spec), ""]
    form = '{"name": "<function>", "arguments": {"<parameter>": <value>}}'
    if bare:  # the server enforces a bare JSON call, without the wrapper
        lines += ["To call a function, answer with only this JSON object:", form]
    else:
        lines += ["To call a function, answer with only this line (one per call):", f"{OPEN}{form}{CLOSE}"]
    lines.append("Take each value from the user's words: numbers as numbers, and only the parameters the user "
                 "gives or the function requires.")
    # One worked example (a function that is not offered, so none of it can be copied into a real call):
    # it shows a small model each value going to its own parameter, in the user's words. Only for
    # functions with several parameters: for a single one ("expression") it taught the 135M model to copy
    # one number ("240" for "What is 15% of 240?").
    if any(len((s.get("parameters") or {}).get("properties") or {}) > 1 for s in specs):
        call = '{"name": "book_table", "arguments": {"restaurant": "Casa Rosa", "people": 4, "date": "2025-03-01"}}'
        lines += ["Example: for book_table(restaurant: string, people: integer, date: string, notes?: string) and "
                  "\"A table for 4 at Casa Rosa on 2025-03-01, please\", the call is:",
                  call if bare else f"{OPEN}{call}{CLOSE}"]
    if choice == "required":
        lines.append("You must call one of the functions.")
    elif choice not in ("auto", "none"):
        lines.append(f"You must call the function {choice}.")
    else:
        lines.append("Call a function only when the user's request needs it; otherwise answer directly.")
    return "\n".join(lines)
