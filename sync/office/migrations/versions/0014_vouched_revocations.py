"""Passes the office saw issued (office_pass) and what it made of each kiosk's revocations (office_revocation).

`office_pass` is filled from the `pass_issued` records an office already holds (first copy of a
pass id wins), `office_revocation` from its `pass_revoked` records, all "published": the office
published every one of them until now. A kiosk revoked before this release keeps its old trust
item (passes starting before the revocation stay valid) until the clerk runs
`kakou office revoke-kiosk` for it again, which publishes the passes it vouches for.

Revision ID: 0014_vouched_revocations
Revises: 0013_request_replay
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0014_vouched_revocations"
down_revision = "0013_request_replay"
branch_labels = None
depends_on = None

CHUNK = 1000


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**62 else None


def upgrade() -> None:
    office_pass = op.create_table(
        "office_pass",
        sa.Column("pass_id", sa.String(length=36), nullable=False),
        sa.Column("kiosk_id", sa.String(length=36), nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("valid_to", sa.BigInteger(), nullable=True),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("pass_id"),
    )
    op.create_index("ix_office_pass_kiosk_id", "office_pass", ["kiosk_id"], unique=False)
    revocation = op.create_table(
        "office_revocation",
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("kiosk_id", sa.String(length=36), nullable=False),
        sa.Column("pass_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("expires", sa.BigInteger(), nullable=True),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("why", sa.String(length=16), nullable=False, server_default=""),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("record_id"),
    )
    op.create_index("ix_office_revocation_pass_id", "office_revocation", ["pass_id"], unique=False)
    op.create_index(
        "ix_office_revocation_kiosk_status", "office_revocation", ["kiosk_id", "status", "received_at"], unique=False
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT kind, ref, kiosk_id, record_id, received_at, payload FROM office_record"
            " WHERE kind IN ('pass_issued', 'pass_revoked') AND ref IS NOT NULL ORDER BY received_at, record_id"
        )
    )
    seen: set[str] = set()
    passes: list[dict[str, object]] = []
    revocations: list[dict[str, object]] = []
    for kind, ref, kiosk_id, record_id, received_at, payload in rows:
        try:
            body = json.loads(payload)
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        if kind == "pass_issued":
            if ref in seen:
                continue
            seen.add(ref)
            passes.append(
                {
                    "pass_id": ref,
                    "kiosk_id": kiosk_id,
                    "record_id": record_id,
                    "valid_to": _int_or_none(body.get("valid_to")),
                    "received_at": received_at,
                }
            )
        else:
            revocations.append(
                {
                    "record_id": record_id,
                    "kiosk_id": kiosk_id,
                    "pass_id": ref,
                    "reason": str(body.get("reason", ""))[:500],
                    "expires": _int_or_none(body.get("expires")),
                    "received_at": received_at,
                    "status": "published",
                    "why": "",
                }
            )
    for table, values in ((office_pass, passes), (revocation, revocations)):
        for i in range(0, len(values), CHUNK):
            op.bulk_insert(table, values[i : i + CHUNK])


def downgrade() -> None:
    op.drop_index("ix_office_revocation_kiosk_status", table_name="office_revocation")
    op.drop_index("ix_office_revocation_pass_id", table_name="office_revocation")
    op.drop_table("office_revocation")
    op.drop_index("ix_office_pass_kiosk_id", table_name="office_pass")
    op.drop_table("office_pass")
