"""GCRA arithmetic, the waiting loop, fail-closed retries and AIMD, on a manual clock: nothing sleeps.

`Sched` is a clock plus a `sleep` that moves it; the limiter under test sleeps through it, so
"waits 2 s" means "asked to sleep 2 s and the clock moved". A `hook` lets a test act while a caller
sleeps (another worker penalizes, Redis loses its state).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gen_service.serialization import dumps
from gen_service.worker.concurrency import AimdConcurrency
from gen_service.worker.ratelimit import (
    LocalGcraLimiter,
    RateLimitedTransport,
    RedisGcraLimiter,
    TeacherLimits,
    _costs,
    _reserve,
    _State,
    estimate_request_tokens,
)


class Sched:
    """A manual clock (seconds) and a sleep that advances it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.waits: list[float] = []
        self.hook: Callable[[], Any] | None = None

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.hook is not None:
            hook, self.hook = self.hook, None
            result = hook()
            if asyncio.iscoroutine(result):
                await result
        self.now += seconds


def local(sched: Sched, **limits: TeacherLimits) -> LocalGcraLimiter:
    return LocalGcraLimiter(limits, clock=sched, sleep=sched.sleep)


def window_max(times: list[float], width: float, weights: list[float] | None = None) -> float:
    """The largest total weight of `times` inside any closed window [t, t + width]."""
    pairs = sorted(zip(times, weights or [1.0] * len(times), strict=True))
    best = 0.0
    for i, (start, _) in enumerate(pairs):
        best = max(best, sum(w for t, w in pairs[i:] if t <= start + width + 1e-9))
    return best


# --- TeacherLimits --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rpm": 0, "tpm": None},
        {"rpm": -1, "tpm": None},
        {"rpm": math.inf, "tpm": None},
        {"rpm": None, "tpm": math.nan},
        {"rpm": 60, "tpm": None, "burst": 0},
        {"rpm": 60, "tpm": 100, "token_burst": -1},
    ],
)
def test_limits_reject_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        TeacherLimits(**kwargs)


# --- the request bucket ---------------------------------------------------------------------------


async def test_steady_rate_spaces_requests_one_interval_apart() -> None:
    sched = Sched()
    limiter = local(sched, t=TeacherLimits(rpm=60, tpm=None))
    admitted = [await limiter.acquire_at("t") - 1000.0 for _ in range(4)]
    assert admitted == pytest.approx([0.0, 1.0, 2.0, 3.0])
    assert sched.waits == pytest.approx([1.0, 1.0, 1.0])


async def test_burst_goes_back_to_back_from_idle_then_refills() -> None:
    sched = Sched()
    limiter = local(sched, t=TeacherLimits(rpm=60, tpm=None, burst=3))
    first = [await limiter.acquire_at("t") - 1000.0 for _ in range(4)]
    assert first == pytest.approx([0.0, 0.0, 0.0, 1.0])
    sched.now += 10.0  # idle long enough to refill the whole burst
    again = [await limiter.acquire_at("t") - 1011.0 for _ in range(4)]
    assert again == pytest.approx([0.0, 0.0, 0.0, 1.0])


async def test_teachers_have_separate_budgets_and_unknown_ones_are_unlimited() -> None:
    sched = Sched()
    limiter = local(sched, a=TeacherLimits(rpm=60, tpm=None), b=TeacherLimits(rpm=60, tpm=None))
    await limiter.acquire("a")
    await limiter.acquire("b")
    for _ in range(50):
        await limiter.acquire("other")
    assert sched.waits == []
    await limiter.acquire("a")
    assert sched.waits == pytest.approx([1.0])


@settings(max_examples=200, deadline=None)
@given(
    rpm=st.sampled_from([30.0, 60.0, 120.0, 600.0, 7.0]),
    burst=st.integers(1, 6),
    gaps=st.lists(st.floats(0.0, 3.0, allow_nan=False), min_size=1, max_size=60),
    width=st.floats(0.0, 20.0, allow_nan=False),
)
def test_no_window_ever_holds_more_than_burst_plus_rate(
    rpm: float, burst: int, gaps: list[float], width: float
) -> None:
    """The GCRA guarantee, on the pure function: in any window of W seconds at most
    burst + ⌊W/T⌋ requests are admitted, whatever the arrival pattern."""
    costs = _costs(TeacherLimits(rpm=rpm, tpm=None, burst=burst), 0)
    state: _State | None = None
    now = 10**12
    slots: list[float] = []
    for gap in gaps:
        now += round(gap * 1e6)
        state, grant = _reserve(state, now, costs)
        assert grant.wait_us >= 0 and grant.slot_us == now + grant.wait_us
        slots.append(grant.slot_us / 1e6)
    interval = costs.req_inc / 1e6
    assert window_max(slots, width) <= burst + math.floor(width / interval + 1e-9)


