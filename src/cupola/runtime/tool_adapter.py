"""Tool calling that works on every model: the adapter, which reads the engine's capabilities.

When an engine's chat template knows tools (``capabilities.native_tools``: llama.cpp with a
tool-aware template, or a remote server), the tools go to it as they are. When it does not
(SmolLM2, most small models), Cupola's adapter takes over, in one documented format:

* the tool schemas and calling instructions go into the system prompt (``render_tools``);
* a call is written ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``;
* decoding is constrained where the engine can: by a grammar built from the schemas
  (``capabilities.grammar``: llguidance inside llama.cpp), or, on servers that only enforce
  ``response_format`` (``capabilities.json_schema``), by the JSON schema of a call; elsewhere the
  text is parsed. A constrained call names an existing tool and its arguments validate against
  that tool's schema (closed: no keys beyond its properties). ``auto`` is decided before
  generation by ``tool_calls`` (call, or answer in text): llama.cpp's chat endpoint ignores lazy
  grammars, and a small model left to choose between text and a call never starts a call;
* earlier calls and their results in the conversation are rendered back in the same format.

Whatever the mode, text that still looks like a tool call (``<tool_call>…</tool_call>`` or a bare
``{"name": …, "arguments": …}``) is parsed into structured ``tool_calls``; ``ToolStreamParser``
does the same incrementally for streams (name first, then argument fragments).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from cupola.engines.base import Capabilities
from cupola.errors import InvalidParameter
from cupola.naming import is_tool_name, new_id
from cupola.runtime import tool_prompt
from cupola.runtime.tool_grammar import (CLOSE, DEFAULT_BUDGET, MAX_PARALLEL, OPEN, Ask, Signature, ToolBound,
                                         bound_tool, bound_value, bounded_schema, lark_grammar, sibling_asks,
                                         value_grammar)

_HEAD_RE = re.compile(r'^\s*\{\s*"name"\s*:\s*"([^"\\]*)"\s*,\s*"arguments"\s*:\s*', re.S)


@dataclass
class ToolPlan:
    """What the adapter decided for one request."""

    tools: list[dict[str, Any]]  # the function specs ({"name", "description", "parameters"})
    choice: str  # "auto" | "required" | "none" | a function name
    parallel: bool = True
    native: bool = False
    names: set[str] = field(default_factory=set)
    constrain: str | None = "grammar"  # how the adapter constrains calls: "grammar", "json_schema" or None
    budget: int = DEFAULT_BUDGET  # the request's max_tokens (the call is bounded to fit in it)
    # enum values closest to the user's message (embedding), for enums whose values the user did not name
    enum_hints: dict[tuple[str, ...], list[Any]] = field(default_factory=dict)
    # sibling values -> the assignment meant (the words around each value vs each property's text)
    assignments: dict[Signature, tuple[str | None, ...]] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.choice != "none" and bool(self.tools)


def _function_specs(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise InvalidParameter("tools must be a list", param="tools")
    specs = []
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(fn, dict):
            raise InvalidParameter("each tool must be {'type': 'function', 'function': {...}}", param=f"tools.{i}")
        name = fn.get("name")
        if not is_tool_name(name):
            raise InvalidParameter("a function name must be 1-64 letters, digits, '_', '.' or '-'",
                                   param=f"tools.{i}.function.name")
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(params, dict):
            raise InvalidParameter("parameters must be a JSON Schema object", param=f"tools.{i}.function.parameters")
        spec = {"name": name, "parameters": params}
        if fn.get("description"):
            spec["description"] = str(fn["description"])
        specs.append(spec)
    return specs


def plan_tools(body: dict[str, Any], capabilities: Capabilities) -> ToolPlan | None:
    """Validate ``tools`` / ``tool_choice`` and decide how the engine serves them (None: no tools)."""
    tools = body.get("tools")
    if not tools:
        if body.get("tool_choice") not in (None, "none", "auto"):
            raise InvalidParameter("tool_choice needs tools", param="tool_choice")
        return None
    specs = _function_specs(tools)
    names = {s["name"] for s in specs}
    choice = body.get("tool_choice") or "auto"
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") if choice.get("type") == "function" else None
        if name not in names:
            raise InvalidParameter(f"tool_choice names {name!r}, which is not in tools ({', '.join(sorted(names))})",
                                   param="tool_choice")
        choice = name
    elif choice not in ("auto", "none", "required"):
        raise InvalidParameter("tool_choice must be 'auto', 'none', 'required' or a named function",
                               param="tool_choice")
    constrain = "grammar" if capabilities.grammar else ("json_schema" if capabilities.json_schema else None)
    # Several calls in one turn only when asked for explicitly: small models otherwise repeat a call.
    return ToolPlan(specs, choice, body.get("parallel_tool_calls") is True, capabilities.native_tools, names,
                    constrain, budget_of(body))


# -- request side -----------------------------------------------------------------------------

def render_tools(plan: ToolPlan) -> str:
    """The system-prompt section that teaches a model without tool support to call tools
    (signatures, not JSON Schema: see ``tool_prompt``)."""
    tools = [s for s in plan.tools if plan.choice in ("auto", "required") or s["name"] == plan.choice]
    return tool_prompt.render(tools, plan.choice, bare=plan.constrain == "json_schema")


def _closed(schema: Any) -> Any:
    """The schema with ``additionalProperties: false`` wherever it lists properties and says nothing.

    JSON Schema allows extra keys by default; a small model then pads its arguments with keys
    copied from the schema. Only the grammar's copy is closed: the tool's schema is untouched.
    """
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in ("items", "anyOf", "oneOf", "allOf"):
        if key in out:
            out[key] = _closed(out[key])
    for key in ("properties", "$defs", "definitions"):  # maps of name -> schema
        if isinstance(out.get(key), dict):
            out[key] = {name: _closed(sub) for name, sub in out[key].items()}
    if isinstance(out.get("properties"), dict):
        out.setdefault("additionalProperties", False)
    return out


def budget_of(body: dict[str, Any]) -> int:
    """The tokens a call may take: the request's ``max_tokens`` (or the adapter's default)."""
    for key in ("max_tokens", "max_completion_tokens"):
        if isinstance(body.get(key), int) and body[key] > 0:
            return body[key]
    return DEFAULT_BUDGET


def call_bounds(plan: ToolPlan, budget: int, source: str | None = None) -> tuple[list[ToolBound], int]:
    """Each callable tool's call shape with caps that fit ``budget``, and how many calls one answer
    may hold (for a grammar whose values come from ``source``, when given). A 400 on ``max_tokens``
    when no call can be guaranteed to close within it."""
    specs = [s for s in plan.tools if plan.choice in ("auto", "required") or s["name"] == plan.choice]
    bounds: list[ToolBound] = []
    for calls in range(max(1, min(MAX_PARALLEL, budget // 128)) if plan.parallel else 1, 0, -1):
        per_call = (budget - (calls - 1)) // calls
        bounds = [bound_tool(s["name"], _closed(s["parameters"]), per_call, source) for s in specs]
        fitting = [b for b in bounds if b.fits]
        if fitting:
            return fitting, calls
    minimum = int(min(b.minimum for b in bounds))
    names = ", ".join(b.name for b in bounds)
    raise InvalidParameter(f"max_tokens is {budget}, too small for a tool call that is sure to close: the shortest "
                           f"call to {names} needs max_tokens of at least {minimum}", param="max_tokens")


def bound_format(body: dict[str, Any], capabilities: Capabilities) -> dict[str, Any]:
    """The engine body for a ``response_format`` JSON schema on an engine with grammars: the schema as a
    grammar whose strings and arrays are bounded so that the value closes within ``max_tokens`` (a
    model left to the schema alone can write one string until its budget ends, and the JSON never
    closes). A 400 on ``max_tokens`` when no value fits it; schemas outside the bounded subset
    (``$ref``, free-form objects) go to the engine as they are."""
    fmt = body.get("response_format")
    schema = (fmt.get("json_schema") or {}).get("schema") if isinstance(fmt, dict) \
        and fmt.get("type") == "json_schema" and isinstance(fmt.get("json_schema"), dict) else None
    if not capabilities.grammar or not isinstance(schema, dict) or body.get("grammar"):
        return body
    budget = budget_of(body)
    bound = bound_value("response_format", _closed(schema), budget)
    if math.isinf(bound.worst) and bound.fits:
        return body
    if not bound.fits:
        raise InvalidParameter(f"max_tokens is {budget}, too small for an answer that is sure to match the "
                               f"response_format schema and close: it needs max_tokens of at least "
                               f"{int(bound.minimum)}", param="max_tokens")
    out = {k: v for k, v in body.items() if k != "response_format"}
    out["grammar"] = value_grammar(bound)
    return out


def call_schema(plan: ToolPlan, budget: int = DEFAULT_BUDGET) -> dict[str, Any]:
    """JSON Schema of one call: its name picks the tool, its arguments follow that tool's schema
    (closed, with the string and array bounds that make it fit ``budget``)."""
    bounds, _ = call_bounds(plan, budget)
    variants = [{"type": "object", "additionalProperties": False, "required": ["name", "arguments"],
                 "properties": {"name": {"const": b.name}, "arguments": _closed(bounded_schema(b.node))}}
                for b in bounds]
    return variants[0] if len(variants) == 1 else {"anyOf": variants}


def grammar(plan: ToolPlan, budget: int = DEFAULT_BUDGET, source: str | None = None) -> str:
    """An llguidance (Lark) grammar for one or more wrapped calls that close within ``budget`` tokens
    (free-text values copied from ``source``, the user's last message, when given)."""
    bounds, calls = call_bounds(plan, budget, source)
    return lark_grammar(bounds, calls, source, plan.enum_hints, plan.assignments)


def asks(plan: ToolPlan, budget: int, source: str | None) -> list[Ask]:
    """The sibling values :func:`grammar` would let the model assign in several ways (none when it
    allows several calls: each call would take the same assignment)."""
    bounds, calls = call_bounds(plan, budget, source)
    return sibling_asks(bounds, source, plan.enum_hints) if calls == 1 else []


def user_words(messages: list[dict[str, Any]]) -> str | None:
    """The last user message's text: where a small model's free-text values are copied from."""
    for msg in reversed(messages):
        if msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, list):
                content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return content if isinstance(content, str) and content.strip() else None
        if msg.get("role") == "tool":
            return None
    return None


