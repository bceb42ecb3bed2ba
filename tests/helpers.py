"""Test helpers: real traces from the scripted teacher, counter consistency checks."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gen_service.api.app import create_app
from gen_service.core.prompts import render_prompt
from gen_service.core.scripted import scripted_reply_text
from gen_service.core.trace import assemble_trace, parse_teacher_reply
from gen_service.resources import Resources
from gen_service.service import CoordinatorService, JobView, LeaseGrant, ResultSubmission
from gen_service.store.models import JobBehaviour, Lease, LeaseStatus, RawOutput, Sample
from gen_service.teachers import TeacherConfig, TeacherKind


async def embedded_job(
    service: CoordinatorService,
    name: str,
    *,
    target: int,
    behaviour: str = "survey_before_edit",
    execution_check: bool = False,
) -> tuple[JobView, FastAPI]:
    """A job of `target` samples of one behaviour for the scripted teacher, and the coordinator app
    that serves it (for a worker pool on the embedded transport)."""
    job = await service.create_job(
        name=name,
        teacher="scripted",
        targets={behaviour: target},
        lease_ttl_s=60,
        prompt_version="v1",
        execution_check=execution_check,
    )
    app = create_app(
        service,
        teachers={"scripted": TeacherConfig(name="scripted", kind=TeacherKind.SCRIPTED)},
        lease_ttl_s=60,
        prompt_version="v1",
        reaper_interval_s=None,
    )
    return job, app


def honest_text(resources: Resources, behaviour: str, scenario: str, seed: int) -> str:
    """The scripted teacher's reply text with no defect."""
    b = resources.behaviours[behaviour]
    return scripted_reply_text(b, resources.scenarios[scenario], seed, defect_share=0.0)


def honest_trace(resources: Resources, behaviour: str, scenario: str, seed: int) -> dict[str, Any]:
    """A trace the scripted teacher writes with no defect: it passes every gate."""
    b = resources.behaviours[behaviour]
    s = resources.scenarios[scenario]
    prompt = render_prompt(b, s, resources.vocabulary)
    text = honest_text(resources, behaviour, scenario, seed)
    return assemble_trace(
        prompt.system,
        prompt.user,
        parse_teacher_reply(text),
        resources.vocabulary.openai_tools(),
        {"behaviour": behaviour, "language": s.language, "scenario": scenario, "finish_reason": "stop"},
    )


def result_for(resources: Resources, lease: LeaseGrant, *, trace: Any = "honest") -> ResultSubmission:
    raw_text = honest_text(resources, lease.behaviour, lease.scenario, lease.seed)
    if trace == "honest":
        trace = honest_trace(resources, lease.behaviour, lease.scenario, lease.seed)
    return ResultSubmission(
        lease_id=lease.lease_id,
        token=lease.token,
        trace=trace,
        raw_text=raw_text if trace is not None else "not json at all",
    )


async def assert_counters_consistent(engine: AsyncEngine, job_id: int) -> dict[str, Any]:
    """The job_behaviour counters equal what the lease, sample and reject rows say."""
    jb, lease, sample, raw = (t.__table__ for t in (JobBehaviour, Lease, Sample, RawOutput))
    async with engine.connect() as conn:
        rows = {r.behaviour: r for r in await conn.execute(select(jb).where(jb.c.job_id == job_id))}
        in_flight = Counter(
            {
                r.behaviour: r.n
                for r in await conn.execute(
                    select(lease.c.behaviour, func.count().label("n"))
                    .where(lease.c.job_id == job_id, lease.c.status == LeaseStatus.IN_FLIGHT)
                    .group_by(lease.c.behaviour)
                )
            }
        )
        stored = Counter()
        surplus = Counter()
        for r in await conn.execute(
            select(sample.c.behaviour, sample.c.surplus, func.count().label("n"))
            .where(sample.c.job_id == job_id)
            .group_by(sample.c.behaviour, sample.c.surplus)
        ):
            (surplus if r.surplus else stored)[r.behaviour] += r.n
        completed = Counter(
            {
                r.behaviour: r.n
                for r in await conn.execute(
                    select(raw.c.behaviour, func.count().label("n"))
                    .where(raw.c.job_id == job_id)
                    .group_by(raw.c.behaviour)
                )
            }
        )
    for name, row in rows.items():
        assert row.in_flight == in_flight[name], (name, "in_flight", row.in_flight, in_flight[name])
        assert row.accepted == stored[name], (name, "accepted", row.accepted, stored[name])
        assert row.surplus == surplus[name], (name, "surplus", row.surplus, surplus[name])
        assert row.accepted <= row.target, (name, "accepted above target")
        assert row.completed == completed[name], (name, "completed", row.completed, completed[name])
        assert row.passed == stored[name] + surplus[name], (name, "passed")
    return {name: row.accepted for name, row in rows.items()}
