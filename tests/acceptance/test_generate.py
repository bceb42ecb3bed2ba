"""`tracegen generate` as a user runs it: a real process, a real SQLite file, real signals."""

from __future__ import annotations

import signal
import sqlite3
from collections import Counter
from pathlib import Path

import orjson
import pytest

from gen_service.core.gates import content_key
from gen_service.resources import Resources
from tests.acceptance.procs import run, start, wait_for

pytestmark = pytest.mark.acceptance


def read_export(out: Path) -> tuple[dict, list[dict]]:
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    traces = []
    for shard in sorted(out.glob("shard-*.jsonl")):
        traces += [orjson.loads(line) for line in shard.read_bytes().splitlines() if line.strip()]
    return manifest, traces


def accepted_in(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            row = conn.execute("SELECT COALESCE(SUM(accepted), 0) FROM job_behaviour").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0])


def test_default_run_exports_exact_targets(tmp_path: Path, resources: Resources) -> None:
    result = run(["generate"], cwd=tmp_path, timeout_s=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "raw " in result.stdout and "→ dropped" in result.stdout and "→ kept" in result.stdout
    manifest, traces = read_export(tmp_path / "tracegen-out" / "demo")
    expected = {name: b.demo_target for name, b in resources.behaviours.items()}
    assert manifest["per_behaviour"] == expected
    assert Counter(t["meta"]["behaviour"] for t in traces) == Counter(expected)
    assert len({content_key(t) for t in traces}) == len(traces)
    # The default teacher plants defects, so the drop report has reasons to show.
    assert manifest["counts"]["dropped"] > 0 and manifest["drop_reasons"]
    # Running again on a finished job says so and re-exports the same corpus.
    again = run(["generate"], cwd=tmp_path, timeout_s=300)
    assert again.returncode == 0 and "already complete" in again.stdout
    assert read_export(tmp_path / "tracegen-out" / "demo")[0]["content_sha256"] == manifest["content_sha256"]


def test_killed_run_resumes_to_exact_targets(tmp_path: Path) -> None:
    args = ["generate", "--name", "kill", "--target", "12", "--concurrency", "16"]
    db = tmp_path / "tracegen.db"
    first = start(args, cwd=tmp_path, log=tmp_path / "first.log")
    try:
        wait_for(lambda: accepted_in(db) >= 40, timeout_s=300, interval_s=0.02, what="first samples stored")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    killed_at = accepted_in(db)
    assert 0 < killed_at < 12 * 30, "the kill must land half way for this test to mean anything"
    resumed = run(args, cwd=tmp_path, timeout_s=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resumed" in resumed.stdout
    manifest, traces = read_export(tmp_path / "tracegen-out" / "kill")
    assert set(manifest["per_behaviour"].values()) == {12} and len(manifest["per_behaviour"]) == 30
    assert len(traces) == 12 * 30
    assert len({content_key(t) for t in traces}) == len(traces)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM lease WHERE status = 'in_flight'").fetchone()[0] == 0
        samples = conn.execute("SELECT COUNT(*) FROM sample WHERE surplus = 0").fetchone()[0]
    assert samples == 12 * 30


def test_sigterm_drains_and_resume_finishes(tmp_path: Path) -> None:
    args = [
        "generate",
        "--name",
        "term",
        "--target",
        "150",
        "--behaviours",
        "survey_before_edit,tool_intent_first",
    ]
    db = tmp_path / "tracegen.db"
    process = start(args, cwd=tmp_path, log=tmp_path / "term.log")
    wait_for(lambda: accepted_in(db) >= 1, timeout_s=300, interval_s=0.01, what="first sample")
    process.send_signal(signal.SIGTERM)
    code = process.wait(60)
    log = (tmp_path / "term.log").read_text()
    assert code == 130, log
    assert "interrupted" in log
    with sqlite3.connect(db) as conn:
        # A graceful stop leaves nothing in flight: every lease was answered or released.
        assert conn.execute("SELECT COUNT(*) FROM lease WHERE status = 'in_flight'").fetchone()[0] == 0
    resumed = run(args, cwd=tmp_path, timeout_s=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    manifest, _ = read_export(tmp_path / "tracegen-out" / "term")
    assert manifest["per_behaviour"] == {"survey_before_edit": 150, "tool_intent_first": 150}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "--behaviours", "nope"], "unknown behaviour"),
        (["generate", "--teacher", "ghost"], "unknown teacher"),
        (["generate", "--concurrency", "0"], "concurrency"),
        (["generate", "--target", "-1"], "target"),
        (["generate", "--db", "mysql://x/y"], "unsupported database URL"),
    ],
)
def test_bad_flags_are_clear_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = run(args, cwd=tmp_path, timeout_s=120)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "tracegen.db").exists() or accepted_in(tmp_path / "tracegen.db") == 0


def test_execution_check_runs_real_tests_and_honest_fixes_pass(tmp_path: Path) -> None:
    args = [
        "generate",
        "--name",
        "exec",
        "--target",
        "2",
        "--execution-check",
        "--behaviours",
        "survey_before_edit,minimal_diff_fix,test_first_repro",
    ]
    result = run(args, cwd=tmp_path, timeout_s=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "execution checks:" in result.stdout
    ran = int(result.stdout.split("execution checks:")[1].split("run")[0])
    assert ran >= 6, "every gate-passing trace of the job had its edits run against the tests"
    assert "0 unverified fixes rejected" in result.stdout, "the scripted teacher's fixes are real fixes"
    manifest, _ = read_export(tmp_path / "tracegen-out" / "exec")
    assert manifest["per_behaviour"] == {
        "survey_before_edit": 2,
        "minimal_diff_fix": 2,
        "test_first_repro": 2,
    }
