"""The live deficit dashboard: pages, a JSON snapshot, a server-sent event stream, reject excerpts.

    app.include_router(create_dashboard_router(engine, teachers))

Routes:
- `GET /dashboard` and `GET /dashboard/jobs/{job_id}`: the page (plain HTML, JS and CSS from
  `api/static/`, no build step, nothing fetched from outside the coordinator);
- `GET /v1/jobs/{job_id}/stats`: one snapshot as JSON;
- `GET /v1/jobs/{job_id}/events`: `snapshot` events every `refresh_s` (or `?interval=`), until the
  client leaves or `stream_max_s` passes (the page reconnects at once; this keeps a coordinator
  shutdown from waiting on open streams for long);
- `GET /v1/jobs/{job_id}/rejects/{lease_id}`: one rejected result: its reasons with full detail and
  the start of the raw teacher text.

The pages carry no data, so they need no credentials; `data_dependencies` (e.g. a viewer-role check)
guard the three `/v1` routes. The page sends `Authorization: Bearer <token>` when it was opened as
`/dashboard#token=<token>` (the fragment never reaches the server's logs).

Cost per refresh: the statements of `gen_service.dashboard_queries`, run on one connection: counters,
two time-bounded index ranges, one LIMIT walk, one covering-index count, and excerpt lookups only for
reject cells whose count changed. Viewers of the same job share a snapshot younger than `share_s`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.params import Depends
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gen_service import dashboard_queries as q
from gen_service.clock import Clock, utc_now
from gen_service.serialization import dumps
from gen_service.teachers import TeacherConfig

__all__ = ["DashboardConfig", "DashboardReader", "create_dashboard_router", "percentile"]

log = logging.getLogger("tracegen.dashboard")

STATIC_DIR = Path(__file__).with_name("static")
_ASSETS = {"dashboard.js": "text/javascript; charset=utf-8", "dashboard.css": "text/css; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class DashboardConfig:
    """What one refresh reads and how often it is pushed.

    `DashboardConfig(refresh_s=0.5, latency_calls=200)`
    """

    refresh_s: float = 1.0  # seconds between two snapshot events of a stream
    share_s: float = 0.5  # a snapshot younger than this is served again to other viewers of the job
    rate_window_s: int = 60  # the window of the "current rate" per behaviour
    bucket_s: int = 10  # width of one bar of the throughput chart
    chart_window_s: int = 900  # how far back the chart goes
    latency_calls: int = 500  # p50 / p95 over this many most recent teacher results
    excerpts_per_cell: int = 3  # reject excerpts shown in each gate × behaviour cell
    excerpt_chars: int = 160  # characters of a reject's detail in an excerpt
    raw_chars: int = 2000  # characters of raw teacher text shown when an excerpt is opened
    stream_max_s: float = 30.0  # an event stream ends after this long; the page reconnects

    def __post_init__(self) -> None:
        if self.refresh_s <= 0 or self.share_s < 0 or self.stream_max_s <= 0:
            raise ValueError("refresh_s and stream_max_s must be > 0, share_s >= 0")
        if min(self.rate_window_s, self.bucket_s, self.latency_calls, self.excerpt_chars) < 1:
            raise ValueError("windows, bucket, latency_calls and excerpt_chars must be >= 1")
        if self.chart_window_s < self.bucket_s or self.excerpts_per_cell < 0 or self.raw_chars < 0:
            raise ValueError("chart_window_s must hold one bucket; counts must be >= 0")


# ---- the snapshot (what /stats returns and /events pushes) -------------------------------------


@dataclass(frozen=True, slots=True)
class BehaviourStat:
    behaviour: str
    layer: str
    target: int
    accepted: int
    remaining: int  # target − accepted, never negative
    deficit: float  # remaining − pass rate × in flight (the scheduler's need), never negative
    in_flight: int
    completed: int  # results with a verdict
    rejected: int
    surplus: int
    pass_rate: float  # (passed + 1) / (completed + 2), the scheduler's estimate
    results_per_s: float  # teacher results per second over the rate window
    rate_per_s: float  # expected accepted samples per second: results_per_s × pass_rate
    eta_s: float | None  # remaining ÷ rate_per_s; 0 when full; None when nothing is moving


@dataclass(frozen=True, slots=True)
class LayerStat:
    layer: str
    target: int
    accepted: int
    behaviours: list[BehaviourStat]


@dataclass(frozen=True, slots=True)
class JobStat:
    id: int
    name: str
    status: str
    teacher: str
    created_at: datetime
    target: int
    accepted: int
    remaining: int
    deficit: float
    in_flight: int
    completed: int
    rejected: int
    surplus: int
    pass_rate: float  # passed ÷ completed over the whole job (0 before the first result)
    results_per_s: float
    rate_per_s: float
    eta_s: float | None


@dataclass(frozen=True, slots=True)
class ThroughputPoint:
    t: int  # bucket start, epoch seconds
    results: int
    per_s: float  # results ÷ the bucket's elapsed seconds (the current bucket is partial)


@dataclass(frozen=True, slots=True)
class Throughput:
    bucket_s: int
    window_s: int
    points: list[ThroughputPoint]


@dataclass(frozen=True, slots=True)
class Excerpt:
    reject_id: int
    lease_id: str
    detail: str


@dataclass(frozen=True, slots=True)
class RejectCellStat:
    behaviour: str
    reason: str
    count: int
    excerpts: list[Excerpt]


@dataclass(frozen=True, slots=True)
class Rejects:
    total: int  # rejection rows (a result failing two gates counts twice)
    reasons: list[str]
    behaviours: list[str]
    cells: list[RejectCellStat]


@dataclass(frozen=True, slots=True)
class Latency:
    calls: int  # how many recent results the percentiles cover
    p50_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True, slots=True)
class Tokens:
    prompt: int
    completion: int


@dataclass(frozen=True, slots=True)
class Cost:
    teacher_known: bool  # the job's teacher is in the coordinator's teachers config
    cost_per_1k_input: float
    cost_per_1k_output: float
    spent: float
    per_accepted: float | None  # spent ÷ accepted (rejected calls included); None before the first
    projected_remaining: float | None  # per_accepted × remaining samples


@dataclass(frozen=True, slots=True)
class Snapshot:
    generated_at: datetime
    server_ms: float  # time spent building this snapshot on the server
    job: JobStat
    layers: list[LayerStat]
    throughput: Throughput
    rejects: Rejects
    latency: Latency
    tokens: Tokens
    cost: Cost
    refresh_s: float = 1.0
    shared: bool = field(default=False)  # served from another viewer's recent refresh


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (`pct` in (0, 100]); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _pass_rate(passed: int, completed: int) -> float:
    return (passed + 1) / (completed + 2)


# ---- the reader -------------------------------------------------------------------------------


class DashboardReader:
    """Builds snapshots for the dashboard; shared by every viewer of one coordinator process.

    It keeps small per-job caches, all safe to lose: the last snapshot (reused for `share_s`), the
    chart buckets that can no longer change, the newest latencies, and the excerpts of each reject
    cell with the count they were read at (read again only when the count moves). So a refresh
    reads what changed since the last one, not the whole window again. The database stays the only
    source of truth.
    """

    _MAX_JOBS_CACHED = 64

    def __init__(
        self,
        engine: AsyncEngine,
        teachers: Mapping[str, TeacherConfig],
        config: DashboardConfig | None = None,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._engine = engine
        self._teachers = teachers
        self.config = config or DashboardConfig()
        self._clock = clock
        self._caches: OrderedDict[int, _JobCache] = OrderedDict()
        self._last: dict[int, tuple[float, Snapshot]] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def snapshot(self, job_id: int) -> Snapshot | None:
        """The job's current snapshot, or None for an unknown job."""
        lock = self._locks.setdefault(job_id, asyncio.Lock())
        async with lock:
            last = self._last.get(job_id)
            if last is not None and time.monotonic() - last[0] < self.config.share_s:
                return _replace_shared(last[1])
            started = time.perf_counter()
            snap = await self._build(job_id, started)
            if snap is None:
                self._last.pop(job_id, None)
                self._locks.pop(job_id, None)  # unknown ids must not accumulate
                return None
            self._last[job_id] = (time.monotonic(), snap)
            while len(self._last) > self._MAX_JOBS_CACHED:
                self._last.pop(next(iter(self._last)))
            return snap

    async def reject_detail(self, job_id: int, lease_id: str) -> dict[str, Any] | None:
        async with self._engine.connect() as conn:
            found = await q.reject_detail(conn, job_id, lease_id, chars=self.config.raw_chars)
        if found is None:
            return None
        raw, reasons = found
        return {
            "raw": asdict(raw),
            "rejections": [{"reason": reason, "detail": detail} for reason, detail in reasons],
            "truncated": raw.text_chars > len(raw.text),
        }

    async def _build(self, job_id: int, started: float) -> Snapshot | None:
        cfg = self.config
        now = self._clock()
        now_s = now.timestamp()
        current_bucket = int(now_s // cfg.bucket_s) * cfg.bucket_s
        first_bucket = current_bucket - (cfg.chart_window_s // cfg.bucket_s - 1) * cfg.bucket_s
        cache = self._cache(job_id)
        async with self._engine.connect() as conn:
            job = await q.job_row(conn, job_id)
            if job is None:
                self._caches.pop(job_id, None)
                return None
            counters = await q.behaviour_counters(conn, job_id)
            buckets = await self._buckets(conn, cache, job_id, first_bucket, current_bucket)
            recent = await q.results_per_behaviour(conn, job_id, now - timedelta(seconds=cfg.rate_window_s))
            latencies = await self._latencies(conn, cache, job_id)
            cells = await q.reject_counts(conn, job_id)
            excerpts = await self._cell_excerpts(conn, cache, job_id, cells)

        # A job younger than the rate window has not had the whole window to produce results.
        age_s = max(1.0, (now - job.created_at).total_seconds())
        rate_span_s = min(float(cfg.rate_window_s), age_s)
        behaviours: list[BehaviourStat] = []
        for row in counters:
            remaining = max(0, row.target - row.accepted)
            pass_rate = _pass_rate(row.passed, row.completed)
            results_per_s = recent.get(row.behaviour, 0) / rate_span_s
            rate = results_per_s * pass_rate
            eta: float | None = 0.0 if remaining == 0 else (remaining / rate if rate > 0 else None)
            behaviours.append(
                BehaviourStat(
                    behaviour=row.behaviour,
                    layer=row.layer,
                    target=row.target,
                    accepted=row.accepted,
                    remaining=remaining,
                    deficit=max(0.0, remaining - pass_rate * row.in_flight),
                    in_flight=row.in_flight,
                    completed=row.completed,
                    rejected=row.completed - row.passed,
                    surplus=row.surplus,
                    pass_rate=pass_rate,
                    results_per_s=results_per_s,
                    rate_per_s=rate,
                    eta_s=eta,
                )
            )
        layers: dict[str, list[BehaviourStat]] = {}
        for stat in behaviours:
            layers.setdefault(stat.layer, []).append(stat)

        remaining_total = sum(b.remaining for b in behaviours)
        accepted_total = sum(b.accepted for b in behaviours)
        completed_total = sum(b.completed for b in behaviours)
        passed_total = sum(row.passed for row in counters)
        rate_total = sum(b.rate_per_s for b in behaviours)
        job_eta: float | None = (
            0.0 if remaining_total == 0 else (remaining_total / rate_total if rate_total > 0 else None)
        )
        prompt_tokens = sum(int(row.prompt_tokens) for row in counters)
        completion_tokens = sum(int(row.completion_tokens) for row in counters)

        points = []
        for start in range(first_bucket, current_bucket + cfg.bucket_s, cfg.bucket_s):
            elapsed = min(float(cfg.bucket_s), max(1.0, now_s - start))
            count = buckets.get(start, 0)
            points.append(ThroughputPoint(t=start, results=count, per_s=count / elapsed))

        teacher = self._teachers.get(job.teacher)
        cin = teacher.cost_per_1k_input if teacher else 0.0
        cout = teacher.cost_per_1k_output if teacher else 0.0
        spent = prompt_tokens / 1000 * cin + completion_tokens / 1000 * cout
        per_accepted = spent / accepted_total if accepted_total else None
        cost = Cost(
            teacher_known=teacher is not None,
            cost_per_1k_input=cin,
            cost_per_1k_output=cout,
            spent=spent,
            per_accepted=per_accepted,
            projected_remaining=(
                per_accepted * remaining_total
                if per_accepted is not None
                else (0.0 if teacher is not None and cin == cout == 0.0 else None)
            ),
        )
        job_stat = JobStat(
            id=int(job.id),
            name=job.name,
            status=str(job.status),
            teacher=job.teacher,
            created_at=job.created_at,
            target=sum(b.target for b in behaviours),
            accepted=accepted_total,
            remaining=remaining_total,
            deficit=sum(b.deficit for b in behaviours),
            in_flight=sum(b.in_flight for b in behaviours),
            completed=completed_total,
            rejected=sum(b.rejected for b in behaviours),
            surplus=sum(b.surplus for b in behaviours),
            pass_rate=passed_total / completed_total if completed_total else 0.0,
            results_per_s=sum(b.results_per_s for b in behaviours),
            rate_per_s=rate_total,
            eta_s=job_eta,
        )
        rejects = Rejects(
            total=sum(cell.count for cell in cells),
            reasons=sorted({cell.reason for cell in cells}),
            behaviours=sorted({cell.behaviour for cell in cells}),
            cells=[
                RejectCellStat(
                    cell.behaviour, cell.reason, cell.count, excerpts.get((cell.behaviour, cell.reason), [])
                )
                for cell in cells
            ],
        )
        return Snapshot(
            generated_at=now,
            job=job_stat,
            layers=[
                LayerStat(
                    layer=name,
                    target=sum(b.target for b in stats),
                    accepted=sum(b.accepted for b in stats),
                    behaviours=stats,
                )
                for name, stats in sorted(layers.items())
            ],
            throughput=Throughput(bucket_s=cfg.bucket_s, window_s=cfg.chart_window_s, points=points),
            rejects=rejects,
            latency=Latency(
                calls=len(latencies), p50_ms=percentile(latencies, 50), p95_ms=percentile(latencies, 95)
            ),
            tokens=Tokens(prompt=prompt_tokens, completion=completion_tokens),
            cost=cost,
            refresh_s=cfg.refresh_s,
            # Last argument: the server time covers the arithmetic above as well as the queries.
            server_ms=(time.perf_counter() - started) * 1000,
        )

    def _cache(self, job_id: int) -> _JobCache:
        cache = self._caches.get(job_id)
        if cache is None:
            cache = self._caches[job_id] = _JobCache(latencies=deque(maxlen=self.config.latency_calls))
            while len(self._caches) > self._MAX_JOBS_CACHED:
                self._caches.popitem(last=False)
        self._caches.move_to_end(job_id)
        return cache

    async def _buckets(
        self, conn: AsyncConnection, cache: _JobCache, job_id: int, first_bucket: int, current_bucket: int
    ) -> dict[int, int]:
        bucket_s = self.config.bucket_s
        if cache.final_before is None or cache.final_before > current_bucket:  # first read, or time went back
            cache.buckets.clear()
            cache.final_before = first_bucket
        since = max(first_bucket, cache.final_before)
        fresh = await q.results_per_bucket(conn, job_id, datetime.fromtimestamp(since, UTC), bucket_s)
        for start in range(since, current_bucket + bucket_s, bucket_s):
            cache.buckets[start] = fresh.get(start, 0)
        for start in [b for b in cache.buckets if b < first_bucket]:
            del cache.buckets[start]
        # A result is stamped when its transaction starts and seen when it commits, a few
        # milliseconds later: only buckets older than the previous one are final.
        cache.final_before = current_bucket - bucket_s
        return cache.buckets

    async def _latencies(self, conn: AsyncConnection, cache: _JobCache, job_id: int) -> list[float]:
        rows = await q.recent_latencies(conn, job_id, self.config.latency_calls, since=cache.latency_seen_at)
        fresh = [
            row for row in rows if row[2] != cache.latency_seen_at or row[0] not in cache.latency_seen_ids
        ]
        for _lease_id, latency_ms, _at in reversed(fresh):
            cache.latencies.append(latency_ms)
        if rows:
            newest = rows[0][2]
            same = {lease_id for lease_id, _, at in rows if at == newest}
            cache.latency_seen_ids = same | (
                cache.latency_seen_ids if newest == cache.latency_seen_at else set()
            )
            cache.latency_seen_at = newest
        return list(cache.latencies)

    async def _cell_excerpts(
        self, conn: AsyncConnection, cache: _JobCache, job_id: int, cells: Sequence[q.RejectCell]
    ) -> dict[tuple[str, str], list[Excerpt]]:
        cached = cache.excerpts
        per_cell = self.config.excerpts_per_cell
        stale = [
            (cell.behaviour, cell.reason)
            for cell in cells
            if cached.get((cell.behaviour, cell.reason), (-1, []))[0] != cell.count
        ]
        if stale and per_cell:
            fresh: dict[tuple[str, str], list[Excerpt]] = {key: [] for key in stale}
            for found in await q.reject_excerpts(
                conn, job_id, stale, per_cell=per_cell, chars=self.config.excerpt_chars
            ):
                fresh[(found.behaviour, found.reason)].append(
                    Excerpt(reject_id=found.reject_id, lease_id=found.lease_id, detail=found.detail)
                )
            counts = {(cell.behaviour, cell.reason): cell.count for cell in cells}
            for key, found_list in fresh.items():
                cached[key] = (counts[key], found_list)
        return {key: value[1] for key, value in cached.items()}


@dataclass
class _JobCache:
    """What a reader keeps between two refreshes of one job; losing it costs one full read."""

    latencies: deque[float]  # the newest `latency_calls` latencies, oldest first
    latency_seen_at: datetime | None = None  # created_at of the newest result read so far
    latency_seen_ids: set[str] = field(default_factory=set)  # lease ids read at exactly that time
    buckets: dict[int, int] = field(default_factory=dict)  # chart bucket start -> results
    final_before: int | None = None  # buckets starting before this are complete and kept
    # (behaviour, reason) -> (count when read, newest excerpts)
    excerpts: dict[tuple[str, str], tuple[int, list[Excerpt]]] = field(default_factory=dict)


def _replace_shared(snap: Snapshot) -> Snapshot:
    return replace(snap, shared=True)


# ---- the router -------------------------------------------------------------------------------


def _page() -> str:
    return (STATIC_DIR / "dashboard.html").read_text(encoding="utf-8")


def create_dashboard_router(
    engine: AsyncEngine,
    teachers: Mapping[str, TeacherConfig],
    *,
    config: DashboardConfig | None = None,
    clock: Clock = utc_now,
    data_dependencies: Sequence[Depends] = (),
) -> APIRouter:
    """The dashboard's routes over `engine`; mount with `app.include_router(...)`.

    `teachers` prices the job's tokens (cost_per_1k_input / cost_per_1k_output); a teacher missing
    from it is shown as unknown cost, a teacher with no price as cost 0.
    """
    reader = DashboardReader(engine, teachers, config, clock=clock)
    cfg = reader.config
    page = _page()
    assets = {name: (STATIC_DIR / name).read_bytes() for name in _ASSETS}
    router = APIRouter()
    data = APIRouter(dependencies=list(data_dependencies), tags=["dashboard"])

    @router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard_index() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    @router.get("/dashboard/jobs/{job_id}", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard_job(job_id: int) -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    @router.get("/dashboard/static/{name}", include_in_schema=False)
    async def dashboard_asset(name: str) -> Response:
        if name not in assets:
            raise HTTPException(404, f"no dashboard asset {name!r}")
        return Response(assets[name], media_type=_ASSETS[name], headers={"Cache-Control": "no-cache"})

    async def snapshot_or_404(job_id: int) -> Snapshot:
        snap = await reader.snapshot(job_id)
        if snap is None:
            raise HTTPException(404, f"no job {job_id}")
        return snap

    @data.get("/v1/jobs/{job_id}/stats")
    async def job_stats(job_id: int) -> Response:
        """One dashboard snapshot of the job (the payload of each `snapshot` event)."""
        return Response(dumps(await snapshot_or_404(job_id)), media_type="application/json")

    @data.get("/v1/jobs/{job_id}/events")
    async def job_events(
        job_id: int,
        request: Request,
        interval: Annotated[float | None, Query(ge=0.1, le=60, allow_inf_nan=False)] = None,
    ) -> StreamingResponse:
        """Server-sent events: a `snapshot` event every `interval` seconds (default: the
        configured refresh), ending after `stream_max_s` (clients reconnect)."""
        first = await snapshot_or_404(job_id)
        period = interval if interval is not None else cfg.refresh_s

        async def stream() -> AsyncIterator[bytes]:
            deadline = time.monotonic() + cfg.stream_max_s
            snap: Snapshot | None = first
            yield b"retry: 1000\n\n"
            while True:
                if snap is not None:
                    yield b"event: snapshot\ndata: " + dumps(snap) + b"\n\n"
                if time.monotonic() + period > deadline or await request.is_disconnected():
                    return
                await asyncio.sleep(period)
                try:
                    snap = await reader.snapshot(job_id)
                except SQLAlchemyError as exc:
                    # A database hiccup costs the viewer one refresh, not the stream.
                    log.warning("dashboard snapshot of job %d failed: %s", job_id, exc)
                    yield b"event: problem\ndata: " + dumps({"detail": "database unavailable"}) + b"\n\n"
                    snap = None
                    continue
                if snap is None:
                    yield b"event: problem\ndata: " + dumps({"detail": f"no job {job_id}"}) + b"\n\n"
                    return

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @data.get("/v1/jobs/{job_id}/rejects/{lease_id}")
    async def reject_detail(job_id: int, lease_id: str) -> Response:
        """A rejected result of the job: every reason with its full detail, and the start of the
        teacher's raw text."""
        found = await reader.reject_detail(job_id, lease_id)
        if found is None:
            raise HTTPException(404, f"job {job_id} has no result for lease {lease_id!r}")
        return Response(dumps(found), media_type="application/json")

    router.include_router(data)
    return router
