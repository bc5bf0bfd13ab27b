"""Tool calling and the Responses API with the real embedded 135M model, through the openai client."""

import json

import jsonschema
import openai
import pytest

from conftest import LiveServer, new_home

pytestmark = pytest.mark.real

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                   "required": ["city"], "additionalProperties": False}}}
ADD = {"type": "function", "function": {
    "name": "add", "description": "Add two numbers",
    "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                   "required": ["a", "b"], "additionalProperties": False}}}
TOOLS = [WEATHER, ADD]
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}


def assert_valid_call(call, names=("get_weather", "add")):
    assert call.type == "function" and call.id
    assert call.function.name in names
    jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_required_always_yields_a_valid_call(openai_client, seed):
    resp = openai_client.chat.completions.create(
        model="smollm2-135m", seed=seed, tools=TOOLS, tool_choice="required", max_tokens=100,
        messages=[{"role": "user", "content": "What's the weather like in Lisbon?"}])
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    for call in choice.message.tool_calls:
        assert_valid_call(call)


def test_named_function_is_the_one_called(openai_client):
    resp = openai_client.chat.completions.create(
        model="smollm2-135m", tools=TOOLS, tool_choice={"type": "function", "function": {"name": "add"}},
        max_tokens=100, messages=[{"role": "user", "content": "What is 17 plus 25?"}])
    calls = resp.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["add"]
    assert_valid_call(calls[0], names=("add",))


def test_auto_calls_the_obvious_tool(openai_client):
    resp = openai_client.chat.completions.create(
        model="smollm2-135m", tools=TOOLS, tool_choice="auto", max_tokens=100, seed=1,
        messages=[{"role": "user", "content": "What is 2 plus 3?"}])
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls[0].function.name == "add"
    assert json.loads(choice.message.tool_calls[0].function.arguments) == {"a": 2, "b": 3}


TIP = {"type": "function", "function": {
    "name": "tip", "description": "Compute a tip",
    "parameters": {"type": "object", "properties": {
        "bill_amount": {"type": "number", "description": "The bill before the tip"},
        "tip_percent": {"type": "number", "description": "Tip as a percentage of the bill"}},
        "required": ["bill_amount", "tip_percent"], "additionalProperties": False}}}
SUBTRACT = {"type": "function", "function": {
    "name": "subtract", "description": "Subtract b from a",
    "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                   "required": ["a", "b"], "additionalProperties": False}}}


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("tool, text, expected", [
    (ADD, "What is 17 plus 25?", {"a": 17, "b": 25}),  # the order the user wrote them in
    (SUBTRACT, "Subtract 45 from 120.", {"a": 120, "b": 45}),  # "from" reverses it
    (TIP, "What's a 20 percent tip on a bill of 85 dollars?", {"bill_amount": 85, "tip_percent": 20}),  # words
])
def test_which_field_takes_which_number_is_what_the_user_meant(openai_client, seed, tool, text, expected):
    resp = openai_client.chat.completions.create(
        model="smollm2-135m", seed=seed, tools=[tool], tool_choice="required", max_tokens=160,
        messages=[{"role": "user", "content": text}])
    call = resp.choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments) == expected


TIMER = {"type": "function", "function": {
    "name": "kitchen_timer", "description": "Start a kitchen timer",
    "parameters": {"type": "object", "properties": {
        "label": {"type": "string", "description": "What the timer is for"},
        "minutes": {"type": "number", "exclusiveMinimum": 0}},
        "required": ["label", "minutes"], "additionalProperties": False}}}
SHARE = {"type": "function", "function": {
    "name": "share_file", "description": "Share a file with people",
    "parameters": {"type": "object", "properties": {
        "path": {"type": "string"}, "emails": {"type": "array", "items": {"type": "string", "format": "email"}}},
        "required": ["path", "emails"], "additionalProperties": False}}}

ALERT = {"type": "function", "function": {
    "name": "create_alert", "description": "Alert when a metric crosses a threshold",
    "parameters": {"type": "object", "properties": {
        "metric": {"type": "string"}, "comparator": {"type": "string", "enum": [">", "<", ">=", "<="]},
        "threshold": {"type": "number"},
        "duration_minutes": {"type": "integer", "description": "How long the condition must hold"}},
        "required": ["metric", "comparator", "threshold"], "additionalProperties": False}}}


ZONES = {"type": "function", "function": {
    "name": "convert_time", "description": "Convert a clock time between time zones",
    "parameters": {"type": "object", "properties": {
        "clock_time": {"type": "string", "description": "HH:MM"},
        "from_tz": {"type": "string", "description": "IANA name, e.g. Europe/Paris"},
        "to_tz": {"type": "string", "description": "IANA name"}},
        "required": ["clock_time", "from_tz", "to_tz"], "additionalProperties": False}}}
GPA = {"type": "function", "function": {
    "name": "gpa", "description": "Grade point average of a term",
    "parameters": {"type": "object", "properties": {"courses": {"type": "array", "minItems": 1, "items": {
        "type": "object", "properties": {
            "credits": {"type": "number"},
            "grade": {"type": "string", "enum": ["A", "A-", "B+", "B", "B-", "C+", "C", "C-", "D", "F"]}},
        "required": ["credits", "grade"]}}}, "required": ["courses"], "additionalProperties": False}}}


@pytest.mark.parametrize("tool, text, key, expected", [
    (ZONES, "What time is 09:00 New York time in Tokyo?", "to_tz", "Asia/Tokyo"),  # a code, not "Tokyo"
    (TIMER, "The bread needs to rest for an hour and a half, can you time it?", "minutes", 90),
    (TIMER, "Time the eggs: a quarter of an hour.", "minutes", 15),
    (SHARE, "Let mia@x.io and lou@x.io edit /docs/plan.docx.", "emails", ["mia@x.io", "lou@x.io"]),
    (ALERT, "Alert me if cpu_usage goes above 90 for 5 minutes.", "duration_minutes", 5),  # an optional given
    (ALERT, "Alert me when disk_free_gb < 10", "comparator", "<"),
])
def test_quantities_are_converted_and_lists_hold_every_address(openai_client, tool, text, key, expected):
    """The model wrote "Tokyo" for a time zone, 0.5 for "an hour and a half",
    shared with one of two addresses, left out "for 5 minutes" and chose ">" for "<"."""
    resp = openai_client.chat.completions.create(
        model="smollm2-135m", seed=1, tools=[tool], tool_choice="required", max_tokens=160,
        messages=[{"role": "user", "content": text}])
    assert json.loads(resp.choices[0].message.tool_calls[0].function.arguments)[key] == expected


def test_a_list_of_objects_takes_the_numbers_in_the_order_written(openai_client):
    """The model wrote four courses for three, with the credits shuffled. (At max_tokens 256, the
    tool-calling bench's budget: at 160 the worst case of three items does not fit, and the grammar
    holds two.)"""
    resp = openai_client.chat.completions.create(
        model="smollm2-135m", seed=1, tools=[GPA], tool_choice="required", max_tokens=256,
        messages=[{"role": "user", "content": "GPA for: 3 credits A, 4 credits B+, 3 credits C."}])
    assert json.loads(resp.choices[0].message.tool_calls[0].function.arguments)["courses"] == [
        {"credits": 3, "grade": "A"}, {"credits": 4, "grade": "B+"}, {"credits": 3, "grade": "C"}]


def test_auto_answers_small_talk_without_a_call(openai_client):
    resp = openai_client.chat.completions.create(
        model="smollm2-135m", tools=TOOLS, tool_choice="auto", max_tokens=30, seed=1,
        messages=[{"role": "user", "content": "Hi! How are you today?"}])
    assert not resp.choices[0].message.tool_calls and resp.choices[0].message.content
    assert resp.choices[0].finish_reason in ("stop", "length")


def test_none_never_calls(openai_client):
    resp = openai_client.chat.completions.create(
        model="smollm2-135m", tools=TOOLS, tool_choice="none", max_tokens=30,
        messages=[{"role": "user", "content": "What is 2 plus 3?"}])
    assert not resp.choices[0].message.tool_calls and resp.choices[0].message.content


def test_streamed_tool_calls_accumulate_in_the_openai_client(openai_client):
    with openai_client.chat.completions.stream(
            model="smollm2-135m", tools=TOOLS, tool_choice="required", max_tokens=100,
            messages=[{"role": "user", "content": "Weather in Rome, in celsius?"}]) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_completion()
    assert "tool_calls.function.arguments.delta" in kinds
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert_valid_call(choice.message.tool_calls[0])


def test_call_result_answer_loop(openai_client):
    messages = [{"role": "user", "content": "What is the weather in Oslo?"}]
    first = openai_client.chat.completions.create(model="smollm2-135m", tools=TOOLS, tool_choice="required",
                                                  max_tokens=100, messages=messages)
    call = first.choices[0].message.tool_calls[0]
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": '{"temperature": 12, "sky": "cloudy"}'})
    answer = openai_client.chat.completions.create(model="smollm2-135m", tools=TOOLS, tool_choice="none",
                                                   max_tokens=60, messages=messages)
    assert answer.choices[0].message.content and not answer.choices[0].message.tool_calls


# -- Responses API -----------------------------------------------------------------------------------

RESP_TOOLS = [{"type": "function", "name": t["function"]["name"], "description": t["function"]["description"],
               "parameters": t["function"]["parameters"]} for t in TOOLS]


def test_responses_create_get_items_delete(openai_client):
    resp = openai_client.responses.create(model="smollm2-135m", input="Name a fruit.", instructions="Be brief.",
                                          max_output_tokens=20, metadata={"case": "basic"})
    assert resp.id.startswith("resp_") and resp.status in ("completed", "incomplete") and resp.output_text
    assert resp.usage.output_tokens > 0 and resp.metadata == {"case": "basic"}
    got = openai_client.responses.retrieve(resp.id)
    assert got.output_text == resp.output_text
    items = openai_client.responses.input_items.list(resp.id).data
    assert [i.type for i in items] == ["message"] and items[0].content[0].text == "Name a fruit."
    openai_client.responses.delete(resp.id)
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve(resp.id)
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.create(model="smollm2-135m", input="x", previous_response_id=resp.id)


def test_responses_stream_event_order_and_sequence_numbers(openai_client):
    events = list(openai_client.responses.create(model="smollm2-135m", input="Say hello.", max_output_tokens=16,
                                                 stream=True))
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert "response.output_text.delta" in kinds
    assert kinds[-4:-1] == ["response.output_text.done", "response.content_part.done", "response.output_item.done"]
    assert kinds[-1] in ("response.completed", "response.incomplete")
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == events[-1].response.output_text
    stored = openai_client.responses.retrieve(events[-1].response.id)
    assert stored.output_text == text


def test_responses_function_call_round_trip(openai_client):
    first = openai_client.responses.create(model="smollm2-135m", input="What is the weather in Oslo?",
                                           tools=RESP_TOOLS, tool_choice="required", max_output_tokens=100)
    calls = [o for o in first.output if o.type == "function_call"]
    assert calls and calls[0].name in SCHEMAS
    jsonschema.validate(json.loads(calls[0].arguments), SCHEMAS[calls[0].name])
    second = openai_client.responses.create(
        model="smollm2-135m", previous_response_id=first.id, max_output_tokens=40,
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": '{"temperature": 12}'}])
    assert second.output_text and second.previous_response_id == first.id
    items = openai_client.responses.input_items.list(second.id).data
    assert [i.type for i in items] == ["function_call_output"]


def test_responses_streamed_function_call(openai_client):
    events = list(openai_client.responses.create(model="smollm2-135m", input="Add 4 and 5.", tools=RESP_TOOLS,
                                                 tool_choice="required", max_output_tokens=100, stream=True))
    kinds = [e.type for e in events]
    assert kinds[2] == "response.output_item.added" and events[2].item.type == "function_call"
    assert "response.function_call_arguments.delta" in kinds
    done = [e for e in events if e.type == "response.function_call_arguments.done"][0]
    assert json.loads(done.arguments) == json.loads(events[-1].response.output[0].arguments)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_responses_json_schema_format(openai_client, seed):
    schema = {"type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"],
              "additionalProperties": False}
    resp = openai_client.responses.create(model="smollm2-135m", input="Pick a color.", max_output_tokens=40,
                                          extra_body={"seed": seed},
                                          text={"format": {"type": "json_schema", "name": "c", "schema": schema,
                                                           "strict": True}})
    jsonschema.validate(json.loads(resp.output_text), schema)


STORY = {"type": "object", "additionalProperties": False, "required": ["title", "story", "tags"], "properties": {
    "title": {"type": "string"}, "story": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}}}


@pytest.mark.parametrize("max_tokens", [24, 48, 96])
def test_structured_output_closes_within_max_tokens_streamed_or_not(openai_client, max_tokens):
    """A long free-text field cannot run the JSON past max_tokens: the answer always parses and validates
    (or, below the smallest value, is a 400 naming max_tokens), streamed or not."""
    fmt = {"type": "json_schema", "json_schema": {"name": "story", "strict": True, "schema": STORY}}
    ask = {"model": "smollm2-135m", "max_tokens": max_tokens, "response_format": fmt,
           "messages": [{"role": "user", "content": "Write a very long story about a dragon, as JSON."}]}
    for seed in (1, 2):
        try:
            resp = openai_client.chat.completions.create(seed=seed, **ask)
        except openai.BadRequestError as exc:
            assert exc.body["param"] == "max_tokens" and "at least" in exc.body["message"] and max_tokens < 40
            continue
        assert resp.choices[0].finish_reason == "stop" and resp.usage.completion_tokens <= max_tokens
        jsonschema.validate(json.loads(resp.choices[0].message.content), STORY)
        text = "".join(c.choices[0].delta.content or "" for c in
                       openai_client.chat.completions.create(seed=seed, stream=True, **ask) if c.choices)
        assert text == resp.choices[0].message.content


def test_previous_response_id_survives_a_restart(models_home, tmp_path):
    home = new_home(tmp_path / "home", models_home)
    server = LiveServer(home, "--no-preload")
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0, timeout=120)
    try:
        first = client.responses.create(model="smollm2-135m", input="My name is Ada.", max_output_tokens=16)
    finally:
        server.stop()
    server = LiveServer(home, "--no-preload")
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0, timeout=120)
    try:
        assert client.responses.retrieve(first.id).output_text == first.output_text
        second = client.responses.create(model="smollm2-135m", input="What is my name?",
                                         previous_response_id=first.id, max_output_tokens=16)
        assert second.previous_response_id == first.id and second.output_text
        items = client.responses.input_items.list(second.id).data
        assert items[0].content[0].text == "What is my name?"
    finally:
        server.stop()
