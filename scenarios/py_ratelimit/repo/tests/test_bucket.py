import pytest

from ratelimit import FakeClock, TokenBucket


def test_starts_full():
    bucket = TokenBucket(capacity=3, rate=1, clock=FakeClock())
    assert [bucket.try_take() for _ in range(4)] == [True, True, True, False]


def test_refills_over_time():
    clock = FakeClock()
    bucket = TokenBucket(capacity=2, rate=1, clock=clock)
    assert bucket.try_take(2)
    assert not bucket.try_take()
    clock.advance(1)
    assert bucket.try_take()
    assert not bucket.try_take()


def test_idle_bucket_holds_at_most_capacity():
    clock = FakeClock()
    bucket = TokenBucket(capacity=5, rate=1, clock=clock)
    clock.advance(60)
    assert bucket.available() == 5


def test_rejects_bad_config():
    with pytest.raises(ValueError):
        TokenBucket(capacity=0, rate=1, clock=FakeClock())
