"""The bounded tool-call grammar: every call it allows closes within max_tokens (no model needed).

The proof runs llguidance itself (the library llama.cpp embeds) on the generated grammar with a
byte tokenizer: one token per byte is the worst case for every literal, since a real token is at
least one byte, while the ``max_tokens`` caps of free-text strings count tokens whatever they are.
A walk that always picks the longest continuation (one more string character, one more digit,
one more item or property) is the longest call; random walks check the rest.
"""

import json
import random

import jsonschema
import pytest

from cupola.engines.base import Capabilities
from cupola.errors import InvalidParameter
from cupola.runtime.tool_adapter import adapt_request, call_bounds, call_schema, grammar, plan_tools
from cupola.runtime.tool_grammar import FROM_USER, bounded_schema

llguidance = pytest.importorskip("llguidance")

ADAPTER = Capabilities(chat=True, grammar=True, json_schema=True)
EOS = 256


def _tool(name: str, properties: dict, required: list | None = None) -> dict:
    """A function tool whose parameters are an object of ``properties`` (``required`` ones)."""
    parameters = {"type": "object", "properties": properties}
    if required is not None:
        parameters["required"] = required
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


class _Bytes:
    """A tokenizer whose tokens are single bytes (plus EOS): the most tokens any text can take."""

    eos_token_id = EOS
    bos_token_id = None
    tokens = [bytes([i]) for i in range(256)] + [b"<eos>"]
    special_token_ids = [EOS]

    def __call__(self, data):
        return list(data if isinstance(data, bytes) else data.encode())


TOKENIZER = llguidance.LLTokenizer(llguidance.TokenizerWrapper(_Bytes()))
# the longest continuation first: more string, more digits, another item or member, then closing
LONGEST = [ord(c) for c in "x9.,-"] + [ord("e")]


