"""Regate: run the current gates again over every stored teacher output, without calling a teacher.

Accepted samples are judged on the exact trace that was stored; rejected outputs are rebuilt from the
raw teacher text with the current prompt rendering. Without `apply` nothing changes: the report says
what would. With `apply`, samples move between the corpus and the rejects, and the counters follow in
the same transactions; a reopened deficit is generated when the job resumes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gen_service.clock import Clock, utc_now
from gen_service.core.gates import Reason, Rejection, content_key, run_gates
from gen_service.resources import Resources
from gen_service.store import leases as sql
from gen_service.store.models import (
    JobStatus,
    Outcome,
)
from gen_service.store.tables import JOB, LEASE, RAW, REJECT, SAMPLE
from gen_service.store.trace_parts import context_key as trace_context_key
from gen_service.store.trace_parts import join_trace, split_trace
from gen_service.tracebuild import TraceBuilder

_APPLY_CHUNK = 500


@dataclass
class RegateReport:
    examined: int = 0
    newly_rejected: Counter[tuple[str, str]] = field(default_factory=Counter)  # (reason, behaviour)
    newly_accepted: Counter[str] = field(default_factory=Counter)  # behaviour
    applied: bool = False

    def render(self) -> str:
        lines = [f"examined {self.examined} stored teacher outputs"]
        if not self.newly_rejected and not self.newly_accepted:
            lines.append("no change: every verdict stands under the current gates")
            return "\n".join(lines)
        verb = "moved" if self.applied else "would move"
        lines.append(f"{verb} out of the corpus (reason × behaviour; a sample may fail several gates):")
        lines += [
            f"  {reason:<24} {behaviour:<32} {count}"
            for (reason, behaviour), count in sorted(self.newly_rejected.items())
        ]
        if not self.newly_rejected:
            lines.append("  none")
        lines.append(f"{verb} into the corpus (behaviour):")
        lines += [
            f"  {behaviour:<32} {count}" for behaviour, count in sorted(self.newly_accepted.items())
        ] or ["  none"]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Change:
    lease_id: str
    behaviour: str
    scenario: str
    was_outcome: Outcome
    sample_surplus: int | None  # set when a sample row exists
    rejections: list[Rejection]
    trace: dict[str, Any] | None  # for newly accepted outputs


async def regate_job(
    engine: AsyncEngine, resources: Resources, job_id: int, *, apply: bool, clock: Clock = utc_now
) -> RegateReport:
    report = RegateReport(applied=apply)
    builder = TraceBuilder(resources)
    changes: list[_Change] = []
    async with engine.connect() as conn:
        job = (await conn.execute(select(JOB).where(JOB.c.id == job_id))).first()
        if job is None:
            raise LookupError(f"no job {job_id}")
        contexts = await sql.contexts_of_job(conn, job_id)
        stream = await conn.stream(
            select(
                RAW.c.lease_id,
                RAW.c.behaviour,
                RAW.c.scenario,
                RAW.c.seed,
                RAW.c.text,
                RAW.c.finish_reason,
                RAW.c.outcome,
                SAMPLE.c.trace,
                SAMPLE.c.context_key,
                SAMPLE.c.surplus,
            )
            .select_from(RAW.outerjoin(SAMPLE, SAMPLE.c.lease_id == RAW.c.lease_id))
            .where(and_(RAW.c.job_id == job_id, RAW.c.outcome != Outcome.DUPLICATE))
            .order_by(RAW.c.created_at, RAW.c.lease_id)
            .execution_options(yield_per=500)
        )
        async for row in stream:
            report.examined += 1
            value: Any = (
                join_trace(contexts[row.context_key] if row.context_key else None, row.trace)
                if row.trace is not None
                else _rebuild(builder, job, row)
            )
            _, rejections = run_gates(value, resources.gate_context)
            was = Outcome(row.outcome)
            in_corpus = was in (Outcome.STORED, Outcome.SURPLUS)
            if in_corpus and rejections:
                for rejection in rejections:
                    report.newly_rejected[(rejection.reason.value, row.behaviour)] += 1
                changes.append(
                    _Change(row.lease_id, row.behaviour, row.scenario, was, row.surplus, rejections, None)
                )
            elif was == Outcome.REJECTED and not rejections:
                report.newly_accepted[row.behaviour] += 1
                changes.append(_Change(row.lease_id, row.behaviour, row.scenario, was, None, [], value))
    if apply:
        for start in range(0, len(changes), _APPLY_CHUNK):
            await _apply(engine, resources, job_id, changes[start : start + _APPLY_CHUNK], clock())
    return report


def _rebuild(builder: TraceBuilder, job: Any, row: Any) -> Any:
    trace = builder.build(
        row.text,
        behaviour=row.behaviour,
        scenario=row.scenario,
        seed=row.seed,
        teacher=job.teacher,
        prompt_version=job.prompt_version,
        finish_reason=row.finish_reason,
    )
    return trace if trace is not None else row.text


async def _apply(
    engine: AsyncEngine, resources: Resources, job_id: int, changes: list[_Change], now: datetime
) -> None:
    async with engine.begin() as conn:
        job = await sql.lock_job(conn, job_id)
        assert job is not None
        rows = {
            r.behaviour: r
            for r in await sql.lock_behaviour_rows(conn, job_id, {c.behaviour for c in changes})
        }
        room = {name: max(0, r.target - r.accepted) for name, r in rows.items()}
        outcomes: dict[str, Outcome] = {}
        for change in changes:
            deltas: Counter[str] = Counter()
            if change.rejections:
                await conn.execute(delete(SAMPLE).where(SAMPLE.c.lease_id == change.lease_id))
                await _insert_rejects(conn, job_id, change, change.rejections, now)
                deltas["passed"] -= 1
                if change.sample_surplus:
                    deltas["surplus"] -= 1
                else:
                    deltas["accepted"] -= 1
                    room[change.behaviour] = room.get(change.behaviour, 0) + 1
                outcomes[change.lease_id] = Outcome.REJECTED
            else:
                assert change.trace is not None
                await conn.execute(delete(REJECT).where(REJECT.c.lease_id == change.lease_id))
                key = content_key(change.trace)
                if await sql.existing_content_keys(conn, job_id, [key]):
                    duplicate = Rejection(Reason.DUPLICATE, "same content as a stored sample")
                    await _insert_rejects(conn, job_id, change, [duplicate], now)
                    outcomes[change.lease_id] = Outcome.DUPLICATE
                else:
                    surplus = room.get(change.behaviour, 0) <= 0
                    if not surplus:
                        room[change.behaviour] -= 1
                    context, own = split_trace(change.trace)
                    shared_key = None
                    if context is not None:
                        shared_key = trace_context_key(context)
                        await sql.store_contexts(conn, {shared_key: context}, now)
                    await conn.execute(
                        insert(SAMPLE).values(
                            job_id=job_id,
                            lease_id=change.lease_id,
                            behaviour=change.behaviour,
                            layer=resources.behaviours[change.behaviour].layer,
                            scenario=change.scenario,
                            content_key=key,
                            surplus=1 if surplus else 0,
                            trace=own,
                            context_key=shared_key,
                            created_at=now,
                        )
                    )
                    deltas["passed"] += 1
                    deltas["surplus" if surplus else "accepted"] += 1
                    outcomes[change.lease_id] = Outcome.SURPLUS if surplus else Outcome.STORED
            await sql.bump_counters(conn, job_id, change.behaviour, **deltas)
        await _set_outcomes(conn, outcomes)
        after = await sql.lock_behaviour_rows(conn, job_id)
        full = all(r.accepted >= r.target for r in after)
        status = JobStatus(job.status)
        if status == JobStatus.COMPLETED and not full:
            status = JobStatus.RUNNING
        elif status == JobStatus.RUNNING and full:
            status = JobStatus.COMPLETED
        await conn.execute(update(JOB).where(JOB.c.id == job_id).values(status=status, updated_at=now))


async def _insert_rejects(
    conn: AsyncConnection, job_id: int, change: _Change, rejections: list[Rejection], now: datetime
) -> None:
    await conn.execute(
        insert(REJECT),
        [
            {
                "job_id": job_id,
                "lease_id": change.lease_id,
                "behaviour": change.behaviour,
                "reason": r.reason.value,
                "detail": r.detail[:2000],
                "created_at": now,
            }
            for r in rejections
        ],
    )


async def _set_outcomes(conn: AsyncConnection, outcomes: Mapping[str, Outcome]) -> None:
    for lease_id, outcome in outcomes.items():
        await conn.execute(update(RAW).where(RAW.c.lease_id == lease_id).values(outcome=outcome))
        await conn.execute(update(LEASE).where(LEASE.c.id == lease_id).values(outcome=outcome))
