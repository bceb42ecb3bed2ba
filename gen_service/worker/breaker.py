"""Circuit breaker for a teacher outage.

After `threshold` consecutive infrastructure failures (calls that exhausted their retries), the
breaker opens: the pool stops claiming leases for `cooldown_s` instead of burning retries on work it
would only release again. After the cooldown it is half-open: claiming resumes with a single probe
lease; a success closes it, a failure opens it again for another cooldown (doubled, capped).
Time is injected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from gen_service.clock import Clock, utc_now


class BreakerState(StrEnum):
    CLOSED = "closed"  # normal operation
    OPEN = "open"  # teacher presumed down: no claims until the cooldown ends
    HALF_OPEN = "half_open"  # cooldown over: one probe lease decides


@dataclass
class CircuitBreaker:
    threshold: int = 5
    cooldown_s: float = 30.0
    max_cooldown_s: float = 600.0
    clock: Clock = field(default=utc_now)
    consecutive_failures: int = 0
    opened_count: int = 0
    _state: BreakerState = BreakerState.CLOSED
    _open_until: float = 0.0
    _current_cooldown_s: float = 0.0

    def _now(self) -> float:
        return self.clock().timestamp()

    @property
    def state(self) -> BreakerState:
        if self._state == BreakerState.OPEN and self._now() >= self._open_until:
            self._state = BreakerState.HALF_OPEN
        return self._state

    def seconds_until_retry(self) -> float:
        return max(0.0, self._open_until - self._now()) if self.state == BreakerState.OPEN else 0.0

    def claim_limit(self, wanted: int) -> int:
        """How many leases the pool may claim now."""
        state = self.state
        if state == BreakerState.OPEN:
            return 0
        if state == BreakerState.HALF_OPEN:
            return min(wanted, 1)
        return wanted

    def record_success(self) -> None:
        self.consecutive_failures = 0
        self._state = BreakerState.CLOSED
        self._current_cooldown_s = 0.0

    def record_failure(self) -> None:
        self.consecutive_failures += 1
        if self._state == BreakerState.HALF_OPEN or self.consecutive_failures >= self.threshold:
            self._current_cooldown_s = min(
                self.max_cooldown_s,
                self._current_cooldown_s * 2 if self._current_cooldown_s else self.cooldown_s,
            )
            self._state = BreakerState.OPEN
            self._open_until = self._now() + self._current_cooldown_s
            self.opened_count += 1
