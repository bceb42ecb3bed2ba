"""The pool claims beside its teacher calls: a slow claim does not idle the slots it has work for.

Embedded wiring (the sanctioned in-process transport) over the real coordinator on both backends; a
wrapper transport holds the second claim back until the test lets it go, as a busy coordinator would.
"""

from __future__ import annotations

import asyncio

import httpx

from gen_service.resources import Resources
from gen_service.service import CoordinatorService
from gen_service.worker.client import CoordinatorClient
from gen_service.worker.pool import PoolConfig, WorkerPool
from gen_service.worker.teachers import ScriptedTeacher, TeacherReply, TeacherRequest
from tests.helpers import embedded_job


class CountingTeacher(ScriptedTeacher):
    def __init__(self, resources: Resources) -> None:
        super().__init__("scripted", resources.behaviours, resources.scenarios, defect_share=0.0)
        self.calls = 0

    async def complete(self, request: TeacherRequest) -> TeacherReply:
        self.calls += 1
        await asyncio.sleep(0)  # a teacher call yields to the loop, as a real one does
        return await super().complete(request)


class HeldClaims(httpx.AsyncBaseTransport):
    """Passes every request to the app; claims after the first wait for `release`."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self.claims = 0
        self.held = asyncio.Event()
        self.release = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/leases/claim":
            self.claims += 1
            if self.claims > 1:
                self.held.set()
                await self.release.wait()
        return await self._inner.handle_async_request(request)


async def test_buffered_leases_run_while_a_claim_is_in_flight(
    service: CoordinatorService, resources: Resources
) -> None:
    job, app = await embedded_job(service, "claims", target=20)
    transport = HeldClaims(httpx.ASGITransport(app=app))
    teacher = CountingTeacher(resources)
    async with httpx.AsyncClient(transport=transport, base_url="http://embedded") as http:
        pool = WorkerPool(
            CoordinatorClient(http),
            {"scripted": teacher},
            resources,
            PoolConfig(concurrency=2, prefetch=4, job_id=job.id, submit_interval_s=0.01, idle_poll_s=0.05),
        )
        stop = asyncio.Event()
        running = asyncio.create_task(pool.run(stop))
        await asyncio.wait_for(transport.held.wait(), 10)
        first_claim = pool.stats.claimed
        assert first_claim == 6, "concurrency + prefetch"
        # While the second claim is held, every lease of the first one is worked off.
        deadline = asyncio.get_running_loop().time() + 10
        while teacher.calls < first_claim:
            assert asyncio.get_running_loop().time() < deadline, (
                f"only {teacher.calls} of {first_claim} leases ran while a claim was in flight"
            )
            await asyncio.sleep(0.01)
        transport.release.set()
        stats = await asyncio.wait_for(running, 30)
    assert stats.outcomes["stored"] == 20
    assert (await service.get_job(job.id)).accepted == 20


class HeldSubmits(httpx.AsyncBaseTransport):
    """Passes every request to the app; result submissions wait for `release`."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self.release = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/results":
            await self.release.wait()
        return await self._inner.handle_async_request(request)


async def test_a_slow_coordinator_holds_back_claims_instead_of_piling_up_results(
    service: CoordinatorService, resources: Resources
) -> None:
    job, app = await embedded_job(service, "backlog", target=60)
    transport = HeldSubmits(httpx.ASGITransport(app=app))
    teacher = CountingTeacher(resources)
    config = PoolConfig(
        concurrency=2, prefetch=4, submit_batch=2, job_id=job.id, submit_interval_s=0.01, idle_poll_s=0.02
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://embedded") as http:
        pool = WorkerPool(CoordinatorClient(http), {"scripted": teacher}, resources, config)
        running = asyncio.create_task(pool.run(asyncio.Event()))
        # With every submit held, the pool settles: no more teacher calls happen.
        calls = -1
        while calls != teacher.calls:
            calls = teacher.calls
            await asyncio.sleep(0.3)
        # running + claimed ahead + one batch waiting + the batch held in the submit request
        bound = config.concurrency + 4 + 2 * config.submit_batch
        assert calls <= bound, f"{calls} teacher calls answered while none could be submitted (bound {bound})"
        transport.release.set()
        stats = await asyncio.wait_for(running, 30)
    assert stats.outcomes["stored"] == 60
