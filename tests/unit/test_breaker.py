from __future__ import annotations

from gen_service.clock import ManualClock
from gen_service.worker.breaker import BreakerState, CircuitBreaker


def test_opens_after_threshold_and_probes_after_cooldown() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(threshold=3, cooldown_s=10, clock=clock)
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state == BreakerState.CLOSED
    assert breaker.claim_limit(32) == 32
    breaker.record_failure()
    assert breaker.state == BreakerState.OPEN
    assert breaker.claim_limit(32) == 0
    assert breaker.seconds_until_retry() == 10
    clock.advance(10)
    assert breaker.state == BreakerState.HALF_OPEN
    assert breaker.claim_limit(32) == 1
    breaker.record_success()
    assert breaker.state == BreakerState.CLOSED
    assert breaker.claim_limit(32) == 32


def test_failed_probe_reopens_with_a_longer_cooldown() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(threshold=1, cooldown_s=5, max_cooldown_s=12, clock=clock)
    breaker.record_failure()
    clock.advance(5)
    assert breaker.state == BreakerState.HALF_OPEN
    breaker.record_failure()
    assert breaker.state == BreakerState.OPEN
    assert breaker.seconds_until_retry() == 10
    clock.advance(10)
    breaker.record_failure()
    assert breaker.seconds_until_retry() == 12  # capped
    assert breaker.opened_count == 3


def test_success_resets_the_failure_streak() -> None:
    breaker = CircuitBreaker(threshold=2, clock=ManualClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == BreakerState.CLOSED
