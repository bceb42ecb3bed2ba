"""Redis stopped and restarted during a run (issue 5, point 2): the shared rate limiter fails closed
(no teacher call while Redis is away), the workers recover by themselves when it is back, and
nothing is lost or duplicated. Uses a private redis-server on its own port; the shared one on 6379
is never touched."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.acceptance.procs import free_port, wait_for
from tests.chaos import Cluster, check_end_state

pytestmark = pytest.mark.acceptance

TARGETS = {
    "survey_before_edit": 25,
    "tool_intent_first": 25,
    "recall_first_habit": 25,
    "test_first_repro": 25,
}


def start_redis(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    assert binary, "redis-server is part of this machine's set-up"
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    wait_for(lambda: _pings(client), timeout_s=30, what="private redis")
    return process


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def test_rate_limiter_fails_closed_while_redis_is_down(tmp_path: Path, fresh_pg_url: str) -> None:
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    server = start_redis(port, tmp_path)
    try:
        with Cluster(
            tmp_path, fresh_pg_url, lease_ttl_s=30.0, stub_latency_ms=30, stub_defect_share=0.1
        ) as c:
            # A real budget, so every teacher call goes through the limiter in Redis.
            c.teachers.write_text(c.teachers.read_text() + "rpm = 60000\nburst = 50\n")
            job_id = c.create_job("redis-faults", TARGETS)
            workers = [c.start_worker(f"r{i}", concurrency=8, redis_url=redis_url) for i in (1, 2)]
            accepted = lambda: int(  # noqa: E731
                c.db.value("SELECT coalesce(sum(accepted), 0) FROM job_behaviour WHERE job_id=$1", job_id)
            )
            wait_for(lambda: accepted() >= 20, timeout_s=120, interval_s=0.05, what="first samples")
            server.terminate()
            server.wait(30)
            time.sleep(0.5)  # calls admitted before the stop may still finish
            before = c.stub_stats()["requests"]
            time.sleep(2.0)
            during = c.stub_stats()["requests"] - before
            assert during == 0, f"{during} teacher calls went out while Redis was down (must fail closed)"
            assert accepted() < sum(TARGETS.values())
            server = start_redis(port, tmp_path)
            for i, worker in enumerate(workers, start=1):
                wait_for(lambda w=worker: w.poll() is not None, timeout_s=180, what=f"r{i} to finish")
                assert worker.returncode == 0, c.worker_log(f"r{i}")
            assert c.job_status(job_id) == "completed"
            check_end_state(c, job_id, TARGETS)
    finally:
        server.terminate()
        server.wait(30)
