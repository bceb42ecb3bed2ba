"""Request and response bodies of the coordinator API (`/v1`). Every body forbids unknown fields."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gen_service.store.models import JobStatus, Outcome

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$"
_MAX_ID = 2**63 - 1  # ids and fencing tokens are 64-bit columns

DbId = Annotated[int, Field(ge=1, le=_MAX_ID)]
FencingToken = Annotated[int, Field(ge=0, le=_MAX_ID)]
TargetCount = Annotated[int, Field(ge=0, le=10_000_000)]
BehaviourName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JobCreate(Body):
    name: str = Field(pattern=_NAME, description="Unique job name")
    teacher: str = Field(
        default="scripted", min_length=1, max_length=200, description="A teacher from teachers.toml"
    )
    targets: dict[BehaviourName, TargetCount] | None = Field(
        default=None,
        description="Target per behaviour; omitted: every behaviour at its default target",
    )
    target: int | None = Field(
        default=None, ge=1, le=10_000_000, description="One target for every behaviour"
    )
    lease_ttl_s: float | None = Field(default=None, gt=0, le=86_400, allow_inf_nan=False)
    token_budget: int | None = Field(default=None, ge=1, le=10**15, description="Prompt + completion tokens")
    cost_budget: float | None = Field(default=None, gt=0, le=1e12, allow_inf_nan=False)
    execution_check: bool = Field(
        default=False, description="Run the trace's edits against the scenario's tests"
    )


class BudgetUpdate(Body):
    token_budget: int | None = Field(default=None, ge=1, le=10**15)
    cost_budget: float | None = Field(default=None, gt=0, le=1e12, allow_inf_nan=False)


class TargetsUpdate(Body):
    targets: dict[BehaviourName, TargetCount] = Field(min_length=1, max_length=1000)


class JobOut(Body):
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
    execution_check: bool
    token_budget: int | None
    cost_budget: float | None
    tokens_used: int
    cost_used: float
    budget_exhausted: bool


class BehaviourProgressOut(Body):
    behaviour: str
    layer: str
    target: int
    accepted: int
    surplus: int
    rejected: int
    in_flight: int
    pass_rate: float
    need: float
    deficit: int


class DeficitsOut(Body):
    job: JobOut
    behaviours: list[BehaviourProgressOut]


class ClaimRequest(Body):
    worker_id: str = Field(min_length=1, max_length=200)
    max_leases: int = Field(ge=1, le=10_000)
    job_id: DbId | None = None


class LeaseOut(Body):
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


class ClaimResponse(Body):
    leases: list[LeaseOut]
    more_work_possible: bool


class CheckResult(Body):
    """A worker-side I/O check's rejection (only `unverified_fix` is honoured, and only for jobs that
    asked for the execution check)."""

    reason: str = Field(max_length=50)
    detail: str = Field(max_length=4000)


class ResultIn(Body):
    lease_id: str = Field(min_length=1, max_length=36)
    token: FencingToken
    trace: dict[str, Any] | None = None
    raw_text: str = Field(max_length=4_000_000)
    reasoning: str = Field(default="", max_length=4_000_000)
    finish_reason: str = Field(default="stop", max_length=50)
    prompt_tokens: int = Field(default=0, ge=0, le=100_000_000)
    completion_tokens: int = Field(default=0, ge=0, le=100_000_000)
    latency_ms: float = Field(default=0.0, ge=0, le=86_400_000, allow_inf_nan=False)
    checks: list[CheckResult] = Field(default_factory=list, max_length=16)


class SubmitRequest(Body):
    results: list[ResultIn] = Field(min_length=1, max_length=10_000)


class ResultStatusOut(Body):
    lease_id: str
    outcome: Outcome
    reasons: list[str]


class SubmitResponse(Body):
    results: list[ResultStatusOut]


class LeaseRef(Body):
    lease_id: str = Field(min_length=1, max_length=36)
    token: FencingToken


class ReleaseRequest(Body):
    leases: list[LeaseRef] = Field(min_length=1, max_length=10_000)


class ReleaseResponse(Body):
    released: int
