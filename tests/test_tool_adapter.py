"""The tool-call adapter on recorded and malformed model outputs (no model needed)."""

import json

import pytest

from cupola.engines.base import Capabilities
from cupola.errors import InvalidParameter
from cupola.runtime.tool_adapter import (CLOSE, OPEN, _closed, ToolStreamParser, adapt_request, adapt_response, call_schema,
                                  grammar, parse_calls, plan_tools, render_tools)

ADAPTER = Capabilities(chat=True, grammar=True, json_schema=True)
NATIVE = Capabilities(chat=True, native_tools=True, grammar=True, json_schema=True)

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
ADD = {"type": "function", "function": {
    "name": "add", "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                                  "required": ["a", "b"]}}}
NAMES = {"get_weather", "add"}


def body(**kw):
    return {"messages": [{"role": "user", "content": "weather in Paris?"}], "tools": [WEATHER, ADD], **kw}


# -- planning and validation --------------------------------------------------------------------

def test_no_tools_no_plan():
    assert plan_tools({"messages": []}, ADAPTER) is None


@pytest.mark.parametrize("patch, param", [
    ({"tools": [{"type": "code_interpreter"}]}, "tools.0"),
    ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "tools.0.function.name"),
    ({"tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
    ({"tool_choice": "sometimes"}, "tool_choice"),
])
def test_bad_tools_are_400_naming_the_parameter(patch, param):
    with pytest.raises(InvalidParameter) as info:
        plan_tools(body(**patch), ADAPTER)
    assert info.value.param == param


def test_named_choice_and_parallel_flag():
    plan = plan_tools(body(tool_choice={"type": "function", "function": {"name": "add"}}), ADAPTER)
    assert plan.choice == "add" and not plan.parallel
    assert call_schema(plan)["properties"]["name"] == {"const": "add"}
    assert plan_tools(body(parallel_tool_calls=True), ADAPTER).parallel


# -- request rendering --------------------------------------------------------------------------

def test_adapter_injects_tools_and_forces_a_grammar_for_required():
    out = adapt_request(body(tool_choice="required"), plan_tools(body(tool_choice="required"), ADAPTER))
    assert "tools" not in out and "tool_choice" not in out
    system = out["messages"][0]
    assert system["role"] == "system" and "get_weather(city: string)" in system["content"]
    assert "You must call one of the functions" in system["content"]
    assert out["grammar"].startswith("%llguidance") and "grammar_lazy" not in out
    assert f'start: "{OPEN}" (' in out["grammar"] and f'"{CLOSE}"' in out["grammar"]
    # the worked example names a function that is not offered: the grammar can never call it
    assert "book_table" in system["content"] and "book_table" not in out["grammar"]


def test_grammar_closes_the_argument_schemas():
    schema = call_schema(plan_tools(body(tool_choice="required"), ADAPTER))
    for variant in schema["anyOf"]:
        assert variant["properties"]["arguments"]["additionalProperties"] is False
    assert "additionalProperties" not in WEATHER["function"]["parameters"]  # the tool itself is untouched
    nested = {"type": "object", "properties": {"properties": {"type": "string"},
                                               "to": {"type": "array", "items": {"type": "object",
                                                                                 "properties": {"a": {}}}}},
              "additionalProperties": True}
    closed = _closed(nested)
    assert closed["additionalProperties"] is True  # an explicit choice is kept
    assert closed["properties"]["properties"] == {"type": "string"}
    assert closed["properties"]["to"]["items"]["additionalProperties"] is False


def test_repeated_calls_are_dropped():
    plan = plan_tools(body(parallel_tool_calls=True), ADAPTER)
    call = OPEN + '{"name": "add", "arguments": {"a": 1, "b": 2}}' + CLOSE
    result = {"choices": [{"index": 0, "finish_reason": "stop",
                           "message": {"role": "assistant", "content": call + "\n" + call}}]}
    assert len(adapt_response(result, plan)["choices"][0]["message"]["tool_calls"]) == 1


def test_existing_system_prompt_is_extended_not_duplicated():
    b = body(messages=[{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"}])
    out = adapt_request(b, plan_tools(b, ADAPTER))
    assert [m["role"] for m in out["messages"]] == ["system", "user"]
    assert out["messages"][0]["content"].startswith("Be terse.") and "# Tools" in out["messages"][0]["content"]


def test_tool_choice_none_sends_no_tools_and_no_grammar():
    b = body(tool_choice="none")
    out = adapt_request(b, plan_tools(b, ADAPTER))
    assert "grammar" not in out and "# Tools" not in json.dumps(out["messages"])


def test_history_with_calls_and_results_is_rendered_as_text():
    b = body(messages=[
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'}])
    out = adapt_request(b, plan_tools(b, ADAPTER))
    roles = [m["role"] for m in out["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert out["messages"][2]["content"] == OPEN + '{"name": "get_weather", "arguments": {"city": "Paris"}}' + CLOSE
    assert "<tool_response>" in out["messages"][3]["content"] and '{"temp": 21}' in out["messages"][3]["content"]


def test_native_templates_get_the_request_unchanged_except_named_choice():
    b = body(tool_choice={"type": "function", "function": {"name": "add"}})
    out = adapt_request(b, plan_tools(b, NATIVE))
    assert [t["function"]["name"] for t in out["tools"]] == ["add"] and out["tool_choice"] == "required"
    assert "grammar" not in out


def test_response_format_with_tools_is_refused_on_adapter_models():
    b = body(response_format={"type": "json_object"})
    with pytest.raises(InvalidParameter) as info:
        adapt_request(b, plan_tools(b, ADAPTER))
    assert info.value.param == "response_format"


def test_grammar_allows_several_calls_only_when_parallel():
    assert '("\\n"' not in grammar(plan_tools(body(), ADAPTER))
    assert '){0,3}' in grammar(plan_tools(body(parallel_tool_calls=True), ADAPTER), 512)


def test_render_tools_names_the_required_function():
    text = render_tools(plan_tools(body(tool_choice={"type": "function", "function": {"name": "add"}}), ADAPTER))
    assert "You must call the function add" in text and "get_weather" not in text


# -- parsing non-streamed output ----------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    (OPEN + '{"name": "get_weather", "arguments": {"city": "Paris"}}' + CLOSE, [("get_weather", {"city": "Paris"})]),
    ('{"name": "add", "arguments": {"a": 1, "b": 2}}', [("add", {"a": 1, "b": 2})]),
    ('```json\n{"name": "add", "arguments": "{\\"a\\": 1, \\"b\\": 2}"}\n```', [("add", {"a": 1, "b": 2})]),
    ('[{"name": "add", "arguments": {"a": 1, "b": 2}}, {"name": "get_weather", "arguments": {"city": "Rome"}}]',
     [("add", {"a": 1, "b": 2}), ("get_weather", {"city": "Rome"})]),
    (f'Sure.\n{OPEN}{{"name": "add", "arguments": {{"a": 1, "b": 2}}}}{CLOSE}\n{OPEN}{{"name": "add", "argu',
     [("add", {"a": 1, "b": 2})]),  # a call cut off by max_tokens is dropped
])
def test_text_that_looks_like_a_call_becomes_tool_calls(text, expected):
    content, calls = parse_calls(text, NAMES)
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == expected
    assert OPEN not in content and all(c["id"].startswith("call_") for c in calls)


@pytest.mark.parametrize("text", [
    "Paris is sunny today.",
    '{"name": "unknown_tool", "arguments": {}}',
    '{"city": "Paris"}',
    OPEN + "not json" + CLOSE,
    '{"name": "add", "arguments": [1, 2]}',
])
def test_text_that_is_not_a_valid_call_stays_content(text):
    content, calls = parse_calls(text, NAMES)
    assert calls == [] and content.strip() == text.strip()


def test_adapt_response_sets_tool_calls_and_finish_reason():
    plan = plan_tools(body(), ADAPTER)
    result = {"choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": OPEN + '{"name": "add", "arguments": {"a": 2, "b": 3}}' + CLOSE}}]}
    out = adapt_response(result, plan)
    msg = out["choices"][0]["message"]
    assert out["choices"][0]["finish_reason"] == "tool_calls" and msg["content"] is None
    assert json.loads(msg["tool_calls"][0]["function"]["arguments"]) == {"a": 2, "b": 3}


# -- parsing streamed output --------------------------------------------------------------------

def run_stream(pieces):
    parser = ToolStreamParser(NAMES)
    events = []
    for piece in pieces:
        events += parser.feed(piece)
    return events + parser.close()


def split_every(text, n):
    return [text[i:i + n] for i in range(0, len(text), n)]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_stream_emits_name_first_then_argument_fragments(size):
    text = ('Let me check. ' + OPEN + '{"name": "get_weather", "arguments": {\n  "city": "Paris"\n}\n}' + CLOSE)
    events = run_stream(split_every(text, size))
    content = "".join(e[1] for e in events if e[0] == "content")
    calls = [e for e in events if e[0] == "call"]
    args = "".join(e[2] for e in events if e[0] == "args")
    assert content == "Let me check. "
    assert len(calls) == 1 and calls[0][3] == "get_weather"
    assert events.index(calls[0]) < min(i for i, e in enumerate(events) if e[0] == "args")
    assert json.loads(args) == {"city": "Paris"}


def test_stream_with_two_calls_and_plain_text():
    text = (OPEN + '{"name": "add", "arguments": {"a": 1, "b": 2}}' + CLOSE + "\n"
            + OPEN + '{"name": "add", "arguments": {"a": 3, "b": 4}}' + CLOSE)
    events = run_stream(split_every(text, 4))
    args = {}
    for e in events:
        if e[0] == "args":
            args[e[1]] = args.get(e[1], "") + e[2]
    assert [json.loads(v) for v in args.values()] == [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
    plain = "Just < text with a tag-like <tool sign."
    events = run_stream(split_every(plain, 3))
    assert all(e[0] == "content" for e in events) and "".join(e[1] for e in events) == plain


def test_stream_bare_json_call_is_decided_at_the_end():
    events = run_stream(split_every('{"name": "add", "arguments": {"a": 5, "b": 6}}', 5))
    assert [e[0] for e in events] == ["call", "args"]
    assert json.loads(events[1][2]) == {"a": 5, "b": 6}
    events = run_stream(split_every('{"note": "just json"}', 5))
    assert events == [("content", '{"note": "just json"}')]


# -- repeated calls after a result ---------------------------------------------------------------

def _conversation(tool_choice=None):
    body = {"messages": [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "-3 C, snow"}], "tools": [{"type": "function"}]}
    if tool_choice:
        body["tool_choice"] = tool_choice
    return body


def _call_stream(args: str):
    async def gen():
        yield {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "x", "function": {"name": "get_weather", "arguments": ""}}]}}]}
        yield {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": args}}]}}]}
        yield {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}
    return gen()


async def _answer():
    yield {"choices": [{"index": 0, "delta": {"content": "It is -3 C and snowing."}}]}
    yield {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}


async def test_a_repeated_call_is_answered_from_the_result_instead():
    from cupola.runtime import tool_calls

    answered = tool_calls.answered_calls(_conversation())
    assert answered == {("get_weather", '{"city": "Oslo"}')}
    assert tool_calls.answered_calls(_conversation("required")) == set()  # a forced call is never replaced
    out = [c async for c in tool_calls.guard_repeats(_call_stream('{ "city":"Oslo" }'), answered, _answer)]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in out) == "It is -3 C and snowing."
    other = [c async for c in tool_calls.guard_repeats(_call_stream('{"city": "Bergen"}'), answered, _answer)]
    assert other[-1]["choices"][0]["finish_reason"] == "tool_calls"  # a new call passes untouched
    body = tool_calls.without_tools({**_conversation(), "tool_choice": "auto"})
    assert "tools" not in body and "tool_choice" not in body
    assert body["messages"][0]["role"] == "system" and tool_calls.ANSWER_NOTE in body["messages"][0]["content"]


