"""The real embedded models behind a live `cupola serve`, through the official openai client."""

import asyncio
import base64
import json
import time

import httpx
import numpy as np
import openai
import pytest
from pydantic import BaseModel

from conftest import LiveServer, new_home

pytestmark = pytest.mark.real

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def test_chat_non_streaming(openai_client):
    resp = openai_client.chat.completions.create(model="smollm2-135m", messages=QUESTION, max_tokens=40, seed=3)
    choice = resp.choices[0]
    assert resp.model == "smollm2-135m"
    assert choice.message.role == "assistant" and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    assert resp.usage.prompt_tokens > 0 and 0 < resp.usage.completion_tokens <= 40


def test_chat_streaming_with_usage(openai_client):
    stream = openai_client.chat.completions.create(model="smollm2-135m", messages=QUESTION, max_tokens=24,
                                                   stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "length")
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens <= 24


def test_sampling_parameters_are_honoured(openai_client):
    kwargs = dict(model="smollm2-135m", max_tokens=20, temperature=0.8, top_p=0.9, seed=42,
                  presence_penalty=0.5, frequency_penalty=0.5,
                  messages=[{"role": "user", "content": "Write a short poem about rain."}])
    a = openai_client.chat.completions.create(**kwargs).choices[0].message.content
    b = openai_client.chat.completions.create(**kwargs).choices[0].message.content
    assert a == b  # same seed, same answer
    stopped = openai_client.chat.completions.create(
        model="smollm2-135m", messages=[{"role": "user", "content": "Count from 1 to 20, separated by commas."}],
        max_tokens=60, stop=["5"], seed=1)
    assert "5" not in stopped.choices[0].message.content


class City(BaseModel):
    name: str
    country: str
    population: int


def test_json_schema_output_parses_and_validates(openai_client):
    for seed in (1, 2, 3):
        resp = openai_client.chat.completions.create(
            model="smollm2-135m", seed=seed, max_tokens=120,
            messages=[{"role": "user", "content": "Describe Paris as JSON with name, country and population."}],
            response_format={"type": "json_schema",
                             "json_schema": {"name": "city", "strict": True, "schema": City.model_json_schema()}})
        City.model_validate_json(resp.choices[0].message.content)


def test_json_object_mode(openai_client):
    resp = openai_client.chat.completions.create(
        model="smollm2-135m", max_tokens=400, seed=7, response_format={"type": "json_object"},
        messages=[{"role": "user", "content": "Give me a short JSON object with a cat's name and age."}])
    choice = resp.choices[0]
    if choice.finish_reason == "stop":  # a cut-off object (finish_reason "length") cannot parse
        assert isinstance(json.loads(choice.message.content), dict)
    else:
        assert choice.message.content.lstrip().startswith("{")


def test_completions_endpoint(openai_client):
    resp = openai_client.completions.create(model="smollm2-135m", prompt="The sky is", max_tokens=8)
    assert resp.choices[0].text and resp.usage.completion_tokens <= 8


def test_embeddings_rank_a_paraphrase_above_an_unrelated_sentence(openai_client):
    texts = ["A man is playing a guitar.", "Someone strums an acoustic guitar.", "The stock market fell sharply today."]
    resp = openai_client.embeddings.create(model="minilm-l6", input=texts)
    v = np.array([d.embedding for d in resp.data])
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-3)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3
    single = openai_client.embeddings.create(model="minilm-l6", input=texts[0], encoding_format="base64")
    raw = single.data[0].embedding  # asked for explicitly, the client hands the base64 string over as it is
    decoded = np.frombuffer(base64.b64decode(raw), dtype="<f4") if isinstance(raw, str) else np.array(raw)
    assert np.allclose(decoded, v[0], atol=1e-4)


def test_eight_concurrent_streams_all_complete(live_server):
    client = openai.AsyncOpenAI(base_url=live_server.url + "/v1", api_key="x", max_retries=0, timeout=300)

    async def one(i):
        stream = await client.chat.completions.create(
            model="smollm2-135m", stream=True, max_tokens=32, seed=i,
            messages=[{"role": "user", "content": f"Tell me fact number {i} about the ocean."}])
        parts, finish = [], None
        async for chunk in stream:
            if chunk.choices:
                parts.append(chunk.choices[0].delta.content or "")
                finish = chunk.choices[0].finish_reason or finish
        return "".join(parts), finish

    async def all_of_them():
        try:
            return await asyncio.gather(*(one(i) for i in range(8)))
        finally:
            await client.close()

    results = asyncio.run(all_of_them())
    assert len(results) == 8
    assert all(text.strip() and finish in ("stop", "length") for text, finish in results)


