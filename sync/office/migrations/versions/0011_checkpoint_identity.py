"""Checkpoint identity: communities, and a checkpoint number unique office-wide

A kiosk's passes open the gates of its own community, and a pass scoped to a gate names the
gate's number, so both are the office's to assign: `office_community` (one row per community
name a checkpoint was added with), `office_kiosk.community_id`, and `office_kiosk.
checkpoint_number` (unique, never reused). Kiosks added before this get their community from the
name they were added with and numbers in the order they were added; their trust list entries are
published again with the community and the number (one new version of the trust list), so
kiosks enrolled before learn them at their next pull.

Revision ID: 0011_checkpoint_identity
Revises: 0010_office_count_triggers
"""

import json
import time

import sqlalchemy as sa
from alembic import op

revision = "0011_checkpoint_identity"
down_revision = "0010_office_count_triggers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "office_community",
        sa.Column("community_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("community_id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("office_kiosk") as batch_op:
        batch_op.add_column(sa.Column("community_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("checkpoint_number", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint("uq_office_kiosk_checkpoint_number", ["checkpoint_number"])
    _backfill(op.get_bind())


def _backfill(bind: sa.engine.Connection) -> None:
    now = time.time()
    kiosks = bind.execute(
        sa.text("SELECT kiosk_id, community, public_key FROM office_kiosk ORDER BY created_at, kiosk_id")
    ).all()
    ids: dict[str, int] = {}
    by_key: dict[str, dict[str, object]] = {}
    for number, (kiosk_id, community, public_key) in enumerate(kiosks, 1):
        name = (community or "").strip()
        if name not in ids:
            bind.execute(
                sa.text("INSERT INTO office_community (name, created_at) VALUES (:n, :t)"), {"n": name, "t": now}
            )
            ids[name] = int(
                bind.execute(
                    sa.text("SELECT community_id FROM office_community WHERE name = :n"), {"n": name}
                ).scalar_one()
            )
        bind.execute(
            sa.text("UPDATE office_kiosk SET community_id = :c, checkpoint_number = :n WHERE kiosk_id = :k"),
            {"c": ids[name], "n": number, "k": kiosk_id},
        )
        if public_key:
            by_key[public_key] = {"community_id": ids[name], "community": name, "checkpoint": number}
    items = bind.execute(
        sa.text(
            "SELECT item_key, value FROM office_list_item WHERE list_name = 'trust' AND item_key IN :keys"
        ).bindparams(sa.bindparam("keys", expanding=True)),
        {"keys": list(by_key) or [""]},
    ).all()
    if not items:
        return
    version = bind.execute(
        sa.text("UPDATE office_list SET version = version + 1, updated_at = :t WHERE name = 'trust' RETURNING version"),
        {"t": now},
    ).scalar()
    for key, value in items:
        entry = {**json.loads(value), **by_key[key]}
        bind.execute(
            sa.text(
                "UPDATE office_list_item SET value = :v, version = :ver WHERE list_name = 'trust' AND item_key = :k"
            ),
            {"v": json.dumps(entry, ensure_ascii=False, sort_keys=True), "ver": version, "k": key},
        )


def downgrade() -> None:
    with op.batch_alter_table("office_kiosk") as batch_op:
        batch_op.drop_constraint("uq_office_kiosk_checkpoint_number", type_="unique")
        batch_op.drop_column("checkpoint_number")
        batch_op.drop_column("community_id")
    op.drop_table("office_community")