def _tool(name: str) -> dict:
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": {}}}}


async def test_one_call_among_several_tools_goes_to_the_closest_tool_unless_the_model_chooses():
    import numpy as np

    from cupola.runtime import tool_calls

    async def embed(texts):  # the user's message, then the tools in request order: the second is closest
        return np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.2, 0.8]])

    body = {"messages": [{"role": "user", "content": "q"}], "tools": [_tool("a"), _tool("b"), _tool("c")],
            "tool_choice": "required"}
    caps = Capabilities(grammar=True)
    _, plan = await tool_calls.prepare(body, caps, embed, 0.2)
    assert plan.choice == "b" and [t["name"] for t in plan.tools] == ["b", "c", "a"]
    _, plan = await tool_calls.prepare(body, caps, embed, 0.2, select="model")
    assert plan.choice == "required" and plan.tools[0]["name"] == "b"  # the model chooses, the closest listed first
    _, plan = await tool_calls.prepare({**body, "parallel_tool_calls": True}, caps, embed, 0.2)
    assert plan.choice == "required"  # several calls may name several tools
    _, plan = await tool_calls.prepare({**body, "tool_choice": "auto"}, caps, embed, 0.2)
    assert plan.choice == "b"  # auto routed to a call: the same choice
    _, plan = await tool_calls.prepare({**body, "tool_choice": "auto"}, caps, embed, 0.95)
    assert plan.choice == "none"  # not close enough to any tool: text
    _, plan = await tool_calls.prepare(body, caps, None, 0.2)
    assert plan.choice == "required"  # no embedding model: the model chooses


