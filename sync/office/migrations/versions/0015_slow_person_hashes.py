"""Person entries on the lists get the slow look-up hash and lose their masked number; kiosks' hand-over keys

Every kiosk receives the quarantine and watch lists and holds the community lookup key, so an
entry's HMAC and its masked ID number (6 + 4 characters shown) gave any enrolled kiosk the full
number in under a second. The office never kept the numbers, only the HMACs, so each entry is
strengthened in place: argon2id over the HMAC it already holds (models/privacy.py), exactly
what a kiosk computes from a scanned number. Tombstones are rewritten the same way (they stay
forever and go out in deltas), and `masked_id` is dropped from every entry. Each list that
changed gets a new version; kiosks from this release fetch a full snapshot anyway (kiosk
migration 0006 resets their person lists).

`office_kiosk.handover_sealed`: the key a kiosk sealed its pre-enrolment registrations to, given
to the office at enrolment and kept sealed to the office's own sealing key.

Revision ID: 0015_slow_person_hashes
Revises: 0014_vouched_revocations
"""

import json
import re
import time

import sqlalchemy as sa
from alembic import op

revision = "0015_slow_person_hashes"
down_revision = "0014_vouched_revocations"
branch_labels = None
depends_on = None

HMAC_KEY = re.compile(r"person:([0-9a-f]{64})")
# The policy's defaults when this migration was written (Policy.lookup_time_cost / lookup_memory_mib):
# no office had other values, the settings did not exist.
TIME_COST, MEMORY_KIB = 2, 16 * 1024


def upgrade() -> None:
    from models.privacy import LookupCost, strengthen

    with op.batch_alter_table("office_kiosk") as batch:
        batch.add_column(sa.Column("handover_sealed", sa.Text(), nullable=True))
    bind = op.get_bind()
    cost = LookupCost(TIME_COST, MEMORY_KIB)
    for name in ("quarantine", "watch"):
        rows = bind.execute(
            sa.text("SELECT item_key, value FROM office_list_item WHERE list_name = :n AND item_key LIKE 'person:%'"),
            {"n": name},
        ).all()
        old = []
        for key, value in rows:
            m = HMAC_KEY.fullmatch(key)
            if m is not None:  # already strong, or not a person entry of ours: left as it is
                old.append((key, value, m.group(1)))
        if not old:
            continue
        version = int(
            bind.execute(sa.text("SELECT version FROM office_list WHERE name = :n"), {"n": name}).scalar() or 0
        )
        version += 1
        bind.execute(
            sa.text("UPDATE office_list SET version = :v, updated_at = :t WHERE name = :n"),
            {"v": version, "t": time.time(), "n": name},
        )
        for key, value, hmac_hex in old:
            strong = strengthen(bytes.fromhex(hmac_hex), cost)
            try:
                body = json.loads(value)
            except ValueError:
                body = {}
            body = body if isinstance(body, dict) else {}
            body.pop("masked_id", None)
            body["person_hash"] = strong
            bind.execute(
                sa.text(
                    "UPDATE office_list_item SET item_key = :new, value = :v, version = :ver"
                    " WHERE list_name = :n AND item_key = :old"
                ),
                {
                    "new": "person:" + strong,
                    "v": json.dumps(body, ensure_ascii=False, sort_keys=True),
                    "ver": version,
                    "n": name,
                    "old": key,
                },
            )


def downgrade() -> None:
    # The strengthened hashes cannot be turned back into HMACs; only the column goes.
    with op.batch_alter_table("office_kiosk") as batch:
        batch.drop_column("handover_sealed")
