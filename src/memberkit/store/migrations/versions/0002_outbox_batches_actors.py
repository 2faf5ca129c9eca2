"""outbox, batches, actors, profile history, job locks, member fields

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "batches",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=500), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
    )
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.create_index("ix_batches_kind_state", ["kind", "state"], unique=False)

    op.create_table(
        "job_locks",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=300), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("acquired_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.Column("stale_after_seconds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_locks")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_outbox_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_outbox_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_event_type"), ["event_type"], unique=False)
        batch_op.create_index("ix_outbox_member_id_id", ["member_id", "id"], unique=False)

    op.create_table(
        "profile_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("before", sa.Text(), nullable=False),
        sa.Column("after", sa.Text(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_profile_changes_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_profile_changes_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_changes")),
    )
    with op.batch_alter_table("profile_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_profile_changes_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_profile_changes_member_id"), ["member_id"], unique=False
        )

    op.create_table(
        "outbox_deliveries",
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sink", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'delivered', 'dead')",
            name=op.f("ck_outbox_deliveries_state_is_known"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["outbox.id"], name=op.f("fk_outbox_deliveries_event_id_outbox")
        ),
        sa.PrimaryKeyConstraint("event_id", "sink", name=op.f("pk_outbox_deliveries")),
    )
    with op.batch_alter_table("outbox_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_deliveries_sink_state_next",
            ["sink", "state", "next_attempt_at"],
            unique=False,
        )

    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "actor", sa.String(length=200), server_default="system:unknown", nullable=False
            )
        )
        batch_op.add_column(
            sa.Column(
                "batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.create_index(batch_op.f("ix_ledger_entries_batch_id"), ["batch_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_ledger_entries_batch_id_batches"), "batches", ["batch_id"], ["id"]
        )

    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tags", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("accepts_email_marketing", sa.Boolean(), nullable=True))
        batch_op.add_column(
            sa.Column("total_spent", sa.Numeric(precision=14, scale=2), nullable=True)
        )
        batch_op.add_column(sa.Column("orders_count", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("ledger_version", sa.BigInteger(), server_default="0", nullable=False)
        )

    with op.batch_alter_table("tier_history", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.create_index(batch_op.f("ix_tier_history_batch_id"), ["batch_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_tier_history_batch_id_batches"), "batches", ["batch_id"], ["id"]
        )


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("tier_history", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_tier_history_batch_id_batches"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_tier_history_batch_id"))
        batch_op.drop_column("batch_id")

    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("ledger_version")
        batch_op.drop_column("orders_count")
        batch_op.drop_column("total_spent")
        batch_op.drop_column("accepts_email_marketing")
        batch_op.drop_column("tags")

    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_ledger_entries_batch_id_batches"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_ledger_entries_batch_id"))
        batch_op.drop_column("batch_id")
        batch_op.drop_column("actor")

    with op.batch_alter_table("outbox_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_deliveries_sink_state_next")

    op.drop_table("outbox_deliveries")
    with op.batch_alter_table("profile_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_profile_changes_member_id"))
        batch_op.drop_index(batch_op.f("ix_profile_changes_batch_id"))

    op.drop_table("profile_changes")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_member_id_id")
        batch_op.drop_index(batch_op.f("ix_outbox_event_type"))
        batch_op.drop_index(batch_op.f("ix_outbox_batch_id"))

    op.drop_table("outbox")
    op.drop_table("job_locks")
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_index("ix_batches_kind_state")

    op.drop_table("batches")