async def test_a_tool_whose_name_the_user_says_wins_a_close_call_of_the_embedding():
    """Found on the development set: the embedding alone ranked set_alarm first for "Set a timer for 10
    minutes" and bank.transfer_funds for "What's the balance on CHK-001?". Naming all of a tool's name
    words adds 0.2 to its cosine: enough for a close call, not against a clear one."""
    import numpy as np

    from cupola.runtime import tool_calls

    def embed_with(alarm: float):
        async def embed(texts):  # the message, then set_alarm, then set_timer
            return np.array([[1.0, 0.0], [alarm, np.sqrt(1 - alarm ** 2)], [0.7, np.sqrt(1 - 0.49)]])
        return embed

    body = {"messages": [{"role": "user", "content": "Set a timer for 10 minutes"}],
            "tools": [_tool("set_alarm"), _tool("set_timer")], "tool_choice": "required"}
    caps = Capabilities(grammar=True)
    _, plan = await tool_calls.prepare(body, caps, embed_with(0.75), 0.2)
    assert plan.choice == "set_timer"  # 0.75 + 0.2 * 1/2 ("set") against 0.7 + 0.2 ("set" and "timer")
    _, plan = await tool_calls.prepare(body, caps, embed_with(0.95), 0.2)
    assert plan.choice == "set_alarm"  # a clear lead of the embedding stands
    assert tool_calls.named(body["messages"], plan).tolist() == [0.5, 1.0]