# --- the token bucket -----------------------------------------------------------------------------


async def test_tokens_bucket_spaces_by_cost() -> None:
    sched = Sched()
    limiter = local(sched, t=TeacherLimits(rpm=None, tpm=600))  # 10 tokens a second
    assert await limiter.acquire_at("t", tokens=50) == pytest.approx(1000.0)
    assert await limiter.acquire_at("t", tokens=10) == pytest.approx(1005.0)
    assert await limiter.acquire_at("t", tokens=0) == pytest.approx(1006.0)
    # a request costing nothing still waits for the debt of the ones before it, and adds none
    assert await limiter.acquire_at("t", tokens=20) == pytest.approx(1006.0)
    assert await limiter.acquire_at("t", tokens=1) == pytest.approx(1008.0)


async def test_a_request_larger_than_the_budget_goes_from_idle_and_its_debt_delays_the_next() -> None:
    sched = Sched()
    limiter = local(sched, t=TeacherLimits(rpm=None, tpm=60))  # 1 token a second
    assert await limiter.acquire_at("t", tokens=120) == pytest.approx(1000.0)
    assert await limiter.acquire_at("t", tokens=1) == pytest.approx(1120.0)


async def test_token_burst_lets_the_schedule_run_ahead() -> None:
    sched = Sched()
    limiter = local(sched, t=TeacherLimits(rpm=None, tpm=600, token_burst=100))
    times = [await limiter.acquire_at("t", tokens=40) - 1000.0 for _ in range(5)]
    # 40 + 40 + 40 = 120 tokens scheduled ahead by 12 s; admitted while ≤ 10 s (100 tokens) ahead
    assert times == pytest.approx([0.0, 0.0, 0.0, 2.0, 6.0])


async def test_both_buckets_apply_and_the_stricter_one_wins() -> None:
    sched = Sched()
    limiter = local(sched, t=TeacherLimits(rpm=60, tpm=600))  # 1 request/s, 10 tokens/s
    times = [await limiter.acquire_at("t", tokens=tokens) - 1000.0 for tokens in (5, 5, 30, 5, 5)]
    # rpm spaces the small ones by 1 s; the 30-token request puts the token schedule 3 s out
    assert times == pytest.approx([0.0, 1.0, 2.0, 5.0, 6.0])


async def test_unlimited_never_waits() -> None:
    sched = Sched()
    limiter = local(sched, t=TeacherLimits(rpm=None, tpm=None))
    for _ in range(100):
        await limiter.acquire("t", tokens=10**6)
    assert sched.waits == []


async def test_negative_tokens_are_refused() -> None:
    limiter = local(Sched(), t=TeacherLimits(rpm=60, tpm=None))
    with pytest.raises(ValueError, match="tokens"):
        await limiter.acquire("t", tokens=-1)


# --- penalties ------------------------------------------------------------------------------------


async def test_penalty_holds_everyone_back_then_the_rate_resumes() -> None:
    sched = Sched()
    limiter = local(sched, t=TeacherLimits(rpm=60, tpm=None, burst=2))
    await limiter.acquire("t")
    await limiter.penalize("t", 5.0)
    times = [await limiter.acquire_at("t") - 1000.0 for _ in range(3)]
    # held until 1005; the slot burned before the penalty moved back with it, so no fresh burst
    assert times == pytest.approx([5.0, 6.0, 7.0])


async def test_overlapping_penalties_do_not_stack() -> None:
    sched = Sched()
    limiter = local(sched, t=TeacherLimits(rpm=None, tpm=None))
    await limiter.penalize("t", 5.0)
    sched.now += 1.0
    await limiter.penalize("t", 2.0)  # ends at 1003, inside the first one: no change
    await limiter.penalize("t", 6.0)  # ends at 1007: two more seconds
    assert await limiter.acquire_at("t") == pytest.approx(1007.0)


async def test_penalty_applies_to_unlimited_teachers_and_negative_values_are_zero() -> None:
    sched = Sched()
    limiter = local(sched)
    await limiter.penalize("t", -3.0)
    assert await limiter.acquire_at("t") == pytest.approx(1000.0)
    await limiter.penalize("t", 1.5)
    assert await limiter.acquire_at("t") == pytest.approx(1001.5)
    with pytest.raises(ValueError, match="finite"):
        await limiter.penalize("t", math.nan)


