"""The coordinator's service layer: every operation is one transaction, owned here.

Routes and the CLI call these methods; the named statements in `store.leases` never commit.

Invariants (tested on both backends):
- accepted never exceeds target: a passing result for a full behaviour is stored as surplus;
- a lease is answered at most once: resubmitting the same (lease, token) returns the first outcome
  and changes nothing (idempotency);
- a result for an expired, released or re-issued lease, or one with the wrong fencing token, is
  `stale` and changes nothing (fencing);
- the counters in job_behaviour equal what the lease, sample and reject rows say, because they change
  in the same transaction as those rows.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gen_service.clock import Clock, utc_now
from gen_service.core.gates import Reason, Rejection, content_key, run_gates
from gen_service.core.scheduler import BehaviourState, allocate
from gen_service.resources import Resources
from gen_service.store import leases as sql
from gen_service.store.models import (
    JobStatus,
    LeaseStatus,
    Outcome,
)
from gen_service.store.tables import JB, JOB, LEASE, RAW, REJECT, SAMPLE
from gen_service.store.trace_parts import ContextKeys, split_trace
from gen_service.tracebuild import TraceBuilder

# Results gated between two yields to the event loop in a submit (see CoordinatorService.submit).
_GATES_BETWEEN_YIELDS = 8


class ServiceError(Exception):
    """Base of errors the API maps to 4xx responses."""

    status_code = 400


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    status_code = 409


class InvalidRequest(ServiceError):
    status_code = 422


@dataclass(frozen=True, slots=True)
class BehaviourProgress:
    behaviour: str
    layer: str
    target: int
    accepted: int
    surplus: int
    rejected: int
    in_flight: int
    pass_rate: float
    need: float


@dataclass(frozen=True, slots=True)
class JobView:
    id: int
    name: str
    teacher: str
    status: JobStatus
    prompt_version: str
    lease_ttl_s: float
    created_at: datetime
    updated_at: datetime
    target: int
    accepted: int
    in_flight: int
    execution_check: bool = False
    token_budget: int | None = None
    cost_budget: float | None = None
    tokens_used: int = 0
    cost_used: float = 0.0

    @property
    def finished(self) -> bool:
        return self.status == JobStatus.COMPLETED

    @property
    def budget_exhausted(self) -> bool:
        """Leasing stops once either budget is reached (in-flight calls may still add a little)."""
        over_tokens = self.token_budget is not None and self.tokens_used >= self.token_budget
        over_cost = self.cost_budget is not None and self.cost_used >= self.cost_budget
        return over_tokens or over_cost


@dataclass(frozen=True, slots=True)
class LeaseGrant:
    lease_id: str
    token: int
    job_id: int
    job_name: str
    teacher: str
    prompt_version: str
    behaviour: str
    scenario: str
    seed: int
    expires_at: datetime
    execution_check: bool = False


@dataclass(frozen=True, slots=True)
class LeaseFacts:
    """What never changes about a lease once issued: what a submit needs to assemble and gate."""

    id: str
    job_id: int
    behaviour: str
    scenario: str
    seed: int
    teacher: str
    prompt_version: str


class LeaseFactsCache:
    """Facts of the leases this process issued, so a submit can gate before its transaction without
    first reading them back (a pool checkout and a query per batch).

    Safe because the facts are immutable; a miss (another replica issued the lease, or it was
    evicted) reads them from the store. Entries are added only after the issuing transaction
    commits and dropped when the lease is answered or released; bounded, oldest evicted first.
    """

    def __init__(self, capacity: int = 65_536) -> None:
        self._capacity = capacity
        self._facts: dict[str, LeaseFacts] = {}

    def add(self, grants: Sequence[LeaseGrant]) -> None:
        for grant in grants:
            while len(self._facts) >= self._capacity:
                del self._facts[next(iter(self._facts))]  # dicts keep insertion order: oldest first
            self._facts[grant.lease_id] = LeaseFacts(
                grant.lease_id,
                grant.job_id,
                grant.behaviour,
                grant.scenario,
                grant.seed,
                grant.teacher,
                grant.prompt_version,
            )

    def get(self, lease_id: str) -> LeaseFacts | None:
        return self._facts.get(lease_id)

    def discard(self, lease_ids: Iterable[str]) -> None:
        for lease_id in lease_ids:
            self._facts.pop(lease_id, None)


@dataclass(frozen=True, slots=True)
class ClaimResult:
    leases: list[LeaseGrant]
    # True when some job could still issue leases later (paused, or waiting on leases in flight):
    # a worker with nothing to do should poll again rather than exit.
    more_work_possible: bool


@dataclass(frozen=True, slots=True)
class ResultSubmission:
    lease_id: str
    token: int
    trace: Mapping[str, Any] | None  # the assembled trace, or None when the teacher's reply did not parse
    raw_text: str
    reasoning: str = ""
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    # Rejections from the worker's I/O checks (unverified_fix), which the coordinator cannot rerun;
    # honoured only for jobs that asked for the execution check.
    checks: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True, slots=True)
class _Verdict:
    """What the gates made of a result. For a trace that passed them (no rejections): its duplicate
    key, its own part as stored in `sample.trace`, and its shared context with that context's key
    (None when the trace is stored whole)."""

    rejections: list[Rejection]
    content_key: str = ""
    own: dict[str, Any] | None = None
    context_key: str | None = None
    context: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ResultStatus:
    lease_id: str
    outcome: Outcome
    reasons: list[str] = field(default_factory=list)


class CoordinatorService:
    def __init__(
        self,
        engine: AsyncEngine,
        resources: Resources,
        *,
        clock: Clock = utc_now,
        teacher_costs: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        self._engine = engine
        self._resources = resources
        self._clock = clock
        # teacher name -> (cost per 1k prompt tokens, cost per 1k completion tokens)
        self._teacher_costs = dict(teacher_costs or {})
        self._builder = TraceBuilder(resources)
        self._context_keys = ContextKeys()
        # Keys of trace contexts known to be committed; a context is written only when missing here.
        self._stored_contexts: set[str] = set()
        self._lease_facts_cache = LeaseFactsCache()

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    def cost_of(self, teacher: str, prompt_tokens: int, completion_tokens: int) -> float:
        per_in, per_out = self._teacher_costs.get(teacher, (0.0, 0.0))
        return prompt_tokens / 1000 * per_in + completion_tokens / 1000 * per_out

    @property
    def resources(self) -> Resources:
        return self._resources

    # ---- jobs -------------------------------------------------------------------------------

    def _validate_targets(self, targets: Mapping[str, int]) -> None:
        unknown = sorted(set(targets) - set(self._resources.behaviours))
        if unknown:
            raise InvalidRequest(f"unknown behaviours: {', '.join(unknown)}")
        negative = sorted(name for name, value in targets.items() if value < 0)
        if negative:
            raise InvalidRequest(f"targets must be >= 0: {', '.join(negative)}")
        if not any(targets.values()):
            raise InvalidRequest("at least one behaviour needs a target above 0")

    async def create_job(
        self,
        *,
        name: str,
        teacher: str,
        targets: Mapping[str, int],
        lease_ttl_s: float,
        prompt_version: str,
        token_budget: int | None = None,
        cost_budget: float | None = None,
        execution_check: bool = False,
        idempotency_key: str | None = None,
    ) -> JobView:
        """Create a job. With an idempotency key already used, returns that job unchanged when the
        request is the same (name and targets), and raises Conflict when it is not."""
        self._validate_targets(targets)
        if idempotency_key is not None:
            existing = await self._job_by_idempotency_key(idempotency_key)
            if existing is not None:
                return await self._replay(existing, name, targets)
        if not self._resources.generation_scenarios:
            raise InvalidRequest("the scenario bank has no scenario available for generation")
        now = self._clock()
        try:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    insert(JOB)
                    .values(
                        name=name,
                        teacher=teacher,
                        status=JobStatus.RUNNING,
                        prompt_version=prompt_version,
                        lease_ttl_s=lease_ttl_s,
                        next_seed=0,
                        created_at=now,
                        updated_at=now,
                        token_budget=token_budget,
                        cost_budget=cost_budget,
                        execution_check=execution_check,
                        idempotency_key=idempotency_key,
                    )
                    .returning(JOB.c.id)
                )
                job_id = int(result.scalar_one())
                await conn.execute(
                    insert(JB),
                    [
                        {
                            "job_id": job_id,
                            "behaviour": behaviour,
                            "layer": self._resources.behaviours[behaviour].layer,
                            "target": target,
                            "accepted": 0,
                            "passed": 0,
                            "completed": 0,
                            "surplus": 0,
                            "in_flight": 0,
                            "issued": 0,
                        }
                        for behaviour, target in sorted(targets.items())
                        if target > 0
                    ],
                )
        except IntegrityError:
            if idempotency_key is not None:
                existing = await self._job_by_idempotency_key(idempotency_key)
                if existing is not None:  # a concurrent request with the same key won the race
                    return await self._replay(existing, name, targets)
            raise Conflict(f"a job named {name!r} already exists") from None
        return await self.get_job(job_id)

    async def _job_by_idempotency_key(self, key: str) -> int | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(JOB.c.id).where(JOB.c.idempotency_key == key))).first()
        return None if row is None else int(row.id)

    async def _replay(self, job_id: int, name: str, targets: Mapping[str, int]) -> JobView:
        view = await self.get_job(job_id)
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(select(JB.c.behaviour, JB.c.target).where(JB.c.job_id == job_id))
            ).all()
        stored = {row.behaviour: row.target for row in rows}
        if view.name != name or stored != {b: t for b, t in targets.items() if t > 0}:
            raise Conflict("this Idempotency-Key was used for a different job request")
        return view

    async def find_job_id(self, name_or_id: str | int) -> int:
        async with self._engine.connect() as conn:
            if isinstance(name_or_id, int) or str(name_or_id).isdigit():
                row = (await conn.execute(select(JOB.c.id).where(JOB.c.id == int(name_or_id)))).first()
                if row is not None:
                    return int(row.id)
            row = (await conn.execute(select(JOB.c.id).where(JOB.c.name == str(name_or_id)))).first()
        if row is None:
            raise NotFound(f"no job {name_or_id!r}")
        return int(row.id)

    async def get_job(self, job_id: int) -> JobView:
        async with self._engine.connect() as conn:
            views = await self._job_views(conn, job_id)
        if not views:
            raise NotFound(f"no job {job_id}")
        return views[0]

    async def list_jobs(self) -> list[JobView]:
        async with self._engine.connect() as conn:
            return await self._job_views(conn, None)

    async def _job_views(self, conn: AsyncConnection, job_id: int | None) -> list[JobView]:
        totals = (
            select(
                JB.c.job_id,
                func.sum(JB.c.target).label("target"),
                func.sum(JB.c.accepted).label("accepted"),
                func.sum(JB.c.in_flight).label("in_flight"),
                func.sum(JB.c.prompt_tokens).label("prompt_tokens"),
                func.sum(JB.c.completion_tokens).label("completion_tokens"),
            )
            .group_by(JB.c.job_id)
            .subquery()
        )
        query = select(
            JOB,
            totals.c.target,
            totals.c.accepted,
            totals.c.in_flight,
            totals.c.prompt_tokens,
            totals.c.completion_tokens,
        ).join(totals, totals.c.job_id == JOB.c.id, isouter=True)
        if job_id is not None:
            query = query.where(JOB.c.id == job_id)
        rows = (await conn.execute(query.order_by(JOB.c.id))).all()
        return [
            JobView(
                id=row.id,
                name=row.name,
                teacher=row.teacher,
                status=JobStatus(row.status),
                prompt_version=row.prompt_version,
                lease_ttl_s=row.lease_ttl_s,
                created_at=row.created_at,
                updated_at=row.updated_at,
                target=int(row.target or 0),
                accepted=int(row.accepted or 0),
                in_flight=int(row.in_flight or 0),
                execution_check=bool(row.execution_check),
                token_budget=row.token_budget,
                cost_budget=row.cost_budget,
                tokens_used=int(row.prompt_tokens or 0) + int(row.completion_tokens or 0),
                cost_used=self.cost_of(
                    row.teacher, int(row.prompt_tokens or 0), int(row.completion_tokens or 0)
                ),
            )
            for row in rows
        ]

    async def set_status(self, job_id: int, action: str) -> JobView:
        """pause | drain | resume | cancel. Drain stops leasing and turns into paused once nothing is
        in flight. Cancelling is final; a completed job is resumed into work only by raising targets."""
        now = self._clock()
        async with self._engine.begin() as conn:
            job = await sql.lock_job(conn, job_id)
            if job is None:
                raise NotFound(f"no job {job_id}")
            current = JobStatus(job.status)
            if current == JobStatus.CANCELLED and action != "cancel":
                raise Conflict("the job is cancelled")
            new: JobStatus
            if action == "pause":
                new = JobStatus.PAUSED if current != JobStatus.COMPLETED else current
            elif action == "drain":
                if current in (JobStatus.COMPLETED, JobStatus.PAUSED):
                    new = current
                else:
                    rows = await sql.lock_behaviour_rows(conn, job_id)
                    new = JobStatus.PAUSED if sum(r.in_flight for r in rows) == 0 else JobStatus.DRAINING
            elif action == "resume":
                rows = await sql.lock_behaviour_rows(conn, job_id)
                new = JobStatus.COMPLETED if _all_full(rows) else JobStatus.RUNNING
            elif action == "cancel":
                new = JobStatus.CANCELLED
                # Their results would be stale anyway: take them out of in_flight now.
                await sql.lock_behaviour_rows(conn, job_id)
                await sql.release_in_flight(conn, job_id, now)
            else:
                raise InvalidRequest(f"unknown action {action!r}: use pause, drain, resume or cancel")
            await conn.execute(update(JOB).where(JOB.c.id == job_id).values(status=new, updated_at=now))
        return await self.get_job(job_id)

    async def set_targets(self, job_id: int, targets: Mapping[str, int]) -> JobView:
        """Change targets while running. A target lowered below accepted moves the newest excess
        samples to surplus (outside the corpus); a raised target reopens the deficit."""
        unknown = sorted(set(targets) - set(self._resources.behaviours))
        if unknown:
            raise InvalidRequest(f"unknown behaviours: {', '.join(unknown)}")
        if any(value < 0 for value in targets.values()):
            raise InvalidRequest("targets must be >= 0")
        now = self._clock()
        async with self._engine.begin() as conn:
            job = await sql.lock_job(conn, job_id)
            if job is None:
                raise NotFound(f"no job {job_id}")
            rows = {row.behaviour: row for row in await sql.lock_behaviour_rows(conn, job_id)}
            for behaviour, target in sorted(targets.items()):
                row = rows.get(behaviour)
                if row is None:
                    if target > 0:
                        await conn.execute(
                            insert(JB).values(
                                job_id=job_id,
                                behaviour=behaviour,
                                layer=self._resources.behaviours[behaviour].layer,
                                target=target,
                                accepted=0,
                                passed=0,
                                completed=0,
                                surplus=0,
                                in_flight=0,
                                issued=0,
                            )
                        )
                    continue
                await conn.execute(
                    update(JB)
                    .where(and_(JB.c.job_id == job_id, JB.c.behaviour == behaviour))
                    .values(target=target)
                )
                excess = row.accepted - target
                if excess > 0:
                    await self._move_to_surplus(conn, job_id, behaviour, excess)
            rows_after = await sql.lock_behaviour_rows(conn, job_id)
            status = JobStatus(job.status)
            if status in (JobStatus.RUNNING, JobStatus.COMPLETED):
                status = JobStatus.COMPLETED if _all_full(rows_after) else JobStatus.RUNNING
            await conn.execute(update(JOB).where(JOB.c.id == job_id).values(status=status, updated_at=now))
        return await self.get_job(job_id)

    async def _move_to_surplus(self, conn: AsyncConnection, job_id: int, behaviour: str, count: int) -> None:
        newest = (
            select(SAMPLE.c.id)
            .where(and_(SAMPLE.c.job_id == job_id, SAMPLE.c.behaviour == behaviour, SAMPLE.c.surplus == 0))
            .order_by(SAMPLE.c.id.desc())
            .limit(count)
        )
        ids = [row.id for row in await conn.execute(newest)]
        await conn.execute(update(SAMPLE).where(SAMPLE.c.id.in_(ids)).values(surplus=1))
        await sql.bump_counters(conn, job_id, behaviour, accepted=-len(ids), surplus=len(ids))

    async def set_budget(
        self, job_id: int, *, token_budget: int | None, cost_budget: float | None
    ) -> JobView:
        """Replace the job's budgets (None: no limit). Raising a reached budget resumes leasing."""
        now = self._clock()
        async with self._engine.begin() as conn:
            job = await sql.lock_job(conn, job_id)
            if job is None:
                raise NotFound(f"no job {job_id}")
            await conn.execute(
                update(JOB)
                .where(JOB.c.id == job_id)
                .values(token_budget=token_budget, cost_budget=cost_budget, updated_at=now)
            )
        return await self.get_job(job_id)

    async def progress(self, job_id: int) -> list[BehaviourProgress]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(select(JB).where(JB.c.job_id == job_id).order_by(JB.c.behaviour))
            ).all()
        if not rows:
            await self.get_job(job_id)  # raises NotFound for an unknown job
        result = []
        for row in rows:
            state = _state(row)
            result.append(
                BehaviourProgress(
                    behaviour=row.behaviour,
                    layer=row.layer,
                    target=row.target,
                    accepted=row.accepted,
                    surplus=row.surplus,
                    rejected=row.completed - row.passed,
                    in_flight=row.in_flight,
                    pass_rate=state.pass_rate,
                    need=state.need,
                )
            )
        return result

    # ---- leases -----------------------------------------------------------------------------

    async def claim(self, worker_id: str, max_leases: int, job_id: int | None = None) -> ClaimResult:
        """Issue up to `max_leases` leases from running jobs (oldest job first).

        Expired leases of each job are reaped first, inside the same transaction, so a deficit
        left by a dead worker is handed out again at once.
        """
        now = self._clock()
        grants: list[LeaseGrant] = []
        more_possible = False
        async with self._engine.begin() as conn:
            query = select(JOB.c.id).where(
                JOB.c.status.in_([JobStatus.RUNNING, JobStatus.PAUSED, JobStatus.DRAINING])
            )
            if job_id is not None:
                query = query.where(JOB.c.id == job_id)
            candidate_ids = [row.id for row in await conn.execute(query.order_by(JOB.c.id))]
            for candidate in candidate_ids:
                if len(grants) >= max_leases:
                    more_possible = True
                    break
                job = await sql.lock_job(conn, candidate)
                if job is None:
                    continue
                if job.status == JobStatus.DRAINING:
                    await sql.lock_behaviour_rows(conn, candidate)
                    await sql.expire_overdue_leases(conn, candidate, now)
                    if await sql.count_in_flight(conn, candidate) == 0:
                        await conn.execute(
                            update(JOB)
                            .where(JOB.c.id == candidate)
                            .values(status=JobStatus.PAUSED, updated_at=now)
                        )
                if job.status in (JobStatus.PAUSED, JobStatus.DRAINING):
                    more_possible = True
                    continue
                if job.status != JobStatus.RUNNING:
                    continue
                rows = await sql.lock_behaviour_rows(conn, candidate)
                if await sql.expire_overdue_leases(conn, candidate, now):
                    rows = await sql.lock_behaviour_rows(conn, candidate)
                if self._over_budget(job, rows):
                    more_possible = True  # resumes when the budget is raised
                    continue
                if _all_full(rows):
                    await conn.execute(
                        update(JOB)
                        .where(JOB.c.id == candidate)
                        .values(status=JobStatus.COMPLETED, updated_at=now)
                    )
                    continue
                more_possible = True
                new = await self._issue(conn, job, rows, max_leases - len(grants), worker_id, now)
                grants.extend(new)
        self._lease_facts_cache.add(grants)  # committed: a submit may rely on them now
        return ClaimResult(leases=grants, more_work_possible=more_possible)

    def _over_budget(self, job: Any, rows: Sequence[Any]) -> bool:
        if job.token_budget is None and job.cost_budget is None:
            return False
        prompt = sum(int(r.prompt_tokens) for r in rows)
        completion = sum(int(r.completion_tokens) for r in rows)
        if job.token_budget is not None and prompt + completion >= job.token_budget:
            return True
        return (
            job.cost_budget is not None and self.cost_of(job.teacher, prompt, completion) >= job.cost_budget
        )

    async def _issue(
        self,
        conn: AsyncConnection,
        job: Any,
        rows: Sequence[Any],
        k: int,
        worker_id: str,
        now: datetime,
    ) -> list[LeaseGrant]:
        allocation = allocate([_state(row) for row in rows], k)
        if not allocation:
            return []
        pool = self._resources.generation_scenarios
        first_seed = await sql.take_seeds(conn, job.id, sum(allocation.values()))
        expires_at = now + timedelta(seconds=job.lease_ttl_s)
        issued_by_name = {row.behaviour: row.issued for row in rows}
        lease_rows: list[dict[str, Any]] = []
        grants: list[LeaseGrant] = []
        seed = first_seed
        for behaviour, count in sorted(allocation.items()):
            # Rotate through the scenario pool per behaviour, offset by the behaviour's name, so
            # coverage is even within a behaviour and different behaviours start in different places.
            offset = zlib.crc32(behaviour.encode())
            for index in range(count):
                scenario = pool[(issued_by_name[behaviour] + index + offset) % len(pool)]
                lease_id = str(uuid.uuid4())
                token = secrets.randbits(62)
                lease_rows.append(
                    {
                        "id": lease_id,
                        "job_id": job.id,
                        "behaviour": behaviour,
                        "scenario": scenario,
                        "seed": seed,
                        "token": token,
                        "worker_id": worker_id,
                        "status": LeaseStatus.IN_FLIGHT,
                        "outcome": None,
                        "issued_at": now,
                        "expires_at": expires_at,
                        "finished_at": None,
                    }
                )
                grants.append(
                    LeaseGrant(
                        lease_id=lease_id,
                        token=token,
                        job_id=job.id,
                        job_name=job.name,
                        teacher=job.teacher,
                        prompt_version=job.prompt_version,
                        behaviour=behaviour,
                        scenario=scenario,
                        seed=seed,
                        expires_at=expires_at,
                        execution_check=bool(job.execution_check),
                    )
                )
                seed += 1
        await sql.bump_many(
            conn,
            job.id,
            {behaviour: {"in_flight": count, "issued": count} for behaviour, count in allocation.items()},
        )
        await conn.execute(insert(LEASE), lease_rows)
        return grants

    async def release(self, leases: Sequence[tuple[str, int]], *, owner: str | None = None) -> int:
        """Give leases back unanswered (worker shutdown). Unknown leases, mismatched tokens and, when
        `owner` is given, other workers' leases are ignored."""
        if not leases:
            return 0
        now = self._clock()
        tokens = dict(leases)
        released = 0
        async with self._engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(LEASE.c.id, LEASE.c.job_id, LEASE.c.token, LEASE.c.worker_id).where(
                        LEASE.c.id.in_(list(tokens))
                    )
                )
            ).all()
            by_job: dict[int, list[str]] = {}
            for row in rows:
                if row.token == tokens[row.id] and (owner is None or row.worker_id == owner):
                    by_job.setdefault(row.job_id, []).append(row.id)
            for job_id, ids in sorted(by_job.items()):
                await sql.lock_job(conn, job_id)
                await sql.lock_behaviour_rows(conn, job_id)
                released += await sql.release_in_flight(conn, job_id, now, ids)
        self._lease_facts_cache.discard(id_ for ids in by_job.values() for id_ in ids)
        return released

    async def release_orphans(self, job_id: int) -> int:
        """Release every in-flight lease of a job (embedded resume: the killed run's leases)."""
        now = self._clock()
        async with self._engine.begin() as conn:
            await sql.lock_job(conn, job_id)
            await sql.lock_behaviour_rows(conn, job_id)
            return await sql.release_in_flight(conn, job_id, now)

    async def reap(self) -> int:
        """Expire overdue leases of every active job (the coordinator's reaper calls this)."""
        now = self._clock()
        total = 0
        async with self._engine.begin() as conn:
            # Every job, whatever its status: a job can complete (or be cancelled) while a dead
            # worker still holds leases, and those must leave in_flight too.
            for (job_id,) in (await conn.execute(select(JOB.c.id).order_by(JOB.c.id))).all():
                overdue = await conn.execute(
                    select(func.count())
                    .select_from(LEASE)
                    .where(
                        and_(
                            LEASE.c.job_id == job_id,
                            LEASE.c.status == LeaseStatus.IN_FLIGHT,
                            LEASE.c.expires_at < now,
                        )
                    )
                )
                if not overdue.scalar_one():
                    continue
                job = await sql.lock_job(conn, job_id)
                await sql.lock_behaviour_rows(conn, job_id)
                total += await sql.expire_overdue_leases(conn, job_id, now)
                if (
                    job is not None
                    and job.status == JobStatus.DRAINING
                    and not await sql.count_in_flight(conn, job_id)
                ):
                    await conn.execute(
                        update(JOB).where(JOB.c.id == job_id).values(status=JobStatus.PAUSED, updated_at=now)
                    )
        return total

    # ---- results ----------------------------------------------------------------------------

    async def submit(
        self, results: Sequence[ResultSubmission], *, owner: str | None = None
    ) -> list[ResultStatus]:
        """Record a batch of results in one transaction; each gets its own status.

        The gates run again here (a worker's verdict is never trusted). Idempotent per lease.
        """
        if not results:
            return []
        if len({r.lease_id for r in results}) != len(results):
            raise InvalidRequest("a batch names the same lease twice")
        # Assemble and gate before the transaction: pure CPU work should not hold row locks. A
        # lease's behaviour, scenario, seed and job never change, so reading them first is safe.
        leases = await self._lease_facts([r.lease_id for r in results])
        verdicts: dict[str, _Verdict] = {}
        for done, r in enumerate(results, start=1):
            lease = leases.get(r.lease_id)
            if lease is not None:
                verdicts[r.lease_id] = self._judge(self._trace_of(r, lease), lease)
            if done % _GATES_BETWEEN_YIELDS == 0:
                # Gating a full batch takes ~20 ms of CPU; meanwhile other requests' transactions hold
                # the job's row locks waiting for this loop. Letting them run shortens every lock hold.
                await asyncio.sleep(0)
        now = self._clock()
        statuses: dict[str, ResultStatus] = {}
        by_job: dict[int, list[ResultSubmission]] = {}
        for r in results:
            lease = leases.get(r.lease_id)
            if lease is None:
                statuses[r.lease_id] = ResultStatus(r.lease_id, Outcome.STALE, ["unknown lease"])
            else:
                by_job.setdefault(lease.job_id, []).append(r)
        if by_job:
            written: set[str] = set()
            async with self._engine.begin() as conn:
                for job_id, job_results in sorted(by_job.items()):
                    statuses.update(
                        await self._submit_for_job(conn, job_id, job_results, verdicts, now, owner, written)
                    )
            self._stored_contexts |= written  # only once committed: a rollback must not hide them
        self._lease_facts_cache.discard(
            lease_id for lease_id, status in statuses.items() if status.outcome != Outcome.STALE
        )
        return [statuses[r.lease_id] for r in results]

    async def _lease_facts(self, lease_ids: Sequence[str]) -> dict[str, LeaseFacts]:
        """The facts of the named leases that exist: from the cache, the rest from the store."""
        facts: dict[str, LeaseFacts] = {}
        missing: list[str] = []
        for lease_id in lease_ids:
            cached = self._lease_facts_cache.get(lease_id)
            if cached is None:
                missing.append(lease_id)
            else:
                facts[lease_id] = cached
        if not missing:
            return facts
        query = (
            select(
                LEASE.c.id,
                LEASE.c.job_id,
                LEASE.c.behaviour,
                LEASE.c.scenario,
                LEASE.c.seed,
                JOB.c.teacher,
                JOB.c.prompt_version,
            )
            .join(JOB, JOB.c.id == LEASE.c.job_id)
            .where(LEASE.c.id.in_(missing))
        )
        async with self._engine.connect() as conn:
            for row in await conn.execute(query):
                facts[row.id] = LeaseFacts(
                    row.id, row.job_id, row.behaviour, row.scenario, row.seed, row.teacher, row.prompt_version
                )
        return facts

    def _trace_of(self, r: ResultSubmission, lease: Any) -> Any:
        """The trace to judge: the one submitted, else assembled here from the raw teacher text (the
        worker then sends only the text: half the bytes, and the coordinator's own prompt)."""
        if r.trace is not None:
            return r.trace
        built = self._builder.build(
            r.raw_text,
            behaviour=lease.behaviour,
            scenario=lease.scenario,
            seed=lease.seed,
            teacher=lease.teacher,
            prompt_version=lease.prompt_version,
            finish_reason=r.finish_reason,
        )
        return built if built is not None else r.raw_text

    async def _submit_for_job(
        self,
        conn: AsyncConnection,
        job_id: int,
        results: list[ResultSubmission],
        verdicts: Mapping[str, _Verdict],
        now: datetime,
        owner: str | None,
        contexts_written: set[str],
    ) -> dict[str, ResultStatus]:
        statuses: dict[str, ResultStatus] = {}
        job = await sql.lock_job(conn, job_id)
        leases = await sql.lock_leases(conn, [r.lease_id for r in results]) if job is not None else {}
        # A lease (or its whole job) deleted since its facts were read is unknown, as if never issued.
        for r in results:
            if r.lease_id not in leases:
                statuses[r.lease_id] = ResultStatus(r.lease_id, Outcome.STALE, ["unknown lease"])
        results = [r for r in results if r.lease_id in leases]
        if job is None or not results:
            return statuses
        behaviours = {leases[r.lease_id].behaviour for r in results}
        rows = {row.behaviour: row for row in await sql.lock_behaviour_rows(conn, job_id, behaviours)}
        live: list[ResultSubmission] = []
        expired_now: Counter[str] = Counter()
        for r in results:
            lease = leases[r.lease_id]
            if lease.token != r.token:
                statuses[r.lease_id] = ResultStatus(r.lease_id, Outcome.STALE, ["fencing token mismatch"])
            elif owner is not None and lease.worker_id != owner:
                statuses[r.lease_id] = ResultStatus(
                    r.lease_id, Outcome.STALE, ["lease belongs to another worker"]
                )
            elif lease.status == LeaseStatus.COMPLETED:
                # Idempotent resubmission: report the first outcome, change nothing.
                statuses[r.lease_id] = ResultStatus(r.lease_id, Outcome(lease.outcome), [])
            elif lease.status != LeaseStatus.IN_FLIGHT:
                statuses[r.lease_id] = ResultStatus(r.lease_id, Outcome.STALE, [f"lease {lease.status}"])
            elif lease.expires_at < now:
                expired_now[lease.behaviour] += 1
                statuses[r.lease_id] = ResultStatus(r.lease_id, Outcome.STALE, ["lease expired"])
            elif job.status == JobStatus.CANCELLED:
                statuses[r.lease_id] = ResultStatus(r.lease_id, Outcome.STALE, ["job cancelled"])
            else:
                live.append(r)
        if expired_now:
            ids = [lid for lid, s in statuses.items() if s.reasons == ["lease expired"]]
            await conn.execute(
                update(LEASE).where(LEASE.c.id.in_(ids)).values(status=LeaseStatus.EXPIRED, finished_at=now)
            )
            await sql.bump_many(conn, job_id, {b: {"in_flight": -count} for b, count in expired_now.items()})
        cancelled = [lid for lid, s in statuses.items() if s.reasons == ["job cancelled"]]
        if cancelled:
            await sql.release_in_flight(conn, job_id, now, cancelled)
        if not live:
            return statuses

        room = {name: max(0, row.target - row.accepted) for name, row in rows.items()}
        outcomes: dict[str, Outcome] = {}
        reject_rows: list[dict[str, Any]] = []
        sample_rows: list[dict[str, Any]] = []
        deltas: dict[str, Counter[str]] = {}
        keys_in_batch: set[str] = set()
        passing: list[tuple[ResultSubmission, _Verdict]] = []
        for r in live:
            lease = leases[r.lease_id]
            delta = deltas.setdefault(lease.behaviour, Counter())
            delta["in_flight"] -= 1
            delta["completed"] += 1
            delta["prompt_tokens"] += r.prompt_tokens
            delta["completion_tokens"] += r.completion_tokens
            verdict = verdicts[r.lease_id]
            rejections = verdict.rejections
            if not rejections and job.execution_check:
                rejections = [
                    Rejection(Reason.UNVERIFIED_FIX, detail)
                    for reason, detail in r.checks
                    if reason == Reason.UNVERIFIED_FIX.value
                ]
            if rejections:
                outcomes[r.lease_id] = Outcome.REJECTED
                statuses[r.lease_id] = ResultStatus(
                    r.lease_id, Outcome.REJECTED, [x.reason.value for x in rejections]
                )
                reject_rows.extend(
                    {
                        "job_id": job_id,
                        "lease_id": r.lease_id,
                        "behaviour": lease.behaviour,
                        "reason": x.reason.value,
                        "detail": x.detail[:2000],
                        "created_at": now,
                    }
                    for x in rejections
                )
                continue
            passing.append((r, verdict))
        new_contexts: dict[str, dict[str, Any]] = {}

        def duplicate(lease_id: str, behaviour: str) -> None:
            outcomes[lease_id] = Outcome.DUPLICATE
            statuses[lease_id] = ResultStatus(lease_id, Outcome.DUPLICATE, [Reason.DUPLICATE.value])
            reject_rows.append(
                {
                    "job_id": job_id,
                    "lease_id": lease_id,
                    "behaviour": behaviour,
                    "reason": Reason.DUPLICATE.value,
                    "detail": "same content as a stored sample",
                    "created_at": now,
                }
            )

        for r, verdict in passing:
            lease = leases[r.lease_id]
            key = verdict.content_key
            if key in keys_in_batch:
                duplicate(r.lease_id, lease.behaviour)
                continue
            keys_in_batch.add(key)
            deltas[lease.behaviour]["passed"] += 1
            surplus = room[lease.behaviour] <= 0
            if not surplus:
                room[lease.behaviour] -= 1
            if verdict.context_key is not None and verdict.context_key not in self._stored_contexts:
                assert verdict.context is not None
                new_contexts[verdict.context_key] = verdict.context
            sample_rows.append(
                {
                    "job_id": job_id,
                    "lease_id": r.lease_id,
                    "behaviour": lease.behaviour,
                    "layer": rows[lease.behaviour].layer,
                    "scenario": lease.scenario,
                    "content_key": key,
                    "surplus": 1 if surplus else 0,
                    "trace": verdict.own,
                    "context_key": verdict.context_key,
                    "created_at": now,
                }
            )
        await sql.store_contexts(conn, new_contexts, now)
        contexts_written.update(new_contexts)
        # Duplicates of stored samples are found by the insert itself: the unique index on (job,
        # content key) decides, whatever plan Postgres would pick for a lookup (with stale statistics
        # a separate lookup scanned every sample of the job), and without a round trip of its own.
        inserted = await sql.insert_samples_skipping_duplicates(conn, sample_rows)
        # A duplicate that had a place under the target gives it to the batch's first surplus sample
        # of its behaviour, as if it had been recognized before places were handed out.
        freed = Counter(
            row["behaviour"] for row in sample_rows if row["lease_id"] not in inserted and not row["surplus"]
        )
        if freed:
            promoted: list[str] = []
            for sample in sample_rows:
                if sample["surplus"] and sample["lease_id"] in inserted and freed[sample["behaviour"]] > 0:
                    freed[sample["behaviour"]] -= 1
                    sample["surplus"] = 0
                    promoted.append(sample["lease_id"])
            if promoted:
                await conn.execute(update(SAMPLE).where(SAMPLE.c.lease_id.in_(promoted)).values(surplus=0))
        for sample in sample_rows:
            lease_id = sample["lease_id"]
            behaviour = sample["behaviour"]
            if lease_id not in inserted:
                deltas[behaviour]["passed"] -= 1
                duplicate(lease_id, behaviour)
            elif sample["surplus"]:
                deltas[behaviour]["surplus"] += 1
                outcomes[lease_id] = Outcome.SURPLUS
                statuses[lease_id] = ResultStatus(lease_id, Outcome.SURPLUS, [])
            else:
                deltas[behaviour]["accepted"] += 1
                outcomes[lease_id] = Outcome.STORED
                statuses[lease_id] = ResultStatus(lease_id, Outcome.STORED, [])
        if reject_rows:
            await conn.execute(insert(REJECT), reject_rows)
        await conn.execute(
            insert(RAW),
            [
                {
                    "lease_id": r.lease_id,
                    "job_id": job_id,
                    "behaviour": leases[r.lease_id].behaviour,
                    "scenario": leases[r.lease_id].scenario,
                    "seed": leases[r.lease_id].seed,
                    "teacher": job.teacher,
                    "text": r.raw_text,
                    "reasoning": r.reasoning,
                    "finish_reason": r.finish_reason,
                    "prompt_tokens": r.prompt_tokens,
                    "completion_tokens": r.completion_tokens,
                    "latency_ms": r.latency_ms,
                    "outcome": outcomes[r.lease_id],
                    "created_at": now,
                }
                for r in live
            ],
        )
        await sql.finish_leases(conn, outcomes, now, status=LeaseStatus.COMPLETED)
        await sql.bump_many(conn, job_id, deltas)
        # The job can only have become complete if a behaviour of this batch just reached its target;
        # only then are all its behaviour rows read again.
        filled_now = any(
            d.get("accepted") and rows[b].accepted + d["accepted"] >= rows[b].target
            for b, d in deltas.items()
        )
        if job.status == JobStatus.RUNNING and filled_now:
            after = await sql.lock_behaviour_rows(conn, job_id)
            if _all_full(after):
                await conn.execute(
                    update(JOB).where(JOB.c.id == job_id).values(status=JobStatus.COMPLETED, updated_at=now)
                )
        elif job.status == JobStatus.DRAINING and await sql.count_in_flight(conn, job_id) == 0:
            await conn.execute(
                update(JOB).where(JOB.c.id == job_id).values(status=JobStatus.PAUSED, updated_at=now)
            )
        return statuses

    def _judge(self, value: Any, lease: Any) -> _Verdict:
        """Gate a result and, if it passes, work out its duplicate key and stored parts: all pure CPU
        work, done before the submit transaction so none of it holds the job's row locks."""
        trace_json, rejections = self._gate(value, lease)
        if rejections or trace_json is None:
            return _Verdict(rejections)
        context, own = split_trace(trace_json)
        return _Verdict(
            rejections,
            content_key=content_key(trace_json),
            own=own,
            context_key=None if context is None else self._context_keys.key_of(context),
            context=context,
        )

    def _gate(self, value: Any, lease: Any) -> tuple[dict[str, Any] | None, list[Rejection]]:
        """Run the gates with `meta` forced to the lease's truth (a worker cannot relabel a trace)."""
        if isinstance(value, Mapping):
            scenario = self._resources.scenarios.get(lease.scenario)
            meta = dict(value.get("meta") or {}) if isinstance(value.get("meta"), Mapping) else {}
            meta.update(behaviour=lease.behaviour, scenario=lease.scenario, seed=lease.seed)
            if scenario is not None:
                meta["language"] = scenario.language
            value = {**value, "meta": meta}
        trace, rejections = run_gates(value, self._resources.gate_context)
        if trace is None:
            return None, rejections
        return (value if isinstance(value, dict) else trace.to_json()), rejections

    async def delete_job(self, job_id: int) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(JOB).where(JOB.c.id == job_id))


def _state(row: Any) -> BehaviourState:
    return BehaviourState(
        name=row.behaviour,
        target=row.target,
        accepted=row.accepted,
        passed=row.passed,
        completed=row.completed,
        in_flight=row.in_flight,
    )


def _all_full(rows: Sequence[Any]) -> bool:
    return all(row.accepted >= row.target for row in rows)
