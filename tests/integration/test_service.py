"""The coordinator service on both backends: leases, fencing, idempotency, targets, surplus."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gen_service.clock import ManualClock
from gen_service.resources import Resources
from gen_service.service import Conflict, CoordinatorService, InvalidRequest
from gen_service.store.models import JobStatus, Outcome, RawOutput, Reject, Sample
from tests.helpers import assert_counters_consistent, honest_trace, result_for

TWO = {"survey_before_edit": 3, "tool_intent_first": 2}


async def make_job(service: CoordinatorService, targets=TWO, ttl: float = 60.0, name: str = "t") -> int:
    job = await service.create_job(
        name=name, teacher="scripted", targets=targets, lease_ttl_s=ttl, prompt_version="v1"
    )
    return job.id


async def test_job_runs_to_exact_targets(
    service: CoordinatorService, engine: AsyncEngine, resources: Resources
) -> None:
    job_id = await make_job(service)
    for _ in range(20):
        claim = await service.claim("w1", 8, job_id)
        if not claim.leases:
            break
        statuses = await service.submit([result_for(resources, lease) for lease in claim.leases])
        assert {s.outcome for s in statuses} <= {Outcome.STORED, Outcome.SURPLUS}
    job = await service.get_job(job_id)
    assert job.status == JobStatus.COMPLETED
    assert await assert_counters_consistent(engine, job_id) == TWO
    assert not (await service.claim("w1", 8, job_id)).leases


async def test_claim_respects_in_flight_cap(service: CoordinatorService) -> None:
    job_id = await make_job(service, {"survey_before_edit": 3})
    claim = await service.claim("w1", 100, job_id)
    # p = 1/2 before any result: cap = ceil(3 / 0.5) = 6.
    assert len(claim.leases) == 6
    assert not (await service.claim("w1", 100, job_id)).leases


async def test_resubmission_is_idempotent(
    service: CoordinatorService, engine: AsyncEngine, resources: Resources
) -> None:
    job_id = await make_job(service)
    lease = (await service.claim("w1", 1, job_id)).leases[0]
    first = await service.submit([result_for(resources, lease)])
    again = await service.submit([result_for(resources, lease)])
    assert first[0].outcome == Outcome.STORED
    assert again[0].outcome == Outcome.STORED
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Sample.__table__))).scalar_one() == 1
        assert (await conn.execute(select(func.count()).select_from(RawOutput.__table__))).scalar_one() == 1
    await assert_counters_consistent(engine, job_id)


async def test_expired_lease_is_fenced_and_reissued(
    service: CoordinatorService, engine: AsyncEngine, resources: Resources, clock: ManualClock
) -> None:
    job_id = await make_job(service, {"survey_before_edit": 1}, ttl=10)
    old = (await service.claim("slow", 1, job_id)).leases[0]
    clock.advance(11)
    fresh = (await service.claim("fast", 1, job_id)).leases
    assert fresh and fresh[0].lease_id != old.lease_id
    assert (await service.submit([result_for(resources, fresh[0])]))[0].outcome == Outcome.STORED
    late = await service.submit([result_for(resources, old)])
    assert late[0].outcome == Outcome.STALE
    counts = await assert_counters_consistent(engine, job_id)
    assert counts == {"survey_before_edit": 1}


async def test_late_result_before_reaper_is_stale(
    service: CoordinatorService, engine: AsyncEngine, resources: Resources, clock: ManualClock
) -> None:
    job_id = await make_job(service, ttl=5)
    lease = (await service.claim("w", 1, job_id)).leases[0]
    clock.advance(6)
    assert (await service.submit([result_for(resources, lease)]))[0].outcome == Outcome.STALE
    await assert_counters_consistent(engine, job_id)
    assert (await service.progress(job_id))[0].in_flight == 0


async def test_reaper_expires_overdue_leases(
    service: CoordinatorService, engine: AsyncEngine, clock: ManualClock
) -> None:
    job_id = await make_job(service, ttl=5)
    claimed = len((await service.claim("w", 4, job_id)).leases)
    assert await service.reap() == 0
    clock.advance(6)
    assert await service.reap() == claimed
    await assert_counters_consistent(engine, job_id)


async def test_wrong_token_changes_nothing(
    service: CoordinatorService, engine: AsyncEngine, resources: Resources
) -> None:
    job_id = await make_job(service)
    lease = (await service.claim("w", 1, job_id)).leases[0]
    forged = result_for(resources, lease)
    forged = dataclasses.replace(forged, token=lease.token + 1)
    assert (await service.submit([forged]))[0].outcome == Outcome.STALE
    assert (await service.submit([result_for(resources, lease)]))[0].outcome == Outcome.STORED
    await assert_counters_consistent(engine, job_id)


async def test_rejected_results_store_reasons(
    service: CoordinatorService, engine: AsyncEngine, resources: Resources
) -> None:
    job_id = await make_job(service)
    leases = (await service.claim("w", 2, job_id)).leases
    broken = result_for(resources, leases[0], trace=None)
    trace = honest_trace(resources, leases[1].behaviour, leases[1].scenario, leases[1].seed)
    trace["messages"][2]["reasoning_content"] = "  "
    statuses = await service.submit([broken, result_for(resources, leases[1], trace=trace)])
    assert statuses[0].outcome == Outcome.REJECTED and statuses[0].reasons == ["malformed_output"]
    assert statuses[1].outcome == Outcome.REJECTED and "reasoning_empty" in statuses[1].reasons
    await assert_counters_consistent(engine, job_id)
    progress = {p.behaviour: p for p in await service.progress(job_id)}
    assert sum(p.rejected for p in progress.values()) == 2


async def test_duplicate_content_is_not_stored_twice(
    service: CoordinatorService, engine: AsyncEngine, resources: Resources
) -> None:
    job_id = await make_job(service, {"survey_before_edit": 5})
    a, b, c = (await service.claim("w", 3, job_id)).leases[:3]
    same = honest_trace(resources, a.behaviour, a.scenario, a.seed)
    statuses = await service.submit(
        [result_for(resources, a, trace=same), result_for(resources, b, trace=same)]
    )
    assert [s.outcome for s in statuses] == [Outcome.STORED, Outcome.DUPLICATE]
    later = await service.submit([result_for(resources, c, trace=same)])
    assert later[0].outcome == Outcome.DUPLICATE
    await assert_counters_consistent(engine, job_id)


async def test_a_duplicate_of_a_stored_sample_leaves_its_place_to_the_next_sample(
    service: CoordinatorService, engine: AsyncEngine, resources: Resources
) -> None:
    job_id = await make_job(service, {"survey_before_edit": 2})
    a, b, c, d = (await service.claim("w", 4, job_id)).leases
    same = honest_trace(resources, a.behaviour, a.scenario, a.seed)
    (first,) = await service.submit([result_for(resources, a, trace=same)])
    assert first.outcome == Outcome.STORED
    # One place is left. b repeats a stored sample, so the place is c's, and d is surplus.
    statuses = await service.submit(
        [result_for(resources, b, trace=same), result_for(resources, c), result_for(resources, d)]
    )
    assert [s.outcome for s in statuses] == [Outcome.DUPLICATE, Outcome.STORED, Outcome.SURPLUS]
    async with engine.connect() as conn:
        rows = await conn.execute(select(Sample.lease_id, Sample.surplus))
        surplus = {row.lease_id: row.surplus for row in rows}
        duplicates = (
            await conn.execute(select(func.count()).select_from(Reject).where(Reject.reason == "duplicate"))
        ).scalar_one()
    assert surplus == {a.lease_id: 0, c.lease_id: 0, d.lease_id: 1}
    assert duplicates == 1, "the duplicate is in the drop report"
    assert await assert_counters_consistent(engine, job_id) == {"survey_before_edit": 2}


async def test_result_for_full_behaviour_is_surplus(
    service: CoordinatorService, engine: AsyncEngine, resources: Resources
) -> None:
    job_id = await make_job(service, {"survey_before_edit": 2})
    leases = (await service.claim("w", 4, job_id)).leases
    assert len(leases) == 4
    statuses = await service.submit([result_for(resources, lease) for lease in leases])
    assert [s.outcome for s in statuses].count(Outcome.STORED) == 2
    assert [s.outcome for s in statuses].count(Outcome.SURPLUS) == 2
    assert await assert_counters_consistent(engine, job_id) == {"survey_before_edit": 2}


async def test_lowering_target_moves_excess_to_surplus(
    service: CoordinatorService, engine: AsyncEngine, resources: Resources
) -> None:
    job_id = await make_job(service, {"survey_before_edit": 4})
    leases = (await service.claim("w", 4, job_id)).leases
    await service.submit([result_for(resources, lease) for lease in leases])
    job = await service.set_targets(job_id, {"survey_before_edit": 1})
    assert job.accepted == 1 and job.status == JobStatus.COMPLETED
    await assert_counters_consistent(engine, job_id)
    job = await service.set_targets(job_id, {"survey_before_edit": 6})
    assert job.status == JobStatus.RUNNING
    assert (await service.claim("w", 10, job_id)).leases


async def test_pause_resume_cancel(
    service: CoordinatorService, engine: AsyncEngine, resources: Resources
) -> None:
    job_id = await make_job(service)
    in_flight = (await service.claim("w", 1, job_id)).leases[0]
    await service.set_status(job_id, "pause")
    paused = await service.claim("w", 5, job_id)
    assert not paused.leases and paused.more_work_possible
    # In-flight work of a paused job still counts.
    assert (await service.submit([result_for(resources, in_flight)]))[0].outcome == Outcome.STORED
    await service.set_status(job_id, "resume")
    lease = (await service.claim("w", 1, job_id)).leases[0]
    await service.set_status(job_id, "cancel")
    assert (await service.submit([result_for(resources, lease)]))[0].outcome == Outcome.STALE
    assert not (await service.claim("w", 5, job_id)).leases
    with pytest.raises(Conflict):
        await service.set_status(job_id, "resume")
    await assert_counters_consistent(engine, job_id)


async def test_release_returns_deficit(service: CoordinatorService, engine: AsyncEngine) -> None:
    job_id = await make_job(service, {"survey_before_edit": 1})
    leases = (await service.claim("w", 5, job_id)).leases
    assert not (await service.claim("w", 5, job_id)).leases
    assert await service.release([(lease.lease_id, lease.token) for lease in leases]) == len(leases)
    assert (await service.claim("w", 5, job_id)).leases
    await assert_counters_consistent(engine, job_id)


async def test_held_out_scenarios_are_never_leased(service: CoordinatorService, resources: Resources) -> None:
    held_out = {sid for sid, s in resources.scenarios.items() if s.held_out}
    assert held_out, "the bank marks some scenarios held-out"
    job_id = await make_job(service, dict.fromkeys(resources.behaviours, 20))
    seen = set()
    for _ in range(5):
        leases = (await service.claim("w", 200, job_id)).leases
        seen |= {lease.scenario for lease in leases}
    assert seen and not seen & held_out
    assert seen == set(resources.generation_scenarios)


async def test_bad_job_requests(service: CoordinatorService) -> None:
    with pytest.raises(InvalidRequest, match="unknown behaviours: nope"):
        await make_job(service, {"nope": 1})
    with pytest.raises(InvalidRequest):
        await make_job(service, {"survey_before_edit": 0})
    await make_job(service, name="same")
    with pytest.raises(Conflict):
        await make_job(service, name="same")


async def test_seeds_are_unique_per_job(service: CoordinatorService) -> None:
    job_id = await make_job(service, {"survey_before_edit": 50, "tool_intent_first": 50})
    seeds = [lease.seed for lease in (await service.claim("w", 100, job_id)).leases]
    seeds += [lease.seed for lease in (await service.claim("w", 100, job_id)).leases]
    assert len(seeds) == len(set(seeds)) > 100


async def test_worker_execution_check_counts_only_when_the_job_asks(
    service: CoordinatorService, engine: AsyncEngine, resources: Resources
) -> None:
    checked = await service.create_job(
        name="checked",
        teacher="scripted",
        targets={"survey_before_edit": 2},
        lease_ttl_s=60,
        prompt_version="v1",
        execution_check=True,
    )
    plain = await make_job(service, {"survey_before_edit": 2}, name="plain")
    unverified = [("unverified_fix", "the trace claims a fix, but `python -m pytest -q` fails")]
    a, b = (await service.claim("w", 2, checked.id)).leases
    assert a.execution_check and b.execution_check
    statuses = await service.submit(
        [dataclasses.replace(result_for(resources, a), checks=unverified), result_for(resources, b)]
    )
    assert [s.outcome for s in statuses] == [Outcome.REJECTED, Outcome.STORED]
    assert statuses[0].reasons == ["unverified_fix"]
    lease = (await service.claim("w", 1, plain)).leases[0]
    assert not lease.execution_check
    ignored = await service.submit([dataclasses.replace(result_for(resources, lease), checks=unverified)])
    assert ignored[0].outcome == Outcome.STORED, "a job that did not ask for the check ignores its verdict"
    await assert_counters_consistent(engine, checked.id)


async def test_a_replica_that_did_not_issue_the_lease_stores_its_result(
    service: CoordinatorService, engine: AsyncEngine, resources: Resources, clock: ManualClock
) -> None:
    """Lease facts come from the issuing process's cache or, on another replica, from the store."""
    job_id = await make_job(service)
    leases = (await service.claim("w1", 3, job_id)).leases
    replica = CoordinatorService(engine, resources, clock=clock)
    statuses = await replica.submit([result_for(resources, lease) for lease in leases])
    assert [s.outcome for s in statuses] == [Outcome.STORED] * 3
    # The issuing process answers a resubmission the same way, from the store's record.
    again = await service.submit([result_for(resources, lease) for lease in leases])
    assert [s.outcome for s in again] == [Outcome.STORED] * 3
    await assert_counters_consistent(engine, job_id)


async def test_results_of_a_deleted_job_are_unknown_not_a_crash(
    service: CoordinatorService, resources: Resources
) -> None:
    job_id = await make_job(service)
    leases = (await service.claim("w1", 2, job_id)).leases  # their facts are cached now
    await service.delete_job(job_id)
    statuses = await service.submit([result_for(resources, lease) for lease in leases])
    assert [(s.outcome, s.reasons) for s in statuses] == [(Outcome.STALE, ["unknown lease"])] * 2