async def test_an_enum_the_user_did_not_name_is_narrowed_to_the_values_closest_to_the_message():
    """"best rated yoga mats": the 135M model picked "electronics", the first value (development set)."""
    import numpy as np

    from cupola.runtime import tool_calls

    tool = {"type": "function", "function": {"name": "search", "parameters": {"type": "object", "properties": {
        "query": {"type": "string"}, "category": {"type": "string", "enum": ["electronics", "sports", "home", "toys"]},
        "sort": {"type": "string", "enum": ["price", "rating", "newest"]}}, "required": ["query", "category"]}}}
    seen = []

    async def embed(texts):  # the message, then each value: "sports" closest, then "toys"
        seen.append(texts)
        table = {"electronics": [0.1, 1.0], "sports": [1.0, 0.1], "home": [0.0, 1.0], "toys": [0.8, 0.4]}
        return np.array([[1.0, 0.0]] + [table.get(t, [0.0, 1.0]) for t in texts[1:]])

    body = {"messages": [{"role": "user", "content": "best rated yoga mats"}], "tools": [tool],
            "tool_choice": "required"}
    out, plan = await tool_calls.prepare(body, Capabilities(grammar=True), embed, 0.2)
    assert seen[-1][0] == "best rated yoga mats" and {"electronics", "sports", "home", "toys"} <= set(seen[-1])
    assert plan.enum_hints[tuple(f'"{v}"' for v in ["electronics", "sports", "home", "toys"])] == ["sports", "toys"]
    head = '<tool_call>{"name": "search", "arguments": {"query": "yoga mats", "category": '
    import llguidance  # noqa: F401  (the grammar check below runs llguidance)
    from test_tool_grammar import _accepts

    assert _accepts(out["grammar"], head + '"sports"}}</tool_call>')
    assert not _accepts(out["grammar"], head + '"electronics"}}</tool_call>')


FUEL = {"type": "function", "function": {"name": "fuel_cost", "parameters": {"type": "object", "properties": {
    "distance": {"type": "number", "description": "Trip distance"},
    "price_per_liter": {"type": "number", "description": "Fuel price"},
    "points": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "number"},
                                                                           "y": {"type": "number"}}}}},
    "required": ["distance", "price_per_liter"]}}}