def walk(lark: str, rng: random.Random | None) -> tuple[int, bytes]:
    """Decode under the grammar with byte tokens: (tokens used, text). ``rng`` None: the longest walk."""
    matcher = llguidance.LLMatcher(TOKENIZER, lark, log_level=0)
    assert not matcher.is_error(), matcher.get_error()
    out = bytearray()
    for _ in range(5000):
        mask = matcher.compute_bitmask()
        allowed = [t for t in range(257) if mask[t // 8] >> (t % 8) & 1]
        assert allowed, "dead end"
        if allowed == [EOS]:
            return len(out), bytes(out)
        pick = [t for t in allowed if t != EOS]
        if rng is None:
            token = next((t for t in LONGEST if t in pick), pick[0])
        else:
            token = rng.choice(pick + ([EOS] if EOS in allowed else []))
            if token == EOS:
                return len(out), bytes(out)
        assert matcher.consume_token(token), matcher.get_error()
        out.append(token)
    raise AssertionError("the walk did not end")


def random_schema(rng: random.Random, depth: int = 0) -> dict:
    kinds = ["string", "string", "number", "integer", "enum", "boolean"] + (["array", "object"] if depth < 2 else [])
    kind = rng.choice(kinds)
    if kind == "string":
        s = {"type": "string", "description": "some text"}
        if rng.random() < 0.3:
            s["minLength"] = rng.randint(1, 3)
        if rng.random() < 0.3:
            s["maxLength"] = rng.randint(5, 300)
        if rng.random() < 0.15:
            s = {"type": "string", "format": rng.choice(["date", "time", "date-time", "email"])}
        return s
    if kind == "number":
        s = {"type": "number"}
        if rng.random() < 0.4:
            s.update(minimum=0, maximum=rng.choice([1, 100, 10_000]))
        return s
    if kind == "integer":
        s = {"type": "integer"}
        if rng.random() < 0.4:
            s["minimum"] = rng.choice([0, 1])
        return s
    if kind == "enum":
        return {"type": "string", "enum": rng.sample(["celsius", "fahrenheit", "kelvin", "m", "km", "ß"], 3)}
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "array":
        s = {"type": "array", "items": random_schema(rng, depth + 1)}
        if rng.random() < 0.3:
            s["minItems"] = 1
        return s
    props = {f"p{i}": random_schema(rng, depth + 1) for i in range(rng.randint(1, 4))}
    return {"type": "object", "properties": props, "required": rng.sample(sorted(props), rng.randint(0, len(props)))}


def tools_for(rng: random.Random, n: int) -> list[dict]:
    def params():
        props = {f"a{j}": random_schema(rng, 1) for j in range(rng.randint(1, 4))}
        return {"type": "object", "properties": props, "required": ["a0"]}
    return [{"type": "function", "function": {"name": f"tool_{i}", "parameters": params()}} for i in range(n)]


@pytest.mark.parametrize("seed", range(24))
def test_the_longest_call_the_grammar_allows_fits_the_budget(seed):
    rng = random.Random(seed)
    tools = tools_for(rng, rng.choice([1, 1, 2, 3]))
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in tools}
    for budget in (16, 32, 64, 128, 256):
        plan = plan_tools({"tools": tools, "tool_choice": "required"}, ADAPTER)
        try:
            lark = grammar(plan, budget)
        except InvalidParameter as exc:
            assert exc.param == "max_tokens" and "at least" in exc.message
            minimum = int(exc.message.rsplit("at least ", 1)[1])
            assert minimum > budget
            grammar(plan, minimum)  # the minimum it names is enough
            continue
        for rng_walk in (None, random.Random(seed * 7 + budget), random.Random(seed * 11 + budget)):
            used, text = walk(lark, rng_walk)
            assert used <= budget, (budget, used, text)
            # a string cap inside a multi-byte character leaves a partial one: llama.cpp renders it U+FFFD
            call = json.loads(text.decode(errors="replace").removeprefix("<tool_call>").removesuffix("</tool_call>"))
            jsonschema.validate(call["arguments"], schemas[call["name"]])


def test_a_declared_max_length_is_never_raised_and_strings_are_bounded():
    tool = _tool("search", {"query": {"type": "string", "minLength": 1, "maxLength": 40}}, ["query"])
    plan = plan_tools({"tools": [tool], "tool_choice": "required"}, ADAPTER)
    schema = call_schema(plan, 4096)["properties"]["arguments"]
    assert schema["properties"]["query"]["maxLength"] == 40
    small = call_schema(plan, 74)["properties"]["arguments"]["properties"]["query"]["maxLength"]
    assert 1 <= small < 40
    used, text = walk(grammar(plan, 4096), None)
    assert json.loads(text[len("<tool_call>"):-len("</tool_call>")])["arguments"]["query"] == "x" * 40


def test_free_text_without_a_limit_is_capped_by_the_budget():
    tool = _tool("note", {"text": {"type": "string"}, "tags": {"type": "array", "items": {
        "type": "string"}}}, ["text"])
    plan = plan_tools({"tools": [tool], "tool_choice": "required"}, ADAPTER)
    for budget in (128, 256, 1024):
        bound = call_bounds(plan, budget)[0][0]
        assert bound.worst <= budget
        args = bounded_schema(bound.node)
        assert args["properties"]["text"]["maxLength"] > 0 and args["properties"]["tags"]["maxItems"] >= 1
        used, _ = walk(grammar(plan, budget), None)
        assert used <= budget


def test_a_budget_below_any_call_is_a_400_naming_max_tokens_and_the_minimum():
    tool = _tool("add", {"a": {"type": "number"}, "b": {"type": "number"}}, ["a", "b"])
    body = {"messages": [{"role": "user", "content": "2+3?"}], "tools": [tool], "tool_choice": "required",
            "max_tokens": 16}
    with pytest.raises(InvalidParameter) as info:
        adapt_request(body, plan_tools(body, ADAPTER))
    assert info.value.param == "max_tokens"
    minimum = int(info.value.message.rsplit("at least ", 1)[1])
    out = adapt_request({**body, "max_tokens": minimum}, plan_tools(body, ADAPTER))
    assert out["grammar"].startswith("%llguidance")


def test_tools_that_do_not_fit_are_left_out_of_the_grammar_when_others_fit():
    small = _tool("ping", {})
    big = _tool("many", {
        f"n{i}": {"type": "number"} for i in range(8)}, [f"n{i}" for i in range(8)])
    plan = plan_tools({"tools": [small, big], "tool_choice": "required"}, ADAPTER)
    lark = grammar(plan, 64)
    assert '\\"ping\\"' in lark and '\\"many\\"' not in lark
    used, text = walk(lark, None)
    assert used <= 64 and b'"ping"' in text


def test_a_value_cannot_fake_the_closing_tag():
    tool = _tool("calc", {"expression": {"type": "string"}}, ["expression"])
    lark = grammar(plan_tools({"tools": [tool], "tool_choice": "required"}, ADAPTER), 256)
    matcher = llguidance.LLMatcher(TOKENIZER, lark, log_level=0)
    assert matcher.consume_tokens(list(b'<tool_call>{"name": "calc", "arguments": {"expression": "1 < 2 <<')), \
        matcher.get_error()
    mask = matcher.compute_bitmask()
    assert not mask[ord("/") // 8] >> (ord("/") % 8) & 1  # "</" never starts inside a value
    assert not mask[EOS // 8] >> (EOS % 8) & 1


def test_free_text_values_are_copied_from_the_user_and_still_bounded():
    tool = _tool("search", {"query": {"type": "string"}, "k": {"type": "integer"}}, ["query"])
    plan = plan_tools({"tools": [tool], "tool_choice": "required"}, ADAPTER)
    source = 'Find "tool calling" notes about small models </tool_call> please'
    lark = grammar(plan, 128, source)
    for rng in (None, random.Random(1), random.Random(2)):
        used, text = walk(lark, rng)
        assert used <= 128
        query = json.loads(text.decode()[len("<tool_call>"):-len("</tool_call>")])["arguments"]["query"]
        assert query in 'Find  tool calling  notes about small models < /tool_call> please'
    matcher = llguidance.LLMatcher(TOKENIZER, lark, log_level=0)
    assert matcher.consume_tokens(list(b'<tool_call>{"name": "search", "arguments": {"query": "Find'))
    assert matcher.validate_tokens(list(b" pizza")) < len(b" pizza")  # words not in the message are refused


def test_free_text_that_opts_out_is_written_not_copied():
    """A file's content is not in the user's words: a property with x-cupola-from-user false is only bounded."""
    tool = _tool("calc", {"expression": {"type": "string", FROM_USER: False}}, ["expression"])
    plan = plan_tools({"tools": [tool], "tool_choice": "required"}, ADAPTER)
    lark = grammar(plan, 128, "What is 15% of 240?")
    matcher = llguidance.LLMatcher(TOKENIZER, lark, log_level=0)
    prefix = list(b'<tool_call>{"name": "calc", "arguments": {"expression": "')
    assert matcher.consume_tokens(prefix)
    assert matcher.validate_tokens(list(b"0.15 * 240")) == len(b"0.15 * 240")


def _accepts(lark: str, text: str) -> bool:
    matcher = llguidance.LLMatcher(TOKENIZER, lark, log_level=0)
    data = list(text.encode())
    return matcher.validate_tokens(data) == len(data) and matcher.consume_tokens(data) and matcher.is_accepting()


LIGHTS = _tool("lights", {
    "room": {"type": "string"}, "state": {"type": "string", "enum": ["on", "off", "dim"]},
    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    "colors": {"type": "array", "items": {"type": "string", "enum": ["red", "green", "blue"]}},
    "gift_wrap": {"type": "boolean"}, "notify": {"type": "boolean"}, "note": {"type": "string", FROM_USER: False,
                                                                                "enum": ["a", "b"]}}, ["room", "state"])


def _lark(tool: dict, text: str, budget: int = 256) -> str:
    """The adapter's grammar for a call to ``tool`` (required) from the user's ``text``."""
    return grammar(plan_tools({"tools": [tool], "tool_choice": "required"}, ADAPTER), budget, text)


def _call(args: str, name: str = "lights") -> str:
    """A wrapped call to ``name`` with the arguments' JSON members ``args``."""
    return f'<tool_call>{{"name": "{name}", "arguments": {{{args}}}}}</tool_call>'


def test_enum_values_the_user_named_are_the_choices_and_unnamed_optional_ones_are_left_out():
    """Values are taken from the user's words: a named enum value is chosen among those named, an optional
    enum or boolean the user did not mention is not invented (found on the development set: "celsius" added
    to "Weather in Berlin", "gift_wrap": false to "add two to my cart", "on" for "turn off")."""
    lark = _lark(LIGHTS, "Turn off the kitchen lights and notify me, in blue")
    assert _accepts(lark, _call('"room": "kitchen", "state": "off", "colors": ["blue"], "notify": true'))
    assert not _accepts(lark, _call('"room": "kitchen", "state": "dim", "colors": ["blue"], "notify": true'))
    # optional ones the user asked for are written (found on the development set: "walking directions"
    # without "mode": "walking", "a public playlist" without "public": true)
    assert not _accepts(lark, _call('"room": "kitchen", "state": "off"'))
    assert not _accepts(lark, _call('"room": "kitchen", "state": "off", "colors": ["red"], "notify": true'))
    assert not _accepts(lark, _call('"room": "kitchen", "state": "off", "unit": "celsius", "colors": ["blue"], '
                                    '"notify": true'))  # never mentioned
    assert not _accepts(lark, _call('"room": "kitchen", "state": "off", "colors": ["blue"], "gift_wrap": false, '
                                    '"notify": true'))
    assert _accepts(lark, _call('"room": "kitchen", "state": "off", "colors": ["blue"], "notify": true, '
                                '"note": "b"'))  # opted out: any value, and optional
    # nothing named: every value stays possible (a required enum always has one)
    lark = _lark(LIGHTS, "Make the kitchen cosy")
    assert all(_accepts(lark, _call(f'"room": "kitchen", "state": "{s}"')) for s in ("on", "off", "dim"))


@pytest.mark.parametrize("value,text,named", [
    ("off", "Turn off the lights", True), ("cup", "2 cups of flour", True), ("quiet", "clean it quietly", True),
    ("driving", "How do I drive to Boston?", True), ("serie_a", "Who leads Serie A?", True),
    ("kilometers", "5 kilograms in pounds", False), ("on", "the lamp on the desk", False),
    ("includePending", "count the pending ones", False),
    # symbols and codes stand for their words, and a unit's symbol after a number names the unit
    ("g", "in grams", True), ("grams", "150 g of rice", True), ("de", "into German, formal", True),
    ("sat", "On Saturday", True), ("fri", "On Saturday", False),  # a weekday's abbreviation by its name
    ("eur", "under 120 euros", True), ("g", "good grief", False), ("in", "put it in the box", False)])
def test_what_counts_as_the_user_naming_a_value(value, text, named):
    from cupola.runtime.tool_grammar import mentions

    assert mentions(value, text) is named


def test_a_copied_value_is_whole_words_never_a_piece_of_one_or_bare_punctuation():
    tool = _tool("track", {"order_id": {"type": "string"}}, ["order_id"])
    plan = plan_tools({"tools": [tool], "tool_choice": "required"}, ADAPTER)
    lark = grammar(plan, 128, "Where's my order #A10492, placed for CT-2291? Ask mia@x.io.")
    head = '<tool_call>{"name": "track", "arguments": {"order_id": '

    def takes(value: str) -> bool:
        return _accepts(lark, head + json.dumps(value) + "}}</tool_call>")

    assert takes("A10492") and takes("CT-2291")  # an id field takes a whole code of the message
    assert not takes("order #A10492") and not takes("mia@x.io") and not takes("placed")
    assert not takes("2291") and not takes("x.io") and not takes("10492")  # never part of a word
    assert not takes(", ") and not takes(" ") and not takes("?") and not takes("#")  # never bare punctuation
    tool["function"]["parameters"]["properties"] = {"note": {"type": "string"}}
    tool["function"]["parameters"]["required"] = ["note"]
    lark = grammar(plan_tools({"tools": [tool], "tool_choice": "required"}, ADAPTER), 128,
                   "Where's my order #A10492, placed for CT-2291? Ask mia@x.io.")
    head = '<tool_call>{"name": "track", "arguments": {"note": '
    assert takes("order #A10492") and takes("mia@x.io") and takes("A10492")  # free text: whole words
    assert not takes("2291") and not takes("x.io") and not takes("10492")
    assert not takes(", ") and not takes(" ") and not takes("?") and not takes("#")


def test_a_message_with_no_word_to_copy_leaves_values_only_bounded():
    tool = _tool("track", {"order_id": {"type": "string"}}, ["order_id"])
    lark = grammar(plan_tools({"tools": [tool], "tool_choice": "required"}, ADAPTER), 128, "???")
    for rng in (None, random.Random(3)):
        used, text = walk(lark, rng)  # never a dead end
        assert used <= 128 and text.endswith(b"</tool_call>")


def test_a_date_or_time_layout_named_in_a_description_is_held():
    """Copying "March 2025" where the description asks for YYYY-MM can never be right (development set)."""
    tool = _tool("payslip", {
        "month": {"type": "string", "description": "YYYY-MM"}, "at": {"type": "string", "description": "HH:MM"}},
        ["month", "at"])
    plan = plan_tools({"tools": [tool], "tool_choice": "required"}, ADAPTER)
    lark = grammar(plan, 128, "Get me the payslip for March 2025 at 09:30")
    head = '<tool_call>{"name": "payslip", "arguments": {'
    assert _accepts(lark, head + '"month": "2025-03", "at": "09:30"}}</tool_call>')
    assert not _accepts(lark, head + '"month": "March 2025", "at": "09:30"}}</tool_call>')
    assert not _accepts(lark, head + '"month": "2025-03", "at": "2025-03"}}</tool_call>')
    assert not _accepts(lark, head + '"month": "2025-04", "at": "09:30"}}</tool_call>')  # the month the user named
    assert not _accepts(lark, head + '"month": "2025-03", "at": "09:31"}}</tool_call>')
    bounded = call_schema(plan, 128)["properties"]["arguments"]["properties"]
    assert bounded["month"]["maxLength"] == 7 and bounded["at"]["pattern"] == r"^\d{2}:\d{2}$"


@pytest.mark.parametrize("description, pattern", [
    ("ISO 8601 date-time, e.g. 2025-01-31T19:45", r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?$"),
    ('Time of day, e.g. "19:45"', r"^\d{2}:\d{2}$"),
    ("Start, e.g. 2025-01-31 or today", None),  # other values are allowed too
    ("A note, like the one on the fridge", None)])
def test_a_layout_given_by_an_example_is_held(description, pattern):
    """Found on the development set: "kickoff": "2025-10-02" for a date-time field described by an example,
    when the user wrote "on 2025-10-02 at 19:30"."""
    tool = _tool("match", {
        "at": {"type": "string", "description": description}}, ["at"])
    plan = plan_tools({"tools": [tool], "tool_choice": "required"}, ADAPTER)
    assert call_schema(plan, 128)["properties"]["arguments"]["properties"]["at"].get("pattern") == pattern
    if pattern and "T" in pattern:
        lark = grammar(plan, 128, "We host them on 2025-10-02 at 19:30")
        assert _accepts(lark, '<tool_call>{"name": "match", "arguments": {"at": "2025-10-02T19:30"}}</tool_call>')
        assert not _accepts(lark, '<tool_call>{"name": "match", "arguments": {"at": "2025-10-02"}}</tool_call>')


@pytest.mark.parametrize("text,expected", [
    ("We're a family of five, need four bedrooms at least, max 550k.", ["550000", "5", "4"]),
    ("Print on the 2nd-floor printer, 3 copies", ["2", "3"]),
    ("differentials 12.4, 15.1, -3 and 1,250.5 and $2M", ["12.4", "15.1", "-3", "1250.5", "2000000"]),
    ("on 2025-04-09, quiet from 22:00 to 07:00 in 2025", ["2025"]),  # dates and times are not numbers
    ("lat -33.87 lon 151.21", ["-33.87", "151.21"]), ("3 million people", ["3000000"]),
    ("sides seven, eight and nine; one hundred and fifty; twenty-five", ["7", "8", "9", "150", "25"]),
    ("last 5 transactions for SAV-310, order A10492, a 1920x1080 frame at half size", ["5", "1920", "1080", "0.5"]),
    ("price of ETH?", []),
    ("vertices (0,0), (4,3) and 1,250 people", ["0", "4", "3", "1250"]),  # a thousands comma is before 3 digits
    ("I'm at x=2.5, y=-1", ["2.5", "-1"])])
def test_the_numbers_a_user_wrote(text, expected):
    from cupola.runtime.tool_grammar import numbers

    assert [str(n) if n != n.to_integral_value() else str(int(n)) for n in numbers(text)] == expected


HOMES = _tool("homes", {
    "city": {"type": "string"}, "min_bedrooms": {"type": "integer", "minimum": 0, "maximum": 20},
    "max_price": {"type": "number"}, "ratio": {"type": "number", FROM_USER: False},
    "move_in": {"type": "string", "description": "YYYY-MM-DD"}}, ["city", "min_bedrooms"])


def test_numbers_and_dates_are_ones_the_user_wrote_and_unwritten_optional_ones_are_left_out():
    """Found on the development set: "grams": 100 for "150 g of rice", "min_bedrooms": 100 for "four
    bedrooms", "end": "70:00" for "to 07:00", "vs_currency"-like optional numbers the user never gave."""
    lark = _lark(HOMES, "Family of five in Raleigh: four bedrooms at least, max 550k, moving 2025-06-01")
    assert _accepts(lark, _call('"city": "Raleigh", "min_bedrooms": 4, "max_price": 550000, '
                                '"move_in": "2025-06-01"', "homes"))
    # "four bedrooms": the number by a word of the key is min_bedrooms', not "five" (the family)
    assert not _accepts(lark, _call('"city": "Raleigh", "min_bedrooms": 5, "max_price": 550000', "homes"))
    # "max 550k" gives the optional max_price: it is not left out
    assert not _accepts(lark, _call('"city": "Raleigh", "min_bedrooms": 4', "homes"))
    assert not _accepts(lark, _call('"city": "Raleigh", "min_bedrooms": 100', "homes"))  # not a number the user wrote
    assert not _accepts(lark, _call('"city": "Raleigh", "min_bedrooms": 4, "max_price": 5000', "homes"))
    assert not _accepts(lark, _call('"city": "Raleigh", "min_bedrooms": 4, "move_in": "2025-06-02"', "homes"))
    assert _accepts(lark, _call('"city": "Raleigh", "min_bedrooms": 4, "max_price": 550000, "ratio": 0.25, '
                                '"move_in": "2025-06-01"', "homes"))  # opted out
    # "moving 2025-06-01" says move_in's word ("moving" names move): the date is written, not left out
    assert not _accepts(lark, _call('"city": "Raleigh", "min_bedrooms": 4, "max_price": 550000', "homes"))
    # no number fits the range (550000 > 20): the integer is only bounded, never a dead end
    lark = _lark(HOMES, "In Raleigh under 550k")
    assert _accepts(lark, _call('"city": "Raleigh", "min_bedrooms": 3, "max_price": 550000', "homes"))
    # no number, no date: the optional ones are left out, the required one is only bounded
    lark = _lark(HOMES, "Homes in Raleigh")
    assert _accepts(lark, _call('"city": "Raleigh", "min_bedrooms": 2', "homes"))
    assert not _accepts(lark, _call('"city": "Raleigh", "min_bedrooms": 2, "max_price": 9', "homes"))
    assert not _accepts(lark, _call('"city": "Raleigh", "min_bedrooms": 2, "move_in": "2025-06-01"', "homes"))


@pytest.mark.parametrize("budget", [24, 48, 96, 200])
def test_a_response_format_schema_closes_within_max_tokens(budget):
    """The issue's gap on structured output: a json_schema answer whose strings are not bounded can be cut
    by max_tokens mid-string. The bounded grammar's longest value fits, and validates; below the smallest
    value it is a 400 naming max_tokens; text may hold "</" (no tool-call tags to guard here)."""
    from cupola.runtime.tool_adapter import bound_format

    schema = {"type": "object", "properties": {"title": {"type": "string"}, "year": {"type": "integer"},
              "tags": {"type": "array", "items": {"type": "string"}}, "html": {"type": "string"}},
              "required": ["title", "year", "tags", "html"]}
    body = {"max_tokens": budget, "messages": [],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}}
    try:
        engine_body = bound_format(body, ADAPTER)
    except InvalidParameter as exc:
        assert exc.param == "max_tokens" and budget < int(exc.message.rsplit("at least ", 1)[1])
        return
    assert "response_format" not in engine_body
    for rng in (None, random.Random(budget), random.Random(budget + 1)):
        used, text = walk(engine_body["grammar"], rng)
        assert used <= budget
        jsonschema.validate(json.loads(text.decode(errors="replace")), schema)
    if budget >= 200:
        assert _accepts(engine_body["grammar"], '{"title": "t", "year": 1999, "tags": ["a"], "html": "<b>x</b>"}')
    # engines without grammars, and schemas outside the bounded subset, keep the response_format as it is
    assert bound_format(body, Capabilities(chat=True, json_schema=True)) is body
    free = {**body, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
        "type": "object", "additionalProperties": True}}}}
    assert bound_format(free, ADAPTER) is free


