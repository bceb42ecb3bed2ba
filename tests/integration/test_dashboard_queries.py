"""The dashboard's reads on both backends: what a snapshot says, that every statement it runs is served
by an index (no table scan), and the dashboard routes over the ASGI seam."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from gen_service.api.app import create_app
from gen_service.api.dashboard import DashboardConfig, DashboardReader, percentile
from gen_service.clock import ManualClock
from gen_service.resources import Resources
from gen_service.service import CoordinatorService, LeaseGrant, ResultSubmission
from gen_service.teachers import BUILTIN_SCRIPTED
from tests.helpers import assert_counters_consistent, result_for

PRICED = {
    "scripted": BUILTIN_SCRIPTED.model_copy(update={"cost_per_1k_input": 0.5, "cost_per_1k_output": 2.0})
}
NO_SHARING = DashboardConfig(share_s=0.0)


async def claim_all(service: CoordinatorService, n: int) -> list[LeaseGrant]:
    return (await service.claim("w", n)).leases


def answer(resources: Resources, lease: LeaseGrant, *, ok: bool, latency_ms: float) -> ResultSubmission:
    result = result_for(resources, lease, trace="honest" if ok else None)
    return dataclasses.replace(result, latency_ms=latency_ms, prompt_tokens=1000, completion_tokens=500)


async def seeded_job(service: CoordinatorService, resources: Resources, clock: ManualClock) -> dict[str, Any]:
    """Two behaviours, target 4 each; 3 accepted and 2 malformed results, 3 leases left in flight."""
    job = await service.create_job(
        name="dash",
        teacher="scripted",
        targets={"survey_before_edit": 4, "tool_intent_first": 4},
        lease_ttl_s=5000,
        prompt_version="v1",
    )
    leases = await claim_all(service, 8)
    assert len(leases) == 8
    by_behaviour: dict[str, list[LeaseGrant]] = {}
    for lease in leases:
        by_behaviour.setdefault(lease.behaviour, []).append(lease)
    survey, tool = by_behaviour["survey_before_edit"], by_behaviour["tool_intent_first"]
    # Old history first: outside the rate window and the chart, still counted in the counters.
    await service.submit([answer(resources, survey[0], ok=True, latency_ms=100)])
    clock.advance(1000)
    await service.submit(
        [
            answer(resources, survey[1], ok=True, latency_ms=200),
            answer(resources, survey[2], ok=False, latency_ms=300),
            answer(resources, tool[0], ok=True, latency_ms=400),
            answer(resources, tool[1], ok=False, latency_ms=500),
        ]
    )
    clock.advance(5)
    return {"job_id": job.id, "malformed": {survey[2].lease_id, tool[1].lease_id}}


async def test_snapshot_reports_counters_windows_rejects_latency_and_cost(
    engine: AsyncEngine, service: CoordinatorService, resources: Resources, clock: ManualClock
) -> None:
    seeded = await seeded_job(service, resources, clock)
    await assert_counters_consistent(engine, seeded["job_id"])
    reader = DashboardReader(engine, PRICED, NO_SHARING, clock=clock)
    snap = await reader.snapshot(seeded["job_id"])
    assert snap is not None
    job = snap.job
    assert (job.name, job.status, job.target, job.accepted, job.remaining) == ("dash", "running", 8, 3, 5)
    assert (job.completed, job.rejected, job.in_flight) == (5, 2, 3)
    assert job.pass_rate == pytest.approx(3 / 5)
    rows = {b.behaviour: b for layer in snap.layers for b in layer.behaviours}
    survey, tool = rows["survey_before_edit"], rows["tool_intent_first"]
    assert (survey.accepted, survey.remaining, survey.in_flight, survey.rejected) == (2, 2, 1, 1)
    assert survey.pass_rate == pytest.approx((2 + 1) / (3 + 2))
    assert survey.deficit == pytest.approx(2 - 0.6 * 1)
    # Rate window: the last minute holds 2 of survey's 3 results (the first is 1005 s old).
    assert survey.results_per_s == pytest.approx(2 / 60)
    assert survey.rate_per_s == pytest.approx(2 / 60 * 0.6)
    assert survey.eta_s == pytest.approx(2 / (2 / 60 * 0.6))
    assert tool.results_per_s == pytest.approx(2 / 60)
    assert job.eta_s == pytest.approx(5 / (survey.rate_per_s + tool.rate_per_s))

    # Chart: 90 buckets of 10 s; the 4 recent results sit in one bucket, the old one is outside.
    points = snap.throughput.points
    assert len(points) == 90 and snap.throughput.bucket_s == 10
    assert sum(p.results for p in points) == 4
    assert points[-1].t <= clock().timestamp() < points[-1].t + 10

    cells = {(c.behaviour, c.reason): c for c in snap.rejects.cells}
    assert set(cells) == {
        ("survey_before_edit", "malformed_output"),
        ("tool_intent_first", "malformed_output"),
    }
    assert snap.rejects.total == 2 and snap.rejects.reasons == ["malformed_output"]
    excerpts = [e for c in cells.values() for e in c.excerpts]
    assert {e.lease_id for e in excerpts} == seeded["malformed"]
    assert all(e.detail and len(e.detail) <= NO_SHARING.excerpt_chars for e in excerpts)

    assert snap.latency.calls == 5
    assert (snap.latency.p50_ms, snap.latency.p95_ms) == (300.0, 500.0)
    assert (snap.tokens.prompt, snap.tokens.completion) == (5000, 2500)
    spent = 5000 / 1000 * 0.5 + 2500 / 1000 * 2.0
    assert snap.cost.spent == pytest.approx(spent)
    assert snap.cost.per_accepted == pytest.approx(spent / 3)
    assert snap.cost.projected_remaining == pytest.approx(spent / 3 * 5)
    assert snap.server_ms > 0
    assert orjson.loads(orjson.dumps(snap))["job"]["accepted"] == 3


async def test_cost_zero_unknown_teacher_and_unknown_job(
    engine: AsyncEngine, service: CoordinatorService, resources: Resources, clock: ManualClock
) -> None:
    seeded = await seeded_job(service, resources, clock)
    free = await DashboardReader(engine, {"scripted": BUILTIN_SCRIPTED}, NO_SHARING, clock=clock).snapshot(
        seeded["job_id"]
    )
    assert free is not None
    assert (free.cost.teacher_known, free.cost.spent, free.cost.per_accepted) == (True, 0.0, 0.0)
    assert free.cost.projected_remaining == 0.0
    unknown = await DashboardReader(engine, {}, NO_SHARING, clock=clock).snapshot(seeded["job_id"])
    assert unknown is not None and not unknown.cost.teacher_known
    assert await DashboardReader(engine, {}, NO_SHARING, clock=clock).snapshot(999) is None


async def test_new_rejects_refresh_cell_excerpts_and_full_behaviours_show_done(
    engine: AsyncEngine, service: CoordinatorService, resources: Resources, clock: ManualClock
) -> None:
    seeded = await seeded_job(service, resources, clock)
    reader = DashboardReader(engine, PRICED, DashboardConfig(share_s=0.0, excerpts_per_cell=1), clock=clock)
    first = await reader.snapshot(seeded["job_id"])
    assert first is not None
    survey_cell = next(c for c in first.rejects.cells if c.behaviour == "survey_before_edit")
    assert survey_cell.count == 1 and len(survey_cell.excerpts) == 1
    more = [lease for lease in await claim_all(service, 8) if lease.behaviour == "survey_before_edit"]
    assert more
    await service.submit([answer(resources, more[0], ok=False, latency_ms=10)])
    second = await reader.snapshot(seeded["job_id"])
    assert second is not None
    survey_cell = next(c for c in second.rejects.cells if c.behaviour == "survey_before_edit")
    assert survey_cell.count == 2
    assert [e.lease_id for e in survey_cell.excerpts] == [more[0].lease_id]  # the newest one

    await service.set_targets(seeded["job_id"], {"survey_before_edit": 2})
    third = await reader.snapshot(seeded["job_id"])
    assert third is not None
    survey = next(
        b for layer in third.layers for b in layer.behaviours if b.behaviour == "survey_before_edit"
    )
    assert (survey.remaining, survey.deficit, survey.eta_s) == (0, 0.0, 0.0)


async def test_a_warm_reader_agrees_with_a_fresh_one(
    engine: AsyncEngine, service: CoordinatorService, resources: Resources, clock: ManualClock
) -> None:
    """The reader keeps chart buckets, latencies and excerpts between refreshes; what it shows must
    equal what a reader with nothing cached reads."""
    seeded = await seeded_job(service, resources, clock)
    config = DashboardConfig(share_s=0.0, latency_calls=4)
    warm = DashboardReader(engine, PRICED, config, clock=clock)
    assert await warm.snapshot(seeded["job_id"]) is not None
    for step, latency in enumerate((11.0, 12.0, 13.0)):
        leases = await claim_all(service, 2)
        await service.submit([answer(resources, lease, ok=step != 1, latency_ms=latency) for lease in leases])
        clock.advance(7)
        warm_snap = await warm.snapshot(seeded["job_id"])
        cold_snap = await DashboardReader(engine, PRICED, config, clock=clock).snapshot(seeded["job_id"])
        assert warm_snap is not None and cold_snap is not None
        assert warm_snap.throughput == cold_snap.throughput
        assert warm_snap.latency == cold_snap.latency
        assert warm_snap.rejects == cold_snap.rejects
    assert sum(p.results for p in cold_snap.throughput.points) > 4
    assert cold_snap.latency.calls == 4


async def test_reject_detail_has_every_reason_and_the_raw_text(
    engine: AsyncEngine, service: CoordinatorService, resources: Resources, clock: ManualClock
) -> None:
    seeded = await seeded_job(service, resources, clock)
    reader = DashboardReader(engine, PRICED, DashboardConfig(raw_chars=5), clock=clock)
    lease_id = sorted(seeded["malformed"])[0]
    found = await reader.reject_detail(seeded["job_id"], lease_id)
    assert found is not None
    assert found["raw"]["lease_id"] == lease_id and found["raw"]["text"] == "not j"
    assert found["raw"]["text_chars"] == len("not json at all") and found["truncated"]
    assert [r["reason"] for r in found["rejections"]] == ["malformed_output"]
    assert found["rejections"][0]["detail"]
    assert await reader.reject_detail(seeded["job_id"], "no-such-lease") is None
    assert await reader.reject_detail(seeded["job_id"] + 1, lease_id) is None


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (50.0, 95.0, 100.0)


# ---- no table scans ------------------------------------------------------------------------


@pytest.fixture
def captured(engine: AsyncEngine) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    yield statements
    event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_every_dashboard_statement_is_served_by_an_index(
    engine: AsyncEngine,
    service: CoordinatorService,
    resources: Resources,
    clock: ManualClock,
    captured: list[tuple[str, Any]],
) -> None:
    seeded = await seeded_job(service, resources, clock)
    captured.clear()
    reader = DashboardReader(engine, PRICED, NO_SHARING, clock=clock)
    assert await reader.snapshot(seeded["job_id"]) is not None
    assert await reader.reject_detail(seeded["job_id"], sorted(seeded["malformed"])[0]) is not None
    statements = list(captured)
    assert len(statements) >= 8
    plans: list[str] = []
    async with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # With sequential scans priced out, a Seq Scan left in a plan means no index can serve it.
            await conn.execute(text("SET enable_seqscan = off"))
        for statement, parameters in statements:
            prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
            result = await conn.exec_driver_sql(prefix + statement, parameters)
            plan = "\n".join(str(row[-1]) for row in result)
            plans.append(plan)
            if engine.dialect.name == "sqlite":
                scans = re.findall(r"SCAN (\w+)(?! USING)", plan)
                assert not [t for t in scans if t in {"raw_output", "reject", "sample", "lease"}], (
                    statement,
                    plan,
                )
            else:
                assert "Seq Scan" not in plan, (statement, plan)
    assert any("ix_raw_output_job_created" in plan for plan in plans)
    assert any("ix_reject_job_behaviour_reason" in plan for plan in plans)


# ---- routes --------------------------------------------------------------------------------


@pytest.fixture
async def dashboard_app(service: CoordinatorService, clock: ManualClock) -> FastAPI:
    config = DashboardConfig(share_s=0.0, refresh_s=0.05, stream_max_s=0.3)
    return create_app(
        service,
        teachers=PRICED,
        lease_ttl_s=60,
        prompt_version="v1",
        reaper_interval_s=None,
        dashboard_config=config,
        clock=clock,
    )


@pytest.fixture
async def api(dashboard_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=dashboard_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_dashboard_routes(
    api: httpx.AsyncClient, service: CoordinatorService, resources: Resources, clock: ManualClock
) -> None:
    seeded = await seeded_job(service, resources, clock)
    job_id = seeded["job_id"]
    for path in ("/dashboard", f"/dashboard/jobs/{job_id}"):
        page = await api.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "/dashboard/static/dashboard.js" in page.text
    script = await api.get("/dashboard/static/dashboard.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert (await api.get("/dashboard/static/dashboard.css")).status_code == 200
    assert (await api.get("/dashboard/static/secrets.txt")).status_code == 404

    stats = await api.get(f"/v1/jobs/{job_id}/stats")
    assert stats.status_code == 200 and stats.json()["job"]["accepted"] == 3
    assert (await api.get("/v1/jobs/999/stats")).status_code == 404
    assert (await api.get("/v1/jobs/999/events")).status_code == 404

    events = await api.get(f"/v1/jobs/{job_id}/events", params={"interval": 0.1})
    assert events.status_code == 200 and events.headers["content-type"].startswith("text/event-stream")
    blocks = [b for b in events.text.split("\n\n") if b.startswith("event: snapshot")]
    assert len(blocks) >= 2  # several refreshes, then the stream ends by itself (stream_max_s)
    payload = orjson.loads(blocks[0].split("data: ", 1)[1])
    assert payload["job"]["id"] == job_id and payload["layers"]
    assert (await api.get(f"/v1/jobs/{job_id}/events", params={"interval": 0})).status_code == 422

    lease_id = sorted(seeded["malformed"])[0]
    detail = await api.get(f"/v1/jobs/{job_id}/rejects/{lease_id}")
    assert detail.status_code == 200 and detail.json()["rejections"][0]["reason"] == "malformed_output"
    assert (await api.get(f"/v1/jobs/{job_id}/rejects/nope")).status_code == 404
