from ratelimit import FakeClock, RateLimiter


def test_keys_are_independent():
    limiter = RateLimiter(capacity=1, rate=1, clock=FakeClock())
    assert limiter.allow("a")
    assert not limiter.allow("a")
    assert limiter.allow("b")


def test_burst_after_idle_is_capped():
    clock = FakeClock()
    limiter = RateLimiter(capacity=3, rate=0.5, clock=clock)
    assert [limiter.allow("a") for _ in range(3)] == [True, True, True]
    clock.advance(100)
    allowed = sum(limiter.allow("a") for _ in range(10))
    assert allowed == 3


def test_remaining_for_new_key():
    limiter = RateLimiter(capacity=4, rate=2, clock=FakeClock())
    assert limiter.remaining("fresh") == 4