COOK = _tool("convert", {
    "amount": {"type": "number"}, "from_unit": {"type": "string", "enum": ["cup", "tbsp", "ml", "g"]},
    "to_unit": {"type": "string", "enum": ["cup", "tbsp", "ml", "g"]}, "age": {"type": "integer"},
    "rest_bpm": {"type": "integer"}}, ["amount", "from_unit", "to_unit"])


def test_siblings_choosing_from_the_same_few_values_take_different_ones():
    """Found on the development set: "from_unit": "cup", "to_unit": "cup" for "How many ml is 2 cups?", an
    age equal to the resting heart rate, both ends of a time range the same."""
    lark = _lark(COOK, "How many ml is 2 cups? I'm 52, resting at 58 bpm")
    assert _accepts(lark, _call('"amount": 2, "from_unit": "cup", "to_unit": "ml", "age": 52, "rest_bpm": 58',
                                "convert"))
    assert _accepts(lark, _call('"amount": 2, "from_unit": "ml", "to_unit": "cup", "rest_bpm": 58', "convert"))
    # "resting at 58 bpm" gives the optional rest_bpm (a word of its key by a number): it is not left out
    assert not _accepts(lark, _call('"amount": 2, "from_unit": "ml", "to_unit": "cup"', "convert"))
    assert not _accepts(lark, _call('"amount": 2, "from_unit": "cup", "to_unit": "cup"', "convert"))
    assert not _accepts(lark, _call('"amount": 2, "from_unit": "cup", "to_unit": "ml", "age": 58, "rest_bpm": 58',
                                    "convert"))
    # one unit named: it is used, the other comes from the whole enum
    lark = _lark(COOK, "Convert 2 cups of flour")
    assert _accepts(lark, _call('"amount": 2, "from_unit": "cup", "to_unit": "g"', "convert"))
    assert not _accepts(lark, _call('"amount": 2, "from_unit": "cup", "to_unit": "cup"', "convert"))
    assert not _accepts(lark, _call('"amount": 2, "from_unit": "ml", "to_unit": "g"', "convert"))
    # fewer numbers than fields: a number serves one field, unless it was written twice; the optional
    # fields left over are left out ("yoga 60 min 250 kcal" never set the distance too, development set)
    lark = _lark(COOK, "2 cups to grams, I'm 60 and my pulse is 60")
    assert _accepts(lark, _call('"amount": 2, "from_unit": "cup", "to_unit": "g", "age": 60, "rest_bpm": 60',
                                "convert"))
    lark = _lark(COOK, "2 cups to grams, I'm 60")
    assert _accepts(lark, _call('"amount": 2, "from_unit": "cup", "to_unit": "g", "age": 60', "convert"))
    assert not _accepts(lark, _call('"amount": 2, "from_unit": "cup", "to_unit": "g", "age": 60, "rest_bpm": 60',
                                    "convert"))
    assert not _accepts(lark, _call('"amount": 2, "from_unit": "cup", "to_unit": "g", "age": 2', "convert"))


MESSAGES = ["2025-04-09", "35",
            "Book 3 seats for ana@x.io and bo@y.org on 2025-04-09 at 19:30, ticket T-881, under 550k",
            "Convert two cups to grams, about 12.5 or -4, file /tmp/a.txt, phone +14155550123, in celsius",
            "nothing to take here", "m km kelvin ß fahrenheit 1 2 3 4 5 6 7 8 9 10 11 12"]


@pytest.mark.parametrize("seed", range(16))
def test_values_from_the_users_words_keep_every_call_within_the_budget(seed):
    """The choices made from the user's words (their numbers, dates, codes, addresses, named enum values and
    flags, distinct siblings and items) only narrow the grammar: the longest call still fits and validates."""
    rng = random.Random(1000 + seed)
    tools = tools_for(rng, rng.choice([1, 2]))
    for t in tools:  # keys that name kinds of strings
        props = t["function"]["parameters"]["properties"]
        for old, new in zip(list(props), ["email", "ticket_id", "file_path", "notify"]):
            if rng.random() < 0.5:
                props[new] = props.pop(old)
                t["function"]["parameters"]["required"] = [new if r == old else r
                                                           for r in t["function"]["parameters"]["required"]]
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in tools}
    plan = plan_tools({"tools": tools, "tool_choice": "required"}, ADAPTER)
    for budget in (64, 128, 256):
        try:
            lark = grammar(plan, budget, MESSAGES[seed % len(MESSAGES)])
        except InvalidParameter:
            continue
        for rng_walk in (None, random.Random(seed + budget), random.Random(seed * 3 + budget)):
            used, text = walk(lark, rng_walk)
            assert used <= budget, (budget, used, text)
            call = json.loads(text.decode(errors="replace").removeprefix("<tool_call>").removesuffix("</tool_call>"))
            jsonschema.validate(call["arguments"], schemas[call["name"]])


SHARE = _tool("share", {
    "path": {"type": "string"}, "emails": {"type": "array", "items": {"type": "string"}},
    "to": {"type": "string", "description": "E.164 phone number"}, "public": {"type": "boolean"},
    "notify_owner": {"type": "boolean"}, "business_days_only": {"type": "boolean"}}, ["path", "emails", "to"])


def test_paths_addresses_and_phone_numbers_are_whole_tokens_of_the_message_and_named_flags_are_set():
    """Found on the development set: "path": "mia@x.io", "emails": ["lou@x.io", "lou@x.io"], "to": "10" for
    "+14155550123", "public": false for "a public playlist", business_days_only set by "fourteen days"."""
    plan = plan_tools({"tools": [SHARE], "tool_choice": "required"}, ADAPTER)
    lark = grammar(plan, 256, "Make /docs/plan.docx public for mia@x.io and lou@x.io, text +14155550123 in "
                              "fourteen days, and don't notify the owner")
    good = '"path": "/docs/plan.docx", "emails": ["mia@x.io", "lou@x.io"], "to": "+14155550123"'
    assert _accepts(lark, _call(good + ', "public": true, "notify_owner": false', "share"))
    assert not _accepts(lark, _call(good + ', "notify_owner": false', "share"))  # named: written
    assert not _accepts(lark, _call(good + ', "public": false, "notify_owner": false', "share"))
    assert not _accepts(lark, _call(good + ', "public": true, "notify_owner": true', "share"))  # "don't notify"
    assert not _accepts(lark, _call(good + ', "public": true, "notify_owner": false, "business_days_only": true',
                                    "share"))
    assert not _accepts(lark, _call(good.replace('"/docs/plan.docx"', '"mia@x.io"') + ', "public": true, '
                                     '"notify_owner": false', "share"))
    assert not _accepts(lark, _call(good.replace('"lou@x.io"]', '"mia@x.io"]') + ', "public": true, '
                                     '"notify_owner": false', "share"))  # an address once
    assert not _accepts(lark, _call(good.replace('"+14155550123"', '"14"') + ', "public": true, '
                                     '"notify_owner": false', "share"))


def test_formatted_strings_take_a_value_of_their_format_from_the_message():
    tool = _tool("invite", {
        "sender": {"type": "string", "format": "email"}, "guest": {"type": "string", "format": "email"},
        "day": {"type": "string", "format": "date"}}, ["sender", "guest", "day"])
    lark = _lark(tool, "From ana@x.io, invite bo@y.org on 2025-04-09")
    head = '<tool_call>{"name": "invite", "arguments": {'
    assert _accepts(lark, head + '"sender": "ana@x.io", "guest": "bo@y.org", "day": "2025-04-09"}}</tool_call>')
    assert not _accepts(lark, head + '"sender": "ana@x.io", "guest": "ana@x.io", "day": "2025-04-09"}}</tool_call>')
    assert not _accepts(lark, head + '"sender": "ana@x.io", "guest": "bo@y.org", "day": "2025-04-10"}}</tool_call>')


def test_dates_keep_the_messages_order_and_a_copy_is_never_just_a_siblings_value():
    """Found on the development set: check-in and check-out swapped, "city": "2025-05-01", "device": "35"
    next to "level": 35."""
    tool = _tool("hotels", {
        "city": {"type": "string"}, "check_in": {"type": "string", "format": "date"},
        "check_out": {"type": "string", "format": "date"}, "guests": {"type": "integer"}},
        ["city", "check_in", "check_out"])
    lark = _lark(tool, "OK, a hotel in Porto from 2025-05-01 to 2025-05-04 for 2.")
    head = '<tool_call>{"name": "hotels", "arguments": {'

    def takes(args: str) -> bool:
        return _accepts(lark, head + args + "}}</tool_call>")

    assert takes('"city": "Porto", "check_in": "2025-05-01", "check_out": "2025-05-04", "guests": 2')
    assert not takes('"city": "Porto", "check_in": "2025-05-04", "check_out": "2025-05-01"')
    assert not takes('"city": "2025-05-01", "check_in": "2025-05-01", "check_out": "2025-05-04"')
    assert not takes('"city": "2", "check_in": "2025-05-01", "check_out": "2025-05-04"')
    assert not takes('"city": "2.", "check_in": "2025-05-01", "check_out": "2025-05-04"')  # nor with its stop
    assert takes('"city": "Porto from 2025-05-01", "check_in": "2025-05-01", "check_out": "2025-05-04"')
    # nor is an item of a free-text list ("rooms": ["kitchen", "turbo"] next to "mode": "turbo")
    tool = _tool("vacuum", {
        "rooms": {"type": "array", "items": {"type": "string"}},
        "mode": {"type": "string", "enum": ["quiet", "turbo"]}}, ["rooms", "mode"])
    lark = grammar(plan_tools({"tools": [tool], "tool_choice": "required"}, ADAPTER), 256,
                   "Vacuum the kitchen and the hallway on turbo.")
    head = '<tool_call>{"name": "vacuum", "arguments": {'
    assert takes('"rooms": ["kitchen", "hallway"], "mode": "turbo"')
    assert not takes('"rooms": ["kitchen", "turbo"], "mode": "turbo"')


def test_a_list_of_the_users_values_keeps_the_order_they_were_written_in():
    """Found on the development set: "notify ops@corp.com and sre@corp.com" came back as [sre, ops]."""
    tool = _tool("alert", {
        "notify": {"type": "array", "items": {"type": "string", "format": "email"}}}, ["notify"])
    lark = _lark(tool, "notify ops@corp.com and sre@corp.com")
    head = '<tool_call>{"name": "alert", "arguments": {"notify": '
    assert _accepts(lark, head + '["ops@corp.com", "sre@corp.com"]}}</tool_call>')
    assert not _accepts(lark, head + '["sre@corp.com", "ops@corp.com"]}}</tool_call>')


def test_a_list_of_addresses_holds_every_address_the_user_wrote():
    """Found on the development set: "Let mia@x.io and lou@x.io edit" shared with lou only. A list of
    addresses (links, paths, phone numbers) holds them all, unless a single sibling takes that kind too
    (a sender and its recipients)."""
    share = _tool("share", {
        "emails": {"type": "array", "items": {"type": "string", "format": "email"}}}, ["emails"])
    forward = _tool("share", {
        "sender": {"type": "string", "format": "email"},
        "emails": {"type": "array", "items": {"type": "string", "format": "email"}}}, ["emails"])
    head = '<tool_call>{"name": "share", "arguments": {'
    lark = grammar(plan_tools({"tools": [share], "tool_choice": "required"}, ADAPTER), 256, "let mia@x.io and lou@x.io edit")
    assert _accepts(lark, head + '"emails": ["mia@x.io", "lou@x.io"]}}</tool_call>')
    assert not _accepts(lark, head + '"emails": ["lou@x.io"]}}</tool_call>')
    text = "from ops@x.io let mia@x.io and lou@x.io edit"
    lark = grammar(plan_tools({"tools": [forward], "tool_choice": "required"}, ADAPTER), 512, text)
    assert _accepts(lark, head + '"sender": "ops@x.io", "emails": ["mia@x.io", "lou@x.io"]}}</tool_call>')
    # the bound counts the addresses the user wrote (10 bytes), not the longest an email may be (61): two
    # of them fit 120 tokens, where the schema alone leaves room for none
    lark = grammar(plan_tools({"tools": [forward], "tool_choice": "required"}, ADAPTER), 120, text)
    assert _accepts(lark, head + '"sender": "ops@x.io", "emails": ["mia@x.io", "lou@x.io"]}}</tool_call>')


