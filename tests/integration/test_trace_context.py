"""Shared trace contexts on both backends: stored once, joined back on every read, and on downgrade."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from alembic import command
from sqlalchemy import Connection, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from gen_service.core.trace import parse_teacher_reply
from gen_service.export import export_job
from gen_service.regate import regate_job
from gen_service.resources import Resources
from gen_service.service import CoordinatorService, ResultSubmission
from gen_service.store.migrate import alembic_config
from gen_service.store.tables import CONTEXT, SAMPLE
from gen_service.tracebuild import TraceBuilder
from tests.helpers import honest_text

TARGETS = {"survey_before_edit": 4, "recall_first_habit": 3, "tool_intent_first": 3}


async def run_job(
    service: CoordinatorService, resources: Resources, odd_trace: Any = None, name: str = "ctx"
) -> int:
    """Complete a job; workers send raw text only (the coordinator assembles), one sends `odd_trace`."""
    job = await service.create_job(
        name=name, teacher="scripted", targets=TARGETS, lease_ttl_s=60, prompt_version="v1"
    )
    while leases := (await service.claim("w", 4, job.id)).leases:
        results = [
            ResultSubmission(
                lease_id=lease.lease_id,
                token=lease.token,
                trace=None,
                raw_text=honest_text(resources, lease.behaviour, lease.scenario, lease.seed),
            )
            for lease in leases
        ]
        if odd_trace is not None:
            results[0] = ResultSubmission(leases[0].lease_id, leases[0].token, odd_trace(leases[0]), "")
            odd_trace = None
        await service.submit(results)
    return job.id


async def exported(engine: AsyncEngine, job_id: int, out: Path) -> list[dict[str, Any]]:
    await export_job(engine, job_id, out)
    return [
        orjson.loads(line)
        for path in sorted(out.glob("shard-*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]


async def test_contexts_are_stored_once_and_exports_carry_whole_traces(
    service: CoordinatorService, engine: AsyncEngine, resources: Resources, tmp_path: Path
) -> None:
    job_id = await run_job(service, resources)
    async with engine.connect() as conn:
        samples = (await conn.execute(select(SAMPLE).where(SAMPLE.c.job_id == job_id))).all()
        contexts = (await conn.execute(select(func.count()).select_from(CONTEXT))).scalar_one()
    assert all(s.context_key is not None for s in samples), "builder-shaped traces are split"
    assert contexts == len({(s.behaviour, s.scenario) for s in samples})
    # A second job over the same behaviours meets the same (behaviour, scenario) pairs: no new rows.
    await run_job(CoordinatorService(engine, resources), resources, name="ctx-again")
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(CONTEXT))).scalar_one() == contexts
        assert (await conn.execute(select(func.count()).select_from(SAMPLE))).scalar_one() == 2 * len(samples)
    for sample in samples:
        assert "tools" not in sample.trace and sample.trace["messages"][0]["role"] == "assistant"

    builder = TraceBuilder(resources)
    traces = await exported(engine, job_id, tmp_path / "out")
    assert len(traces) == sum(TARGETS.values())
    for trace in traces:
        meta = trace["meta"]
        prompt = builder.prompt(meta["behaviour"], meta["scenario"], "v1")
        reply = honest_text(resources, meta["behaviour"], meta["scenario"], meta["seed"])
        assert trace["messages"][:2] == [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
        ]
        assert trace["messages"][2:] == parse_teacher_reply(reply)
        assert trace["tools"] == resources.vocabulary.openai_tools()


async def test_a_trace_of_another_shape_is_stored_whole(
    service: CoordinatorService, engine: AsyncEngine, resources: Resources, tmp_path: Path
) -> None:
    builder = TraceBuilder(resources)

    def with_extra_key(lease: Any) -> dict[str, Any]:
        text = honest_text(resources, lease.behaviour, lease.scenario, lease.seed)
        trace = builder.build(
            text,
            behaviour=lease.behaviour,
            scenario=lease.scenario,
            seed=lease.seed,
            teacher="scripted",
            prompt_version="v1",
            finish_reason="stop",
        )
        assert trace is not None
        return {**trace, "source": "imported"}

    job_id = await run_job(service, resources, odd_trace=with_extra_key)
    async with engine.connect() as conn:
        whole = (await conn.execute(select(SAMPLE.c.trace).where(SAMPLE.c.context_key.is_(None)))).all()
    assert len(whole) == 1 and whole[0].trace["source"] == "imported"
    assert len(whole[0].trace["tools"]) == len(resources.vocabulary.openai_tools())
    traces = await exported(engine, job_id, tmp_path / "out")
    assert sum(t.get("source") == "imported" for t in traces) == 1


async def test_regate_judges_joined_traces(
    service: CoordinatorService, engine: AsyncEngine, resources: Resources
) -> None:
    job_id = await run_job(service, resources)
    report = await regate_job(engine, resources, job_id, apply=False)
    # Had regate seen only the stored part (no system prompt), every trace would fail a gate.
    assert report.examined >= sum(TARGETS.values()) and not report.newly_rejected


async def test_downgrade_puts_every_trace_back_together(
    service: CoordinatorService, engine: AsyncEngine, resources: Resources, tmp_path: Path
) -> None:
    job_id = await run_job(service, resources)
    before = await exported(engine, job_id, tmp_path / "out")
    config = alembic_config()

    def downgrade(connection: Connection) -> list[Any]:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
        rows = connection.execute(text("SELECT trace FROM sample WHERE surplus = 0 ORDER BY id")).all()
        return [orjson.loads(r.trace) if isinstance(r.trace, str) else r.trace for r in rows]

    async with engine.begin() as conn:
        after = await conn.run_sync(downgrade)
    assert after == before
