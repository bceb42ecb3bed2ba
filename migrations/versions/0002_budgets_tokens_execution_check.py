"""Job budgets, idempotency key, execution-check flag; per-behaviour token counters; reject index.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.add_column(
            sa.Column("execution_check", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("token_budget", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("cost_budget", sa.Float(), nullable=True))
        batch.add_column(sa.Column("idempotency_key", sa.String(length=200), nullable=True))
        batch.create_unique_constraint("uq_job_idempotency_key", ["idempotency_key"])
    with op.batch_alter_table("job_behaviour") as batch:
        batch.add_column(sa.Column("prompt_tokens", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("completion_tokens", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("reject") as batch:
        batch.create_index("ix_reject_job_behaviour_reason", ["job_id", "behaviour", "reason"])


def downgrade() -> None:
    with op.batch_alter_table("reject") as batch:
        batch.drop_index("ix_reject_job_behaviour_reason")
    with op.batch_alter_table("job_behaviour") as batch:
        batch.drop_column("completion_tokens")
        batch.drop_column("prompt_tokens")
    with op.batch_alter_table("job") as batch:
        batch.drop_constraint("uq_job_idempotency_key", type_="unique")
        batch.drop_column("idempotency_key")
        batch.drop_column("cost_budget")
        batch.drop_column("token_budget")
        batch.drop_column("execution_check")