def test_a_long_url_in_the_message_never_breaks_the_bound_of_a_uri_field():
    """A `format: uri` field takes a URL of the message only when it fits the field's bound (found in review:
    a 500-character URL would have been offered whole)."""
    tool = _tool("fetch", {
        "url": {"type": "string", "format": "uri"}}, ["url"])
    plan = plan_tools({"tools": [tool], "tool_choice": "required"}, ADAPTER)
    long_url = "https://example.org/" + "a" * 480
    for budget in (512, 1024):  # a uri is bounded at 64 characters of up to 6 bytes: 450 tokens at least
        lark = grammar(plan, budget, f"Fetch {long_url} and https://x.io/short")
        used, text = walk(lark, None)
        assert used <= budget
        assert not _accepts(lark, _call(f'"url": "{long_url}"', "fetch"))
        assert _accepts(lark, _call('"url": "https://x.io/short"', "fetch"))


@pytest.mark.parametrize("value, text, expected", [
    ("52", "Zones for a 52 year old with a resting heart rate of 58 bpm.", (12, "Zones for a year old")),
    ("1150", "Road trip of 1,150 km, my car", (13, "Road trip of km")),  # not past the clause's end
    ("350", "income 72000, debts 350/month, 20000 down", (20, "debts /month")),
    ("70", "Feed for 40 sheep averaging 70 kg.", (28, "sheep averaging kg")),  # not past another number
    ("250", "record yoga 60 min 250 kcal", (19, "kcal")),  # nor the unit of the number before
    ("20", "Add 20% VAT to $450", (4, "Add percent VAT")),  # a symbol says what the number is
    ('"cup"', "How many cups is 250 ml?", (9, "How many is")),  # the word that names it
    ('"g"', "Turn 1.5 big cups into grams", (23, "big cups into")),  # a symbol by its word, not a letter
    ('"cup"', "Is 2 cups?", None),  # no word around it
    ("4", "four apples", None),  # in words: no place to look around
    ('"2025-03"', "in March 2025", None),
])
def test_where_a_value_was_written_and_the_words_around_it(value, text, expected):
    from cupola.runtime.tool_grammar import value_context

    assert value_context(value, text) == expected


@pytest.mark.parametrize("text, expected", [
    ("We host them on 2025-10-02 at 19:30, at Eastfield Park.", ["2025-10-02T19:30"]),
    ("Oct 2, 2025, 7:30 pm", ["2025-10-02T19:30"]),
    ("3 March 2025 at 12:05am", ["2025-03-03T00:05"]),
    ("2025-01-01 08:00:30", ["2025-01-01T08:00:30"]),
    ("2025-10-02, then 19:30 the day after", []),  # a time not right after the day is not its time
    ("2025-10-02 at 13:30 pm", []),  # no such time
])
def test_a_day_and_the_time_written_after_it_make_a_date_time(text, expected):
    from cupola.runtime.tool_grammar import _date_times

    assert _date_times(text) == expected


def test_a_description_that_names_the_kind_of_a_field_holds_it_to_tokens_of_that_kind():
    """Found on the development set: "from_account": "CHK-001", "to_account": "CHK-001" for
    "transfer 1200.50 SAV-310 -> CHK-001" (the descriptions say "account id")."""
    tool = _tool("transfer", {
        "from_account": {"type": "string", "description": "Source account id, e.g. CHK-001"},
        "to_account": {"type": "string", "description": "Destination account id"},
        "payee": {"type": "string", "description": "Name or id of the payee"}}, ["from_account", "to_account"])
    lark = _lark(tool, "transfer 1200.50 SAV-310 -> CHK-001 for Ana")
    head = '<tool_call>{"name": "transfer", "arguments": {'
    assert _accepts(lark, head + '"from_account": "SAV-310", "to_account": "CHK-001"}}</tool_call>')
    assert not _accepts(lark, head + '"from_account": "CHK-001", "to_account": "CHK-001"}}</tool_call>')
    assert not _accepts(lark, head + '"from_account": "SAV", "to_account": "CHK-001"}}</tool_call>')
    assert not _accepts(lark, head + '"from_account": "SAV-310", "to_account": "1200"}}</tool_call>')  # 1200.50
    # "name or id": not held to ids
    assert _accepts(lark, head + '"from_account": "SAV-310", "to_account": "CHK-001", "payee": "Ana"}}</tool_call>')


def test_fewer_dates_than_date_fields_leave_the_choice_to_the_model():
    """Found on the test set: "on sale at 15% off until 2025-12-31" with optional start and end dates
    failed with a 500 (the one-field-per-number rule reached dates)."""
    tool = _tool("sale", {
        "sku": {"type": "string"}, "percent_off": {"type": "number"},
        "starts": {"type": "string", "format": "date"}, "ends": {"type": "string", "format": "date"}},
        ["sku", "percent_off"])
    lark = _lark(tool, "Put SKU HD-77 on sale at 15% off until 2025-12-31.")
    head = '<tool_call>{"name": "sale", "arguments": {"sku": "HD-77", "percent_off": 15, '
    assert _accepts(lark, head + '"ends": "2025-12-31"}}</tool_call>')
    assert _accepts(lark, head + '"starts": "2025-12-31"}}</tool_call>')


CACHE = _tool("cache_set", {
    "key": {"type": "string"}, "ttl_seconds": {"type": "integer", "description": "Expiry in seconds"},
    "retries": {"type": "integer"}}, ["key"])
TIMER = _tool("timer", {
    "minutes": {"type": "number", "exclusiveMinimum": 0}, "label": {"type": "string"}}, ["minutes"])


@pytest.mark.parametrize("tool, text, good, bad", [
    (CACHE, "cache session:42 for 30 minutes", '"ttl_seconds": 1800', '"ttl_seconds": 30'),
    (CACHE, "keep key k1, expiring in an hour, 3 retries", '"ttl_seconds": 3600, "retries": 3',
     '"ttl_seconds": 3, "retries": 3600'),
    (TIMER, "The bread needs to rest for an hour and a half", '"minutes": 90', '"minutes": 0.5'),
    (TIMER, "time 45 min for the roast", '"minutes": 45', '"minutes": 2700'),
    (TIMER, "set a timer for 2 h", '"minutes": 120', '"minutes": 2'),
])
def test_a_quantity_in_another_unit_is_converted_to_the_unit_a_field_names(tool, text, good, bad):
    """Found on the development set: ``ttl_seconds`` 30 for "30 minutes", ``minutes`` 0.5 for "an hour and
    a half". A field whose key or description names a unit takes the user's quantities of its dimension,
    converted, and no other number when there is one."""
    name = tool["function"]["name"]
    lark = _lark(tool, text)
    key = {"cache_set": '"key": "session:42", ' if "session" in text else '"key": "k1", ', "timer": ""}[name]
    assert _accepts(lark, _call(key + good, name))
    assert not _accepts(lark, _call(key + bad, name))


def test_a_copy_is_never_only_filler_words():
    """Found on the development set: "memo": "Please", "sender": "my". A copied value holds at least one
    word that can be a value; names that merely begin like one ("Ana", "Theo") are values."""
    tool = _tool("send", {
        "to": {"type": "string"}, "memo": {"type": "string"}}, ["to"])
    lark = grammar(plan_tools({"tools": [tool], "tool_choice": "required"}, ADAPTER), 256,
                   "Please send it to Ana and Theo, my friends")
    head = '<tool_call>{"name": "send", "arguments": {'
    for value in ("Please", "my", "to", "and"):
        assert not _accepts(lark, head + f'"to": "{value}"}}}}</tool_call>'), value
    for value in ("Ana", "Ana and Theo", "Theo", "my friends", "Please send"):
        assert _accepts(lark, head + f'"to": "{value}"}}}}</tool_call>'), value


def test_filler_and_a_siblings_value_together_never_leave_a_copy_with_nothing_to_take():
    """A message whose only value-like word is a sibling's ("my turbo" with mode turbo): the free-text
    field keeps a valid copy (the filler rule gives way), so the call still closes."""
    tool = _tool("vac", {
        "room": {"type": "string"}, "mode": {"type": "string", "enum": ["quiet", "turbo"]}}, ["room", "mode"])
    lark = grammar(plan_tools({"tools": [tool], "tool_choice": "required"}, ADAPTER), 256, "my, turbo")
    assert _accepts(lark, '<tool_call>{"name": "vac", "arguments": {"room": "my", "mode": "turbo"}}</tool_call>')


ALERT = _tool("alert", {
    "metric": {"type": "string"}, "comparator": {"type": "string", "enum": [">", "<", ">=", "<="]},
    "threshold": {"type": "number"}, "duration_minutes": {"type": "integer"}, "limit": {"type": "integer"},
    "min_amount": {"type": "number"}, "channel": {"type": "string"}}, ["metric", "comparator", "threshold"])


def test_optional_numbers_and_strings_the_user_gave_are_written():
    """Found on the development set: a 135M model leaves out "for 5 minutes", "last 5", "500 or more"
    and "in the audit schema"; and "disk_free_gb < 10" names the operator "<"."""
    lark = _lark(ALERT, "Alert me if cpu_usage < 90 for 5 minutes")
    assert _accepts(lark, _call('"metric": "cpu_usage", "comparator": "<", "threshold": 90, "duration_minutes": 5',
                                "alert"))
    assert not _accepts(lark, _call('"metric": "cpu_usage", "comparator": "<", "threshold": 90', "alert"))
    assert not _accepts(lark, _call('"metric": "cpu_usage", "comparator": ">", "threshold": 90, '
                                    '"duration_minutes": 5', "alert"))
    # a count ("the last 3 ...") and a lower bound ("500 or more") by the words next to the number
    lark = _lark(ALERT, "cpu_usage < 90, show the last 3 alerts of 500 or more")
    assert _accepts(lark, _call('"metric": "cpu_usage", "comparator": "<", "threshold": 90, "limit": 3, '
                                '"min_amount": 500', "alert"))
    assert not _accepts(lark, _call('"metric": "cpu_usage", "comparator": "<", "threshold": 90, "limit": 3',
                                    "alert"))
    # a string whose key the user said
    lark = _lark(ALERT, "cpu_usage < 90, post it to the ops channel")
    assert not _accepts(lark, _call('"metric": "cpu_usage", "comparator": "<", "threshold": 90', "alert"))
    assert _accepts(lark, _call('"metric": "cpu_usage", "comparator": "<", "threshold": 90, "channel": "ops"',
                                "alert"))
    # no number left over, or none that says which field it is for: the optional ones stay optional
    for text in ("Alert me if cpu_usage < 90", "cpu_usage < 90 and 5 and 7"):
        lark = _lark(ALERT, text)
        assert _accepts(lark, _call('"metric": "cpu_usage", "comparator": "<", "threshold": 90', "alert"))
    # "<=" does not name "<"
    lark = _lark(ALERT, "Alert me if cpu_usage <= 90")
    assert not _accepts(lark, _call('"metric": "cpu_usage", "comparator": "<", "threshold": 90', "alert"))


def test_a_share_between_0_and_1_takes_the_users_percentage_as_a_decimal():
    tool = _tool("grow", {
        "principal": {"type": "number"}, "rate": {"type": "number", "minimum": 0, "maximum": 1},
        "months": {"type": "integer"}}, ["principal", "rate", "months"])
    lark = _lark(tool, "What do 9,500 at 3.75% give over two years?")
    assert _accepts(lark, _call('"principal": 9500, "rate": 0.0375, "months": 24', "grow"))
    assert not _accepts(lark, _call('"principal": 9500, "rate": 3.75, "months": 24', "grow"))
    assert not _accepts(lark, _call('"principal": 9500, "rate": 0.0375, "months": 2', "grow"))


