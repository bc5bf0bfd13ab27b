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

import contextlib
import itertools
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cupola.runtime import codes
from cupola.runtime.quantities import (dimension, in_unit, number_places, number_text, number_values, numbers, numerals,
                                       quantities, unit_of)

OPEN, CLOSE = "<tool_call>", "</tool_call>"
MAX_PARALLEL = 4
MAX_WANTED = 16  # the most items a list of the user's own values (numbers, dates) is sized for
_RUN_ITEMS = 48  # the most items rendered for the runs of a list of objects that take the user's numbers
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


def _rx(text: str) -> str:
    """``text`` as a literal in a (Rust) regex inside a Lark ``/.../``."""
    return "".join("\\" + c if c in "\\.+*?()|[]{}^$#&-~/" else c for c in text)


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
    wanted: int = 0  # arr: how many values the user wrote for it (its items may be as many: 4, 8, 15, 16, 23, 42)
    tokens: int = 0  # str: the chosen token cap
    optional: bool = True  # obj: optional properties allowed (dropped when the budget is tight)
    chars: int = 0  # str: the chosen character cap
    schema: dict[str, Any] = field(default_factory=dict)  # the source schema (for the bounded copy)


def _json_leaf(schema: Any, size: int | None) -> Node:
    return Node("json", json.dumps({"x-guidance": _XG, **schema} if isinstance(schema, dict) else schema,
                                   separators=(",", ":")), size, schema=schema if isinstance(schema, dict) else {})


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


# String formats as ASCII patterns of a known longest length: cheaper to bound than llguidance's own
# format regexes (which allow escapes, six bytes a character), and a value the user wrote is found by them.
_FORMAT_PATTERNS = {
    "date": (r"^\d{4}-\d{2}-\d{2}$", 10), "time": (r"^\d{2}:\d{2}(:\d{2})?$", 8),
    "date-time": (r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?$", 32),
    "email": (r"^[A-Za-z0-9._%+-]{1,24}@[A-Za-z0-9-]{1,16}(\.[A-Za-z0-9-]{1,8}){1,2}$", 59)}


def _format_layout(schema: dict[str, Any]) -> dict[str, Any] | None:
    """A string schema with one of ``_FORMAT_PATTERNS``' formats and no pattern, as that pattern."""
    fmt = schema.get("format")
    if fmt not in _FORMAT_PATTERNS or "pattern" in schema:
        return None
    pattern, length = _FORMAT_PATTERNS[fmt]
    base = {k: v for k, v in schema.items() if k not in ("format", "maxLength")}
    return {**base, "type": "string", "pattern": pattern, "maxLength": length}


_EXAMPLE = r"(?:e\.g\.|eg|like|such as|for example|example:?)\s*[\"'“‘(]?"


def _described_layout(schema: dict[str, Any]) -> dict[str, Any] | None:
    """A string property without a pattern or format whose description names a date or time layout
    ("YYYY-MM-DD") or gives an example in one ("e.g. 2025-01-31T19:45"): the schema with that layout as
    its pattern (None otherwise)."""
    text = schema.get("description")
    if not isinstance(text, str) or any(k in schema for k in ("pattern", "format", "enum", "const")):
        return None
    for named, pattern, length in _LAYOUTS:
        if re.search(rf"(?<![A-Za-z]){named}(?![A-Za-z])", text) \
                or re.search(rf"{_EXAMPLE}{pattern}(?![\w:-])(?![\"'”’)]?,?\s+or\b)", text, re.I):  # not "or today"
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
        layout = _format_layout(schema) or _described_layout(schema)
        if layout is not None:  # ASCII only: a byte a character
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
        wanted = max(items, node.wanted) if items >= LEVELS[0][0] else items  # the roomiest level only
        top = node.max_chars if node.max_chars is not None else wanted
        node.items = max(node.min_items, min(wanted, top))
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


def bound_tool(name: str, parameters: dict[str, Any], budget: int, source: str | None = None) -> ToolBound:
    """The tool's call shape with caps chosen for ``budget`` tokens (wrapper included), for a grammar
    whose values come from ``source`` when given (see :func:`lark_grammar`)."""
    return bound_value(name, parameters, budget, len(OPEN) + len(CLOSE) + len(_head(name).encode()) + 1, source)


def bound_value(name: str, schema: dict[str, Any], budget: int, wrapper: int = 0,
                source: str | None = None) -> ToolBound:
    """The shape of a value of ``schema`` with caps chosen for ``budget`` tokens, ``wrapper`` bytes of
    them taken by what surrounds it."""
    node = shape(schema)
    if source:
        _fit_to(node, source)
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


def _fit_to(node: Node, source: str) -> None:
    """Size the values a grammar from ``source`` takes from the user's words (their numbers, dates,
    addresses: :meth:`_Lark._written`) by the longest of them, not the longest the schema allows: an
    email leaf is 61 bytes in the worst case, "mia@x.io" 10. The grammar offers only those values,
    so the bound still holds, and a list of two addresses fits a budget that held none."""
    _set_level(node, *LEVELS[0])  # every part the grammar may hold
    lark = _Lark(source)
    lark.expr(node)
    stack = [node]
    while stack:
        n = stack.pop()
        written = lark.found.get(id(n))
        if written and n.size is not None:
            n.size = min(n.size, max(len(w.encode()) for w in written))
        if n.kind == "arr" and n.parts and (items := lark.found.get(id(n.parts[0]))):
            n.wanted = min(max(len(items), sum(lark.counts.get(v, 0) for v in items)), MAX_WANTED)
        stack += [p[1] if isinstance(p, tuple) else p for p in n.parts]


# -- rendering ------------------------------------------------------------------------------------

# Free-text values are copied from the user's words unless the property says ``false``: a small
# model left to write a value writes garbage ("}}12 * 7 = 84.5. 12 *"), while copying keeps
# expressions, names and queries as the user wrote them. Values that must be written (a file's
# content, a program name) opt out in their schema.
FROM_USER = "x-cupola-from-user"


# Words too common to count as the user naming an enum value ("in", "on", "to" as units or states).
_COMMON = frozenset("a an and as at be by for from i in is it me my no of on or so the to up we".split())


# Symbols and codes that stand for words (units, currencies, languages): an enum value "g" is named by
# "grams", "EUR" by "euros", "de" by "German" (general knowledge, not any one tool's vocabulary).
_LANGUAGES = {"en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian",
              "pt": "portuguese", "nl": "dutch", "ja": "japanese", "zh": "chinese", "ko": "korean",
              "ru": "russian", "ar": "arabic", "hi": "hindi", "sv": "swedish", "pl": "polish", "tr": "turkish"}
_ALIASES = {"g": ["gram"], "kg": ["kilogram", "kilo"], "mg": ["milligram"], "lb": ["pound"], "lbs": ["pound"],
            "oz": ["ounce"], "ml": ["milliliter", "millilitre"], "l": ["liter", "litre"], "tbsp": ["tablespoon"],
            "tsp": ["teaspoon"], "km": ["kilometer", "kilometre"], "m": ["meter", "metre"],
            "cm": ["centimeter", "centimetre"], "mm": ["millimeter", "millimetre"], "mi": ["mile"],
            "ft": ["foot", "feet"], "in": ["inch"], "c": ["celsius"], "f": ["fahrenheit"], "k": ["kelvin"],
            "h": ["hour"], "hr": ["hour"], "min": ["minute"], "sec": ["seconds"],
            "ms": ["millisecond"], "kmh": ["kilometers per hour"], "mph": ["miles per hour"],
            "usd": ["dollar"], "eur": ["euro"], "gbp": ["pound sterling", "sterling"], "jpy": ["yen"],
            "chf": ["swiss franc"], "cad": ["canadian dollar"], "aud": ["australian dollar"],
            "inr": ["rupee"], "cny": ["yuan", "renminbi"],
            **{day[:3]: [day] for day in "monday tuesday wednesday thursday friday saturday sunday".split()},
            **{code: [name] for code, name in _LANGUAGES.items()}}
_CODES = set(_LANGUAGES)  # never a symbol after a number
# words that name a value without sharing its letters, matched whole ("a 34-year-old woman" is female;
# "men" never by "menu")
_SYNONYMS = {"female": {"woman", "women", "girl", "girls", "lady", "ladies", "mother", "daughter"},
             "male": {"man", "men", "boy", "boys", "gentleman", "father", "son"}}


# Words of a boolean's key that do not name the thing itself (include_archived names "archived").
_FLAG_WORDS = frozenset("is has have include includes enable enabled allow use show with should can do only "
                        "get set want".split())
_PRONOUNS = frozenset("us you him her them".split())  # "cost us 7,800": cost is the number's word
_RELATIVE = frozenset("that which who whose while whereas but".split())  # after a number, the next thing's words
_EVERY = frozenset("every each per".split())  # "200 every month": the month is the number's neighbour
_BOUNDS = frozenset("max maximum min minimum limit num number count total value amount".split())  # no unit's word
_COUNT_BEFORE = re.compile(r"\b(first|last|top|next|latest|newest|recent|most recent)$")
_COUNTED = re.compile(r"$|[a-z]*(?<![su])s\b|(?:" + "|".join(sorted(_COMMON)) + r")\b")  # "5 transactions", not "14 bus"
_LOW_BEFORE = re.compile(r"\b(at least|over|above|more than|from|min|minimum)$")
_LOW_AFTER = re.compile(r"^(or more|and up|and above|or above|or higher|plus)\b")
_HIGH_BEFORE = re.compile(r"\b(under|below|at most|less than|up to|within|max|maximum|no more than)$")
_HIGH_AFTER = re.compile(r"^(or less|or fewer|or under|or below|and under|max)\b")
# a number field named as a count or a bound takes a number the user wrote as one (before, after: words)
_BOUND_CUES = {
    **{w: lambda b, a: bool(_COUNT_BEFORE.search(b) and _COUNTED.match(a))
       for w in ("limit", "top", "count", "results", "rows", "items")},
    **{w: lambda b, a: bool(_LOW_BEFORE.search(b) or _LOW_AFTER.search(a)) for w in ("min", "minimum", "least")},
    **{w: lambda b, a: bool(_HIGH_BEFORE.search(b) or _HIGH_AFTER.search(a)) for w in ("max", "maximum", "most")},
}
_NEGATIONS = frozenset("no not don dont doesn without never non disable skip exclude".split())


# Strings of a recognisable kind take a whole token of that kind from the user's words: an id field a code
# ("CT-0457", "48810", not "agreement"), an email field an address, a path field a path, a URL field a URL, a
# phone field a number ("+14155550123", not "10"). The kind comes from the key (or "format", or a
# description that says "phone"), the tokens from the message.
_KINDS = {
    "email": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    "url": re.compile(r"https?://[^\s\"'<>]*[^\s\"'<>.,;:!?)\]]"),
    "path": re.compile(r"(?<![\w@/.])(?:~|\.{1,2})?/[\w.~/-]*[\w~/]"  # /docs/a.txt, ~/notes
                       r"|(?<![\w@/.-])[\w-]+\.[A-Za-z][A-Za-z0-9]{0,4}\b(?!@)"),  # report.pdf
    "phone": re.compile(r"\+?\d[\d ().-]{5,}\d"),
    # a UK, Canadian or digits-only (US ZIP+4, most of Europe) postal code: "SW1A 1AA", "K1A 0B1", "80331"
    "postcode": re.compile(r"(?<![\w-])(?:[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|[A-Z]\d[A-Z] ?\d[A-Z]\d|\d{4,6}(?:-\d{4})?)"
                           r"(?![\w-])"),
    "id": re.compile(r"(?<![\w@/.-])#?(?P<value>[A-Za-z0-9][\w-]*\d[\w-]*)(?![\w.-]*\.\d)"),  # not "1200" of 1200.50
    "host": re.compile(r"(?<![\w@/.-])(?:\d{1,3}(?:\.\d{1,3}){3}|(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})(?![\w@/-])"),
}
_KIND_WORDS = {"email": {"email", "emails", "mail"}, "url": {"url", "urls", "uri", "link", "href"},
               "path": {"path", "paths", "file", "files", "folder", "dir", "directory", "filename"},
               "phone": {"phone", "mobile", "msisdn"}, "postcode": {"postcode", "postcodes", "zip", "zipcode", "postal"},
               "id": {"id", "ids", "sku"},
               "host": {"host", "hosts", "hostname", "domain", "domains", "ip"}}
_FILE_TYPES = frozenset("pdf txt csv tsv doc docx xls xlsx ppt pptx json yaml yml xml md py js ts html htm png jpg jpeg "
                        "gif svg mp3 mp4 wav zip gz tar log sql ini cfg toml".split())
# the last word of a key of several words that makes a string an id ("project_code", "order_number"; not
# "source_code", nor a description's "state code")
_ID_LAST = frozenset(("code", "number", "no"))
# kinds whose every token in the message a list of that kind holds, when no single sibling takes that kind
# (an address, a link, a file or a phone number is not written in passing; an id-like code can be)
_LISTED = {"email", "url", "path", "phone"}
_FORMATS = {"email": "email", "uri": "url", "url": "url", "phone": "phone"}



def _kind(key: str, schema: dict[str, Any]) -> str | None:
    """The kind of string a property holds (see ``_KINDS``), from its key, format or description."""
    if schema.get("format") in _FORMATS:
        return _FORMATS[schema["format"]]
    words = set(_words(key))
    code = codes.kind_of(key, schema, words)  # a time zone, a language, currency or country code
    if code:
        return code
    for kind, names in _KIND_WORDS.items():
        if words & names:
            return kind
    if len(listed := _words(key)) > 1 and listed[-1] in _ID_LAST and listed[-2] not in ("source", "python", "sample"):
        return "id"
    description = schema.get("description")
    if isinstance(description, str) and re.search(r"\bphone\b|E\.164", description, re.I):
        return "phone"
    if isinstance(description, str):  # "Source account id, e.g. CHK-001": the first clause names the kind
        said = set(_words(re.split(r"[,;.(]", description, maxsplit=1)[0]))
        if not said & {"name", "names", "or"}:
            return next((kind for kind, names in _KIND_WORDS.items() if said & names), None)
    return None


def _item(node: Node) -> Node:
    """An array node's item node; any other node itself."""
    return node.parts[0] if node.kind == "arr" and node.parts else node


def _string_kind(key: str, node: Node) -> str | None:
    """The kind (`_kind`) of a string property or of a list of strings, by the item's schema or the list's."""
    target = _item(node)
    return _kind(key, target.schema) or _kind(key, node.schema) if target.kind == "str" else None


def kind_tokens(kind: str, text: str, schema: dict[str, Any] | None = None) -> list[str]:
    """The whole tokens of ``kind`` in the user's ``text``, in order and once each (for a kind of code,
    the codes of what the user named: `codes.codes`)."""
    if kind in codes.KINDS:
        return codes.codes(kind, text, schema)
    out: list[str] = []
    for m in _KINDS[kind].finditer(text):
        value = (m.groupdict().get("value") or m.group(0)).strip()
        if kind == "id" and not re.search(r"[A-Za-z]", value) and not re.fullmatch(r"\d+", value):
            continue
        if kind == "host" and value.rsplit(".", 1)[-1].lower() in _FILE_TYPES:  # report.pdf is a file
            continue
        if value not in out:
            out.append(value)
    return out


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9]+", " ", re.sub(r"([a-z])([A-Z])", r"\1 \2", str(text)).lower()).split()


