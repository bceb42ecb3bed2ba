"""The async worker pool: claim leases in batches, call the teacher, submit in batches.

The coordinator assembles and gates every result; a worker gates a trace itself only to decide
whether its execution check (the scenario's tests on the proposed fix) is worth running.

One loop keeps up to `concurrency` teacher calls running. Claims ask for many leases at once and
results are flushed in batches (size or interval, whichever comes first), so the coordinator sees a
few large requests instead of two small ones per sample.

Shutdown (stop event, SIGTERM, Ctrl-C): nothing new is claimed; calls in progress get `grace_s` to
finish and be submitted; leases still unanswered after that are released so their deficit is handed
out again at once instead of waiting for expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from gen_service.api.schemas import CheckResult, ClaimResponse, LeaseOut, ResultIn
from gen_service.core.gates import Reason, run_gates
from gen_service.core.prompts import TeacherPrompt
from gen_service.resources import Resources
from gen_service.tracebuild import TraceBuilder
from gen_service.worker.breaker import BreakerState, CircuitBreaker
from gen_service.worker.client import CoordinatorClient, CoordinatorError
from gen_service.worker.execution_check import ExecutionCheckUnavailable, check_fix
from gen_service.worker.teachers import Teacher, TeacherReply, TeacherRequest, TeacherUnavailable

log = logging.getLogger("tracegen.worker")


class _ClaimOutcome(Enum):
    FULL = "full"  # every lease asked for came
    SHORT = "short"  # fewer came: the coordinator has no more to hand out right now
    NO_MORE_WORK = "no_more_work"  # none came, none is buffered, and no job can issue more
    FAILED = "failed"  # the coordinator could not be reached or refused


@dataclass
class PoolStats:
    claimed: int = 0
    submitted: int = 0
    released: int = 0
    teacher_failures: int = 0
    execution_checks: int = 0  # fixes this worker ran the scenario's tests on
    unverified_fixes: int = 0  # of those, fixes the tests did not confirm (sent as check results)
    outcomes: Counter[str] = field(default_factory=Counter)  # the coordinator's verdicts


@dataclass(frozen=True)
class PoolConfig:
    concurrency: int = 32
    job_id: int | None = None
    worker_id: str = field(default_factory=lambda: f"worker-{uuid.uuid4().hex[:12]}")
    submit_batch: int = 64
    submit_interval_s: float = 0.25  # longer waits fill batches: a submit costs one transaction
    idle_poll_s: float = 0.5
    grace_s: float = 30.0
    exit_when_idle: bool = True  # stop when no job can issue more work (embedded mode, tests)
    prefetch: int | None = None  # leases claimed ahead of free slots; None = the concurrency
    execution_concurrency: int = field(default_factory=lambda: 2 * (os.cpu_count() or 1))
    execution_timeout_s: float = 60.0
    breaker_threshold: int = 5  # consecutive teacher outages before the pool stops claiming
    breaker_cooldown_s: float = 30.0


class WorkerPool:
    def __init__(
        self,
        client: CoordinatorClient,
        teachers: Mapping[str, Teacher],
        resources: Resources,
        config: PoolConfig,
    ) -> None:
        self._client = client
        self._teachers = teachers
        self._resources = resources
        self._config = config
        self._builder = TraceBuilder(resources)
        self._pending_results: list[ResultIn] = []
        self._results_ready = asyncio.Event()
        self._closing = False
        self.stats = PoolStats()
        # Test runs of the execution check: about twice the cores is what a machine sustains.
        self._execution_slots = asyncio.BoundedSemaphore(config.execution_concurrency)
        self.breaker = CircuitBreaker(
            threshold=config.breaker_threshold, cooldown_s=config.breaker_cooldown_s
        )

    def _prompt(self, lease: LeaseOut) -> TeacherPrompt:
        return self._builder.prompt(lease.behaviour, lease.scenario, lease.prompt_version)

    async def run(self, stop: asyncio.Event) -> PoolStats:
        """Work until `stop` is set (or, with exit_when_idle, until no job has work left).

        Leases are claimed ahead into a small local buffer (`prefetch`), and a claim runs beside the
        teacher calls instead of in front of them: a slot that frees up while a claim is in flight
        starts its next lease from the buffer at once. Claims stay large because one is sent only
        once the buffer has room for a chunk, and at most one is in flight. A claim that came back
        short (the coordinator had no more to hand out) is not repeated until a teacher call
        finishes or the idle poll interval passes.
        """
        running: dict[asyncio.Task[None], LeaseOut] = {}
        buffered: deque[LeaseOut] = deque()
        submitter = asyncio.create_task(self._submit_loop())
        config = self._config
        # A buffer as large as the pool lasts a claim round trip at full speed (measured at latency 0:
        # half the pool ran dry during claims; a full one gave ~10% more samples/s, fewer claims).
        prefetch = config.prefetch if config.prefetch is not None else max(1, config.concurrency)
        # Claim in chunks, not a lease at a time: once half the prefetch (or, without prefetch, a
        # quarter of the pool) can be claimed.
        claim_threshold = max(1, prefetch // 2 if prefetch else config.concurrency // 4)
        claiming: asyncio.Task[ClaimResponse] | None = None
        claiming_wanted = 0
        starved = False  # the last claim came back short: wait for progress before asking again
        try:
            while not stop.is_set():
                if self.breaker.state == BreakerState.OPEN and not running and claiming is None:
                    # Teacher outage: wait out the cooldown instead of claiming work we would release,
                    # and hand back what was claimed ahead so other workers can take it.
                    if buffered:
                        await self._release(list(buffered))
                        buffered.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.breaker.seconds_until_retry() + 0.01)
                    continue
                self._start(buffered, running)
                idle = not running and not buffered
                if claiming is None and not starved:
                    # Results not yet submitted beyond one batch hold their slot: when the coordinator
                    # takes results slower than the teacher gives them, the pool claims less instead
                    # of piling up answered work in memory.
                    backlog = max(0, len(self._pending_results) - config.submit_batch)
                    room = config.concurrency + prefetch - len(running) - len(buffered) - backlog
                    wanted = self.breaker.claim_limit(room)
                    if wanted > 0 and (wanted >= claim_threshold or idle):
                        claiming_wanted = wanted
                        claiming = asyncio.create_task(
                            self._client.claim(config.worker_id, wanted, config.job_id)
                        )
                if claiming is None and not running:
                    if buffered:
                        continue  # the breaker let only some start; the loop starts the rest
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), config.idle_poll_s)
                    starved = False
                    continue
                stopper: asyncio.Task[Any] = asyncio.create_task(stop.wait())
                waiting: list[asyncio.Task[Any]] = [*running, stopper]
                if claiming is not None:
                    waiting.append(claiming)
                done, _ = await asyncio.wait(
                    waiting, timeout=config.idle_poll_s, return_when=asyncio.FIRST_COMPLETED
                )
                stopper.cancel()
                if not done:
                    starved = False  # a poll interval passed: ask again
                for task in done:
                    if task is stopper:
                        continue
                    if task is claiming:
                        claiming = None
                        outcome = self._claimed(task, claiming_wanted, buffered)
                        if outcome is _ClaimOutcome.NO_MORE_WORK and not running and config.exit_when_idle:
                            return self.stats  # the finally block below drains and flushes
                        starved = outcome is not _ClaimOutcome.FULL
                        if outcome is _ClaimOutcome.FAILED and not running and not buffered:
                            with contextlib.suppress(TimeoutError):
                                await asyncio.wait_for(stop.wait(), max(1.0, config.idle_poll_s))
                            starved = False
                    else:
                        running.pop(task)
                        starved = False
                        self._raise_unexpected(task)
        finally:
            if claiming is not None:
                # A claim in flight may bring leases: take them, so they are released, not left to expire.
                with contextlib.suppress(CoordinatorError):
                    buffered.extend((await claiming).leases)
            if buffered:
                await self._release(list(buffered))  # claimed ahead, never started: give them back
            await self._drain(running)
            # Let the submitter finish the batch it may be sending; cancelling it mid-request would
            # drop results the teacher already paid for.
            self._closing = True
            self._results_ready.set()
            await submitter
            await self._flush()
        return self.stats

    def _claimed(
        self, task: asyncio.Task[ClaimResponse], wanted: int, buffered: deque[LeaseOut]
    ) -> _ClaimOutcome:
        """Take a finished claim's leases into the buffer and say how it went."""
        try:
            claim = task.result()
        except CoordinatorError:
            # A coordinator restart or outage: keep the work in hand, try again later.
            log.exception("claiming failed; retrying")
            return _ClaimOutcome.FAILED
        self.stats.claimed += len(claim.leases)
        buffered.extend(claim.leases)
        if not claim.leases and not buffered and not claim.more_work_possible:
            return _ClaimOutcome.NO_MORE_WORK
        if len(claim.leases) < wanted:
            return _ClaimOutcome.SHORT
        return _ClaimOutcome.FULL

    def _start(self, buffered: deque[LeaseOut], running: dict[asyncio.Task[None], LeaseOut]) -> None:
        """Start buffered leases while slots are free (one at a time while the breaker probes)."""
        while buffered and len(running) < self._config.concurrency:
            if self.breaker.state == BreakerState.OPEN:
                return
            if self.breaker.state == BreakerState.HALF_OPEN and running:
                return
            lease = buffered.popleft()
            running[asyncio.create_task(self._process(lease))] = lease

    def _raise_unexpected(self, task: asyncio.Task[None]) -> None:
        exc = task.exception()
        if exc is not None:
            raise exc

    async def _drain(self, running: dict[asyncio.Task[None], LeaseOut]) -> None:
        if not running:
            return
        done, pending = await asyncio.wait(list(running), timeout=self._config.grace_s)
        for task in pending:
            task.cancel()
        unfinished = [running[task] for task in pending]
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("lease task failed during shutdown", exc_info=task.exception())
        try:
            await self._flush()
        except CoordinatorError:
            log.exception("could not submit results at shutdown; their leases will expire")
        if unfinished:
            await self._release(unfinished)

    async def _process(self, lease: LeaseOut) -> None:
        teacher = self._teachers.get(lease.teacher)
        if teacher is None:
            log.error(
                "lease %s names teacher %r, not configured on this worker", lease.lease_id, lease.teacher
            )
            await self._release([lease])
            return
        prompt = self._prompt(lease)
        request = TeacherRequest(
            messages=[{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}],
            behaviour=lease.behaviour,
            scenario=lease.scenario,
            seed=lease.seed,
            lease_id=lease.lease_id,
        )
        started = time.perf_counter()
        try:
            reply = await teacher.complete(request)
        except TeacherUnavailable as exc:
            # Infrastructure, not quality: give the lease back so its deficit is re-issued.
            self.stats.teacher_failures += 1
            self.breaker.record_failure()
            log.warning("teacher %s unavailable for lease %s: %s", lease.teacher, lease.lease_id, exc)
            await self._release([lease])
            return
        self.breaker.record_success()
        latency_ms = (time.perf_counter() - started) * 1000
        checks: list[CheckResult] = []
        if lease.execution_check:
            try:
                checks = await self._execution_check(lease, prompt, reply)
            except ExecutionCheckUnavailable as exc:
                # A missing toolchain is this worker's problem, not the trace's: hand the lease back.
                log.error("execution check unavailable for lease %s: %s", lease.lease_id, exc)
                await self._release([lease])
                return
        self._pending_results.append(
            ResultIn(
                lease_id=lease.lease_id,
                token=lease.token,
                trace=None,  # the coordinator assembles the trace from raw_text itself
                raw_text=reply.text,
                reasoning=reply.reasoning,
                finish_reason=reply.finish_reason,
                prompt_tokens=reply.prompt_tokens,
                completion_tokens=reply.completion_tokens,
                latency_ms=latency_ms,
                checks=checks,
            )
        )
        if len(self._pending_results) >= self._config.submit_batch:
            self._results_ready.set()

    async def _execution_check(
        self, lease: LeaseOut, prompt: TeacherPrompt, reply: TeacherReply
    ) -> list[CheckResult]:
        """Run the scenario's tests on the fix a trace proposes, if it passes the gates.

        Only here does the worker build and gate a trace itself: the coordinator assembles and gates
        every result again and its verdict is the one that counts, so without an execution check the
        worker's own verdict would change nothing (it cost ~12% of a worker's CPU per sample).
        Raises ExecutionCheckUnavailable when this worker lacks the scenario's toolchain.
        """
        trace = self._builder.build(
            reply.text,
            behaviour=lease.behaviour,
            scenario=lease.scenario,
            seed=lease.seed,
            teacher=lease.teacher,
            prompt_version=prompt.version,
            finish_reason=reply.finish_reason,
        )
        parsed, rejections = run_gates(
            trace if trace is not None else reply.text, self._resources.gate_context
        )
        if parsed is None or rejections:
            return []  # the coordinator's gates reject it with their reasons
        detail = await check_fix(
            parsed,
            self._resources.scenarios[lease.scenario],
            limiter=self._execution_slots,
            timeout_s=self._config.execution_timeout_s,
        )
        self.stats.execution_checks += 1
        if detail is None:
            return []
        self.stats.unverified_fixes += 1
        return [CheckResult(reason=Reason.UNVERIFIED_FIX.value, detail=detail[:4000])]

    async def _release(self, leases: list[LeaseOut]) -> None:
        """Give leases back; if the coordinator cannot be reached they simply expire."""
        try:
            released = await self._client.release(leases)
        except CoordinatorError:
            log.warning("could not release %d lease(s); they will expire", len(leases))
            return
        self.stats.released += released

    async def _submit_loop(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._results_ready.wait(), self._config.submit_interval_s)
            self._results_ready.clear()
            try:
                await self._flush()
            except CoordinatorError:
                # The batch went back to the front of the queue; try again after a pause.
                log.exception("submitting results failed; will retry")
                await asyncio.sleep(self._config.idle_poll_s)

    async def _flush(self) -> None:
        while self._pending_results:
            batch = self._pending_results[: self._config.submit_batch]
            del self._pending_results[: len(batch)]
            try:
                statuses = await self._client.submit(batch)
            except CoordinatorError:
                self._pending_results[:0] = batch
                raise
            self.stats.submitted += len(batch)
            for status in statuses:
                self.stats.outcomes[status.outcome.value] += 1
