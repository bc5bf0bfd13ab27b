"""Admission control in front of every engine: admission by expected wait, and a circuit breaker.

:class:`Admission`: at most ``capacity`` requests run at once (the engine's slots, or an
upstream's ``max_concurrency``); the others wait in arrival order. A request is refused at once
with :class:`Overloaded` (HTTP 429) only when

* its **expected wait** would exceed ``max_wait`` seconds (the setting ``max_queue_wait``, default
  60 s). With every slot busy, a request waits for the work queued ahead of it (and its own share)
  to drain: ``(waiting cost + its cost) × fill / throughput``, where a request's ``cost`` is the
  tokens it may produce (``max_tokens``; 1 for other work), ``fill`` the moving average of the
  share of that budget requests really produce, and ``throughput`` the tokens per second the
  engine delivers with every slot busy. Throughput is measured, per number of requests running
  at once, from each finished request (its tokens ÷ its seconds in the slot × the requests that
  ran beside it). When the engine was only seen less busy than full (a warm-up, a quiet day),
  the full-slots throughput is extrapolated from the busiest level measured as growing with the
  0.25th power of the concurrency — what batched decoding on CPU gives (bench/serve_concurrency:
  68, 100, 110 tokens/s at 1, 4, 8 streams on 2 cores, an exponent of 0.23–0.28); a measurement
  at full slots replaces the guess. Until the first request finishes the rule counts requests,
  ``(w + 1) × 2 s / capacity`` for ``w`` waiting. ``Retry-After`` is the time until that wait
  would be back under the limit: ``expected wait − max_wait``, at least 1 s;
* or ``max_queue`` requests already wait: a hard cap that bounds memory whatever the estimate
  (``Retry-After``: the time the queue needs to make room).

So a burst the hardware can serve within a minute is queued, not turned away; a server that is
really overloaded says so at once, with a useful ``Retry-After``.

:class:`Breaker`: after ``failures`` consecutive failures (connection refused, 5xx, time-outs)
an upstream is skipped for ``cooldown`` seconds (requests fail over at once instead of waiting
for a dead server); then one trial request is let through, and a success closes it again.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

from cupola.errors import Overloaded, Unavailable

INITIAL_AVG_SECONDS = 2.0  # a request's time in a slot until one has been measured
DEFAULT_MAX_WAIT = 60.0
DEFAULT_MAX_QUEUE = 512
SCALING = 0.25  # throughput ~ concurrency ** SCALING where not measured (bench/results/serve_concurrency.md)
SMOOTHING = 0.2  # weight of a new measurement in the moving averages


class Admission:
    def __init__(self, name: str, capacity: int, max_queue: int = DEFAULT_MAX_QUEUE,
                 max_wait: float = DEFAULT_MAX_WAIT) -> None:
        self.name = name
        self.capacity = capacity
        self.max_queue = max_queue
        self.max_wait = max_wait
        self.running = 0
        self.waiting = 0
        self.refused = 0
        self._slots = asyncio.Semaphore(capacity)
        self.waiting_cost = 0.0
        self.fill = 1.0  # moving average of the share of its cost a request really produced
        self.rates: dict[int, float] = {}  # requests running at once -> moving average of cost units per second
        self.on_idle: Callable[[], None] | None = None  # called when the last request is released

    def throughput(self) -> float | None:
        """Cost units (tokens) per second with every slot busy: measured, or extrapolated from the busiest
        level measured; None before any request finished."""
        if not self.rates:
            return None
        busiest = max(self.rates)
        return self.rates[busiest] * (max(self.capacity, busiest) / busiest) ** SCALING

    def expected_wait(self, cost: float = 1.0) -> float:
        """Seconds a request of ``cost`` arriving now would wait for a slot (0 while one is free)."""
        if self.running + self.waiting < self.capacity:
            return 0.0
        rate = self.throughput()
        if rate is None:  # nothing measured yet: 2 s a request, the slots in parallel
            return (self.waiting + 1) * INITIAL_AVG_SECONDS / self.capacity
        return (self.waiting_cost + cost) * self.fill / rate

    def check(self, cost: float = 1.0) -> None:
        """Raise :class:`Overloaded` if a request of ``cost`` arriving now must be refused."""
        if self.running + self.waiting < self.capacity:
            return  # a slot is free
        if self.waiting >= self.max_queue:
            rate = self.throughput() or 1 / INITIAL_AVG_SECONDS
            per_request = self.waiting_cost / max(self.waiting, 1) * self.fill / rate  # seconds a waiting request
            retry = max(1, math.ceil((self.waiting + 1 - self.max_queue) * per_request))
            self.refused += 1
            raise Overloaded(f"{self.name} is busy: {self.running} requests running and {self.waiting} waiting, "
                             f"the most that may wait (max_queue={self.max_queue}); retry in {retry}s",
                             retry_after=retry)
        wait = self.expected_wait(cost)
        if wait > self.max_wait:
            retry = max(1, math.ceil(wait - self.max_wait))
            self.refused += 1
            raise Overloaded(f"{self.name} is busy: a request now would wait about {wait:.0f}s for one of its "
                             f"{self.capacity} slots ({self.running} running, {self.waiting} waiting), more than "
                             f"max_queue_wait={self.max_wait:g}s; retry in {retry}s", retry_after=retry)

    async def acquire(self, cost: float = 1.0) -> None:
        """Wait for a slot (or raise :class:`Overloaded`); ``cost``: the request's expected work."""
        self.check(cost)
        self.waiting += 1
        self.waiting_cost += cost
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
            self.waiting_cost -= cost
        self.running += 1

    def release(self, seconds: float | None = None, cost: float = 1.0, produced: float | None = None) -> None:
        """Free the slot; ``seconds`` the request held it, ``produced`` the cost units it really used
        (the tokens it generated; ``cost`` when not counted): the measurements behind the estimate."""
        concurrency = self.running  # this request and those that ran beside it
        self.running -= 1
        self._slots.release()
        if seconds is not None and seconds > 0:
            produced = cost if produced is None else max(1.0, min(produced, cost))
            rate = produced / seconds * concurrency
            old = self.rates.get(concurrency)
            self.rates[concurrency] = rate if old is None else (1 - SMOOTHING) * old + SMOOTHING * rate
            self.fill = (1 - SMOOTHING) * self.fill + SMOOTHING * (produced / max(cost, 1e-9))
        if self.on_idle is not None and not self.busy:
            self.on_idle()

    @property
    def busy(self) -> bool:
        return self.running + self.waiting > 0

    def describe(self) -> dict[str, float | int | None]:
        rate = self.throughput()
        return {"running": self.running, "queued": self.waiting, "capacity": self.capacity,
                "max_queue": self.max_queue, "max_queue_wait": self.max_wait,
                "expected_wait": round(self.expected_wait(), 1),
                "throughput": None if rate is None else round(rate, 1), "fill": round(self.fill, 2),
                "refused": self.refused}


