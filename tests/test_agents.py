"""Agents on a scripted fake model: the loop, tools, errors, structured output, sessions, approvals."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field

from cupola.agents import Agent, MaxTurnsExceeded, OutputValidationError, Runner, SessionStore, tool
from cupola.client import FunctionClient
from cupola.errors import UsageError
from cupola.tools.functions import ToolArgumentsError, function_tool


def last_user(messages):
    return next(m["content"] for m in reversed(messages) if m["role"] == "user")


# -- function tools --------------------------------------------------------------------------

def test_schema_from_hints_annotated_and_docstring():
    def get_weather(city: Annotated[str, "City name"], unit: Literal["C", "F"] = "C",
                    days: Annotated[int, Field(ge=1, le=7)] = 1) -> dict:
        """Current weather for a city.

        Args:
            days: Days of forecast.
        """
        return {}

    spec = function_tool(get_weather).schema()["function"]
    assert spec["name"] == "get_weather" and spec["description"] == "Current weather for a city."
    props = spec["parameters"]["properties"]
    assert props["city"] == {"type": "string", "description": "City name"}
    assert props["unit"]["enum"] == ["C", "F"] and props["unit"]["default"] == "C"
    assert props["days"]["description"] == "Days of forecast." and props["days"]["maximum"] == 7
    assert spec["parameters"]["required"] == ["city"]
    assert spec["parameters"]["additionalProperties"] is False


async def test_arguments_are_validated_and_sync_or_async_functions_run():
    @tool
    def add(a: int, b: int = 2) -> int:
        """Add two numbers."""
        return a + b

    @tool
    async def shout(text: str) -> str:
        await asyncio.sleep(0)
        return text.upper()

    assert await add('{"a": 1}') == "3"
    assert await shout({"text": "hi"}) == "HI"
    for bad, message in [('{"b": 1}', "a: Field required"), ('{"a": 1, "c": 2}', "c: Extra inputs"),
                         ("not json", "not JSON"), ("[1]", "JSON object")]:
        with pytest.raises(ToolArgumentsError, match=message):
            await add(bad)
    with pytest.raises(UsageError, match="kwargs"):
        function_tool(lambda **kw: None, name="anything")


# -- the loop --------------------------------------------------------------------------------

@tool
def lookup_price(item: str) -> dict:
    """Price of an item in the shop."""
    if item == "broken":
        raise RuntimeError("the price database is down")
    return {"item": item, "price": 4.5}


def shop_model(messages, params):
    """Calls lookup_price once, then answers with the tool's result."""
    if messages[-1]["role"] == "tool":
        return f"It costs {json.loads(messages[-1]['content'])['price']}." \
            if not messages[-1]["content"].startswith("Error") else "Sorry: " + messages[-1]["content"]
    return [("lookup_price", {"item": last_user(messages)})]


async def test_run_calls_tools_and_returns_the_final_answer():
    client = FunctionClient(shop_model)
    agent = Agent("shop", "You answer price questions.", tools=[lookup_price])
    result = await Runner(client).run(agent, "apple")
    assert result.status == "completed" and result.output == "It costs 4.5." and result.turns == 2
    first_messages, first_params = client.calls[0]
    assert first_messages[0] == {"role": "system", "content": "You answer price questions."}
    assert first_params["tools"][0]["function"]["name"] == "lookup_price"
    assert [m["role"] for m in result.messages] == ["user", "assistant", "tool", "assistant"]


async def test_stream_events_in_order():
    agent = Agent("shop", tools=[lookup_price])
    events = [e async for e in Runner(FunctionClient(shop_model)).stream(agent, "pear")]
    kinds = [e["type"] for e in events]
    assert kinds == ["turn_started", "tool_call", "tool_result", "turn_started", "text_delta", "text_delta",
                     "text_delta", "final_output"]
    assert events[1]["name"] == "lookup_price" and json.loads(events[1]["arguments"]) == {"item": "pear"}
    assert json.loads(events[2]["output"]) == {"item": "pear", "price": 4.5} and events[2]["is_error"] is False
    assert "".join(e["text"] for e in events if e["type"] == "text_delta") == events[-1]["text"]


