"""Admission control in front of every engine: a bounded queue, and a circuit breaker for upstreams.

:class:`Admission`: at most ``capacity`` requests run at once (the engine's slots, or an
upstream's ``max_concurrency``); up to ``max_queue`` more wait in arrival order; past that a
request is refused at once with :class:`Overloaded` (HTTP 429 with ``Retry-After``) instead of
waiting without end.

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


class Admission:
    def __init__(self, name: str, capacity: int, max_queue: int) -> None:
        self.name = name
        self.capacity = capacity
        self.max_queue = max_queue
        self.running = 0
        self.waiting = 0
        self._slots = asyncio.Semaphore(capacity)
        self.avg_seconds = 2.0  # moving average of request time, for Retry-After
        self.on_idle: Callable[[], None] | None = None  # called when the last request is released

    async def acquire(self) -> None:
        if self.running + self.waiting >= self.capacity + self.max_queue:
            retry = max(1, math.ceil(self.avg_seconds * (self.waiting + 1) / self.capacity))
            raise Overloaded(f"{self.name} is busy: {self.running} requests running and {self.waiting} "
                             f"queued (limit {self.max_queue}); retry in {retry}s", retry_after=retry)
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.running += 1

    def release(self, seconds: float | None = None) -> None:
        self.running -= 1
        self._slots.release()
        if seconds is not None:
            self.avg_seconds = 0.8 * self.avg_seconds + 0.2 * seconds
        if self.on_idle is not None and not self.busy:
            self.on_idle()

    @property
    def busy(self) -> bool:
        return self.running + self.waiting > 0

    def describe(self) -> dict[str, int]:
        return {"running": self.running, "queued": self.waiting, "capacity": self.capacity,
                "max_queue": self.max_queue}


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