def _render_history(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Assistant tool calls and tool results as plain text in the adapter's format."""
    out = []
    for msg in messages:
        if msg.get("role") == "assistant" and msg.get("tool_calls"):
            calls = []
            for call in msg["tool_calls"]:
                fn = call.get("function") or {}
                try:
                    args = json.loads(fn.get("arguments") or "{}")
                except json.JSONDecodeError:
                    args = fn.get("arguments")
                calls.append(OPEN + json.dumps({"name": fn.get("name"), "arguments": args}, ensure_ascii=False)
                             + CLOSE)
            text = (msg.get("content") or "").strip()
            out.append({"role": "assistant", "content": "\n".join(([text] if text else []) + calls)})
        elif msg.get("role") == "tool":
            out.append({"role": "user", "content": f"<tool_response>\n{msg.get('content') or ''}\n</tool_response>"})
        else:
            out.append({k: v for k, v in msg.items() if k not in ("tool_calls", "tool_call_id")})
    return out


def adapt_request(body: dict[str, Any], plan: ToolPlan | None) -> dict[str, Any]:
    """The engine body for a request with tools (unchanged when llama.cpp handles them natively)."""
    body = dict(body)
    if plan is None or plan.native:
        if plan is not None and plan.choice not in ("auto", "none", "required"):  # named: narrow + require
            body["tools"] = [t for t in body["tools"] if t["function"]["name"] == plan.choice]
            body["tool_choice"] = "required"
        if plan is None and any(m.get("tool_calls") or m.get("role") == "tool" for m in body.get("messages", [])):
            body["messages"] = _render_history(body["messages"])
        return body
    for key in ("tools", "tool_choice", "parallel_tool_calls"):
        body.pop(key, None)
    messages = _render_history(body.get("messages", []))
    if plan.active:
        if body.get("response_format"):
            raise InvalidParameter("response_format cannot be combined with tools on this model",
                                   param="response_format")
        section = render_tools(plan)
        if messages and messages[0].get("role") == "system":
            messages[0] = {**messages[0], "content": f"{messages[0].get('content') or ''}\n\n{section}".strip()}
        else:
            messages.insert(0, {"role": "system", "content": section})
        if plan.constrain == "grammar":
            body["grammar"] = grammar(plan, budget_of(body), user_words(body.get("messages", [])))
        elif plan.constrain == "json_schema":
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "tool_call", "strict": True, "schema": call_schema(plan, budget_of(body))}}
    body["messages"] = messages
    return body


