"""`tracegen serve` on Postgres says so at start-up when the server runs without autovacuum: the
planner's statistics of a growing job would go stale, and its queries slow down."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import httpx

from tests.acceptance.procs import free_port, start, stop, wait_for


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


async def test_serve_warns_exactly_when_autovacuum_is_off(fresh_pg_url: str, tmp_path: Path) -> None:
    conn = await asyncpg.connect(fresh_pg_url)
    try:
        autovacuum = await conn.fetchval("SHOW autovacuum")
    finally:
        await conn.close()
    port = free_port()
    log = tmp_path / "serve.log"
    process = start(["serve", "--db", fresh_pg_url, "--port", str(port)], cwd=tmp_path, log=log)
    try:
        wait_for(lambda: _healthy(port), timeout_s=60, what="the coordinator to answer /healthz")
    finally:
        stop(process)
    warned = "autovacuum is off" in log.read_text()
    assert warned == (autovacuum == "off"), log.read_text()
