"""Database schema (SQLAlchemy 2 declarative). Created and upgraded only through Alembic migrations.

Tables are singular snake_case. Every timestamp is stored in UTC (`UTCDateTime` makes SQLite return
aware datetimes too). Traces are JSON (JSONB on Postgres).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import false

JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments INTEGER PRIMARY KEY; Postgres gets a 64-bit identity.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend; naive values are rejected."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JobStatus(StrEnum):
    RUNNING = "running"  # leases are issued while any behaviour has a deficit
    DRAINING = "draining"  # no new leases; becomes paused once nothing is in flight
    PAUSED = "paused"  # no new leases; in-flight leases may still complete
    CANCELLED = "cancelled"  # no new leases, ever; in-flight results are stored as stale
    COMPLETED = "completed"  # every behaviour reached its target


class LeaseStatus(StrEnum):
    IN_FLIGHT = "in_flight"  # handed to a worker, not yet answered, not yet past expires_at
    COMPLETED = "completed"  # a result was recorded (outcome says which)
    EXPIRED = "expired"  # passed expires_at unanswered; its work was re-issued, its result is fenced off
    RELEASED = "released"  # given back unanswered (worker shutdown, orphan release on resume)


class Outcome(StrEnum):
    STORED = "stored"  # passed every gate, counted toward the target
    REJECTED = "rejected"  # failed at least one gate
    SURPLUS = "surplus"  # passed, but its behaviour was already full: kept outside the corpus
    DUPLICATE = "duplicate"  # passed, but its content equals an already stored sample of the job
    STALE = "stale"  # the lease was expired, released, fenced or its job cancelled: nothing changed


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONType, datetime: UTCDateTime}


class Job(Base):
    __tablename__ = "job"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    teacher: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.RUNNING)
    prompt_version: Mapped[str] = mapped_column(String(50))
    lease_ttl_s: Mapped[float] = mapped_column(Float)
    next_seed: Mapped[int] = mapped_column(BigInteger, default=0)
    execution_check: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    token_budget: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # prompt + completion
    cost_budget: Mapped[float | None] = mapped_column(Float, nullable=True)  # in the teacher's cost unit
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class JobBehaviour(Base):
    """Per-(job, behaviour) target and exact counters, changed only inside the transaction that
    changes the leases or results they count."""

    __tablename__ = "job_behaviour"

    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"), primary_key=True)
    behaviour: Mapped[str] = mapped_column(String(100), primary_key=True)
    layer: Mapped[str] = mapped_column(String(50))
    target: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer, default=0)  # stored samples in the corpus
    passed: Mapped[int] = mapped_column(Integer, default=0)  # results that passed the gates (incl. surplus)
    completed: Mapped[int] = mapped_column(Integer, default=0)  # results with a verdict (passed or rejected)
    surplus: Mapped[int] = mapped_column(Integer, default=0)
    in_flight: Mapped[int] = mapped_column(Integer, default=0)
    issued: Mapped[int] = mapped_column(Integer, default=0)  # leases ever issued (drives scenario rotation)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class Lease(Base):
    __tablename__ = "lease"
    __table_args__ = (Index("ix_lease_job_status_expires", "job_id", "status", "expires_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"))
    behaviour: Mapped[str] = mapped_column(String(100))
    scenario: Mapped[str] = mapped_column(String(200))
    seed: Mapped[int] = mapped_column(BigInteger)
    token: Mapped[int] = mapped_column(BigInteger)  # fencing token: a completion must present it
    worker_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=LeaseStatus.IN_FLIGHT)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class TraceContext(Base):
    """The part many traces share (rendered system + user messages, tool specs), stored once.

    Keyed by the sha256 of its canonical JSON (`store/trace_parts.py`); immutable once written.
    """

    __tablename__ = "trace_context"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Sample(Base):
    """An accepted trace (or a surplus one, outside the corpus). One per lease, unique content per job.

    `trace` holds the trace's own part when `context_key` names its shared context, else the whole
    trace; `trace_parts.join_trace` gives the whole trace back either way.
    """

    __tablename__ = "sample"
    __table_args__ = (
        UniqueConstraint("job_id", "content_key", name="uq_sample_job_content"),
        Index("ix_sample_job_surplus_id", "job_id", "surplus", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"))
    lease_id: Mapped[str] = mapped_column(String(36), unique=True)
    behaviour: Mapped[str] = mapped_column(String(100))
    layer: Mapped[str] = mapped_column(String(50))
    scenario: Mapped[str] = mapped_column(String(200))
    content_key: Mapped[str] = mapped_column(String(64))
    surplus: Mapped[int] = mapped_column(Integer, default=0)  # 1: outside the corpus
    trace: Mapped[dict[str, Any]] = mapped_column(JSONType)
    context_key: Mapped[str | None] = mapped_column(ForeignKey("trace_context.key"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Reject(Base):
    """One row per failing gate reason of a rejected result (a result can fail several)."""

    __tablename__ = "reject"
    __table_args__ = (
        Index("ix_reject_job_reason", "job_id", "reason"),
        Index("ix_reject_job_behaviour_reason", "job_id", "behaviour", "reason"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"))
    lease_id: Mapped[str] = mapped_column(String(36))
    behaviour: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(50))
    detail: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RawOutput(Base):
    """The raw teacher output of every completed call, accepted or not (regate reads these)."""

    __tablename__ = "raw_output"
    __table_args__ = (Index("ix_raw_output_job_created", "job_id", "created_at"),)

    lease_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"))
    behaviour: Mapped[str] = mapped_column(String(100))
    scenario: Mapped[str] = mapped_column(String(200))
    seed: Mapped[int] = mapped_column(BigInteger)
    teacher: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    reasoning: Mapped[str] = mapped_column(Text, default="")
    finish_reason: Mapped[str] = mapped_column(String(50))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    outcome: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


def table_of(model: type[Base]) -> Table:
    """The Core table of a mapped class, typed as a Table (hot paths use Core statements)."""
    return cast(Table, model.__table__)