# -- response side ----------------------------------------------------------------------------

def _as_call(obj: Any, names: set[str]) -> dict[str, Any] | None:
    if not isinstance(obj, dict) or obj.get("name") not in names:
        return None
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return None
    if not isinstance(args, dict):
        return None
    return {"id": new_id("call"), "type": "function",
            "function": {"name": obj["name"], "arguments": json.dumps(args, ensure_ascii=False)}}


def parse_calls(text: str, names: set[str]) -> tuple[str, list[dict[str, Any]]]:
    """Split model text into remaining content and structured tool calls."""
    calls: list[dict[str, Any]] = []
    if OPEN in text:
        rest = []
        pos = 0
        for match in re.finditer(re.escape(OPEN) + r"(.*?)(?:" + re.escape(CLOSE) + r"|$)", text, re.S):
            try:
                call = _as_call(json.loads(match.group(1)), names)
            except json.JSONDecodeError:
                call = None
            if call is None:
                if not match.group(0).endswith(CLOSE):  # a call cut off by max_tokens: not content either
                    rest.append(text[pos:match.start()])
                    pos = match.end()
                continue
            rest.append(text[pos:match.start()])
            pos = match.end()
            calls.append(call)
        rest.append(text[pos:])
        return "".join(rest).strip(), calls
    stripped = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", stripped, re.S)
    candidate = fenced.group(1) if fenced else stripped
    if candidate.startswith(("{", "[")):
        try:
            parsed = json.loads(candidate)
        except json.JSONDecodeError:
            return text, []
        items = parsed if isinstance(parsed, list) else [parsed]
        found = [_as_call(item, names) for item in items]
        if found and all(found):
            return "", found  # type: ignore[return-value]
    return text, []


