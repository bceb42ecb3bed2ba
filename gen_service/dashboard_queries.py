"""Every statement the live dashboard runs, named, in one place, each with its cost.

The dashboard refreshes every second for every viewer, so no statement here may grow with the size of
the job's history by scanning a table. Each one reads the per-behaviour counters (one row per
behaviour), an index range bounded by a time window, an index range capped by a LIMIT, or a covering
index that holds everything it needs. "Entries" below are index entries, "rows" table rows.

Indexes relied on (migrations 0001 and 0002):
- `job` and `job_behaviour` primary keys;
- `ix_raw_output_job_created (job_id, created_at)` and the `raw_output` primary key (lease_id);
- `ix_reject_job_behaviour_reason (job_id, behaviour, reason)`.

No statement here commits or writes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, literal_column, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import Executable

from gen_service.store.tables import JB, JOB, RAW, REJECT

__all__ = [
    "RawExcerpt",
    "RejectCell",
    "RejectExcerpt",
    "behaviour_counters",
    "job_row",
    "recent_latencies",
    "reject_counts",
    "reject_detail",
    "reject_excerpts",
    "results_per_behaviour",
    "results_per_bucket",
]


# SQLite caps a compound SELECT at 500 terms; stay well below it.
_MAX_UNION_TERMS = 100


@dataclass(frozen=True, slots=True)
class RejectCell:
    behaviour: str
    reason: str
    count: int


@dataclass(frozen=True, slots=True)
class RejectExcerpt:
    reject_id: int
    lease_id: str
    behaviour: str
    reason: str
    detail: str  # the start of the gate's detail, at most the requested number of characters


@dataclass(frozen=True, slots=True)
class RawExcerpt:
    lease_id: str
    job_id: int
    behaviour: str
    scenario: str
    seed: int
    teacher: str
    finish_reason: str
    outcome: str
    latency_ms: float
    prompt_tokens: int
    completion_tokens: int
    created_at: datetime
    text_chars: int  # length of the whole raw text
    text: str  # its start, at most the requested number of characters


async def job_row(conn: AsyncConnection, job_id: int) -> Any | None:
    """The job's own row, or None.

    Cost: one primary-key lookup.
    """
    return (await conn.execute(select(JOB).where(JOB.c.id == job_id))).first()


async def behaviour_counters(conn: AsyncConnection, job_id: int) -> Sequence[Any]:
    """The job's per-behaviour targets and exact counters (accepted, passed, completed, surplus,
    in_flight, issued, prompt_tokens, completion_tokens), ordered by layer then behaviour.

    Cost: a primary-key range on `job_behaviour` (job_id, behaviour): one row per behaviour, 30 at
    most in practice. Everything job-wide (totals, tokens, pass rates) is summed from these rows.
    """
    query = select(JB).where(JB.c.job_id == job_id).order_by(JB.c.layer, JB.c.behaviour)
    return (await conn.execute(query)).all()


def _bucket_start(dialect: str, bucket_s: int) -> Any:
    # Integer epoch seconds rounded down to the bucket; `bucket_s` is an int we control, never input
    # text, so it may be written into the SQL.
    if dialect == "sqlite":
        # SQLite keeps UTC datetimes as ISO text; strftime('%s') turns them into epoch seconds.
        return literal_column(
            f"(CAST(strftime('%s', raw_output.created_at) AS INTEGER) / {bucket_s}) * {bucket_s}"
        )
    return literal_column(
        f"CAST(floor(extract(epoch FROM raw_output.created_at) / {bucket_s}) AS BIGINT) * {bucket_s}"
    )


async def results_per_bucket(
    conn: AsyncConnection, job_id: int, since: datetime, bucket_s: int
) -> dict[int, int]:
    """Teacher results recorded since `since`, counted per `bucket_s`-second bucket:
    {bucket start in epoch seconds: count}. Empty buckets are absent.

    Cost: an index-only range on `ix_raw_output_job_created` (job_id, created_at >= since): one
    entry per result in the window and no table rows (Postgres: an index-only scan, which touches the
    heap only for pages not yet marked all-visible; SQLite: a covering index). The dashboard keeps
    the buckets that can no longer change and asks only for the last two, so a refresh reads about
    20 seconds of results; a page's first refresh reads the chart's whole window (15 minutes).
    """
    if bucket_s < 1:
        raise ValueError("bucket_s must be >= 1")
    bucket = _bucket_start(conn.dialect.name, bucket_s).label("bucket")
    query = (
        select(bucket, func.count().label("n"))
        .select_from(RAW)
        .where(and_(RAW.c.job_id == job_id, RAW.c.created_at >= since))
        .group_by(bucket)
    )
    return {int(row.bucket): int(row.n) for row in await conn.execute(query)}


async def results_per_behaviour(conn: AsyncConnection, job_id: int, since: datetime) -> dict[str, int]:
    """Teacher results recorded since `since`, counted per behaviour (the current-rate window).

    Cost: a range on `ix_raw_output_job_created` (job_id, created_at >= since) plus one table-row
    lookup per entry for `behaviour` (a column stored before the raw text, so SQLite reads no
    overflow pages): the results of the last minute, whatever the size of the job's history.
    """
    query = (
        select(RAW.c.behaviour, func.count().label("n"))
        .where(and_(RAW.c.job_id == job_id, RAW.c.created_at >= since))
        .group_by(RAW.c.behaviour)
    )
    return {str(row.behaviour): int(row.n) for row in await conn.execute(query)}


async def recent_latencies(
    conn: AsyncConnection, job_id: int, limit: int, since: datetime | None = None
) -> list[tuple[str, float, datetime]]:
    """(lease_id, teacher latency in ms, created_at) of the job's most recent results, newest first:
    at most `limit`, and none older than `since` when given.

    Cost: a backward walk of `ix_raw_output_job_created` from the job's newest entry, stopped by
    `since` or by the LIMIT, whichever comes first: at most `limit` entries and table rows (the
    dashboard passes the newest time it already holds, so a refresh reads one refresh's results).
    """
    condition = RAW.c.job_id == job_id
    if since is not None:
        condition = and_(condition, RAW.c.created_at >= since)
    query = (
        select(RAW.c.lease_id, RAW.c.latency_ms, RAW.c.created_at)
        .where(condition)
        .order_by(RAW.c.created_at.desc())
        .limit(limit)
    )
    return [(str(row.lease_id), float(row.latency_ms), row.created_at) for row in await conn.execute(query)]


async def reject_counts(conn: AsyncConnection, job_id: int) -> list[RejectCell]:
    """Rejections of the job counted per (behaviour, gate reason).

    Cost: the job's range of the covering index `ix_reject_job_behaviour_reason` (job_id, behaviour,
    reason), read in index order with no table rows (SQLite: covering index; Postgres: index-only
    scan) and grouped as it streams by. It grows with the job's rejections, not with the table,
    the only per-refresh read that does: about a quarter of a million entries, tens of milliseconds,
    would be the point to keep counters per reason instead.
    """
    query = (
        select(REJECT.c.behaviour, REJECT.c.reason, func.count().label("n"))
        .where(REJECT.c.job_id == job_id)
        .group_by(REJECT.c.behaviour, REJECT.c.reason)
        .order_by(REJECT.c.behaviour, REJECT.c.reason)
    )
    return [RejectCell(str(r.behaviour), str(r.reason), int(r.n)) for r in await conn.execute(query)]


async def reject_excerpts(
    conn: AsyncConnection,
    job_id: int,
    cells: Sequence[tuple[str, str]],
    *,
    per_cell: int,
    chars: int,
) -> list[RejectExcerpt]:
    """The `per_cell` newest rejections of each (behaviour, reason) cell, with the first `chars`
    characters of their detail, newest first within a cell. One statement per 100 cells (a UNION
    ALL of per-cell LIMIT queries, built and compiled once per shape, then only re-bound).

    Cost per cell: the cell's range of `ix_reject_job_behaviour_reason`, capped by the LIMIT.
    SQLite reads `per_cell` entries (its index entries end with the rowid, which is the id, so the
    ORDER BY comes free); Postgres reads the cell's entries and their rows to pick the top
    `per_cell` by id (a top-N sort over one cell; an index ending in `id` would make it `per_cell`).
    The dashboard calls this only for cells whose count changed since its last refresh.
    """
    found: dict[int, RejectExcerpt] = {}
    for start in range(0, len(cells), _MAX_UNION_TERMS):
        chunk = list(cells[start : start + _MAX_UNION_TERMS])
        terms = next(size for size in _UNION_SIZES if size >= len(chunk))
        # Pad with the last cell so that a handful of statement shapes serve every call (each one
        # built and compiled once); the repeated rows are dropped by id below.
        chunk += [chunk[-1]] * (terms - len(chunk))
        params: dict[str, Any] = {"job_id": job_id}
        for i, (behaviour, reason) in enumerate(chunk):
            params[f"b{i}"] = behaviour
            params[f"r{i}"] = reason
        for row in await conn.execute(_excerpt_statement(terms, per_cell, chars), params):
            found[int(row.id)] = RejectExcerpt(
                int(row.id), row.lease_id, row.behaviour, row.reason, row.detail
            )
    return sorted(found.values(), key=lambda e: (e.behaviour, e.reason, -e.reject_id))


_UNION_SIZES = (1, 2, 4, 8, 16, 32, 64, _MAX_UNION_TERMS)


@functools.lru_cache(maxsize=64)
def _excerpt_statement(terms: int, per_cell: int, chars: int) -> Executable:
    """UNION ALL of `terms` per-cell LIMIT queries; cells are bound as b0, r0, b1, r1, ..."""
    selects = [
        select(
            select(
                REJECT.c.id,
                REJECT.c.lease_id,
                REJECT.c.behaviour,
                REJECT.c.reason,
                func.substr(REJECT.c.detail, 1, chars).label("detail"),
            )
            .where(
                and_(
                    REJECT.c.job_id == bindparam("job_id"),
                    REJECT.c.behaviour == bindparam(f"b{i}"),
                    REJECT.c.reason == bindparam(f"r{i}"),
                )
            )
            .order_by(REJECT.c.id.desc())
            .limit(per_cell)
            .subquery(f"cell{i}")
        )
        for i in range(terms)
    ]
    return selects[0] if terms == 1 else union_all(*selects)


async def reject_detail(
    conn: AsyncConnection, job_id: int, lease_id: str, *, chars: int
) -> tuple[RawExcerpt, list[tuple[str, str]]] | None:
    """One rejected result: its raw teacher output (the first `chars` characters of the text) and
    every (reason, full detail) it was rejected for. None when the job has no result for the lease.

    Cost: a primary-key lookup on `raw_output` (lease_id), then the lease's behaviour range of
    `ix_reject_job_behaviour_reason` (job_id, behaviour) filtered by lease: the rejections of one
    behaviour of the job, read once per click, never per refresh.
    """
    raw = (
        await conn.execute(
            select(
                RAW.c.lease_id,
                RAW.c.job_id,
                RAW.c.behaviour,
                RAW.c.scenario,
                RAW.c.seed,
                RAW.c.teacher,
                RAW.c.finish_reason,
                RAW.c.outcome,
                RAW.c.latency_ms,
                RAW.c.prompt_tokens,
                RAW.c.completion_tokens,
                RAW.c.created_at,
                func.length(RAW.c.text).label("text_chars"),
                func.substr(RAW.c.text, 1, chars).label("text"),
            ).where(and_(RAW.c.lease_id == lease_id, RAW.c.job_id == job_id))
        )
    ).first()
    if raw is None:
        return None
    reasons = await conn.execute(
        select(REJECT.c.reason, REJECT.c.detail)
        .where(
            and_(
                REJECT.c.job_id == job_id, REJECT.c.behaviour == raw.behaviour, REJECT.c.lease_id == lease_id
            )
        )
        .order_by(REJECT.c.id)
    )
    excerpt = RawExcerpt(
        lease_id=raw.lease_id,
        job_id=int(raw.job_id),
        behaviour=raw.behaviour,
        scenario=raw.scenario,
        seed=int(raw.seed),
        teacher=raw.teacher,
        finish_reason=raw.finish_reason,
        outcome=raw.outcome,
        latency_ms=float(raw.latency_ms),
        prompt_tokens=int(raw.prompt_tokens),
        completion_tokens=int(raw.completion_tokens),
        created_at=raw.created_at,
        text_chars=int(raw.text_chars or 0),
        text=raw.text or "",
    )
    return excerpt, [(str(r.reason), str(r.detail)) for r in reasons]
