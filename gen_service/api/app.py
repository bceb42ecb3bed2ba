"""The coordinator's HTTP API. Routes parse, call one service method, and map errors.

`create_app` takes a ready service (embedded mode and tests inject theirs); `serve` builds one from
settings. The reaper runs in the app's lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from gen_service.api.auth import OPEN, Principal, Role, TokenRegistry, require
from gen_service.api.dashboard import DashboardConfig, create_dashboard_router
from gen_service.api.metrics import render_metrics
from gen_service.api.schemas import (
    BehaviourProgressOut,
    BudgetUpdate,
    ClaimRequest,
    ClaimResponse,
    DeficitsOut,
    JobCreate,
    JobOut,
    LeaseOut,
    ReleaseRequest,
    ReleaseResponse,
    ResultStatusOut,
    SubmitRequest,
    SubmitResponse,
    TargetsUpdate,
)
from gen_service.clock import Clock, utc_now
from gen_service.serialization import loads
from gen_service.service import (
    CoordinatorService,
    InvalidRequest,
    JobView,
    ResultSubmission,
    ServiceError,
)
from gen_service.teachers import TeacherConfig

log = logging.getLogger("tracegen.api")


class _OrjsonBodyRequest(Request):
    """A request whose JSON body is parsed by orjson: submit bodies carry hundreds of KB of teacher
    text. orjson's JSONDecodeError is a json.JSONDecodeError, so FastAPI still answers bad JSON with
    its 422; orjson also refuses NaN, Infinity and integers beyond 64 bits there."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class _OrjsonBodyRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def parse_with_orjson(request: Request) -> Response:
            return await handler(_OrjsonBodyRequest(request.scope, request.receive))

        return parse_with_orjson


async def _service(request: Request) -> CoordinatorService:  # async: no thread hand-off per request
    service: CoordinatorService = request.app.state.service
    return service


ServiceDep = Annotated[CoordinatorService, Depends(_service)]
JobIdPath = Annotated[int, Path(ge=1, le=2**63 - 1)]
AdminPrincipal = Annotated[Principal, Depends(require(Role.ADMIN))]
WorkerPrincipal = Annotated[Principal, Depends(require(Role.WORKER))]
ReaderPrincipal = Annotated[Principal, Depends(require(Role.ADMIN, Role.VIEWER))]


class ReadinessCheck:
    """Dependencies /readyz probes: the database always, Redis when one is configured."""

    def __init__(self, redis_url: str | None = None) -> None:
        self.redis_url = redis_url

    async def problems(self, service: CoordinatorService) -> list[str]:
        problems = []
        try:
            async with service.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # any failure means not ready; the probe reports it
            problems.append(f"database: {type(exc).__name__}")
        if self.redis_url:
            import redis.asyncio as redis

            client = redis.from_url(self.redis_url, socket_connect_timeout=2, socket_timeout=2)
            try:
                await client.ping()
            except Exception as exc:  # same: report, never raise from a probe
                problems.append(f"redis: {type(exc).__name__}")
            finally:
                await client.aclose()
        return problems


def _job_out(view: JobView) -> JobOut:
    return JobOut(**asdict(view), budget_exhausted=view.budget_exhausted)