async def test_tool_exceptions_and_bad_calls_go_back_to_the_model():
    result = await Runner(FunctionClient(shop_model)).run(Agent("shop", tools=[lookup_price]), "broken")
    assert result.output == "Sorry: Error: RuntimeError: the price database is down"

    def wrong_args(messages, params):
        return "gave up" if messages[-1]["role"] == "tool" else [("lookup_price", {"name": "x"})]

    events = [e async for e in Runner(FunctionClient(wrong_args)).stream(Agent("a", tools=[lookup_price]), "x")]
    result_event = next(e for e in events if e["type"] == "tool_result")
    assert result_event["is_error"] and "item: Field required" in result_event["output"]

    def unknown(messages, params):
        return "ok" if messages[-1]["role"] == "tool" else [("rm_rf", {})]

    events = [e async for e in Runner(FunctionClient(unknown)).stream(Agent("a", tools=[lookup_price]), "x")]
    assert "no tool named 'rm_rf'" in next(e for e in events if e["type"] == "tool_result")["output"]


async def test_turn_limit():
    def forever(messages, params):
        return [("lookup_price", {"item": "apple"})]

    with pytest.raises(MaxTurnsExceeded, match="within 3 turns"):
        await Runner(FunctionClient(forever)).run(Agent("loop", tools=[lookup_price], max_turns=3), "x")


class Verdict(BaseModel):
    label: Literal["good", "bad"]
    score: float


async def test_structured_output_is_requested_and_validated():
    client = FunctionClient(lambda m, p: '{"label": "good", "score": 0.9}')
    result = await Runner(client).run(Agent("judge", output_type=Verdict), "rate this")
    assert result.output == Verdict(label="good", score=0.9)
    assert client.calls[0][1]["response_format"]["json_schema"]["schema"]["required"] == ["label", "score"]
    with pytest.raises(OutputValidationError, match="does not fit Verdict"):
        await Runner(FunctionClient(lambda m, p: '{"label": "meh"}')).run(Agent("judge", output_type=Verdict), "x")


async def test_structured_output_after_tools_uses_a_final_structured_call():
    def model(messages, params):
        if "response_format" in params:
            assert "tools" not in params
            return '{"label": "bad", "score": 0.1}'
        return "done" if messages[-1]["role"] == "tool" else [("lookup_price", {"item": "x"})]

    result = await Runner(FunctionClient(model)).run(Agent("j", tools=[lookup_price], output_type=Verdict), "x")
    assert result.output.label == "bad"


async def test_sessions_continue_after_a_restart(tmp_path):
    def echo_history(messages, params):
        return f"I have seen {sum(m['role'] == 'user' for m in messages)} user messages"

    agent = Agent("memo", "Remember things.")
    store = SessionStore(tmp_path / "agents.db")
    await Runner(FunctionClient(echo_history), sessions=store).run(agent, "one", session_id="s1")
    store.close()
    store = SessionStore(tmp_path / "agents.db")  # a new process would open it like this
    result = await Runner(FunctionClient(echo_history), sessions=store).run(agent, "two", session_id="s1")
    assert result.output == "I have seen 2 user messages"
    assert [m["content"] for m in store.messages("s1") if m["role"] == "user"] == ["one", "two"]
    with pytest.raises(UsageError, match="session store"):
        await Runner(FunctionClient(echo_history)).run(agent, "x", session_id="s1")


@tool(needs_approval=True)
def send_email(to: str, body: str) -> str:
    """Send an email."""
    return f"sent to {to}"


async def test_approval_pauses_and_resumes_after_a_restart(tmp_path):
    def mailer(messages, params):
        if messages[-1]["role"] == "tool":
            return "Result: " + messages[-1]["content"]
        return [("send_email", {"to": "ann@example.com", "body": "hi"})]

    agent = Agent("mailer", tools=[send_email])
    store = SessionStore(tmp_path / "agents.db")
    paused = await Runner(FunctionClient(mailer), sessions=store).run(agent, "mail ann", session_id="s")
    assert paused.status == "paused" and paused.pending[0]["name"] == "send_email"
    store.close()

    store = SessionStore(tmp_path / "agents.db")
    runner = Runner(FunctionClient(mailer), sessions=store)
    with pytest.raises(UsageError, match="missing"):
        await runner.resume(agent, paused.run_id, {})
    done = await runner.resume(agent, paused.run_id, {paused.pending[0]["call_id"]: True})
    assert done.status == "completed" and done.output == "Result: sent to ann@example.com"
    with pytest.raises(UsageError, match="is completed"):
        await runner.resume(agent, paused.run_id, {paused.pending[0]["call_id"]: True})
    assert [m["role"] for m in store.messages("s")] == ["user", "assistant", "tool", "assistant"]

    again = await runner.run(agent, "mail ann")
    denied = await runner.resume(agent, again.run_id, {again.pending[0]["call_id"]: False})
    assert denied.output.startswith("Result: The user did not approve")