def adapt_response(result: dict[str, Any], plan: ToolPlan | None) -> dict[str, Any]:
    """Turn tool-call text in a non-streaming chat completion into ``tool_calls``."""
    if plan is None or not plan.active:
        return result
    choice = result["choices"][0]
    message = choice["message"]
    if message.get("tool_calls"):
        choice["finish_reason"] = "tool_calls"
        return result
    content, calls = parse_calls(message.get("content") or "", plan.names)
    message["content"] = content or None  # without any call cut off by max_tokens
    calls = _unique(calls)
    if calls:
        message["tool_calls"] = calls if plan.parallel else calls[:1]
        choice["finish_reason"] = "tool_calls"
    return result


def _unique(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop exact repeats of a call (same function, same arguments): small models loop."""
    seen, out = set(), []
    for call in calls:
        key = (call["function"]["name"], json.dumps(json.loads(call["function"]["arguments"]), sort_keys=True))
        if key not in seen:
            seen.add(key)
            out.append(call)
    return out


class ToolStreamParser:
    """Incrementally splits streamed text into content and tool-call deltas.

    ``feed`` and ``close`` return events: ``("content", text)``, ``("call", index, id, name)``
    when a call's name is known, and ``("args", index, fragment)`` for argument text.
    """

    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.buf = ""
        self.in_call = False
        self.seen_text = False
        self.count = 0
        self.head_done = False
        self.args_sent = 0

    def feed(self, text: str) -> list[tuple]:
        self.buf += text
        events: list[tuple] = []
        while True:
            if self.in_call:
                if not self._advance_call(events):
                    return events
                continue
            start = self.buf.find(OPEN)
            if start >= 0:
                self._content(events, self.buf[:start])
                self.buf = self.buf[start + len(OPEN):]
                self.in_call, self.head_done, self.args_sent = True, False, 0
                continue
            if not self.seen_text and self.buf.lstrip()[:1] in ("{", "[", "`"):
                return events  # maybe a bare JSON call: decide at the end
            keep = _partial_suffix(self.buf, OPEN)
            self._content(events, self.buf[:len(self.buf) - keep])
            self.buf = self.buf[len(self.buf) - keep:]
            return events

    def _content(self, events: list[tuple], text: str) -> None:
        if text:
            self.seen_text = self.seen_text or bool(text.strip())
            events.append(("content", text))

    def _advance_call(self, events: list[tuple]) -> bool:
        """Emit what is known of the current call; True when it is complete."""
        if not self.head_done:
            head = _HEAD_RE.match(self.buf)
            if head is None:
                if CLOSE in self.buf or len(self.buf) > 200:  # not our format: treat as text
                    self.in_call = False
                    self._content(events, OPEN + self.buf)
                    self.buf = ""
                return False
            events.append(("call", self.count, new_id("call"), head.group(1)))
            self.buf = self.buf[head.end():]
            self.head_done = True
        if not self.args_sent:  # the blank between "arguments": and the object is not part of it
            self.buf = self.buf.lstrip()
        end = self.buf.find(CLOSE)
        if end < 0:  # hold back a partial closing tag, then trailing braces and blanks (one closes the wrapper)
            ready = self.buf[:len(self.buf) - _partial_suffix(self.buf, CLOSE)]
            ready = re.sub(r"[\s}]*$", "", ready)
        else:
            body = self.buf[:end].rstrip()
            ready = body[:-1] if body.endswith("}") else body
        if len(ready) > self.args_sent:
            events.append(("args", self.count, ready[self.args_sent:]))
            self.args_sent = len(ready)
        if end < 0:
            return False
        self.buf = self.buf[end + len(CLOSE):].lstrip("\n")
        self.in_call = False
        self.count += 1
        return True

    def close(self) -> list[tuple]:
        events: list[tuple] = []
        if self.in_call:
            return events  # cut off mid-call (max_tokens): what was sent stands
        if self.buf:
            content, calls = parse_calls(self.buf, self.names) if not self.seen_text else (self.buf, [])
            self._content(events, content)
            for call in calls:
                events.append(("call", self.count, call["id"], call["function"]["name"]))
                events.append(("args", self.count, call["function"]["arguments"]))
                self.count += 1
            self.buf = ""
        return events


def _partial_suffix(text: str, token: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``token``."""
    for n in range(min(len(token) - 1, len(text)), 0, -1):
        if text.endswith(token[:n]):
            return n
    return 0
