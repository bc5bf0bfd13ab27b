"""The grammar of a tool call that always closes within the caller's ``max_tokens``.

A small model asked for a call under ``tool_choice: "required"`` can keep writing inside a
free-text string until its budget ends: the JSON never closes and no call comes back. So the
adapter's grammar (llguidance Lark, inside llama.cpp) is built here from the tools' schemas with
every part bounded, and with bounds chosen so that the longest call the grammar allows fits in the
budget:

* structure is compact and fixed (``{"name": "f", "arguments": {"a": 1, "b": "x"}}``: one space
  after ``:`` and ``,``, no other whitespace), so its worst case is its length in bytes, and every
  token is at least one byte;
* a free-text string is a lexeme of at most ``max_chars`` characters without quotes, backslashes,
  control characters or ``</`` (so no value can contain the closing tag), in a rule with llguidance's ``max_tokens`` attribute: the string ends after
  at most ``tokens`` tokens whatever the model writes;
* numbers have at most 15 integer digits and 6 decimals (a range-constrained number gets a
  ``multipleOf`` so llguidance bounds its decimals too); enums, constants and booleans are
  literals; arrays hold at most ``max_items`` items.

``worst`` is the sum of these bounds (bytes of literals + each string's token cap, times the
items of its arrays); the string caps share what the budget leaves after the structure. When the
smallest caps (one token per string, four per character of ``minLength``, arrays at
``minItems``) do not fit, the call cannot be guaranteed and the request is a 400 on
``max_tokens`` naming the minimum. Schema parts outside this subset (``$ref``, free-form objects,
``allOf``) are passed to llguidance as they are (``%json``) and make a tool "unbounded": it is
still constrained, but no length is promised for it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

OPEN, CLOSE = "<tool_call>", "</tool_call>"
MAX_PARALLEL = 4
DEFAULT_BUDGET = 512  # the budget assumed when a request sets no max_tokens
BYTES_PER_CHAR = 4  # the most UTF-8 bytes (so tokens) one character can take
# (array size, optional properties kept) tried in turn: arrays never below minItems nor above maxItems;
# the first level where every free-text string gets COMFORT tokens (or all it may use) is taken
LEVELS = ((4, True), (2, True), (1, True), (0, True), (1, False), (0, False))
COMFORT = 16
INT_DIGITS, DECIMALS = 10, 4
_SEP, _KSEP = ", ", ": "
_XG = {"whitespace_flexible": False, "item_separator": _SEP, "key_separator": _KSEP}
_STR_CHARS = r'[^"\\\x00-\x1f\x7f]'
_NO_CLOSE = r'([^"\\\x00-\x1f\x7f<]|<+[^"\\\x00-\x1f\x7f<\/])*<*'  # no "</" anywhere


def _lit(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(_SEP, _KSEP))


# -- the shape of a schema ------------------------------------------------------------------------

@dataclass
class Node:
    kind: str  # lit | lex | json | str | obj | arr | alt
    text: str = ""  # lit: the literal; lex: the regex; json: the schema (JSON)
    size: int | None = 0  # lit / lex / json: worst bytes (None: unbounded)
    parts: list[Any] = field(default_factory=list)  # obj: [(key, node, required)]; arr: [item]; alt: [nodes]
    min_chars: int = 0  # str
    max_chars: int | None = None  # str: declared maxLength; arr: declared maxItems
    min_items: int = 0  # arr
    items: int = 0  # arr: the chosen bound
    tokens: int = 0  # str: the chosen token cap
    optional: bool = True  # obj: optional properties allowed (dropped when the budget is tight)
    chars: int = 0  # str: the chosen character cap
    schema: dict[str, Any] = field(default_factory=dict)  # the source schema (for the bounded copy)


def _json_leaf(schema: Any, size: int | None) -> Node:
    return Node("json", json.dumps({"x-guidance": _XG, **schema} if isinstance(schema, dict) else schema,
                                   separators=(",", ":")), size)


def _digits(value: float) -> int:
    return len(str(int(abs(value))))


def _decimals(step: Any) -> int | None:
    try:
        exponent = Decimal(str(step)).normalize().as_tuple().exponent
    except ArithmeticError:
        return None
    return max(0, -exponent) if isinstance(exponent, int) else None


def _number(schema: dict[str, Any], integer: bool) -> Node:
    keys = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
    if not any(k in schema for k in keys):
        frac = "" if integer else rf"(\.[0-9]{{1,{DECIMALS}}})?"
        return Node("lex", rf"-?(0|[1-9][0-9]{{0,{INT_DIGITS - 1}}}){frac}",
                    1 + INT_DIGITS + (0 if integer else 1 + DECIMALS), schema=schema)
    out = {k: schema[k] for k in keys if k in schema}
    out["type"] = "integer" if integer else "number"
    limit = 10 ** INT_DIGITS - 1
    if "minimum" not in out and "exclusiveMinimum" not in out:
        out["minimum"] = -limit
    if "maximum" not in out and "exclusiveMaximum" not in out:
        out["maximum"] = limit
    decimals = 0
    if not integer:
        out.setdefault("multipleOf", 10 ** -DECIMALS)
        decimals = _decimals(out["multipleOf"])
        if decimals is None:
            return _json_leaf(out, None)
    bounds = [v for k, v in out.items() if k != "multipleOf" and k != "type" and isinstance(v, (int, float))]
    return _json_leaf(out, 1 + max(_digits(b) for b in bounds) + (1 + decimals if decimals else 0))


# Date and time layouts a description names ("YYYY-MM-DD", "HH:MM", ...): the value is held to them, as a
# schema "pattern" would (the longest first, so "YYYY-MM-DD" is not read as "YYYY-MM").
_LAYOUTS = [(r"YYYY-MM-DD[T ]HH:MM:SS", r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}", 19),
            (r"YYYY-MM-DD[T ]HH:MM", r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?", 19),
            (r"YYYY-MM-DD", r"\d{4}-\d{2}-\d{2}", 10), (r"YYYY-MM", r"\d{4}-\d{2}", 7),
            (r"HH:MM:SS", r"\d{2}:\d{2}:\d{2}", 8), (r"HH:MM", r"\d{2}:\d{2}", 5)]


def _described_layout(schema: dict[str, Any]) -> dict[str, Any] | None:
    """A string property without a pattern or format whose description names a date or time layout:
    the schema with that layout as its pattern (None otherwise)."""
    text = schema.get("description")
    if not isinstance(text, str) or any(k in schema for k in ("pattern", "format", "enum", "const")):
        return None
    for named, pattern, length in _LAYOUTS:
        if re.search(rf"(?<![A-Za-z]){named}(?![A-Za-z])", text):
            return {**schema, "type": "string", "pattern": f"^{pattern}$", "maxLength": length}
    return None


def shape(schema: Any, depth: int = 0) -> Node:
    """The bounded shape of the values a JSON schema allows (see the module docstring)."""
    if schema is True or schema == {} or depth > 12:
        return _json_leaf({} if schema is True else schema, None)
    if not isinstance(schema, dict) or "$ref" in schema or "allOf" in schema or "not" in schema:
        return _json_leaf(schema, None)
    if "const" in schema:
        return Node("lit", _json_text(schema["const"]), len(_json_text(schema["const"]).encode()), schema=schema)
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        alts = [Node("lit", _json_text(v), len(_json_text(v).encode())) for v in schema["enum"]]
        return alts[0] if len(alts) == 1 else Node("alt", parts=alts, schema=schema)
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            base = {k: v for k, v in schema.items() if k not in (key, "description")}
            alts = [shape({**base, **sub} if isinstance(sub, dict) else sub, depth + 1) for sub in schema[key]]
            return Node("alt", parts=alts, schema=schema)
    kind = schema.get("type")
    if isinstance(kind, list):
        alts = [shape({**schema, "type": k}, depth + 1) for k in kind]
        return alts[0] if len(alts) == 1 else Node("alt", parts=alts, schema=schema)
    if kind == "string" or (kind is None and ("maxLength" in schema or "minLength" in schema)):
        layout = _described_layout(schema)
        if layout is not None:  # ASCII digits and separators: a byte a character
            return _json_leaf(layout, 2 + int(layout["maxLength"]))
        if "pattern" in schema or "format" in schema:  # llguidance's own regex; escapes allowed: 6 bytes a char
            chars = min(int(schema.get("maxLength", 64)), 64)
            return _json_leaf({**schema, "type": "string", "maxLength": chars}, 2 + 6 * chars)
        return Node("str", min_chars=int(schema.get("minLength", 0) or 0),
                    max_chars=int(schema["maxLength"]) if "maxLength" in schema else None, schema=schema)
    if kind in ("number", "integer"):
        return _number(schema, kind == "integer")
    if kind == "boolean":
        return Node("alt", parts=[Node("lit", "true", 4), Node("lit", "false", 5)], schema=schema)
    if kind == "null":
        return Node("lit", "null", 4, schema=schema)
    if kind == "array" or "items" in schema:
        items = schema.get("items")
        if not isinstance(items, dict) or "prefixItems" in schema:
            return _json_leaf(schema, None)
        return Node("arr", parts=[shape(items, depth + 1)], min_items=int(schema.get("minItems", 0) or 0),
                    max_chars=int(schema["maxItems"]) if "maxItems" in schema else None, schema=schema)
    if kind == "object" or "properties" in schema:
        props = schema.get("properties")
        extra = schema.get("additionalProperties", False)
        if not isinstance(props, dict) or (extra not in (False, None) and extra != {}) \
                or "patternProperties" in schema or (not props and extra == {}):
            return _json_leaf(schema, None)
        required = set(schema.get("required") or [])
        missing = [k for k in required if k not in props]
        if missing:
            return _json_leaf(schema, None)
        return Node("obj", parts=[(k, shape(v, depth + 1), k in required) for k, v in props.items()], schema=schema)
    return _json_leaf(schema, None)


# -- worst case and caps --------------------------------------------------------------------------

def _set_level(node: Node, items: int, optional: bool) -> None:
    if node.kind == "arr":
        top = node.max_chars if node.max_chars is not None else items
        node.items = max(node.min_items, min(items, top))
    node.optional = optional
    for part in node.parts:
        _set_level(part[1] if isinstance(part, tuple) else part, items, optional)


def _members(node: Node) -> list[tuple[str, Node, bool]]:
    return [p for p in node.parts if p[2] or node.optional]


def _cost(node: Node) -> tuple[float, list[tuple[int, Node]]]:
    """(bytes of everything but free strings' bodies, [(multiplicity, string)]) in the worst case."""
    if node.kind in ("lit", "lex", "json"):
        return (math.inf if node.size is None else node.size), []
    if node.kind == "str":
        return 2, [(1, node)]
    if node.kind == "alt":  # the longest fixed part, and every branch's strings (an overestimate)
        costs = [_cost(p) for p in node.parts]
        return max(c[0] for c in costs), [s for c in costs for s in c[1]]
    if node.kind == "arr":
        fixed, strings = _cost(node.parts[0])
        n = node.items
        return 2 + n * fixed + max(0, n - 1) * len(_SEP), [(m * n, s) for m, s in strings]
    fixed, strings = 2.0, []
    for i, (key, sub, _required) in enumerate(_members(node)):
        f, s = _cost(sub)
        fixed += len(_lit(key).encode()) + len(_KSEP) + f + (len(_SEP) if i else 0)
        strings += s
    return fixed, strings


def _min_tokens(node: Node) -> int:
    return max(1, BYTES_PER_CHAR * node.min_chars)


def _can_grow(s: Node) -> bool:
    return s.max_chars is None or s.tokens < BYTES_PER_CHAR * s.max_chars


def _allocate(strings: list[tuple[int, Node]], room: float) -> bool:
    """Share ``room`` tokens among the strings (each weighted by its multiplicity); False: no fit."""
    if not strings:
        return room >= 0
    need = sum(m * _min_tokens(s) for m, s in strings)
    if need > room:
        return False
    for _, s in strings:
        s.tokens = _min_tokens(s)
    room -= need
    open_ = [(m, s) for m, s in strings if m > 0 and _can_grow(s)]
    while open_ and room >= sum(m for m, _ in open_):
        share = int(room // sum(m for m, _ in open_))
        for m, s in open_:
            top = math.inf if s.max_chars is None else BYTES_PER_CHAR * s.max_chars
            add = int(min(share, top - s.tokens))
            s.tokens += add
            room -= m * add
        open_ = [(m, s) for m, s in open_ if _can_grow(s)]
        if share == 0:
            break
    for _, s in strings:
        s.chars = max(s.min_chars, BYTES_PER_CHAR * s.tokens)
        if s.max_chars is not None:
            s.chars = min(s.chars, s.max_chars)
    return True


@dataclass
class ToolBound:
    name: str
    node: Node
    worst: float  # tokens, at most (inf: a part llguidance bounds itself, or nothing does)
    minimum: float  # the smallest budget this tool's call can be guaranteed in
    fits: bool


def _head(name: str) -> str:
    return '{"name": ' + _lit(name) + ', "arguments": '


def bound_tool(name: str, parameters: dict[str, Any], budget: int) -> ToolBound:
    """The tool's call shape with caps chosen for ``budget`` tokens (wrapper included)."""
    wrapper = len(OPEN) + len(CLOSE) + len(_head(name).encode()) + 1
    node = shape(parameters)
    minimum = math.inf
    best: tuple[float, tuple[int, bool], float] | None = None  # (smallest string cap, level, worst)
    for level in LEVELS:
        _set_level(node, *level)
        fixed, strings = _cost(node)
        if math.isinf(fixed):
            _allocate(strings, max(0, budget - wrapper - 64))  # best effort: not provable
            return ToolBound(name, node, math.inf, math.inf, True)
        minimum = min(minimum, wrapper + fixed + sum(m * _min_tokens(s) for m, s in strings))
        if not _allocate(strings, budget - wrapper - fixed):
            continue
        worst = wrapper + fixed + sum(m * s.tokens for m, s in strings)
        comfort = min((s.tokens if _can_grow(s) else math.inf for m, s in strings if m), default=math.inf)
        if best is None or comfort > best[0]:
            best = (comfort, level, worst)
        if comfort >= COMFORT:
            break
    if best is None:
        return ToolBound(name, node, math.inf, minimum, False)
    _set_level(node, *best[1])
    fixed, strings = _cost(node)
    _allocate(strings, budget - wrapper - fixed)
    return ToolBound(name, node, best[2], minimum, best[2] <= budget)


# -- rendering ------------------------------------------------------------------------------------

# Free-text values are copied from the user's words unless the property says ``false``: a small
# model left to write a value writes garbage ("}}12 * 7 = 84.5. 12 *"), while copying keeps
# expressions, names and queries as the user wrote them. Values that must be written (a file's
# content, a program name) opt out in their schema.
FROM_USER = "x-cupola-from-user"


# Words too common to count as the user naming an enum value ("in", "on", "to" as units or states).
_COMMON = frozenset("a an and as at be by for from i in is it me my no of on or so the to up we".split())


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9]+", " ", re.sub(r"([a-z])([A-Z])", r"\1 \2", str(text)).lower()).split()


def mentions(value: Any, text: str) -> bool:
    """Whether the user's ``text`` names ``value`` (an enum value or a property name): its words in a
    row, each matching a word of the text whole, as a prefix ("quiet" in "quietly", "cup" in "cups") or
    by a shared stem of at least four letters ("drive" in "driving"); common words never count alone."""
    wanted = _words(value)
    if not wanted or (len(wanted) == 1 and wanted[0] in _COMMON):
        return False
    have = _words(text)

    def same(w: str, t: str) -> bool:
        if t == w or (len(w) >= 2 and t.startswith(w) and len(t) - len(w) <= 3):
            return True
        stem = max(4, min(len(w), len(t)) - 2)
        return len(w) >= stem and len(t) >= stem and w[:stem] == t[:stem]

    return any(all(same(w, have[i + j]) for j, w in enumerate(wanted)) for i in range(len(have) - len(wanted) + 1))


def _enum_values(node: Node) -> list[Any] | None:
    """The enum a node (or an array node's items) chooses from, if it is one."""
    target = node.parts[0] if node.kind == "arr" and node.parts else node
    values = target.schema.get("enum") if target.kind == "alt" else None
    return values if isinstance(values, list) else None


_LEAD = re.compile(r"^[(\[{'‘“#]+")
# A copied value starts with a word and ends with a word or a closing mark: never a lone comma or space.
_EDGES = r"[^\s.,;:!?'’”)\]}(\[{‘“#]([^\x00]*[^\s,;:(\[{‘“#])?"
_TRAIL = re.compile(r"(['’]s|[.,;:!?)\]}'’”…]+)+$")


def chunks(text: str) -> list[str]:
    """The pieces a copied value is made of: runs of spaces, and words as the user wrote them, with
    the punctuation around a word (quotes, brackets, a final full stop, a possessive "'s") a piece
    of its own. A value can start and end only where pieces do, so "CT-2291", "t-101", "/docs/a.txt"
    and "mia@x.io" are copied whole, never as "2291" or "x.io"; and it starts with a word (``_EDGES``)."""
    out: list[str] = []
    for piece in re.findall(r"\s+|\S+", text):
        if piece.isspace():
            out.append(piece)
            continue
        lead = _LEAD.match(piece)
        head = lead.group(0) if lead else ""
        rest = piece[len(head):]
        trail = _TRAIL.search(rest)
        tail = trail.group(0) if trail and trail.start() > 0 else ""
        out += [p for p in (head, rest[:len(rest) - len(tail)], tail) if p]
    return out


def copyable(text: str) -> str:
    """The user's words as a value may hold them: no quotes, backslashes, control characters or "</"."""
    return re.sub(r'["\\\x00-\x1f\x7f]+', " ", text).replace("</", "< /").strip()


class _Lark:
    def __init__(self, source: str | None = None) -> None:
        self.rules: list[str] = []
        self.source = copyable(source) if source else None
        self.pieces = chunks(self.source) if self.source else []
        if not any(re.fullmatch(_EDGES, p) for p in self.pieces):
            self.source = None  # no word to copy (only punctuation): values are only bounded
        self.said = source or ""

    def _grounded(self, key: str, node: Node) -> bool:
        """Whether an optional property may be written: not an enum none of whose values the user named,
        nor a boolean whose name the user did not use (a small model otherwise fills them in)."""
        if not self.said or node.schema.get(FROM_USER, True) is False:
            return True
        values = _enum_values(node)
        if values is not None:
            return any(mentions(v, self.said) for v in values if isinstance(v, str))
        if node.schema.get("type") == "boolean":
            return mentions(key.replace("_", " "), self.said) or any(
                mentions(w, self.said) for w in _words(key) if len(w) > 3)
        return True

    def _named(self, node: Node) -> list[Node]:
        """An enum's choices narrowed to the values the user named, when they named any."""
        values = node.schema.get("enum")
        if not self.said or not isinstance(values, list) or node.schema.get(FROM_USER, True) is False \
                or len(values) != len(node.parts):
            return node.parts
        named = [part for value, part in zip(values, node.parts)
                 if isinstance(value, str) and mentions(value, self.said)]
        return named or node.parts

    def rule(self, body: str, attrs: str = "") -> str:
        name = f"r{len(self.rules)}"
        self.rules.append(f"{name}{attrs}: {body}")
        return name

    def expr(self, node: Node) -> str:
        if node.kind == "lit":
            return _lit(node.text)
        if node.kind == "lex":
            return f"/{node.text}/"
        if node.kind == "json":
            return self.rule(f"%json {node.text}")
        if node.kind == "str":
            if node.chars == 0:
                return _lit('""')
            # never "</" in a value: a model that writes "</tool_call>" inside a string cannot fake the end
            copy = node.schema.get(FROM_USER, True) is not False and bool(self.source) \
                and len(self.source) >= node.min_chars  # type: ignore[arg-type]
            words = f" & /{_EDGES}/ & %regex {json.dumps({'substring_chunks': self.pieces})}" if copy else ""
            low = max(node.min_chars, 1 if copy and node.tokens >= BYTES_PER_CHAR else 0)  # a copy is not empty
            body = self.rule(f"/{_STR_CHARS}{{{low},{node.chars}}}/ & /{_NO_CLOSE}/{words}",
                             f"[max_tokens={node.tokens}]")
            return f'"\\"" {body} "\\""'
        if node.kind == "alt":
            return self.rule(" | ".join(self.expr(p) for p in self._named(node)))
        if node.kind == "arr":
            if node.items == 0:
                return '"[]"'
            item = self.expr(node.parts[0])
            rest = f' ("{_SEP}" {item}){{{max(0, node.min_items - 1)},{node.items - 1}}}' if node.items > 1 else ""
            inner = f"{item}{rest}"
            return self.rule(f'"[" {inner} "]"' if node.min_items else f'"[" ({inner})? "]"')
        kvs = [(f'{_lit(_lit(k) + _KSEP)} {self.expr(sub)}', req) for k, sub, req in _members(node)
               if req or self._grounded(k, sub)]
        return self.rule(f'"{{" {self._members(kvs)} "}}"')

    def _members(self, kvs: list[tuple[str, bool]]) -> str:
        """Members in schema order, optional ones optional, separators only between members."""
        def after(i: int) -> str:
            if i >= len(kvs):
                return ""
            kv, req = kvs[i]
            head = f'"{_SEP}" {kv}' if req else f'("{_SEP}" {kv})?'
            return f"{head} {after(i + 1)}".strip()

        def first(i: int) -> tuple[str | None, bool]:  # (a non-empty expression, whether it may be absent)
            if i >= len(kvs):
                return None, True
            kv, req = kvs[i]
            with_i = f"{kv} {after(i + 1)}".strip()
            if req:
                return with_i, False
            rest, nullable = first(i + 1)
            return (with_i if rest is None else f"({with_i}) | ({rest})"), nullable

        expr, nullable = first(0)
        if expr is None:
            return ""
        return f"({expr})?" if nullable else f"({expr})"


def lark_grammar(bounds: list[ToolBound], calls: int = 1, source: str | None = None) -> str:
    """One to ``calls`` wrapped calls, each to one of the bounded tools; with ``source`` (the user's
    last message), every free-text value is a piece of it, copied as written (whole words,
    :func:`chunks`), an enum whose values the user named (:func:`mentions`) takes one of those, and
    an optional enum or boolean the user did not name is left out, unless the property sets
    :data:`FROM_USER` to ``false``. Leaving choices out only shortens the longest call: the bound
    still holds."""
    lark = _Lark(source)
    alts = [lark.rule(f"{_lit(_head(b.name))} {lark.expr(b.node)} \"}}\"") for b in bounds]
    block = f'"{OPEN}" ({" | ".join(alts)}) "{CLOSE}"'
    more = f' ("\\n" {block}){{0,{calls - 1}}}' if calls > 1 else ""
    return "%llguidance {}\nstart: " + block + more + "\n" + "\n".join(lark.rules) + "\n"


def bounded_schema(node: Node) -> Any:
    """The schema copy the grammar enforces: the source schema with the chosen maxLength / maxItems."""
    if node.kind == "json":
        out = json.loads(node.text)
        if isinstance(out, dict):
            out.pop("x-guidance", None)
        return out
    if node.kind == "str":
        return {**node.schema, "maxLength": node.chars}
    if node.kind == "arr":
        return {**node.schema, "maxItems": node.items, "items": bounded_schema(node.parts[0])}
    if node.kind == "obj":
        return {**node.schema, "additionalProperties": False,
                "properties": {k: bounded_schema(sub) for k, sub, _ in _members(node)}}
    if node.kind == "alt" and ("anyOf" in node.schema or "oneOf" in node.schema or
                               isinstance(node.schema.get("type"), list)):
        base = {k: v for k, v in node.schema.items() if k not in ("anyOf", "oneOf", "type")}
        return {**base, "anyOf": [bounded_schema(p) for p in node.parts]}
    return node.schema
