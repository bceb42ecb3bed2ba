"""Export and regate on both backends."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from gen_service.export import export_job
from gen_service.regate import regate_job
from gen_service.resources import Resources
from gen_service.service import CoordinatorService
from gen_service.store.models import JobStatus
from tests.helpers import assert_counters_consistent, result_for

TARGETS = {"survey_before_edit": 3, "recall_first_habit": 2}


async def run_job(service: CoordinatorService, resources: Resources, *, with_rejects: bool = True) -> int:
    job = await service.create_job(
        name="ex", teacher="scripted", targets=TARGETS, lease_ttl_s=60, prompt_version="v1"
    )
    first = True
    while True:
        leases = (await service.claim("w", 4, job.id)).leases
        if not leases:
            return job.id
        results = [result_for(resources, lease) for lease in leases]
        if first and with_rejects:
            results[0] = result_for(resources, leases[0], trace=None)  # malformed
            first = False
        await service.submit(results)


async def test_export_writes_shards_manifest_and_report(
    service: CoordinatorService, engine: AsyncEngine, resources: Resources, tmp_path: Path
) -> None:
    job_id = await run_job(service, resources)
    out = tmp_path / "out"
    (out).mkdir()
    (out / "stale-file.jsonl").write_text("old export\n")
    summary = await export_job(engine, job_id, out, shard_size=2)
    assert not (out / "stale-file.jsonl").exists(), "an export replaces the folder atomically"
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["per_behaviour"] == TARGETS
    assert manifest["counts"]["kept"] == 5 == summary.kept
    assert manifest["counts"]["dropped"] >= 1
    assert manifest["drop_reasons"]["malformed_output"] == 1
    assert manifest["counts"]["raw"] == summary.kept + summary.dropped + summary.surplus
    assert [s["count"] for s in manifest["shards"]] == [2, 2, 1]
    lines = [line for s in manifest["shards"] for line in (out / s["file"]).read_bytes().splitlines()]
    assert len(lines) == 5
    for line in lines:
        trace = orjson.loads(line)
        assert trace["messages"][0]["role"] == "system"
        assert trace["meta"]["behaviour"] in TARGETS
    report = (out / "DROP_REPORT.md").read_text()
    assert f"→ dropped {summary.dropped} → kept 5" in report
    assert "malformed_output: 1" in report


async def test_regate_reports_then_applies_and_reverts(
    service: CoordinatorService, engine: AsyncEngine, resources: Resources
) -> None:
    job_id = await run_job(service, resources, with_rejects=False)
    assert (await service.get_job(job_id)).status == JobStatus.COMPLETED
    # A much stricter token cap: every stored trace now fails prompt_over_cap.
    strict = dataclasses.replace(
        resources, gate_context=dataclasses.replace(resources.gate_context, max_tokens=100)
    )
    dry = await regate_job(engine, strict, job_id, apply=False)
    # Every output that passed (stored or surplus) is judged again, and every one now fails.
    assert sum(dry.newly_rejected.values()) == dry.examined >= 5
    assert {reason for reason, _ in dry.newly_rejected} == {"prompt_over_cap"}
    assert (await service.get_job(job_id)).accepted == 5, "a dry run changes nothing"

    applied = await regate_job(engine, strict, job_id, apply=True)
    assert applied.applied
    job = await service.get_job(job_id)
    assert job.accepted == 0
    assert job.status == JobStatus.RUNNING, "the reopened deficit is generated on resume"
    await assert_counters_consistent(engine, job_id)

    back = await regate_job(engine, resources, job_id, apply=True)
    assert sum(back.newly_accepted.values()) == dry.examined
    job = await service.get_job(job_id)
    assert job.accepted == 5
    assert job.status == JobStatus.COMPLETED
    await assert_counters_consistent(engine, job_id)
    assert "would move" in dry.render() and "prompt_over_cap" in dry.render()
