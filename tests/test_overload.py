"""Admission by expected wait (429 only past max_queue_wait, Retry-After from the estimate, a hard cap),
and slots sized from the model and memory: the rules as pure functions, then through the runtime and HTTP."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from cupola.config import Settings
from cupola.engines.fake import FakeFactory, fake_store
from cupola.errors import Overloaded
from cupola.runtime import slots
from cupola.runtime.admission import Admission
from cupola.runtime.local import capabilities_of
from cupola.runtime.runtime import Runtime
from cupola.server.app import create_app

GB, MB = 10**9, 10**6
MESSAGES = [{"role": "user", "content": "x"}]


# -- the admission rule ------------------------------------------------------------------------

async def test_expected_wait_grows_with_the_queue_and_refuses_past_the_limit():
    adm = Admission("m", capacity=2, max_queue=100, max_wait=5)
    await adm.acquire(), await adm.acquire()  # both slots busy
    assert adm.expected_wait() == pytest.approx(1.0)  # nothing measured: (0 waiting + 1) x 2 s / 2 slots
    waiters = []
    for i in range(5):  # waits of 1..5 s: admitted
        waiters.append(asyncio.ensure_future(adm.acquire()))
        await asyncio.sleep(0)
    assert adm.waiting == 5 and adm.expected_wait() == pytest.approx(6.0)
    with pytest.raises(Overloaded) as refused:
        await adm.acquire()
    assert refused.value.retry_after == 1  # 6 s expected, 5 s allowed: back under the limit in 1 s
    assert "about 6s" in refused.value.message and "max_queue_wait=5s" in refused.value.message
    adm.rates = {2: 0.2}  # measured: 0.2 requests a second with both slots busy - a longer wait, a later retry
    with pytest.raises(Overloaded) as refused:
        await adm.acquire()
    assert refused.value.retry_after == 25  # (5 + 1) / 0.2 = 30 s, 25 over
    for _ in range(7):
        adm.release(1.0)
        await asyncio.sleep(0)
    await asyncio.gather(*waiters)
    assert adm.refused == 2


async def test_the_hard_cap_bounds_the_queue_whatever_the_estimate():
    adm = Admission("m", capacity=1, max_queue=3, max_wait=10**6)
    await adm.acquire()
    waiters = [asyncio.ensure_future(adm.acquire()) for _ in range(3)]
    await asyncio.sleep(0)
    with pytest.raises(Overloaded) as refused:
        await adm.acquire()
    assert "max_queue=3" in refused.value.message and refused.value.retry_after >= 1
    for w in waiters:
        w.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    assert adm.waiting == 0  # cancelled waiters leave the queue


async def test_a_free_slot_is_always_taken():
    adm = Admission("m", capacity=1, max_queue=0, max_wait=0.001)
    adm.rates = {1: 0.001}
    await adm.acquire()  # no wait, so no limit applies
    assert adm.running == 1


async def test_runtime_queues_a_burst_the_model_serves_within_the_limit_and_refuses_the_rest(settings):
    # 2 slots, 1.2 s per request; the first estimate uses 2 s per request: waits of 1, 2, ... s
    factory = FakeFactory(reply="a b c d e f", delay=0.2)
    runtime = Runtime(settings.model_copy(update={"parallel": 2, "max_queue_wait": 5}), fake_store(settings.home),
                      engine_factory=factory)
    await runtime.load("smollm2-135m")
    results = await asyncio.gather(*(runtime.complete("smollm2-135m", {"messages": MESSAGES}) for _ in range(20)),
                                   return_exceptions=True)
    done = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, Overloaded)]
    assert len(done) == 7 and len(refused) == 13  # 2 running + 5 waiting (expected waits 1..5 s)
    assert all(r.retry_after >= 1 for r in refused)
    assert sorted({r["status"] for r in runtime.records.recent(50)}) == ["ok", "rejected"]
    await runtime.close()


def test_a_burst_of_64_with_the_defaults_is_queued_not_refused(settings):
    factory = FakeFactory(reply="a b c", delay=0.01)
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=factory)
    with TestClient(create_app(settings, runtime)) as client:
        async def burst():
            import httpx

            transport = httpx.ASGITransport(app=client.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=60) as c:
                return await asyncio.gather(*(c.post("/v1/chat/completions", json={
                    "model": "smollm2-135m", "messages": MESSAGES, "stream": i % 2 == 0}) for i in range(64)))

        responses = client.portal.call(burst)
        assert [r.status_code for r in responses] == [200] * 64
        assert client.get("/api/ps").json()["models"][0]["running"] == 0


def test_429_has_retry_after_and_an_openai_error_body(settings):
    factory = FakeFactory(reply=" ".join(["w"] * 100), delay=0.05)
    settings = settings.model_copy(update={"parallel": 1, "max_queue": 0})
    with TestClient(create_app(settings, Runtime(settings, fake_store(settings.home), engine_factory=factory))) as c:
        with c.stream("POST", "/v1/chat/completions", json={"model": "smollm2-135m", "messages": MESSAGES,
                                                             "stream": True}) as first:
            assert first.status_code == 200
            refused = c.post("/v1/chat/completions", json={"model": "smollm2-135m", "messages": MESSAGES})
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
            assert refused.json()["error"]["code"] == "overloaded"
            assert refused.json()["error"]["type"] == "rate_limit_error"


# -- slots from the model and memory ------------------------------------------------------------

SMOL_KV = 23040  # SmolLM2-135M: 30 layers x 3 KV heads x 64 dims x 2 (K, V) x 2 bytes


@pytest.mark.parametrize("size, slots_", [(98 * MB, 16), (491 * MB, 16), (900 * MB, 8), (4 * GB, 4),
                                          (30 * GB, 2)])
def test_smaller_models_get_more_slots(size, slots_):
    assert slots.plan(size, 2048, SMOL_KV, 64 * GB).slots == slots_


def test_slots_are_bounded_by_the_kv_cache_that_fits_in_memory():
    per_slot = SMOL_KV * 2048  # 47 MB
    plan = slots.plan(98 * MB, 2048, SMOL_KV, 400 * MB)  # half of 302 MB: 3 slots of 47 MB
    assert plan.slots == 3 and "KV caches" in plan.reason
    assert slots.plan(98 * MB, 2048, SMOL_KV, 100 * MB).slots == 1  # never fewer than one
    assert slots.plan(98 * MB, 8192, SMOL_KV, 1 * GB).slots == int((1 * GB - 98 * MB) * 0.5 // (per_slot * 4))
    # unknown KV size: a generous guess, so the bound errs low
    assert slots.plan(98 * MB, 2048, None, 1 * GB).slots == int((1 * GB - 98 * MB) * 0.5 // (128 * 1024 * 2048))


def test_configured_parallel_overrides_the_rule_and_unknown_memory_keeps_the_size_rule():
    assert slots.plan(98 * MB, 2048, SMOL_KV, 10 * MB, configured=3).slots == 3
    assert slots.plan(98 * MB, 2048, SMOL_KV, None).slots == 16


def test_available_memory_is_read():
    assert slots.available_memory() is None or slots.available_memory() > 0


def test_capabilities_take_the_slots_the_engine_was_started_with(settings):
    store = fake_store(settings.home)
    entry = store.entry("smollm2-135m")
    started_with = SimpleNamespace(options=SimpleNamespace(parallel=12))
    assert capabilities_of(entry, started_with, settings).concurrency == 12
    assert capabilities_of(entry, object(), Settings(home=settings.home, parallel=3)).concurrency == 3


@pytest.mark.real
def test_default_slots_of_the_real_model_follow_the_rule(models_home, tmp_path):
    from conftest import new_home

    settings = Settings(home=new_home(tmp_path / "h", models_home))
    runtime = Runtime(settings)

    async def go():
        loaded = await runtime.load("smollm2-135m")
        try:
            return loaded.admission.capacity, loaded.engine.backend.options.parallel
        finally:
            await runtime.close()

    capacity, parallel = asyncio.run(go())
    expected = slots.plan(runtime.store.info("smollm2-135m").file().stat().st_size, settings.ctx_per_slot,
                          SMOL_KV, slots.available_memory()).slots
    assert capacity == parallel and abs(parallel - expected) <= 1  # free memory moves a little meanwhile
    assert parallel > 4  # a 98 MB model on a machine with memory to spare gets more than the old 4
