"""Shared trace contexts: the rendered prompt and tool specs stored once, samples name them by key.

Existing samples keep their whole trace (context_key NULL); readers join the parts either way.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "trace_context",
        sa.Column("key", sa.String(length=64), primary_key=True),
        sa.Column("body", JSON_TYPE, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("sample") as batch:
        batch.add_column(sa.Column("context_key", sa.String(length=64), nullable=True))
        batch.create_foreign_key("fk_sample_context_key", "trace_context", ["context_key"], ["key"])


def downgrade() -> None:
    # Put every split trace back together before the column that names its context goes.
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(
            "UPDATE sample SET trace = jsonb_build_object("
            " 'messages', (c.body -> 'messages') || (sample.trace -> 'messages'),"
            " 'tools', c.body -> 'tools', 'meta', sample.trace -> 'meta')"
            " FROM trace_context c WHERE sample.context_key = c.key"
        )
    else:
        op.execute(
            "UPDATE sample SET trace = (SELECT json_object("
            " 'messages', (SELECT json_group_array(json(value)) FROM ("
            "   SELECT value FROM json_each(c.body, '$.messages')"
            "   UNION ALL SELECT value FROM json_each(sample.trace, '$.messages'))),"
            " 'tools', json_extract(c.body, '$.tools'), 'meta', json_extract(sample.trace, '$.meta'))"
            " FROM trace_context c WHERE c.key = sample.context_key)"
            " WHERE context_key IS NOT NULL"
        )
    with op.batch_alter_table("sample") as batch:
        batch.drop_constraint("fk_sample_context_key", type_="foreignkey")
        batch.drop_column("context_key")
    op.drop_table("trace_context")