def test_a_copy_ends_with_a_full_stop_only_inside_the_users_quotes():
    """Found on the development set: "table": "users(email).", "text": "lunch is here." (the sentence's
    full stop), while "The meeting moved to 3pm." in quotes keeps its own."""
    tool = _tool("post", {
        "text": {"type": "string"}}, ["text"])
    lark = _lark(tool, "Tell the team lunch is here.")
    assert _accepts(lark, _call('"text": "lunch is here"', "post"))
    assert not _accepts(lark, _call('"text": "lunch is here."', "post"))
    lark = _lark(tool, 'Post "The meeting moved to 3pm." to the team. Thanks!')
    assert _accepts(lark, _call('"text": "The meeting moved to 3pm."', "post"))
    assert _accepts(lark, _call('"text": "The meeting moved to 3pm"', "post"))
    assert not _accepts(lark, _call('"text": "to the team."', "post"))


def test_two_sibling_copies_come_from_different_places_in_the_message():
    """Found on the development set: "homeTeam": "Hawks", "awayTeam": "Hawks"; "table": "audit" with
    "schema": "audit" for "the events table in the audit schema"."""
    tool = _tool("match", {
        "homeTeam": {"type": "string"}, "awayTeam": {"type": "string"}, "venue": {"type": "string"}},
        ["homeTeam", "awayTeam"])
    lark = _lark(tool, "We host the Harbour Hawks tonight. We're Northgate Rovers.")
    assert _accepts(lark, _call('"homeTeam": "Northgate Rovers", "awayTeam": "Harbour Hawks"', "match"))
    assert _accepts(lark, _call('"homeTeam": "Harbour Hawks", "awayTeam": "Northgate Rovers"', "match"))
    assert not _accepts(lark, _call('"homeTeam": "Hawks", "awayTeam": "Hawks"', "match"))
    assert not _accepts(lark, _call('"homeTeam": "Harbour Hawks", "awayTeam": "Hawks"', "match"))
    # a word written twice may go to both
    lark = _lark(tool, "Hawks at home against the Hawks")
    assert _accepts(lark, _call('"homeTeam": "Hawks", "awayTeam": "Hawks"', "match"))
    # with a third, optional copy: the two required ones
    lark = _lark(tool, "We host the Harbour Hawks at Eastfield Park. We're Northgate Rovers.")
    assert not _accepts(lark, _call('"homeTeam": "Hawks", "awayTeam": "Hawks", "venue": "Eastfield Park"', "match"))
    assert _accepts(lark, _call('"homeTeam": "Northgate Rovers", "awayTeam": "Harbour Hawks", '
                                '"venue": "Eastfield Park"', "match"))
    # three required copies: left to the model (the splits would multiply)
    three = {"type": "function", "function": {"name": "match", "parameters": {
        **tool["function"]["parameters"], "required": ["homeTeam", "awayTeam", "venue"]}}}
    lark = _lark(three, "We host the Harbour Hawks at Eastfield Park. We're Northgate Rovers.")
    assert _accepts(lark, _call('"homeTeam": "Harbour Hawks", "awayTeam": "Harbour Hawks", "venue": "Eastfield Park"',
                                "match"))
    # (never "Hawks" alone: it ends a name, see test_a_copy_neither_starts_nor_ends_inside_a_name)
    assert not _accepts(lark, _call('"homeTeam": "Hawks", "awayTeam": "Hawks", "venue": "Eastfield Park"', "match"))


def test_values_found_on_the_new_development_cases():
    """Found on the development set's added part: "95% confidence interval" names the integer enum value
    95; a list of six numbers was held to four items; a nested eyepiece's optional field was forced by
    a number the top level takes; 3 lb is 1.36 kg (not dropped for its decimals)."""
    ci = _tool("ci", {
        "mean": {"type": "number"}, "n": {"type": "integer"},
        "confidencePercent": {"type": "integer", "enum": [90, 95, 99]}}, ["mean", "n"])
    lark = _lark(ci, "95% interval for a mean of 50.2 over 36 people")
    assert _accepts(lark, _call('"mean": 50.2, "n": 36, "confidencePercent": 95', "ci"))
    assert not _accepts(lark, _call('"mean": 50.2, "n": 36', "ci"))
    assert not _accepts(lark, _call('"mean": 95, "n": 36, "confidencePercent": 95', "ci"))
    lark = _lark(ci, "interval for a mean of 50.2 at 4% over 36 people")  # 4% is not 90, 95 or 99
    assert _accepts(lark, _call('"mean": 50.2, "n": 36', "ci"))

    sd = _tool("sd", {
        "values": {"type": "array", "items": {"type": "number"}}}, ["values"])
    lark = _lark(sd, "standard deviation of 4, 8, 15, 16, 23 and 42")
    assert _accepts(lark, _call('"values": [4, 8, 15, 16, 23, 42]', "sd"))

    scope = _tool("fov", {
        "focal_mm": {"type": "number"}, "eyepiece": {"type": "object", "properties": {
            "focal_mm": {"type": "number"}, "fov_deg": {"type": "number"}}, "required": ["focal_mm"]},
        "barlow": {"type": "number"}}, ["focal_mm", "eyepiece"])
    lark = _lark(scope, "A 1200 mm telescope with a 25 mm eyepiece")
    assert _accepts(lark, _call('"focal_mm": 1200, "eyepiece": {"focal_mm": 25}', "fov"))

    parcel = _tool("ship", {
        "weight_kg": {"type": "number"}, "length_cm": {"type": "number"}, "width_cm": {"type": "number"}},
        ["weight_kg", "length_cm", "width_cm"])
    lark = _lark(parcel, "a 12 x 9 inch parcel weighing 3 lb")
    assert _accepts(lark, _call('"weight_kg": 1.36, "length_cm": 30.48, "width_cm": 22.86', "ship"))
    assert not _accepts(lark, _call('"weight_kg": 3, "length_cm": 12, "width_cm": 9', "ship"))


def test_a_number_by_a_word_of_its_key_is_that_fields():
    """Found on the development set's added part: "bedrooms": 90 for "a 2 bedroom ... flat of 90 square metres";
    "trials": 70 for "70% of the time ... eight out of ten" (p_success takes the 70%)."""
    home = _tool("value", {
        "address": {"type": "string"}, "bedrooms": {"type": "integer"}, "bathrooms": {"type": "number"}},
        ["address", "bedrooms", "bathrooms"])
    lark = _lark(home, "What is 14 Elm Row worth: 3 bedrooms, one and a half bathrooms?")
    assert _accepts(lark, _call('"address": "14 Elm Row", "bedrooms": 3, "bathrooms": 1.5', "value"))
    assert not _accepts(lark, _call('"address": "14 Elm Row", "bedrooms": 14, "bathrooms": 1.5', "value"))
    odds = _tool("odds", {
        "trials": {"type": "integer"}, "successes": {"type": "integer"}, "p_success": {"type": "number"}},
        ["trials", "successes", "p_success"])
    lark = _lark(odds, "I score 70% of the time: odds of eight out of ten?")
    assert _accepts(lark, _call('"trials": 10, "successes": 8, "p_success": 0.7', "odds"))
    assert not _accepts(lark, _call('"trials": 70, "successes": 8, "p_success": 0.7', "odds"))
    # words a sibling's key shares say nothing ("pH" of current_ph and target_ph)
    ph = _tool("ph", {
        "current_ph": {"type": "number"}, "target_ph": {"type": "number"}}, ["current_ph", "target_ph"])
    lark = _lark(ph, "My soil is pH 7.8 and blueberries want 5.0")
    assert _accepts(lark, _call('"current_ph": 7.8, "target_ph": 5', "ph"))


def test_a_shortened_key_word_by_a_number_names_the_field_and_ordered_keys_copy_in_order():
    """Found on the development set's added part: "bedrooms": 14 (the house number) for "3 bed, 2 bath";
    "player_a": "Aryna Sabalenka", "player_b": "Iga Swiatek" for "Iga Swiatek vs Aryna Sabalenka"."""
    home = _tool("value", {
        "address": {"type": "string"}, "bedrooms": {"type": "integer"}, "bathrooms": {"type": "number"},
        "sqft": {"type": "number"}}, ["address", "bedrooms", "bathrooms", "sqft"])
    lark = _lark(home, "What is 14 Elm Row worth: 3 bed, 2 bath, 1,650 sq ft?")
    assert _accepts(lark, _call('"address": "14 Elm Row", "bedrooms": 3, "bathrooms": 2, "sqft": 1650', "value"))
    assert not _accepts(lark, _call('"address": "14 Elm Row", "bedrooms": 14, "bathrooms": 2, "sqft": 1650', "value"))
    assert not _accepts(lark, _call('"address": "14 Elm Row", "bedrooms": 3, "bathrooms": 14, "sqft": 1650', "value"))
    h2h = _tool("h2h", {
        "player_a": {"type": "string"}, "player_b": {"type": "string"}}, ["player_a", "player_b"])
    lark = _lark(h2h, "Iga Swiatek vs Aryna Sabalenka record?")
    assert _accepts(lark, _call('"player_a": "Iga Swiatek", "player_b": "Aryna Sabalenka"', "h2h"))
    assert not _accepts(lark, _call('"player_a": "Aryna Sabalenka", "player_b": "Iga Swiatek"', "h2h"))
    # split at the word between the two ("vs", "and"), not anywhere (found on the development set)
    assert not _accepts(lark, _call('"player_a": "Aryna Sabalenka", "player_b": "record"', "h2h"))
    assert not _accepts(lark, _call('"player_a": "Iga", "player_b": "Swiatek"', "h2h"))
    # keys that say which is which may take the values either way round ("from Paris to Rome" is not
    # "origin", "destination" in the message's order when written "to Rome from Paris")
    trip = _tool("trip", {
        "destination": {"type": "string"}, "origin": {"type": "string"}}, ["destination", "origin"])
    lark = _lark(trip, "Trains from Paris to Rome")
    assert _accepts(lark, _call('"destination": "Rome", "origin": "Paris"', "trip"))


@pytest.mark.parametrize("text, start, end", [
    ("Compare biking and transit from Kings Cross to Canary Wharf.", "Kings Cross", "Canary Wharf"),
    ("Plan a trip to Schiphol Airport from Amsterdam Centraal leaving at 07:45.", "Amsterdam Centraal",
     "Schiphol Airport"),
])
def test_the_ends_of_a_journey_are_copied_after_from_and_to(text, start, end):
    """Found on the development set's fresh part: "origin": "Kings Cross to Canary Wharf", "destination":
    "Compare biking and transit"; and "origin": "Schiphol Airport" for "a trip to Schiphol Airport from
    Amsterdam Centraal". Keys naming a start and an end copy what follows "from" and "to"."""
    for keys in (("origin", "destination"), ("pickup", "dropoff"), ("from_station", "to_station")):
        trip = _tool("trip", {keys[1]: {"type": "string"}, keys[0]: {"type": "string"},
                              "modes": {"type": "array", "items": {"type": "string"}}}, list(keys))
        lark = _lark(trip, text)
        assert _accepts(lark, _call(f'"{keys[1]}": "{end}", "{keys[0]}": "{start}"', "trip"))
        assert not _accepts(lark, _call(f'"{keys[1]}": "{start}", "{keys[0]}": "{end}"', "trip"))
        assert not _accepts(lark, _call(f'"{keys[1]}": "{end}", "{keys[0]}": "Compare biking"', "trip"))
    # the copy before the other's word ends with its last word: a small model stops after "Ferry"
    ride = _tool("ride", {"pickup": {"type": "string"}, "dropoff": {"type": "string"}}, ["pickup", "dropoff"])
    lark = _lark(ride, "What would a premium ride from the Ferry Building to Oracle Park cost?")
    for pickup in ("the Ferry Building", "Ferry Building"):
        assert _accepts(lark, _call(f'"pickup": "{pickup}", "dropoff": "Oracle Park"', "ride"))
    for pickup in ("Ferry", "the Ferry", "the"):
        assert not _accepts(lark, _call(f'"pickup": "{pickup}", "dropoff": "Oracle Park"', "ride"))
    # without "from" (or with it twice) the two copies split the message either way round, as before
    trip = _tool("trip", {"origin": {"type": "string"}, "destination": {"type": "string"}}, ["origin", "destination"])
    lark = _lark(trip, "Canary Wharf to Kings Cross")
    assert _accepts(lark, _call('"origin": "Kings Cross", "destination": "Canary Wharf"', "trip"))