async def test_a_caller_already_sleeping_on_its_slot_is_moved_back_by_a_penalty() -> None:
    sched = Sched()
    limiter = local(sched, t=TeacherLimits(rpm=60, tpm=None))
    await limiter.acquire("t")  # slot 1000
    # while the next caller sleeps towards its slot (1001), another worker sees a 429
    sched.hook = lambda: limiter.penalize("t", 4.0)
    assert await limiter.acquire_at("t") == pytest.approx(1005.0)
    assert sched.waits == pytest.approx([1.0, 4.0])
    assert await limiter.acquire_at("t") == pytest.approx(1006.0)


async def test_lost_state_while_sleeping_means_reserve_again() -> None:
    sched = Sched()
    limiter = local(sched, t=TeacherLimits(rpm=60, tpm=None))
    await limiter.acquire("t")
    sched.hook = lambda: limiter._states.clear()  # what a Redis restart does to the hash
    # woke at 1001, found a new state: reserved again (immediately, the new state is idle)
    assert await limiter.acquire_at("t") == pytest.approx(1001.0)
    assert sched.waits == pytest.approx([1.0])


# --- RedisGcraLimiter fails closed (a fake Redis; the real one is in the integration tests) --------


class FlakyRedis:
    """Stands in for redis.asyncio.Redis: its script fails with `errors`, then answers `answer`."""

    def __init__(self, errors: list[Exception], answer: list[int]) -> None:
        self.errors = list(errors)
        self.answer = answer
        self.calls: list[tuple[list[str], list[Any]]] = []

    def register_script(self, script: str) -> Callable[..., Any]:
        assert "redis.call('TIME')" in script

        async def run(keys: list[str], args: list[Any]) -> list[int]:
            self.calls.append((keys, args))
            if self.errors:
                raise self.errors.pop(0)
            return self.answer

        return run


async def test_redis_outage_blocks_with_capped_backoff_then_recovers() -> None:
    errors: list[Exception] = [RedisConnectionError("refused")] * 8 + [RedisTimeoutError("slow")]
    fake = FlakyRedis(errors, answer=[0, 5_000_000, 1, 0])
    sched = Sched()
    limiter = RedisGcraLimiter(
        fake,  # type: ignore[arg-type]
        limits={"t": TeacherLimits(rpm=60, tpm=None)},
        prefix="p",
        sleep=sched.sleep,
        backoff_initial_s=0.1,
        backoff_max_s=1.0,
    )
    assert await limiter.acquire_at("t") == pytest.approx(5.0)
    assert len(fake.calls) == 10  # nine failures, then the answer: never let through on a failure
    assert len(sched.waits) == 9
    caps = [min(1.0, 0.1 * 2**i) for i in range(9)]
    for wait, cap in zip(sched.waits, caps, strict=True):
        assert cap / 2 <= wait <= cap
    assert fake.calls[0][0] == ["p:t"]
    assert fake.calls[0][1][0] == "acquire"


async def test_redis_errors_other_than_unavailability_propagate() -> None:
    fake = FlakyRedis([ResponseError("WRONGTYPE")], answer=[0, 0, 1, 0])
    limiter = RedisGcraLimiter(fake, limits={}, prefix="p", sleep=Sched().sleep)  # type: ignore[arg-type]
    with pytest.raises(ResponseError):
        await limiter.acquire("t")


async def test_penalize_also_waits_for_redis() -> None:
    fake = FlakyRedis([RedisConnectionError("down")] * 3, answer=[2_000_000])
    sched = Sched()
    limiter = RedisGcraLimiter(fake, limits={}, prefix="p", sleep=sched.sleep)  # type: ignore[arg-type]
    await limiter.penalize("t", 2.0)
    assert len(sched.waits) == 3
    assert fake.calls[-1][1][:2] == ["penalize", 2_000_000]


# --- AIMD -----------------------------------------------------------------------------------------


def test_aimd_rejects_bad_bounds() -> None:
    with pytest.raises(ValueError, match="minimum"):
        AimdConcurrency(initial=10, minimum=20, maximum=30)
    with pytest.raises(ValueError, match="decrease_factor"):
        AimdConcurrency(initial=1, minimum=1, maximum=2, decrease_factor=1.0)


