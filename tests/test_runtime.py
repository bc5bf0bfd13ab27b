"""Runtime semantics with fake engines: loading, keep-alive, eviction, admission, cancellation, records."""

import asyncio

import pytest

from cupola.errors import ContextLengthExceeded, ModelNotFound, Overloaded, UsageError
from cupola.runtime.runtime import Runtime

from conftest import FakeFactory, fake_store


async def collect(agen):
    return [chunk async for chunk in agen]


async def generate(runtime, model, body, **kw):
    return (await runtime.complete(model, body, **kw)).response


def stream(runtime, model, body):
    return runtime.stream(model, body.pop("messages"), **body)


async def test_load_on_first_use_with_catalog_defaults(fake_runtime, fake_factory):
    assert fake_runtime.ps() == []
    result = await generate(fake_runtime, "smollm2-135m", {"messages": [{"role": "user", "content": "hi"}]})
    assert result["model"] == "smollm2-135m"
    assert result["choices"][0]["message"]["content"] == "Hello from the fake model."
    sent = fake_factory.engines["smollm2-135m"].requests[0]
    assert sent["temperature"] == 0.2  # the catalog's recommended default
    await generate(fake_runtime, "smollm2-135m", {"messages": [{"role": "user", "content": "x"}],
                                                                 "temperature": 0.9})
    assert fake_factory.engines["smollm2-135m"].requests[1]["temperature"] == 0.9
    assert [m["model"] for m in fake_runtime.ps()] == ["smollm2-135m"]
    await fake_runtime.close()


async def test_unknown_model_and_wrong_kind(fake_runtime):
    with pytest.raises(ModelNotFound):
        await generate(fake_runtime, "nope", {"messages": []})
    with pytest.raises(UsageError, match="embedding model"):
        await generate(fake_runtime, "minilm-l6", {"messages": [{"role": "user", "content": "x"}]})
    with pytest.raises(UsageError, match="chat model"):
        await fake_runtime.embed("smollm2-135m", ["x"])
    await fake_runtime.close()


async def test_keep_alive_zero_unloads_after_the_request(fake_runtime, fake_factory):
    await generate(fake_runtime, "smollm2-135m", {"messages": [{"role": "user", "content": "x"}]}, keep_alive=0)
    await asyncio.sleep(0.05)
    assert fake_runtime.ps() == []
    assert fake_factory.engines["smollm2-135m"].closed
    await fake_runtime.close()


async def test_keep_alive_expiry_is_reaped(fake_runtime, fake_factory):
    await fake_runtime.embeddings("minilm-l6", ["a b"], keep_alive="50ms")
    await generate(fake_runtime, "smollm2-135m", {"messages": [{"role": "user", "content": "x"}]}, keep_alive=-1)
    await asyncio.sleep(0.1)
    assert await fake_runtime.reap() == ["minilm-l6"]
    assert [m["model"] for m in fake_runtime.ps()] == ["smollm2-135m"]
    assert fake_runtime.ps()[0]["expires_at"] is None  # -1: forever
    await fake_runtime.close()


async def test_resident_limit_evicts_the_idlest(settings, fake_factory, tmp_path):
    runtime = Runtime(settings.model_copy(update={"max_loaded_models": 1}), fake_store(settings.home),
                      engine_factory=fake_factory)
    await runtime.load("smollm2-135m")
    await runtime.load("minilm-l6")
    assert [m["model"] for m in runtime.ps()] == ["minilm-l6"]
    assert fake_factory.engines["smollm2-135m"].closed
    await runtime.close()


async def test_admission_queue_overflows_with_429(settings):
    factory = FakeFactory(delay=0.05)
    runtime = Runtime(settings.model_copy(update={"parallel": 1, "max_queue": 1}), fake_store(settings.home),
                      engine_factory=factory)
    body = {"messages": [{"role": "user", "content": "x"}]}
    results = await asyncio.gather(*(generate(runtime, "smollm2-135m", body) for _ in range(4)),
                                   return_exceptions=True)
    ok = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, Overloaded)]
    assert len(ok) == 2 and len(refused) == 2  # one running + one queued; the rest refused at once
    assert all(r.retry_after >= 1 for r in refused)
    statuses = sorted(r["status"] for r in runtime.records.recent())
    assert statuses == ["ok", "ok", "rejected", "rejected"]
    await runtime.close()


async def test_stream_usage_only_when_asked(fake_runtime):
    body = {"messages": [{"role": "user", "content": "x"}]}
    chunks = await collect(stream(fake_runtime, "smollm2-135m", dict(body)))
    assert not any("usage" in c for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) \
        == "Hello from the fake model."
    chunks = await collect(stream(fake_runtime, "smollm2-135m", {**body, "stream_options": {"include_usage": True}}))
    assert chunks[-1]["usage"]["completion_tokens"] == 5
    rec = fake_runtime.records.recent(1)[0]
    assert (rec["stream"], rec["status"], rec["completion_tokens"], rec["finish_reason"]) == (1, "ok", 5, "stop")
    assert rec["ttft_ms"] is not None and rec["duration_ms"] >= rec["ttft_ms"]
    await fake_runtime.close()


async def test_closing_a_stream_stops_the_engine_and_frees_the_slot(settings):
    factory = FakeFactory(reply=" ".join(["word"] * 500), delay=0.01)
    runtime = Runtime(settings.model_copy(update={"parallel": 1, "max_queue": 0}), fake_store(settings.home),
                      engine_factory=factory)
    chunks = stream(runtime, "smollm2-135m", {"messages": [{"role": "user", "content": "x"}]})
    for _ in range(3):
        await chunks.__anext__()
    await chunks.aclose()
    engine = factory.engines["smollm2-135m"]
    assert await asyncio.to_thread(engine.stopped.wait, 2)
    for _ in range(100):  # the slot is released when the engine thread returns
        if runtime.models["smollm2-135m"].admission.running == 0:
            break
        await asyncio.sleep(0.01)
    result = await generate(runtime, "smollm2-135m", {"messages": [{"role": "user", "content": "x"}],
                                                     "max_tokens": 2})
    assert result["choices"][0]["finish_reason"] == "length"
    statuses = [r["status"] for r in runtime.records.recent()]
    assert statuses == ["ok", "cancelled"]
    await runtime.close()


async def test_engine_errors_propagate_from_streams(settings):
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=FakeFactory(context=3))
    with pytest.raises(ContextLengthExceeded):
        await collect(stream(runtime, "smollm2-135m", {"messages": [{"role": "user", "content": "a b c d e"}]}))
    await asyncio.sleep(0.05)  # the record is written when the engine thread has returned
    assert runtime.records.recent(1)[0]["status"] == "error"
    await runtime.close()
