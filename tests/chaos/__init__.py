"""Chaos tests: real processes, real signals, real Postgres faults.

The harness below starts the teacher stub, the coordinator and worker processes on a private
Postgres database (the `fresh_pg_url` fixture), puts a small recording proxy between the workers and
the coordinator so the test knows exactly which results the coordinator acknowledged, and reads the
database directly (asyncpg, one short connection per query) to check the invariants afterwards.

Every wait polls with a deadline; nothing asserts on a duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import httpx
from aiohttp import web

from tests.acceptance.procs import free_port, start, stop, wait_for
from tests.helpers import assert_counters_consistent


def normalize_pg(url: str) -> str:
    """asyncpg wants postgresql://, the app accepts postgresql+asyncpg:// too."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


class Db:
    """Synchronous reads of the private test database (the test body is synchronous)."""

    def __init__(self, url: str) -> None:
        self.url = normalize_pg(url)

    def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async def go() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(self.url, server_settings={"application_name": "chaos-observer"})
            try:
                return list(await conn.fetch(query, *args))
            finally:
                await conn.close()

        return asyncio.run(go())

    def value(self, query: str, *args: Any) -> Any:
        rows = self.fetch(query, *args)
        return rows[0][0] if rows else None

    def in_flight(self, job_id: int, worker_id: str | None = None) -> int:
        if worker_id is None:
            return int(
                self.value("SELECT count(*) FROM lease WHERE job_id=$1 AND status='in_flight'", job_id)
            )
        return int(
            self.value(
                "SELECT count(*) FROM lease WHERE job_id=$1 AND status='in_flight' AND worker_id=$2",
                job_id,
                worker_id,
            )
        )

    def overdue(self, job_id: int, slack_s: float) -> list[asyncpg.Record]:
        """In-flight leases whose expiry passed more than `slack_s` ago (the reaper should have them)."""
        return self.fetch(
            "SELECT id, worker_id, expires_at FROM lease WHERE job_id=$1 AND status='in_flight'"
            " AND expires_at < now() - make_interval(secs => $2::float8)",
            job_id,
            slack_s,
        )

    def counters_consistent(self, job_id: int) -> dict[str, int]:
        from gen_service.store.engine import create_engine

        async def go() -> dict[str, int]:
            engine = create_engine(self.url)
            try:
                return await assert_counters_consistent(engine, job_id)
            finally:
                await engine.dispose()

        return asyncio.run(go())

    def snapshot(self, job_id: int) -> dict[str, Any]:
        """Everything a late, stale completion must not change."""
        return {
            "counters": [
                tuple(r)
                for r in self.fetch(
                    "SELECT behaviour, accepted, passed, completed, surplus, in_flight, issued"
                    " FROM job_behaviour WHERE job_id=$1 ORDER BY behaviour",
                    job_id,
                )
            ],
            "samples": [
                tuple(r)
                for r in self.fetch(
                    "SELECT lease_id, content_key, surplus FROM sample WHERE job_id=$1 ORDER BY lease_id",
                    job_id,
                )
            ],
            "leases": [
                tuple(r)
                for r in self.fetch(
                    "SELECT id, status, outcome, finished_at FROM lease WHERE job_id=$1 ORDER BY id", job_id
                )
            ],
            "raw": int(self.value("SELECT count(*) FROM raw_output WHERE job_id=$1", job_id)),
            "rejects": int(self.value("SELECT count(*) FROM reject WHERE job_id=$1", job_id)),
        }


@dataclass
class AckLog:
    """What went over the wire: leases granted to each worker, outcomes the coordinator acknowledged."""

    granted: dict[str, str] = field(default_factory=dict)  # lease id -> worker id
    acked: dict[str, list[str]] = field(default_factory=dict)  # lease id -> outcomes, in order
    upstream_failures: int = 0  # coordinator unreachable (answered 502 to the worker)
    server_errors: int = 0  # 5xx answers from the coordinator itself
    lock: threading.Lock = field(default_factory=threading.Lock)

    def outcomes(self) -> Counter[str]:
        with self.lock:
            return Counter(o for outcomes in self.acked.values() for o in outcomes)