def test_aimd_additive_increase_per_window_of_successes_up_to_maximum() -> None:
    aimd = AimdConcurrency(initial=4, minimum=1, maximum=6, clock=Sched())
    for _ in range(3):
        aimd.on_success()
    assert aimd.limit == 4
    aimd.on_success()  # a full window of 4
    assert aimd.limit == 5
    for _ in range(5):
        aimd.on_success()
    assert aimd.limit == 6
    for _ in range(60):
        aimd.on_success()
    assert aimd.limit == 6


def test_aimd_multiplicative_decrease_once_per_cooldown_and_never_below_minimum() -> None:
    clock = Sched()
    aimd = AimdConcurrency(initial=40, minimum=3, maximum=64, cooldown_s=2.0, clock=clock)
    for _ in range(10):  # one burst of 429s from calls in flight together
        aimd.on_throttle()
    assert aimd.limit == 20
    for _ in range(100):  # successes during the cooldown came from before the decrease
        aimd.on_success()
    assert aimd.limit == 20
    clock.now += 2.0
    aimd.on_throttle()
    assert aimd.limit == 10
    for _ in range(5):
        clock.now += 2.0
        aimd.on_throttle()
    assert aimd.limit == 3
    clock.now += 2.0
    for _ in range(3):
        aimd.on_success()
    assert aimd.limit == 4


async def test_aimd_slots_are_fifo_and_a_decrease_lets_calls_in_flight_finish() -> None:
    aimd = AimdConcurrency(initial=2, minimum=1, maximum=8, cooldown_s=0.0, clock=Sched())
    order: list[str] = []
    release = {name: asyncio.Event() for name in "abcd"}

    async def call(name: str) -> None:
        async with aimd.slot():
            order.append(name)
            await release[name].wait()

    tasks = [asyncio.create_task(call(name)) for name in "abcd"]
    await asyncio.sleep(0)
    assert order == ["a", "b"] and aimd.in_flight == 2 and aimd.waiting == 2
    aimd.on_throttle()  # limit 1: a and b keep running, nobody new starts
    assert aimd.limit == 1
    release["a"].set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert order == ["a", "b"] and aimd.in_flight == 1
    release["b"].set()
    for _ in range(3):
        await asyncio.sleep(0)
    assert order == ["a", "b", "c"]
    aimd.on_success()  # a window of 1 success: limit 2 wakes d
    await asyncio.sleep(0)
    assert order == ["a", "b", "c", "d"]
    release["c"].set()
    release["d"].set()
    await asyncio.gather(*tasks)
    assert aimd.in_flight == 0


