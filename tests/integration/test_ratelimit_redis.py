"""RedisGcraLimiter against real Redis: the shared one on 6379 (own key prefix, cleaned up), and a
private `redis-server` on a free port for the outage test (the shared one is never stopped).

Rates are set so every test finishes in about a second or two. Assertions are on counts inside
windows: of admission times on the Redis server's clock (what `acquire_at` returns), and of the
local times at which `acquire` returned, with a tolerance for a busy event loop. Never on how long
a test took.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gen_service.worker.ratelimit import RedisGcraLimiter, TeacherLimits, _costs, _reserve, _State
from tests.acceptance.procs import free_port
from tests.unit.test_ratelimit import window_max

SHARED_REDIS = ("127.0.0.1", 6379)
# How late a woken coroutine may run on this shared 2-core machine, for times taken locally.
LATENESS_S = 0.25


def fast_failing_client(port: int) -> Redis:
    """A client that reports an unreachable server at once: the limiter does the retrying."""
    return Redis(
        host="127.0.0.1",
        port=port,
        socket_connect_timeout=0.5,
        socket_timeout=0.5,
        retry=Retry(NoBackoff(), 0),
    )


@pytest.fixture
def prefix() -> str:
    return f"test:ratelimit:{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis(prefix: str) -> AsyncIterator[Redis]:
    client = fast_failing_client(SHARED_REDIS[1])
    yield client
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def timed(limiter: RedisGcraLimiter) -> Callable[[], Coroutine[Any, Any, tuple[float, float]]]:
    """One acquire of teacher "t": (admission time on Redis's clock, local time it returned)."""

    async def one() -> tuple[float, float]:
        slot = await limiter.acquire_at("t")
        return slot, time.time()

    return one


def assert_within_budget(times: list[float], *, interval: float, burst: int, slack: float) -> None:
    for width in (0.0, 0.25, 0.5, 1.0, 2.0):
        bound = burst + math.floor((width + slack) / interval + 1e-9)
        assert window_max(times, width) <= bound, (width, sorted(times))


async def test_lua_script_does_the_python_arithmetic(redis: Redis, prefix: str) -> None:
    """Replay each script call in Python, from the state Redis held and the server time it used."""
    limits = TeacherLimits(rpm=6000, tpm=60_000, burst=3, token_burst=500)
    limiter = RedisGcraLimiter(redis, limits={"t": limits}, prefix=prefix)
    key = limiter.key("t")
    for tokens in (0, 10, 400, 3, 3, 900, 0, 1, 250, 7):
        raw = await redis.hgetall(key)
        before = (
            _State(
                gen=int(raw[b"gen"]),
                req=int(raw[b"req"]) if b"req" in raw else None,
                tok=int(raw[b"tok"]) if b"tok" in raw else None,
                pen=int(raw[b"pen"]),
                shift=int(raw[b"shift"]),
            )
            if raw
            else None
        )
        costs = _costs(limits, tokens)
        grant = await limiter._reserve("t", costs)
        server_now = grant.slot_us - grant.wait_us
        expected_state, expected_grant = _reserve(before, server_now, costs)
        after = await redis.hgetall(key)
        assert grant == expected_grant
        assert (int(after[b"req"]), int(after[b"tok"])) == (expected_state.req, expected_state.tok)
    assert 0 < await redis.pttl(key) <= 60_000 + 10_000


async def test_burst_then_steady_rate(redis: Redis, prefix: str) -> None:
    interval, burst = 0.1, 4
    limiter = RedisGcraLimiter(
        redis, limits={"t": TeacherLimits(rpm=60 / interval, tpm=None, burst=burst)}, prefix=prefix
    )
    results = await asyncio.gather(*(timed(limiter)() for _ in range(16)))
    slots = [slot for slot, _ in results]
    assert_within_budget(slots, interval=interval, burst=burst, slack=0.0)
    assert_within_budget([at for _, at in results], interval=interval, burst=burst, slack=LATENESS_S)
    # the schedule itself: after the burst, the n-th slot is n intervals after the first one
    ordered = sorted(slots)
    for n in range(1, len(ordered) - burst + 1):
        assert ordered[burst - 1 + n] >= ordered[0] + n * interval - 1e-5


async def test_tokens_bucket(redis: Redis, prefix: str) -> None:
    rate, cost = 200.0, 50  # tokens a second; each request costs a quarter of a second
    limiter = RedisGcraLimiter(
        redis, limits={"t": TeacherLimits(rpm=None, tpm=rate * 60, token_burst=0)}, prefix=prefix
    )
    slots = await asyncio.gather(*(limiter.acquire_at("t", tokens=cost) for _ in range(6)))
    for width in (0.0, 0.3, 0.6, 1.0):
        assert window_max(slots, width, [cost] * len(slots)) <= cost + width * rate + 1e-6
    # a zero-token request is still held back by the token debt, and adds none
    assert await limiter.acquire_at("t", tokens=0) >= max(slots) + cost / rate - 1e-6


async def test_penalize_moves_everyone_back_including_callers_already_asleep(
    redis: Redis, prefix: str
) -> None:
    asleep = 0

    async def counting_sleep(seconds: float) -> None:
        nonlocal asleep
        asleep += 1
        await asyncio.sleep(seconds)

    limiter = RedisGcraLimiter(
        redis,
        limits={"t": TeacherLimits(rpm=600, tpm=None)},
        prefix=prefix,
        sleep=counting_sleep,
    )
    first = await limiter.acquire_at("t")
    waiters = [asyncio.create_task(timed(limiter)()) for _ in range(4)]
    deadline = time.monotonic() + 10
    while asleep < 4:  # all four hold a slot and sleep towards it
        assert time.monotonic() < deadline, "waiters never reserved"
        await asyncio.sleep(0.005)
    penalized_at = time.time()
    await limiter.penalize("t", 1.0)
    results = await asyncio.gather(*waiters)
    later = await limiter.acquire_at("t")
    for slot, returned_at in results:
        assert slot >= first + 1.0
        assert returned_at >= penalized_at + 1.0 - 0.02
    assert later >= first + 1.0
    assert_within_budget([s for s, _ in results] + [later], interval=0.1, burst=1, slack=0.0)


async def test_two_limiters_in_two_clients_share_one_budget(redis: Redis, prefix: str) -> None:
    other = fast_failing_client(SHARED_REDIS[1])
    try:
        limits = {"t": TeacherLimits(rpm=600, tpm=None, burst=2)}
        a = RedisGcraLimiter(redis, limits=limits, prefix=prefix)
        b = RedisGcraLimiter(other, limits=limits, prefix=prefix)
        results = await asyncio.gather(*(timed(limiter)() for limiter in (a, b) * 6))
    finally:
        await other.aclose()
    assert_within_budget([slot for slot, _ in results], interval=0.1, burst=2, slack=0.0)
    assert_within_budget([at for _, at in results], interval=0.1, burst=2, slack=LATENESS_S)


class PrivateRedis:
    """A throw-away redis-server on its own port: this test may stop it."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=self._log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while (
            subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, check=False
            ).stdout.strip()
            != b"PONG"
        ):
            assert self._process.poll() is None, self._log.read_text()
            assert time.monotonic() < deadline, "private redis-server did not come up"
            time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=15)
        self._process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_fails_closed_while_redis_is_away_and_recovers_by_itself(private_redis: PrivateRedis) -> None:
    waits: list[float] = []

    async def recording_sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    client = fast_failing_client(private_redis.port)
    limiter = RedisGcraLimiter(
        client,
        limits={"t": TeacherLimits(rpm=600, tpm=None, burst=2)},
        prefix="test:ratelimit:private",
        sleep=recording_sleep,
        backoff_initial_s=0.02,
        backoff_max_s=0.2,
    )
    try:
        await limiter.acquire("t")
        private_redis.stop()
        callers = [asyncio.create_task(timed(limiter)()) for _ in range(10)]
        await asyncio.sleep(1.0)  # observe the outage for a while: nobody may pass
        assert not any(task.done() for task in callers)
        outage_waits = list(waits)
        assert len(outage_waits) >= 10  # every caller kept retrying...
        assert max(outage_waits) <= 0.2  # ...with capped backoff
        private_redis.start()  # same port, empty state, empty script cache
        results = await asyncio.wait_for(asyncio.gather(*callers), timeout=20)
    finally:
        await client.aclose()
    # back in business, and still within budget: no storm of the calls that queued up meanwhile
    assert_within_budget([slot for slot, _ in results], interval=0.1, burst=2, slack=0.0)
    assert_within_budget([at for _, at in results], interval=0.1, burst=2, slack=LATENESS_S)