def mentions(value: Any, text: str) -> bool:
    """Whether the user's ``text`` names ``value`` (:func:`_said`), or its word when it is a symbol or
    code ("g" by "grams", "de" by "German"), or its symbol right after a number ("grams" by "150 g"); an
    operator only by itself ("<" is not named by "<=" or "->"); a capital letter (a grade, a class) by
    itself, "A" not where it starts a sentence ("an A-", "a B+ in", not "A 3-credit class")."""
    if isinstance(value, str) and re.fullmatch(r"[A-HJ-Z][+-]?", value):
        before = r"(?<=[\w,;:] )" if value[0] == "A" else r"(?<![A-Za-z+-])"
        if re.search(rf"{before}{re.escape(value)}(?![\w+-])", text):
            return True
    elif _said(value, text):
        return True
    key = str(value).lower()
    if key and not re.search(r"\w", key):  # an operator ("<", ">=") written as one: "disk_free_gb < 10"
        return re.search(rf"(?<![^\w\s]){re.escape(key)}(?![^\w\s])", text) is not None
    if key in _SYNONYMS:
        return bool(_SYNONYMS[key] & set(_words(text)))
    if key in _ALIASES:
        return any(_said(word, text) for word in _ALIASES[key])
    return any(re.search(rf"\d\s?{re.escape(abbr)}\b", text, re.I) and any(_said(value, word) for word in words)
               for abbr, words in _ALIASES.items() if abbr not in _CODES)


def name_share(name: str, text: str) -> float:
    """The share of a name's words (three letters or more, not common ones) that ``text`` says
    (:func:`_said`): 1/2 for list_transactions in "Show transactions on CHK-001"."""
    words = [w for w in _words(name) if w not in _COMMON and len(w) >= 3]
    return sum(_said(w, text) for w in words) / len(words) if words else 0.0


_INFLECTIONS = frozenset(("s", "es", "d", "ed"))


def _forms(word: str) -> set[str]:
    """A word and its inflections ("language": languages; "died": die)."""
    return {word, *(word + i for i in _INFLECTIONS), *(word[:-len(i)] for i in _INFLECTIONS if word.endswith(i))}


def _said(value: Any, text: str) -> bool:
    """Whether the user's ``text`` names ``value`` (an enum value or a property name): its words in a
    row, each matching a word of the text whole, as a prefix ("quiet" in "quietly", "cup" in "cups") or
    by a shared stem of at least four letters ("drive" in "driving"); common words never count alone. A
    value is also named by a token that spells it with other marks ("SHA-256" names sha256, "h264" names
    H.264, "e-mail" names email)."""
    wanted = _words(value)
    if not wanted or (len(wanted) == 1 and wanted[0] in _COMMON):
        return False
    have = _words(text)
    if len(joined := "".join(wanted)) >= 3 and joined in {"".join(_words(t)) for t in text.split()}:
        return True

    def same(w: str, t: str) -> bool:
        if t == w or (len(w) >= 2 and t.startswith(w) and len(t) - len(w) <= 3):
            return True
        if len(t) >= 3 and w.startswith(t) and w[len(t):] in _INFLECTIONS:  # "die" names died, "tax" taxes
            return True
        if len(w) >= 3 and w.endswith("e") and t in (w[:-1] + "ing", w + "r", w + "rs"):  # "biking" names bike
            return True
        stem = max(4, min(len(w), len(t)) - 2)
        return len(w) >= stem and len(t) >= stem and w[:stem] == t[:stem]

    return any(all(same(w, have[i + j]) for j, w in enumerate(wanted)) for i in range(len(have) - len(wanted) + 1))


def _beside(name: str, word: str) -> bool:
    """Whether ``word``, next to one of the user's numbers, names the key word ``name``: said
    (:func:`_said`) or shortened to its first letters ("3 bed, 2 bath" for bedrooms and bathrooms,
    "90 sec" for seconds). Only beside a number: "add" does not name an address elsewhere."""
    return _said(name, word) or (len(word) >= 3 and word not in _COMMON and name.startswith(word))


def _rounded(value: Decimal | None) -> Decimal | None:
    """A converted quantity as a user would write it: to two decimals when it has more than a number may
    (3 lb is 1.36 kg, 12 inches 30.48 cm; 3.5% is still 0.035)."""
    if value is None or -value.as_tuple().exponent <= DECIMALS:  # type: ignore[operator]
        return value
    return value.quantize(Decimal("0.01")).normalize()


def _fits_number(value: Decimal, schema: dict[str, Any], size: int | None) -> bool:
    """Whether ``value`` is one a number schema allows, written within ``size`` bytes."""
    integral = value == value.to_integral_value()
    if schema.get("type") == "integer" and not integral:
        return False
    text = number_text(value)
    if "." in text and len(text.split(".")[1]) > DECIMALS:
        return False
    if size is not None and len(text) > size:
        return False
    checks = (("minimum", lambda b: value >= b), ("maximum", lambda b: value <= b),
              ("exclusiveMinimum", lambda b: value > b), ("exclusiveMaximum", lambda b: value < b),
              ("multipleOf", lambda b: b == 0 or value % b == 0))
    for key, ok in checks:
        bound = schema.get(key)
        if isinstance(bound, (int, float)) and not isinstance(bound, bool) and not ok(Decimal(str(bound))):
            return False
    return True


_MONTHS = {m: i + 1 for i, m in enumerate("january february march april may june july august september october "
                                         "november december".split())}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())} | {"sept": 9})
_SPELLED_DATE = re.compile(r"\b(?:(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?([A-Za-z]+)\.?|([A-Za-z]+)\.?"
                           r"(?:\s+(\d{1,2})(?:st|nd|rd|th)?)?),?\s+(\d{4})\b")


def _month_names(text: str) -> list[tuple[int, str, str | None]]:
    """Dates written with a month's name ("March 2025", "Nov 3, 2024", "3rd of March 2025"): where each
    ends, its ISO month ("2025-03") and its ISO day ("2024-11-03", or None for a month alone)."""
    out: list[tuple[int, str, str | None]] = []
    for m in _SPELLED_DATE.finditer(text):
        month = _MONTHS.get((m.group(2) or m.group(3) or "").lower())
        if month is None:
            continue
        day, year = m.group(1) or m.group(4), m.group(5)
        iso = f"{year}-{month:02d}"
        out.append((m.end(), iso, f"{iso}-{int(day):02d}" if day and 1 <= int(day) <= 31 else None))
    return out


def _spelled_dates(text: str) -> list[str]:
    """Dates written with a month's name in ISO form: "2025-03" for a month, "2024-11-03" (and
    "2024-11") for a day."""
    return [iso for _, month, day in _month_names(text) for iso in (day, month) if iso]


_ISO_DATE = re.compile(r"(?<![\w-])(\d{4})-(\d{2})-(\d{2})(?![\w-])")
_TIME_AFTER = re.compile(r"\s*,?\s*(?:at\s+|@\s*)?(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([ap])\.?m\b\.?)?", re.I)


def _date_times(text: str) -> list[str]:
    """A day and the clock time written right after it, as one ISO date-time ("2025-10-02 at 19:30" and
    "Oct 2, 2025, 7:30 pm" are "2025-10-02T19:30")."""
    out: list[str] = []
    days = [(m.end(), f"{m.group(1)}-{m.group(2)}-{m.group(3)}") for m in _ISO_DATE.finditer(text)]
    days += [(end, day) for end, _, day in _month_names(text) if day]
    for end, day in days:
        t = _TIME_AFTER.match(text, end)
        if not t:
            continue
        hour, minute = int(t.group(1)), int(t.group(2))
        if t.group(4):
            if not 1 <= hour <= 12:
                continue
            hour = hour % 12 + (12 if t.group(4).lower() == "p" else 0)
        if hour < 24 and minute < 60:
            out.append(f"{day}T{hour:02d}:{minute:02d}" + (f":{t.group(3)}" if t.group(3) else ""))
    return out


def _ordered_matches(pattern: str, text: str) -> list[str]:
    """Every string of ``text`` that ``pattern`` accepts whole (dates, times, codes), in the order
    written, repeats kept; none when the pattern is not one Python's ``re`` reads."""
    try:
        whole = re.compile(pattern)
        inner = re.compile(rf"(?<![\w-])(?:{pattern.removeprefix('^').removesuffix('$')})(?![\w-])")
    except re.error:
        return []
    return [m.group(0) for m in inner.finditer(text)
            if whole.search(m.group(0)) and not re.search(r'["\\\x00-\x1f]', m.group(0))]


def _layout_values(schema: dict[str, Any], text: str) -> list[str]:
    """The strings in ``text`` that a string schema's ``pattern`` accepts whole (dates, times, codes the
    user wrote, and dates written with a month's name), each once."""
    pattern = schema.get("pattern")
    if not isinstance(pattern, str):
        return []
    try:
        whole = re.compile(pattern)
    except re.error:
        return []
    top = schema.get("maxLength")
    out: list[str] = []
    for value in _ordered_matches(pattern, text) + _spelled_dates(text) + _date_times(text):
        if whole.search(value) and value not in out and not re.search(r'["\\\x00-\x1f]', value) \
                and (not isinstance(top, int) or len(value) <= top):
            out.append(value)
    return out


def enum_key(values: list[Any]) -> tuple[str, ...]:
    """How an enum is known in ``enum_hints``: its values, as JSON."""
    return tuple(json.dumps(v) for v in values)


def enums(schema: Any) -> list[list[Any]]:
    """The enums of word values in a schema (each once), where a hint from the embedding model can help:
    not symbols or codes ("<", "AAAA"), whose embeddings say nothing."""
    out: list[list[Any]] = []
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            values = node.get("enum")
            if isinstance(values, list) and len(values) > 2 and values not in out and all(
                    isinstance(v, str) and re.search(r"[a-z]{3}", v) for v in values):
                out.append(values)
            stack.extend(v for k, v in node.items() if k != "enum")
    return out


def _enum_values(node: Node) -> list[Any] | None:
    """The enum a node (or an array node's items) chooses from, if it is one."""
    target = node.parts[0] if node.kind == "arr" and node.parts else node
    values = target.schema.get("enum") if target.kind == "alt" else None
    return values if isinstance(values, list) else None


