"""Retention: personal data is deleted once it is no longer needed (PIPL Art. 19 and 47).

Only records the office has confirmed stored are purged: an unsynced record is the only copy
and is never touched. Counts survive (rows stay, with their kind, direction, verdict and
time); what goes is whatever points at a person: names, masked numbers, look-up hashes, sealed
copies, places, free-text reasons, and the same fields in the outbox payload. `secure_delete`
overwrites the freed bytes and VACUUM returns the space.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import text

from models.outbox import tombstone_json

if TYPE_CHECKING:
    from models.store import KioskStore

# table -> personal columns and what they become
PERSONAL_COLUMNS = {
    "registration": {
        "name": "''",
        "id_masked": "''",
        "id_hash": "NULL",
        "phone_masked": "''",
        "phone_hash": "NULL",
        "from_place": "''",
        "reason": "''",
    },
    "pass_issued": {"name": "''", "token": "''"},
}
PERSONAL_PAYLOAD_KEYS = (
    "name",
    "id_masked",
    "id_hash",
    "phone_masked",
    "phone_hash",
    "id_sealed",
    "phone_sealed",
    "from_place",
    "reason",
)
# outbox kinds whose payload may hold personal data
PERSONAL_KINDS = ("registration", "pass_issued")


@dataclass(frozen=True)
class PurgeResult:
    registrations: int
    passes: int
    payloads: int
    kept_unsynced: int
    cutoff: float | None


def purge(
    store: KioskStore, *, now: float | None = None, everything: bool = False, volunteer_id: int | None = None
) -> PurgeResult:
    """Delete personal data of synced records older than `retention_days` (or of all synced
    records with `everything=True`, at the end of the emergency)."""
    from models.facts import record_audit

    now = store.trusted_now() if now is None else now
    cutoff = None if everything else now - store.policy().retention_days * 86400
    age_clause = "" if cutoff is None else " AND o.wall_time < :cutoff"
    params = {"cutoff": cutoff}
    synced = (
        "SELECT o.record_id FROM outbox o, kiosk_state s WHERE s.id = 1"
        " AND (o.epoch < s.epoch OR o.seq <= s.acked_seq)" + age_clause
    )
    with store.writer.begin() as conn:
        counts: dict[str, int] = {}
        for table, cols in PERSONAL_COLUMNS.items():
            sets = ", ".join(f"{c} = {v}" for c, v in cols.items())
            nonempty = " OR ".join(f"{c} IS NOT NULL AND {c} != ''" for c in cols)
            updated = conn.execute(
                text(f"UPDATE {table} SET {sets} WHERE record_id IN ({synced}) AND ({nonempty})"), params
            )
            counts[table] = updated.rowcount
        payloads = 0
        rows = conn.execute(
            text(
                f"SELECT o.record_id, o.payload FROM outbox o WHERE o.kind IN {PERSONAL_KINDS!r}"
                f" AND o.record_id IN ({synced})"
            ),
            params,
        ).all()
        for record_id, payload in rows:
            body = json.loads(payload)
            if not any(body.get(k) for k in PERSONAL_PAYLOAD_KEYS):
                continue
            for k in PERSONAL_PAYLOAD_KEYS:
                if k in body:
                    body[k] = None
            body["purged"] = True
            # payload_hash stays the original: the office already holds the full record. The
            # tombstone carries a hash of its own for the damage check (models/outbox.py).
            conn.execute(
                text("UPDATE outbox SET payload = :p WHERE record_id = :r"),
                {"p": tombstone_json(body), "r": record_id},
            )
            payloads += 1
        kept = conn.execute(
            text(
                "SELECT count(*) FROM outbox o, kiosk_state s WHERE s.id = 1 AND o.epoch = s.epoch AND o.seq > s.acked_seq"
                " AND o.kind IN ('registration', 'pass_issued')"
            )
        ).scalar()
    vacuum(store)
    result = PurgeResult(counts["registration"], counts["pass_issued"], payloads, int(kept or 0), cutoff)
    record_audit(
        store,
        "purge",
        volunteer_id,
        everything=everything,
        registrations=result.registrations,
        passes=result.passes,
        payloads=result.payloads,
        kept_unsynced=result.kept_unsynced,
    )
    return result


def vacuum(store: KioskStore) -> None:
    """Return freed pages to the file system (VACUUM cannot run inside a transaction)."""
    raw = store.engine.raw_connection()
    try:
        sqlite = raw.driver_connection
        assert sqlite is not None  # a fresh pool connection is open
        sqlite.execute("VACUUM")
        sqlite.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()
