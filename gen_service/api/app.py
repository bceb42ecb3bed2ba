"""The coordinator's HTTP API. Routes parse, call one service method, and map errors.

`create_app` takes a ready service (embedded mode and tests inject theirs); `serve` builds one from
settings. The reaper runs in the app's lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from gen_service.api.schemas import (
    BehaviourProgressOut,
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
from gen_service.service import (
    CoordinatorService,
    InvalidRequest,
    JobView,
    ResultSubmission,
    ServiceError,
)
from gen_service.teachers import TeacherConfig

log = logging.getLogger("tracegen.api")


def _service(request: Request) -> CoordinatorService:
    service: CoordinatorService = request.app.state.service
    return service


ServiceDep = Annotated[CoordinatorService, Depends(_service)]


def _job_out(view: JobView) -> JobOut:
    return JobOut(**asdict(view))


def create_app(
    service: CoordinatorService,
    *,
    teachers: Mapping[str, TeacherConfig],
    lease_ttl_s: float,
    prompt_version: str,
    reaper_interval_s: float | None = 5.0,
) -> FastAPI:
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
    app.state.service = service

    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/jobs", status_code=201, tags=["jobs"])
    async def create_job(body: JobCreate, service: ServiceDep) -> JobOut:
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
        )
        return _job_out(view)

    @app.get("/v1/jobs", tags=["jobs"])
    async def list_jobs(service: ServiceDep) -> list[JobOut]:
        return [_job_out(view) for view in await service.list_jobs()]

    @app.get("/v1/jobs/{job_id}", tags=["jobs"])
    async def get_job(job_id: int, service: ServiceDep) -> JobOut:
        return _job_out(await service.get_job(job_id))

    @app.post("/v1/jobs/{job_id}/pause", tags=["jobs"])
    async def pause_job(job_id: int, service: ServiceDep) -> JobOut:
        return _job_out(await service.set_status(job_id, "pause"))

    @app.post("/v1/jobs/{job_id}/resume", tags=["jobs"])
    async def resume_job(job_id: int, service: ServiceDep) -> JobOut:
        return _job_out(await service.set_status(job_id, "resume"))

    @app.post("/v1/jobs/{job_id}/cancel", tags=["jobs"])
    async def cancel_job(job_id: int, service: ServiceDep) -> JobOut:
        return _job_out(await service.set_status(job_id, "cancel"))

    @app.patch("/v1/jobs/{job_id}/targets", tags=["jobs"])
    async def update_targets(job_id: int, body: TargetsUpdate, service: ServiceDep) -> JobOut:
        return _job_out(await service.set_targets(job_id, body.targets))

    @app.get("/v1/jobs/{job_id}/deficits", tags=["jobs"])
    async def deficits(job_id: int, service: ServiceDep) -> DeficitsOut:
        job = await service.get_job(job_id)
        rows = await service.progress(job_id)
        return DeficitsOut(
            job=_job_out(job),
            behaviours=[
                BehaviourProgressOut(**asdict(row), deficit=max(0, row.target - row.accepted)) for row in rows
            ],
        )

    @app.post("/v1/leases/claim", tags=["leases"])
    async def claim(body: ClaimRequest, service: ServiceDep) -> ClaimResponse:
        result = await service.claim(body.worker_id, body.max_leases, body.job_id)
        return ClaimResponse(
            leases=[LeaseOut(**asdict(grant)) for grant in result.leases],
            more_work_possible=result.more_work_possible,
        )

    @app.post("/v1/leases/release", tags=["leases"])
    async def release(body: ReleaseRequest, service: ServiceDep) -> ReleaseResponse:
        released = await service.release([(ref.lease_id, ref.token) for ref in body.leases])
        return ReleaseResponse(released=released)

    @app.post("/v1/results", tags=["leases"])
    async def submit(body: SubmitRequest, service: ServiceDep) -> SubmitResponse:
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
                )
                for r in body.results
            ]
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