async def test_sibling_values_are_assigned_in_the_messages_order_unless_their_words_clearly_say_otherwise():
    """"17 plus 25" is a=17, b=25 (the 135M model swapped such pairs by chance); "a bill of 85" is the bill
    even when the tip's 20 comes first (development set)."""
    import numpy as np
    from test_tool_grammar import _accepts

    from cupola.runtime import tool_calls

    head = '<tool_call>{"name": "fuel_cost", "arguments": {'
    body = {"messages": [{"role": "user", "content": "A trip of 420 km with fuel at 1.89"}], "tools": [FUEL],
            "tool_choice": "required"}
    seen = []

    async def embed(texts):  # every text alike: nothing overrides the message's order
        seen.append(texts)
        return np.ones((len(texts), 2)) / np.sqrt(2)

    for fake in (embed, None):
        out, plan = await tool_calls.prepare(body, Capabilities(grammar=True), fake, 0.2)
        assert list(plan.assignments.values()) == [("420", "1.89")]
        assert _accepts(out["grammar"], head + '"distance": 420, "price_per_liter": 1.89}}</tool_call>')
        assert not _accepts(out["grammar"], head + '"distance": 1.89, "price_per_liter": 420}}</tool_call>')
    fields, contexts = seen[-1][:2], seen[-1][2:]
    assert fields == ["distance: Trip distance", "price per liter: Fuel price"]
    assert contexts == ["A trip of km with", "with fuel at"]  # the words around each value, not the value

    async def by_words(texts):  # "fuel at" is close to the price, "trip of … km" to the distance
        near = {"distance": [1.0, 0.0], "price": [0.0, 1.0], "A trip": [0.0, 1.0], "with fuel": [1.0, 0.0]}
        return np.array([next((v for k, v in near.items() if t.startswith(k)), [0.7, 0.7]) for t in texts])

    out, plan = await tool_calls.prepare(body, Capabilities(grammar=True), by_words, 0.2)
    assert list(plan.assignments.values()) == [("1.89", "420")]  # the words win over the order
    assert _accepts(out["grammar"], head + '"distance": 1.89, "price_per_liter": 420}}</tool_call>')

    # more values than properties: the order alone does not decide, nor do words that do not differ; and
    # an array's items share one rule, so no assignment is imposed on them (each point differs)
    body["messages"][0]["content"] = "Points (1, 2) and (4, 6), 420 km, fuel 1.89"
    out, plan = await tool_calls.prepare(body, Capabilities(grammar=True), embed, 0.2)
    assert plan.assignments == {}
    assert _accepts(out["grammar"], head + '"distance": 420, "price_per_liter": 1.89, "points": '
                    '[{"x": 1, "y": 2}, {"x": 4, "y": 6}]}}</tool_call>')


@pytest.mark.parametrize("text, expected", [
    ("Subtract 45 from 120", ("120", "45")),  # the second value written is the first meant
    ("Take 18 away from 72.", ("72", "18")),
    ("Add 45 and 120", ("45", "120")),
    ("From 45 to 120", ("45", "120")),  # "from" before both is not a reversal
])
async def test_words_that_reverse_the_order_of_two_values_are_heeded(text, expected):
    from cupola.runtime import tool_calls

    tool = {"type": "function", "function": {"name": "calc", "parameters": {"type": "object", "properties": {
        "a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}}}
    body = {"messages": [{"role": "user", "content": text}], "tools": [tool], "tool_choice": "required"}
    _, plan = await tool_calls.prepare(body, Capabilities(grammar=True), None, 0.2)
    assert list(plan.assignments.values()) == [expected]


async def test_how_many_of_a_unit_names_the_unit_converted_to():
    from cupola.runtime import tool_calls

    unit = {"type": "string", "enum": ["ml", "cup", "g"]}
    tool = {"type": "function", "function": {"name": "convert", "parameters": {"type": "object", "properties": {
        "amount": {"type": "number"}, "from_unit": unit, "to_unit": unit},
        "required": ["amount", "from_unit", "to_unit"]}}}
    for text, expected in [("How many ml is 2 cups?", ('"cup"', '"ml"')), ("Convert 2 cups to ml", ('"cup"', '"ml"'))]:
        body = {"messages": [{"role": "user", "content": text}], "tools": [tool], "tool_choice": "required"}
        _, plan = await tool_calls.prepare(body, Capabilities(grammar=True), None, 0.2)
        assert list(plan.assignments.values()) == [expected], text


async def test_converted_values_keep_the_order_the_user_wrote_them_in():
    """Found on the development set's added part: "12 x 9 x 4 inch" gave length 22.86, width 10.16, height
    30.48 (the converted values were in no place of the message, so no order held them)."""
    from cupola.runtime import tool_calls

    cm = {"type": "number"}
    tool = {"type": "function", "function": {"name": "ship", "parameters": {"type": "object", "properties": {
        "length_cm": cm, "width_cm": cm, "height_cm": cm}, "required": ["length_cm", "width_cm", "height_cm"]}}}
    body = {"messages": [{"role": "user", "content": "a 12 x 9 x 4 inch box"}], "tools": [tool],
            "tool_choice": "required"}
    _, plan = await tool_calls.prepare(body, Capabilities(grammar=True), None, 0.2)
    assert list(plan.assignments.values()) == [("30.48", "22.86", "10.16")]