class Breaker:
    """A circuit breaker: closed (normal), open (skip until the cooldown ends), half-open (one trial)."""

    def __init__(self, name: str, failures: int = 5, cooldown: float = 30.0) -> None:
        self.name = name
        self.threshold = failures
        self.cooldown = cooldown
        self.consecutive = 0
        self.opened_at: float | None = None
        self._trial = False
        self.last_error: str | None = None

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if time.monotonic() - self.opened_at >= self.cooldown else "open"

    def check(self) -> None:
        """Raise :class:`Unavailable` while open; in half-open, let one trial request through."""
        state = self.state
        if state == "closed":
            return
        if state == "half_open" and not self._trial:
            self._trial = True
            return
        left = max(0.0, self.cooldown - (time.monotonic() - (self.opened_at or 0)))
        raise Unavailable(f"{self.name} is skipped for {left:.0f}s more after {self.consecutive} consecutive "
                          f"failures (last: {self.last_error})",
                          hint="check that the upstream server is running; `cupola upstreams test NAME`")

    def success(self) -> None:
        self.consecutive = 0
        self.opened_at = None
        self._trial = False

    def failure(self, error: str) -> None:
        self.consecutive += 1
        self.last_error = error
        self._trial = False
        if self.consecutive >= self.threshold:
            self.opened_at = time.monotonic()  # (re)open: a failed trial restarts the cooldown

    def describe(self) -> dict[str, object]:
        return {"state": self.state, "consecutive_failures": self.consecutive, "last_error": self.last_error}