def test_disconnect_mid_stream_then_a_normal_request(live_server, openai_client):
    body = {"model": "smollm2-135m", "stream": True, "max_tokens": 1000,
            "messages": [{"role": "user", "content": "Write a very long story about a dragon."}]}
    with httpx.Client(timeout=60) as http:
        with http.stream("POST", live_server.url + "/v1/chat/completions", json=body) as resp:
            assert resp.status_code == 200
            for i, _ in enumerate(resp.iter_lines()):
                if i > 6:
                    break  # leave mid-stream: the connection closes here
    # the generation stops and its slot frees within moments, long before 1000 tokens
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        running = sum(m["running"] for m in httpx.get(live_server.url + "/api/ps").json()["models"])
        if running == 0:
            break
        time.sleep(0.05)
    assert running == 0
    resp = openai_client.chat.completions.create(model="smollm2-135m", messages=QUESTION, max_tokens=16)
    assert resp.choices[0].message.content
    records = httpx.get(live_server.url + "/api/requests?limit=5").json()["requests"]
    cancelled = [r for r in records if r["status"] == "cancelled"]
    assert cancelled
    assert cancelled[0]["completion_tokens"] is None or cancelled[0]["completion_tokens"] < 1000


def test_prompt_longer_than_the_context_is_a_clear_400(openai_client):
    long_prompt = "word " * 3000
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as info:
            openai_client.chat.completions.create(model="smollm2-135m", max_tokens=8, stream=stream,
                                                  messages=[{"role": "user", "content": long_prompt}])
        err = info.value.body
        assert err["code"] == "context_length_exceeded"
        assert "1024" in err["message"] and "30" in err["message"]  # both token counts


def test_malformed_requests_get_400_bodies(openai_client):
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.chat.completions.create(model="smollm2-135m", messages=QUESTION, temperature=5)
    assert info.value.body["param"] == "temperature"
    with pytest.raises(openai.NotFoundError) as info:
        openai_client.chat.completions.create(model="no-such-model", messages=QUESTION)
    assert "smollm2-135m" in info.value.body["message"]
    with pytest.raises(openai.BadRequestError):
        openai_client.embeddings.create(model="minilm-l6", input=[])


def test_models_health_metrics_and_discovery(live_server, openai_client):
    ids = {m.id for m in openai_client.models.list()}
    assert {"smollm2-135m", "minilm-l6"} <= ids
    assert httpx.get(live_server.url + "/health").json()["status"] == "ok"
    metrics = httpx.get(live_server.url + "/metrics").text
    assert "cupola_requests_total" in metrics and "cupola_time_to_first_token_seconds" in metrics
    info = json.loads((live_server.home / "server.json").read_text())
    assert info["url"] == live_server.url and info["port"] != 0


def test_overload_is_answered_with_429(models_home, tmp_path):
    server = LiveServer(new_home(tmp_path / "home", models_home), "--parallel", "1", "--no-preload",
                        env={"CUPOLA_MAX_QUEUE": "1"})
    try:
        client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0, timeout=120)

        async def one(i):
            try:
                await client.chat.completions.create(model="smollm2-135m", max_tokens=48, seed=i,
                                                     messages=[{"role": "user", "content": "Tell me a story."}])
                return "ok"
            except openai.RateLimitError as exc:
                assert int(exc.response.headers["retry-after"]) >= 1
                assert exc.body["code"] == "overloaded"
                return "429"

        async def burst():
            await client.chat.completions.create(model="smollm2-135m", max_tokens=1, messages=QUESTION)  # load it
            try:
                return await asyncio.gather(*(one(i) for i in range(5)))
            finally:
                await client.close()

        results = asyncio.run(burst())
        assert results.count("ok") == 2 and results.count("429") == 3
    finally:
        server.stop()
