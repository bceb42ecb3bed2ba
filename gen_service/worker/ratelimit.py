"""One rate budget per teacher, shared by every worker: GCRA for requests and tokens per minute.

The port is `RateLimiter`:

- `acquire(teacher, tokens=n)` waits until one more request of `n` tokens fits the teacher's budget;
- `penalize(teacher, retry_after_s)` is called when any worker sees a 429: nothing is admitted for
  that teacher for `retry_after_s`, and everything already scheduled moves back by as much, so the
  whole pool backs off, not only the worker that was told to.

Two adapters, the same arithmetic (`_reserve`, `_penalize`, `_check` below, and `_SCRIPT`, which is
the same three functions in Lua):

- `RedisGcraLimiter`: the state lives in Redis, one hash per teacher, changed only by one Lua script
  that reads the *server's* clock (`TIME`), so every process on every host shares one budget and one
  time line. It fails closed: while Redis cannot be reached, `acquire` and `penalize` wait and retry
  with capped, jittered backoff (never letting a call through on a guess), and carry on by
  themselves once Redis answers again.
- `LocalGcraLimiter`: the same state in a dict, for the embedded mode (one process).

The arithmetic (GCRA as virtual scheduling, with reservations). Each bucket keeps a theoretical
arrival time `tat`; a request costs `T` = 60/rpm seconds on the request bucket and `tokens × 60/tpm`
seconds on the token bucket. A request that arrives at `now` is admitted at

    at = max(now, penalty_until, tat_req − τ_req, tat_tok − τ_tok)

and both buckets are charged at once: `tat ← max(tat, at) + cost`. The tolerance `τ_req` =
(burst − 1) × T lets `burst` requests go back to back from idle; in any window of length W at most
`burst + W/T` requests are admitted (rounded down). The token bucket admits a request while its
schedule is at most `token_burst` tokens ahead and then charges all of its tokens, so a request larger
than the budget still goes (from idle) and the debt delays the ones after it.

`acquire` reserves its slot in one round trip and sleeps until it; a caller that sleeps re-checks
once on waking (a second round trip) whether a penalty moved the schedule meanwhile, or whether the
state was lost (Redis restarted): then it sleeps the extra delay, or reserves again. A reservation
whose caller is cancelled is not returned: the budget errs on the side of fewer calls.

Times inside are integer microseconds, so the Lua script and Python compute the same numbers.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gen_service.core.tokens import estimate_tokens
from gen_service.serialization import JSONDecodeError, loads
from gen_service.worker.concurrency import AimdConcurrency
from gen_service.worker.teachers import parse_retry_after

__all__ = [
    "UNLIMITED",
    "LocalGcraLimiter",
    "RateLimitedTransport",
    "RateLimiter",
    "RedisGcraLimiter",
    "TeacherLimits",
    "estimate_request_tokens",
]

log = logging.getLogger("tracegen.ratelimit")

_US = 1_000_000
# A teacher's hash outlives its last scheduled slot by this much, so a caller that wakes late still
# finds the state it reserved in (and an idle teacher's state disappears by itself).
_TTL_MARGIN_MS = 60_000

# Redis failures worth waiting out: the server is away, restarting or loading. Anything else (a
# script error, a wrong type) is a bug and propagates.
_REDIS_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError)


@dataclass(frozen=True, slots=True)
class TeacherLimits:
    """A teacher's budget. `None` means unlimited.

    `TeacherLimits(rpm=600, tpm=200_000, burst=10)`: at most 600 requests and 200k tokens a minute,
    and up to 10 requests back to back after a quiet spell.
    """

    rpm: float | None  # requests per minute
    tpm: float | None  # tokens per minute (what callers pass as `tokens`)
    burst: int = 1  # requests that may go back to back from idle; 1 = evenly spaced
    token_burst: int = 0  # tokens the token schedule may run ahead and still admit a request

    def __post_init__(self) -> None:
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number or None, got {value}")
        if self.burst < 1:
            raise ValueError(f"burst must be >= 1, got {self.burst}")
        if self.token_burst < 0:
            raise ValueError(f"token_burst must be >= 0, got {self.token_burst}")


UNLIMITED = TeacherLimits(rpm=None, tpm=None)


class RateLimiter(Protocol):
    """The port: one budget per teacher, whoever holds the adapter."""

    async def acquire(self, teacher: str, *, tokens: int = 0) -> None:
        """Wait until one request of `tokens` tokens fits the teacher's budget; it is then charged."""
        ...

    async def penalize(self, teacher: str, retry_after_s: float) -> None:
        """The teacher said 429: admit nothing for `retry_after_s` and move the schedule back."""
        ...


