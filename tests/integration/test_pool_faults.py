"""The worker pool against a failing teacher (the real stub over real HTTP): outages are never quality
rejects, and a sustained outage opens the circuit breaker instead of burning retries."""

from __future__ import annotations

import asyncio

import httpx

from gen_service.api.app import create_app
from gen_service.resources import Resources
from gen_service.service import CoordinatorService
from gen_service.teacher_stub import create_stub_app
from gen_service.teachers import TeacherConfig, TeacherKind, load_teachers
from gen_service.worker.client import CoordinatorClient
from gen_service.worker.pool import PoolConfig, WorkerPool
from gen_service.worker.teachers import OpenAITeacher
from tests.conftest_stub import serve_app
from tests.helpers import assert_counters_consistent


async def test_outage_opens_breaker_then_job_completes(
    service: CoordinatorService, resources: Resources
) -> None:
    stub = create_stub_app(
        resources.behaviours, resources.scenarios, fail_first=12, fail_with="503", defect_share=0
    )
    with serve_app(stub) as base_url:
        config = TeacherConfig(
            name="stub",
            kind=TeacherKind.OPENAI,
            base_url=f"{base_url}/v1",
            model="m",
            max_retries=1,
            max_retry_wait_s=0.01,
            timeout_s=10,
        )
        teachers = {**load_teachers(None), "stub": config}
        job = await service.create_job(
            name="outage",
            teacher="stub",
            targets={"survey_before_edit": 3},
            lease_ttl_s=60,
            prompt_version="v1",
        )
        app = create_app(
            service, teachers=teachers, lease_ttl_s=60, prompt_version="v1", reaper_interval_s=None
        )
        teacher = OpenAITeacher(config)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as http:
            pool = WorkerPool(
                CoordinatorClient(http),
                {"stub": teacher},
                resources,
                PoolConfig(concurrency=2, breaker_threshold=2, breaker_cooldown_s=0.2, idle_poll_s=0.05),
            )
            stats = await asyncio.wait_for(pool.run(asyncio.Event()), timeout=120)
        async with httpx.AsyncClient() as plain:
            stats_seen = (await plain.get(f"{base_url}/stats")).json()
        await teacher.aclose()
    assert pool.breaker.opened_count >= 1
    assert stats.teacher_failures >= 2
    assert stats.released >= stats.teacher_failures, "every outage gives its lease back"
    assert stats.claimed == stats.submitted + stats.released, "every claimed lease is answered or given back"
    assert "rejected" not in stats.outcomes, "an outage is never a quality reject"
    assert (await service.get_job(job.id)).accepted == 3
    await assert_counters_consistent(service.engine, job.id)
    # Retries are bounded by the breaker: 12 planted failures, at most 2 attempts per call.
    assert stats_seen["server_error"] == 12