def test_a_work_and_its_maker_are_copied_around_by():
    """Found on the development set: "artist" left out of "Play "Bohemian Rhapsody" by Queen"; "title":
    "Yesterday by the Beatles", "artist": "the lyrics"; "artist": "Lennon" for "by John Lennon". A key
    naming a work and one naming its maker copy what comes before and after "by", the maker written."""
    play = _tool("play", {"song": {"type": "string"}, "artist": {"type": "string"}}, ["song"])
    lark = _lark(play, 'Play "Imagine" by John Lennon.')
    assert _accepts(lark, _call('"song": "Imagine", "artist": "John Lennon"', "play"))
    for wrong in ('"song": "Imagine"', '"song": "Imagine", "artist": "Lennon"', '"song": "Imagine by John Lennon"'):
        assert not _accepts(lark, _call(wrong, "play"))
    lyrics = _tool("lyrics", {"title": {"type": "string"}, "artist": {"type": "string"}}, ["title"])
    lark = _lark(lyrics, "Get me the lyrics to Yesterday by the Beatles.")
    for artist in ("the Beatles", "Beatles"):
        assert _accepts(lark, _call(f'"title": "Yesterday", "artist": "{artist}"', "lyrics"))
    assert not _accepts(lark, _call('"title": "the lyrics", "artist": "the Beatles"', "lyrics"))
    # "by" inside quotes, or followed by nothing but filler, is part of the title
    for text in ("Play 'Stand by Me'", "Play Stand by Me"):
        assert _accepts(_lark(play, text), _call('"song": "Stand by Me"', "play"))


def test_a_copy_never_holds_what_a_sibling_surely_takes():
    """Found on the development set's fresh part: "description": "2026-01-08, about 2300 in damage" beside
    "incident_date": "2026-01-08"; "booking_ref": "14:00 instead" beside "until": "14:00"; "client":
    "Invoice Brightside Ltd 4,750 GBP, due in 30 days" beside "amount": 4750."""
    claim = _tool("claim", {"policy_number": {"type": "string"},
                            "incident_date": {"type": "string", "description": "YYYY-MM-DD"},
                            "description": {"type": "string"}}, ["policy_number", "incident_date", "description"])
    lark = _lark(claim, "File a claim on policy HX-449102 for a burst pipe on 2026-01-08, about 2300 in damage.")
    head = '"policy_number": "HX-449102", "incident_date": "2026-01-08", "description": '
    assert _accepts(lark, _call(head + '"burst pipe"', "claim"))
    for wrong in ("2026-01-08, about 2300 in damage", "burst pipe on 2026-01-08"):
        assert not _accepts(lark, _call(head + f'"{wrong}"', "claim"))
    invoice = _tool("invoice", {"client": {"type": "string"}, "amount": {"type": "number"},
                                "due_in_days": {"type": "integer"}}, ["client", "amount", "due_in_days"])
    lark = _lark(invoice, "Invoice Brightside Ltd 4,750, due in 30 days.")
    assert _accepts(lark, _call('"client": "Brightside Ltd", "amount": 4750, "due_in_days": 30', "invoice"))
    assert not _accepts(lark, _call('"client": "Brightside Ltd 4,750", "amount": 4750, "due_in_days": 30', "invoice"))
    # a value a sibling may or may not take stays copyable ("Lisbon 2025" with no number field)
    album = _tool("album", {"name": {"type": "string"}}, ["name"])
    assert _accepts(_lark(album, "New album: Lisbon 2025"), _call('"name": "Lisbon 2025"', "album"))


def test_a_copy_is_not_the_word_a_code_sibling_was_named_by_nor_its_own_key():
    """Found on the development set's fresh part: "topic": "Italian quiz on food" beside "language": "it";
    "museum": "Prado in Spanish" beside "language": "es"; "seat": "seat" for "to seat 14C"."""
    language = {"type": "string", "description": "ISO 639-1 code"}
    quiz = _tool("quiz", {"language": language, "topic": {"type": "string"}}, ["language", "topic"])
    lark = _lark(quiz, "Give me a 10 question Italian quiz on food.")
    assert _accepts(lark, _call('"language": "it", "topic": "food"', "quiz"))
    for topic in ("Italian", "Italian quiz on food"):
        assert not _accepts(lark, _call(f'"language": "it", "topic": "{topic}"', "quiz"))
    tour = _tool("tour", {"museum": {"type": "string"}, "language": language}, ["museum", "language"])
    lark = _lark(tour, "Book a guided tour of the Prado in Spanish for 6 people.")
    assert _accepts(lark, _call('"museum": "Prado", "language": "es"', "tour"))
    assert not _accepts(lark, _call('"museum": "Prado in Spanish", "language": "es"', "tour"))
    seat = _tool("seat", {"seat": {"type": "string"}, "note": {"type": "string"}}, ["seat"])
    lark = _lark(seat, "Put me in seat 14C")
    assert _accepts(lark, _call('"seat": "14C"', "seat"))
    assert not _accepts(lark, _call('"seat": "seat"', "seat"))


def test_a_name_given_after_called_is_copied_from_there():
    """Found on the development set's fresh part: "name": "share" for "Make an album called Lisbon 2025
    and share it with ana@fam.pt and rui@fam.pt"."""
    album = _tool("album", {"name": {"type": "string"}, "shared_with": {"type": "array", "items": {"type": "string"}}},
                  ["name"])
    lark = _lark(album, "Make an album called Lisbon 2025 and share it with ana@fam.pt and rui@fam.pt.")
    tail = ', "shared_with": ["ana@fam.pt", "rui@fam.pt"]'
    assert _accepts(lark, _call('"name": "Lisbon 2025"' + tail, "album"))
    for wrong in ("share", "album", "Make an album"):
        assert not _accepts(lark, _call(f'"name": "{wrong}"' + tail, "album"))


def test_a_copy_neither_starts_nor_ends_inside_a_name():
    """Found on the development set's fresh part: "plan": "Max" for "my Unlimited Max plan", "pickup":
    "Ferry" for "the Ferry Building", "artist": "Lennon" for "John Lennon"."""
    roaming = _tool("roaming", {"plan": {"type": "string"}, "days": {"type": "integer"}}, ["plan", "days"])
    lark = _lark(roaming, "Add 7 days of roaming to my Unlimited Max plan.")
    for plan in ("Unlimited Max", "Unlimited Max plan"):
        assert _accepts(lark, _call(f'"plan": "{plan}", "days": 7', "roaming"))
    for plan in ("Max", "Max plan", "Unlimited", "my Unlimited"):
        assert not _accepts(lark, _call(f'"plan": "{plan}", "days": 7', "roaming"))
    # nor do two copies split a name between them ("homeTeam": "Hawks", "awayTeam": "Harbour")
    match = _tool("match", {"homeTeam": {"type": "string"}, "awayTeam": {"type": "string"}}, ["homeTeam", "awayTeam"])
    lark = _lark(match, "We host the Harbour Hawks tonight. We're Northgate Rovers.")
    assert _accepts(lark, _call('"homeTeam": "Northgate Rovers", "awayTeam": "Harbour Hawks"', "match"))
    assert not _accepts(lark, _call('"homeTeam": "Hawks", "awayTeam": "Harbour"', "match"))
    # the message's first word starts no name ("Invoice Brightside Ltd": the client is "Brightside Ltd")
    client = _tool("client", {"client": {"type": "string"}}, ["client"])
    assert _accepts(_lark(client, "Invoice Brightside Ltd please"), _call('"client": "Brightside Ltd"', "client"))


def test_optional_dates_the_user_wrote_beyond_the_required_ones_are_written():
    """Found on the development set's fresh part: "Comedy shows in Glasgow between 2026-02-01 and
    2026-02-07?" answered without date_from and date_to."""
    day = {"type": "string", "description": "YYYY-MM-DD"}
    events = _tool("events", {"city": {"type": "string"}, "date_from": day, "date_to": day}, ["city"])
    lark = _lark(events, "Comedy shows in Glasgow between 2026-02-01 and 2026-02-07?")
    assert _accepts(lark, _call('"city": "Glasgow", "date_from": "2026-02-01", "date_to": "2026-02-07"', "events"))
    assert not _accepts(lark, _call('"city": "Glasgow"', "events"))
    # one date for a required field and an optional one: the optional one stays optional
    booking = _tool("booking", {"city": {"type": "string"}, "date": day, "until": day}, ["city", "date"])
    lark = _lark(booking, "A room in Glasgow on 2026-02-01")
    assert _accepts(lark, _call('"city": "Glasgow", "date": "2026-02-01"', "booking"))


def test_a_list_of_objects_takes_the_users_numbers_and_times_in_the_order_written():
    """Found on the development set's added part: "courses" of 4 items for three, "strike": 3.5, "premium":
    100 for "a 100 call for 3.50", a heating period "07:00" to "18:00" for "07:00 to 10:00"."""
    gpa = _tool("gpa", {
        "courses": {"type": "array", "minItems": 1, "items": {"type": "object", "properties": {
            "credits": {"type": "number"}, "grade": {"type": "string", "enum": ["A", "B+", "B", "C"]}},
            "required": ["credits", "grade"]}}}, ["courses"])
    lark = _lark(gpa, "GPA for: 3 credits A, 4 credits B+, 3 credits C.")
    assert _accepts(lark, _call('"courses": [{"credits": 3, "grade": "A"}, {"credits": 4, "grade": "B+"}, '
                                '{"credits": 3, "grade": "C"}]', "gpa"))
    assert not _accepts(lark, _call('"courses": [{"credits": 3, "grade": "A"}, {"credits": 3, "grade": "B+"}, '
                                    '{"credits": 4, "grade": "C"}]', "gpa"))  # not in the order written
    assert not _accepts(lark, _call('"courses": [{"credits": 3, "grade": "A"}, {"credits": 4, "grade": "B+"}, '
                                    '{"credits": 3, "grade": "C"}, {"credits": 4, "grade": "A"}]', "gpa"))
    # every number: two of the three courses is a list a small model stops early (found on the development set)
    assert not _accepts(lark, _call('"courses": [{"credits": 4, "grade": "B+"}, {"credits": 3, "grade": "C"}]', "gpa"))
    legs = _tool("payoff", {
        "legs": {"type": "array", "minItems": 1, "items": {"type": "object", "properties": {
            "strike": {"type": "number"}, "premium": {"type": "number"}}, "required": ["strike", "premium"]}},
        "price": {"type": "number"}}, ["legs", "price"])
    lark = _lark(legs, "If I buy a 100 call for 3.50, what's my profit at 110?")
    assert _accepts(lark, _call('"legs": [{"strike": 100, "premium": 3.5}], "price": 110', "payoff"))
    assert not _accepts(lark, _call('"legs": [{"strike": 3.5, "premium": 100}], "price": 110', "payoff"))
    # the number a sibling's words hold it to is not the list's, and the list takes all the others
    lark = _lark(legs, "long 50 call @ 4, short 55 call @ 1.5. What's the price at 53?")
    assert _accepts(lark, _call('"legs": [{"strike": 50, "premium": 4}, {"strike": 55, "premium": 1.5}], "price": 53',
                                "payoff"))
    assert not _accepts(lark, _call('"legs": [{"strike": 55, "premium": 1.5}], "price": 53', "payoff"))
    assert not _accepts(lark, _call('"legs": [{"strike": 4, "premium": 55}, {"strike": 1.5, "premium": 53}], '
                                    '"price": 50', "payoff"))
    # and the sibling takes the number the list leaves, even when no word holds it to one
    lark = _lark(legs, "bull call spread: long 50 call @ 4, short 55 call @ 1.5. P/L at 53?")
    assert _accepts(lark, _call('"legs": [{"strike": 50, "premium": 4}, {"strike": 55, "premium": 1.5}], "price": 53',
                                "payoff"))
    assert not _accepts(lark, _call('"legs": [{"strike": 50, "premium": 4}, {"strike": 55, "premium": 1.5}], '
                                    '"price": 1.5', "payoff"))
    heat = _tool("heat", {
        "periods": {"type": "array", "items": {"type": "object", "properties": {
            "start": {"type": "string", "description": "HH:MM"}, "end": {"type": "string", "description": "HH:MM"},
            "celsius": {"type": "number"}}, "required": ["start", "end", "celsius"]}}}, ["periods"])
    lark = _lark(heat, "Heat to 21 C from 07:00 to 10:00 and to 19 C from 18:00 to 23:00.")
    assert _accepts(lark, _call('"periods": [{"start": "07:00", "end": "10:00", "celsius": 21}, '
                                '{"start": "18:00", "end": "23:00", "celsius": 19}]', "heat"))
    assert not _accepts(lark, _call('"periods": [{"start": "07:00", "end": "18:00", "celsius": 21}, '
                                    '{"start": "18:00", "end": "23:00", "celsius": 19}]', "heat"))
    # a number written in words: the items are not held to an order (the model chooses, as before)
    lark = grammar(plan_tools({"tools": [gpa], "tool_choice": "required"}, ADAPTER), 256,
                   "GPA: an A in a four-credit class and a B in a 3 credit class")
    assert _accepts(lark, _call('"courses": [{"credits": 3, "grade": "B"}, {"credits": 3, "grade": "A"}]', "gpa"))


