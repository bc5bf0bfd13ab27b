"""Admission by expected wait counts each request's work (its max_tokens, scaled by the share requests really
produce) at the throughput measured with the slots busy. Found by bench/load_abort.py twice: 64 streams of 96
tokens all admitted to 16 slots on 2 busy cores when the estimate ignored how the slots share the CPU (it said 5 s;
none finished within 300 s), then 31% of a burst served in 24 s refused when the estimate was learned from short
warm-up requests run one at a time."""

from __future__ import annotations

import asyncio

import pytest

from cupola.engines.bridge import generation_cost
from cupola.errors import Overloaded
from cupola.runtime.admission import SCALING, Admission


def test_a_generation_costs_the_tokens_it_may_produce():
    assert generation_cost({"max_tokens": 96}) == 96
    assert generation_cost({"max_completion_tokens": 40, "max_tokens": 96}) == 40
    assert generation_cost({}) == 256 and generation_cost({"max_tokens": None}) == 256


async def test_the_estimate_uses_the_throughput_measured_with_the_slots_busy():
    adm = Admission("m", capacity=4, max_queue=100, max_wait=10)
    await adm.acquire(8)
    adm.release(0.8, 8)  # measured alone: 10 tokens/s at concurrency 1
    assert adm.rates == {1: pytest.approx(10.0)}
    # four slots never measured: extrapolated from one stream (batched decoding on CPU gains sublinearly)
    assert adm.throughput() == pytest.approx(10.0 * 4 ** SCALING)
    for _ in range(4):
        await adm.acquire(96)  # four slots busy with long requests
    first = asyncio.ensure_future(adm.acquire(96))
    await asyncio.sleep(0)
    assert adm.waiting == 1 and adm.expected_wait(96) == pytest.approx(192 / (10 * 4 ** SCALING))  # 13.6 s
    with pytest.raises(Overloaded) as refused:
        await adm.acquire(96)
    assert refused.value.retry_after == 4  # 13.6 s expected, 10 s allowed
    assert adm.expected_wait(8) < 10  # a short one is admitted
    for _ in range(4):  # measured with the four slots busy: each held its slot 2.4 s for 96 tokens
        adm.release(2.4 * 4, 96)
    await first
    assert adm.throughput() == pytest.approx(40.0)  # 96 / 9.6 s x 4 running: the measurement replaces the guess
    assert adm.expected_wait(96) == 0  # a slot is free
    adm.release(1.0, 96)
    assert not adm.busy


async def test_requests_that_stop_early_count_what_they_really_produce():
    adm = Admission("m", capacity=1, max_queue=100, max_wait=100)
    for _ in range(20):  # asked for 200 tokens, produced 20, at 20 tokens/s
        await adm.acquire(200)
        adm.release(1.0, 200, produced=20)
    assert adm.fill == pytest.approx(0.1, abs=0.02) and adm.rates[1] == pytest.approx(20.0)
    await adm.acquire(200)
    waiters = [asyncio.ensure_future(adm.acquire(200)) for _ in range(50)]
    await asyncio.sleep(0)
    assert 45 < adm.expected_wait(200) < 60  # 50 x 200 tokens asked, about 50 x 20 really produced: about 50 s
    for w in waiters:
        w.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    adm.release()


async def test_until_a_request_finishes_the_rule_counts_requests():
    adm = Admission("m", capacity=2, max_queue=100, max_wait=5)
    await adm.acquire(256), await adm.acquire(256)
    assert adm.expected_wait(256) == pytest.approx(1.0)  # (0 waiting + 1) x 2 s / 2 slots, whatever the cost
