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
    tool = {"type": "function", "function": {"name": "search", "parameters": {
        "type": "object", "properties": {"query": {"type": "string", "minLength": 1, "maxLength": 40}},
        "required": ["query"]}}}
    plan = plan_tools({"tools": [tool], "tool_choice": "required"}, ADAPTER)
    schema = call_schema(plan, 4096)["properties"]["arguments"]
    assert schema["properties"]["query"]["maxLength"] == 40
    small = call_schema(plan, 74)["properties"]["arguments"]["properties"]["query"]["maxLength"]
    assert 1 <= small < 40
    used, text = walk(grammar(plan, 4096), None)
    assert json.loads(text[len("<tool_call>"):-len("</tool_call>")])["arguments"]["query"] == "x" * 40


def test_free_text_without_a_limit_is_capped_by_the_budget():
    tool = {"type": "function", "function": {"name": "note", "parameters": {
        "type": "object", "properties": {"text": {"type": "string"}, "tags": {"type": "array", "items": {
            "type": "string"}}}, "required": ["text"]}}}
    plan = plan_tools({"tools": [tool], "tool_choice": "required"}, ADAPTER)
    for budget in (128, 256, 1024):
        bound = call_bounds(plan, budget)[0][0]
        assert bound.worst <= budget
        args = bounded_schema(bound.node)
        assert args["properties"]["text"]["maxLength"] > 0 and args["properties"]["tags"]["maxItems"] >= 1
        used, _ = walk(grammar(plan, budget), None)
        assert used <= budget


