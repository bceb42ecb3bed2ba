"""Server time of one dashboard refresh with 100k samples stored (median), on SQLite and Postgres.

    .venv/bin/python bench/dashboard_refresh.py                       # both backends
    .venv/bin/python bench/dashboard_refresh.py --backend sqlite --samples 20000

Builds a migrated scratch database (a temporary SQLite file; a scratch Postgres database on the
server of TRACEGEN_TEST_PG, dropped afterwards), fills it like a job that ran for `--span-minutes`
(30 behaviours, `--samples` accepted samples, one rejected result per four accepted, one or two gate
reasons per rejection, real scripted teacher text in raw_output, 64 leases in flight), then times
`--refreshes` dashboard refreshes: the snapshot build (all queries and the arithmetic) plus its JSON
serialization, which is what the coordinator spends per refresh and per viewer.

Three figures per backend: the median and p95 of warm refreshes (the reader's excerpt cache holds
the cells, as it does between two refreshes of a live page), and of cold ones (a new reader each
time: every reject cell's excerpts read again, the first refresh of a page). `--recent` puts the
whole history inside the chart's 15-minute window, the worst case for the time-bounded queries.
Not a test: it asserts nothing about durations and always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gen_service.api.dashboard import DashboardConfig, DashboardReader  # noqa: E402
from gen_service.core.gates import Reason  # noqa: E402
from gen_service.core.scripted import scripted_reply_text  # noqa: E402
from gen_service.resources import load_resources  # noqa: E402
from gen_service.serialization import dumps  # noqa: E402
from gen_service.store.engine import create_engine  # noqa: E402
from gen_service.store.migrate import upgrade_to_head  # noqa: E402
from gen_service.store.models import (  # noqa: E402
    Job,
    JobBehaviour,
    Lease,
    LeaseStatus,
    Outcome,
    RawOutput,
    Reject,
    Sample,
    table_of,
)
from gen_service.teachers import BUILTIN_SCRIPTED  # noqa: E402

PG_ADMIN_DSN = os.environ.get("TRACEGEN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BATCH = 2000
REASONS = [r.value for r in Reason if r not in (Reason.DUPLICATE, Reason.UNVERIFIED_FIX)]


async def populate(engine: AsyncEngine, samples: int, span: timedelta, seed: int = 7) -> int:
    """Fill the database like a job that ran for `span` and stored `samples` samples; returns its id."""
    rng = random.Random(seed)
    resources = load_resources()
    behaviours = sorted(resources.behaviours.values(), key=lambda b: b.name)[:30]
    scenarios = list(resources.generation_scenarios)
    texts = [
        scripted_reply_text(b, resources.scenarios[scenarios[i % len(scenarios)]], i, defect_share=0.0)
        for i, b in enumerate(behaviours * 2)
    ]
    trace = {"messages": [{"role": "user", "content": "x" * 1500}], "tools": [], "meta": {}}
    now = datetime.now(UTC)
    start = now - span
    rejected = samples // 4
    results = samples + rejected
    in_flight = 64
    job_table, jb, lease, sample, reject, raw = (
        table_of(m) for m in (Job, JobBehaviour, Lease, Sample, Reject, RawOutput)
    )
    async with engine.begin() as conn:
        job_id = (
            await conn.execute(
                insert(job_table)
                .values(
                    name=f"bench-{uuid.uuid4().hex[:8]}",
                    teacher="scripted",
                    status="running",
                    prompt_version="v1",
                    lease_ttl_s=600,
                    next_seed=results + in_flight,
                    created_at=start,
                    updated_at=now,
                )
                .returning(job_table.c.id)
            )
        ).scalar_one()
    counters = {
        b.name: dict.fromkeys(("accepted", "completed", "in_flight", "prompt", "completion"), 0)
        for b in behaviours
    }
    lease_rows: list[dict[str, Any]] = []
    sample_rows: list[dict[str, Any]] = []
    reject_rows: list[dict[str, Any]] = []
    raw_rows: list[dict[str, Any]] = []

    async def flush(force: bool = False) -> None:
        if not force and len(raw_rows) < BATCH:
            return
        async with engine.begin() as conn:
            for table, rows in (
                (lease, lease_rows),
                (sample, sample_rows),
                (reject, reject_rows),
                (raw, raw_rows),
            ):
                if rows:
                    await conn.execute(insert(table), rows)
                    rows.clear()

    order = [True] * samples + [False] * rejected
    rng.shuffle(order)
    for i, stored in enumerate(order):
        behaviour = behaviours[i % len(behaviours)].name
        at = start + span * (i / results)
        lease_id = str(uuid.UUID(int=rng.getrandbits(128)))
        text_value = texts[i % len(texts)] if stored else "not json: " + texts[i % len(texts)][:3000]
        prompt_tokens, completion_tokens = 900 + i % 200, len(text_value) // 4
        c = counters[behaviour]
        c["completed"] += 1
        c["prompt"] += prompt_tokens
        c["completion"] += completion_tokens
        outcome = Outcome.STORED if stored else Outcome.REJECTED
        lease_rows.append(
            {
                "id": lease_id,
                "job_id": job_id,
                "behaviour": behaviour,
                "scenario": scenarios[i % len(scenarios)],
                "seed": i,
                "token": 1,
                "worker_id": "bench",
                "status": LeaseStatus.COMPLETED,
                "outcome": outcome,
                "issued_at": at - timedelta(seconds=2),
                "expires_at": at + timedelta(minutes=10),
                "finished_at": at,
            }
        )
        raw_rows.append(
            {
                "lease_id": lease_id,
                "job_id": job_id,
                "behaviour": behaviour,
                "scenario": scenarios[i % len(scenarios)],
                "seed": i,
                "teacher": "scripted",
                "text": text_value,
                "reasoning": "",
                "finish_reason": "stop",
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "latency_ms": rng.lognormvariate(7.5, 0.5),
                "outcome": outcome,
                "created_at": at,
            }
        )
        if stored:
            c["accepted"] += 1
            sample_rows.append(
                {
                    "job_id": job_id,
                    "lease_id": lease_id,
                    "behaviour": behaviour,
                    "layer": "bench",
                    "scenario": scenarios[i % len(scenarios)],
                    "content_key": f"{i:064x}",
                    "surplus": 0,
                    "trace": trace,
                    "created_at": at,
                }
            )
        else:
            for reason in rng.sample(REASONS, 1 if rng.random() < 0.8 else 2):
                detail = f"{reason}: assistant message {rng.randint(1, 12)} " + "fails the check " * 8
                reject_rows.append(
                    {
                        "job_id": job_id,
                        "lease_id": lease_id,
                        "behaviour": behaviour,
                        "reason": reason,
                        "detail": detail,
                        "created_at": at,
                    }
                )
        await flush()
    for j in range(in_flight):
        behaviour = behaviours[j % len(behaviours)].name
        counters[behaviour]["in_flight"] += 1
        lease_rows.append(
            {
                "id": str(uuid.uuid4()),
                "job_id": job_id,
                "behaviour": behaviour,
                "scenario": scenarios[0],
                "seed": results + j,
                "token": 1,
                "worker_id": "bench",
                "status": LeaseStatus.IN_FLIGHT,
                "outcome": None,
                "issued_at": now,
                "expires_at": now + timedelta(minutes=10),
                "finished_at": None,
            }
        )
    await flush(force=True)
    async with engine.begin() as conn:
        await conn.execute(
            insert(jb),
            [
                {
                    "job_id": job_id,
                    "behaviour": b.name,
                    "layer": b.layer,
                    "target": counters[b.name]["accepted"] + 500,
                    "accepted": counters[b.name]["accepted"],
                    "passed": counters[b.name]["accepted"],
                    "completed": counters[b.name]["completed"],
                    "surplus": 0,
                    "in_flight": counters[b.name]["in_flight"],
                    "issued": counters[b.name]["completed"] + counters[b.name]["in_flight"],
                    "prompt_tokens": counters[b.name]["prompt"],
                    "completion_tokens": counters[b.name]["completion"],
                }
                for b in behaviours
            ],
        )
    return int(job_id)


async def time_refreshes(engine: AsyncEngine, job_id: int, refreshes: int, *, cold: bool) -> list[float]:
    config = DashboardConfig(share_s=0.0)
    teachers = {"scripted": BUILTIN_SCRIPTED}
    reader = DashboardReader(engine, teachers, config)
    await reader.snapshot(job_id)  # warm the connection pool (and, for warm runs, the excerpt cache)
    times = []
    for _ in range(refreshes):
        if cold:
            reader = DashboardReader(engine, teachers, config)
        started = time.perf_counter()
        snap = await reader.snapshot(job_id)
        dumps(snap)
        times.append((time.perf_counter() - started) * 1000)
    return times


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


async def bench(url: str, label: str, args: argparse.Namespace) -> None:
    engine = create_engine(url)
    try:
        await upgrade_to_head(engine)
        span = timedelta(minutes=14 if args.recent else args.span_minutes)
        loaded = time.perf_counter()
        job_id = await populate(engine, args.samples, span)
        if engine.dialect.name == "postgresql":
            # What autovacuum does on a table that took this many inserts: statistics and the
            # visibility map that index-only scans rely on.
            async with engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM ANALYZE"))
        else:
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
        load_s = time.perf_counter() - loaded
        warm = await time_refreshes(engine, job_id, args.refreshes, cold=False)
        cold = await time_refreshes(engine, job_id, max(5, args.refreshes // 3), cold=True)
        snap = await DashboardReader(engine, {}, DashboardConfig(share_s=0.0)).snapshot(job_id)
        assert snap is not None
        window = sum(p.results for p in snap.throughput.points)
        print(
            f"{label}: {snap.job.accepted:,} samples stored, {snap.rejects.total:,} reject rows,"
            f" {len(snap.rejects.cells)} reject cells, {window:,} results in the chart window"
            f" (history over {span.total_seconds() / 60:.0f} min; loaded in {load_s:.0f} s)"
        )
        print(
            f"  server time per refresh: median {statistics.median(warm):.1f} ms (p95 {p95(warm):.1f} ms)"
            f" over {len(warm)} warm refreshes; cold (first refresh of a page) median"
            f" {statistics.median(cold):.1f} ms over {len(cold)}"
        )
    finally:
        await engine.dispose()


async def main(args: argparse.Namespace) -> None:
    print(f"dashboard refresh benchmark: {args.samples:,} samples, 30 behaviours, {args.refreshes} refreshes")
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="tracegen-bench-") as folder:
            await bench(f"sqlite:///{folder}/bench.db", "sqlite", args)
    if args.backend in ("postgres", "both"):
        import asyncpg

        name = f"tracegen_bench_{uuid.uuid4().hex[:10]}"
        try:
            admin = await asyncpg.connect(PG_ADMIN_DSN)
        except (OSError, asyncpg.PostgresError) as exc:
            print(f"postgres: skipped, cannot reach {PG_ADMIN_DSN.rsplit('@', 1)[-1]}: {exc}")
            return
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
            await bench(f"{PG_ADMIN_DSN.rsplit('/', 1)[0]}/{name}", "postgres", args)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--refreshes", type=int, default=30)
    parser.add_argument("--span-minutes", type=float, default=180.0, help="how long the job has been running")
    parser.add_argument("--recent", action="store_true", help="the whole history inside the last 15 minutes")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