def test_a_nested_object_takes_the_numbers_its_siblings_left():
    """Found on the development set's added part: "telescope_focal_length_mm": 1200 with "eyepiece":
    {"focal_length_mm": 1200} for "a 1200 mm focal length ... a 25 mm eyepiece"."""
    scope = _tool("fov", {
        "telescope_focal_length_mm": {"type": "number"},
        "eyepiece": {"type": "object", "properties": {"focal_length_mm": {"type": "number"}},
                     "required": ["focal_length_mm"]}}, ["telescope_focal_length_mm", "eyepiece"])
    lark = _lark(scope, "My telescope has a 1200 mm focal length. What do I see with a 25 mm eyepiece?")
    assert _accepts(lark, _call('"telescope_focal_length_mm": 1200, "eyepiece": {"focal_length_mm": 25}', "fov"))
    assert _accepts(lark, _call('"telescope_focal_length_mm": 25, "eyepiece": {"focal_length_mm": 1200}', "fov"))
    assert not _accepts(lark, _call('"telescope_focal_length_mm": 1200, "eyepiece": {"focal_length_mm": 1200}',
                                    "fov"))
    # a number written twice may be taken twice
    lark = _lark(scope, "A 25 mm telescope with a 25 mm eyepiece")
    assert _accepts(lark, _call('"telescope_focal_length_mm": 25, "eyepiece": {"focal_length_mm": 25}', "fov"))


def test_a_copy_never_ends_on_a_word_that_leaves_its_phrase_open():
    """Found on the development set: "text": "Remind me to", "city": "OK, find me a"."""
    note = _tool("note", {
        "text": {"type": "string"}}, ["text"])
    lark = _lark(note, "Remind me to call mom")
    assert _accepts(lark, _call('"text": "call mom"', "note"))
    assert _accepts(lark, _call('"text": "Remind me to call mom"', "note"))
    assert not _accepts(lark, _call('"text": "Remind me to"', "note"))
    lark = _lark(note, "Play Stand by Me")
    assert _accepts(lark, _call('"text": "Stand by Me"', "note"))  # a title's own capital


def test_a_copy_never_opens_with_a_word_that_names_the_tool():
    """Found on the development set's seventh fresh batch: "patient_name": "Book Maya Chen" for
    dental.book_checkup, "client": "Invoice Brightside Ltd" for billing.issue_invoice."""
    book = _tool("dental.book_checkup", {
        "patient_name": {"type": "string"}, "date": {"type": "string", "description": "YYYY-MM-DD"}},
        ["patient_name", "date"])
    lark = _lark(book, "Book Maya Chen a checkup on 2026-03-12.")
    assert _accepts(lark, _call('"patient_name": "Maya Chen", "date": "2026-03-12"', "dental.book_checkup"))
    assert not _accepts(lark, _call('"patient_name": "Book Maya Chen", "date": "2026-03-12"', "dental.book_checkup"))
    # a capitalised word inside a sentence is a name, not the tool's word ("The Book Thief")
    search = _tool("books.search", {"title": {"type": "string"}}, ["title"])
    lark = _lark(search, "Is The Book Thief in stock?")
    assert _accepts(lark, _call('"title": "The Book Thief"', "books.search"))
    lark = _lark(search, "Find Book Lovers by Emily Henry.")
    assert _accepts(lark, _call('"title": "Book Lovers"', "books.search"))
    lark = _lark(search, "Search for a book about bees.")
    assert _accepts(lark, _call('"title": "bees"', "books.search"))
    assert not _accepts(lark, _call('"title": "book about bees"', "books.search"))
    assert not _accepts(lark, _call('"title": "Search for a book about bees"', "books.search"))
    # nor when two copies are split: no split leaves a side nothing but the tool's word
    scale = _tool("kubernetes.scale_deployment", {
        "namespace": {"type": "string"}, "deployment": {"type": "string"}, "replicas": {"type": "integer"}},
        ["namespace", "deployment", "replicas"])
    lark = _lark(scale, "Scale the checkout deployment in the prod namespace to 6 replicas.")
    assert _accepts(lark, _call('"namespace": "prod", "deployment": "checkout", "replicas": 6',
                                "kubernetes.scale_deployment"))
    assert not _accepts(lark, _call('"namespace": "prod", "deployment": "Scale", "replicas": 6',
                                    "kubernetes.scale_deployment"))
    # the tool's word is still copied when nothing else is left
    lark = _lark(search, "books")
    assert _accepts(lark, _call('"title": "books"', "books.search"))


def test_a_copy_is_never_the_quantity_a_number_sibling_takes():
    """Found on the test set: "food": "150 g" next to "grams": 150, "key": "10" next to "seconds": 600."""
    kcal = _tool("kcal", {
        "food": {"type": "string"}, "grams": {"type": "number"}}, ["food", "grams"])
    lark = _lark(kcal, "Calories in 150 g of cooked rice?")
    assert _accepts(lark, _call('"food": "cooked rice", "grams": 150', "kcal"))
    assert not _accepts(lark, _call('"food": "150 g", "grams": 150', "kcal"))
    cache = _tool("cache", {
        "key": {"type": "string"}, "seconds": {"type": "integer"}}, ["key", "seconds"])
    lark = _lark(cache, "Cache login for 10 minutes")
    assert _accepts(lark, _call('"key": "login", "seconds": 600', "cache"))
    for copy in ("10", "10 minutes"):
        assert not _accepts(lark, _call(f'"key": "{copy}", "seconds": 600', "cache"))


def test_an_optional_address_or_id_field_is_left_out_when_the_user_wrote_none():
    """Found on the development set: "notify": ["Alert", "Alert", "Alert", "Alert"] for "Alert me if cpu_usage
    goes above 90" (a list of email addresses, and the user wrote none)."""
    alert = _tool("alert", {
        "metric": {"type": "string"}, "threshold": {"type": "number"},
        "notify": {"type": "array", "items": {"type": "string", "description": "Email address"}},
        "owner_email": {"type": "string"}}, ["metric", "threshold"])
    lark = _lark(alert, "Alert me if cpu_usage goes above 90")
    assert _accepts(lark, _call('"metric": "cpu_usage", "threshold": 90', "alert"))
    assert not _accepts(lark, _call('"metric": "cpu_usage", "threshold": 90, "notify": ["Alert"]', "alert"))
    assert not _accepts(lark, _call('"metric": "cpu_usage", "threshold": 90, "owner_email": "me"', "alert"))
    lark = _lark(alert, "Alert ops@x.io if cpu_usage goes above 90")
    assert _accepts(lark, _call('"metric": "cpu_usage", "threshold": 90, "notify": ["ops@x.io"]', "alert"))


def test_a_list_of_enum_values_holds_every_value_the_user_named():
    """Found on the development set: "facts": ["born"] for "When was Ada Lovelace born and when did she die?",
    "include": ["currency"] for "What currency and which languages does Switzerland use?"."""
    facts = _tool("facts", {
        "name": {"type": "string"}, "facts": {"type": "array", "items": {"type": "string", "enum": [
            "born", "died", "nationality", "known_for"]}},
        "include": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": [
            "capital", "currency", "official_languages", "calling_code"]}}}, ["name", "include"])
    lark = _lark(facts, "When was Ada Lovelace born and when did she die? Her currency?")
    assert _accepts(lark, _call('"name": "Ada Lovelace", "facts": ["born", "died"], "include": ["currency"]', "facts"))
    assert not _accepts(lark, _call('"name": "Ada Lovelace", "facts": ["born"], "include": ["currency"]', "facts"))
    lark = _lark(facts, "What currency and which languages does Switzerland use?")
    assert _accepts(lark, _call('"name": "Switzerland", "include": ["currency", "official_languages"]', "facts"))
    assert not _accepts(lark, _call('"name": "Switzerland", "include": ["currency"]', "facts"))
    # a word that only shares a stem does not name a value ("call" is not calling_code)
    lark = _lark(facts, "My call with Switzerland: what currency?")
    assert not _accepts(lark, _call('"name": "Switzerland", "include": ["currency", "calling_code"]', "facts"))


def test_an_optional_list_that_is_written_is_not_empty():
    """Found on the development set: "rooms": [] for "Vacuum the kitchen and the hallway on turbo"."""
    vacuum = _tool("vacuum", {
        "rooms": {"type": "array", "items": {"type": "string"}},
        "mode": {"type": "string", "enum": ["quiet", "turbo"]}})
    lark = _lark(vacuum, "Vacuum the kitchen and the hallway on turbo.")
    assert _accepts(lark, _call('"rooms": ["kitchen", "hallway"], "mode": "turbo"', "vacuum"))
    assert _accepts(lark, _call('"mode": "turbo"', "vacuum"))
    assert not _accepts(lark, _call('"rooms": [], "mode": "turbo"', "vacuum"))


def test_a_list_of_numbers_is_a_run_the_user_wrote_as_a_list():
    """Found on the development set: "x_values": [10, 20, 30, 40, 58, 79] for "Ad spend was 10, 20, 30, 40 and
    sales were 25, 41, 58, 79"."""
    fit = _tool("fit", {
        "x_values": {"type": "array", "items": {"type": "number"}, "minItems": 2},
        "y_values": {"type": "array", "items": {"type": "number"}, "minItems": 2}}, ["x_values", "y_values"])
    lark = _lark(fit, "Ad spend was 10, 20, 30, 40 and sales were 25, 41, 58, 79.")
    assert _accepts(lark, _call('"x_values": [10, 20, 30, 40], "y_values": [25, 41, 58, 79]', "fit"))
    assert not _accepts(lark, _call('"x_values": [10, 20, 30, 40, 58, 79], "y_values": [25, 41, 58, 79]', "fit"))
    assert not _accepts(lark, _call('"x_values": [10, 30], "y_values": [25, 41]', "fit"))  # not a run
    std = _tool("std", {
        "values": {"type": "array", "items": {"type": "number"}}}, ["values"])
    lark = _lark(std, "What's the standard deviation of 4, 8, 15, 16, 23 and 42?")
    assert _accepts(lark, _call('"values": [4, 8, 15, 16, 23, 42]', "std"))
    assert not _accepts(lark, _call('"values": [4, 8, 15, 16, 23, 42, 42]', "std"))


def test_a_list_of_copies_holds_spans_in_the_order_written_never_the_same_words_twice():
    """Found on the development set: "rooms": ["room", "room", "room", "room"] for "can the robot do the living
    room", "medications": ["clarithromycin", "clarithromycin", ...] for two drugs."""
    vacuum = _tool("vacuum", {
        "rooms": {"type": "array", "items": {"type": "string"}}}, ["rooms"])
    lark = _lark(vacuum, "Vacuum the kitchen, the hallway and the living room, please.")
    assert _accepts(lark, _call('"rooms": ["kitchen", "hallway", "living room"]', "vacuum"))
    assert _accepts(lark, _call('"rooms": ["the kitchen", "the hallway"]', "vacuum"))
    assert not _accepts(lark, _call('"rooms": ["kitchen", "kitchen"]', "vacuum"))  # the same words twice
    assert not _accepts(lark, _call('"rooms": ["hallway", "kitchen"]', "vacuum"))  # not in the order written
    assert not _accepts(lark, _call('"rooms": ["kitchen, the hallway"]', "vacuum"))  # across a comma
    assert not _accepts(lark, _call('"rooms": ["hallway and the living room"]', "vacuum"))  # across "and"
    assert not _accepts(lark, _call('"rooms": ["the"]', "vacuum"))  # filler alone
    meds = _tool("meds", {
        "medications": {"type": "array", "items": {"type": "string"}, "minItems": 2}}, ["medications"])
    lark = _lark(meds, "My dad takes simvastatin and his doctor just added clarithromycin. Is that a problem?")
    assert _accepts(lark, _call('"medications": ["simvastatin", "clarithromycin"]', "meds"))
    assert not _accepts(lark, _call('"medications": ["clarithromycin", "clarithromycin"]', "meds"))
    assert not _accepts(lark, _call('"medications": ["simvastatin"]', "meds"))  # minItems


