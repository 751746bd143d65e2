"""initial kiosk schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 10:52:11.204531
"""

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("record_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=True),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("device_time", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("record_id"),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_device_time"), ["device_time"], unique=False)

    op.create_table(
        "checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("community", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("street", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "fever_case",
        sa.Column("record_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("direction", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("pass_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("unit_code", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
        sa.Column("registration_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("first_raw", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("first_value", sa.Float(), nullable=True),
        sa.Column("volunteer_id", sa.Integer(), nullable=True),
        sa.Column("device_time", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("record_id"),
    )
    with op.batch_alter_table("fever_case", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fever_case_device_time"), ["device_time"], unique=False)

    op.create_table(
        "kiosk_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kiosk_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("acked_seq", sa.Integer(), nullable=False),
        sa.Column("hlc_last", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("office_url", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("enrolled_at", sa.Float(), nullable=True),
        sa.Column("pin_failures", sa.Integer(), nullable=False),
        sa.Column("pin_locked_until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "list_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_name", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("unit_code", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
        sa.Column("person_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("until", sa.Float(), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("list_entry", schema=None) as batch_op:
        batch_op.create_index("ix_list_entry_list_unit", ["list_name", "unit_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_list_entry_person_hash"), ["person_hash"], unique=False)

    op.create_table(
        "list_version",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "outbox",
        sa.Column("record_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("payload", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("payload_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("wall_time", sa.Float(), nullable=False),
        sa.Column("hlc", sa.Integer(), nullable=False),
        sa.Column("boot_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("mono_ns", sa.Integer(), nullable=False),
        sa.Column("clock_flag", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("versions", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("record_id"),
        sa.UniqueConstraint("epoch", "seq", name="uq_outbox_epoch_seq"),
    )
    op.create_table(
        "pass_issued",
        sa.Column("pass_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("record_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("unit_code", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("plate", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("scope", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Integer(), nullable=False),
        sa.Column("valid_to", sa.Integer(), nullable=False),
        sa.Column("hour_from", sa.Integer(), nullable=False),
        sa.Column("hour_to", sa.Integer(), nullable=False),
        sa.Column("kid", sa.Integer(), nullable=False),
        sa.Column("token", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("issued_at", sa.Float(), nullable=False),
        sa.Column("replaces", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.PrimaryKeyConstraint("pass_id"),
    )
    with op.batch_alter_table("pass_issued", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pass_issued_unit_code"), ["unit_code"], unique=False)

    op.create_table(
        "passage",
        sa.Column("record_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("direction", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("pass_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("pass_kind", sa.Integer(), nullable=True),
        sa.Column("unit_code", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("temp_raw", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("temp_value", sa.Float(), nullable=True),
        sa.Column("verdict", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("reasons", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=True),
        sa.Column("device_time", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("record_id"),
    )
    with op.batch_alter_table("passage", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_passage_device_time"), ["device_time"], unique=False)
        batch_op.create_index("ix_passage_pass_time", ["pass_id", "device_time"], unique=False)
        batch_op.create_index(batch_op.f("ix_passage_unit_code"), ["unit_code"], unique=False)

    op.create_table(
        "policy",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "revocation",
        sa.Column("pass_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=False),
        sa.Column("expires", sa.Integer(), nullable=True),
        sa.Column("record_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.PrimaryKeyConstraint("pass_id"),
    )
    op.create_table(
        "shift_event",
        sa.Column("record_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("event", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("summary", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("device_time", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("record_id"),
    )
    with op.batch_alter_table("shift_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shift_event_device_time"), ["device_time"], unique=False)

    op.create_table(
        "trusted_key",
        sa.Column("public_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kid", sa.Integer(), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("issuer", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("not_after", sa.Integer(), nullable=True),
        sa.Column("revoked_after", sa.Integer(), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.PrimaryKeyConstraint("public_key"),
    )
    with op.batch_alter_table("trusted_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trusted_key_kid"), ["kid"], unique=False)

    op.create_table(
        "unit",
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("building", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("entrance", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("room", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "volunteer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("pin_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "fever_outcome",
        sa.Column("record_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("second_raw", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("second_value", sa.Float(), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=True),
        sa.Column("device_time", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["fever_case.record_id"],
        ),
        sa.PrimaryKeyConstraint("record_id"),
    )
    with op.batch_alter_table("fever_outcome", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fever_outcome_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fever_outcome_device_time"), ["device_time"], unique=False)

    op.create_table(
        "person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_code", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("id_masked", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("id_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("id_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("phone_masked", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("phone_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("phone_sealed", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["unit_code"],
            ["unit.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_id_hash"), ["id_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_person_phone_hash"), ["phone_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_person_unit_code"), ["unit_code"], unique=False)

    op.create_table(
        "registration",
        sa.Column("record_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("id_masked", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("id_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("phone_masked", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("phone_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("from_place", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("to_unit", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("temp_raw", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("temp_value", sa.Float(), nullable=True),
        sa.Column("volunteer_id", sa.Integer(), nullable=True),
        sa.Column("device_time", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("record_id"),
    )
    with op.batch_alter_table("registration", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_registration_device_time"), ["device_time"], unique=False)
        batch_op.create_index(batch_op.f("ix_registration_id_hash"), ["id_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_registration_phone_hash"), ["phone_hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("registration", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registration_phone_hash"))
        batch_op.drop_index(batch_op.f("ix_registration_id_hash"))
        batch_op.drop_index(batch_op.f("ix_registration_device_time"))

    op.drop_table("registration")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_unit_code"))
        batch_op.drop_index(batch_op.f("ix_person_phone_hash"))
        batch_op.drop_index(batch_op.f("ix_person_id_hash"))

    op.drop_table("person")
    with op.batch_alter_table("fever_outcome", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fever_outcome_device_time"))
        batch_op.drop_index(batch_op.f("ix_fever_outcome_case_id"))

    op.drop_table("fever_outcome")
    op.drop_table("volunteer")
    op.drop_table("unit")
    with op.batch_alter_table("trusted_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trusted_key_kid"))

    op.drop_table("trusted_key")
    with op.batch_alter_table("shift_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shift_event_device_time"))

    op.drop_table("shift_event")
    op.drop_table("revocation")
    op.drop_table("policy")
    with op.batch_alter_table("passage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_passage_unit_code"))
        batch_op.drop_index("ix_passage_pass_time")
        batch_op.drop_index(batch_op.f("ix_passage_device_time"))

    op.drop_table("passage")
    with op.batch_alter_table("pass_issued", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pass_issued_unit_code"))

    op.drop_table("pass_issued")
    op.drop_table("outbox")
    op.drop_table("list_version")
    with op.batch_alter_table("list_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_list_entry_person_hash"))
        batch_op.drop_index("ix_list_entry_list_unit")

    op.drop_table("list_entry")
    op.drop_table("kiosk_state")
    with op.batch_alter_table("fever_case", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fever_case_device_time"))

    op.drop_table("fever_case")
    op.drop_table("checkpoint")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_device_time"))

    op.drop_table("audit_event")
