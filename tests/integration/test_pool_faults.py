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


async def test_throttling_truncation_and_bad_content_are_told_apart(
    service: CoordinatorService, resources: Resources
) -> None:
    """429s (with Retry-After) and truncated bodies are infrastructure: retried, never rejects.
    Bad content (broken JSON, wrong shape, huge dumps, vendor tools, ...) is quality: gate reasons."""
    from sqlalchemy import func, select

    from gen_service.core.gates import GATE_REASONS
    from gen_service.store.models import Reject, table_of

    stub = create_stub_app(
        resources.behaviours,
        resources.scenarios,
        error_rate=0.3,
        truncate_rate=0.1,
        retry_after=0.01,
        defect_share=0.5,
        rng_seed=7,
    )
    targets = {"survey_before_edit": 6, "tool_intent_first": 6}
    with serve_app(stub) as base_url:
        config = TeacherConfig(
            name="stub",
            kind=TeacherKind.OPENAI,
            base_url=f"{base_url}/v1",
            model="m",
            max_retries=20,
            max_retry_wait_s=0.02,
            timeout_s=10,
        )
        job = await service.create_job(
            name="faults", teacher="stub", targets=targets, lease_ttl_s=60, prompt_version="v1"
        )
        app = create_app(
            service,
            teachers={**load_teachers(None), "stub": config},
            lease_ttl_s=60,
            prompt_version="v1",
            reaper_interval_s=None,
        )
        teacher = OpenAITeacher(config)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as http:
            pool = WorkerPool(
                CoordinatorClient(http), {"stub": teacher}, resources, PoolConfig(concurrency=4)
            )
            stats = await asyncio.wait_for(pool.run(asyncio.Event()), timeout=180)
        async with httpx.AsyncClient() as plain:
            seen = (await plain.get(f"{base_url}/stats")).json()
        await teacher.aclose()
    assert seen["throttled"] > 0 and seen["truncated"] > 0, seen
    assert stats.teacher_failures == 0, "every throttled or truncated call succeeded on a retry"
    reject = table_of(Reject)
    async with service.engine.connect() as conn:
        reasons = {
            row.reason: row.n
            for row in await conn.execute(
                select(reject.c.reason, func.count().label("n"))
                .where(reject.c.job_id == job.id)
                .group_by(reject.c.reason)
            )
        }
    allowed = {r.value for r in GATE_REASONS} | {"duplicate"}
    assert reasons, "the planted defects were rejected"
    assert set(reasons) <= allowed, reasons
    assert (await service.get_job(job.id)).accepted == sum(targets.values())
    await assert_counters_consistent(service.engine, job.id)
