"""Server-run tools and conversations on the real embedded model, through the official openai
client against the shared live `cupola serve`: mcp_call items, streamed events, an approval
answered with previous_response_id, and a conversation kept on the server."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.real

CALC = {"type": "mcp", "server_label": "cupola", "allowed_tools": ["calculator"]}


def test_builtin_calculator_needs_approval_then_runs(openai_client):
    tools = [{**CALC, "require_approval": "always"}]
    first = openai_client.responses.create(model="smollm2-135m", input="What is 12 * 7?", tools=tools,
                                           tool_choice="required", max_output_tokens=128,
                                           instructions="Use the calculator, then state the result.")
    request = first.output[-1]
    assert request.type == "mcp_approval_request" and request.name == "calculator"
    assert "expression" in json.loads(request.arguments)
    events = list(openai_client.responses.create(
        model="smollm2-135m", tools=tools, previous_response_id=first.id, stream=True, max_output_tokens=128,
        input=[{"type": "mcp_approval_response", "approval_request_id": request.id, "approve": True}]))
    kinds = [e.type for e in events]
    assert "response.mcp_call.completed" in kinds and kinds[-1] == "response.completed"
    final = events[-1].response
    call = final.output[0]
    # the model writes the expression itself ("12 * 7" in every run seen); any valid arithmetic passes
    assert call.type == "mcp_call" and call.error is None and float(call.output) > 0
    assert final.output[-1].type == "message" and final.output_text.strip()
    stored = openai_client.responses.retrieve(final.id)
    assert [i.type for i in stored.output] == [i.type for i in final.output]


def test_a_conversation_kept_on_the_server(openai_client):
    conv = openai_client.conversations.create(metadata={"title": "live"}, items=[
        {"type": "message", "role": "user", "content": "What is the capital of France?"}])
    items = openai_client.conversations.items.list(conv.id, order="asc").data
    answer = openai_client.chat.completions.create(
        model="smollm2-135m", max_tokens=24,
        messages=[{"role": i.role, "content": i.content[0].text} for i in items])
    openai_client.conversations.items.create(conv.id, items=[
        {"type": "message", "role": "assistant", "content": answer.choices[0].message.content}])
    again = openai_client.conversations.items.list(conv.id, order="asc").data
    assert [i.role for i in again] == ["user", "assistant"] and again[1].content[0].text
    assert openai_client.conversations.delete(conv.id).deleted
