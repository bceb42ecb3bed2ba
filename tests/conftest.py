"""Shared fixtures: real databases (Postgres and SQLite), the real catalog, an injected clock.

Each Postgres test gets its own database cloned from a migrated template (`CREATE DATABASE x TEMPLATE
y`): fast, and fully isolated. Each SQLite test gets a copy of a migrated template file. The shared
Postgres on 127.0.0.1:5432 is only ever used to create and drop these databases.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gen_service.clock import ManualClock
from gen_service.resources import Resources, load_resources
from gen_service.service import CoordinatorService
from gen_service.store.engine import create_engine
from gen_service.store.migrate import upgrade_to_head

PG_ADMIN_DSN = os.environ.get("TRACEGEN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgres")


def pg_url(database: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    return f"{base}/{database}"


async def _pg_admin(statement: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()


def _run_sync(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run set-up coroutines from sync session fixtures, even when a test's loop is already running
    (a session fixture first requested from inside an async fixture)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    name = f"tracegen_tpl_{uuid.uuid4().hex[:10]}"
    _run_sync(_pg_admin(f'CREATE DATABASE "{name}"'))
    _run_sync(_migrate(pg_url(name)))
    yield name
    _run_sync(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    _run_sync(_migrate(f"sqlite:///{path}"))
    return path


@pytest.fixture
async def fresh_pg_url(pg_template: str) -> AsyncIterator[str]:
    name = f"tracegen_t_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield pg_url(name)
    await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "tracegen.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path
) -> AsyncIterator[str]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "tracegen.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"tracegen_t_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield pg_url(name)
    await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def resources() -> Resources:
    return load_resources()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def service(engine: AsyncEngine, resources: Resources, clock: ManualClock) -> CoordinatorService:
    return CoordinatorService(engine, resources, clock=clock)
