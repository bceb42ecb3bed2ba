"""Engines for the two backends.

SQLite (embedded default) gets exactly one connection in the pool, so every transaction of the
process is serialized through one writer ("database is locked" cannot happen between our own
workers), WAL so readers in other processes (`tracegen jobs`) are not blocked, and `BEGIN IMMEDIATE`
so a transaction that will write takes the write lock up front instead of failing on upgrade.
Postgres gets a normal pool without pre-ping (see create_engine).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from gen_service.serialization import dumps_str, loads
from gen_service.settings import normalize_database_url


def create_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    url = normalize_database_url(database_url)
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url,
            poolclass=AsyncAdaptedQueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=300,
            connect_args={"timeout": 60},
            json_serializer=dumps_str,
            json_deserializer=loads,
        )
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No ping before each checkout: it is a round trip per transaction. A connection the server
        # dropped fails its first statement instead; SQLAlchemy then invalidates the whole pool, the
        # request answers 5xx and the worker retries it (every write is idempotent per lease).
        pool_pre_ping=False,
        pool_recycle=1800,
        json_serializer=dumps_str,
        json_deserializer=loads,
    )


async def autovacuum_is_off(engine: AsyncEngine) -> bool:
    """Whether the database server runs without autovacuum (always False on SQLite).

    Autovacuum also refreshes the planner's statistics. Without it they stay those of the empty
    tables of a new job, and Postgres keeps planning for a few rows while a job grows to hundreds of
    thousands (measured in bench/throughput: Postgres CPU per sample tripled from 10k to 100k samples).
    """
    if engine.dialect.name != "postgresql":
        return False
    async with engine.connect() as conn:
        setting = (await conn.execute(text("SHOW autovacuum"))).scalar_one()
    return str(setting) == "off"


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (the driver's implicit BEGIN is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