def create_app(
    service: CoordinatorService,
    *,
    teachers: Mapping[str, TeacherConfig],
    lease_ttl_s: float,
    prompt_version: str,
    reaper_interval_s: float | None = 5.0,
    tokens: TokenRegistry | None = None,
    readiness: ReadinessCheck | None = None,
    dashboard_config: DashboardConfig | None = None,
    clock: Clock = utc_now,
) -> FastAPI:
    """The coordinator app. With `tokens` empty or None the API is open (loopback development)."""
    readiness = readiness or ReadinessCheck()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_reaper(service, reaper_interval_s)) if reaper_interval_s else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="tracegen coordinator",
        version="1",
        lifespan=lifespan,
    )
    app.router.route_class = _OrjsonBodyRoute  # the routes below parse their bodies with orjson
    app.state.service = service
    app.state.tokens = tokens or TokenRegistry()

    # The page and its static files hold no data (a browser cannot send a bearer header when it
    # navigates); the JSON and event routes behind them need a reader token.
    app.include_router(
        create_dashboard_router(
            service.engine,
            teachers,
            config=dashboard_config or DashboardConfig(),
            clock=clock,
            data_dependencies=[Depends(require(Role.ADMIN, Role.VIEWER))],
        )
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI echoes the offending input back; that input can be NaN, an infinity or megabytes
        # of text, so only the location, message and type are returned.
        errors = [
            {
                "loc": list(error.get("loc", ())),
                "msg": str(error.get("msg", "")),
                "type": str(error.get("type", "")),
            }
            for error in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz(service: ServiceDep) -> JSONResponse:
        """Readiness: the database (and Redis, when configured) answer."""
        problems = await readiness.problems(service)
        if problems:
            return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", tags=["ops"])
    async def metrics(service: ServiceDep, _: ReaderPrincipal) -> Response:
        return Response(await render_metrics(service.engine), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/jobs", status_code=201, tags=["jobs"])
    async def create_job(
        body: JobCreate,
        service: ServiceDep,
        _: AdminPrincipal,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> JobOut:
        if body.teacher not in teachers:
            raise InvalidRequest(f"unknown teacher {body.teacher!r}; known: {', '.join(sorted(teachers))}")
        if body.targets is not None and body.target is not None:
            raise InvalidRequest("give either targets or target, not both")
        behaviours = service.resources.behaviours
        if body.targets is not None:
            targets = dict(body.targets)
        elif body.target is not None:
            targets = dict.fromkeys(behaviours, body.target)
        else:
            targets = {name: b.default_target for name, b in behaviours.items()}
        view = await service.create_job(
            name=body.name,
            teacher=body.teacher,
            targets=targets,
            lease_ttl_s=body.lease_ttl_s or lease_ttl_s,
            prompt_version=prompt_version,
            token_budget=body.token_budget,
            cost_budget=body.cost_budget,
            execution_check=body.execution_check,
            idempotency_key=idempotency_key,
        )
        return _job_out(view)

    @app.get("/v1/jobs", tags=["jobs"])
    async def list_jobs(service: ServiceDep, _: ReaderPrincipal) -> list[JobOut]:
        return [_job_out(view) for view in await service.list_jobs()]

    @app.get("/v1/jobs/{job_id}", tags=["jobs"])
    async def get_job(job_id: JobIdPath, service: ServiceDep, _: ReaderPrincipal) -> JobOut:
        return _job_out(await service.get_job(job_id))

    @app.post("/v1/jobs/{job_id}/pause", tags=["jobs"])
    async def pause_job(job_id: JobIdPath, service: ServiceDep, _: AdminPrincipal) -> JobOut:
        return _job_out(await service.set_status(job_id, "pause"))

    @app.post("/v1/jobs/{job_id}/drain", tags=["jobs"])
    async def drain_job(job_id: JobIdPath, service: ServiceDep, _: AdminPrincipal) -> JobOut:
        return _job_out(await service.set_status(job_id, "drain"))

    @app.put("/v1/jobs/{job_id}/budget", tags=["jobs"])
    async def update_budget(
        job_id: JobIdPath, body: BudgetUpdate, service: ServiceDep, _: AdminPrincipal
    ) -> JobOut:
        return _job_out(
            await service.set_budget(job_id, token_budget=body.token_budget, cost_budget=body.cost_budget)
        )

    @app.post("/v1/jobs/{job_id}/resume", tags=["jobs"])
    async def resume_job(job_id: JobIdPath, service: ServiceDep, _: AdminPrincipal) -> JobOut:
        return _job_out(await service.set_status(job_id, "resume"))

    @app.post("/v1/jobs/{job_id}/cancel", tags=["jobs"])
    async def cancel_job(job_id: JobIdPath, service: ServiceDep, _: AdminPrincipal) -> JobOut:
        return _job_out(await service.set_status(job_id, "cancel"))

    @app.patch("/v1/jobs/{job_id}/targets", tags=["jobs"])
    async def update_targets(
        job_id: JobIdPath, body: TargetsUpdate, service: ServiceDep, _: AdminPrincipal
    ) -> JobOut:
        return _job_out(await service.set_targets(job_id, body.targets))

    @app.get("/v1/jobs/{job_id}/deficits", tags=["jobs"])
    async def deficits(job_id: JobIdPath, service: ServiceDep, _: ReaderPrincipal) -> DeficitsOut:
        job = await service.get_job(job_id)
        rows = await service.progress(job_id)
        return DeficitsOut(
            job=_job_out(job),
            behaviours=[
                BehaviourProgressOut(**asdict(row), deficit=max(0, row.target - row.accepted)) for row in rows
            ],
        )

    @app.post("/v1/leases/claim", tags=["leases"])
    async def claim(body: ClaimRequest, service: ServiceDep, worker: WorkerPrincipal) -> ClaimResponse:
        # With auth on, a lease belongs to the token's worker, whatever name the body gives.
        owner = body.worker_id if worker is OPEN else worker.name
        result = await service.claim(owner, body.max_leases, body.job_id)
        return ClaimResponse(
            leases=[LeaseOut(**asdict(grant)) for grant in result.leases],
            more_work_possible=result.more_work_possible,
        )

    @app.post("/v1/leases/release", tags=["leases"])
    async def release(body: ReleaseRequest, service: ServiceDep, worker: WorkerPrincipal) -> ReleaseResponse:
        released = await service.release(
            [(ref.lease_id, ref.token) for ref in body.leases], owner=None if worker is OPEN else worker.name
        )
        return ReleaseResponse(released=released)

    @app.post("/v1/results", tags=["leases"])
    async def submit(body: SubmitRequest, service: ServiceDep, worker: WorkerPrincipal) -> SubmitResponse:
        statuses = await service.submit(
            [
                ResultSubmission(
                    lease_id=r.lease_id,
                    token=r.token,
                    trace=r.trace,
                    raw_text=r.raw_text,
                    reasoning=r.reasoning,
                    finish_reason=r.finish_reason,
                    prompt_tokens=r.prompt_tokens,
                    completion_tokens=r.completion_tokens,
                    latency_ms=r.latency_ms,
                    checks=[(c.reason, c.detail) for c in r.checks],
                )
                for r in body.results
            ],
            owner=None if worker is OPEN else worker.name,
        )
        return SubmitResponse(
            results=[
                ResultStatusOut(lease_id=s.lease_id, outcome=s.outcome, reasons=s.reasons) for s in statuses
            ]
        )

    return app


async def _reaper(service: CoordinatorService, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            expired = await service.reap()
            if expired:
                log.info("reaper expired %d leases", expired)
        except Exception:  # the reaper must outlive a transient database error
            log.exception("reaper pass failed; retrying next interval")