class AckProxy:
    """A tiny HTTP proxy (own thread, own event loop) between workers and the coordinator.

    It forwards every request unchanged and records claim grants and result acknowledgements. When
    the coordinator is down it answers 502, which the worker client retries exactly as it retries a
    refused connection.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.log = AckLog()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> AckProxy:
        self._thread.start()
        self._ready.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        async def shutdown() -> None:
            if self._session is not None:
                await self._session.close()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "authorization")}
        try:
            async with self._session.request(
                request.method, self.upstream + request.path_qs, data=body, headers=headers
            ) as response:
                payload = await response.read()
                status = response.status
                content_type = response.headers.get("content-type", "application/json")
        except (TimeoutError, aiohttp.ClientError) as exc:
            with self.log.lock:
                self.log.upstream_failures += 1
            return web.Response(status=502, text=f"proxy: coordinator unreachable: {exc!r}")
        if status == 200:
            self._record(request.path, payload)
        elif status >= 500:
            with self.log.lock:
                self.log.server_errors += 1
        return web.Response(status=status, body=payload, headers={"content-type": content_type})

    def _record(self, path: str, payload: bytes) -> None:
        import orjson

        if path == "/v1/leases/claim":
            # The worker id is in each grant's lease row; the proxy only needs the ids. The owner is
            # filled in from the database when a test needs it.
            data = orjson.loads(payload)
            with self.log.lock:
                for lease in data.get("leases", []):
                    self.log.granted[lease["lease_id"]] = ""
        elif path == "/v1/results":
            data = orjson.loads(payload)
            with self.log.lock:
                for status in data.get("results", []):
                    self.log.acked.setdefault(status["lease_id"], []).append(status["outcome"])


def healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class Cluster:
    """Teacher stub + coordinator + workers as separate processes on one private Postgres database."""

    def __init__(
        self,
        tmp_path: Path,
        database_url: str,
        *,
        lease_ttl_s: float = 3.0,
        reaper_interval_s: float = 0.5,
        stub_latency_ms: float = 30.0,
        stub_defect_share: float = 0.2,
        stub_error_rate: float = 0.0,
        teacher_timeout_s: float = 20.0,
    ) -> None:
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.db = Db(database_url)
        self.lease_ttl_s = lease_ttl_s
        self.reaper_interval_s = reaper_interval_s
        self.stub_port = free_port()
        self.api_port = free_port()
        self.stub_args = [
            "teacher-stub",
            "--port",
            str(self.stub_port),
            "--latency-ms",
            f"{stub_latency_ms:g}",
            "--defect-share",
            f"{stub_defect_share:g}",
            "--error-rate",
            f"{stub_error_rate:g}",
            "--retry-after",
            "0",
        ]
        self.teachers = tmp_path / "teachers.toml"
        self.teachers.write_text(
            f'[teachers.stub]\nkind = "openai"\nbase_url = "http://127.0.0.1:{self.stub_port}/v1"\n'
            f'model = "scripted"\nmax_retries = 8\nmax_retry_wait_s = 0.2\n'
            f"timeout_s = {teacher_timeout_s:g}\n"
        )
        self.stub: subprocess.Popen[bytes] | None = None
        self.coordinator: subprocess.Popen[bytes] | None = None
        self.coordinator_starts = 0
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.worker_starts: Counter[str] = Counter()
        self.exited: list[tuple[str, int]] = []  # (worker id, exit code) of workers that ended
        self._recorded_pids: set[int] = set()
        self.proxy = AckProxy(self.api_url)

    # ---- processes ---------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def stub_url(self) -> str:
        return f"http://127.0.0.1:{self.stub_port}"

    def __enter__(self) -> Cluster:
        self.proxy.__enter__()
        self.stub = start(self.stub_args, cwd=self.tmp_path, log=self.tmp_path / "stub.log")
        self.start_coordinator()
        wait_for(
            lambda: self._alive_and_healthy(self.stub, f"{self.stub_url}/healthz"), timeout_s=120, what="stub"
        )
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self.workers.values():
            stop(worker, sig=signal.SIGKILL, timeout_s=10)
        for process in (self.coordinator, self.stub):
            if process is not None:
                stop(process, sig=signal.SIGKILL, timeout_s=10)
        self.proxy.__exit__()

    def _alive_and_healthy(self, process: subprocess.Popen[bytes] | None, url: str) -> bool:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode} before it was healthy: {url}")
        return healthy(url)

    def start_coordinator(self) -> None:
        self.coordinator_starts += 1
        self.coordinator = start(
            [
                "serve",
                "--port",
                str(self.api_port),
                "--teachers",
                str(self.teachers),
                "--lease-ttl",
                f"{self.lease_ttl_s:g}",
                "--reaper-interval",
                f"{self.reaper_interval_s:g}",
                "--log-level",
                "warning",
            ],
            cwd=self.tmp_path,
            log=self.tmp_path / f"serve-{self.coordinator_starts}.log",
            env={"DATABASE_URL": self.database_url},
        )
        wait_for(
            lambda: self._alive_and_healthy(self.coordinator, f"{self.api_url}/healthz"),
            timeout_s=120,
            what="coordinator",
        )

    def kill_coordinator(self) -> None:
        assert self.coordinator is not None
        self.coordinator.send_signal(signal.SIGKILL)
        self.coordinator.wait(30)

    def start_worker(
        self,
        worker_id: str,
        *,
        concurrency: int = 8,
        grace_s: float = 5.0,
        submit_batch: int = 4,
        exit_when_idle: bool = True,
        prefetch: int | None = None,
        redis_url: str | None = None,
    ) -> subprocess.Popen[bytes]:
        self.worker_starts[worker_id] += 1
        args = [
            "worker",
            "--coordinator",
            self.proxy.url,
            "--teachers",
            str(self.teachers),
            "--concurrency",
            str(concurrency),
            "--grace",
            f"{grace_s:g}",
            "--submit-batch",
            str(submit_batch),
            "--worker-id",
            worker_id,
        ]
        if prefetch is not None:
            args += ["--prefetch", str(prefetch)]
        if redis_url is not None:
            args += ["--redis-url", redis_url]
        if exit_when_idle:
            args.append("--exit-when-idle")
        process = start(
            args, cwd=self.tmp_path, log=self.tmp_path / f"{worker_id}-{self.worker_starts[worker_id]}.log"
        )
        self.workers[worker_id] = process
        return process

    def worker_log(self, worker_id: str) -> str:
        path = self.tmp_path / f"{worker_id}-{self.worker_starts[worker_id]}.log"
        return path.read_text(errors="replace")[-4000:]

    def wait_while_alive(self, worker_id: str, condition: Any, *, timeout_s: float, what: str) -> Any:
        """Poll `condition` with a deadline; fail at once, with its log, if the worker has exited."""
        process = self.workers[worker_id]

        def check() -> Any:
            if process.poll() is not None:
                raise AssertionError(
                    f"{worker_id} exited with {process.returncode} while waiting for {what}:\n"
                    + self.worker_log(worker_id)
                )
            return condition()

        return wait_for(check, timeout_s=timeout_s, what=what)

    def reap_exited_workers(self) -> list[str]:
        """Worker ids whose process has ended since the last call (recorded with their exit codes)."""
        ended = []
        for worker_id, process in self.workers.items():
            code = process.poll()
            if code is not None and process.pid not in self._recorded_pids:
                self._recorded_pids.add(process.pid)
                self.exited.append((worker_id, code))
                ended.append(worker_id)
        return ended

    # ---- the job -----------------------------------------------------------------------------

    def create_job(self, name: str, targets: dict[str, int], **extra: Any) -> int:
        response = httpx.post(
            f"{self.api_url}/v1/jobs",
            json={"name": name, "teacher": "stub", "targets": targets, **extra},
            timeout=30,
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    def job_status(self, job_id: int) -> str:
        return str(self.db.value("SELECT status FROM job WHERE id=$1", job_id))

    def stub_stats(self) -> dict[str, int]:
        return dict(httpx.get(f"{self.stub_url}/stats", timeout=10).json())


def utc_now() -> datetime:
    return datetime.now(UTC)


def check_end_state(cluster: Cluster, job_id: int, targets: dict[str, int]) -> dict[str, Any]:
    """The invariants every chaos run must end with. Returns figures for the caller's messages."""
    db = cluster.db
    accepted = cluster.db.counters_consistent(job_id)
    assert accepted == targets, f"accepted per behaviour {accepted} != targets {targets}"
    corpus = Counter(
        {
            r["behaviour"]: r["n"]
            for r in db.fetch(
                "SELECT behaviour, count(*) AS n FROM sample"
                " WHERE job_id=$1 AND surplus=0 GROUP BY behaviour",
                job_id,
            )
        }
    )
    assert dict(corpus) == targets, f"stored samples per behaviour {dict(corpus)} != targets {targets}"
    # No duplicates: distinct content, one sample per lease.
    row = db.fetch(
        "SELECT count(*) AS n, count(DISTINCT content_key) AS keys, count(DISTINCT lease_id) AS leases"
        " FROM sample WHERE job_id=$1",
        job_id,
    )[0]
    assert row["n"] == row["keys"] == row["leases"], dict(row)
    # Lease outcome, raw output and sample rows agree with each other, both ways.
    mismatched = db.fetch(
        """
        SELECT l.id, l.status, l.outcome, r.outcome AS raw_outcome, s.surplus
        FROM lease l
        LEFT JOIN raw_output r ON r.lease_id = l.id
        LEFT JOIN sample s ON s.lease_id = l.id
        WHERE l.job_id = $1 AND NOT (
            (l.status = 'completed' AND r.outcome IS NOT DISTINCT FROM l.outcome
                AND ((l.outcome = 'stored' AND s.surplus = 0)
                     OR (l.outcome = 'surplus' AND s.surplus = 1)
                     OR (l.outcome IN ('rejected', 'duplicate') AND s.surplus IS NULL)))
            OR (l.status <> 'completed' AND r.lease_id IS NULL AND s.lease_id IS NULL AND l.outcome IS NULL)
        )
        """,
        job_id,
    )
    assert not mismatched, [dict(r) for r in mismatched[:10]]
    orphans = db.value(
        "SELECT count(*) FROM sample s LEFT JOIN lease l ON l.id = s.lease_id"
        " WHERE s.job_id=$1 AND l.id IS NULL",
        job_id,
    )
    assert orphans == 0, f"{orphans} samples without a lease"
    # Everything the coordinator acknowledged is there, with the outcome it acknowledged.
    stored = {
        r["id"]: r["outcome"]
        for r in db.fetch("SELECT id, outcome FROM lease WHERE job_id=$1 AND status='completed'", job_id)
    }
    with cluster.proxy.log.lock:
        acked = {lease: list(outcomes) for lease, outcomes in cluster.proxy.log.acked.items()}
    lost = []
    for lease_id, outcomes in acked.items():
        durable = [o for o in outcomes if o != "stale"]
        if not durable:
            continue
        # A retried submit reports the first outcome again: every acknowledgement agrees.
        if len(set(durable)) != 1 or stored.get(lease_id) != durable[0]:
            lost.append((lease_id, outcomes, stored.get(lease_id)))
    assert not lost, f"acknowledged results not stored as acknowledged: {lost[:10]}"
    raw = int(db.value("SELECT count(*) FROM raw_output WHERE job_id=$1", job_id))
    return {"accepted": accepted, "raw_outputs": raw, "acked": len(acked), "samples": row["n"]}


def wait_no_overdue(cluster: Cluster, job_id: int, *, timeout_s: float) -> Sequence[Any]:
    """Wait past the expiry of every lease now in flight, plus the reaper interval (and slack for a
    loaded machine); return the leases still in flight past that point (the reaper missed them)."""
    slack = cluster.reaper_interval_s + 1.0
    latest = cluster.db.value(
        "SELECT max(expires_at) FROM lease WHERE job_id=$1 AND status='in_flight'", job_id
    )
    if latest is None:
        return []
    with contextlib.suppress(AssertionError):
        wait_for(
            lambda: (
                cluster.db.in_flight(job_id) == 0
                or bool(
                    cluster.db.value(
                        "SELECT now() > $1::timestamptz + make_interval(secs => $2::float8)", latest, slack
                    )
                )
            ),
            timeout_s=timeout_s,
            interval_s=0.25,
        )
    return cluster.db.overdue(job_id, slack)