_LEAD = re.compile(r"^[(\[{'‘“#]+")
# A copied value starts with a word and ends with a word or a closing mark: never a lone comma or space.
_EDGES = r"[^\s.,;:!?'’”)\]}(\[{‘“#]([^\x00]*[^\s,;:(\[{‘“#])?"
# Words that are never a value on their own: a copy of only these ("my", "Please", "OK") was a small
# model filling a field it had nothing for (found on the development set: "memo": "Please", "sender": "my")
_QUANTITY_TEXT = re.compile(r"-?[\d,.]*\d+\s?-?\s?[A-Za-z%]+|\$[\d,.]*\d")  # "150 g", "10 minutes", "$80"
_LIST_BREAK = re.compile(r"[,;:.!?()\[\]{}]+")  # marks inside a piece of the message no list item crosses
_SPAN_WORDS = 4  # the most words of an item of a list of copies (see _Lark._spans)
_SPAN_STARTS = 80  # the most words a message may have for its spans to be listed
_SPLITS = 96  # the most ways an object's two copies may be split (each costs two substring rules)
_GAPS_FROM = 8  # a message of more spaces than this is split only between phrases (see _gaps)
_PREPOSITIONS = frozenset("in on at into onto for with without under over near via per until before after during "
                          "between through".split())
# keys of a field that names a place, and a place named with "in" (capitalised: "in Yorkshire", "in New
# South Wales"; not "in time")
_PLACE_WORDS = frozenset("region county state province city town country location area district borough "
                         "neighborhood neighbourhood suburb place".split())
_IN_PLACE = re.compile(r"\b(?:in|near|around)\s+((?:[A-Z][\w'’-]*)(?:\s+[A-Z][\w'’-]*)*)")
_WEEKDAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())
_FILLER = frozenset("a an the my me i you your we our their them they this that these those is are was were be "
                    "been do does did please ok okay and or but so if then than of to for from with by at about "
                    "into what which who when where why how just also".split())
_FILLER_RX = "(" + "|".join([f"[{w[0]}{w[0].upper()}]{w[1:]}" for w in sorted(_FILLER)] + ["OK"]) + ")"
_NOT_WORD = r"[^A-Za-z0-9_]"
# Lowercase words a value never ends with: a copy ending so was cut mid-phrase ("Remind me to", "OK, find
# me a"); titles that end so are capitalised ("Stand by Me")
_DANGLING = "(" + "|".join("a an the to of for and or with from by at in on into about my me your our their his "
                           "her its".split()) + ")"
_STARTS, _ENDS = re.compile(r"[^\s.,;:!?'’”)\]}(\[{‘“#]"), re.compile(r"[^\s,;:(\[{‘“#]")  # _EDGES' ends
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


def _names_whole(pieces: list[str]) -> list[str]:
    """``pieces`` with each name of capitalised words one piece ("Unlimited Max", "the Ferry Building",
    "John Lennon", "the Harbour Hawks"), so that a copy never starts or ends inside one ("plan": "Max",
    "pickup": "Ferry", "artist": "Lennon"), nor do two copies split one ("homeTeam": "Hawks", "awayTeam":
    "Harbour"). The message's first word starts no name (it may be a verb: "Invoice Brightside Ltd");
    a name with a word written twice is left in words."""
    counts = Counter(pieces)
    first = next((i for i, p in enumerate(pieces) if re.search(r"\w", p)), None)
    out: list[str] = []
    for i, piece in enumerate(pieces):
        if len(out) >= 2 and out[-1] == " " and i - 2 != first and _NAME_WORD.fullmatch(piece) \
                and counts[piece] == 1 and re.fullmatch(r"(?:[A-Z][a-z]+ )*[A-Z][a-z]+", out[-2]) \
                and all(counts[w] == 1 for w in out[-2].split(" ")):
            out[-2:] = [out[-2] + " " + piece]
        else:
            out.append(piece)
    return out


def copyable(text: str) -> str:
    """The user's words as a value may hold them: no quotes, backslashes, control characters or "</"."""
    return re.sub(r'["\\\x00-\x1f\x7f]+', " ", text).replace("</", "< /").strip()


# which group of siblings (their order in the grammar), and their keys with the values each chooses from
Signature = tuple[int, tuple[tuple[str, tuple[str, ...]], ...]]


@dataclass
class Ask:
    """Sibling properties that take different ones of a few values, in more than one allowed way
    (``age`` and ``resting_bpm`` from 52 and 58): which way is meant is for the caller to say, by the
    words around each value in the message (:func:`value_context`) and each property's name and
    description (``fields``)."""

    signature: Signature
    fields: list[str]
    combos: list[tuple[str | None, ...]]  # None: the property is left out
    places: dict[str, tuple[int, int]] = field(default_factory=dict)  # converted values: where the user wrote them


def value_place(value: str, text: str) -> tuple[int, int] | None:
    """Where the user first wrote ``value`` (a JSON literal: a number as its digits, a string as written
    or by the word that names it: "cups" for cup, "grams" for g, "Tokyo" for Asia/Tokyo), as (start,
    end) in ``text``; None when it is not written as such (a date made from a month name, a number in
    words)."""
    if value.startswith('"'):
        wanted = json.loads(value)
        if not isinstance(wanted, str) or not wanted:
            return None
        m = re.search(rf"(?<!\w){re.escape(wanted)}(?!\w)", text) \
            or re.search(rf"(?<!\w){re.escape(wanted)}\w*", text, re.I) \
            or next((w for w in re.finditer(r"[^\W\d_]+", text) if mentions(wanted, w.group())), None)
        if m:
            return m.start(), m.end()
        return next((at for kind in codes.KINDS if (at := codes.places(kind, text).get(wanted))), None)  # "Tokyo"
    try:
        number = Decimal(value)
    except ArithmeticError:
        return None
    at = next((start for v, start in numerals(text) if v == number), None)
    if at is None:
        return None
    m = re.compile(r"-?[\d,.]*\d\w*").match(text, at)
    return at, (m.end() if m else at + 1)


def value_context(value: str, text: str, before: int = 3, after: int = 2) -> tuple[int, str] | None:
    """Where the user first wrote ``value`` (:func:`value_place`) and the words around it in its clause,
    without the value itself: "Zones for a year old" for 52 in "Zones for a 52 year old with …"."""
    place = value_place(value, text)
    if place is None:
        return None
    at, end = place
    back = _spoken(text[:at]).split()
    if len(back) >= 2 and re.search(r"\d", back[-2]) and not _BOUNDARY.search(back[-2]):
        back = []  # "60 min 250 kcal": "min" is 60's unit, not 250's
    words = _clause(reversed(back), before, True)[::-1] + _clause(_spoken(text[end:]).split(), after, False)
    return (at, " ".join(words)) if words else None


_BOUNDARY = re.compile(r"[,;:.!?()\[\]]$")
_SYMBOLS = {"%": "percent", "$": "dollars", "€": "euros", "£": "pounds", "°": "degrees", "#": "number"}
_SYMBOL = re.compile("|".join(map(re.escape, _SYMBOLS)))


def _spoken(text: str) -> str:
    """``text`` with symbols as words: a symbol next to a number says what it is ("20%": percent)."""
    return _SYMBOL.sub(lambda m: f" {_SYMBOLS[m.group()]} ", text)


def _clause(tokens: Iterable[str], limit: int, backwards: bool) -> list[str]:
    """Up to ``limit`` words next to a value, within its clause: not past punctuation that ends one,
    nor past another number (its words are that number's)."""
    out: list[str] = []
    for token in tokens:
        if len(out) >= limit or re.search(r"\d", token) or (backwards and _BOUNDARY.search(token)) \
                or (not backwards and not out and re.match(r"[,;:.!?)\]]", token)):
            break
        word = token.strip(",;:.!?()[]\"'")
        if re.search(r"\w", word):
            out.append(word)
        if not backwards and _BOUNDARY.search(token):
            break
    return out


