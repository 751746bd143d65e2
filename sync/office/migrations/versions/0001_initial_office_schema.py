"""The office schema: kiosks, enrolment codes, records, conflicts, boot anchors, lists.

Written for both SQLite and PostgreSQL (no dialect-specific types).

Revision ID: 0001
Revises:
Create Date: 2026-11-22 10:59:24.011882
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "office_boot_anchor",
        sa.Column("kiosk_id", sa.String(length=36), nullable=False),
        sa.Column("boot_id", sa.String(length=64), nullable=False),
        sa.Column("mono_ns", sa.BigInteger(), nullable=False),
        sa.Column("server_time", sa.Float(), nullable=False),
        sa.Column("wall", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("kiosk_id", "boot_id"),
    )
    op.create_table(
        "office_conflict",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("kiosk_id", sa.String(length=36), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("office_conflict", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_office_conflict_kiosk_id"), ["kiosk_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_office_conflict_record_id"), ["record_id"], unique=False)

    op.create_table(
        "office_enrol_code",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("kiosk_id", sa.String(length=36), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("used_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("code_hash"),
    )
    with op.batch_alter_table("office_enrol_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_office_enrol_code_kiosk_id"), ["kiosk_id"], unique=False)

    op.create_table(
        "office_kiosk",
        sa.Column("kiosk_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("community", sa.Text(), server_default="", nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=True),
        sa.Column("kid", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("enrolled_at", sa.Float(), nullable=True),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.Column("last_seen", sa.Float(), nullable=True),
        sa.Column("last_push", sa.Float(), nullable=True),
        sa.Column("backlog", sa.Integer(), server_default="0", nullable=False),
        sa.Column("oldest_pending", sa.Float(), nullable=True),
        sa.Column("clock_skew", sa.Float(), nullable=True),
        sa.Column("list_versions", sa.Text(), server_default="{}", nullable=False),
        sa.Column("max_epoch", sa.Integer(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("kiosk_id"),
        sa.UniqueConstraint("public_key"),
    )
    op.create_table(
        "office_kiosk_epoch",
        sa.Column("kiosk_id", sa.String(length=36), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("hwm", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("kiosk_id", "epoch"),
    )
    op.create_table(
        "office_list",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.Float(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "office_list_item",
        sa.Column("list_name", sa.String(length=32), nullable=False),
        sa.Column("item_key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("list_name", "item_key"),
    )
    with op.batch_alter_table("office_list_item", schema=None) as batch_op:
        batch_op.create_index("ix_office_list_item_version", ["list_name", "version"], unique=False)

    op.create_table(
        "office_record",
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("kiosk_id", sa.String(length=36), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("device_time", sa.Float(), nullable=False),
        sa.Column("corrected_time", sa.Float(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("time_quality", sa.String(length=16), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("hlc", sa.BigInteger(), nullable=False),
        sa.Column("boot_id", sa.String(length=64), nullable=False),
        sa.Column("mono_ns", sa.BigInteger(), nullable=False),
        sa.Column("clock_flag", sa.String(length=16), server_default="", nullable=False),
        sa.Column("versions", sa.Text(), server_default="{}", nullable=False),
        sa.Column("flags", sa.String(length=64), server_default="", nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=True),
        sa.Column("verdict", sa.String(length=8), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=True),
        sa.Column("detail", sa.String(length=32), nullable=True),
        sa.Column("ref", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("record_id"),
        sa.UniqueConstraint("kiosk_id", "epoch", "seq", name="uq_office_record_slot"),
    )
    with op.batch_alter_table("office_record", schema=None) as batch_op:
        batch_op.create_index("ix_office_record_day_kiosk", ["day", "kiosk_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("office_record", schema=None) as batch_op:
        batch_op.drop_index("ix_office_record_day_kiosk")

    op.drop_table("office_record")
    with op.batch_alter_table("office_list_item", schema=None) as batch_op:
        batch_op.drop_index("ix_office_list_item_version")

    op.drop_table("office_list_item")
    op.drop_table("office_list")
    op.drop_table("office_kiosk_epoch")
    op.drop_table("office_kiosk")
    with op.batch_alter_table("office_enrol_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_office_enrol_code_kiosk_id"))

    op.drop_table("office_enrol_code")
    with op.batch_alter_table("office_conflict", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_office_conflict_record_id"))
        batch_op.drop_index(batch_op.f("ix_office_conflict_kiosk_id"))

    op.drop_table("office_conflict")
    op.drop_table("office_boot_anchor")
