"""Compress the large text columns with lz4 on PostgreSQL (14+, built with lz4).

Every submit writes a trace, the teacher's raw text and its reasoning, each several KB and so
compressed out of line (TOAST). pglz, the default, made those inserts the costliest part of the
submit transaction, which holds the job's row locks; lz4 cut Postgres CPU per sample by ~20% in
bench/throughput.py. Only new values use it; stored ones keep their compression and stay readable.
A server without lz4 (or older than 14) keeps pglz: the migration says so and goes on.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# (table, column): the columns whose values routinely exceed the ~2 KB TOAST threshold.
LARGE_COLUMNS = (
    ("sample", "trace"),
    ("trace_context", "body"),
    ("raw_output", "text"),
    ("raw_output", "reasoning"),
)


def _set_compression(method: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no per-column compression
    statements = "\n".join(
        f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method};"
        for table, column in LARGE_COLUMNS
    )
    # One block: either every column switches or none does (an older server or one built without
    # lz4 raises, and keeps pglz with a notice instead of failing the whole upgrade).
    op.execute(
        f"""
        DO $$
        BEGIN
            {statements}
        EXCEPTION WHEN feature_not_supported OR syntax_error THEN
            RAISE NOTICE 'tracegen: column compression {method} not available here: %', SQLERRM;
        END
        $$;
        """
    )


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("pglz")
