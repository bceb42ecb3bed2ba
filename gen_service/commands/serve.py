"""`tracegen serve`: the coordinator (FastAPI under uvicorn)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click
import uvicorn

from gen_service.api.app import ReadinessCheck, create_app
from gen_service.api.auth import is_loopback
from gen_service.commands.common import (
    build_settings,
    db_option,
    load_resources_or_fail,
    load_teacher_configs,
    open_engine,
    teacher_costs,
    teachers_option,
    token_registry,
)
from gen_service.logs import configure_logging
from gen_service.memory import pin_mmap_threshold
from gen_service.service import CoordinatorService
from gen_service.store.engine import autovacuum_is_off

log = logging.getLogger("tracegen.serve")


@click.command()
@db_option
@teachers_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--lease-ttl", "lease_ttl_s", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option(
    "--reaper-interval", "reaper_interval_s", type=click.FloatRange(min=0, min_open=True), default=None
)
@click.option("--no-migrate", is_flag=True, help="Do not migrate the database on start.")
@click.option("--log-level", default="warning", show_default=True)
def serve(
    database_url: str | None,
    teachers_file: Path | None,
    host: str,
    port: int,
    lease_ttl_s: float | None,
    reaper_interval_s: float | None,
    no_migrate: bool,
    log_level: str,
) -> None:
    """Run the coordinator API (job control, leases, results)."""
    settings = build_settings(
        database_url=database_url,
        teachers_file=teachers_file,
        lease_ttl_s=lease_ttl_s,
        reaper_interval_s=reaper_interval_s,
    )
    pin_mmap_threshold(settings.malloc_mmap_threshold)
    resources = load_resources_or_fail(settings)
    teachers = load_teacher_configs(settings)
    tokens = token_registry(settings)
    if not is_loopback(host) and not tokens.enabled:
        raise click.UsageError(
            f"refusing to listen on {host} without tokens: set TRACEGEN_ADMIN_TOKENS, "
            "TRACEGEN_WORKER_TOKENS and TRACEGEN_VIEWER_TOKENS (or listen on 127.0.0.1)"
        )
    configure_logging(settings.log_format)

    async def main() -> None:
        async with open_engine(settings, migrate=settings.migrate_on_start and not no_migrate) as engine:
            if await autovacuum_is_off(engine):
                log.warning(
                    "autovacuum is off on this PostgreSQL server: the planner's statistics of tracegen's "
                    "tables go stale as a job grows and its queries slow down; turn it on, or run "
                    "ANALYZE on the database regularly"
                )
            app = create_app(
                CoordinatorService(engine, resources, teacher_costs=teacher_costs(teachers)),
                teachers=teachers,
                lease_ttl_s=settings.lease_ttl_s,
                prompt_version=settings.prompt_version,
                reaper_interval_s=settings.reaper_interval_s,
                tokens=tokens,
                readiness=ReadinessCheck(settings.redis_url),
            )
            # Event streams (dashboard) would otherwise hold a shutdown for up to their 30 s lifetime.
            config = uvicorn.Config(
                app, host=host, port=port, log_level=log_level, access_log=False, timeout_graceful_shutdown=5
            )
            await uvicorn.Server(config).serve()

    asyncio.run(main())
