"""The outbox: every recorded fact, numbered and hashed in the transaction that records it.

`append_fact` must be called inside the caller's write transaction (BEGIN IMMEDIATE, see
`models.engine`), together with the fact's own table row, so a fact and its outbox record
commit or vanish together and `seq` never has a gap.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from models.clock import HLC_COUNTER_MASK, Reading, hlc_next, hlc_wall_ms
from models.hwm import LostRange
from models.tables import STATE_ROW_ID


def canonical_json(payload: Mapping[str, Any]) -> str:
    """One spelling per payload, so the office can compare hashes byte for byte."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def payload_hash(payload_json: str) -> str:
    return hashlib.sha256(payload_json.encode("utf-8")).hexdigest()


def uuid7(unix_ms: int, counter: int | None = None) -> str:
    """A UUIDv7 (RFC 9562) from the given milliseconds.

    Written by hand because Python 3.11's uuid module has no uuid7. The milliseconds come from
    the hybrid logical clock, not the raw wall clock, so ids still sort by record order after
    the kiosk's clock steps back. `counter` (the HLC's counter) fills rand_a (RFC 9562's
    "fixed-length dedicated counter"), so ids made within one millisecond also sort in order
    - after a backward step the HLC stays on one millisecond and counts.
    """
    rand = int.from_bytes(os.urandom(10), "big")
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    rand_a = (rand >> 62) & 0xFFF if counter is None else min(counter, 0xFFF)
    value |= rand_a << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & ((1 << 62) - 1)  # rand_b, 62 bits
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True)
class Fact:
    """What the outbox assigned to a fact."""

    record_id: str
    epoch: int
    seq: int
    hlc: int
    wall_time: float
    clock_flag: str
    payload_hash: str


def append_fact(
    conn: Connection,
    kind: str,
    payload: Mapping[str, Any],
    reading: Reading,
    versions: Mapping[str, int] | None = None,
) -> Fact:
    """Number, stamp and store one fact in the outbox, in the caller's transaction."""
    state = conn.execute(
        text("SELECT epoch, last_seq, hlc_last FROM kiosk_state WHERE id = :id"), {"id": STATE_ROW_ID}
    ).one()
    hlc, backwards = hlc_next(state.hlc_last, reading.wall_ms)
    seq = state.last_seq + 1
    conn.execute(
        text("UPDATE kiosk_state SET last_seq = :seq, hlc_last = :hlc WHERE id = :id"),
        {"seq": seq, "hlc": hlc, "id": STATE_ROW_ID},
    )
    record_id = uuid7(hlc_wall_ms(hlc), hlc & HLC_COUNTER_MASK)
    body = dict(payload)
    body["record_id"] = record_id
    # "fact", not "kind": a registration's or a pass's own kind field must survive.
    body["fact"] = kind
    payload_json = canonical_json(body)
    digest = payload_hash(payload_json)
    flag = "backwards" if backwards else ""
    conn.execute(
        text(
            "INSERT INTO outbox (record_id, epoch, seq, kind, payload, payload_hash, wall_time, hlc,"
            " boot_id, mono_ns, clock_flag, versions) VALUES (:record_id, :epoch, :seq, :kind, :payload,"
            " :hash, :wall, :hlc, :boot, :mono, :flag, :versions)"
        ),
        {
            "record_id": record_id,
            "epoch": state.epoch,
            "seq": seq,
            "kind": kind,
            "payload": payload_json,
            "hash": digest,
            "wall": reading.wall,
            "hlc": hlc,
            "boot": reading.boot_id,
            "mono": reading.mono_ns,
            "flag": flag,
            "versions": canonical_json(versions or {}),
        },
    )
    return Fact(record_id, state.epoch, seq, hlc, reading.wall, flag, digest)


def pending_count(conn: Connection) -> tuple[int, float | None]:
    """Records not yet confirmed by the office, and the wall time of the oldest one whose
    clock was set (a record made while the clock read 1970 would otherwise be "55 years old";
    None when there is no such record)."""
    from models.clock import PLAUSIBLE_SINCE

    row = conn.execute(
        text(
            "SELECT count(*), min(CASE WHEN o.wall_time >= :plausible THEN o.wall_time END)"
            " FROM outbox o, kiosk_state s WHERE s.id = 1 AND o.epoch = s.epoch AND o.seq > s.acked_seq"
        ),
        {"plausible": PLAUSIBLE_SINCE},
    ).one()
    return int(row[0]), row[1]


