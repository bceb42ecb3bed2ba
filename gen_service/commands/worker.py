"""`tracegen worker`: a worker pool that reaches the coordinator only through its HTTP API."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import click
import httpx

from gen_service.commands.common import (
    build_settings,
    install_stop_signals,
    load_resources_or_fail,
    load_teacher_configs,
    teachers_option,
)
from gen_service.logs import configure_logging
from gen_service.memory import pin_mmap_threshold
from gen_service.worker.assembly import build_limiter, build_teachers
from gen_service.worker.client import CoordinatorClient, coordinator_transport
from gen_service.worker.pool import PoolConfig, WorkerPool
from gen_service.worker.teachers import Teacher


@click.command()
@teachers_option
@click.option(
    "--coordinator",
    envvar="TRACEGEN_COORDINATOR_URL",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="Coordinator base URL. Env: TRACEGEN_COORDINATOR_URL.",
)
@click.option("--concurrency", type=click.IntRange(1, 4096), default=32, show_default=True)
@click.option("--job", "job_id", type=click.IntRange(min=1), default=None, help="Only work on this job id.")
@click.option("--worker-id", default=None, help="Name in leases (default: random).")
@click.option("--exit-when-idle", is_flag=True, help="Exit when no job has work left instead of polling.")
@click.option("--grace", "grace_s", type=click.FloatRange(min=0), default=30.0, show_default=True)
@click.option("--submit-batch", type=click.IntRange(1, 10_000), default=64, show_default=True)
@click.option(
    "--prefetch",
    type=click.IntRange(min=0),
    default=None,
    help="Leases claimed ahead of free slots (default: the concurrency).",
)
@click.option(
    "--redis-url",
    envvar="TRACEGEN_REDIS_URL",
    default=None,
    help="Redis for the shared teacher rate budget (one budget for all workers). Env: TRACEGEN_REDIS_URL.",
)
@click.option(
    "--token", envvar="TRACEGEN_TOKEN", default=None, help="Worker bearer token. Env: TRACEGEN_TOKEN."
)
@click.option(
    "--log-format",
    envvar="TRACEGEN_LOG_FORMAT",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
def worker(
    teachers_file: Path | None,
    coordinator: str,
    concurrency: int,
    job_id: int | None,
    worker_id: str | None,
    exit_when_idle: bool,
    grace_s: float,
    submit_batch: int,
    prefetch: int | None,
    redis_url: str | None,
    token: str | None,
    log_format: str,
) -> None:
    """Claim leases, call the teacher, gate, submit; until stopped (SIGTERM/Ctrl-C drains)."""
    settings = build_settings(teachers_file=teachers_file)
    configure_logging(log_format)
    pin_mmap_threshold(settings.malloc_mmap_threshold)
    resources = load_resources_or_fail(settings)
    configs = load_teacher_configs(settings)
    redis_url = redis_url or settings.redis_url
    pool_config = PoolConfig(
        concurrency=concurrency,
        job_id=job_id,
        exit_when_idle=exit_when_idle,
        grace_s=grace_s,
        submit_batch=submit_batch,
        prefetch=prefetch,
    )
    if worker_id:
        pool_config = dataclasses.replace(pool_config, worker_id=worker_id)

    async def main() -> None:
        try:
            teachers: dict[str, Teacher] = build_teachers(
                configs,
                behaviours=resources.behaviours,
                scenarios=resources.scenarios,
                limiter=build_limiter(configs, redis_url),
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        stop = asyncio.Event()
        install_stop_signals(stop)
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
        headers = {"authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(
            base_url=coordinator,
            timeout=60.0,
            limits=limits,
            headers=headers,
            transport=coordinator_transport(limits),
        ) as http:
            pool = WorkerPool(CoordinatorClient(http), teachers, resources, pool_config)
            try:
                stats = await pool.run(stop)
            finally:
                for teacher in teachers.values():
                    await teacher.aclose()
        click.echo(
            f"worker {pool_config.worker_id}: claimed {stats.claimed}, submitted {stats.submitted}, "
            f"released {stats.released}, teacher failures {stats.teacher_failures}, "
            f"outcomes {dict(stats.outcomes)}"
        )

    asyncio.run(main())