class _Lark:
    def __init__(self, source: str | None = None, calls: bool = True,
                 hints: dict[tuple[str, ...], list[Any]] | None = None,
                 prefer: dict[Signature, tuple[str | None, ...]] | None = None) -> None:
        self.rules: list[str] = []
        self.hints = hints or {}  # enum values -> the few closest to the message (when none is named)
        self.prefer = prefer or {}  # sibling values -> the assignment meant (see Ask)
        self.asks: list[Ask] = []  # sibling values with several allowed assignments and no preference
        self.repeated = 0  # > 0 inside an array's item: one rule for every item, so no preference
        self.groups = 0  # groups of siblings met that the model could assign in several ways
        self.calls = calls  # inside <tool_call> tags: no value may hold "</"
        self.source = copyable(source) if source else None
        self.pieces = _names_whole(chunks(self.source)) if self.source else []
        if not any(re.fullmatch(_EDGES, p) for p in self.pieces):
            self.source = None  # no word to copy (only punctuation): values are only bounded
        self.said = source or ""
        # a copy ends with a full stop (or "?", "!") only where the user's quote does: "The meeting moved
        # to 3pm." in quotes, never "lunch is here." or "users(email)." at the end of a sentence
        quoted = list(dict.fromkeys(re.findall(r"([^\s\"'“‘]*[^\s\"'“‘.!?][.!?]+)[\"'”’]", self.said)))
        self._stop = "/[^\\x00]*[^.!?]" + "".join(f"|[^\\x00]*{_rx(q)}" for q in quoted) + "/"
        self.numbers = numbers(self.said)
        self.quantities = quantities(self.said)
        self.numerals = numerals(self.said)  # (value, start) of every number written in digits, in order
        self.values = number_values(self.said)  # (start, end, value) of every number, in digits or words
        self.bare = {v for v, start in self.numerals if start not in {q.at for q in self.quantities}}  # no unit
        self.units: dict[int, str | None] = {}  # number nodes (by id) -> the unit their field names
        self.counts = Counter(number_text(v) for v, _ in self.numerals)  # how often each was written
        self.counts.update(number_text(q.value) for q in self.quantities if q.unit == "per year")  # "quarterly"
        self.typed: dict[int, list[str]] = {}  # string nodes (by id) held to whole tokens of their kind
        self.listed: set[int] = set()  # array items (by id) of a kind whose every token the list holds
        self.excluded: dict[int, list[str]] = {}  # copied strings (by id) that may not be exactly these
        self.unled: dict[int, list[str]] = {}  # copied strings (by id) that may not start with these numbers
        self.held: dict[int, list[str]] = {}  # copied strings (by id) that may not hold these values (see _substrings)
        self.found: dict[int, list[str] | None] = {}  # _written's answer per node (by id): asked several times
        self.need: int | None = None  # the required number fields of the whole call (see _numbers_given)
        self.spare = 0  # its optional number fields
        self.near: list[tuple[Decimal, list[str]]] | None = None  # see _neighbours
        self.origins: dict[str, tuple[int, int]] = {}  # a converted number -> where its quantity is written
        self.depth = 0  # objects entered
        self.optional: set[int] = set()  # array nodes (by id) that are an object's optional members
        self.outside: tuple[list[str], int] = ([], 0)  # see _outside: of the object whose members are rendered
        self.leftover: dict[int, list[tuple[str, str]]] = {}  # lists of objects (by id): see _runs
        self.lead: str | None = None  # a regex a copy starts with (see _starting)
        self.named: dict[int, str] = {}  # copied names (by id) -> the word they start with (see _called)
        self.verbs: list[str] = []  # the user's words that name the tool rendered: no copy starts with one

    def tool_words(self, name: str) -> list[str]:
        """The words of the user's message that say what the tool ``name`` does rather than give a value:
        a word of its name written in lower case or opening a sentence ("Book" of "Book Maya Chen a
        checkup" for dental.book_checkup, "Reorder" for inventory.reorder, "grants" for grants.search);
        not a capitalised word inside a sentence ("the Book of Kells")."""
        if not self.source:
            return []
        names = {f for w in _words(name) if len(w) >= 3 and w not in _COMMON for f in _forms(w)}
        out, before = [], ""
        for piece in self.pieces:  # whole pieces: not "data" of "data/listings.csv"
            opening = not before.strip() or re.search(r"[.!?:;]\s+$", before) is not None
            if piece.isalpha() and piece.lower() in names and (piece.islower() or opening):
                out.append(piece)
            before += piece
        return list(dict.fromkeys(out))

    def _written(self, node: Node) -> list[str] | None:
        """The values the user wrote that a number (or a string with a pattern, such as a date) may take,
        as JSON literals; None when the node is not one of these or is not copied from the user."""
        if id(node) not in self.found:
            self.found[id(node)] = self._find(node)
        return self.found[id(node)]

    def _find(self, node: Node) -> list[str] | None:
        if not self.said or node.kind not in ("lex", "json") or node.schema.get(FROM_USER, True) is False:
            return None
        if node.schema.get("type") in ("number", "integer"):
            unit = self.units.get(id(node))  # "in an hour" for ttl_seconds: 3600, and no other number
            converted = []
            for q in self.quantities:
                if unit and (v := _rounded(in_unit(q, unit))) is not None:
                    # where each converted value was written ("12 x 9 inch": 30.48 first)
                    self.origins.setdefault(number_text(v), (q.at, q.at + len(number_text(q.value))))
                    if _fits_number(v, node.schema, node.size):
                        converted.append(v)
            if converted:
                return list(dict.fromkeys(number_text(v) for v in converted))
            return [number_text(v) for v in self.numbers if _fits_number(v, node.schema, node.size)]
        if node.kind == "json" and node.schema.get("type") == "string":
            if "pattern" in node.schema:
                return [_lit(v) for v in _layout_values(node.schema, self.said)]
            if node.schema.get("format") in _FORMATS:  # held to the leaf's maxLength, as its bound counts
                top = node.schema.get("maxLength")
                return [_lit(v) for v in kind_tokens(_FORMATS[node.schema["format"]], self.said)
                        if not isinstance(top, int) or len(v) <= top]
        return None

    def _grounded(self, key: str, node: Node) -> bool:
        """Whether an optional property may be written: not an enum none of whose values the user named,
        nor a boolean whose name the user did not use, nor a number or a patterned string (a date) when
        the user wrote none that fits (a small model otherwise fills them in)."""
        if not self.said or node.schema.get(FROM_USER, True) is False:
            return True
        written = self._written(node)
        if written is not None:
            return bool(written)
        values = _enum_values(node)
        if values is not None:
            return any(self._says(node, v) for v in values)
        if node.schema.get("type") == "boolean":
            return self._flag(key) is not None
        if kind := _string_kind(key, node):  # no address, id, zone or code written
            return bool(kind_tokens(kind, self.said, _item(node).schema))
        return True

    def _flag(self, key: str) -> str | None:
        """A boolean the user named ("a public playlist", "nonstop only", "don't notify me"): ``"true"``,
        or ``"false"`` when a negation comes just before the name; None when the user did not name it.
        The name is the key's first distinctive word ("business" of business_days_only, "archived" of
        include_archived): "fourteen days" does not name business_days_only."""
        words = [w for w in _words(key) if w not in _FLAG_WORDS and w not in _COMMON and len(w) >= 3]
        if not words:
            return None
        have = _words(self.said)
        for i in range(len(have)):
            if _said(words[0], have[i]):
                return "false" if _NEGATIONS & set(have[max(0, i - 3):i]) else "true"
        return None

    def _flags(self, members: list[tuple[str, Node, bool]]) -> dict[str, str]:
        """The booleans among ``members`` that the user named, with the value they said."""
        if not self.said:
            return {}
        return {k: value for k, sub, _ in members if sub.kind == "alt" and sub.schema.get("type") == "boolean"
                and sub.schema.get(FROM_USER, True) is not False and (value := self._flag(k)) is not None}

    def _asked(self, key: str, node: Node) -> bool:
        """Whether an optional property must be written: an enum one of whose values the user named, a
        boolean whose name the user used ("walking directions", "a public playlist"), or a string
        whose key the user said ("in the audit schema", "memo 'rent top-up'", "reply in thread ...")."""
        if not self.said or node.schema.get(FROM_USER, True) is False:
            return False
        values = _enum_values(node)
        if values is not None:
            return any(self._says(node, v) for v in values)
        if node.kind == "str" or (node.kind == "json" and node.schema.get("type") == "string"):
            return any(_said(w, self.said) for w in _words(key) if len(w) >= 3 and w not in _COMMON | _BOUNDS) \
                and self._grounded(key, node)
        return node.schema.get("type") == "boolean" and self._grounded(key, node)

    def _neighbours(self) -> list[tuple[Decimal, list[str]]]:
        """Each number the user wrote with the words next to it: the nearest word before it and the two
        after it that are not common ones, in the same clause ("3 bedrooms, 2 baths": bedrooms for 3,
        baths for 2; not "current" for "the current through a 220 ohm resistor"), and before "that", "which"
        and the like ("sold for 12,000 that cost us 7,800": cost is 7,800's word, not 12,000's)."""
        if self.near is None:
            words = [(m.start(), m.end(), m.group().lower()) for m in re.finditer(r"[A-Za-z]{2,}", self.said)
                     if m.group().lower() not in _COMMON | _EVERY | _PRONOUNS]
            self.near = []
            for start, end, value in self.values:
                before = [(s, e, w) for s, e, w in words if e <= start][-1:]
                after = [(s, e, w) for s, e, w in words if s >= end][:2]  # "6 full cycles", "220 ohm resistor"
                after = list(itertools.takewhile(lambda x: x[2] not in _RELATIVE, after))  # "12,000 that cost us"
                self.near.append((value, [w for s, e, w in before + after if not re.search(
                    r"[,;:.!?()]", self.said[e:start] if e <= start else self.said[end:s])]))
        return self.near

    def _narrow_numbers(self, members: list[tuple[str, Node, bool]]) -> None:
        """Narrow the user's numbers a field of ``members`` may take by the words they stand by. A
        number the user wrote next to a word of a field's key is that field's ("3 bedrooms, 2 baths", "a
        2 bedroom flat of 90 square metres": bedrooms 2, not 90), when it is the only such number; and a
        field that names no unit does not take a quantity a sibling's unit claims ("70% of the time,
        eight out of ten": trials is not 70 when p_success takes 70%; an optional one left nothing is left
        out: "a 12 ft by 8 ft wall" sets no coats)."""
        if not self.said:
            return
        numeric = [(k, sub, req) for k, sub, req in members if sub.kind in ("lex", "json")
                   and sub.schema.get("type") in ("number", "integer") and sub.schema.get(FROM_USER, True) is not False]
        if not numeric:
            return
        units = [u for _, sub, _ in numeric if (u := self.units.get(id(sub)))]
        keys = Counter(w for k, _, _ in numeric for w in set(_words(k)))
        for k, sub, req in numeric:
            written = self._written(sub)
            if not written or self._in_its_unit(sub):  # its unit decides
                continue
            # the key's own words, not those its siblings share ("ph" of current_ph and target_ph)
            names = [w for w in _words(k) if w not in _COMMON and w not in _BOUNDS and len(w) >= 2 and keys[w] == 1]
            beside = {number_text(value) for value, near in self._neighbours()
                      if any(_beside(n, w) for n in names for w in near)}
            if len(beside) == 1 and beside <= set(written):
                self.found[id(sub)] = list(beside)
                continue
            if self.units.get(id(sub)):
                continue
            kinds = {dimension(w) for w in _words(k)} - {None}  # hours_per_day may take "5 hours"
            claimed = {number_text(q.value) for q in self.quantities if dimension(q.unit) not in kinds
                       and any(in_unit(q, u) is not None for u in units)}
            kept = [w for w in written if w not in claimed]
            if kept or not req:  # an optional one the claimed numbers leave nothing is left out ("12 ft" not coats)
                self.found[id(sub)] = kept

    def _numbers_given(self, members: list[tuple[str, Node, bool]]) -> set[str]:
        """The optional number fields the user gave a value for, which a small model tends to leave out
        ("only the first 10 rows" for max_rows, "for 5 minutes" for duration_minutes, "two days" for
        hours). When the user wrote more numbers than the required number fields take, an optional
        number field is written if the user's quantity is in its unit, or a word of its key stands next
        to a number ("top 4" for top, "150 kW" for min_power_kw), or it is the only optional number
        field that could take one and no free-text field could hold it instead; all of these when
        they are no more than the numbers left over, else none (the model chooses)."""
        if not self.said:
            return set()
        numeric = [(k, sub, req) for k, sub, req in members
                   if sub.schema.get("type") in ("number", "integer") and sub.schema.get(FROM_USER, True) is not False]
        codes: set[str] = set()  # "48810" for an employee_id is not a number (but 500 is, by "CHK-778")
        for k, sub, _ in members:
            if sub.kind == "str" and (kind := _kind(k, sub.schema)):
                tokens = kind_tokens(kind, self.said)
                codes |= set([t for t in tokens if re.search(r"[A-Za-z]", t)] or tokens)
        places = [(start, end) for start, end in number_places(self.said) if self.said[start:end] not in codes]
        left = len(places) - (self.need or 0)
        optional = [(k, sub) for k, sub, req in numeric if not req and self._written(sub)]
        if left <= 0 or not optional:
            return set()
        words = [(m.start(), m.group().lower()) for m in re.finditer(r"[A-Za-z]+", self.said)]
        near = [([w for s, w in words if s < start][-3:], [w for s, w in words if s >= end][:3])
                for start, end in places]  # three words each side of each number

        def beside(key: str) -> bool:  # a word of the key next to a number ("first 10 rows", "top 4")
            names = [w for w in _words(key) if w not in _COMMON and w not in _BOUNDS]
            if any(_beside(n, w) for n in names for _, near_words in self._neighbours() for w in near_words):
                return True
            # "last 5 transactions" for a count, "500 or more" for a lower bound, "under 120" for an upper
            cues = set(_words(key)) & set(_BOUND_CUES)
            return any(_BOUND_CUES[c](" ".join(before), " ".join(after)) for c in cues for before, after in near)

        cued = {k for k, sub in optional if self._in_its_unit(sub) or beside(k)}
        free_text = any(sub.kind == "str" and _kind(k, sub.schema) is None for k, sub, _ in members)
        if not cued and len(optional) == 1 and self.spare == 1 and not free_text:
            cued = {optional[0][0]}
        return cued if len(cued) <= left else set()

    def _layouts_given(self, members: list[tuple[str, Node, bool]]) -> set[str]:
        """The optional dates and times (strings of a layout) the user wrote beyond those the required
        ones take ("comedy shows between 2026-02-01 and 2026-02-07" for date_from and date_to), which a
        small model leaves out: fields taking the same values are counted together, and written when the
        values are at least as many as the fields."""
        groups: dict[tuple[str, ...], list[tuple[str, bool]]] = {}
        for k, sub, req in members:
            if sub.kind == "json" and sub.schema.get("type") == "string" and (written := self._written(sub)):
                groups.setdefault(tuple(written), []).append((k, req))
        out: set[str] = set()
        for written, fields in groups.items():
            optional = [k for k, req in fields if not req]
            if optional and len(set(written)) >= len(fields):
                out |= set(optional)
        return out

    def _makers(self, members: list[tuple[str, Node, bool]]) -> set[str]:
        """The free-text field of who made a work the user named with "by" ("Bohemian Rhapsody by
        Queen" for artist beside song), which a small model leaves out when it is optional."""
        if not self.source:
            return set()
        texts = [k for k, sub, _ in members if sub.kind == "str" and _string_kind(k, sub) is None]
        return {k for a, b in itertools.permutations(texts, 2) if (parts := _made_by(self.pieces, a, b, self.said))
                for k, (_, bounded) in parts.items() if not bounded}

    def _places(self, members: list[tuple[str, Node, bool]]) -> set[str]:
        """The one optional free-text field of a place ("county", "region", "city") when the user named a
        place with "in" and no required field is one ("births ... in Yorkshire", "grants ... in Wales"),
        which a small model leaves out; not a month, a weekday or a language ("in March", "in Spanish")."""
        if not self.source:
            return set()
        places = [(k, req) for k, sub, req in members if sub.kind == "str" and _string_kind(k, sub) is None
                  and set(_words(k)) & _PLACE_WORDS]
        optional = [k for k, req in places if not req]
        if len(optional) != 1 or len(places) != 1:
            return set()
        named = [m.group(1) for m in _IN_PLACE.finditer(self.source)
                 if m.group(1).lower() not in {*_MONTHS, *_WEEKDAYS, *_LANGUAGES.values()}]
        return set(optional) if len(named) == 1 else set()

    def _in_its_unit(self, node: Node) -> bool:
        """Whether the user wrote a quantity in the unit a number ``node`` names ("5 minutes" for
        duration_minutes)."""
        unit = self.units.get(id(node))
        return bool(unit) and any(in_unit(q, unit) is not None for q in self.quantities)  # type: ignore[arg-type]

    def _says(self, node: Node, value: Any) -> bool:
        """Whether the user named an enum's ``value``: a word (:func:`mentions`), or a number they wrote
        bare or in the field's unit ("95%" for a confidence_percent of 95; not "4%" for compounds_per_year);
        a value of several words also by a word of five letters or more that no other value of the enum has
        ("languages" for official_languages beside currency, "gluten" for gluten_free beside vegan)."""
        if isinstance(value, str):
            if mentions(value, self.said):
                return True
            words = _words(value)
            others = {w for v in _enum_values(node) or [] if v != value for w in _words(str(v))}
            have = set(_words(self.said))  # the word itself or an inflection of it: not a shared stem
            return len(words) > 1 and any(len(w) >= 5 and w not in others and have & _forms(w) for w in words)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        unit = self.units.get(id(node))
        said = self.bare | {v for q in self.quantities if unit and (v := in_unit(q, unit)) is not None}
        return Decimal(str(value)) in said

    def _named(self, node: Node) -> list[Node]:
        """An enum's choices narrowed to the values the user named, when they named any."""
        values = node.schema.get("enum")
        if not self.said or not isinstance(values, list) or node.schema.get(FROM_USER, True) is False \
                or len(values) != len(node.parts):
            return node.parts
        named = [part for value, part in zip(values, node.parts)
                 if self._says(node, value)]
        hinted = self.hints.get(enum_key(values), [])
        return named or [part for value, part in zip(values, node.parts) if value in hinted] or node.parts

    def rule(self, body: str, attrs: str = "") -> str:
        name = f"r{len(self.rules)}"
        self.rules.append(f"{name}{attrs}: {body}")
        return name

    def expr(self, node: Node) -> str:
        if node.kind == "lit":
            return _lit(node.text)
        written = self._written(node)
        if written:  # the user's own numbers and dates, as they wrote them
            return self.rule(" | ".join(_lit(w) for w in written))
        if node.kind == "lex":
            return f"/{node.text}/"
        if node.kind == "json":
            return self.rule(f"%json {node.text}")
        if node.kind == "str":
            if node.chars == 0:
                return _lit('""')
            tokens = self._choices(node)
            if tokens:  # a whole token of the property's kind (an id, an address, a path)
                return self.rule(" | ".join(_lit(t) for t in tokens))
            # never "</" in a value: a model that writes "</tool_call>" inside a string cannot fake the end
            copied = self._copy_chars(node)
            copy = copied is not None
            chars = node.chars if copied is None else copied
            low = max(node.min_chars, 1 if copy else 0)  # a copy is not empty
            words = f" & /{_EDGES}/ & {self._stop} & {self._substrings(node, low, chars)}" if copy else ""
            # each rule below only where a word is left to copy under it: never a dead end
            barred = self.excluded.get(id(node), [])
            barring = copy and barred and self._left(self.pieces, low, chars, lambda p: p not in barred)
            if barring:
                # a barred value with its article as the user wrote it is barred too ("the stalls" beside "stalls")
                barred = barred + [m.group(0) for v in barred for m in re.finditer(
                    rf"\b(?:the|an?|my|your|our|this|that)\s+{re.escape(v)}(?!\w)", self.source or "", re.I)]
                words += " & ~/[^\\w]*(" + "|".join(_rx(v) for v in dict.fromkeys(barred)) + ")[^\\w]*/"
            unled = self.unled.get(id(node), [])
            if copy and unled:
                leads = re.compile("(" + "|".join(map(re.escape, unled)) + r")(?![\d.,])")
                if self._left(self.pieces, low, chars, lambda p: not leads.match(p)):
                    words += " & ~/[^\\w]*(" + "|".join(_rx(v) for v in unled) + ")([^0-9.,][^\\x00]*)?/"
            verbs = self.verbs if copy and self._left(self.pieces, low, chars, lambda p: p not in self.verbs) else []
            if verbs:  # never opens with a word that names the tool ("Book Maya Chen", "Grants for youth sport")
                words += " & ~/[^\\w]*(" + "|".join(_rx(v) for v in verbs) + ")([^\\w][^\\x00]*)?/"
            if copy and self._left(self.pieces, low, chars, lambda p: p.lower() not in _FILLER
                                   and not (barring and p in barred)):  # a value-like word is left
                words += f" & ~/{_NOT_WORD}*{_FILLER_RX}({_NOT_WORD}+{_FILLER_RX})*{_NOT_WORD}*/"
                words += f" & ~/[^\\x00]*{_NOT_WORD}{_DANGLING}/"  # "Remind me to", "find me a"
            lead = self.lead or (_rx(word) if (word := self.named.get(id(node))) in self.pieces else None)
            if copy and lead:
                words += f" & /{lead}[^\\x00]*/"
            if copy and low <= 1 and len("".join(self.pieces)) <= chars:
                # the pieces already hold a copy to its bounds (``_EDGES``: not empty), its characters and
                # no "</" (see `copyable`): the same values, with less for llguidance's lexer to derive (with
                # many splits of two copies, the lexer ran out of fuel mid-call and the engine dropped the grammar)
                lexeme = words.removeprefix(" & ")
            else:
                guard = f" & /{_NO_CLOSE}/" if self.calls else ""
                lexeme = f"/{_STR_CHARS}{{{low},{chars}}}/{guard}{words}"
            body = self.rule(lexeme, f"[max_tokens={node.tokens}]")
            return f'"\\"" {body} "\\""'
        if node.kind == "alt":
            return self.rule(" | ".join(self.expr(p) for p in self._named(node)))
        if node.kind == "arr":
            if node.items == 0:
                return '"[]"'
            lists = self._number_run(node) or self._distinct_items(node)
            if lists:  # a few known values (addresses, the user's numbers, enum values): each once
                return self.rule(" | ".join(_lit("[" + _SEP.join(items) + "]") for items in lists))
            runs = self._runs(node)
            if runs:  # objects that take the user's numbers: in the order written, each once
                return self.rule(" | ".join(runs))
            spans = self._spans(node)
            if spans:  # copies of the user's words: in the order written, never the same words twice
                return self.rule(f'"[" {spans} "]"' if self._least(node) else f'"[" ({spans})? "]"')
            self.repeated += 1
            item = self.expr(node.parts[0])
            self.repeated -= 1
            low = self._least(node)
            rest = f' ("{_SEP}" {item}){{{max(0, low - 1)},{node.items - 1}}}' if node.items > 1 else ""
            inner = f"{item}{rest}"
            return self.rule(f'"[" {inner} "]"' if low else f'"[" ({inner})? "]"')
        self._set_units(node)
        self._narrow_numbers(_members(node))
        if self.depth == 0:  # a call's arguments: the numbers its required fields take, nested ones too
            self.need, self.spare = _number_fields(_members(node))
        left_out = self._numbers_given(_members(node)) if self.need is not None else set()
        left_out |= self._makers(_members(node)) | self._layouts_given(_members(node)) | self._places(_members(node))
        members = [(k, sub, req or k in left_out or self._asked(k, sub)) for k, sub, req in _members(node)
                   if req or self._grounded(k, sub)]
        self.optional |= {id(sub) for k, sub, req in _members(node) if sub.kind == "arr" and not req and sub.items}
        # the one number a required number sibling takes ("replicas": 6, "quantity": 250) is not a code or a copy
        here = self._outside(members)
        leading = list(dict.fromkeys(self.said[a:b] for a, b, v in self.values if number_text(v) in here[0]))
        for k, sub, _ in members:
            target = _item(sub)
            kind = _string_kind(k, sub)
            if kind and self.said and target.schema.get(FROM_USER, True) is not False:
                tokens = kind_tokens(kind, self.said, target.schema)  # "250 units of SKU-88213": not 250
                self.typed[id(target)] = [t for t in tokens if t not in leading] or tokens
        taken = {v for k, sub, _ in members if sub.kind != "arr" for v in self._choices(sub) or []}
        self.listed |= {id(sub.parts[0]) for k, sub, _ in members  # lists of addresses no single sibling takes
                        if sub.kind == "arr" and sub.parts and _kind(k, sub.schema.get("items") or {}) in _LISTED
                        and not taken & set(self._choices(sub.parts[0]) or [])}
        claimed = [json.loads(v) if v.startswith('"') else v for k, sub, _ in members
                   if (sub.kind != "str" or id(sub) in self.typed) and (c := self._choices(sub)) for v in c]
        named = {k: [self.said[a:b] for a, b in codes.places(kind, self.said, _item(sub).schema).values()]
                 for k, sub, _ in members if (kind := _string_kind(k, sub)) in codes.KINDS and self.said}
        for k, sub, _ in members:  # and the quantity a number sibling converts ("150 g", "10 minutes" for 600)
            unit = self.units.get(id(sub))
            taken = [q for q in self.quantities if in_unit(q, unit) is not None] if unit and self._written(sub) else []
            claimed += [m.group(0).strip() for q in taken if (m := _QUANTITY_TEXT.match(self.said, q.at))]
            claimed += [number_text(q.value) for q in taken]
            claimed += named.get(k, [])  # and the words a code sibling's value was named by ("Italian" for "it")
        # nor does it hold what a sibling surely takes: the one date, time or code it may be ("description":
        # "2026-01-08, about 2300 in damage", "booking_ref": "14:00 instead"), the one number it holds, the
        # words its one code was named by ("Prado in Spanish")
        held = leading + [json.loads(c[0]) if c[0].startswith('"') else c[0] for k, sub, _ in members
                          if sub.kind not in ("arr", "alt") and (c := self._choices(sub)) and len(c) == 1]
        held += [w for k, sub, _ in members if k in named and len(self._choices(sub) or []) == 1 for w in named[k]]
        # a free-text copy is never just a value a sibling takes ("device": "35", "rooms": [..., "turbo"]) nor a
        # word of its own key ("seat": "seat"), never starts with a sibling's number ("deployment": "6 replicas",
        # "host": "10 times"), and never holds what it surely takes
        for k, sub, _ in members:
            target = _item(sub)
            if target.kind != "str" or id(target) in self.typed:
                continue
            own = [p for p in self.pieces if p.lower() in _words(k) and len(p) >= 3]
            if claimed or own:
                self.excluded[id(target)] = list(dict.fromkeys([str(v) for v in claimed] + own))
            if leading:
                self.unled[id(target)] = leading
            if held:
                self.held[id(target)] = [str(v) for v in held]
        self._called(members)
        combos, fixed = self._distinct(members)
        flags = self._flags(members)
        nested = {k: self._numbers_in(sub) for k, sub, _ in members if sub.kind == "obj" and k not in flags}
        combos, fixed = self._around_nested(members, combos, fixed, nested)
        self.depth += 1
        outside, self.outside = self.outside, (here[0], len(here[1]))
        try:
            exprs = {k: self.expr(sub) for k, sub, _ in members if k not in fixed and k not in flags}
        finally:
            self.depth -= 1
            self.outside = outside
        apart = self._apart(members, set(fixed) | set(flags), _SPLITS // len(combos or [()])) \
            or self._left_to_sibling(members, here[1], set(fixed) | set(flags))
        rendered: dict[tuple, str] = {}  # a nested object's expression per narrowing (assignments share them)
        inner = {combo: self._besides(members, nested, dict(zip(fixed, combo)), rendered) for combo in combos}

        def body(values: dict[str, str], split: dict[str, str]) -> str:
            values = {**flags, **values}
            kvs = [(f'{_lit(_lit(k) + _KSEP)} {_lit(values[k]) if k in values else split.get(k, exprs[k])}', req)
                   for k, sub, req in members if k not in values or values[k] is not None]  # None: left out
            return f'"{{" {self._members(kvs)} "}}"'

        bodies = [body(dict(zip(fixed, combo)), {**inner.get(combo, {}), **split}) for combo in combos or [()]
                  for split in apart or [{}]]
        return self.rule(bodies[0] if len(bodies) == 1 else " | ".join(f"({b})" for b in bodies))

    def _set_units(self, node: Node) -> None:
        """The unit each number field of an object is in, by its key or description (before any of its
        fields' values are looked up: they depend on it)."""
        for k, sub, _ in _members(node):
            target = sub.parts[0] if sub.kind == "arr" and sub.parts else sub
            if target.schema.get("type") in ("number", "integer") and id(target) not in self.units:
                top = target.schema.get("maximum", target.schema.get("exclusiveMaximum"))
                self.units[id(target)] = unit_of(k, target.schema.get("description", sub.schema.get("description"))) \
                    or ("fraction" if isinstance(top, (int, float)) and 0 < top <= 1 else None)  # 0.3 for "30%"

    def _around_nested(self, members: list[tuple[str, Node, bool]], combos: list[tuple[str | None, ...]],
                       fixed: list[str], nested: dict[str, list[tuple[Node, bool]]]
                       ) -> tuple[list[tuple[str | None, ...]], list[str]]:
        """``combos`` and ``fixed`` (see `_distinct`) with the required number fields that no sibling
        shares values with fixed too, one value each, when the numbers of a ``nested`` object (its
        number fields, see `_numbers_in`) are among theirs: the nested object can then take the others
        (`_besides`)."""
        taken = {v for fields in nested.values() for f, _ in fields for v in self._written(f) or []}
        lone = [(k, c) for k, sub, req in members if req and k not in fixed and sub.kind != "obj"
                and sub.schema.get("type") in ("number", "integer") and (c := self._written(sub)) and taken & set(c)]
        if not lone:
            return combos, fixed
        product = combos or [()]
        for _, values in lone:
            product = [a + (v,) for a in product for v in values]
        if len(product) > 64:
            return combos, fixed
        return product, fixed + [k for k, _ in lone]

    def _numbers_in(self, node: Node) -> list[tuple[Node, bool]]:
        """The number fields of an object and of the objects nested in it that take the user's numbers,
        each with whether it is required (in its object, and that object in its parent)."""
        out, stack = [], [(node, True)]
        while stack:
            inner, needed = stack.pop()
            self._set_units(inner)
            for _, part, req in _members(inner):
                if part.kind == "obj":
                    stack.append((part, needed and req))
                elif part.schema.get("type") in ("number", "integer") and self._written(part):
                    out.append((part, needed and req))
        return out

    def _besides(self, members: list[tuple[str, Node, bool]], nested: dict[str, list[tuple[Node, bool]]],
                 values: dict[str, str | None], rendered: dict[tuple, str]) -> dict[str, str]:
        """The expressions of the ``nested`` objects among ``members`` when their required siblings take
        the numbers of ``values``: their number fields take the user's other numbers ("a 1200 mm
        telescope with a 25 mm eyepiece": the eyepiece's focal length is not the 1200 its sibling took),
        a number written twice being twice available; an optional one with no number left is left out.
        None changed when a required field would have no number left. ``rendered`` keeps each
        narrowing's expression, rendered once."""
        used = Counter(v for k, sub, req in members if req and (v := values.get(k)) is not None)
        out: dict[str, str] = {}
        for k, sub, _ in members:
            fields = nested.get(k, [])
            narrowed = [(f, [v for v in self._written(f) or [] if used[v] < self.counts.get(v, 1)]) for f, _ in fields]
            if all(taken == self._written(f) for f, taken in narrowed) \
                    or not all(taken for (_, taken), (_, required) in zip(narrowed, fields) if required):
                continue
            key = (k, *(tuple(taken) for _, taken in narrowed))
            if key not in rendered:
                self.depth += 1
                try:
                    with self._taking(narrowed):
                        rendered[key] = self.expr(sub)
                finally:
                    self.depth -= 1
            out[k] = rendered[key]
        return out

    @contextlib.contextmanager
    def _taking(self, values: list[tuple[Node, list[str]]]) -> Iterator[None]:
        """Nodes held to these values while an expression is rendered, as if the user's words gave them
        no others (see `_written`); what they took before is restored after."""
        saved = {id(node): self._written(node) for node, _ in values}
        self.found.update({id(node): taken for node, taken in values})
        try:
            yield
        finally:
            self.found.update(saved)

    def _copy_chars(self, node: Node) -> int | None:
        """The most characters a free-text ``node`` copied from the message (its pieces) may have; None
        when it is not copied (opted out, or no copy of the pieces fits its bounds)."""
        if node.kind != "str" or node.chars == 0 or self._choices(node) or node.schema.get(FROM_USER, True) is False \
                or not self.source or len(self.source) < node.min_chars:  # type: ignore[arg-type]
            return None
        # llguidance's max_tokens counts only the tokens the model chose, not those the copy forces (the rest
        # of a word), so a copy is held to as many bytes as its token cap: each of its characters is one of
        # the message's, at most ``width`` bytes, and a token is at least one
        chars = min(node.chars, node.tokens // max(len(c.encode()) for c in self.source))  # type: ignore[operator]
        return chars if self._copyable(max(node.min_chars, 1), chars) else None

    def _apart(self, members: list[tuple[str, Node, bool]], skip: set[str], most: int) -> list[dict[str, str]]:
        """Two sibling free-text copies come from different places in the message: one from the words
        before some space, the other from the words after it, either way round (never "homeTeam":
        "Hawks", "awayTeam": "Hawks", nor "channel": "lunch" with "text": "lunch is here"; true of
        every pair of copies in the development and test cases but one), in the message's order when
        their keys differ only by a mark of order (player_a and player_b). The expressions of the two
        properties for each such split; none unless exactly two properties are copies (or two of
        several are required ones), or when the splits would be more than ``most``."""
        copies = [(k, sub, req) for k, sub, req in members if k not in skip and self._copy_chars(sub) is not None]
        pair = [(k, sub) for k, sub, req in copies if req or len(copies) == 2]  # else the two required ones
        spaces = [i for i, p in enumerate(self.pieces) if p.isspace()]
        if len(pair) != 2 or not spaces or 2 * len(spaces) > most:
            return []
        (a, node_a), (b, node_b) = pair
        pieces, out = self.pieces, []
        # "from Kings Cross to Canary Wharf", "Yesterday by the Beatles"
        if (parts := _from_to(pieces, a, b) or _made_by(pieces, a, b, self.said)) is not None:
            if not all(self._worded(node, parts[key][0]) for key, node in pair):
                return []
            try:
                rendered = {}
                for key, node in pair:
                    self.pieces, bounded = parts[key]
                    rendered[key] = (self._ending(node) if bounded else None) or self._starting(node)
            finally:
                self.pieces = pieces
            return [rendered]
        # not where a side holds no word but the tool's ("Scale | the checkout deployment ..."): its copy
        # could only be that word
        cuts = [(i, i + 1) for i in _gaps(pieces, spaces)
                if all(any(re.search(r"\w", p) and p not in self.verbs and p.lower() not in _FILLER for p in side)
                       for side in (pieces[:i], pieces[i + 1:]))]
        if _ordered(a, b) or _ordered(b, a):  # "Iga Swiatek vs Aryna Sabalenka": at the word between them
            cuts = [(i, i + 3) for i in spaces if i + 2 < len(pieces) and pieces[i + 1].lower() in _BETWEEN
                    and pieces[i + 2].isspace()] or cuts
        try:
            for i, j in cuts:
                before, after = pieces[:i], pieces[j:]
                orders = [((a, node_a), (b, node_b)), ((b, node_b), (a, node_a))]
                for first, second in orders[:1] if _ordered(a, b) else orders[1:] if _ordered(b, a) else orders:
                    if not (self._worded(first[1], before) and self._worded(second[1], after)):
                        continue
                    self.pieces = before
                    head = self.expr(first[1])
                    self.pieces = after
                    out.append({first[0]: head, second[0]: self.expr(second[1])})
        finally:
            self.pieces = pieces
        return out

    def _ending(self, node: Node) -> str | None:
        """A copy of the pieces that ends with their last word ("the Ferry Building" or "Ferry Building"
        of "from the Ferry Building to", never "the Ferry": a small model stops after a word), when the
        pieces end where the user's words for one value do. None when no such copy fits the node."""
        chars, barred = self._copy_chars(node), set(self.excluded.get(id(node), []))
        if chars is None:
            return None
        texts = ["".join(self.pieces[i:]) for i, p in enumerate(self.pieces) if _STARTS.match(p)]
        texts = [t for t in texts if len(t) <= chars and len(t.encode()) <= (node.tokens or 0) and t not in barred
                 and not all(w.lower() in _FILLER for w in re.findall(r"\w+", t))]
        return self.rule(" | ".join(_lit(_lit(t)) for t in texts)) if texts else None

    def _called(self, members: list[tuple[str, Node, bool]]) -> None:
        """A name the user gave after "called", "named" or "titled" ("an album called Lisbon 2025") is
        copied from there: the one free-text field whose key is a name or title starts with that word."""
        if not self.source:
            return
        names = [sub for k, sub, _ in members if sub.kind == "str" and _string_kind(k, sub) is None
                 and _NAMING & set(_words(k))]
        cues = [i for i, p in enumerate(self.pieces) if p.lower() in _CALLED]
        if len(names) != 1 or len(cues) != 1:
            return
        after = [p for p in self.pieces[cues[0] + 1:] if not p.isspace()]
        node = names[0]
        if after and re.fullmatch(_EDGES, after[0]) and after[0].lower() not in _FILLER \
                and after[0] not in self.held.get(id(node), []) + self.excluded.get(id(node), []):
            self.named[id(node)] = after[0]

    @staticmethod
    def _left(pieces: list[str], low: int, chars: int, keep: Callable[[str], bool]) -> bool:
        """Whether a word of ``pieces`` that ``keep`` keeps is a copy of ``low`` to ``chars`` characters on
        its own: a rule that bars the others leaves a copy to make."""
        return any(re.fullmatch(_EDGES, p) and low <= len(p) <= chars and keep(p) for p in pieces)

    def _substrings(self, node: Node, low: int, chars: int) -> str:
        """The copies of the pieces a free-text ``node`` may be, as an llguidance regex: runs of whole pieces
        that never hold a value a sibling surely takes (`held`), when a value-like word is left beside
        them; else runs of any of the pieces."""
        held = self.held.get(id(node), [])
        segments, run = [], []
        for piece in self.pieces:
            if piece in held:
                segments.append(run)
                run = []
            else:
                run.append(piece)
        segments = [seg for seg in segments + [run] if any(re.search(r"\w", p) for p in seg)]
        if not any(p in held for p in self.pieces) or not self._left(
                [p for seg in segments for p in seg], low, chars, lambda p: p.lower() not in _FILLER and p not in held):
            return f"%regex {json.dumps({'substring_chunks': self.pieces})}"  # nothing held, or nothing left
        return "(" + " | ".join(f"%regex {json.dumps({'substring_chunks': seg})}" for seg in segments) + ")"

    def _starting(self, node: Node) -> str:
        """The expression of a copy of the pieces that starts with their first word, or the first after
        the filler words that lead them ("the Beatles" or "Beatles" of "by the Beatles.", "John Lennon"
        not "Lennon" of "by John Lennon"; "Canary Wharf" of "to Canary Wharf")."""
        words = [i for i, p in enumerate(self.pieces) if re.search(r"\w", p)]
        first = next((i for i in words if self.pieces[i].lower() not in _FILLER), None)
        if first is None:
            return self.expr(node)
        lead = "".join(self.pieces[words[0]:first])
        self.lead = (f"({_rx(lead)})?" if lead else "") + _rx(self.pieces[first])
        try:
            return self.expr(node)
        finally:
            self.lead = None

    def _worded(self, node: Node, part: list[str]) -> bool:
        """Whether ``node`` may be copied from ``part`` of the message as from the whole: some copy fits,
        and a word that is neither filler nor a sibling's value is there when the whole message has one."""
        pieces = self.pieces
        try:
            whole = self._copy_chars(node)
            self.pieces = part
            chars = self._copy_chars(node)
        finally:
            self.pieces = pieces
        if whole is None or chars is None:
            return False

        barred = set(self.excluded.get(id(node), []))

        def keep(p: str) -> bool:
            return p.lower() not in _FILLER and p not in barred
        return self._left(part, 0, chars, keep) or not self._left(pieces, 0, whole, keep)

    def _copyable(self, low: int, high: int) -> bool:
        """Whether some copy of the message (pieces from one to another, starting and ending with a word)
        is ``low`` to ``high`` characters long: else a copy would be a dead end."""
        for i, first in enumerate(self.pieces):
            if not _STARTS.match(first):
                continue
            size = 0
            for piece in self.pieces[i:]:
                size += len(piece)
                if size > high:
                    break
                if size >= low and _ENDS.match(piece[-1]):
                    return True
        return False

    def _spans(self, node: Node) -> str | None:
        """A list of free-text copies as the spans of the message it may hold: each item a span of up to
        `_SPAN_WORDS` words, the items in the order written and never overlapping, so never the same
        words twice (a small model left to copy each item writes ``["room", "room", "room", "room"]`` for
        "can the robot do the living room"). The items obey what a single copy does (no filler alone,
        no dangling last word, no full stop outside quotes, not a sibling's value, within the item's
        bounds). None when the items are not copies or the message is too long to list its spans."""
        item = node.parts[0]
        chars = self._copy_chars(item)
        if self.repeated or chars is None or id(item) in self.typed:
            return None
        pieces, barred = self.pieces, set(self.excluded.get(id(item), []))
        low = max(item.min_chars, 1)
        starts = [i for i, p in enumerate(pieces) if _STARTS.match(p[0])]
        if len(starts) > _SPAN_STARTS:
            return None
        spans: dict[int, list[tuple[str, int]]] = {}  # start piece -> (text, the piece after it)
        for i in starts:
            words = 0
            for j in range(i, len(pieces)):
                words += bool(re.search(r"\w", pieces[j]))
                text = "".join(pieces[i:j + 1])
                if words > _SPAN_WORDS or len(text) > chars or len(text.encode()) > (item.tokens or 0) \
                        or (j > i and (_LIST_BREAK.fullmatch(pieces[j - 1]) or pieces[j - 1] in ("and", "or"))):
                    break  # an item of a list is never "soon, can" nor "kitchen and hallway"
                said = re.findall(r"\w+", text)
                if pieces[j].isspace() or not _ENDS.match(pieces[j][-1]) or len(text) < low or text in barred \
                        or text[-1] in ".!?" or all(w.lower() in _FILLER for w in said) \
                        or (len(said) > 1 and re.fullmatch(_DANGLING, said[-1])):
                    continue
                spans.setdefault(i, []).append((_lit(_lit(text)), j + 1))
        at = [i for i in starts if i in spans]
        if not at:
            return None
        top, least, memo = node.items, self._least(node), {}

        def items_from(used: int, k: int) -> str | None:  # the rest of the list from the k-th start on
            if (used, k) in memo:
                return memo[(used, k)]
            alternatives = []
            for text, after in spans[at[k]]:
                n = next((m for m, i in enumerate(at) if i >= after), len(at))
                more = items_from(used + 1, n) if used + 1 < top and n < len(at) else None
                if more and used + 1 >= least:
                    alternatives.append(f'{text} ("{_SEP}" {more})?')
                elif more:
                    alternatives.append(f'{text} "{_SEP}" {more}')
                elif used + 1 >= least:
                    alternatives.append(text)
            if k + 1 < len(at) and (skip := items_from(used, k + 1)):
                alternatives.append(skip)
            memo[(used, k)] = self.rule(" | ".join(alternatives)) if alternatives else None
            return memo[(used, k)]

        return items_from(0, 0)

    def _least(self, node: Node) -> int:
        """The fewest items an array node may hold: one when it is optional (an empty list says no
        more than leaving it out, and a small model writes ``"rooms": []`` for "the kitchen and the
        hallway"), else its ``minItems``."""
        return max(node.min_items, 1 if id(node) in self.optional else 0)

    def _number_run(self, node: Node) -> list[tuple[str, ...]]:
        """The lists a list of numbers may be when the user wrote its numbers in digits: a run of them
        written as a list, with only commas, spaces or "and" between ("the standard deviation of 4, 8,
        15, 16, 23 and 42"; "ad spend was 10, 20, 30, 40 and sales were 25, 41, 58, 79": x_values is 10
        to 40, never 10 to 79), longest first, not a number a sibling is held to or one the item does
        not allow; a run whole ("the average of 3, 7, 9 and 21" is never [7, 9, 21]), unless a number
        sibling that is not held may take numbers from it, or it is longer than the list may be; none
        when a number is written in words or converted, or the runs are too many to list."""
        item = node.parts[0]
        written = self._written(item)
        found = self.values
        if not written or not found or len(self.numerals) != len(found) \
                or not set(written) <= {number_text(v) for _, _, v in found}:  # converted
            return []
        held = list(self.outside[0])
        lists, run, end = [], [], 0
        for start, stop, value in found:
            text = number_text(value)
            if text in held or text not in written:  # a sibling's, or one the item does not allow: ends the run
                if text in held:
                    held.remove(text)
                lists.append(run)
                run = []
                continue
            if run and not _LISTED_BETWEEN.fullmatch(self.said[end:start]):
                lists.append(run)
                run = []
            run.append(text)
            end = stop
        lists.append(run)
        least, loose = max(1, self._least(node)), self.outside[1]

        def sizes(run: list[str]) -> range:  # whole, or short of as many numbers as loose siblings may take
            top = min(node.items, len(run))
            return range(top, min(top, max(least, len(run) - loose)) - 1, -1) if len(run) >= least else range(0)

        out = list(dict.fromkeys(tuple(r[i:i + size]) for r in lists for size in sizes(r)
                                 for i in range(len(r) - size + 1)))
        out.sort(key=len, reverse=True)  # longest first
        return out if 0 < len(out) <= 64 else []

    def _distinct_items(self, node: Node) -> list[tuple[str, ...]]:
        """The arrays of an array node whose items choose from a few values, each value at most once
        (``["lou@x.io", "lou@x.io"]`` is never meant); none when they would be too many to list."""
        choices = self._choices(node.parts[0])
        if not choices:
            return []
        out: list[tuple[str, ...]] = []
        for size in range(self._least(node), node.items + 1):
            lists = _injective([choices] * size, self.counts)
            if lists is None or len(out) + len(lists) > 64:
                return []
            out += lists
        values = _enum_values(node)
        if id(node.parts[0]) in self.listed or (values and any(self._says(node.parts[0], v) for v in values)):
            # "let mia@x.io and lou@x.io edit", "its currency and languages": all of them, not one
            most = max(len(items) for items in out)
            out = [items for items in out if len(items) == most]
        at = {v: value_place(v, self.said) for v in choices}
        if all(at.values()):  # the items in the order the user wrote them (["ops@x.io", "sre@x.io"])
            out = [items for items in out if all(at[a] < at[b] for a, b in zip(items, items[1:]))] or out
        return out

    def _left_to_sibling(self, members: list[tuple[str, Node, bool]], loose: list[tuple[str, Node]],
                         skip: set[str]) -> list[dict[str, str]]:
        """A list of objects that takes all but one of the user's numbers, beside one number field that
        takes the one left (``loose``: see `_outside`): the two together, one alternative per run ("long 50
        call @ 4, short 55 call @ 1.5. P/L at 53": the legs take 50, 4, 55 and 1.5, the price 53, never a
        number of a leg)."""
        lists = [(k, self.leftover[id(sub)]) for k, sub, _ in members if k not in skip and id(sub) in self.leftover]
        numbers = [(k, sub) for k, sub in loose if k not in skip]
        if len(lists) != 1 or len(numbers) != 1:
            return []
        (key, runs), (number, node) = lists[0], numbers[0]
        allowed = self._written(node)
        if allowed is None or not all(value in allowed for _, value in runs):
            return []
        return [{key: run, number: _lit(value)} for run, value in runs]

    def _outside(self, members: list[tuple[str, Node, bool]]) -> tuple[list[str], list[tuple[str, Node]]]:
        """The numbers an object's required number fields take besides its lists: those held to one
        value by the user's words ("at 110 at expiry" for underlying_price_at_expiry), and the fields
        that take one of the others."""
        held: list[str] = []
        loose: list[tuple[str, Node]] = []
        for k, sub, req in members:
            if req and sub.kind in ("lex", "json") and sub.schema.get("type") in ("number", "integer") \
                    and sub.schema.get(FROM_USER, True) is not False:
                written = self._written(sub)
                if written and len(written) == 1:
                    held += written
                else:
                    loose.append((k, sub))
        return held, loose

    def _runs(self, node: Node) -> list[str]:
        """A list of objects whose fields take the user's numbers or patterned values ("3 credits A, 4
        credits B+", "vertices (0,0), (4,0), (4,3)", "21 C from 07:00 to 10:00 and 19 C from 18:00 to
        23:00"): the items take the values in the order written, each once, the fields of an item in
        their order (a small model left to fill each item from every value repeats and swaps them).
        Numbers: a run of them (start, items), longest first; patterned values (times, dates): all of
        them. One expression per run, up to `_RUN_ITEMS` items in all; none when an item has optional
        or nested values, a number is written in words, or a quantity would be converted (converted
        values are not in the written order)."""
        item = node.parts[0]
        if item.kind != "obj" or not self.said or self.repeated:
            return []
        fields: list[Node] = []
        layouts: dict[str, list[Node]] = {}  # pattern -> its fields
        self._set_units(item)  # (before any value is looked up: the values depend on it)
        for key, sub, req in item.parts:
            number = sub.schema.get("type") in ("number", "integer") and sub.kind in ("lex", "json")
            pattern = sub.schema.get("pattern") if sub.kind == "json" and sub.schema.get("type") == "string" else None
            if sub.kind in ("obj", "arr") or ((number or pattern) and not req):
                return []  # nested or optional values: no one order of the item's values
            if sub.schema.get(FROM_USER, True) is False:
                continue
            if number:
                unit = self.units.get(id(sub))
                if unit and any((v := in_unit(q, unit)) is not None and v != q.value for q in self.quantities):
                    return []
                fields.append(sub)
            elif isinstance(pattern, str) and self._written(sub):
                layouts.setdefault(pattern, []).append(sub)
        written = [number_text(v) for v, _ in self.numerals]
        if fields and len(written) != len(self.values):
            return []
        held, loose = self.outside  # a sibling's number is not the list's ("strike 100, premium 3.50, at 110
        for value in held:  # at expiry"), and the list takes all the rest ("long 50 call @ 4, short 55 call
            if value in written:  # @ 1.5. P/L at 53": both legs, not one)
                written.remove(value)
        found = {p: _ordered_matches(p, self.said) for p in layouts}
        groups = [(fs, [_lit(v) for v in found[p]], False) for p, fs in layouts.items()]
        if fields:
            groups.append((fields, written, True))
        if not groups:
            return []
        spans = []
        for m in range(max(1, node.min_items), node.items + 1):
            if all(len(values) == m * len(fs) for fs, values, run in groups if not run):
                spans += [(start, m) for start in range(len(written) - m * len(fields) + 1)] if fields else [(0, m)]
        whole = [(start, m) for start, m in spans if m * len(fields) == len(written) - loose]
        spans = whole if fields and whole else spans
        left: list[tuple[str, str]] = []  # (a run, the one number it leaves) when one sibling takes it
        out, items_left = [], _RUN_ITEMS
        for start, m in sorted(spans, key=lambda r: (-r[1], r[0])):
            taken = [(fs, values[start:start + m * len(fs)] if run else values) for fs, values, run in groups]
            numbers_fit = not fields or all(_fits_number(Decimal(v), f.schema, f.size)
                                            for v, f in zip(taken[-1][1], fields * m))
            if m > items_left or not numbers_fit:
                continue
            items_left -= m
            rendered = []
            for i in range(m):
                with self._taking([(f, [v]) for fs, values in taken
                                   for f, v in zip(fs, values[i * len(fs):(i + 1) * len(fs)])]):
                    rendered.append(self.expr(item))
            out.append(f'"[" {f" {_lit(_SEP)} ".join(rendered)} "]"')
            rest = written[:start] + written[start + m * len(fields):]
            if fields and loose == 1 and len(rest) == 1:
                left.append((out[-1], rest[0]))
        if left and len(left) == len(out):
            self.leftover[id(node)] = left
        return out

    def _choices(self, node: Node, named: bool = True) -> list[str] | None:
        """The JSON texts a node chooses from when they are few: the user's numbers or dates, or an
        enum's values (those the user named, with ``named``)."""
        written = self._written(node)
        if written:
            return written
        typed = self.typed.get(id(node))
        if typed and node.kind == "str":
            return [_lit(t) for t in typed if node.min_chars <= len(t) <= node.chars and len(t.encode()) <= node.tokens]
        if node.kind == "alt" and isinstance(node.schema.get("enum"), list):
            parts = self._named(node) if named else node.parts
            if all(p.kind == "lit" for p in parts):
                return [p.text for p in parts]
        return None

    def _distinct(self, members: list[tuple[str, Node, bool]]) -> tuple[list[tuple[str | None, ...]], list[str]]:
        """Sibling properties that choose from the same few values (two units, two of the user's numbers,
        two times) take different ones: ``"from_unit": "cup", "to_unit": "cup"`` or an age equal to a
        heart rate is never what the user meant. Returns the allowed assignments and the properties
        they fix; none when no two siblings share a value, when the values are too few to differ (the
        user's named enum values are then all used, the others coming from the whole enum), or when the
        assignments would be too many to list."""
        if not self.said:
            return [], []
        subs = {k: sub for k, sub, _ in members}
        required = {k for k, _, req in members if req}
        choices = {k: c for k, sub, _ in members if (c := self._choices(sub))}
        combos: list[tuple[str | None, ...]] = [()]
        fixed: list[str] = []
        for keys in _groups(choices):  # siblings linked by shared values, each group on its own
            group = _injective([choices[k] for k in keys], self.counts)
            if group is not None and not group and not set(keys) <= required \
                    and all(subs[k].schema.get("type") in ("number", "integer") and self._written(subs[k])
                            for k in keys):  # fewer numbers than fields: each serves one field
                group = _partial([choices[k] for k in keys], [k in required for k in keys], self.counts)
            elif group is not None and not group:  # too few named values: cover them, the rest from the enum
                wide = [self._choices(subs[k], named=False) or choices[k] for k in keys]
                named = {v for k in keys for v in choices[k]}
                group = [c for c in _injective(wide) or [] if len(named & set(c)) >= min(len(named), len(keys))]
            if group and all(subs[k].kind == "json" and subs[k].schema.get("type") == "string" for k in keys):
                # dates and times in the message's order: check-in before check-out, start before end
                at = {v: self.said.find(json.loads(v)) for c in group for v in c}  # (None is only for numbers)
                group = [c for c in group if all(at[a] < at[b] for a, b in zip(c, c[1:]))] or group
            if group and len(group) > 1 and not self.repeated:
                self.groups += 1
                signature = (self.groups, tuple((k, tuple(choices[k])) for k in keys))
                if self.prefer.get(signature) in group:
                    group = [self.prefer[signature]]
                else:
                    self.asks.append(Ask(signature, [_field_text(k, subs[k]) for k in keys], group,
                                         {v: self.origins[v] for c in group for v in c if v in self.origins}))
            if group and len(combos) * len(group) <= 64:
                combos = [a + b for a in combos for b in group]
                fixed += keys
        return (combos, fixed) if fixed else ([], [])

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


_ORDINAL = re.compile(r"(.+?)(?:[_-]([a-d]|\d+)|([A-D]|\d+))")


_LISTED_BETWEEN = re.compile(r"[\s,;]*(?:and\b|&)?[\s,;]*", re.I)  # between the numbers of a list
# the words of a key that name where a journey (or a translation, a transfer) starts or ends (see _from_to)
_END_WORDS = {**dict.fromkeys(("from", "origin", "source", "src", "departure", "pickup"), "from"),
              **dict.fromkeys(("to", "destination", "dest", "target", "arrival", "dropoff"), "to")}
_NAME_WORD = re.compile(r"[A-Z][a-z]+")  # a word of a name ("Canary Wharf"; not "GBP", "QX81K", "A")
_NAMING = frozenset(("name", "title", "label"))  # a key's words for what a user calls a thing (see _Lark._called)
_CALLED = frozenset(("called", "named", "titled", "entitled"))
# the words of a key that name a work or who made it (see _made_by)
_MAKING = {**dict.fromkeys(("title", "song", "track", "book", "painting", "artwork", "album", "film", "movie"), "work"),
           **dict.fromkeys(("artist", "author", "composer", "band", "painter", "writer", "director", "singer"), "maker")}
_BETWEEN = frozenset(("vs", "vs.", "v", "v.", "versus", "against", "and", "or", "&"))  # "A vs B", "A and B"
_JOINING = _FILLER | _PREPOSITIONS | _BETWEEN  # words that join or open a phrase (see _gaps)


def _from_to(pieces: list[str], first: str, second: str) -> dict[str, tuple[list[str], bool]] | None:
    """The words each of two copies of a journey's ends is copied from, when one key names where it
    starts (origin, from_station, pickup, source_language) and the other where it ends (destination,
    to_station, dropoff, target_language) and the user wrote "from" once with a "to" after it ("from
    Kings Cross to Canary Wharf") or before it ("a trip to Schiphol Airport from Amsterdam Centraal"):
    the start's copy comes from the words after "from", up to the "to" when it follows; the end's from
    the words after that "to", up to "from" when it follows. Each with whether it ends at the other's
    word (so a copy of it ends with its last word). None otherwise."""
    ends = {_END_WORDS.get(w) for w in _words(first)} - {None}, {_END_WORDS.get(w) for w in _words(second)} - {None}
    if ends not in (({"from"}, {"to"}), ({"to"}, {"from"})):
        return None
    words = [p.lower() for p in pieces]
    froms, tos = [i for i, w in enumerate(words) if w == "from"], [i for i, w in enumerate(words) if w == "to"]
    if len(froms) != 1:
        return None
    start = froms[0]
    after, before = [i for i in tos if i > start], [i for i in tos if i < start]
    if after:
        parts = {"from": (pieces[start + 1:after[0]], True), "to": (pieces[after[0] + 1:], False)}
    elif before:
        parts = {"to": (pieces[before[-1] + 1:start], True), "from": (pieces[start + 1:], False)}
    else:
        return None
    trimmed = {end: (_word_span(part), bounded) for end, (part, bounded) in parts.items()}
    if not all(part for part, _ in trimmed.values()):
        return None
    (end_first,), (end_second,) = ends
    return {first: trimmed[end_first], second: trimmed[end_second]}


def _made_by(pieces: list[str], first: str, second: str, said: str) -> dict[str, tuple[list[str], bool]] | None:
    """The words of a work and of who made it, when one key names a work (title, song, book) and the
    other its maker (artist, author) and the user wrote "by" once, outside quotes ("the lyrics to
    Yesterday by the Beatles", not "play 'Stand by Me'"): the work's copy ends with the last word
    before "by", the maker's comes after it."""
    kinds = [{_MAKING.get(w) for w in _words(key)} - {None} for key in (first, second)]
    if kinds not in ([{"work"}, {"maker"}], [{"maker"}, {"work"}]) \
            or re.search(r"[\"“‘']([^\"”’']*\s)?by(\s[^\"”’']*)?[\"”’']", said, re.IGNORECASE):
        return None
    at = [i for i, p in enumerate(pieces) if p.lower() == "by"]
    if len(at) != 1:
        return None
    work, maker = _word_span(pieces[:at[0]]), _word_span(pieces[at[0] + 1:])
    if not work or all(w.lower() in _FILLER for w in re.findall(r"\w+", "".join(maker))):  # "Stand by me"
        return None
    return {key: (work, True) if kind == {"work"} else (maker, False) for key, kind in zip((first, second), kinds)}


def _gaps(pieces: list[str], spaces: list[int]) -> list[int]:
    """The spaces an object's two copies are split at (see `_Lark._apart`): in a long message, only
    where words that join or end a phrase start (the space before a run of filler words, "show | in
    Lisbon", and after a punctuation mark, "Catan game: | Ravi"), since two values are nearly always
    apart by one: fewer splits, less for llguidance's lexer to derive at once (it ran out of fuel on
    long messages). A short message is split at every space."""
    if len(spaces) <= _GAPS_FROM:
        return spaces
    joins = [i for i in spaces if 0 < i < len(pieces) - 1 and (
        (pieces[i + 1].lower() in _JOINING and pieces[i - 1].lower() not in _JOINING)
        or re.search(r"[,;:.!?)\]]$", pieces[i - 1]))]
    return joins or spaces


def _word_span(pieces: list[str]) -> list[str]:
    """``pieces`` from their first word to their last: no spaces at either end, nor the marks after
    the last ("from Paris, to")."""
    words = [i for i, p in enumerate(pieces) if re.search(r"\w", p)]
    return pieces[words[0]:words[-1] + 1] if words else []


def _ordered(first: str, second: str) -> bool:
    """Whether two keys are one name marked first and second (player_a and player_b, team1 and team2,
    itemA and itemB): nothing but the order of the values the user wrote tells them apart."""
    a, b = _ORDINAL.fullmatch(first), _ORDINAL.fullmatch(second)
    if not a or not b or a.group(1).lower() != b.group(1).lower():
        return False
    mark_a, mark_b = (m.group(2) or m.group(3) for m in (a, b))
    if mark_a.isdigit() != mark_b.isdigit():
        return False
    return int(mark_a) < int(mark_b) if mark_a.isdigit() else mark_a.lower() < mark_b.lower()


def _number_fields(members: list[tuple[str, Node, bool]]) -> tuple[int | None, int]:
    """How many numbers the required fields among ``members`` take, in nested objects too (None when a
    required list may take any number of them: none is then known to be left over; a list of words,
    "eggs, spinach and feta", takes none), and how many optional number fields there are."""
    need: int | None = 0
    spare = 0
    for _, sub, req in members:
        if sub.kind == "arr":
            need = None if req and (not sub.parts or _holds_numbers(sub.parts[0])) else need
        elif sub.kind == "obj":
            inner, more = _number_fields(_members(sub))
            need = None if need is None or (req and inner is None) else need + (inner or 0) * req
            spare += more
        elif sub.schema.get("type") in ("number", "integer") and sub.schema.get(FROM_USER, True) is not False:
            need = None if need is None else need + req
            spare += not req
    return need, spare


def _holds_numbers(node: Node) -> bool:
    """Whether a value of ``node`` may be or hold a JSON number (not a string, a boolean or a date)."""
    if node.kind in ("obj", "arr", "alt"):
        parts = [p for _, p, _ in node.parts] if node.kind == "obj" else node.parts
        return any(_holds_numbers(p) for p in parts)
    if node.kind == "lit":
        return bool(re.fullmatch(r"-?\d[\d.eE+-]*", node.text))
    return node.kind != "str" and node.schema.get("type") not in ("string", "boolean", "null")


def _field_text(key: str, node: Node) -> str:
    description = node.schema.get("description")
    return " ".join(_words(key)) + (f": {description}" if isinstance(description, str) else "")


def _groups(choices: dict[str, list[str]]) -> list[list[str]]:
    """The keys linked (directly or through others) by a value their choices share, in groups of two or more."""
    groups: list[list[str]] = []
    for key in choices:
        linked = [g for g in groups if any(set(choices[key]) & set(choices[k]) for k in g)]
        merged = [k for g in linked for k in g] + [key]
        groups = [g for g in groups if g not in linked] + [merged]
    return [sorted(g, key=list(choices).index) for g in groups if len(g) > 1]


def _partial(options: list[list[str]], required: list[bool], counts: Counter[str],
             limit: int = 64) -> list[tuple[str | None, ...]] | None:
    """Fewer of the user's numbers than fields: every way to place each number in a field of its own
    (a number written twice may serve two), the optional fields left over left out (None) — "yoga 60
    min 250 kcal" never sets the distance as well; None when there are more than ``limit``. (An
    optional field given a number may still be left out, as any optional field.)"""
    values = {v for vs in options for v in vs}
    out: list[tuple[str | None, ...]] = []

    def fill(i: int, acc: tuple[str | None, ...]) -> bool:
        if i == len(options):
            used = Counter(v for v in acc if v is not None)
            if all(used[v] >= 1 for v in values):  # every number the user wrote goes somewhere
                out.append(acc)
            return len(out) <= limit
        used = Counter(v for v in acc if v is not None)
        here: list[str | None] = [v for v in options[i] if used[v] < max(1, counts[v])]
        return all(fill(i + 1, acc + (v,)) for v in here + ([] if required[i] else [None]))

    return out if fill(0, ()) else None


def _injective(options: list[list[str]], counts: Counter[str] | None = None,
               limit: int = 64) -> list[tuple[str, ...]] | None:
    """Every way to give each slot a different one of its options (a number the user wrote several
    times, as in "(0,0)", in as many slots); None when there are more than ``limit``."""
    out: list[tuple[str, ...]] = []
    counts = counts or Counter()

    def fill(i: int, acc: tuple[str, ...]) -> bool:
        if i == len(options):
            out.append(acc)
            return len(out) <= limit
        return all(fill(i + 1, acc + (v,)) for v in options[i] if acc.count(v) < max(1, counts[v]))

    return out if fill(0, ()) else None


def sibling_asks(bounds: list[ToolBound], source: str | None,
                 hints: dict[tuple[str, ...], list[Any]] | None = None) -> list[Ask]:
    """The sibling properties of ``bounds`` whose values the grammar lets the model assign in several
    ways (see :class:`Ask`); a caller's answers go to :func:`lark_grammar` as ``prefer``."""
    lark = _Lark(source, hints=hints)
    for b in bounds:
        lark.expr(b.node)
    return lark.asks


def lark_grammar(bounds: list[ToolBound], calls: int = 1, source: str | None = None,
                 hints: dict[tuple[str, ...], list[Any]] | None = None,
                 prefer: dict[Signature, tuple[str | None, ...]] | None = None) -> str:
    """One to ``calls`` wrapped calls, each to one of the bounded tools; with ``source`` (the user's
    last message), every free-text value is a piece of it, copied as written (whole words,
    :func:`chunks`), an enum whose values the user named (:func:`mentions`) takes one of those, and
    an optional enum or boolean the user did not name is left out, unless the property sets
    :data:`FROM_USER` to ``false``. Leaving choices out only shortens the longest call: the bound
    still holds."""
    lark = _Lark(source, hints=hints, prefer=prefer)
    alts = []
    for b in bounds:
        lark.verbs = lark.tool_words(b.name)
        alts.append(lark.rule(f"{_lit(_head(b.name))} {lark.expr(b.node)} \"}}\""))
    block = f'"{OPEN}" ({" | ".join(alts)}) "{CLOSE}"'
    more = f' ("\\n" {block}){{0,{calls - 1}}}' if calls > 1 else ""
    return "%llguidance {}\nstart: " + block + more + "\n" + "\n".join(lark.rules) + "\n"


def value_grammar(bound: ToolBound) -> str:
    """An llguidance (Lark) grammar for one bare JSON value of a bounded shape (a structured answer)."""
    lark = _Lark(calls=False)
    top = lark.expr(bound.node)
    return "%llguidance {}\nstart: " + top + "\n" + "\n".join(lark.rules) + "\n"


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
