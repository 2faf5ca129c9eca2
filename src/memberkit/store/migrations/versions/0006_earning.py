"""earning: order earnings (pending points), redemptions, queued Shopify webhooks

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "shopify_webhooks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("webhook_id", sa.String(length=200), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("applied_at", sa.DateTime(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'applied', 'failed')",
            name=op.f("ck_shopify_webhooks_state_is_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shopify_webhooks")),
        sa.UniqueConstraint("webhook_id", name=op.f("uq_shopify_webhooks_webhook_id")),
    )
    with op.batch_alter_table("shopify_webhooks", schema=None) as batch_op:
        batch_op.create_index("ix_shopify_webhooks_state_id", ["state", "id"], unique=False)

    op.create_table(
        "order_earnings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_name", sa.String(length=200), nullable=False),
        sa.Column("shopify_order_id", sa.String(length=32), nullable=True),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("ordered_at", sa.DateTime(), nullable=False),
        sa.Column("subtotal", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("refunded", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("base_points", sa.BigInteger(), nullable=False),
        sa.Column("bonus_points", sa.BigInteger(), nullable=False),
        sa.Column("points_taken", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("available_from", sa.DateTime(), nullable=False),
        sa.Column(
            "credit_entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("released_at", sa.DateTime(), nullable=True),
        sa.Column("origin", sa.String(length=10), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'released')", name=op.f("ck_order_earnings_state_is_known")
        ),
        sa.CheckConstraint(
            "points_taken >= 0 AND points_taken <= base_points + bonus_points",
            name=op.f("ck_order_earnings_taken_in_range"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_order_earnings_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["credit_entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_order_earnings_credit_entry_id_ledger_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_order_earnings_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_earnings")),
        sa.UniqueConstraint("order_name", name=op.f("uq_order_earnings_order_name")),
    )
    with op.batch_alter_table("order_earnings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_earnings_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_order_earnings_member_id"), ["member_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_order_earnings_shopify_order_id"), ["shopify_order_id"], unique=False
        )
        batch_op.create_index(
            "ix_order_earnings_state_available_from", ["state", "available_from"], unique=False
        )

    op.create_table(
        "redemptions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("reward", sa.String(length=200), nullable=False),
        sa.Column("points_cost", sa.BigInteger(), nullable=False),
        sa.Column("value_type", sa.String(length=20), nullable=False),
        sa.Column("value", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("min_spend", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column(
            "deduct_entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "refund_entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("shopify_discount_id", sa.String(length=200), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'issued', 'refused')", name=op.f("ck_redemptions_state_is_known")
        ),
        sa.ForeignKeyConstraint(
            ["deduct_entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_redemptions_deduct_entry_id_ledger_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_redemptions_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["refund_entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_redemptions_refund_entry_id_ledger_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redemptions")),
        sa.UniqueConstraint("code", name=op.f("uq_redemptions_code")),
        sa.UniqueConstraint("key", name=op.f("uq_redemptions_key")),
    )
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_redemptions_member_id"), ["member_id"], unique=False)
        batch_op.create_index("ix_redemptions_state", ["state"], unique=False)


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.drop_index("ix_redemptions_state")
        batch_op.drop_index(batch_op.f("ix_redemptions_member_id"))

    op.drop_table("redemptions")
    with op.batch_alter_table("order_earnings", schema=None) as batch_op:
        batch_op.drop_index("ix_order_earnings_state_available_from")
        batch_op.drop_index(batch_op.f("ix_order_earnings_member_id"))
        batch_op.drop_index(batch_op.f("ix_order_earnings_shopify_order_id"))
        batch_op.drop_index(batch_op.f("ix_order_earnings_batch_id"))

    op.drop_table("order_earnings")
    with op.batch_alter_table("shopify_webhooks", schema=None) as batch_op:
        batch_op.drop_index("ix_shopify_webhooks_state_id")

    op.drop_table("shopify_webhooks")