@dataclass(frozen=True, slots=True)
class _Costs:
    """What one acquire asks of the buckets, in microseconds."""

    req_inc: int  # T of the request bucket; 0 when rpm is unlimited
    req_tol: int  # τ of the request bucket
    tok_on: bool  # whether tpm is limited
    tok_inc: int  # this request's tokens × 60/tpm
    tok_tol: int  # τ of the token bucket


def _costs(limits: TeacherLimits, tokens: int) -> _Costs:
    # Rounded up: the budget errs on the side of fewer calls.
    req_inc = math.ceil(60 * _US / limits.rpm) if limits.rpm is not None else 0
    if limits.tpm is None:
        return _Costs(req_inc, req_inc * (limits.burst - 1), False, 0, 0)
    per_token = 60 * _US / limits.tpm
    return _Costs(
        req_inc,
        req_inc * (limits.burst - 1),
        True,
        math.ceil(tokens * per_token),
        math.floor(limits.token_burst * per_token),
    )


@dataclass(frozen=True, slots=True)
class _Grant:
    wait_us: int  # how long after the limiter's `now` the slot is
    slot_us: int  # the admission time on the limiter's clock
    gen: int  # identity of the state the slot was reserved in (changes when the state is lost)
    shift: int  # total penalty shift of that state when reserved


@dataclass(slots=True)
class _State:
    gen: int
    req: int | None = None  # tat of the request bucket
    tok: int | None = None  # tat of the token bucket
    pen: int = 0  # nothing is admitted before this
    shift: int = 0  # sum of all penalty shifts so far


def _reserve(state: _State | None, now: int, costs: _Costs) -> tuple[_State, _Grant]:
    if state is None:
        state = _State(gen=now)
    at = max(now, state.pen)
    if costs.req_inc > 0 and state.req is not None:
        at = max(at, state.req - costs.req_tol)
    if costs.tok_on and state.tok is not None:
        at = max(at, state.tok - costs.tok_tol)
    if costs.req_inc > 0:
        state.req = max(state.req if state.req is not None else at, at) + costs.req_inc
    if costs.tok_on:
        state.tok = max(state.tok if state.tok is not None else at, at) + costs.tok_inc
    return state, _Grant(wait_us=at - now, slot_us=at, gen=state.gen, shift=state.shift)


def _penalize(state: _State | None, now: int, hold_us: int) -> _State:
    if state is None:
        state = _State(gen=now)
    until = now + hold_us
    base = max(state.pen, now)
    if until > base:
        delta = until - base
        state.pen = until
        state.shift += delta
        # Slots already handed out move back with the rest of the schedule.
        if state.req is not None and state.req > now:
            state.req += delta
        if state.tok is not None and state.tok > now:
            state.tok += delta
    return state


def _check(state: _State | None, gen: int, shift: int) -> int:
    """Extra wait for a reservation (µs), or -1 when the state it was made in is gone."""
    if state is None or state.gen != gen:
        return -1
    return state.shift - shift


