"""`tracegen generate`: the whole job in one process (embedded mode).

Coordinator and worker pool run in one event loop; the worker's HTTP client reaches the coordinator
through `httpx.ASGITransport` (the one sanctioned exception to real HTTP: the same client and routes
as a distributed run, no sockets). The job is identified by `--name`; running the command again
resumes it. Ctrl-C (or SIGTERM) drains in-flight calls, releases what is left, and exits; nothing
acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import click
import httpx

from gen_service.api.app import create_app
from gen_service.commands.common import (
    build_settings,
    db_option,
    install_stop_signals,
    load_resources_or_fail,
    load_teacher_configs,
    open_engine,
    run_async,
    teachers_option,
)
from gen_service.commands.progress import ProgressDisplay
from gen_service.export import export_job
from gen_service.memory import pin_mmap_threshold
from gen_service.service import CoordinatorService, NotFound
from gen_service.store.models import JobStatus
from gen_service.teachers import TeacherConfig
from gen_service.worker.assembly import build_limiter, build_teachers
from gen_service.worker.client import CoordinatorClient
from gen_service.worker.pool import PoolConfig, WorkerPool


@click.command()
@db_option
@teachers_option
@click.option("--name", default="demo", show_default=True, help="Job name; the same name resumes the job.")
@click.option("--target", type=click.IntRange(min=0), default=None, help="Target per selected behaviour.")
@click.option("--behaviours", default=None, help="Comma-separated behaviours (default: all 30).")
@click.option("--teacher", default="scripted", show_default=True, help="Teacher name from teachers.toml.")
@click.option("--concurrency", type=click.IntRange(1, 4096), default=32, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="Export folder.")
@click.option("--lease-ttl", "lease_ttl_s", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option(
    "--execution-check",
    is_flag=True,
    help="New job only: run each trace's edits against its scenario's tests; reject unverified fixes.",
)
@click.option("--no-migrate", is_flag=True, help="Do not migrate the database on start.")
@click.option(
    "--progress-interval", type=click.FloatRange(min=0.1), default=None, help="Seconds between updates."
)
def generate(
    database_url: str | None,
    teachers_file: Path | None,
    name: str,
    target: int | None,
    behaviours: str | None,
    teacher: str,
    concurrency: int,
    out: Path | None,
    lease_ttl_s: float | None,
    execution_check: bool,
    no_migrate: bool,
    progress_interval: float | None,
) -> None:
    """Run (or resume) a generation job in this process, then export it."""
    settings = build_settings(database_url=database_url, teachers_file=teachers_file, lease_ttl_s=lease_ttl_s)
    pin_mmap_threshold(settings.malloc_mmap_threshold)
    resources = load_resources_or_fail(settings)
    teacher_configs = load_teacher_configs(settings)
    if teacher not in teacher_configs:
        raise click.UsageError(f"unknown teacher {teacher!r}; known: {', '.join(sorted(teacher_configs))}")
    selected = list(resources.behaviours)
    if behaviours is not None:
        selected = [b.strip() for b in behaviours.split(",") if b.strip()]
        unknown = sorted(set(selected) - set(resources.behaviours))
        if unknown or not selected:
            raise click.UsageError(
                f"--behaviours: unknown behaviour(s): {', '.join(unknown) or '(none given)'}"
            )
    out_dir = out or Path("tracegen-out") / name
    interactive = sys.stdout.isatty()

    async def main() -> int:
        async with open_engine(settings, migrate=not no_migrate) as engine:
            service = CoordinatorService(engine, resources)
            try:
                job_id = await service.find_job_id(name)
            except NotFound:
                targets = {
                    b: (target if target is not None else resources.behaviours[b].demo_target)
                    for b in selected
                }
                job = await service.create_job(
                    name=name,
                    teacher=teacher,
                    targets=targets,
                    lease_ttl_s=settings.lease_ttl_s,
                    prompt_version=settings.prompt_version,
                    execution_check=execution_check,
                )
                job_id = job.id
                click.echo(f"job {name!r} created: {job.target} samples over {len(selected)} behaviours")
            else:
                job = await service.get_job(job_id)
                if target is not None or behaviours is not None:
                    new_targets = {
                        b: (target if target is not None else resources.behaviours[b].demo_target)
                        for b in selected
                    }
                    job = await service.set_targets(job_id, new_targets)
                    click.echo(f"job {name!r}: targets updated")
                released = await service.release_orphans(job_id)
                click.echo(
                    f"job {name!r} resumed: {job.accepted}/{job.target} accepted"
                    + (f", {released} orphaned leases released" if released else "")
                )
            if job.status == JobStatus.CANCELLED:
                raise click.ClickException(f"job {name!r} is cancelled")
            if job.status == JobStatus.PAUSED:
                raise click.ClickException(f"job {name!r} is paused: `tracegen jobs resume {name}` first")
            if job.status == JobStatus.COMPLETED:
                click.echo(f"job {name!r} is already complete; re-exporting")
                interrupted = False
                rate = None
            else:
                interrupted, rate = await _run_pool(
                    service,
                    settings.lease_ttl_s,
                    settings.prompt_version,
                    teacher_configs,
                    job_id,
                    concurrency,
                    interactive,
                    progress_interval,
                )
            if interrupted:
                job = await service.get_job(job_id)
                click.echo(
                    f"interrupted: {job.accepted}/{job.target} accepted and stored; "
                    "run the same command again to resume"
                )
                return 130
            summary = await export_job(engine, job_id, out_dir)
            click.echo("")
            click.echo(summary.report.rstrip())
            click.echo("")
            if rate is not None:
                click.echo(f"throughput: {rate:.1f} accepted samples/s")
            click.echo(f"exported {summary.kept} samples to {summary.out_dir}")
            return 0

    code = run_async(main)
    if code:
        sys.exit(code)


async def _run_pool(
    service: CoordinatorService,
    lease_ttl_s: float,
    prompt_version: str,
    teacher_configs: dict[str, TeacherConfig],
    job_id: int,
    concurrency: int,
    interactive: bool,
    progress_interval: float | None,
) -> tuple[bool, float | None]:
    configs = teacher_configs
    resources = service.resources
    app = create_app(
        service,
        teachers=configs,
        lease_ttl_s=lease_ttl_s,
        prompt_version=prompt_version,
        reaper_interval_s=None,
    )
    job = await service.get_job(job_id)
    try:
        teachers = build_teachers(
            {job.teacher: configs[job.teacher]},
            behaviours=resources.behaviours,
            scenarios=resources.scenarios,
            limiter=build_limiter(configs, None),  # embedded: this process is the whole pool
        )
    except (KeyError, ValueError) as exc:
        raise click.ClickException(f"teacher {job.teacher!r} of job {job.name!r}: {exc}") from None
    stop = asyncio.Event()
    install_stop_signals(stop)
    accepted_before = job.accepted
    started = time.perf_counter()
    display = ProgressDisplay(service, job_id, interactive=interactive, interval_s=progress_interval)
    await display.start()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://embedded") as http:
        pool = WorkerPool(
            CoordinatorClient(http),
            teachers,
            resources,
            PoolConfig(concurrency=concurrency, job_id=job_id, exit_when_idle=True),
        )
        progress_task = asyncio.create_task(display.run(stop))
        try:
            stats = await pool.run(stop)
            if stats.execution_checks:
                click.echo(
                    f"execution checks: {stats.execution_checks} run, "
                    f"{stats.unverified_fixes} unverified fixes rejected"
                )
        finally:
            progress_task.cancel()
            for teacher in teachers.values():
                await teacher.aclose()
    elapsed = time.perf_counter() - started
    await display.render_final()
    job = await service.get_job(job_id)
    rate = (job.accepted - accepted_before) / elapsed if elapsed > 0 else None
    return stop.is_set(), rate
