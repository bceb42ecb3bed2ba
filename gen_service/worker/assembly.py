"""Building the worker's teachers with their shared rate budget and adaptive concurrency.

One place decides how a teacher config becomes a client: openai teachers get a transport that takes
an AIMD concurrency slot and waits for the rate budget before every attempt (retries included);
the budget lives in Redis when a URL is given (one budget for all worker processes), else in this
process (embedded mode).
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from gen_service.core.behaviours import Behaviour
from gen_service.core.scenarios import Scenario
from gen_service.teachers import TeacherConfig, TeacherKind
from gen_service.worker.concurrency import AimdConcurrency
from gen_service.worker.ratelimit import (
    LocalGcraLimiter,
    RateLimitedTransport,
    RateLimiter,
    RedisGcraLimiter,
    TeacherLimits,
)
from gen_service.worker.teachers import Teacher, build_teacher, default_transport

RATE_LIMIT_PREFIX = "tracegen:ratelimit"


def build_limiter(configs: Mapping[str, TeacherConfig], redis_url: str | None) -> RateLimiter:
    limits = {
        name: TeacherLimits(rpm=c.rpm, tpm=c.tpm, burst=c.burst)
        for name, c in configs.items()
        if c.kind is TeacherKind.OPENAI
    }
    if redis_url:
        from redis.asyncio import Redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # The limiter retries (and fails closed) itself; redis-py's own retries would only delay
        # noticing that Redis is back.
        client = Redis.from_url(
            redis_url, socket_timeout=2, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
        )
        return RedisGcraLimiter(client, limits=limits, prefix=RATE_LIMIT_PREFIX)
    return LocalGcraLimiter(limits)


def build_teachers(
    configs: Mapping[str, TeacherConfig],
    *,
    behaviours: Mapping[str, Behaviour],
    scenarios: Mapping[str, Scenario],
    limiter: RateLimiter,
    names: set[str] | None = None,
) -> dict[str, Teacher]:
    """Teachers for `names` (all configured when None). Raises ValueError on a bad config."""
    teachers: dict[str, Teacher] = {}
    for name, config in configs.items():
        if names is not None and name not in names:
            continue
        transport: httpx.AsyncBaseTransport | None = None
        if config.kind is TeacherKind.OPENAI:
            inner = default_transport() or httpx.AsyncHTTPTransport(
                limits=httpx.Limits(max_connections=512, max_keepalive_connections=512)
            )
            concurrency = AimdConcurrency(
                initial=config.max_concurrency, minimum=1, maximum=config.max_concurrency
            )
            # React (pool penalty, halving) to sustained throttling only: 20% of the last 50 answers.
            transport = RateLimitedTransport(
                inner,
                teacher=name,
                limiter=limiter,
                concurrency=concurrency,
                throttle_window=50,
                throttle_share=0.2,
            )
        teachers[name] = build_teacher(
            config, behaviours=behaviours, scenarios=scenarios, transport=transport
        )
    return teachers