# The three functions above, in Lua, against one hash per teacher. ARGV[1] is the mode.
_SCRIPT = """
-- Redis before 5 replicates scripts verbatim and refuses writes after TIME unless told otherwise.
if redis.replicate_commands then redis.replicate_commands() end
local key = KEYS[1]
local mode = ARGV[1]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local s = redis.call('HMGET', key, 'gen', 'req', 'tok', 'pen', 'shift')
local gen = tonumber(s[1])
local req = tonumber(s[2])
local tok = tonumber(s[3])
local pen = tonumber(s[4]) or 0
local shift = tonumber(s[5]) or 0

if mode == 'check' then
  if gen == nil or gen ~= tonumber(ARGV[2]) then
    return {-1}
  end
  return {shift - tonumber(ARGV[3])}
end

if gen == nil then
  gen = now
  req = nil
  tok = nil
  pen = 0
  shift = 0
end

local result
if mode == 'acquire' then
  local req_inc = tonumber(ARGV[2])
  local req_tol = tonumber(ARGV[3])
  local tok_on = ARGV[4] == '1'
  local tok_inc = tonumber(ARGV[5])
  local tok_tol = tonumber(ARGV[6])
  local at = math.max(now, pen)
  if req_inc > 0 and req ~= nil then at = math.max(at, req - req_tol) end
  if tok_on and tok ~= nil then at = math.max(at, tok - tok_tol) end
  if req_inc > 0 then req = math.max(req or at, at) + req_inc end
  if tok_on then tok = math.max(tok or at, at) + tok_inc end
  result = {at - now, at, gen, shift}
elseif mode == 'penalize' then
  local hold_until = now + tonumber(ARGV[2])
  local base = math.max(pen, now)
  if hold_until > base then
    local delta = hold_until - base
    pen = hold_until
    shift = shift + delta
    if req ~= nil and req > now then req = req + delta end
    if tok ~= nil and tok > now then tok = tok + delta end
  end
  result = {math.max(pen - now, 0)}
else
  return redis.error_reply('ratelimit: unknown mode ' .. tostring(mode))
end

local fields = {'gen', string.format('%.0f', gen), 'pen', string.format('%.0f', pen),
                'shift', string.format('%.0f', shift)}
local horizon = pen
if req ~= nil then
  table.insert(fields, 'req'); table.insert(fields, string.format('%.0f', req))
  horizon = math.max(horizon, req)
end
if tok ~= nil then
  table.insert(fields, 'tok'); table.insert(fields, string.format('%.0f', tok))
  horizon = math.max(horizon, tok)
end
redis.call('HSET', key, unpack(fields))
redis.call('PEXPIRE', key, math.max(0, math.ceil((horizon - now) / 1000)) + tonumber(ARGV[#ARGV]))
return result
"""


def _hold_us(retry_after_s: float) -> int:
    if math.isnan(retry_after_s) or math.isinf(retry_after_s):
        raise ValueError(f"retry_after_s must be finite, got {retry_after_s}")
    return max(0, math.ceil(retry_after_s * _US))


