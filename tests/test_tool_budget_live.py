"""Calls that always close within max_tokens, on the real 135M model through the openai client."""

import json
import re

import jsonschema
import openai
import pytest

from cupola.engines.base import Capabilities
from cupola.runtime.tool_adapter import call_schema, plan_tools

pytestmark = pytest.mark.real

NOTE = {"type": "function", "function": {
    "name": "save_note", "description": "Save a note with a title and a long free-text body",
    "parameters": {"type": "object", "properties": {
        "title": {"type": "string", "description": "Short title", "maxLength": 20},
        "body": {"type": "string", "description": "The whole text of the note"}},
        "required": ["title", "body"]}}}
RAMBLE = [{"role": "user", "content": "Save a note with a very long story about three dragons, a knight, a castle, "
                                      "the mountains and the sea, with every detail you can think of."}]
SCHEMA = NOTE["function"]["parameters"]


@pytest.mark.parametrize("max_tokens", [16, 32, 64, 96, 160])
def test_required_is_a_valid_call_or_a_400_at_any_budget(openai_client, max_tokens):
    try:
        resp = openai_client.chat.completions.create(
            model="smollm2-135m", seed=3, tools=[NOTE], tool_choice="required", max_tokens=max_tokens,
            messages=RAMBLE)
    except openai.BadRequestError as exc:
        error = exc.body if isinstance(exc.body, dict) else {}
        assert error.get("param") == "max_tokens" and "at least" in error.get("message", "")
        assert max_tokens < 96  # a budget the schema's shortest call fits in is never refused
        return
    choice = resp.choices[0]
    assert choice.message.tool_calls and not choice.message.content  # never text instead of a call
    assert choice.finish_reason == "tool_calls"
    args = json.loads(choice.message.tool_calls[0].function.arguments)
    jsonschema.validate(args, SCHEMA)
    # the grammar's own copy of the schema: the free-text body is bounded by what the budget leaves
    bounded = call_schema(plan_tools({"tools": [NOTE], "tool_choice": "required"}, Capabilities(grammar=True)),
                          max_tokens)["properties"]["arguments"]
    assert len(args["body"]) <= bounded["properties"]["body"]["maxLength"]
    assert len(args["title"]) <= 20
    assert resp.usage.completion_tokens <= max_tokens


def test_streamed_call_equals_the_non_streamed_one_for_the_same_seed(openai_client):
    params = dict(model="smollm2-135m", seed=11, tools=[NOTE], tool_choice="required", max_tokens=120,
                  messages=RAMBLE)
    whole = openai_client.chat.completions.create(**params).choices[0].message.tool_calls[0]
    name, args = "", ""
    for chunk in openai_client.chat.completions.create(stream=True, **params):
        for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            name += tc.function.name or ""
            args += tc.function.arguments or ""
    assert name == whole.function.name
    assert json.loads(args) == json.loads(whole.function.arguments)


def test_responses_api_returns_a_closed_call_within_a_small_budget(openai_client):
    resp = openai_client.responses.create(model="smollm2-135m", input=RAMBLE[0]["content"], tools=[{
        "type": "function", **NOTE["function"]}], tool_choice="required", max_output_tokens=110)
    calls = [o for o in resp.output if o.type == "function_call"]
    assert calls and calls[0].name == "save_note"
    jsonschema.validate(json.loads(calls[0].arguments), SCHEMA)


@pytest.mark.parametrize("stream", [False, True])
def test_a_conversation_that_leaves_no_room_for_the_call_is_a_context_error_not_an_engine_failure(
        openai_client, stream):
    """Found by bench/crash_kill.py: a hosted agent's conversation grew until the prompt left a few tokens of
    the context; the forced call was cut by the context, and the answer was a 500 "grammar failed"."""
    sentence = "The knight rode on through the rain to the castle. "
    repeats = 200
    for _ in range(6):  # a prompt just short of the context: the first refusals say by how much it is too long
        with pytest.raises(openai.BadRequestError) as refused:
            resp = openai_client.chat.completions.create(
                model="smollm2-135m", seed=3, tools=[NOTE], tool_choice="required", max_tokens=200, stream=stream,
                messages=[{"role": "user", "content": sentence * repeats + "Save a note about it."}])
            if stream:
                list(resp)
        error = refused.value.body if isinstance(refused.value.body, dict) else {}
        assert error.get("code") == "context_length_exceeded" and error.get("param") == "messages"
        too_long = re.match(r"the prompt is (\d+) tokens but .* a context of (\d+) tokens", error["message"])
        if not too_long:
            break
        repeats -= (int(too_long[1]) - int(too_long[2])) // 12 + 2  # about 12 tokens a sentence
    assert "shorten the conversation" in error["message"] and "max_tokens 200" in error["message"]
