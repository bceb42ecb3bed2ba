"""Shared plumbing of the CLI commands: settings from flags, engine, service, teachers."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from gen_service.api.auth import Role, TokenRegistry, parse_tokens
from gen_service.resources import Resources, load_resources
from gen_service.service import CoordinatorService, ServiceError
from gen_service.settings import Settings
from gen_service.store.engine import create_engine
from gen_service.store.migrate import schema_is_current, upgrade_to_head
from gen_service.teachers import TeacherConfig, load_teachers

T = TypeVar("T")

db_option = click.option(
    "--db",
    "database_url",
    envvar="DATABASE_URL",
    default=None,
    help="Database URL (postgresql://… or sqlite:///file) or a SQLite file path. Env: DATABASE_URL.",
)
teachers_option = click.option(
    "--teachers",
    "teachers_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="teachers.toml (default: ./teachers.toml when present, else the built-in scripted teacher).",
)


def build_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with non-None flag values on top; bad values are a usage error."""
    try:
        return Settings(**{key: value for key, value in overrides.items() if value is not None})
    except (ValidationError, ValueError) as exc:
        raise click.UsageError(f"invalid settings: {exc}") from None


def token_registry(settings: Settings) -> TokenRegistry:
    try:
        return TokenRegistry(
            parse_tokens(settings.admin_tokens, Role.ADMIN)
            + parse_tokens(settings.worker_tokens, Role.WORKER)
            + parse_tokens(settings.viewer_tokens, Role.VIEWER)
        )
    except ValueError as exc:
        raise click.UsageError(f"invalid token settings: {exc}") from None


def teacher_costs(configs: Mapping[str, TeacherConfig]) -> dict[str, tuple[float, float]]:
    return {name: (c.cost_per_1k_input, c.cost_per_1k_output) for name, c in configs.items()}


def load_teacher_configs(settings: Settings) -> dict[str, TeacherConfig]:
    path = settings.resolved_teachers_file()
    if path is not None and not path.is_file():
        raise click.UsageError(f"teachers file not found: {path}")
    try:
        return load_teachers(path)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def load_resources_or_fail(settings: Settings) -> Resources:
    try:
        return load_resources(max_tokens=settings.max_tokens)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(f"cannot load behaviours/scenarios: {exc}") from None


@contextlib.asynccontextmanager
async def open_engine(settings: Settings, *, migrate: bool) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url)
    try:
        if migrate:
            await upgrade_to_head(engine)
        elif not await schema_is_current(engine):
            raise click.ClickException("the database schema is not current: run `tracegen migrate` first")
        yield engine
    finally:
        await engine.dispose()


async def resolve_job(service: CoordinatorService, name_or_id: str) -> int:
    try:
        return await service.find_job_id(name_or_id)
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(factory())
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None


def install_stop_signals(stop: asyncio.Event) -> None:
    """SIGINT and SIGTERM set `stop` (graceful drain); a second SIGINT aborts at once."""
    loop = asyncio.get_running_loop()
    hits = {"n": 0}

    def _on_signal() -> None:
        hits["n"] += 1
        if hits["n"] > 1:
            raise KeyboardInterrupt
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, _on_signal)


def mapping_summary(counts: Mapping[str, int]) -> str:
    return (
        ", ".join(f"{key} {value}" for key, value in sorted(counts.items(), key=lambda kv: -kv[1])) or "none"
    )
