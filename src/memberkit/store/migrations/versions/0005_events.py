"""events delivery: sink cursors, delivery members, expiry notices, birthday awards

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "outbox_sinks",
        sa.Column("sink", sa.String(length=40), nullable=False),
        sa.Column("enqueued_through", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sink", name=op.f("pk_outbox_sinks")),
    )
    with op.batch_alter_table("outbox_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_id", BigId, nullable=True))
        batch_op.create_index(
            "ix_outbox_deliveries_sink_member_event",
            ["sink", "member_id", "event_id"],
            unique=False,
        )
    op.create_table(
        "expiry_notices",
        sa.Column("lot_entry_id", BigId, nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("notified_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lot_entry_id"], ["lots.entry_id"], name=op.f("fk_expiry_notices_lot_entry_id_lots")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_expiry_notices_member_id_members")
        ),
        sa.PrimaryKeyConstraint("lot_entry_id", "days", name=op.f("pk_expiry_notices")),
    )
    with op.batch_alter_table("expiry_notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_expiry_notices_member_id"), ["member_id"])
    op.create_table(
        "birthday_awards",
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("entry_id", BigId, nullable=True),
        sa.Column("awarded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_birthday_awards_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_birthday_awards_entry_id_ledger_entries"),
        ),
        sa.PrimaryKeyConstraint("member_id", "year", name=op.f("pk_birthday_awards")),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("birthday_awards")
    with op.batch_alter_table("expiry_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_expiry_notices_member_id"))
    op.drop_table("expiry_notices")
    with op.batch_alter_table("outbox_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_deliveries_sink_member_event")
        batch_op.drop_column("member_id")
    op.drop_table("outbox_sinks")