async def test_aimd_cancelled_waiter_gives_nothing_away() -> None:
    aimd = AimdConcurrency(initial=1, minimum=1, maximum=1, clock=Sched())
    await aimd.acquire()
    waiter = asyncio.create_task(aimd.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    aimd.release()
    assert aimd.in_flight == 0 and aimd.waiting == 0
    # granted and cancelled in the same turn: the slot is handed back, not leaked
    await aimd.acquire()
    waiter = asyncio.create_task(aimd.acquire())
    await asyncio.sleep(0)
    aimd.release()  # grants the waiter...
    waiter.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert aimd.in_flight == 0
    with pytest.raises(RuntimeError):
        aimd.release()


# --- RateLimitedTransport -------------------------------------------------------------------------


class RecordingLimiter:
    def __init__(self) -> None:
        self.acquired: list[tuple[str, int]] = []
        self.penalties: list[tuple[str, float]] = []

    async def acquire(self, teacher: str, *, tokens: int = 0) -> None:
        self.acquired.append((teacher, tokens))

    async def penalize(self, teacher: str, retry_after_s: float) -> None:
        self.penalties.append((teacher, retry_after_s))


async def test_transport_charges_every_attempt_and_reports_429s_to_limiter_and_aimd() -> None:
    replies = iter(
        [
            httpx.Response(429, headers={"retry-after": "3"}),
            httpx.Response(429),
            httpx.Response(429, headers={"retry-after": "-5"}),
            httpx.Response(200, json={"ok": True}),
            httpx.Response(500),
        ]
    )
    limiter = RecordingLimiter()
    aimd = AimdConcurrency(initial=8, minimum=1, maximum=8, cooldown_s=0.0, clock=Sched())
    transport = RateLimitedTransport(
        httpx.MockTransport(lambda request: next(replies)),
        teacher="stub",
        limiter=limiter,
        concurrency=aimd,
        default_penalty_s=1.5,
    )
    body = dumps({"messages": [{"role": "user", "content": "x" * 40}], "max_tokens": 100})
    async with httpx.AsyncClient(transport=transport) as client:
        statuses = [
            (await client.post("http://t/v1/chat/completions", content=body)).status_code for _ in "12345"
        ]
    assert statuses == [429, 429, 429, 200, 500]
    assert limiter.acquired == [("stub", 110)] * 5
    assert limiter.penalties == [("stub", 3.0), ("stub", 1.5), ("stub", 1.5)]
    assert aimd.limit == 2  # 8 → 4 → 2 → 1 on the 429s, then +1 after a window of one success
    assert aimd.in_flight == 0


def test_request_token_estimate() -> None:
    def request(body: Any) -> httpx.Request:
        return httpx.Request("POST", "http://t/", content=body if isinstance(body, bytes) else dumps(body))

    assert estimate_request_tokens(request({"messages": [{"content": "abcd" * 10}]})) == 10
    assert (
        estimate_request_tokens(request({"messages": [], "max_completion_tokens": 7, "max_tokens": 9})) == 7
    )
    assert estimate_request_tokens(request(b"not json")) == 0
    assert estimate_request_tokens(request([1, 2])) == 0


async def test_scattered_429s_do_not_move_the_pool_but_a_storm_does() -> None:
    # 1 in 20 answers throttled: the pool keeps its size and budget (the client retries the one call).
    pattern = ([200] * 19 + [429]) * 5 + [429] * 30
    replies = iter(pattern)
    limiter = RecordingLimiter()
    aimd = AimdConcurrency(initial=8, minimum=1, maximum=8, cooldown_s=0.0, clock=Sched())
    transport = RateLimitedTransport(
        httpx.MockTransport(lambda request: httpx.Response(next(replies))),
        teacher="stub",
        limiter=limiter,
        concurrency=aimd,
        throttle_window=50,
        throttle_share=0.2,
    )
    async with httpx.AsyncClient(transport=transport) as client:
        for _ in range(100):
            await client.post("http://t/v1/chat/completions", content=b"{}")
        assert limiter.penalties == []
        assert aimd.limit == 8
        for _ in range(30):  # a storm: most answers are 429s
            await client.post("http://t/v1/chat/completions", content=b"{}")
    assert limiter.penalties, "sustained throttling backs the whole pool off"
    assert aimd.limit == 1


def test_throttle_window_is_validated() -> None:
    with pytest.raises(ValueError, match="throttle_window"):
        RateLimitedTransport(
            httpx.MockTransport(lambda r: httpx.Response(200)),
            teacher="t",
            limiter=RecordingLimiter(),
            throttle_window=0,
        )


async def test_tokens_are_estimated_only_where_the_limiter_charges_them() -> None:
    seen: list[bytes] = []

    def tokens_for(request: httpx.Request) -> int:
        seen.append(request.content)
        return 30

    sched = Sched()
    limiter = local(
        sched, rpm_only=TeacherLimits(rpm=60, tpm=None, burst=3), tpm=TeacherLimits(rpm=None, tpm=600)
    )
    assert (limiter.counts_tokens("rpm_only"), limiter.counts_tokens("tpm")) == (False, True)
    assert not limiter.counts_tokens("not_configured")
    ok = httpx.MockTransport(lambda request: httpx.Response(200))
    for teacher, expected_calls in [("rpm_only", 0), ("not_configured", 0), ("tpm", 3)]:
        seen.clear()
        transport = RateLimitedTransport(ok, teacher=teacher, limiter=limiter, tokens_for=tokens_for)
        async with httpx.AsyncClient(transport=transport) as client:
            for _ in range(3):
                assert (await client.post("http://t/", content=b"{}")).status_code == 200
        assert len(seen) == expected_calls, teacher
    # 30 tokens at 600/min is 3 s of budget each: the tpm teacher's estimate was charged
    assert sched.waits == pytest.approx([3.0, 3.0])


async def test_transport_returns_the_concurrency_slot_when_sending_fails() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    aimd = AimdConcurrency(initial=1, minimum=1, maximum=1, clock=Sched())
    transport = RateLimitedTransport(
        httpx.MockTransport(refuse), teacher="t", limiter=RecordingLimiter(), concurrency=aimd
    )
    async with httpx.AsyncClient(transport=transport) as client:
        for _ in range(2):  # with a limit of 1, a leaked slot would make the second call hang
            with pytest.raises(httpx.ConnectError):
                await asyncio.wait_for(client.post("http://t/", content=b"{}"), 5)
    assert aimd.in_flight == 0
