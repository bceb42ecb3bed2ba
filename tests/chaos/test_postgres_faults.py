"""Postgres connections terminated under the coordinator mid-claim and mid-submit (issue 5, point 2).

A killer thread watches `pg_stat_activity` of the test's private database only (never another
database on the shared server) and calls `pg_terminate_backend` on the coordinator's backends while
they are inside a claim or a submit transaction, plus now and then on idle pooled connections (the
pool does not ping before use: the next statement on such a connection fails, the pool is
invalidated, and the request answers 5xx). The coordinator is never restarted: it must recover by
itself, and the workers' retries of 5xx answers must make every result land exactly once.

The job is large enough to outlast the killer's strikes (a fast coordinator finished the earlier,
smaller job before any submit was caught); once the killer has its kills, the job runs to the end.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.acceptance.procs import wait_for
from tests.chaos import Cluster, check_end_state, wait_no_overdue
from tests.conftest import PG_ADMIN_DSN

pytestmark = pytest.mark.acceptance

SEED = 5_0002
TARGETS = {
    "survey_before_edit": 250,
    "hypothesis_driven_debugging": 250,
    "tool_intent_first": 250,
    "render_or_visual_proof": 250,
}
WANTED = {"claim": 6, "submit": 6, "idle": 4}  # terminations per kind, then the killer stops

CLAIM_MARKERS = ("INSERT INTO lease", "next_seed")
SUBMIT_MARKERS = ("INSERT INTO raw_output", "INSERT INTO sample", "INSERT INTO reject", "content_key")


def classify(query: str, state: str) -> str | None:
    if state == "idle":
        return "idle"
    if any(marker in query for marker in SUBMIT_MARKERS):
        return "submit"
    if any(marker in query for marker in CLAIM_MARKERS):
        return "claim"
    return None


class BackendKiller(threading.Thread):
    """Terminates the coordinator's backends on one database, by kind, until it has enough."""

    def __init__(self, database: str, seed: int) -> None:
        super().__init__(daemon=True)
        self.database = database
        self.rng = random.Random(seed)
        self.killed: Counter[str] = Counter()
        self.seen: list[tuple[str, str]] = []
        self.stop_event = threading.Event()
        self.error: BaseException | None = None

    def done(self) -> bool:
        return all(self.killed[kind] >= n for kind, n in WANTED.items())

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    async def _main(self) -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN, server_settings={"application_name": "chaos-killer"})
        try:
            while not self.stop_event.is_set() and not self.done():
                rows = await conn.fetch(
                    "SELECT pid, state, query FROM pg_stat_activity"
                    " WHERE datname = $1 AND pid <> pg_backend_pid()"
                    " AND application_name NOT LIKE 'chaos-%'"
                    " AND state IN ('active', 'idle in transaction', 'idle')",
                    self.database,
                )
                candidates = [
                    (row["pid"], kind)
                    for row in rows
                    if (kind := classify(row["query"] or "", row["state"])) is not None
                    and self.killed[kind] < WANTED[kind]
                ]
                # Mid-transaction kills are the interesting ones; idle ones only now and then.
                busy = [c for c in candidates if c[1] != "idle"]
                pick = None
                if busy:
                    pick = self.rng.choice(busy)
                elif candidates and self.rng.random() < 0.02:
                    pick = self.rng.choice(candidates)
                if pick is not None:
                    pid, kind = pick
                    if await conn.fetchval("SELECT pg_terminate_backend($1)", pid):
                        self.killed[kind] += 1
                    # Give the service a moment to notice before the next strike.
                    await asyncio.sleep(self.rng.uniform(0.05, 0.2))
                else:
                    await asyncio.sleep(0.005)
        finally:
            await conn.close()


def test_terminated_connections_mid_claim_and_mid_submit(tmp_path: Path, fresh_pg_url: str) -> None:
    database = fresh_pg_url.rsplit("/", 1)[1]
    assert database.startswith("tracegen_t_"), "only a private test database may have its backends killed"
    with Cluster(tmp_path, fresh_pg_url, lease_ttl_s=5.0, reaper_interval_s=0.5, stub_latency_ms=30) as c:
        job_id = c.create_job("pg-faults", TARGETS)
        killer = BackendKiller(database, SEED)
        killer.start()
        workers = [c.start_worker(f"w{i}", concurrency=8) for i in (1, 2)]
        try:
            wait_for(
                lambda: killer.done() or killer.error is not None or c.job_status(job_id) == "completed",
                timeout_s=120,
                interval_s=0.2,
                what="the killer to finish",
            )
            killed_before_completion = Counter(killer.killed)
        finally:
            killer.stop_event.set()
            killer.join(30)
        assert killer.error is None, repr(killer.error)
        for i, worker in enumerate(workers, start=1):
            wait_for(lambda w=worker: w.poll() is not None, timeout_s=180, what=f"w{i} to exit")
            assert worker.returncode == 0, c.worker_log(f"w{i}")
        assert c.coordinator is not None and c.coordinator.poll() is None, "the coordinator died"
        assert c.job_status(job_id) == "completed"
        assert killed_before_completion["claim"] >= 1 and killed_before_completion["submit"] >= 1, (
            f"no mid-transaction termination happened: {dict(killed_before_completion)}"
        )
        check_end_state(c, job_id, TARGETS)
        assert not wait_no_overdue(c, job_id, timeout_s=c.lease_ttl_s + 10)
        # Recovered by itself: readiness is green again and a fresh request works.
        wait_for(
            lambda: httpx.get(f"{c.api_url}/readyz", timeout=5).status_code == 200,
            timeout_s=30,
            what="/readyz",
        )
        assert httpx.get(f"{c.api_url}/v1/jobs/{job_id}", timeout=10).status_code == 200
        # Stale-connection errors reached the workers only as retried 5xx, never as lost results.
        print(
            f"terminated backends: {dict(killer.killed)};"
            f" coordinator 5xx answers (retried by workers): {c.proxy.log.server_errors}"
        )