class _GcraLimiter(ABC):
    """The waiting loop both adapters share; subclasses say where the state lives."""

    def __init__(
        self,
        limits: Mapping[str, TeacherLimits],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._limits = dict(limits)
        self._sleep = sleep

    def limits_for(self, teacher: str) -> TeacherLimits:
        """The teacher's budget; a teacher not configured is unlimited (penalties still apply)."""
        return self._limits.get(teacher, UNLIMITED)

    def counts_tokens(self, teacher: str) -> bool:
        """Whether `acquire(teacher, tokens=...)` depends on `tokens` (only with a tpm budget).

        Fixed for the limiter's life: limits are set at construction."""
        return self.limits_for(teacher).tpm is not None

    async def acquire(self, teacher: str, *, tokens: int = 0) -> None:
        await self.acquire_at(teacher, tokens=tokens)

    async def acquire_at(self, teacher: str, *, tokens: int = 0) -> float:
        """`acquire`, returning the admission time in seconds on the limiter's clock (for tests and
        metrics; for `RedisGcraLimiter` that is the Redis server's Unix time)."""
        if tokens < 0:
            raise ValueError(f"tokens must be >= 0, got {tokens}")
        costs = _costs(self.limits_for(teacher), tokens)
        while True:
            grant = await self._reserve(teacher, costs)
            if grant.wait_us <= 0:
                return grant.slot_us / _US
            await self._sleep(grant.wait_us / _US)
            slot_us, shift = grant.slot_us, grant.shift
            while True:
                extra = await self._check(teacher, grant.gen, shift)
                if extra < 0:
                    break  # the state was lost (Redis restarted): reserve again
                if extra == 0:
                    return slot_us / _US
                # A penalty moved the schedule while we slept: our slot moved with it.
                await self._sleep(extra / _US)
                slot_us += extra
                shift += extra

    async def penalize(self, teacher: str, retry_after_s: float) -> None:
        await self._penalize(teacher, _hold_us(retry_after_s))

    @abstractmethod
    async def _reserve(self, teacher: str, costs: _Costs) -> _Grant: ...

    @abstractmethod
    async def _check(self, teacher: str, gen: int, shift: int) -> int: ...

    @abstractmethod
    async def _penalize(self, teacher: str, hold_us: int) -> None: ...


class LocalGcraLimiter(_GcraLimiter):
    """The limiter of one process (embedded mode): the same arithmetic, state in a dict.

    `clock` returns seconds (monotonic); tests pass a manual clock and a `sleep` that moves it.
    """

    def __init__(
        self,
        limits: Mapping[str, TeacherLimits],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(limits, sleep)
        self._clock = clock
        self._states: dict[str, _State] = {}

    def __repr__(self) -> str:
        return f"LocalGcraLimiter(teachers={sorted(self._limits)})"

    def _now(self) -> int:
        return round(self._clock() * _US)

    async def _reserve(self, teacher: str, costs: _Costs) -> _Grant:
        state, grant = _reserve(self._states.get(teacher), self._now(), costs)
        self._states[teacher] = state
        return grant

    async def _check(self, teacher: str, gen: int, shift: int) -> int:
        return _check(self._states.get(teacher), gen, shift)

    async def _penalize(self, teacher: str, hold_us: int) -> None:
        self._states[teacher] = _penalize(self._states.get(teacher), self._now(), hold_us)


class RedisGcraLimiter(_GcraLimiter):
    """The limiter every worker process shares, in Redis (see the module docstring).

    `RedisGcraLimiter(redis, limits={"vllm": TeacherLimits(600, 200_000, burst=10)}, prefix="tracegen:rl")`
    keeps teacher `vllm`'s state in the hash `tracegen:rl:vllm`. Every process must use the same
    `prefix` and the same limits. The script is registered once and run with EVALSHA (reloaded by
    redis-py if the server lost it). While Redis is unreachable (`redis.exceptions.ConnectionError`
    or `TimeoutError`), calls wait `backoff_initial_s`, doubling up to `backoff_max_s`, with jitter,
    and retry for as long as it takes. Give `redis` short socket timeouts: a call that hangs is a
    call that neither fails nor retries.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        limits: Mapping[str, TeacherLimits],
        prefix: str,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        if not prefix:
            raise ValueError("prefix must not be empty")
        if not 0 < backoff_initial_s <= backoff_max_s:
            raise ValueError("need 0 < backoff_initial_s <= backoff_max_s")
        super().__init__(limits, sleep)
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_SCRIPT)
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._rng = rng or random.Random()
        self._unreachable_since: float | None = None

    def __repr__(self) -> str:
        return f"RedisGcraLimiter(prefix={self._prefix!r}, teachers={sorted(self._limits)})"

    def key(self, teacher: str) -> str:
        """The Redis key holding the teacher's state."""
        return f"{self._prefix}:{teacher}"

    async def _reserve(self, teacher: str, costs: _Costs) -> _Grant:
        wait, slot, gen, shift = await self._run(
            teacher,
            "acquire",
            costs.req_inc,
            costs.req_tol,
            int(costs.tok_on),
            costs.tok_inc,
            costs.tok_tol,
        )
        return _Grant(wait_us=int(wait), slot_us=int(slot), gen=int(gen), shift=int(shift))

    async def _check(self, teacher: str, gen: int, shift: int) -> int:
        (extra,) = await self._run(teacher, "check", gen, shift)
        return int(extra)

    async def _penalize(self, teacher: str, hold_us: int) -> None:
        await self._run(teacher, "penalize", hold_us)

    async def _run(self, teacher: str, mode: str, *args: int) -> list[Any]:
        """Run the script, waiting out Redis outages (fail closed)."""
        failures = 0
        while True:
            try:
                result: list[Any] = await self._script(
                    keys=[self.key(teacher)], args=[mode, *args, _TTL_MARGIN_MS]
                )
            except _REDIS_UNAVAILABLE as exc:
                failures += 1
                if self._unreachable_since is None:
                    self._unreachable_since = time.monotonic()
                    log.warning("rate limiter: Redis unreachable, holding teacher calls: %s", exc)
                cap = min(self._backoff_max_s, self._backoff_initial_s * 2.0 ** (failures - 1))
                await self._sleep(cap / 2 + self._rng.uniform(0, cap / 2))
                continue
            if self._unreachable_since is not None:
                log.warning(
                    "rate limiter: Redis reachable again after %.1f s",
                    time.monotonic() - self._unreachable_since,
                )
                self._unreachable_since = None
            return result


def estimate_request_tokens(request: httpx.Request) -> int:
    """Tokens a chat-completions request may cost: its messages (≈4 characters a token) plus its
    `max_tokens` / `max_completion_tokens` when it sets one. 0 for a body that is not such JSON."""
    try:
        body = loads(request.content)
    except JSONDecodeError:
        return 0
    if not isinstance(body, dict):
        return 0
    total = 0
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                total += estimate_tokens(message["content"])
    for field in ("max_completion_tokens", "max_tokens"):
        value = body.get(field)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            total += value
            break
    return total


class RateLimitedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that puts every request to a teacher through the budget and the AIMD limit.

    Wrap the teacher's transport and hand it to `OpenAITeacher(config, transport=...)`: every
    attempt, retries included, then (1) takes a concurrency slot, (2) waits for the shared budget,
    (3) is sent. A 429 penalizes the whole pool for its Retry-After (clamped to `max_penalty_s`;
    `default_penalty_s` when absent or unusable) and counts as a throttle; a 2xx counts as a success.
    The slot is held until the response headers arrive.

    Only sustained throttling moves the pool: the reaction (pool penalty, AIMD decrease) starts once
    at least `throttle_share` of the last `throttle_window` answers were 429s. A few scattered 429s
    (a flaky gateway, 5% random throttling) are retried by the teacher client on their own
    Retry-After and do not halve a pool that is otherwise within budget, which is what a TCP-like
    AIMD does under random loss. The defaults `throttle_window=1, throttle_share=0.0` react to every
    429.

    `tokens_for(request)` is what an attempt is charged against a tpm budget. It is not called when
    the limiter is a GCRA limiter without one for this teacher: the charge is then 0, which that
    limiter ignores just as it would any other count.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        teacher: str,
        limiter: RateLimiter,
        concurrency: AimdConcurrency | None = None,
        tokens_for: Callable[[httpx.Request], int] = estimate_request_tokens,
        default_penalty_s: float = 1.0,
        max_penalty_s: float = 60.0,
        throttle_window: int = 1,
        throttle_share: float = 0.0,
    ) -> None:
        if throttle_window < 1 or not 0.0 <= throttle_share <= 1.0:
            raise ValueError("throttle_window must be >= 1 and throttle_share within [0, 1]")
        self._recent: deque[bool] = deque(maxlen=throttle_window)
        self._throttle_share = throttle_share
        self._inner = inner
        self._teacher = teacher
        self._limiter = limiter
        self._concurrency = concurrency
        self._tokens_for = tokens_for
        # Estimating re-parses the request body as JSON; skip it where the limiter is known to
        # ignore the count (a teacher without a tpm budget) and charge 0 tokens, which it treats
        # the same. A limiter of unknown kind always gets the estimate.
        self._charges_tokens = not isinstance(limiter, _GcraLimiter) or limiter.counts_tokens(teacher)
        self._default_penalty_s = default_penalty_s
        self._max_penalty_s = max_penalty_s

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        concurrency = self._concurrency
        if concurrency is None:
            return await self._send(request)
        # `concurrency.slot()` unrolled: the same acquire/release pairing without an async
        # generator and context manager per request.
        await concurrency.acquire()
        try:
            return await self._send(request)
        finally:
            concurrency.release()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        tokens = self._tokens_for(request) if self._charges_tokens else 0
        await self._limiter.acquire(self._teacher, tokens=tokens)
        response = await self._inner.handle_async_request(request)
        throttled = response.status_code == 429
        self._recent.append(throttled)
        if throttled and sum(self._recent) >= max(1.0, self._throttle_share * len(self._recent)):
            wait = parse_retry_after(response.headers.get("retry-after"), max_wait_s=self._max_penalty_s)
            await self._limiter.penalize(self._teacher, self._default_penalty_s if wait is None else wait)
            if self._concurrency is not None:
                self._concurrency.on_throttle()
        elif 200 <= response.status_code < 300 and self._concurrency is not None:
            self._concurrency.on_success()
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
