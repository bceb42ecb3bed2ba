"""End-to-end throughput of tracegen on Postgres: coordinator + N workers + the teacher stub.

Not a test: it prints figures and exits 0. Run from the repository root, e.g.

    .venv/bin/python bench/throughput.py --latency-ms 0 --concurrency 64 --samples 5000
    .venv/bin/python bench/throughput.py --latency-ms 1000 --concurrency 64 --samples 2000

What it does: creates a private database on the shared Postgres (`TRACEGEN_TEST_PG`, default
postgresql://postgres@127.0.0.1:5432/postgres) and drops it afterwards; starts `tracegen
teacher-stub`, `tracegen serve` (which migrates) and `--workers` worker processes (the total
`--concurrency` split between them); creates one job whose targets add up to `--samples`, spread
evenly over every behaviour; waits until it completes; stops everything.

How each figure is measured (honest about what it includes):
- run phase: from the first lease's `issued_at` to the last corpus sample's `created_at`, both written
  by the coordinator (process start-up, imports and resource loading are excluded);
- accepted samples/s = samples ÷ run phase; efficiency = that ÷ (concurrency ÷ latency), only with a
  latency above 0;
- CPU ms per sample: utime + stime from /proc/<pid>/stat, sampled when the first lease appears and
  again when the job completes (so start-up and the idle tail are excluded; the few ms between the
  first lease and the first sample are included), divided by the samples;
- claim and submit latency: each worker runs under a shim that times `CoordinatorClient._post` (one
  HTTP request as the worker sees it: client, loopback, coordinator, database; retries included)
  and writes the timings when the worker exits; p50/p95 over all workers;
- peak RSS: VmHWM from /proc/<pid>/status just before the processes are stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ADMIN_DSN = os.environ.get("TRACEGEN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TRACEGEN = [sys.executable, "-m", "gen_service"]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ---- the worker shim (runs inside each worker process) ---------------------------------------


def worker_shim(stats_file: str, argv: list[str]) -> None:
    """Run `tracegen worker ARGV` with each coordinator request timed; write timings at exit."""
    import atexit

    from gen_service.worker.client import CoordinatorClient

    timings: dict[str, list[float]] = {}
    original = CoordinatorClient._post

    async def timed(self: CoordinatorClient, path: str, body: dict[str, Any]) -> Any:
        started = time.perf_counter()
        try:
            return await original(self, path, body)
        finally:
            timings.setdefault(path, []).append(time.perf_counter() - started)

    CoordinatorClient._post = timed  # type: ignore[method-assign]
    atexit.register(lambda: Path(stats_file).write_text(json.dumps(timings)))
    from gen_service.cli import main

    sys.argv = ["tracegen", "worker", *argv]
    try:
        main()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise


# ---- helpers -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pg_url(database: str) -> str:
    return f"{ADMIN_DSN.rsplit('/', 1)[0]}/{database}"


async def _admin(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def query(url: str, sql: str, *args: Any) -> list[Any]:
    import asyncpg

    async def go() -> list[Any]:
        conn = await asyncpg.connect(url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return asyncio.run(go())


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def postgres_cpu_s() -> dict[int, float]:
    """CPU seconds of every running Postgres process (backends, WAL writer, checkpointer), by pid."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        name, rest = stat.split("(", 1)[1].rsplit(")", 1)
        if name == "postgres":
            fields = rest.split()
            found[int(entry.name)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return found


def machine_busy_s() -> float:
    """CPU seconds all cores spent outside idle and iowait since boot (the first line of /proc/stat)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout_s: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"process for {url} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {url}")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


# ---- the benchmark -----------------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    import httpx

    from gen_service.catalog import load_behaviours

    behaviours = sorted(load_behaviours())[: args.behaviours or None]
    targets = {b: n for b, n in zip(behaviours, split(args.samples, len(behaviours)), strict=True) if n}
    database = f"tracegen_bench_{uuid.uuid4().hex[:10]}"
    url = pg_url(database)
    work = Path(tempfile.mkdtemp(prefix="tracegen-bench-"))
    stub_port, api_port = free_port(), free_port()
    teachers = work / "teachers.toml"
    teachers.write_text(
        f'[teachers.stub]\nkind = "openai"\nbase_url = "http://127.0.0.1:{stub_port}/v1"\n'
        'model = "scripted"\nmax_retries = 8\nmax_retry_wait_s = 1\ntimeout_s = 60\n'
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DATABASE_URL": url}
    processes: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (work / f"{name}.log").open("wb")
        process = subprocess.Popen(argv, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
        processes[name] = process
        return process

    asyncio.run(_admin(f'CREATE DATABASE "{database}"'))
    try:
        stub = spawn(
            "stub",
            [
                *TRACEGEN,
                "teacher-stub",
                "--port",
                str(stub_port),
                "--latency-ms",
                f"{args.latency_ms:g}",
                "--defect-share",
                f"{args.defect_share:g}",
                "--error-rate",
                f"{args.error_rate:g}",
                "--retry-after",
                f"{args.retry_after:g}",
            ],
        )
        coordinator = spawn(
            "coordinator",
            [
                *TRACEGEN,
                "serve",
                "--port",
                str(api_port),
                "--teachers",
                str(teachers),
                "--lease-ttl",
                f"{args.lease_ttl:g}",
            ],
        )
        api = f"http://127.0.0.1:{api_port}"
        wait_healthy(f"http://127.0.0.1:{stub_port}/healthz", stub)
        wait_healthy(f"{api}/healthz", coordinator)
        created = httpx.post(
            f"{api}/v1/jobs", json={"name": "bench", "teacher": "stub", "targets": targets}, timeout=60
        )
        if created.status_code != 201:
            raise SystemExit(f"job creation failed: {created.status_code} {created.text}")
        job_id = created.json()["id"]
        shim = Path(__file__).resolve()
        for i, concurrency in enumerate(split(args.concurrency, args.workers)):
            spawn(
                f"worker{i}",
                [
                    sys.executable,
                    str(shim),
                    "--worker-shim",
                    str(work / f"worker{i}.timings.json"),
                    "--",
                    "--coordinator",
                    api,
                    "--teachers",
                    str(teachers),
                    "--concurrency",
                    str(concurrency),
                    "--submit-batch",
                    str(args.submit_batch),
                    *(["--prefetch", str(args.prefetch)] if args.prefetch is not None else []),
                    "--grace",
                    "30",
                    "--worker-id",
                    f"bench-{i}",
                ],
            )
        tracegen = [name for name in processes if name != "stub"]

        def poll_until(condition: Any, what: str) -> None:
            deadline = time.monotonic() + args.timeout
            while not condition():
                for name, process in processes.items():
                    if process.poll() is not None:
                        tail = (work / f"{name}.log").read_text(errors="replace")[-3000:]
                        raise SystemExit(f"{name} exited with {process.returncode} during the run:\n{tail}")
                if time.monotonic() > deadline:
                    raise SystemExit(f"timed out after {args.timeout}s waiting for {what}")
                time.sleep(0.1)

        poll_until(lambda: query(url, "SELECT 1 FROM lease LIMIT 1"), "the first lease")
        cpu_start = {name: cpu_s(processes[name].pid) for name in processes}
        postgres_start, busy_start = postgres_cpu_s(), machine_busy_s()
        rss_timeline: list[tuple[int, float]] = []  # (accepted so far, coordinator RSS MiB)
        next_rss_at = time.monotonic()

        def job_completed() -> bool:
            nonlocal next_rss_at
            row = query(
                url,
                "SELECT status, (SELECT sum(accepted) FROM job_behaviour WHERE job_id=$1) AS n"
                " FROM job WHERE id=$1",
                job_id,
            )[0]
            if time.monotonic() >= next_rss_at:
                rss_timeline.append((int(row["n"] or 0), rss_mib(processes["coordinator"].pid)))
                next_rss_at += args.rss_interval
            return bool(row["status"] == "completed")

        poll_until(job_completed, "the job to complete")
        cpu_end = {name: cpu_s(processes[name].pid) for name in processes}
        postgres_end, busy_end = postgres_cpu_s(), machine_busy_s()
        # a backend that started during the run spent all its CPU in it
        postgres_cpu = sum(v - postgres_start.get(pid, 0.0) for pid, v in postgres_end.items())
        rss = {name: peak_rss_mib(processes[name].pid) for name in processes}
        stats = httpx.get(f"http://127.0.0.1:{stub_port}/stats", timeout=30).json()
        span = query(
            url,
            "SELECT (SELECT min(issued_at) FROM lease WHERE job_id=$1) AS first,"
            " (SELECT max(created_at) FROM sample WHERE job_id=$1 AND surplus=0) AS last,"
            " (SELECT count(*) FROM sample WHERE job_id=$1 AND surplus=0) AS accepted,"
            " (SELECT count(*) FROM raw_output WHERE job_id=$1) AS completed,"
            " (SELECT count(*) FROM lease WHERE job_id=$1) AS leases",
            job_id,
        )[0]
        for name in tracegen:
            if name.startswith("worker"):
                processes[name].send_signal(signal.SIGTERM)
        for name in tracegen:
            if name.startswith("worker"):
                processes[name].wait(60)
        timings: dict[str, list[float]] = {}
        for i in range(args.workers):
            path = work / f"worker{i}.timings.json"
            if path.exists():
                for key, values in json.loads(path.read_text()).items():
                    timings.setdefault(key, []).extend(values)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        if not args.keep_db:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))

    accepted = int(span["accepted"])
    seconds = (span["last"] - span["first"]).total_seconds()
    rate = accepted / seconds if seconds > 0 else float("nan")
    workers = [name for name in tracegen if name.startswith("worker")]
    cpu = {name: cpu_end[name] - cpu_start[name] for name in cpu_end}
    worker_cpu = sum(cpu[name] for name in workers)
    tracegen_cpu = cpu["coordinator"] + worker_cpu

    def ms(values: list[float], q: float) -> str:
        return f"{percentile(values, q) * 1000:.1f}"

    claim = timings.get("/v1/leases/claim", [])
    submit = timings.get("/v1/results", [])
    print(
        f"tracegen throughput: samples {args.samples}, latency {args.latency_ms:g} ms, concurrency"
        f" {args.concurrency} over {args.workers} worker(s), defect share {args.defect_share:g},"
        f" error rate {args.error_rate:g}, submit batch {args.submit_batch}"
    )
    print(f"  run phase             {seconds:.2f} s (first lease -> last accepted sample)")
    print(f"  accepted              {accepted} (results {span['completed']}, leases {span['leases']})")
    print(f"  accepted samples/s    {rate:.1f}")
    if args.latency_ms > 0:
        ideal = args.concurrency / (args.latency_ms / 1000)
        print(f"  efficiency            {rate / ideal * 100:.1f}% of ideal {ideal:.1f}/s")
    else:
        print("  efficiency            n/a (latency 0: no ideal rate)")
    print(
        f"  CPU ms/sample         coordinator {cpu['coordinator'] / accepted * 1000:.3f}, workers"
        f" {worker_cpu / accepted * 1000:.3f}, tracegen total {tracegen_cpu / accepted * 1000:.3f}"
        f" (stub {cpu['stub'] / accepted * 1000:.3f})"
    )
    print(f"  CPU s per 1,000       tracegen {tracegen_cpu / accepted * 1000:.2f}")
    print(
        f"  whole machine         postgres {postgres_cpu / accepted * 1000:.3f} CPU ms/sample, all cores"
        f" busy {(busy_end - busy_start) / accepted * 1000:.3f} CPU ms/sample"
        f" ({(busy_end - busy_start) / seconds * 100:.0f}% of one core over the run phase)"
    )
    print(
        f"  claim latency         p50 {ms(claim, 0.5)} ms, p95 {ms(claim, 0.95)} ms ({len(claim)} requests)"
    )
    print(
        f"  submit latency        p50 {ms(submit, 0.5)} ms, p95 {ms(submit, 0.95)} ms"
        f" ({len(submit)} requests)"
    )
    print("  peak RSS (VmHWM)      " + ", ".join(f"{name} {rss[name]:.0f} MiB" for name in processes))
    step = max(1, len(rss_timeline) // 10)
    print(
        "  coordinator RSS       "
        + ", ".join(f"{n} samples: {mib:.0f} MiB" for n, mib in rss_timeline[::step])
        + " (VmRSS while the job runs)"
    )
    print(f"  stub                  {stats}")
    if args.json:
        summary = {
            "samples_per_s": rate,
            "run_s": seconds,
            "cpu_ms_per_sample": {k: v / accepted * 1000 for k, v in cpu.items()},
            "claim_ms": [percentile(claim, 0.5) * 1000, percentile(claim, 0.95) * 1000],
            "submit_ms": [percentile(submit, 0.5) * 1000, percentile(submit, 0.95) * 1000],
            "peak_rss_mib": rss,
        }
        print(json.dumps(summary))


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--worker-shim":
        stats_file = sys.argv[2]
        rest = sys.argv[3:]
        worker_shim(stats_file, rest[1:] if rest[:1] == ["--"] else rest)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=2000, help="accepted samples the job asks for")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="teacher stub latency")
    parser.add_argument("--concurrency", type=int, default=64, help="teacher calls in flight, all workers")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--defect-share", type=float, default=0.0)
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of 429 answers from the stub")
    parser.add_argument("--retry-after", type=float, default=0.0, help="Retry-After sent with 429")
    parser.add_argument("--submit-batch", type=int, default=64)
    parser.add_argument("--prefetch", type=int, default=None, help="leases each worker claims ahead")
    parser.add_argument("--lease-ttl", type=float, default=300.0)
    parser.add_argument("--behaviours", type=int, default=0, help="spread over the first N (0: all)")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the private database")
    parser.add_argument("--json", action="store_true", help="also print a one-line JSON summary")
    parser.add_argument("--rss-interval", type=float, default=2.0, help="seconds between RSS readings")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
