"""Export: stream a job's accepted samples into JSONL shards, a manifest and a drop report.

The export is written into a temporary folder beside `out` and moved into place at the end, so a
crash half way never leaves a mixture of old and new shards. Samples are read with a server-side
cursor in id order, so memory stays flat however large the job.

Counts (the seed's form): raw N = teacher calls that got a verdict; dropped M = results rejected by a
gate or as duplicates; kept K = samples in the corpus. Surplus (passed, but the behaviour was already
full) is counted apart: it is neither dropped nor kept.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gen_service.serialization import dumps
from gen_service.store import leases as sql
from gen_service.store.models import Outcome
from gen_service.store.tables import JB, JOB, RAW, REJECT, SAMPLE
from gen_service.store.trace_parts import join_trace

MANIFEST_SCHEMA = "tracegen.manifest/1"
DEFAULT_SHARD_SIZE = 10_000


@dataclass
class ExportSummary:
    out_dir: Path
    raw: int
    dropped: int
    kept: int
    surplus: int
    drop_reasons: Counter[str] = field(default_factory=Counter)
    report: str = ""


async def export_job(
    engine: AsyncEngine, job_id: int, out_dir: Path, *, shard_size: int = DEFAULT_SHARD_SIZE
) -> ExportSummary:
    if shard_size < 1:
        raise ValueError("shard_size must be >= 1")
    async with engine.connect() as conn:
        job = (await conn.execute(select(JOB).where(JOB.c.id == job_id))).first()
        if job is None:
            raise LookupError(f"no job {job_id}")
        behaviours = (
            await conn.execute(select(JB).where(JB.c.job_id == job_id).order_by(JB.c.behaviour))
        ).all()
        outcomes = Counter(
            {
                row.outcome: int(row.n)
                for row in await conn.execute(
                    select(RAW.c.outcome, func.count().label("n"))
                    .where(RAW.c.job_id == job_id)
                    .group_by(RAW.c.outcome)
                )
            }
        )
        reasons = Counter(
            {
                row.reason: int(row.n)
                for row in await conn.execute(
                    select(REJECT.c.reason, func.count().label("n"))
                    .where(REJECT.c.job_id == job_id)
                    .group_by(REJECT.c.reason)
                )
            }
        )
        reasons_by_behaviour: dict[str, Counter[str]] = {}
        for row in await conn.execute(
            select(REJECT.c.behaviour, REJECT.c.reason, func.count().label("n"))
            .where(REJECT.c.job_id == job_id)
            .group_by(REJECT.c.behaviour, REJECT.c.reason)
        ):
            reasons_by_behaviour.setdefault(row.behaviour, Counter())[row.reason] = int(row.n)

        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
        shards: list[dict[str, Any]] = []
        per_behaviour: Counter[str] = Counter()
        per_layer: Counter[str] = Counter()
        corpus_hash = hashlib.sha256()
        contexts = await sql.contexts_of_job(conn, job_id)
        try:
            stream = await conn.stream(
                select(SAMPLE.c.behaviour, SAMPLE.c.layer, SAMPLE.c.trace, SAMPLE.c.context_key)
                .where(and_(SAMPLE.c.job_id == job_id, SAMPLE.c.surplus == 0))
                .order_by(SAMPLE.c.id)
                .execution_options(yield_per=1000)
            )
            handle = None
            shard_hash = hashlib.sha256()
            in_shard = 0
            async for row in stream:
                if handle is None or in_shard >= shard_size:
                    if handle is not None:
                        handle.close()
                        shards[-1].update(count=in_shard, sha256=shard_hash.hexdigest())
                    name = f"shard-{len(shards):05d}.jsonl"
                    handle = (staging / name).open("wb")
                    shards.append({"file": name})
                    shard_hash = hashlib.sha256()
                    in_shard = 0
                context = contexts[row.context_key] if row.context_key is not None else None
                line = dumps(join_trace(context, row.trace)) + b"\n"
                handle.write(line)
                shard_hash.update(line)
                corpus_hash.update(line)
                in_shard += 1
                per_behaviour[row.behaviour] += 1
                per_layer[row.layer] += 1
            if handle is not None:
                handle.close()
                shards[-1].update(count=in_shard, sha256=shard_hash.hexdigest())
            kept = sum(per_behaviour.values())
            dropped = outcomes[Outcome.REJECTED] + outcomes[Outcome.DUPLICATE]
            surplus = sum(b.surplus for b in behaviours)
            raw_total = kept + dropped + surplus
            manifest = {
                "schema": MANIFEST_SCHEMA,
                "job": {"id": job.id, "name": job.name, "status": job.status},
                "teacher": job.teacher,
                "prompt_version": job.prompt_version,
                "exported_at": datetime.now(UTC).isoformat(),
                "counts": {"raw": raw_total, "dropped": dropped, "kept": kept, "surplus": surplus},
                "targets": {b.behaviour: b.target for b in behaviours},
                "per_behaviour": {b.behaviour: per_behaviour.get(b.behaviour, 0) for b in behaviours},
                "per_layer": dict(sorted(per_layer.items())),
                "drop_reasons": dict(reasons.most_common()),
                "drop_reasons_by_behaviour": {
                    name: dict(counter.most_common())
                    for name, counter in sorted(reasons_by_behaviour.items())
                },
                "shards": shards,
                "content_sha256": corpus_hash.hexdigest(),
            }
            report = render_drop_report(job.name, raw_total, dropped, kept, surplus, reasons, per_layer)
            (staging / "manifest.json").write_bytes(dumps(manifest))
            (staging / "DROP_REPORT.md").write_text(report)
            if out_dir.exists():
                shutil.rmtree(out_dir)
            staging.rename(out_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return ExportSummary(
        out_dir=out_dir,
        raw=raw_total,
        dropped=dropped,
        kept=kept,
        surplus=surplus,
        drop_reasons=reasons,
        report=report,
    )


def render_drop_report(
    job_name: str,
    raw: int,
    dropped: int,
    kept: int,
    surplus: int,
    reasons: Counter[str],
    per_layer: Counter[str],
) -> str:
    """The human-readable drop report, in the seed's form."""
    lines = [
        f"# Drop report: {job_name}",
        "",
        f"raw {raw:,} → dropped {dropped:,} → kept {kept:,}"
        + (f" (+ {surplus:,} surplus, outside the corpus)" if surplus else ""),
        "",
        "## Drop reasons (a rejected sample can fail several gates)",
        "",
    ]
    if reasons:
        lines += [f"- {reason}: {count:,}" for reason, count in reasons.most_common()]
    else:
        lines.append("- none")
    lines += ["", "## Kept per layer", ""]
    lines += [f"- {layer}: {count:,}" for layer, count in sorted(per_layer.items())] or ["- none"]
    return "\n".join(lines) + "\n"