def test_a_budget_below_any_call_is_a_400_naming_max_tokens_and_the_minimum():
    tool = {"type": "function", "function": {"name": "add", "parameters": {
        "type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}}}
    body = {"messages": [{"role": "user", "content": "2+3?"}], "tools": [tool], "tool_choice": "required",
            "max_tokens": 16}
    with pytest.raises(InvalidParameter) as info:
        adapt_request(body, plan_tools(body, ADAPTER))
    assert info.value.param == "max_tokens"
    minimum = int(info.value.message.rsplit("at least ", 1)[1])
    out = adapt_request({**body, "max_tokens": minimum}, plan_tools(body, ADAPTER))
    assert out["grammar"].startswith("%llguidance")


def test_tools_that_do_not_fit_are_left_out_of_the_grammar_when_others_fit():
    small = {"type": "function", "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}}}
    big = {"type": "function", "function": {"name": "many", "parameters": {"type": "object", "properties": {
        f"n{i}": {"type": "number"} for i in range(8)}, "required": [f"n{i}" for i in range(8)]}}}
    plan = plan_tools({"tools": [small, big], "tool_choice": "required"}, ADAPTER)
    lark = grammar(plan, 64)
    assert '\\"ping\\"' in lark and '\\"many\\"' not in lark
    used, text = walk(lark, None)
    assert used <= 64 and b'"ping"' in text


def test_a_value_cannot_fake_the_closing_tag():
    tool = {"type": "function", "function": {"name": "calc", "parameters": {
        "type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}}}
    lark = grammar(plan_tools({"tools": [tool], "tool_choice": "required"}, ADAPTER), 256)
    matcher = llguidance.LLMatcher(TOKENIZER, lark, log_level=0)
    assert matcher.consume_tokens(list(b'<tool_call>{"name": "calc", "arguments": {"expression": "1 < 2 <<')), \
        matcher.get_error()
    mask = matcher.compute_bitmask()
    assert not mask[ord("/") // 8] >> (ord("/") % 8) & 1  # "</" never starts inside a value
    assert not mask[EOS // 8] >> (EOS % 8) & 1


def test_free_text_values_are_copied_from_the_user_and_still_bounded():
    tool = {"type": "function", "function": {"name": "search", "parameters": {
        "type": "object", "properties": {"query": {"type": "string"}, "k": {"type": "integer"}},
        "required": ["query"]}}}
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
    tool = {"type": "function", "function": {"name": "calc", "parameters": {
        "type": "object", "properties": {"expression": {"type": "string", FROM_USER: False}},
        "required": ["expression"]}}}
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


LIGHTS = {"type": "function", "function": {"name": "lights", "parameters": {"type": "object", "properties": {
    "room": {"type": "string"}, "state": {"type": "string", "enum": ["on", "off", "dim"]},
    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    "colors": {"type": "array", "items": {"type": "string", "enum": ["red", "green", "blue"]}},
    "gift_wrap": {"type": "boolean"}, "notify": {"type": "boolean"}, "note": {"type": "string", FROM_USER: False,
                                                                                "enum": ["a", "b"]}},
    "required": ["room", "state"]}}}


def _call(args: str) -> str:
    return f'<tool_call>{{"name": "lights", "arguments": {{{args}}}}}</tool_call>'


def test_enum_values_the_user_named_are_the_choices_and_unnamed_optional_ones_are_left_out():
    """Values are taken from the user's words: a named enum value is chosen among those named, an optional
    enum or boolean the user did not mention is not invented (found on the development set: "celsius" added
    to "Weather in Berlin", "gift_wrap": false to "add two to my cart", "on" for "turn off")."""
    plan = plan_tools({"tools": [LIGHTS], "tool_choice": "required"}, ADAPTER)
    lark = grammar(plan, 256, "Turn off the kitchen lights and notify me, in blue")
    assert _accepts(lark, _call('"room": "kitchen", "state": "off"'))
    assert not _accepts(lark, _call('"room": "kitchen", "state": "dim"'))  # the user said "off"
    assert _accepts(lark, _call('"room": "kitchen", "state": "off", "colors": ["blue"], "notify": true'))
    assert not _accepts(lark, _call('"room": "kitchen", "state": "off", "colors": ["red"]'))
    assert not _accepts(lark, _call('"room": "kitchen", "state": "off", "unit": "celsius"'))  # never mentioned
    assert not _accepts(lark, _call('"room": "kitchen", "state": "off", "gift_wrap": false'))
    assert _accepts(lark, _call('"room": "kitchen", "state": "off", "note": "b"'))  # opted out: any value
    # nothing named: every value stays possible (a required enum always has one)
    lark = grammar(plan, 256, "Make the kitchen cosy")
    assert all(_accepts(lark, _call(f'"room": "kitchen", "state": "{s}"')) for s in ("on", "off", "dim"))


@pytest.mark.parametrize("value,text,named", [
    ("off", "Turn off the lights", True), ("cup", "2 cups of flour", True), ("quiet", "clean it quietly", True),
    ("driving", "How do I drive to Boston?", True), ("serie_a", "Who leads Serie A?", True),
    ("kilometers", "5 kilograms in pounds", False), ("on", "the lamp on the desk", False),
    ("g", "in grams", False), ("includePending", "count the pending ones", False)])
def test_what_counts_as_the_user_naming_a_value(value, text, named):
    from cupola.runtime.tool_grammar import mentions

    assert mentions(value, text) is named


def test_a_copied_value_is_whole_words_never_a_piece_of_one_or_bare_punctuation():
    tool = {"type": "function", "function": {"name": "track", "parameters": {
        "type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}
    plan = plan_tools({"tools": [tool], "tool_choice": "required"}, ADAPTER)
    lark = grammar(plan, 128, "Where's my order #A10492, placed for CT-2291? Ask mia@x.io.")
    head = '<tool_call>{"name": "track", "arguments": {"order_id": '

    def takes(value: str) -> bool:
        return _accepts(lark, head + json.dumps(value) + "}}</tool_call>")

    assert takes("A10492") and takes("CT-2291") and takes("mia@x.io") and takes("order #A10492")
    assert not takes("2291") and not takes("x.io") and not takes("10492")  # never part of a word
    assert not takes(", ") and not takes(" ") and not takes("?") and not takes("#")  # never bare punctuation


def test_a_message_with_no_word_to_copy_leaves_values_only_bounded():
    tool = {"type": "function", "function": {"name": "track", "parameters": {
        "type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}
    lark = grammar(plan_tools({"tools": [tool], "tool_choice": "required"}, ADAPTER), 128, "???")
    for rng in (None, random.Random(3)):
        used, text = walk(lark, rng)  # never a dead end
        assert used <= 128 and text.endswith(b"</tool_call>")


def test_a_date_or_time_layout_named_in_a_description_is_held():
    """Copying "March 2025" where the description asks for YYYY-MM can never be right (development set)."""
    tool = {"type": "function", "function": {"name": "payslip", "parameters": {"type": "object", "properties": {
        "month": {"type": "string", "description": "YYYY-MM"}, "at": {"type": "string", "description": "HH:MM"}},
        "required": ["month", "at"]}}}
    plan = plan_tools({"tools": [tool], "tool_choice": "required"}, ADAPTER)
    lark = grammar(plan, 128, "Get me the payslip for March 2025 at 09:30")
    head = '<tool_call>{"name": "payslip", "arguments": {'
    assert _accepts(lark, head + '"month": "2025-03", "at": "09:30"}}</tool_call>')
    assert not _accepts(lark, head + '"month": "March 2025", "at": "09:30"}}</tool_call>')
    assert not _accepts(lark, head + '"month": "2025-03", "at": "2025-03"}}</tool_call>')
    bounded = call_schema(plan, 128)["properties"]["arguments"]["properties"]
    assert bounded["month"]["maxLength"] == 7 and bounded["at"]["pattern"] == r"^\d{2}:\d{2}$"
