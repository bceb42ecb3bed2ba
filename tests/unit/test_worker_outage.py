"""A worker survives a coordinator it cannot reach: it keeps retrying instead of dying."""

from __future__ import annotations

import asyncio

import httpx

from gen_service.resources import Resources
from gen_service.worker.client import CoordinatorClient
from gen_service.worker.pool import PoolConfig, WorkerPool


async def no_sleep(_: float) -> None:
    return None


async def test_pool_keeps_running_while_the_coordinator_is_unreachable(resources: Resources) -> None:
    attempts = 0

    def refuse(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        raise httpx.ConnectError("connection refused", request=request)

    # The one mock here: a coordinator that refuses connections (the fault itself).
    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse), base_url="http://c") as http:
        pool = WorkerPool(
            CoordinatorClient(http, max_attempts=2, sleep=no_sleep),
            {},
            resources,
            PoolConfig(concurrency=2, idle_poll_s=0.01),
        )
        stop = asyncio.Event()
        task = asyncio.create_task(pool.run(stop))
        await asyncio.sleep(0.05)
        assert not task.done(), "an unreachable coordinator must not end the pool"
        stop.set()
        stats = await asyncio.wait_for(task, 10)
    assert attempts >= 2
    assert stats.claimed == 0