# A purged record keeps the payload_hash of what it was (the office holds that record: a re-send
# is then a duplicate, not a conflict), so its payload is checked against a hash of its own,
# written into the tombstone: `tombstone_hash` over the tombstone without that key.
TOMBSTONE_HASH_KEY = "purged_hash"


def tombstone_json(body: Mapping[str, Any]) -> str:
    """The payload of a purged record: `body` (its personal fields already emptied, "purged": true)
    with the hash of itself, so damage to a tombstone is still seen."""
    plain = {k: v for k, v in body.items() if k != TOMBSTONE_HASH_KEY}
    return canonical_json({**plain, TOMBSTONE_HASH_KEY: payload_hash(canonical_json(plain))})


def _purged_intact(payload: bytes | str) -> bool:
    raw = payload if isinstance(payload, bytes) else str(payload).encode("utf-8", "surrogateescape")
    return b'"purged":true' in raw and _tombstone_intact(raw)


def _tombstone_intact(raw: bytes) -> bool:
    try:
        body = json.loads(raw)
    except ValueError:  # not JSON, or not UTF-8 any more: damage
        return False
    if not isinstance(body, dict) or body.get("purged") is not True:
        return False
    own = body.get(TOMBSTONE_HASH_KEY)
    if own is None:
        # Purged by a version that wrote no hash of its own: intact when it still reads as one.
        return raw.decode("utf-8") == canonical_json(body)
    plain = {k: v for k, v in body.items() if k != TOMBSTONE_HASH_KEY}
    return own == payload_hash(canonical_json(plain)) and raw.decode("utf-8") == canonical_json(body)


def damaged_records(
    conn: Connection,
    start: float | None = None,
    end: float | None = None,
    *,
    pause: Callable[[], None] | None = None,
    every: int = 256,
) -> list[tuple[int, int]]:
    """(epoch, seq) of the records whose payload no longer matches the hash written with it
    (a damaged SD card changes bytes that SQLite's own checks do not see), between `start` and
    `end` (wall times) or all of them. The payload is read as bytes: damaged text may no longer
    be UTF-8. `pause` is called after every `every` records: the desk's background check sleeps
    there, so hashing 100k small payloads (Python holding the GIL) never keeps a scan waiting
    for more than one slice."""
    where, params = "", {}
    if start is not None and end is not None:
        where, params = " WHERE wall_time >= :s AND wall_time < :e", {"s": start, "e": end}
    rows = conn.execute(text(f"SELECT epoch, seq, CAST(payload AS BLOB), payload_hash FROM outbox{where}"), params)
    bad = []
    for n, (epoch, seq, payload, digest) in enumerate(rows, 1):
        if not hash_matches(payload, digest) and not _purged_intact(payload):
            bad.append((int(epoch), int(seq)))
        if pause is not None and n % every == 0:
            pause()
    return bad


def hash_matches(payload: bytes | str, digest: str) -> bool:
    """Whether a payload (as read: bytes, since damaged text may no longer be UTF-8) still
    matches the hash written with it."""
    raw = payload if isinstance(payload, bytes) else str(payload).encode("utf-8", "surrogateescape")
    return hashlib.sha256(raw).hexdigest() == digest


def lost_ranges(conn: Connection, *, unreported: bool = False) -> list[LostRange]:
    """The records this kiosk lost (models/hwm.py), oldest first."""
    where = " WHERE reported_at IS NULL" if unreported else ""
    rows = conn.execute(
        text(f"SELECT epoch, first_seq, last_seq, reason, found_at, reported_at FROM outbox_lost{where} ORDER BY id")
    )
    return [
        LostRange(int(e), int(a), int(b), str(r), float(f), None if t is None else float(t))
        for e, a, b, r, f, t in rows
    ]


def note_lost(conn: Connection, epoch: int, first: int, last: int, reason: str, now: float) -> None:
    """Keep one lost range (once: the same range found again is the same problem)."""
    conn.execute(
        text(
            "INSERT INTO outbox_lost (epoch, first_seq, last_seq, reason, found_at) VALUES (:e, :a, :b, :r, :t)"
            " ON CONFLICT (epoch, first_seq, reason) DO NOTHING"
        ),
        {"e": epoch, "a": first, "b": last, "r": reason, "t": now},
    )


def note_reported(conn: Connection, ranges: list[LostRange], now: float) -> None:
    for r in ranges:
        conn.execute(
            text(
                "UPDATE outbox_lost SET reported_at = :t WHERE epoch = :e AND first_seq = :a AND reason = :r"
                " AND reported_at IS NULL"
            ),
            {"t": now, "e": r.epoch, "a": r.first, "r": r.reason},
        )
