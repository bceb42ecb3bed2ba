"""The critical statements, named and kept together so they can be reviewed as a whole.

Every function takes an open connection inside a transaction owned by the caller (the service) and
never commits. Lock order, everywhere: job → job_behaviour rows (by behaviour name) → lease rows, so
concurrent claims and submits on Postgres cannot deadlock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from gen_service.store.models import LeaseStatus, Outcome
from gen_service.store.tables import CONTEXT, JB, JOB, LEASE, SAMPLE


async def lock_job(conn: AsyncConnection, job_id: int) -> Row[Any] | None:
    """Lock the job row (Postgres; SQLite's single writer already serializes). Returns it or None."""
    result = await conn.execute(select(JOB).where(JOB.c.id == job_id).with_for_update())
    return result.first()


async def lock_behaviour_rows(
    conn: AsyncConnection, job_id: int, behaviours: Iterable[str] | None = None
) -> list[Row[Any]]:
    """Lock a job's behaviour rows in name order (all of them when `behaviours` is None)."""
    query = select(JB).where(JB.c.job_id == job_id)
    if behaviours is not None:
        query = query.where(JB.c.behaviour.in_(sorted(set(behaviours))))
    result = await conn.execute(query.order_by(JB.c.behaviour).with_for_update())
    return list(result.all())


async def bump_counters(conn: AsyncConnection, job_id: int, behaviour: str, **deltas: int) -> None:
    """Add deltas to a behaviour's counters; the caller holds the row lock."""
    if not any(deltas.values()):
        return
    values = {name: JB.c[name] + delta for name, delta in deltas.items() if delta}
    await conn.execute(
        update(JB).where(and_(JB.c.job_id == job_id, JB.c.behaviour == behaviour)).values(**values)
    )


# Every counter `bump_many` can move. One fixed statement for all of them (a zero delta is a no-op),
# so SQLAlchemy compiles it once and the driver prepares it once per connection.
COUNTERS: tuple[str, ...] = (
    "in_flight",
    "issued",
    "completed",
    "passed",
    "accepted",
    "surplus",
    "prompt_tokens",
    "completion_tokens",
)
_BUMP = (
    update(JB)
    .where(and_(JB.c.job_id == bindparam("b_job_id"), JB.c.behaviour == bindparam("b_behaviour")))
    .values({name: JB.c[name] + bindparam(f"d_{name}") for name in COUNTERS})
)


async def bump_many(conn: AsyncConnection, job_id: int, deltas: Mapping[str, Mapping[str, int]]) -> None:
    """Add per-behaviour deltas ({behaviour: {counter: delta}}) with one statement executed for many
    parameter sets (one round trip on asyncpg, which pipelines executemany).

    Claims and submits touch up to every behaviour of a job. Rows are updated in behaviour-name order,
    the lock order. The caller holds the row locks.
    """
    params = [
        {"b_job_id": job_id, "b_behaviour": behaviour, **{f"d_{name}": d.get(name, 0) for name in COUNTERS}}
        for behaviour, d in sorted(deltas.items())
        if any(d.values())
    ]
    unknown = {name for d in deltas.values() for name in d} - set(COUNTERS)
    if unknown:
        raise ValueError(f"unknown behaviour counters: {sorted(unknown)}")
    if params:
        await conn.execute(_BUMP, params)


async def expire_overdue_leases(conn: AsyncConnection, job_id: int, now: datetime) -> int:
    """Reap: in-flight leases past `expires_at` become expired and leave the in-flight counters.

    Invariant: an expired lease never returns to in_flight; its work is re-issued as a new lease and
    its late result is fenced off. Returns how many leases expired. The caller holds the
    behaviour-row locks of the job.
    """
    result = await conn.execute(
        update(LEASE)
        .where(
            and_(
                LEASE.c.job_id == job_id,
                LEASE.c.status == LeaseStatus.IN_FLIGHT,
                LEASE.c.expires_at < now,
            )
        )
        .values(status=LeaseStatus.EXPIRED, finished_at=now)
        .returning(LEASE.c.behaviour)
    )
    expired = Counter(row.behaviour for row in result)
    await bump_many(conn, job_id, {behaviour: {"in_flight": -count} for behaviour, count in expired.items()})
    return sum(expired.values())


async def release_in_flight(
    conn: AsyncConnection, job_id: int, now: datetime, lease_ids: Sequence[str] | None = None
) -> int:
    """Give in-flight leases back unanswered (all of the job's, or the named ones)."""
    condition = and_(LEASE.c.job_id == job_id, LEASE.c.status == LeaseStatus.IN_FLIGHT)
    if lease_ids is not None:
        condition = and_(condition, LEASE.c.id.in_(list(lease_ids)))
    result = await conn.execute(
        update(LEASE)
        .where(condition)
        .values(status=LeaseStatus.RELEASED, finished_at=now)
        .returning(LEASE.c.behaviour)
    )
    released = Counter(row.behaviour for row in result)
    await bump_many(conn, job_id, {behaviour: {"in_flight": -count} for behaviour, count in released.items()})
    return sum(released.values())


async def lock_leases(conn: AsyncConnection, lease_ids: Sequence[str]) -> dict[str, Row[Any]]:
    result = await conn.execute(
        select(LEASE).where(LEASE.c.id.in_(list(lease_ids))).order_by(LEASE.c.id).with_for_update()
    )
    return {row.id: row for row in result}


_FINISH = (
    update(LEASE)
    .where(LEASE.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        finished_at=bindparam("b_finished_at"),
        outcome=bindparam("b_outcome"),
    )
)


async def finish_leases(
    conn: AsyncConnection, outcomes: dict[str, Outcome], now: datetime, *, status: LeaseStatus
) -> None:
    """Record the outcome of answered leases (one fixed statement, executed for the whole batch)."""
    if not outcomes:
        return
    await conn.execute(
        _FINISH,
        [
            {"b_id": lease_id, "b_status": status.value, "b_finished_at": now, "b_outcome": outcome.value}
            for lease_id, outcome in sorted(outcomes.items())
        ],
    )


_INSERT_CONTEXT = {
    name: dialect.insert(CONTEXT).on_conflict_do_nothing(index_elements=["key"])
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


async def store_contexts(conn: AsyncConnection, contexts: Mapping[str, Any], now: datetime) -> None:
    """Write shared trace contexts ({key: body}) that are not stored yet; existing keys are left as
    they are (a key names its content, so an existing row already holds the same body)."""
    if contexts:
        await conn.execute(
            _INSERT_CONTEXT[conn.dialect.name],
            [{"key": key, "body": body, "created_at": now} for key, body in sorted(contexts.items())],
        )


async def contexts_of_job(conn: AsyncConnection, job_id: int) -> dict[str, Any]:
    """{key: body} of every trace context the job's samples name (at most one per behaviour, scenario
    and prompt version: bounded by the scenario bank, not by the number of samples)."""
    named = select(SAMPLE.c.context_key).where(SAMPLE.c.job_id == job_id).distinct()
    result = await conn.execute(select(CONTEXT.c.key, CONTEXT.c.body).where(CONTEXT.c.key.in_(named)))
    return {row.key: row.body for row in result}


_INSERT_SAMPLE = {
    name: dialect.insert(SAMPLE)
    .on_conflict_do_nothing(index_elements=["job_id", "content_key"])
    .returning(SAMPLE.c.lease_id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


async def insert_samples_skipping_duplicates(conn: AsyncConnection, rows: list[dict[str, Any]]) -> set[str]:
    """Insert samples; a row whose (job_id, content_key) already exists is skipped.

    Returns the lease ids actually inserted. The unique key decides duplicates even between
    coordinator replicas racing on the same content. One fixed statement with many parameter sets
    (SQLAlchemy batches it into multi-row INSERTs), so it is compiled once, not per batch size.
    """
    if not rows:
        return set()
    result = await conn.execute(_INSERT_SAMPLE[conn.dialect.name], rows)
    return {row.lease_id for row in result}


async def existing_content_keys(conn: AsyncConnection, job_id: int, keys: Iterable[str]) -> set[str]:
    wanted = list(set(keys))
    if not wanted:
        return set()
    result = await conn.execute(
        select(SAMPLE.c.content_key).where(and_(SAMPLE.c.job_id == job_id, SAMPLE.c.content_key.in_(wanted)))
    )
    return {row.content_key for row in result}


async def take_seeds(conn: AsyncConnection, job_id: int, count: int) -> int:
    """Reserve `count` consecutive seeds for the job; returns the first one."""
    result = await conn.execute(
        update(JOB)
        .where(JOB.c.id == job_id)
        .values(next_seed=JOB.c.next_seed + count)
        .returning(JOB.c.next_seed)
    )
    end = int(result.scalar_one())
    return end - count


async def count_in_flight(conn: AsyncConnection, job_id: int) -> int:
    result = await conn.execute(
        select(func.count())
        .select_from(LEASE)
        .where(and_(LEASE.c.job_id == job_id, LEASE.c.status == LeaseStatus.IN_FLIGHT))
    )
    return int(result.scalar_one())