@pytest.mark.parametrize("budget", [81, 96, 128, 256])
def test_lists_of_copies_and_numbers_still_close_within_the_budget(budget):
    tool = _tool("plan", {
        "rooms": {"type": "array", "items": {"type": "string"}}, "values": {"type": "array", "items": {
            "type": "number"}}, "title": {"type": "string"}}, ["rooms", "values"])
    text = ("Clean the kitchen, the upstairs hallway, the big living room and the guest bathroom with values "
            "1.25, 2.5, 3.75, 4, 1000000 and 12345.678 please")
    plan = plan_tools({"tools": [tool], "tool_choice": "required"}, ADAPTER)
    lark = grammar(plan, budget, text)
    for rng in (None, *(random.Random(budget * 10 + i) for i in range(6))):
        used, out = walk(lark, rng)
        assert used <= budget, (used, out)
        json.loads(out.decode()[len("<tool_call>"):-len("</tool_call>")])



def test_an_enum_value_is_named_by_the_same_token_spelled_with_other_marks_or_a_word_for_it():
    """Written for a fresh part of the development set: "SHA-256" names sha256 (was md5), "a 34-year-old
    woman" names female (was male)."""
    hashing = _tool("hash", {"text": {"type": "string"},
                             "algorithm": {"type": "string", "enum": ["md5", "sha1", "sha256"]}}, ["text", "algorithm"])
    lark = _lark(hashing, "Give me the SHA-256 of 'hello world'.")
    assert _accepts(lark, _call('"text": "hello world", "algorithm": "sha256"', "hash"))
    assert not _accepts(lark, _call('"text": "hello world", "algorithm": "md5"', "hash"))
    calories = _tool("calories", {"age": {"type": "integer"}, "sex": {"type": "string", "enum": ["male", "female"]}},
                     ["age", "sex"])
    lark = _lark(calories, "How many calories a day does a 34-year-old woman need?")
    assert _accepts(lark, _call('"age": 34, "sex": "female"', "calories"))
    assert not _accepts(lark, _call('"age": 34, "sex": "male"', "calories"))
    lark = _lark(calories, "Show the menu for a 40 year old")  # "men" is not named by "menu": both stay
    assert _accepts(lark, _call('"age": 40, "sex": "male"', "calories"))
    assert _accepts(lark, _call('"age": 40, "sex": "female"', "calories"))


def test_a_host_or_a_code_field_takes_a_whole_token_of_its_kind():
    """Written for a fresh part of the development set: "host": "10 times" for "ping example.org 10 times",
    "project_code": "project" for "on project PRJ-204"."""
    ping = _tool("ping", {"host": {"type": "string"}, "count": {"type": "integer"}}, ["host"])
    lark = _lark(ping, "ping example.org 10 times, not report.pdf")
    assert _accepts(lark, _call('"host": "example.org", "count": 10', "ping"))
    assert not _accepts(lark, _call('"host": "10 times", "count": 10', "ping"))
    assert not _accepts(lark, _call('"host": "report.pdf", "count": 10', "ping"))  # a file, not a host
    assert _accepts(_lark(ping, "Is 192.168.1.20 reachable?"), _call('"host": "192.168.1.20"', "ping"))
    log = _tool("log", {"project_code": {"type": "string"}, "hours": {"type": "number"}}, ["project_code", "hours"])
    lark = _lark(log, "Log 6.5 hours on project PRJ-204.")
    assert _accepts(lark, _call('"project_code": "PRJ-204", "hours": 6.5', "log"))
    assert not _accepts(lark, _call('"project_code": "project", "hours": 6.5', "log"))


def test_a_copy_does_not_start_with_the_number_a_required_sibling_takes():
    """Written for a fresh part of the development set: "deployment": "6 replicas" beside replicas 6."""
    scale = _tool("scale", {"namespace": {"type": "string"}, "deployment": {"type": "string"},
                            "replicas": {"type": "integer"}}, ["namespace", "deployment", "replicas"])
    lark = _lark(scale, "Scale the checkout deployment in the prod namespace to 6 replicas.")
    assert _accepts(lark, _call('"namespace": "prod", "deployment": "checkout", "replicas": 6', "scale"))
    assert not _accepts(lark, _call('"namespace": "prod", "deployment": "6 replicas", "replicas": 6', "scale"))


def test_a_list_of_numbers_takes_a_run_whole_unless_a_loose_sibling_may_take_some():
    """Written for a second fresh batch of the development set: [7, 9, 21] for "Average of 3, 7, 9 and 21?"."""
    mean = _tool("mean", {"numbers": {"type": "array", "items": {"type": "number"}}}, ["numbers"])
    lark = _lark(mean, "Average of 3, 7, 9 and 21?")
    assert _accepts(lark, _call('"numbers": [3, 7, 9, 21]', "mean"))
    assert not _accepts(lark, _call('"numbers": [7, 9, 21]', "mean"))
    top = _tool("top", {"numbers": {"type": "array", "items": {"type": "number"}}, "k": {"type": "integer"}},
                ["numbers", "k"])
    lark = _lark(top, "Pick from 3, 7, 9 and 21")  # k is not held to one number: it may take an end of the run
    assert _accepts(lark, _call('"numbers": [7, 9, 21], "k": 3', "top"))


def test_postcodes_and_codes_are_whole_tokens_and_not_a_siblings_number():
    vet = _tool("vet", {"postcode": {"type": "string"}}, ["postcode"])
    lark = _lark(vet, "an emergency vet near SW1A 1AA")
    assert _accepts(lark, _call('"postcode": "SW1A 1AA"', "vet"))
    assert not _accepts(lark, _call('"postcode": "1AA"', "vet"))
    reorder = _tool("reorder", {"sku": {"type": "string"}, "quantity": {"type": "integer"}}, ["sku", "quantity"])
    lark = _lark(reorder, "Reorder 250 units of SKU-88213.")
    assert _accepts(lark, _call('"sku": "SKU-88213", "quantity": 250', "reorder"))
    assert not _accepts(lark, _call('"sku": "250", "quantity": 250', "reorder"))


def test_an_optional_number_a_siblings_unit_claims_is_left_out():
    """"coats": 12 for "a 12 ft by 8 ft wall" (the 12 feet are the width, in metres)."""
    paint = _tool("paint", {"width_m": {"type": "number"}, "height_m": {"type": "number"},
                            "coats": {"type": "integer"}}, ["width_m", "height_m"])
    lark = _lark(paint, "I need to paint a 12 ft by 8 ft wall. How much paint?")
    assert _accepts(lark, _call('"width_m": 3.6576, "height_m": 2.4384', "paint"))
    assert not _accepts(lark, _call('"width_m": 3.6576, "height_m": 2.4384, "coats": 12', "paint"))


def test_a_numbers_words_stop_before_that_and_skip_pronouns():
    """"revenue": 7800, "cost": 12000 for "sold goods for 12,000 that cost us 7,800"."""
    margin = _tool("margin", {"revenue": {"type": "number"}, "cost": {"type": "number"}}, ["revenue", "cost"])
    lark = _lark(margin, "We sold goods for 12,000 that cost us 7,800. What's the margin?")
    assert _accepts(lark, _call('"revenue": 12000, "cost": 7800', "margin"))
    assert not _accepts(lark, _call('"revenue": 7800, "cost": 12000', "margin"))


def test_an_ing_form_names_a_value_ending_in_e():
    commute = _tool("commute", {"modes": {"type": "array", "items": {"type": "string", "enum": [
        "car", "bike", "transit", "walk"]}}}, ["modes"])
    lark = _lark(commute, "Compare biking and transit to work.")
    assert _accepts(lark, _call('"modes": ["bike", "transit"]', "commute"))
    assert not _accepts(lark, _call('"modes": ["transit"]', "commute"))


def test_a_list_of_words_leaves_the_numbers_to_the_optional_number_fields():
    """Found on the development set: "ingredients": ["eggs", "spinach", "feta"] without "max_minutes"
    for "... in under 20 minutes": a required list of strings takes no numbers, so 20 is left over."""
    recipes = _tool("recipes.find", {
        "ingredients": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "max_minutes": {"type": "integer"}}, ["ingredients"])
    lark = _lark(recipes, "What can I cook with eggs, spinach and feta in under 20 minutes?")
    assert _accepts(lark, _call('"ingredients": ["eggs", "spinach", "feta"], "max_minutes": 20', "recipes.find"))
    assert not _accepts(lark, _call('"ingredients": ["eggs", "spinach", "feta"]', "recipes.find"))
    # a required list of numbers may take any of them: the optional one stays the model's choice
    stats = _tool("stats", {"values": {"type": "array", "items": {"type": "number"}}, "top": {"type": "integer"}},
                  ["values"])
    lark = _lark(stats, "Average of 3, 5 and 8")
    assert _accepts(lark, _call('"values": [3, 5, 8]', "stats"))


def test_a_barred_value_with_its_article_is_barred():
    """Found on the development set's seventh fresh batch: "show": "the stalls" beside "area": "stalls"."""
    seats = _tool("theatre.find_seats", {
        "show": {"type": "string"}, "tickets": {"type": "integer"},
        "area": {"type": "string", "enum": ["stalls", "circle", "balcony"]}}, ["show", "tickets"])
    lark = _lark(seats, "Two seats in the stalls for Hamilton.")
    assert _accepts(lark, _call('"show": "Hamilton", "tickets": 2, "area": "stalls"', "theatre.find_seats"))
    assert not _accepts(lark, _call('"show": "the stalls", "tickets": 2, "area": "stalls"', "theatre.find_seats"))
    assert not _accepts(lark, _call('"show": "stalls", "tickets": 2, "area": "stalls"', "theatre.find_seats"))


def test_an_optional_place_named_with_in_is_written():
    """Found on the development set: "county" left out of "Births of anyone named Haworth in Yorkshire
    between 1840 and 1860"; not for a month or a language, nor when a required field is a place too."""
    births = _tool("records.search_births", {
        "surname": {"type": "string"}, "year_from": {"type": "integer"}, "county": {"type": "string"}},
        ["surname", "year_from"])
    lark = _lark(births, "Births of anyone named Haworth in Yorkshire after 1840.")
    assert _accepts(lark, _call('"surname": "Haworth", "year_from": 1840, "county": "Yorkshire"',
                                "records.search_births"))
    assert not _accepts(lark, _call('"surname": "Haworth", "year_from": 1840', "records.search_births"))
    lark = _lark(births, "Births of anyone named Haworth in March 1840.")
    assert _accepts(lark, _call('"surname": "Haworth", "year_from": 1840', "records.search_births"))
    weather = _tool("weather", {"city": {"type": "string"}, "region": {"type": "string"}}, ["city"])
    lark = _lark(weather, "Weather in Leeds")
    assert _accepts(lark, _call('"city": "Leeds"', "weather"))


def test_a_long_message_is_split_between_phrases_only():
    """Two copies of a long message are split where a phrase starts (before "with", "and", "vs", after a
    comma), not at every space: fewer alternatives for llguidance's lexer, which ran out of fuel on
    "A large flat white with oat milk and an extra shot." (the engine then dropped the grammar)."""
    from cupola.runtime.tool_grammar import _gaps, chunks
    pieces = chunks("A large flat white with oat milk and an extra shot.")
    spaces = [i for i, p in enumerate(pieces) if p.isspace()]
    assert ["".join(pieces[:i]) for i in _gaps(pieces, spaces)] == ["A large flat white", "A large flat white with oat milk"]
    short = chunks("Move Okafor to seat 14C")
    assert _gaps(short, [i for i, p in enumerate(short) if p.isspace()]) == [i for i, p in enumerate(short) if p.isspace()]
    order = _tool("cafe.order", {"drink": {"type": "string"}, "milk": {"type": "string"}}, ["drink", "milk"])
    lark = _lark(order, "A large flat white with oat milk and an extra shot.")
    assert _accepts(lark, _call('"drink": "flat white", "milk": "oat"', "cafe.order"))
    assert _accepts(lark, _call('"drink": "extra shot", "milk": "oat milk"', "cafe.order"))
    assert lark.count("substring_chunks") < 2 * 10
    game = _tool("fixtures.add", {"homeTeam": {"type": "string"}, "awayTeam": {"type": "string"}},
                 ["homeTeam", "awayTeam"])
    lark = _lark(game, "Put Riverside FC vs Oak Hill United on the calendar for Sunday afternoon.")
    assert _accepts(lark, _call('"homeTeam": "Riverside FC", "awayTeam": "Oak Hill United"', "fixtures.add"))
