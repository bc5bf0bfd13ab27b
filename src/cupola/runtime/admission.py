"""Admission control: a bounded queue in front of each model.

At most ``capacity`` requests run at once (the engine's slots); up to ``max_queue`` more wait in
arrival order; past that a request is refused at once with :class:`Overloaded` (HTTP 429 with
``Retry-After``) instead of waiting without end.
"""

from __future__ import annotations

import asyncio
import math

from cupola.errors import Overloaded


class Admission:
    def __init__(self, name: str, capacity: int, max_queue: int) -> None:
        self.name = name
        self.capacity = capacity
        self.max_queue = max_queue
        self.running = 0
        self.waiting = 0
        self._slots = asyncio.Semaphore(capacity)
        self.avg_seconds = 2.0  # moving average of request time, for Retry-After

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

    @property
    def busy(self) -> bool:
        return self.running + self.waiting > 0
