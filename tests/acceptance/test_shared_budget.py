"""Several worker processes, one teacher budget: the teacher stub never sees more than the budget.

`tracegen teacher-stub` runs as a process; three worker processes each run an `OpenAITeacher` whose
transport is `RateLimitedTransport` over one `RedisGcraLimiter` in the shared Redis (own prefix), so
every attempt, retries of 429s included, goes through the budget. The stub answers its first
requests 429 with a Retry-After, so penalties and retries are part of the run.

Each process records the moment every request leaves it (the innermost transport); all run on this
host, so the times are on one clock. The stub's `/stats` confirms it received exactly those
requests. The assertion: in every window of W seconds the stub was sent at most
burst + (W + lateness)/T requests, where T = 60/rpm and lateness is what a busy 2-core machine may
add between admission and sending. Three independent budgets would send about three times that.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from redis import Redis

from tests.acceptance.procs import free_port, start, stop, wait_for
from tests.conftest_stub import load_catalog
from tests.unit.test_ratelimit import window_max

pytestmark = pytest.mark.acceptance

RPM, BURST = 300.0, 3  # one request every 0.2 s after a burst of 3
PROCESSES, TASKS_PER_PROCESS, RUN_S = 3, 6, 4.0
LATENESS_S = 0.3

WORKER = r"""
import asyncio, json, sys, time

import httpx
from redis.asyncio import Redis

from gen_service.teachers import TeacherConfig
from gen_service.worker.concurrency import AimdConcurrency
from gen_service.worker.ratelimit import RateLimitedTransport, RedisGcraLimiter, TeacherLimits
from gen_service.worker.teachers import OpenAITeacher, TeacherRequest, TeacherUnavailable, default_transport

cfg = json.loads(sys.argv[1])


class Recording(httpx.AsyncBaseTransport):
    def __init__(self, inner, sent):
        self.inner, self.sent = inner, sent

    async def handle_async_request(self, request):
        self.sent.append(time.time())
        return await self.inner.handle_async_request(request)

    async def aclose(self):
        await self.inner.aclose()


async def main():
    redis = Redis.from_url(cfg["redis_url"], socket_timeout=2, socket_connect_timeout=2)
    limits = {"stub": TeacherLimits(rpm=cfg["rpm"], tpm=None, burst=cfg["burst"])}
    limiter = RedisGcraLimiter(redis, limits=limits, prefix=cfg["prefix"])
    sent = []
    transport = RateLimitedTransport(
        Recording(default_transport() or httpx.AsyncHTTPTransport(), sent),
        teacher="stub",
        limiter=limiter,
        concurrency=AimdConcurrency(initial=cfg["tasks"], minimum=1, maximum=2 * cfg["tasks"]),
    )
    teacher = OpenAITeacher(
        TeacherConfig(
            name="stub", kind="openai", base_url=cfg["base_url"], model="scripted",
            max_retries=50, max_retry_wait_s=0.5, timeout_s=20.0,
        ),
        transport=transport,
    )
    await redis.incr(cfg["prefix"] + ":ctl:ready")
    while not await redis.exists(cfg["prefix"] + ":ctl:go"):
        await asyncio.sleep(0.01)
    stop_at = time.monotonic() + cfg["run_s"]
    pairs = cfg["pairs"]

    async def loop(i):
        n = 0
        while time.monotonic() < stop_at:
            behaviour, scenario = pairs[(i + n) % len(pairs)]
            request = TeacherRequest(
                messages=[{"role": "user", "content": f"{behaviour} {scenario}"}],
                behaviour=behaviour, scenario=scenario, seed=i * 1000 + n, lease_id=f"l{i}-{n}",
            )
            try:
                await teacher.complete(request)
            except TeacherUnavailable:
                pass
            n += 1

    await asyncio.gather(*(loop(i) for i in range(cfg["tasks"])))
    await teacher.aclose()
    await redis.aclose()
    print(json.dumps({"sent": sent}))


asyncio.run(main())
"""


def test_worker_processes_share_one_budget_at_the_stub(tmp_path: Path) -> None:
    prefix = f"test:shared-budget:{uuid.uuid4().hex[:12]}"
    redis = Redis(host="127.0.0.1", port=6379, socket_timeout=5)
    stub_port = free_port()
    pairs = load_catalog().pairs(8)
    stub = start(
        [
            "teacher-stub",
            "--port",
            str(stub_port),
            "--defect-share",
            "0",
            "--fail-first",
            "2",
            "--fail-with",
            "429",
            "--retry-after",
            "0.3",
        ],
        cwd=tmp_path,
        log=tmp_path / "stub.log",
    )
    workers: list[subprocess.Popen[bytes]] = []
    try:
        base = f"http://127.0.0.1:{stub_port}"
        wait_for(lambda: _healthy(f"{base}/healthz"), timeout_s=60, what="teacher stub")
        config = {
            "redis_url": "redis://127.0.0.1:6379/0",
            "prefix": prefix,
            "rpm": RPM,
            "burst": BURST,
            "base_url": f"{base}/v1",
            "run_s": RUN_S,
            "tasks": TASKS_PER_PROCESS,
            "pairs": pairs,
        }
        redis.set(f"{prefix}:ctl:ready", 0, ex=300)  # expires even if this test is killed
        for i in range(PROCESSES):
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-c", WORKER, json.dumps(config)],
                    stdout=subprocess.PIPE,
                    stderr=(tmp_path / f"worker{i}.log").open("wb"),
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                    start_new_session=True,
                )
            )
        wait_for(
            lambda: int(redis.get(f"{prefix}:ctl:ready") or 0) == PROCESSES,
            timeout_s=90,
            what="worker processes ready",
        )
        redis.set(f"{prefix}:ctl:go", 1, ex=300)
        sent: list[float] = []
        per_process: list[int] = []
        for i, worker in enumerate(workers):
            out, _ = worker.communicate(timeout=120)
            assert worker.returncode == 0, (tmp_path / f"worker{i}.log").read_text()[-3000:]
            times = json.loads(out.decode().strip().splitlines()[-1])["sent"]
            per_process.append(len(times))
            sent += times
        stats = httpx.get(f"{base}/stats", timeout=5).json()
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        stop(stub)
        keys = list(redis.scan_iter(match=f"{prefix}:*"))
        if keys:
            redis.delete(*keys)
        redis.close()

    assert stats["requests"] == len(sent), (stats, len(sent))
    assert stats["throttled"] >= 2  # the 429s were sent, penalized and retried through the budget
    assert all(count > 0 for count in per_process), per_process
    interval = 60.0 / RPM
    for width in (0.0, 0.5, 1.0, 2.0, RUN_S):
        bound = BURST + math.floor((width + LATENESS_S) / interval)
        assert window_max(sent, width) <= bound, (width, bound, sorted(t - min(sent) for t in sent))


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
