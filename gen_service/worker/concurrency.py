"""Adaptive concurrency per teacher: additive increase, multiplicative decrease (AIMD).

`AimdConcurrency` is a resizable semaphore. Every call to a teacher holds one slot:

    aimd = AimdConcurrency(initial=16, minimum=1, maximum=256)
    async with aimd.slot():
        response = await send(...)
    if response.status_code == 429:
        aimd.on_throttle()
    elif response.is_success:
        aimd.on_success()

- `on_success()`: after a window of successes as long as the current limit (about one round trip
  of the whole pool), the limit grows by `increase`, up to `maximum`.
- `on_throttle()`: the limit is multiplied by `decrease_factor` (rounded down, never below
  `minimum`). A burst of 429s from calls that were all in flight together is one congestion signal,
  not many: throttles within `cooldown_s` of the last decrease are ignored, and so are the
  successes counted before it.

Lowering the limit never interrupts a call: slots above the new limit are simply not handed out
again when they are returned. Waiters are served first come, first served. Time comes from the
injected `clock` (seconds, monotonic), so tests move it by hand.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

__all__ = ["AimdConcurrency"]


class AimdConcurrency:
    """A concurrency limit that adapts to throttling. Not thread-safe: one event loop."""

    def __init__(
        self,
        initial: int,
        minimum: int,
        maximum: int,
        increase: int = 1,
        decrease_factor: float = 0.5,
        *,
        cooldown_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= minimum <= initial <= maximum:
            raise ValueError(f"need 1 <= minimum <= initial <= maximum, got {minimum}, {initial}, {maximum}")
        if increase < 1:
            raise ValueError(f"increase must be >= 1, got {increase}")
        if not 0.0 < decrease_factor < 1.0:
            raise ValueError(f"decrease_factor must be in (0, 1), got {decrease_factor}")
        if not (math.isfinite(cooldown_s) and cooldown_s >= 0):
            raise ValueError(f"cooldown_s must be a finite number >= 0, got {cooldown_s}")
        self._limit = initial
        self._minimum = minimum
        self._maximum = maximum
        self._increase = increase
        self._decrease_factor = decrease_factor
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._in_flight = 0
        self._successes = 0  # since the limit last changed
        self._last_decrease: float | None = None
        self._waiters: deque[asyncio.Future[None]] = deque()

    def __repr__(self) -> str:
        return f"AimdConcurrency(limit={self._limit}, in_flight={self._in_flight}, waiting={self.waiting})"

    @property
    def limit(self) -> int:
        """How many slots may be held at once right now."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """Slots held now (may exceed `limit` for a while after a decrease)."""
        return self._in_flight

    @property
    def waiting(self) -> int:
        return sum(1 for waiter in self._waiters if not waiter.done())

    async def acquire(self) -> None:
        """Wait for a slot (FIFO). Pair with `release()`, or use `slot()`."""
        if self._in_flight < self._limit and not self._waiters:
            self._in_flight += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # Granted and cancelled in the same turn of the loop: hand the slot on.
                self.release()
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Return a slot taken by `acquire()`."""
        if self._in_flight <= 0:
            raise RuntimeError("release() without a matching acquire()")
        self._in_flight -= 1
        self._wake()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the duration of the block."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    def on_success(self) -> None:
        """A call succeeded: after `limit` successes in a row the limit grows by `increase`."""
        if self._in_cooldown():
            return
        self._successes += 1
        if self._successes >= self._limit:
            self._successes = 0
            if self._limit < self._maximum:
                self._limit = min(self._maximum, self._limit + self._increase)
                self._wake()

    def on_throttle(self) -> None:
        """A call was throttled (429): shrink the limit, at most once per `cooldown_s`."""
        if self._in_cooldown():
            return
        self._last_decrease = self._clock()
        self._successes = 0
        self._limit = max(self._minimum, math.floor(self._limit * self._decrease_factor))

    def _in_cooldown(self) -> bool:
        return self._last_decrease is not None and self._clock() - self._last_decrease < self._cooldown_s

    def _wake(self) -> None:
        while self._waiters and self._in_flight < self._limit:
            waiter = self._waiters.popleft()
            if waiter.done():  # cancelled while queued
                continue
            self._in_flight += 1
            waiter.set_result(None)
