"""unit_entries_by_community: a quarantine or watch entry by unit belongs to one community

Unit codes are unique inside a community only (幸福里社区 3-2-501 and 北苑社区 3-2-501 are two
households), so a unit entry names its community and only that community's kiosks take it. A
street with exactly one community gives it every existing unit entry (tombstones too, so a kiosk's
delta still finds what to remove); otherwise they stay street-wide (community_id NULL) and the
Lists page marks them 全街道 for a clerk to place. The item key of a placed entry carries the
community (`unit:3-2-501@4`): two communities may list the same code. Kiosks match unit entries
by the unit in the value, not the key, so re-keying changes nothing they hold and no version moves.

Revision ID: 0026_unit_entries_by_community
Revises: 0025_pass_out_twice
"""

import sqlalchemy as sa
from alembic import op

revision = "0026_unit_entries_by_community"
down_revision = "0025_pass_out_twice"
branch_labels = None
depends_on = None

UNITS = "list_name IN ('quarantine', 'watch') AND item_key LIKE 'unit:%'"


def upgrade() -> None:
    op.add_column("office_list_item", sa.Column("community_id", sa.Integer(), nullable=True))
    conn = op.get_bind()
    ids = [int(r[0]) for r in conn.execute(sa.text("SELECT community_id FROM office_community")).all()]
    if len(ids) == 1:
        conn.execute(
            sa.text(
                f"UPDATE office_list_item SET community_id = :c, item_key = item_key || '@' || :s"
                f" WHERE {UNITS} AND community_id IS NULL"
            ),
            {"c": ids[0], "s": str(ids[0])},
        )


def downgrade() -> None:
    # Placed entries get their street-wide key back; where two communities listed the same code,
    # the lowest-numbered community's entry keeps it and the others are dropped.
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            f"SELECT list_name, item_key, community_id FROM office_list_item WHERE {UNITS}"
            " AND community_id IS NOT NULL ORDER BY community_id"
        )
    ).all()
    seen: set[tuple[str, str]] = set()
    for name, key, _cid in rows:
        plain = key.rsplit("@", 1)[0]
        if (name, plain) in seen or conn.execute(
            sa.text("SELECT 1 FROM office_list_item WHERE list_name = :n AND item_key = :k"), {"n": name, "k": plain}
        ).first():
            conn.execute(
                sa.text("DELETE FROM office_list_item WHERE list_name = :n AND item_key = :k"), {"n": name, "k": key}
            )
            continue
        seen.add((name, plain))
        conn.execute(
            sa.text("UPDATE office_list_item SET item_key = :p WHERE list_name = :n AND item_key = :k"),
            {"p": plain, "n": name, "k": key},
        )
    with op.batch_alter_table("office_list_item") as batch:
        batch.drop_column("community_id")
