"""Alembic environment. tracegen runs migrations in-process (`gen_service.store.migrate`), handing
over an open connection in `config.attributes["connection"]`; running `alembic` by hand uses the URL
from alembic.ini or DATABASE_URL. SQLite gets batch mode so ALTERs work there too."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from gen_service.settings import normalize_database_url
from gen_service.store.models import Base

config = context.config
target_metadata = Base.metadata


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_configure_and_run)
        await connection.commit()
    await engine.dispose()


def run() -> None:
    handed_over = config.attributes.get("connection")
    if handed_over is not None:
        _configure_and_run(handed_over)
        return
    url = os.environ.get("DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: set DATABASE_URL or sqlalchemy.url in alembic.ini")
    asyncio.run(_run_with_own_engine(normalize_database_url(url)))


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported; run against a database")
run()
