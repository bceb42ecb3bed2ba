"""Migration 0004 on Postgres: the large text columns compress with lz4, new values are stored so,
and a downgrade puts pglz back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from alembic import command
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from gen_service.clock import ManualClock
from gen_service.resources import Resources
from gen_service.service import CoordinatorService
from gen_service.store.engine import create_engine
from gen_service.store.migrate import alembic_config
from tests.helpers import result_for

COLUMNS = {
    ("sample", "trace"),
    ("trace_context", "body"),
    ("raw_output", "text"),
    ("raw_output", "reasoning"),
}


@pytest.fixture
async def pg_engine(fresh_pg_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(fresh_pg_url)
    yield engine
    await engine.dispose()


async def _compression(engine: AsyncEngine) -> dict[tuple[str, str], str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT c.relname, a.attname, a.attcompression::text AS method FROM pg_attribute a "
                "JOIN pg_class c ON c.oid = a.attrelid "
                "WHERE c.relname IN ('sample', 'trace_context', 'raw_output') AND a.attnum > 0"
            )
        )
        return {(r.relname, r.attname): r.method for r in rows if (r.relname, r.attname) in COLUMNS}


async def test_large_columns_use_lz4_and_a_downgrade_restores_pglz(
    pg_engine: AsyncEngine, resources: Resources
) -> None:
    assert await _compression(pg_engine) == dict.fromkeys(COLUMNS, "l")

    service = CoordinatorService(pg_engine, resources, clock=ManualClock())
    job = await service.create_job(
        name="lz4", teacher="scripted", targets={"survey_before_edit": 1}, lease_ttl_s=60, prompt_version="v1"
    )
    (lease,) = (await service.claim("w", 1, job.id)).leases
    (status,) = await service.submit([result_for(resources, lease)])
    assert status.outcome.value == "stored"
    async with pg_engine.connect() as conn:
        stored = (await conn.execute(text("SELECT pg_column_compression(text) FROM raw_output"))).scalar_one()
    assert stored == "lz4", "the teacher's text (several KB) is compressed out of line with lz4"

    def downgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")

    async with pg_engine.begin() as conn:
        await conn.run_sync(downgrade)
    assert await _compression(pg_engine) == dict.fromkeys(COLUMNS, "p")
