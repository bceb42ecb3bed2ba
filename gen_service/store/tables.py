"""The Core tables of the schema, for the statements on hot paths (one definition, shared)."""

from __future__ import annotations

from gen_service.store.models import (
    Job,
    JobBehaviour,
    Lease,
    RawOutput,
    Reject,
    Sample,
    TraceContext,
    table_of,
)

JOB = table_of(Job)
JB = table_of(JobBehaviour)
LEASE = table_of(Lease)
SAMPLE = table_of(Sample)
REJECT = table_of(Reject)
RAW = table_of(RawOutput)
CONTEXT = table_of(TraceContext)
