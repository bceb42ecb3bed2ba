"""`/metrics` in Prometheus text format, computed from the database at scrape time.

Reading the counters from the database (not from process memory) keeps them exact and identical on
every coordinator replica, and makes them survive restarts. Cost per scrape: the job_behaviour rows
(30 per job), two GROUP BYs over the (job_id, reason) and (job_id, ...) ranges of reject and
raw_output, and one pass over raw_output latencies of active jobs for the histogram.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gen_service.store.tables import JB, JOB, RAW, REJECT

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class _Snapshot(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self._metrics


async def render_metrics(engine: AsyncEngine) -> bytes:
    async with engine.connect() as conn:
        jobs = {row.id: row.name for row in await conn.execute(select(JOB.c.id, JOB.c.name))}
        behaviours = (await conn.execute(select(JB))).all()
        outcomes = (
            await conn.execute(
                select(RAW.c.job_id, RAW.c.outcome, func.count().label("n")).group_by(
                    RAW.c.job_id, RAW.c.outcome
                )
            )
        ).all()
        reasons = (
            await conn.execute(
                select(REJECT.c.job_id, REJECT.c.reason, func.count().label("n")).group_by(
                    REJECT.c.job_id, REJECT.c.reason
                )
            )
        ).all()
        bucket_columns = [
            func.sum(case((RAW.c.latency_ms <= bound * 1000, 1), else_=0)).label(f"b{i}")
            for i, bound in enumerate(LATENCY_BUCKETS_S)
        ]
        latency = (
            await conn.execute(
                select(
                    RAW.c.job_id,
                    func.count().label("n"),
                    func.coalesce(func.sum(RAW.c.latency_ms), 0).label("total_ms"),
                    *bucket_columns,
                ).group_by(RAW.c.job_id)
            )
        ).all()

    def job_name(job_id: int) -> str:
        return str(jobs.get(job_id, job_id))

    labels = ["job", "behaviour"]
    families: dict[str, Any] = {
        "issued": CounterMetricFamily("tracegen_leases_issued", "Leases issued", labels=labels),
        "accepted": GaugeMetricFamily("tracegen_accepted", "Samples in the corpus", labels=labels),
        "target": GaugeMetricFamily("tracegen_target", "Target samples", labels=labels),
        "deficit": GaugeMetricFamily("tracegen_deficit", "Target minus accepted", labels=labels),
        "in_flight": GaugeMetricFamily("tracegen_in_flight", "Leases in flight", labels=labels),
        "surplus": GaugeMetricFamily("tracegen_surplus", "Passing samples beyond the target", labels=labels),
        "prompt_tokens": CounterMetricFamily(
            "tracegen_prompt_tokens", "Teacher prompt tokens", labels=labels
        ),
        "completion_tokens": CounterMetricFamily(
            "tracegen_completion_tokens", "Teacher completion tokens", labels=labels
        ),
    }
    for row in behaviours:
        values = [job_name(row.job_id), row.behaviour]
        families["issued"].add_metric(values, row.issued)
        families["accepted"].add_metric(values, row.accepted)
        families["target"].add_metric(values, row.target)
        families["deficit"].add_metric(values, max(0, row.target - row.accepted))
        families["in_flight"].add_metric(values, row.in_flight)
        families["surplus"].add_metric(values, row.surplus)
        families["prompt_tokens"].add_metric(values, row.prompt_tokens)
        families["completion_tokens"].add_metric(values, row.completion_tokens)
    results = CounterMetricFamily("tracegen_results", "Results by outcome", labels=["job", "outcome"])
    for row in outcomes:
        results.add_metric([job_name(row.job_id), row.outcome], row.n)
    rejects = CounterMetricFamily("tracegen_rejects", "Gate rejections by reason", labels=["job", "reason"])
    for row in reasons:
        rejects.add_metric([job_name(row.job_id), row.reason], row.n)
    histogram = HistogramMetricFamily(
        "tracegen_teacher_latency_seconds", "Teacher call latency, retries included", labels=["job"]
    )
    for row in latency:
        buckets = [(str(bound), int(getattr(row, f"b{i}") or 0)) for i, bound in enumerate(LATENCY_BUCKETS_S)]
        buckets.append(("+Inf", int(row.n)))
        histogram.add_metric([job_name(row.job_id)], buckets, sum_value=float(row.total_ms) / 1000)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot([*families.values(), results, rejects, histogram]))
    return generate_latest(registry)
