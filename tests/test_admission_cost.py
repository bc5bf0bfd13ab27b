"""Admission by expected wait counts each request's work (its max_tokens) and how much the slots really run in
parallel (Little's law): found by bench/load_abort.py, where 64 streams of 96 tokens were all admitted to 16 slots
on 2 busy cores (the estimate said 5 s; none finished within 300 s)."""

from __future__ import annotations

import asyncio

import pytest

from cupola.engines.bridge import generation_cost
from cupola.errors import Overloaded
from cupola.runtime.admission import Admission


def test_a_generation_costs_the_tokens_it_may_produce():
    assert generation_cost({"max_tokens": 96}) == 96
    assert generation_cost({"max_completion_tokens": 40, "max_tokens": 96}) == 40
    assert generation_cost({}) == 256 and generation_cost({"max_tokens": None}) == 256


async def test_long_requests_on_slots_that_share_the_cpu_are_refused_sooner():
    adm = Admission("m", capacity=4, max_queue=100, max_wait=10)
    await adm.acquire(8)
    adm.release(0.8, 8)  # measured alone: 0.1 s per token, concurrency 1
    assert adm.avg_seconds == pytest.approx(0.1) and adm.avg_concurrency == 1
    for _ in range(4):
        await adm.acquire(96)  # four slots busy with long requests
    first = asyncio.ensure_future(adm.acquire(96))
    await asyncio.sleep(0)
    assert adm.waiting == 1 and adm.expected_wait(96) == pytest.approx(19.2)  # (96 + 96) x 0.1 / 1
    with pytest.raises(Overloaded) as refused:
        await adm.acquire(96)
    assert refused.value.retry_after == 10  # 19.2 s expected, 10 s allowed
    assert adm.expected_wait(8) == pytest.approx(10.4) and adm.waiting == 1  # a short one: nearly admitted
    for _ in range(4):  # measured at concurrency 4: each held its slot 4x as long per token
        adm.release(4 * 0.1 * 96, 96)
    await first
    assert adm.avg_concurrency > 1 and adm.avg_seconds > 0.1
    # the ratio (Little's law: the real throughput) is what the estimate uses: near 0.1 s per token, not the
    # 0.4 s each request held its slot per token
    assert 0.1 <= adm.avg_seconds / adm.avg_concurrency < 0.2
    adm.release(1.0, 96)
    assert not adm.busy


async def test_until_a_request_finishes_the_rule_counts_requests():
    adm = Admission("m", capacity=2, max_queue=100, max_wait=5)
    await adm.acquire(256), await adm.acquire(256)
    assert adm.expected_wait(256) == pytest.approx(1.0)  # (0 waiting + 1) x 2 s / 2 slots, whatever the cost
