"""Coordinator, workers and the teacher stub as separate processes over real sockets, on Postgres."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import httpx
import orjson
import pytest

from gen_service.core.gates import content_key
from tests.acceptance.procs import free_port, run, start, stop, wait_for

pytestmark = pytest.mark.acceptance

TARGETS = {
    "survey_before_edit": 6,
    "hypothesis_driven_debugging": 5,
    "tool_intent_first": 5,
    "render_or_visual_proof": 4,
}


def healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_serve_and_workers_finish_a_job(tmp_path: Path, fresh_pg_url: str) -> None:
    stub_port, api_port = free_port(), free_port()
    teachers = tmp_path / "teachers.toml"
    teachers.write_text(
        f'[teachers.stub]\nkind = "openai"\nbase_url = "http://127.0.0.1:{stub_port}/v1"\n'
        'model = "scripted"\nmax_retries = 8\nmax_retry_wait_s = 0.2\ntimeout_s = 20\n'
    )
    env = {"DATABASE_URL": fresh_pg_url}
    processes = []
    try:
        processes.append(
            start(
                [
                    "teacher-stub",
                    "--port",
                    str(stub_port),
                    "--latency-ms",
                    "20",
                    "--error-rate",
                    "0.1",
                    "--retry-after",
                    "0",
                    "--defect-share",
                    "0.2",
                ],
                cwd=tmp_path,
                log=tmp_path / "stub.log",
            )
        )
        processes.append(
            start(
                [
                    "serve",
                    "--port",
                    str(api_port),
                    "--teachers",
                    str(teachers),
                    "--lease-ttl",
                    "30",
                    "--reaper-interval",
                    "0.5",
                ],
                cwd=tmp_path,
                log=tmp_path / "serve.log",
                env=env,
            )
        )
        api = f"http://127.0.0.1:{api_port}"
        wait_for(lambda: healthy(f"http://127.0.0.1:{stub_port}/healthz"), timeout_s=60, what="stub")
        wait_for(lambda: healthy(f"{api}/healthz"), timeout_s=60, what="coordinator")
        created = httpx.post(f"{api}/v1/jobs", json={"name": "dist", "teacher": "stub", "targets": TARGETS})
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        workers = [
            start(
                [
                    "worker",
                    "--coordinator",
                    api,
                    "--teachers",
                    str(teachers),
                    "--concurrency",
                    "8",
                    "--exit-when-idle",
                    "--submit-batch",
                    "4",
                ],
                cwd=tmp_path,
                log=tmp_path / f"worker{i}.log",
            )
            for i in range(2)
        ]
        processes += workers
        for worker in workers:
            assert worker.wait(300) == 0, (tmp_path / "worker0.log").read_text()[-3000:]
        deficits = httpx.get(f"{api}/v1/jobs/{job_id}/deficits").json()
        assert deficits["job"]["status"] == "completed"
        assert {row["behaviour"]: row["accepted"] for row in deficits["behaviours"]} == TARGETS
        assert all(row["in_flight"] == 0 for row in deficits["behaviours"])
        stats = httpx.get(f"http://127.0.0.1:{stub_port}/stats").json()
        assert stats, "the stub saw the workers' requests"
    finally:
        for process in reversed(processes):
            stop(process, sig=signal.SIGTERM)
    exported = run(["export", "--job", "dist", "--out", str(tmp_path / "out")], cwd=tmp_path, env=env)
    assert exported.returncode == 0, exported.stderr
    manifest = orjson.loads((tmp_path / "out" / "manifest.json").read_bytes())
    assert manifest["per_behaviour"] == TARGETS
    traces = [
        orjson.loads(line) for line in (tmp_path / "out" / "shard-00000.jsonl").read_bytes().splitlines()
    ]
    assert Counter(t["meta"]["behaviour"] for t in traces) == Counter(TARGETS)
    assert len({content_key(t) for t in traces}) == len(traces)
    listed = run(["jobs", "list"], cwd=tmp_path, env=env)
    assert "dist" in listed.stdout and "completed" in listed.stdout
