"""Look-up hashes become slow (argon2id over HMAC) and masks show no digit

Until now a registration kept its ID number masked to 6 + 4 characters and its phone to 3 + 4,
with an HMAC under the key beside the database: a copied data dir gave back every number in
under a second. The kiosk never kept the numbers, so it cannot remake those hashes; it drops
them. What this costs, and what stays:

- registrations made before this upgrade no longer match a look-up ("登记过 N 次" counts only
  the ones made from now on); their sealed copies at the office (or, before enrolment, in the
  outbox) are untouched, so contact tracing at the office loses nothing;
- the masked forms on the rows become stars of the same length (the digits are simply dropped);
- outbox payloads the office has confirmed stored get the same treatment, with their hash
  recomputed: an acknowledged record is never sent again, and its hash is what this kiosk's
  integrity check compares it to. A payload NOT yet acknowledged is left exactly as it was made:
  the office may already hold it (an answer lost on the way), and a changed payload under the
  same record id would be quarantined there as a conflict. Its old masks and HMACs go to the
  office as made, and retention purges them here once the office confirms them;
- the office's person entries (quarantine, watch) carry the old HMACs: they are deleted and the
  two lists' versions reset, so the next pull fetches a full snapshot of the strengthened
  entries (office migration 0015 strengthens them in place).

Revision ID: 0006_slow_lookup_hashes
Revises: 0005_vouched_passes
"""

import hashlib
import json
import re

from alembic import op
from sqlalchemy import text

revision = "0006_slow_lookup_hashes"
down_revision = "0005_vouched_passes"
branch_labels = None
depends_on = None

MASKS = ("id_masked", "phone_masked")
HASHES = ("id_hash", "phone_hash")
SLOW = "t[0-9]*m[0-9]*:*"
SLOW_RE = re.compile(r"t[0-9]+m[0-9]+:.*")


def _stars(value: object) -> object:
    return "*" * len(value) if isinstance(value, str) else value


def _old(body: dict[str, object]) -> bool:
    """A payload that still shows digits in a mask or holds an HMAC."""
    masks = any(isinstance(body.get(k), str) and any(c.isdigit() for c in str(body[k])) for k in MASKS)
    hashes = any(body.get(k) and not SLOW_RE.fullmatch(str(body[k])) for k in HASHES)
    return masks or hashes


def upgrade() -> None:
    conn = op.get_bind()
    # Only the old HMACs (64 hex digits) go; a slow hash ("t2m16384:...") is kept.
    conn.execute(
        text(
            f"UPDATE registration SET id_hash = CASE WHEN id_hash GLOB '{SLOW}' THEN id_hash END,"
            f" phone_hash = CASE WHEN phone_hash GLOB '{SLOW}' THEN phone_hash END,"
            " id_masked = substr('******************', 1, length(id_masked)),"
            " phone_masked = substr('******************', 1, length(phone_masked))"
        )
    )
    acked = conn.execute(
        text(
            "SELECT o.record_id, o.payload FROM outbox o, kiosk_state s WHERE s.id = 1 AND o.kind = 'registration'"
            " AND (o.epoch < s.epoch OR o.seq <= s.acked_seq)"
        )
    ).all()
    for record_id, payload in acked:
        try:
            body = json.loads(payload)
        except ValueError:
            continue  # a damaged payload stays as it is: the integrity check names it
        if not isinstance(body, dict) or not _old(body):
            continue
        for k in MASKS:
            if k in body:
                body[k] = _stars(body[k])
        for k in HASHES:
            if body.get(k) and not SLOW_RE.fullmatch(str(body[k])):
                body[k] = None
        # models.outbox.canonical_json and payload_hash, as they were when this migration was written
        new = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        conn.execute(
            text("UPDATE outbox SET payload = :p, payload_hash = :h WHERE record_id = :r"),
            {"p": new, "h": hashlib.sha256(new.encode("utf-8")).hexdigest(), "r": record_id},
        )
    conn.execute(text("DELETE FROM list_entry WHERE person_hash IS NOT NULL AND source = 'office'"))
    conn.execute(text("UPDATE list_version SET version = 0, content_hash = '' WHERE name IN ('quarantine', 'watch')"))


def downgrade() -> None:
    # Nothing to undo: the dropped hashes and digits cannot be made again (the schema is unchanged).
    pass
