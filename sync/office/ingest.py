"""Storing one pushed batch: one transaction, idempotent, answered only after COMMIT.

Per record: stored (new), duplicate (same id, same hash: a retry; harmless), conflict (same
id, different hash: the original stays, the copy is quarantined in office_conflict), or
seq_taken (a different record already holds this kiosk/epoch/seq slot: the kiosk lost commits
and must move to a new epoch; the copy is quarantined too, so nothing is lost).

Nothing is refused for its age or content: an unreadable payload or a wrong hash is stored
with a flag. The contiguous mark `hwm` tells the kiosk how far it may advance its own mark.
The kiosk itself is checked in the same transaction: a revoked kiosk's batch is not stored.
"""

from __future__ import annotations

import hashlib
import json
import operator
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import BigInteger, Column, Float, Integer, Table, func, select, text
from sqlalchemy import tuple_ as sa_tuple
from sqlalchemy.engine import Connection, Engine

from models.health_checks import checks_detail
from sync.office import alerts, replay
from sync.office import lists as office_lists
from sync.office import tables as t
from sync.office.tables import REASONS_KEY_CHARS, day_count
from sync.schemas import Anchor as PushAnchor
from sync.schemas import LostClaim, OutboxItem, PushBatch

if TYPE_CHECKING:
    import sqlite3

    import psycopg
    from sqlalchemy.dialects.postgresql import Insert as PgInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert

try:  # orjson reads a payload in a third of json's time
    import orjson
except ImportError:  # pragma: no cover - orjson is a core dependency
    orjson = None  # type: ignore[assignment]  # mypy cannot type an optional import as "module or None"


def read_payload(text_: str) -> Any:
    """json.loads, fast. orjson is stricter (NaN, lone surrogates, integers past 64 bits): what
    it refuses goes to json, so what counts as unreadable is exactly what it was."""
    if orjson is not None:
        try:
            return orjson.loads(text_)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text_)


# Kiosk clocks before this are not believed (no RTC: 1970 after a power cut).
PLAUSIBLE_SINCE = 1577836800.0  # 2020-01-01
FUTURE_SLACK_S = 300.0
HWM_WALK_CHUNK = 5000


def dialect_insert(conn: Connection, table: Table) -> PgInsert | SqliteInsert:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


@dataclass
class Anchor:
    mono_ns: int
    server_time: float


def correct_time(item: OutboxItem, anchor: Anchor | None, received_at: float) -> tuple[float, str]:
    """The office's best estimate of when a record happened, and how it knows.

    anchored: same boot as an anchor the office saw, so office time minus the monotonic
    distance (immune to the kiosk's wall clock); device: the kiosk's wall clock, plausible;
    received: neither, so the time the office received it."""
    if anchor is not None:
        corrected = anchor.server_time - (anchor.mono_ns - item.mono_ns) / 1e9
        if PLAUSIBLE_SINCE <= corrected <= received_at + FUTURE_SLACK_S:
            return corrected, "anchored"
    if PLAUSIBLE_SINCE <= item.wall_time <= received_at + FUTURE_SLACK_S:
        return item.wall_time, "device"
    return received_at, "received"


# Every UTC offset in use (and every DST change) falls on a quarter hour, so all instants of
# one quarter hour share their local date: one strftime per quarter hour, not per record.
DAY_BUCKET_S = 900


@lru_cache(maxsize=4096)
def _bucket_day(bucket: int) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(bucket * DAY_BUCKET_S))


def _local_day(ts: float) -> str:
    try:
        return _bucket_day(int(ts // DAY_BUCKET_S))
    except (OverflowError, ValueError, OSError):  # a clock far outside what localtime knows
        return time.strftime("%Y-%m-%d", time.localtime(min(max(ts, 0.0), 253402214400.0)))


EXTRACTED = ("direction", "verdict", "reasons", "detail", "ref", "unit", "pass_kind")
# The extracted fields, in the order of EXTRACTED.
Extracted = tuple[str | None, str | None, str | None, str | None, str | None, str | None, int | None]
_NOTHING_EXTRACTED: Extracted = (None, None, None, None, None, None, None)


def _unit(value: Any) -> str | None:
    # The unit a record names, for the Records pages' unit filter (sync/office/records.py).
    return str(value)[:32] if value else None


def pass_kind_of(value: Any) -> int | None:
    """A passage's pass kind (models/kinds.py PassKind's number), for the Records pages' pass-kind
    filter: an integer of a kind byte, else None (migration 0027 reads stored rows the same way)."""
    return value if type(value) is int and 0 <= value <= 255 else None


def _passage(get: Callable[..., Any]) -> Extracted:
    reasons = get("reasons", "[]")
    # The pass it names, or the registration it signs out: where people are (sync/office/inside.py).
    ref = get("pass_id") or get("registration_id")
    checks = get("checks")
    if isinstance(checks, str):  # the kiosk's column: JSON text (models/facts.py)
        try:
            checks = json.loads(checks) if checks else None
        except ValueError:
            checks = None
    return (
        str(get("direction"))[:3],
        str(get("verdict"))[:8],
        reasons if isinstance(reasons, str) else json.dumps(reasons),
        checks_detail(checks) or None,  # what the volunteer saw (models/health_checks.py)
        str(ref)[:36] if ref else None,
        _unit(get("unit_code")),
        pass_kind_of(get("pass_kind")),
    )


def _pass_ref(get: Callable[..., Any]) -> Extracted:
    return None, None, None, None, str(get("pass_id"))[:36], _unit(get("unit_code")), None


# Per record kind, what the day report groups by: the registration's kind (models/kinds.py) and
# the fever outcome are the `detail` the office report counts per kind. Other kinds: nothing.
_EXTRACTORS: dict[str, Callable[[Callable[..., Any]], Extracted]] = {
    "passage": _passage,
    "fever_case": lambda get: (str(get("direction"))[:3], None, None, None, None, _unit(get("unit_code")), None),
    "fever_outcome": lambda get: (None, None, None, str(get("outcome"))[:32], str(get("case_id"))[:36], None, None),
    "registration": lambda get: (None, None, None, str(get("kind"))[:32], None, _unit(get("to_unit")), None),
    "pass_issued": _pass_ref,
    "pass_revoked": _pass_ref,
}


def _extract(kind: str, payload: dict[str, Any]) -> Extracted:
    """The few payload fields the day report groups by, in the order of EXTRACTED."""
    extractor = _EXTRACTORS.get(kind)
    return _NOTHING_EXTRACTED if extractor is None else extractor(payload.get)


_sha256 = hashlib.sha256


def build_row(kiosk_id: str, epoch: int, item: OutboxItem, anchor: Anchor | None, received_at: float) -> dict[str, Any]:
    """The office_record row of one pushed record (and its flags). Runs for every record of
    every push: written for speed (no intermediate dicts)."""
    text_ = item.payload
    flags = []
    if _sha256(text_.encode("utf-8")).hexdigest() != item.payload_hash:
        flags.append("bad_hash")
    try:
        payload = read_payload(text_)
        if not isinstance(payload, dict):
            raise ValueError("not an object")
        direction, verdict, reasons, detail, ref, unit, pass_kind = _extract(item.kind, payload)
    except (ValueError, TypeError, RecursionError):
        flags.append("unreadable")
        direction = verdict = reasons = detail = ref = unit = None
        pass_kind = None
    corrected, quality = correct_time(item, anchor, received_at)
    if quality == "received":
        flags.append("clock")
    row = {
        "record_id": item.record_id,
        "kiosk_id": kiosk_id,
        "epoch": epoch,
        "seq": item.seq,
        "kind": item.kind,
        "payload": text_,
        "payload_hash": item.payload_hash,
        "device_time": item.wall_time,
        "corrected_time": corrected,
        "received_at": received_at,
        "time_quality": quality,
        "day": _local_day(corrected),
        "hlc": item.hlc,
        "boot_id": item.boot_id,
        "mono_ns": item.mono_ns,
        "clock_flag": item.clock_flag,
        "versions": item.versions,
        "direction": direction,
        "verdict": verdict,
        "reasons": reasons,
        "detail": detail,
        "ref": ref,
        "unit": unit,
        "pass_kind": pass_kind,
    }
    # PostgreSQL cannot store a NUL character in text: one in any field would fail the whole
    # batch with a 503 on every retry and block the kiosk's queue for ever. Store the record
    # with U+FFFD instead and flag it (the claimed hash is kept, so the copy stays comparable).
    # The envelope's text never holds one (the schema refuses it: 422), so a NUL can only come
    # out of the payload's JSON, written as the escape \u0000: only then is the row searched.
    if "\\u0000" in text_:
        for key, value in row.items():
            if isinstance(value, str) and "\x00" in value:
                row[key] = value.replace("\x00", "\ufffd")
                if "nul" not in flags:
                    flags.append("nul")
    row["flags"] = ",".join(flags)
    return row


def _outcomes_on_case_day(conn: Connection, kiosk_id: str, rows: list[dict[str, Any]], *, look_up: bool = True) -> bool:
    """A fever outcome is dated, and so counted, on its case's day (the kiosk counts it there
    too: a case opened at 23:58 and rechecked at 00:02 is the first day's). The case is in the
    same batch or one the office already holds (its `ref` names it); one look-up only for cases
    held before. A case the office has not seen (a batch out of order) leaves the outcome on
    its own day. `look_up=False`: only if no look-up is needed; False (and nothing changed) when one is."""
    refs = {r["ref"] for r in rows if r["kind"] == "fever_outcome" and r["ref"]}
    if not refs:
        return True
    days = {r["record_id"]: r["day"] for r in rows if r["kind"] == "fever_case" and r["record_id"] in refs}
    held = refs - set(days)
    if held and not look_up:
        return False
    if held:
        days.update(
            conn.execute(
                select(t.record.c.record_id, t.record.c.day).where(
                    t.record.c.kiosk_id == kiosk_id,
                    t.record.c.record_id.in_(sorted(held)),
                    t.record.c.kind == "fever_case",
                )
            ).all()
        )
    for r in rows:
        if r["kind"] == "fever_outcome" and r["ref"] in days:
            r["day"] = days[r["ref"]]
    return True


# The day counts' key columns, in the primary key's order (day, kiosk_id, kind, direction, ...).
DAY_COUNT_KEY = [c.name for c in day_count.primary_key.columns]
# One day-count group's key, in the order of DAY_COUNT_KEY.
DayKey = tuple[str, str, str, str, str, str, str]


def _day_groups(rows: Iterable[dict[str, Any]]) -> list[tuple[DayKey, int]]:
    """The stored records' day-count groups, sorted: two transactions that touch the same
    counters lock them in the same order. A batch makes a handful of groups."""
    groups: dict[DayKey, int] = {}
    for r in rows:
        key: DayKey = (
            r["day"],
            r["kiosk_id"],
            r["kind"],
            r["direction"] or "",
            r["verdict"] or "",
            (r["reasons"] or "")[:REASONS_KEY_CHARS],
            r["detail"] or "",
        )
        groups[key] = groups.get(key, 0) + 1
    return sorted(groups.items())


def count_days(conn: Connection, rows: Iterable[dict[str, Any]]) -> None:
    """Add stored records to the day counts, in the transaction that stores them: grouped
    here, then one upsert. (PostgreSQL's ingest does this inside `PG_CLOSE_BATCH`.)"""
    groups = _day_groups(rows)
    if not groups:
        return
    values = [dict(zip(DAY_COUNT_KEY, key, strict=False), n=n) for key, n in groups]
    stmt = dialect_insert(conn, day_count).values(values)
    conn.execute(stmt.on_conflict_do_update(index_elements=DAY_COUNT_KEY, set_={"n": day_count.c.n + stmt.excluded.n}))


LAST_PASSAGE_COLUMNS = [c.name for c in t.last_passage.columns]
_LAST_KEY = operator.itemgetter("hlc", "seq", "record_id")  # the order the kiosk wrote its records in


def last_passages(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Of stored records, each pass's (or registration's) last allowed passage, as its
    office_last_passage row (sync/office/inside.py), sorted by key: two transactions that touch
    the same rows lock them in the same order. One per key: an upsert may touch a row once."""
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        if r["kind"] != "passage" or r["verdict"] != "allow" or not r["ref"]:
            continue
        key = (r["kiosk_id"], r["ref"])
        held = last.get(key)
        if held is None or _LAST_KEY(r) > _LAST_KEY(held):
            last[key] = r
    return [{c: last[key][c] for c in LAST_PASSAGE_COLUMNS} for key in sorted(last)]


def note_last_passages(conn: Connection, rows: Iterable[dict[str, Any]]) -> None:
    """Keep office_last_passage in the transaction that stores the records: one upsert, which
    replaces a row only with a passage written after it (a late batch's older passage leaves it).
    (PostgreSQL's ingest does this inside `PG_CLOSE_BATCH`.)"""
    values = last_passages(rows)
    if not values:
        return
    lp = t.last_passage
    stmt = dialect_insert(conn, lp).values(values)
    newer = sa_tuple(stmt.excluded.hlc, stmt.excluded.seq, stmt.excluded.record_id) > sa_tuple(
        lp.c.hlc, lp.c.seq, lp.c.record_id
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["kiosk_id", "ref"],
            set_={c: stmt.excluded[c] for c in LAST_PASSAGE_COLUMNS if c not in ("kiosk_id", "ref")},
            where=newer,
        )
    )


RECORD_COLUMNS = [c.name for c in t.record.columns]
# PostgreSQL array types for unnest(), per column.
PG_ARRAY_TYPES = {
    "epoch": "int4[]",
    "seq": "int8[]",
    "hlc": "int8[]",
    "mono_ns": "int8[]",
    "device_time": "float8[]",
    "corrected_time": "float8[]",
    "received_at": "float8[]",
    "pass_kind": "int4[]",
}


def _pg_driver(conn: Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under a PostgreSQL Connection (SQLAlchemy types it as any DBAPI's, or None)."""
    return cast("psycopg.Connection[Any]", conn.connection.driver_connection)


def _copy_fresh(conn: Connection, rows: list[dict[str, Any]], *, savepoint_open: bool = False) -> bool:
    """PostgreSQL: COPY the batch in a savepoint, betting that every record is new (true for
    nearly every batch: retries and replays are the exception). True when it won; on any
    unique violation (a duplicate, a conflict, a taken slot) the savepoint is rolled back -
    nothing of the batch stays - and the caller takes the ON CONFLICT path, which sorts each
    record out. COPY skips the per-row speculative insertion ON CONFLICT needs.
    `savepoint_open`: the caller already sent SAVEPOINT office_copy (pipelined with its own
    first statement, one round trip less)."""
    import psycopg.errors

    cur = _pg_driver(conn).cursor()
    try:
        if not savepoint_open:
            cur.execute("SAVEPOINT office_copy")
        try:
            with cur.copy(COPY_RECORDS) as copy:
                copy.set_types(COPY_TYPES)
                write = copy.write_row
                for r in rows:
                    write(_record_values(r))
        except psycopg.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT office_copy")
            return False
        # No RELEASE: COMMIT releases it, and every round trip counts at 40 batches a second.
        return True
    finally:
        cur.close()


def _pg_type(column: Column[Any]) -> str:
    if isinstance(column.type, BigInteger):
        return "int8"
    if isinstance(column.type, Integer):
        return "int4"
    if isinstance(column.type, Float):
        return "float8"  # SQLAlchemy's Float is double precision on PostgreSQL
    return "text"  # varchar and text share their binary form


# Binary COPY: a third of text COPY's formatting time in Python (numbers are packed, not
# printed), the same for the server. Its types must be the columns' own (from tables.py).
COPY_RECORDS = f"COPY office_record ({', '.join(RECORD_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
COPY_TYPES = [_pg_type(c) for c in t.record.columns]
_record_values = operator.itemgetter(*RECORD_COLUMNS)


def insert_records(conn: Connection, rows: list[dict[str, Any]], *, savepoint_open: bool = False) -> set[str]:
    """Insert with ON CONFLICT DO NOTHING (record id and kiosk/epoch/seq); the ids stored now.

    PostgreSQL: COPY when the whole batch is new (see `_copy_fresh`), else one INSERT ...
    SELECT FROM unnest(arrays) - one statement whatever the batch size (a multi-row VALUES list
    costs more to parse than to run). SQLite: the write lock is held (BEGIN IMMEDIATE), so "not
    there before, there after" means "stored by us"."""
    if conn.dialect.name == "postgresql":
        if _copy_fresh(conn, rows, savepoint_open=savepoint_open):
            return {r["record_id"] for r in rows}
        cols = ", ".join(RECORD_COLUMNS)
        arrays = ", ".join(f"%({c})b::{PG_ARRAY_TYPES.get(c, 'text[]')}" for c in RECORD_COLUMNS)
        params = {c: [r[c] for r in rows] for c in RECORD_COLUMNS}
        result = conn.exec_driver_sql(
            f"INSERT INTO office_record ({cols}) SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING RETURNING record_id",
            params,
        )
        return {r[0] for r in result}
    ids = [r["record_id"] for r in rows]
    before = set(conn.execute(select(t.record.c.record_id).where(t.record.c.record_id.in_(ids))).scalars())
    fresh = [r for r in rows if r["record_id"] not in before]
    if not fresh:
        return set()
    placeholders = ", ".join("?" for _ in RECORD_COLUMNS)
    cursor = cast("sqlite3.Connection", conn.connection.driver_connection).cursor()
    try:
        cursor.executemany(
            f"INSERT INTO office_record ({', '.join(RECORD_COLUMNS)}) VALUES ({placeholders}) ON CONFLICT DO NOTHING",
            [tuple(r[c] for c in RECORD_COLUMNS) for r in fresh],
        )
        inserted = cursor.rowcount
    finally:
        cursor.close()
    if inserted == len(fresh):
        return {r["record_id"] for r in fresh}
    return set(
        conn.execute(
            select(t.record.c.record_id).where(t.record.c.record_id.in_([r["record_id"] for r in fresh]))
        ).scalars()
    )


def lock_epoch(conn: Connection, kiosk_id: str, epoch: int) -> int:
    """Create the (kiosk, epoch) mark if new and lock it; returns its hwm. One round trip: the
    no-op DO UPDATE takes the row lock (as SELECT ... FOR UPDATE would) and returns the mark."""
    # DO UPDATE sets the mark to itself: the stored mark stays, the row is locked either way.
    stmt = (
        dialect_insert(conn, t.kiosk_epoch)
        .values(kiosk_id=kiosk_id, epoch=epoch, hwm=0)
        .on_conflict_do_update(index_elements=["kiosk_id", "epoch"], set_={"hwm": t.kiosk_epoch.c.hwm})
    )
    return int(conn.execute(stmt.returning(t.kiosk_epoch.c.hwm)).scalar_one())


def advance_hwm(
    conn: Connection, kiosk_id: str, epoch: int, hwm: int, stored_seqs: Iterable[int] = (), *, lost: bool = False
) -> int:
    """Walk the stored seqs above the mark while they are contiguous (batches may arrive out of order).

    `stored_seqs` are seqs this transaction just inserted (so certainly in the table): the walk
    through them needs no query, and the query then only looks beyond them - usually finding
    nothing, instead of reading back the whole batch. `lost`: the walk also steps over the
    ranges the kiosk said it lost (office_lost_range), for a batch that names some."""
    start = hwm
    known = set(stored_seqs)
    while True:
        hwm = _walk_records(conn, kiosk_id, epoch, hwm, known)
        beyond = _lost_end(conn, kiosk_id, epoch, hwm) if lost else None
        if beyond is None:
            break
        hwm = beyond
    if hwm != start:
        conn.execute(
            t.kiosk_epoch.update()
            .where(t.kiosk_epoch.c.kiosk_id == kiosk_id, t.kiosk_epoch.c.epoch == epoch)
            .values(hwm=hwm)
        )
    return hwm


def _lost_end(conn: Connection, kiosk_id: str, epoch: int, hwm: int) -> int | None:
    """The end of the lost range that holds seq hwm + 1, or None."""
    lr = t.lost_range.c
    end = conn.execute(
        select(func.max(lr.last_seq)).where(
            lr.kiosk_id == kiosk_id,
            lr.epoch == epoch,
            lr.status == "lost",
            lr.first_seq <= hwm + 1,
            lr.last_seq > hwm,
        )
    ).scalar()
    return int(end) if end is not None else None


def _walk_records(conn: Connection, kiosk_id: str, epoch: int, hwm: int, known: set[int]) -> int:
    while hwm + 1 in known:
        hwm += 1
    while True:
        seqs = (
            conn.execute(
                text(
                    "SELECT seq FROM office_record WHERE kiosk_id = :k AND epoch = :e AND seq > :h ORDER BY seq LIMIT :n"
                ),
                {"k": kiosk_id, "e": epoch, "h": hwm, "n": HWM_WALK_CHUNK},
            )
            .scalars()
            .all()
        )
        for seq in seqs:
            if seq != hwm + 1:
                break
            hwm = seq
        else:
            if len(seqs) == HWM_WALK_CHUNK:
                continue
        break
    return hwm


def _runs(seqs: list[int], first: int, last: int) -> tuple[list[tuple[int, int]], int]:
    """The runs of [first, last] not in `seqs` (sorted, all inside), and how many are."""
    gaps, at = [], first
    for seq in seqs:
        if seq > at:
            gaps.append((at, seq - 1))
        at = seq + 1
    if at <= last:
        gaps.append((at, last))
    return gaps, len(seqs)


def record_lost(conn: Connection, kiosk_id: str, claims: list[LostClaim], received_at: float) -> tuple[int, set[int]]:
    """Keep a batch's lost claims (the problem record): the seqs the office does not hold as
    "lost", minus those already kept; a claim over held seqs is kept as "refused" with how many
    it holds, and those records stay as they are. Returns (seqs newly counted lost, epochs named)."""
    lr = t.lost_range.c
    counted = 0
    epochs: set[int] = set()
    for claim in claims:
        epochs.add(claim.epoch)
        in_claim = (
            t.record.c.kiosk_id == kiosk_id,
            t.record.c.epoch == claim.epoch,
            t.record.c.seq >= claim.first,
            t.record.c.seq <= claim.last,
        )
        held = [
            int(s) for s in conn.execute(select(t.record.c.seq).where(*in_claim).order_by(t.record.c.seq)).scalars()
        ]
        kept = conn.execute(
            select(lr.first_seq, lr.last_seq, lr.status).where(
                lr.kiosk_id == kiosk_id, lr.epoch == claim.epoch, lr.first_seq <= claim.last, lr.last_seq >= claim.first
            )
        ).all()
        gaps, n_held = _runs(held, claim.first, claim.last)
        rows = []
        for a, b in gaps:
            # What an earlier copy of the claim already counted is not counted twice.
            for ka, kb, status in sorted(kept):
                if status != "lost" or kb < a or ka > b:
                    continue
                if ka > a:
                    rows.append((a, ka - 1))
                a = max(a, kb + 1)
                if a > b:
                    break
            if a <= b:
                rows.append((a, b))
        base = {"kiosk_id": kiosk_id, "epoch": claim.epoch, "reason": claim.reason, "received_at": received_at}
        values = [base | {"first_seq": a, "last_seq": b, "status": "lost", "held": 0} for a, b in rows]
        if n_held and (claim.first, claim.last, "refused") not in {(ka, kb, st) for ka, kb, st in kept}:
            values.append(
                base | {"first_seq": claim.first, "last_seq": claim.last, "status": "refused", "held": n_held}
            )
        if values:
            conn.execute(t.lost_range.insert(), values)
        for a, b in rows:  # each range newly counted lost is an alert at the office (sync/office/alerts.py)
            alerts.record_lost(conn, kiosk_id, claim.epoch, a, b, now=received_at)
        counted += sum(b - a + 1 for a, b in rows)
    return counted, epochs


def _anchors(
    conn: Connection, kiosk_id: str, boot_ids: Iterable[str], current: tuple[str, Anchor]
) -> dict[str, Anchor]:
    """The anchors of the boots the records were written in. `current` is the anchor this
    batch just set: when every record is from the kiosk's current boot (the usual case) there
    is nothing to read."""
    wanted = set(boot_ids) - {current[0]}
    if not wanted:
        return dict([current])
    rows = conn.execute(
        select(t.boot_anchor.c.boot_id, t.boot_anchor.c.mono_ns, t.boot_anchor.c.server_time).where(
            t.boot_anchor.c.kiosk_id == kiosk_id, t.boot_anchor.c.boot_id.in_(sorted(wanted))
        )
    )
    return {b: Anchor(m, s) for b, m, s in rows} | dict([current])


def _stored_hashes(conn: Connection, record_ids: list[str]) -> dict[str, str]:
    """record id -> payload hash of those the office holds. PostgreSQL: one array parameter
    (= ANY) instead of an IN list of up to 2,000 bind parameters, which costs more to build
    than to run."""
    if conn.dialect.name == "postgresql":
        return dict(
            conn.exec_driver_sql(
                "SELECT record_id, payload_hash FROM office_record WHERE record_id = ANY(%(ids)s::text[])",
                {"ids": record_ids},
            ).all()
        )
    out: dict[str, str] = {}
    for i in range(0, len(record_ids), 500):
        out.update(
            conn.execute(
                select(t.record.c.record_id, t.record.c.payload_hash).where(
                    t.record.c.record_id.in_(record_ids[i : i + 500])
                )
            ).all()
        )
    return out


PASS_KINDS = ("pass_issued", "pass_revoked")


def _vet_passes(
    conn: Connection, kiosk_id: str, rows: list[dict[str, Any]], received_at: float
) -> dict[str, dict[str, Any]]:
    """Note the passes this batch says were issued, then vet its revocations; returns the revoked
    list's items to publish."""
    from sync.office import vouch

    vouch.note_issued(conn, kiosk_id, rows, received_at)
    return vouch.vet_revocations(conn, kiosk_id, rows, received_at)


class KioskRefused(Exception):
    """The kiosk's row no longer takes this push: revoked (perhaps by another process, e.g.
    `kakou office revoke-kiosk`) or holding another key than the one the signature was
    checked with. Raised inside the transaction: nothing of the batch is stored."""


# PostgreSQL: a push is a fixed handful of statements with constant text, sent through the
# driver (psycopg prepares them after a few uses); building SQLAlchemy Core statements cost
# more than running them. The first opens the batch: locks (creating if new) the kiosk/epoch
# mark, whose row serialises pushes of one epoch, and sets this boot's clock anchor.
PG_OPEN_BATCH = """
WITH anchor AS (
    INSERT INTO office_boot_anchor (kiosk_id, boot_id, mono_ns, server_time, wall)
    VALUES (%(k)s, %(boot)s, %(mono)s::int8, %(now)s::float8, %(wall)s::float8)
    ON CONFLICT (kiosk_id, boot_id) DO UPDATE
    SET mono_ns = excluded.mono_ns, server_time = excluded.server_time, wall = excluded.wall
)
INSERT INTO office_kiosk_epoch (kiosk_id, epoch, hwm) VALUES (%(k)s, %(e)s::int4, 0)
ON CONFLICT (kiosk_id, epoch) DO UPDATE SET hwm = office_kiosk_epoch.hwm
RETURNING hwm, max_seq
"""

# The last closes it in one round trip: walks the mark on through records held above this
# batch (batches may arrive out of order: seq = mark + row number holds exactly up to the
# first gap), adds the stored records to the day counts and their passes' last passages
# (`note_last_passages`), notes the kiosk's contact - only
# if its row still has the key the signature was checked with and is not revoked (the row
# lock makes this exact: a revocation committed first refuses this push, one committed after
# waits for it) - and reads the list versions. Unreferenced CTEs run after the main query.
PG_CLOSE_BATCH = """
WITH walk AS (
    SELECT coalesce(max(seq), %(h)s::int8) AS hwm FROM (
        SELECT seq, row_number() OVER (ORDER BY seq) AS rn FROM (
            SELECT seq FROM office_record
            WHERE kiosk_id = %(k)s AND epoch = %(e)s::int4 AND seq > %(h)s::int8
            ORDER BY seq LIMIT %(chunk)s::int8) AS beyond) AS numbered
    WHERE seq = %(h)s::int8 + rn
), mark AS (
    UPDATE office_kiosk_epoch SET hwm = (SELECT hwm FROM walk), max_seq = greatest(max_seq, %(top)s::int8)
    WHERE kiosk_id = %(k)s AND epoch = %(e)s::int4
      AND (hwm <> (SELECT hwm FROM walk) OR max_seq < %(top)s::int8)
), counts AS (
    INSERT INTO office_day_count (day, kiosk_id, kind, direction, verdict, reasons, detail, n)
    SELECT * FROM unnest(%(c_day)s::text[], %(c_kiosk_id)s::text[], %(c_kind)s::text[], %(c_direction)s::text[],
                         %(c_verdict)s::text[], %(c_reasons)s::text[], %(c_detail)s::text[], %(c_n)s::int8[])
    ON CONFLICT (day, kiosk_id, kind, direction, verdict, reasons, detail)
    DO UPDATE SET n = office_day_count.n + excluded.n
), last_passages AS (
    INSERT INTO office_last_passage AS l (kiosk_id, ref, hlc, seq, record_id, corrected_time, day, direction, unit,
                                          pass_kind)
    SELECT %(k)s::text, * FROM unnest(%(l_ref)s::text[], %(l_hlc)s::int8[], %(l_seq)s::int8[],
                                      %(l_record_id)s::text[], %(l_corrected_time)s::float8[], %(l_day)s::text[],
                                      %(l_direction)s::text[], %(l_unit)s::text[], %(l_pass_kind)s::int4[])
    ON CONFLICT (kiosk_id, ref) DO UPDATE SET hlc = excluded.hlc, seq = excluded.seq, record_id = excluded.record_id,
        corrected_time = excluded.corrected_time, day = excluded.day, direction = excluded.direction,
        unit = excluded.unit, pass_kind = excluded.pass_kind
    WHERE (excluded.hlc, excluded.seq, excluded.record_id) > (l.hlc, l.seq, l.record_id)
), seen AS (
    UPDATE office_kiosk SET last_seen = %(now)s::float8, last_push = %(now)s::float8, backlog = %(backlog)s::int4,
        oldest_pending = %(oldest)s::float8, clock_skew = %(skew)s::float8, list_versions = %(lists)s,
        max_epoch = greatest(max_epoch, %(e)s::int4)
    WHERE kiosk_id = %(k)s AND status <> 'revoked' AND (%(pk)s::text IS NULL OR public_key = %(pk)s::text)
    RETURNING kiosk_id
)
SELECT (SELECT hwm FROM walk), (SELECT count(*) FROM seen),
       array(SELECT name FROM office_list ORDER BY name), array(SELECT version FROM office_list ORDER BY name)
"""

# The same, when the mark's walk is known to end where the caller put it (PG_HELD read the slots
# after the batch): no query over every day's partition, not even to plan one.
PG_CLOSE_BATCH_NO_WALK = PG_CLOSE_BATCH.replace(
    """WITH walk AS (
    SELECT coalesce(max(seq), %(h)s::int8) AS hwm FROM (
        SELECT seq, row_number() OVER (ORDER BY seq) AS rn FROM (
            SELECT seq FROM office_record
            WHERE kiosk_id = %(k)s AND epoch = %(e)s::int4 AND seq > %(h)s::int8
            ORDER BY seq LIMIT %(chunk)s::int8) AS beyond) AS numbered
    WHERE seq = %(h)s::int8 + rn
""",
    "WITH walk AS (SELECT %(h)s::int8 AS hwm",
)
assert PG_CLOSE_BATCH_NO_WALK != PG_CLOSE_BATCH


# What the office already holds of a batch (PostgreSQL, office_record partitioned by day: see
# sync/office/partitions.py). A partitioned table's unique constraints must hold the day, so they
# no longer see a copy on another day. Slots: a retry always comes in its own slot (kiosk, epoch,
# seq), whatever day it corrects onto (a "received" time, a re-anchored boot), so the slots of the
# batch's seq range (and the one after it, for the mark's walk) are looked up on every day: one
# range probe per partition. Record ids: on the batch's days and the day either side of each
# (where a copy resent in a new epoch lands) - probing 500 ids in every partition would cost more
# than the rest of the push; an id another kiosk used on a far day is stored beside the first
# (sealed.lookup opens the first received). Runs under the epoch's lock (PG_OPEN_BATCH): no push of
# this kiosk's epoch can take a slot between this look and the COPY.
# Two statements, pipelined: the ids' is planned with its days (two or three partitions opened);
# the slots' touches every partition, and with no array in it its plan is reused as is.
PG_HELD_IDS = (
    "SELECT record_id FROM office_record WHERE record_id = ANY(%(ids)s::text[]) AND day = ANY(%(days)s::text[])"
)
PG_HELD_SLOTS = "SELECT seq FROM office_record WHERE kiosk_id = %(k)s AND epoch = %(e)s::int4 AND seq BETWEEN %(lo)s::int8 AND %(hi)s::int8"
HELD_RANGE_SLACK = 4  # a batch whose seqs spread wider than this many times its size: its seqs are looked up one by one


@dataclass
class Held:
    """What the office holds already of a batch's record ids and of the slots in `seq_range`
    (its kiosk/epoch's, from the batch's first seq to one past its last)."""

    record_ids: set[str]
    seqs: set[int]
    seq_range: tuple[int, int] = (1, 0)


NO_HELD = Held(set(), set())
_PARTITIONED: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()


def _partitioned(conn: Connection) -> bool:
    """Whether this engine's office_record is partitioned (after 0023, always; before it, as an
    office at an older revision runs in the benchmarks' baseline): asked once per engine."""
    engine = conn.engine
    found = _PARTITIONED.get(engine)
    if found is None:
        from sync.office.partitions import is_partitioned

        found = _PARTITIONED[engine] = is_partitioned(conn)
    return found


def _days_around(days: Iterable[str]) -> list[str]:
    import datetime as dt

    out: set[str] = set()
    for day in days:
        try:
            d = dt.date.fromisoformat(day)
        except ValueError:
            continue
        out.update((d + dt.timedelta(days=i)).isoformat() for i in (-1, 0, 1))
    return sorted(out)


def _held_ids_params(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {"ids": [r["record_id"] for r in rows], "days": _days_around({r["day"] for r in rows})}


def _held_pg(
    conn: Connection,
    kiosk_id: str,
    epoch: int,
    rows: list[dict[str, Any]],
    max_seq: int,
    *,
    held_ids: set[str] | None = None,
) -> Held:
    """PG_HELD for these rows (a partitioned office_record only: a plain table's keys see every day).
    `max_seq`: the highest seq the epoch ever stored; a batch wholly above it holds no slot, nor
    does any seq after it (the mark's walk ends in the batch): only its ids are looked up.
    `held_ids`: PG_HELD_IDS's answer, already asked with the batch's opening (`_open_batch_pg`)."""
    if not rows or not _partitioned(conn):
        return NO_HELD
    seqs = [r["seq"] for r in rows]
    lo, hi = min(seqs), max(seqs) + 1
    wanted = set(seqs) | {hi}
    if held_ids is not None:
        whole = (lo, hi) if len(wanted) == hi - lo + 1 else (1, 0)
        if lo > max_seq:
            return Held(held_ids, set(), whole)
        held = _held_pg(conn, kiosk_id, epoch, rows, max_seq)  # the slots too: a retry, most likely
        return Held(held_ids | held.record_ids, held.seqs, held.seq_range)
    if lo > max_seq:
        cur = _pg_driver(conn).cursor()
        try:
            cur.execute(PG_HELD_IDS, _held_ids_params(rows))
            return Held({rid for (rid,) in cur.fetchall()}, set(), (lo, hi) if len(wanted) == hi - lo + 1 else (1, 0))
        finally:
            cur.close()
    dconn = _pg_driver(conn)
    ids_cur, slots_cur = dconn.cursor(), dconn.cursor()
    try:
        with dconn.pipeline():
            ids_cur.execute(PG_HELD_IDS, _held_ids_params(rows))
            if hi - lo < HELD_RANGE_SLACK * len(rows):
                slots_cur.execute(PG_HELD_SLOTS, {"k": kiosk_id, "e": epoch, "lo": lo, "hi": hi})
            else:  # seqs far apart (a forger's, or lost records resent): no range to read
                slots_cur.execute(
                    "SELECT seq FROM office_record WHERE kiosk_id = %(k)s AND epoch = %(e)s::int4"
                    " AND seq = ANY(%(seqs)s::int8[])",
                    {"k": kiosk_id, "e": epoch, "seqs": sorted(wanted)},
                )
        held = Held(
            {rid for (rid,) in ids_cur.fetchall()},
            {int(seq) for (seq,) in slots_cur.fetchall()} & wanted,
            (lo, hi) if len(wanted) == hi - lo + 1 else (1, 0),
        )
        return held
    finally:
        ids_cur.close()
        slots_cur.close()


def _open_batch_pg(
    conn: Connection,
    kiosk_id: str,
    epoch: int,
    a: PushAnchor,
    received_at: float,
    *,
    savepoint: bool,
    stamp: int | None = None,
    rows: list[dict[str, Any]] | None = None,
) -> tuple[int, int, set[str] | None]:
    """PG_OPEN_BATCH, pipelined with the transaction's BEGIN, the request's stamp (`stamp`:
    replay.PG_CLAIM, before the batch's lock, as `replay.claim` would take it), PG_HELD_IDS for
    `rows` (built already: after the lock, so nothing of this kiosk's epoch lands in between)
    and (when records follow) the COPY's savepoint: one round trip instead of five. Returns
    the mark, the epoch's highest seq stored, and the ids of `rows` held already (None: not asked).
    A stamp not taken raises StaleRequest (leaving the block rolls it all back)."""
    dconn = _pg_driver(conn)
    cur, claim_cur, ids_cur = dconn.cursor(), dconn.cursor(), dconn.cursor()
    try:
        with dconn.pipeline():
            if stamp is not None:
                claim_cur.execute(replay.PG_CLAIM, {"k": kiosk_id, "stamp": stamp})
            cur.execute(
                PG_OPEN_BATCH,
                {"k": kiosk_id, "e": epoch, "boot": a.boot_id, "mono": a.mono_ns, "now": received_at, "wall": a.wall},
            )
            if rows:
                ids_cur.execute(PG_HELD_IDS, _held_ids_params(rows))
            if savepoint:
                dconn.execute("SAVEPOINT office_copy")
        if stamp is not None and claim_cur.rowcount != 1:
            raise replay.refuse(conn, kiosk_id)
        # fetchone() is typed "or None"; INSERT ... ON CONFLICT DO UPDATE ... RETURNING always gives its row.
        hwm, max_seq = cast("tuple[Any, ...]", cur.fetchone())
        held = {rid for (rid,) in ids_cur.fetchall()} if rows else None
        return int(hwm), int(max_seq), held
    finally:
        cur.close()
        claim_cur.close()
        ids_cur.close()


def _dropped_pg(conn: Connection, kiosk_id: str, epoch: int, hwm: int, rows: list[dict[str, Any]]) -> set[str]:
    """The ids of rows whose slot is at or below the kiosk's mark yet not held (PG_HELD found no
    record there) and not in a range the kiosk said it lost: the office held them, and their day
    was dropped at the end of retention (`partitions.drop_days_before`). A retry of one must not
    be stored (and counted) a second time. Only a batch below the mark (a retry) asks the database."""
    below = [r for r in rows if r["seq"] <= hwm]
    if not below:
        return set()
    lr = t.lost_range.c
    lost = conn.execute(
        select(lr.first_seq, lr.last_seq).where(
            lr.kiosk_id == kiosk_id,
            lr.epoch == epoch,
            lr.status == "lost",
            lr.first_seq <= max(r["seq"] for r in below),
            lr.last_seq >= min(r["seq"] for r in below),
        )
    ).all()
    return {r["record_id"] for r in below if not any(first <= r["seq"] <= last for first, last in lost)}


def _insertable_pg(rows: list[dict[str, Any]], held: Held) -> list[dict[str, Any]]:
    """The rows to try to store: not held already (PG_HELD), and each record id and slot once
    within the batch (two copies on different days would both pass the day's constraints)."""
    if (
        not held.record_ids
        and not held.seqs
        and len({r["record_id"] for r in rows}) == len({r["seq"] for r in rows}) == len(rows)
    ):
        return rows  # nearly every batch
    ids, seqs, out = set(held.record_ids), set(held.seqs), []
    for r in rows:
        if r["record_id"] in ids or r["seq"] in seqs:
            continue
        ids.add(r["record_id"])
        seqs.add(r["seq"])
        out.append(r)
    return out


def _close_batch_pg(
    conn: Connection,
    kiosk_id: str,
    batch: PushBatch,
    hwm: int,
    stored_rows: list[dict[str, Any]],
    received_at: float,
    public_key: str | None,
    held: Held = NO_HELD,
) -> tuple[int, bool, dict[str, int]]:
    """PG_CLOSE_BATCH; returns (mark, whether the kiosk's row took the push, list versions).
    `held`: what PG_HELD found; where it tells the walk stops inside its range, the walk's query
    (a probe of every partition) is not run."""
    known = {r["seq"] for r in stored_rows} | held.seqs
    while hwm + 1 in known:  # seqs held (stored now, or found by PG_HELD): no need to read them
        hwm += 1
    lo, hi = held.seq_range
    chunk = 0 if lo <= hwm + 1 <= hi else HWM_WALK_CHUNK  # seq hwm + 1 is known not held: the walk ends here
    groups = _day_groups(stored_rows)
    params = {
        "k": kiosk_id,
        "e": batch.epoch,
        "h": hwm,
        "top": max((r["seq"] for r in stored_rows), default=0),
        "chunk": chunk,
        "now": received_at,
        "backlog": batch.backlog,
        "oldest": batch.oldest_pending,
        "skew": batch.anchor.wall - received_at,
        "lists": json.dumps(batch.list_versions, sort_keys=True),
        "pk": public_key,
    }
    for i, column in enumerate(DAY_COUNT_KEY):
        params[f"c_{column}"] = [key[i] for key, _n in groups]
    params["c_n"] = [n for _key, n in groups]
    last = last_passages(stored_rows)  # this kiosk's rows only: the key's kiosk is %(k)s
    for column in LAST_PASSAGE_COLUMNS[1:]:
        params[f"l_{column}"] = [r[column] for r in last]
    cur = _pg_driver(conn).cursor()
    try:
        cur.execute(PG_CLOSE_BATCH_NO_WALK if chunk == 0 else PG_CLOSE_BATCH, params)
        # fetchone() is typed "or None"; a SELECT of scalar subqueries with no FROM always gives one row.
        walked, seen, names, versions = cast("tuple[Any, ...]", cur.fetchone())
    finally:
        cur.close()
    if walked - hwm == HWM_WALK_CHUNK:  # a whole chunk held above: walk on (rare)
        walked = advance_hwm(conn, kiosk_id, batch.epoch, walked)
    return int(walked), bool(seen), {n: int(v) for n, v in zip(names, versions, strict=False)}


def ingest(
    engine: Engine,
    kiosk_id: str,
    batch: PushBatch,
    *,
    before_commit: Callable[[], object] | None = None,
    public_key: str | None = None,
    stamp: int | None = None,
) -> dict[str, Any]:
    """Store one batch (see the module's words). `public_key`: the key (hex) the push's
    signature was checked with, perhaps from a cache. The kiosk's row must still hold it and
    not be revoked when the batch commits - checked in this transaction, so a revocation made
    by any process refuses the very next push (KioskRefused, nothing stored). None: only the
    revocation is checked. `stamp`: the request's, taken in this transaction (a replay stores
    nothing: `replay.claim`)."""
    received_at = time.time()
    epoch = batch.epoch
    a = batch.anchor
    with engine.begin() as conn:
        pg = conn.dialect.name == "postgresql"
        claimed = pg and replay.pipelines(stamp, now=received_at)  # sent with the batch's opening
        if not claimed:
            replay.claim(conn, kiosk_id, stamp, now=received_at)
        current = (a.boot_id, Anchor(a.mono_ns, received_at))
        # The usual batch (every record of the kiosk's current boot, no fever outcome whose case
        # the office must look up) is built before the batch opens, so what the office already
        # holds of its ids is asked in the opening's round trip.
        early = None
        if pg and batch.records and _partitioned(conn) and all(r.boot_id == a.boot_id for r in batch.records):
            early = [build_row(kiosk_id, epoch, r, current[1], received_at) for r in batch.records]
            if not _outcomes_on_case_day(conn, kiosk_id, early, look_up=False):
                early = None
        held_ids: set[str] | None = None
        if pg:
            hwm, max_seq, held_ids = _open_batch_pg(
                conn,
                kiosk_id,
                epoch,
                a,
                received_at,
                savepoint=bool(batch.records),
                stamp=stamp if claimed else None,
                rows=early,
            )
        else:
            hwm = lock_epoch(conn, kiosk_id, epoch)
            conn.execute(
                dialect_insert(conn, t.boot_anchor)
                .values(kiosk_id=kiosk_id, boot_id=a.boot_id, mono_ns=a.mono_ns, server_time=received_at, wall=a.wall)
                .on_conflict_do_update(
                    index_elements=["kiosk_id", "boot_id"],
                    set_={"mono_ns": a.mono_ns, "server_time": received_at, "wall": a.wall},
                )
            )
        if early is not None:
            rows = early
        else:
            anchors = _anchors(conn, kiosk_id, {r.boot_id for r in batch.records}, current)
            rows = [build_row(kiosk_id, epoch, r, anchors.get(r.boot_id), received_at) for r in batch.records]
            _outcomes_on_case_day(conn, kiosk_id, rows)
        insertable, gone, held = rows, set(), NO_HELD
        if pg and rows and _partitioned(conn):
            held = _held_pg(conn, kiosk_id, epoch, rows, max_seq, held_ids=held_ids)
            insertable = _insertable_pg(rows, held)
            gone = _dropped_pg(conn, kiosk_id, epoch, hwm, insertable)
            if gone:
                insertable = [r for r in insertable if r["record_id"] not in gone]
        stored = insert_records(conn, insertable, savepoint_open=pg) if insertable else set()
        firsts: dict[str, dict[str, Any]] = {}
        if len(stored) == len(rows):  # every record new: nearly every batch
            stored_rows, statuses, missing = rows, ["stored"] * len(rows), []
        else:
            # One row per stored id: a batch naming one record twice stored its first copy only.
            for r in rows:
                if r["record_id"] in stored:
                    firsts.setdefault(r["record_id"], r)
            stored_rows = list(firsts.values())
            statuses = []
            missing = [r for r in rows if r["record_id"] not in stored]
        if not pg:
            count_days(conn, stored_rows)
            note_last_passages(conn, stored_rows)
            top = max((r["seq"] for r in stored_rows), default=0)
            ke = t.kiosk_epoch.c
            conn.execute(
                t.kiosk_epoch.update()
                .where(ke.kiosk_id == kiosk_id, ke.epoch == epoch, ke.max_seq < top)
                .values(max_seq=top)
            )
        existing: dict[str, str] = {}
        if missing:
            existing = _stored_hashes(conn, [r["record_id"] for r in missing])
        quarantined = []
        if len(statuses) < len(rows):
            # A later copy of an id this batch stored is compared with the copy stored (a retry or a conflict).
            existing.update((rid, r["payload_hash"]) for rid, r in firsts.items())
        for r in rows if len(statuses) < len(rows) else ():
            rid = r["record_id"]
            if rid in stored and firsts[rid] is r:
                statuses.append("stored")
            elif rid in gone:  # held once, its day dropped at the end of retention: nothing to store again
                statuses.append("duplicate")
            elif rid in existing and existing[rid] == r["payload_hash"] and "bad_hash" not in r["flags"].split(","):
                # A retry. A copy whose payload does not match the hash it claims is no retry:
                # it falls through to conflict and is quarantined, not silently dropped.
                statuses.append("duplicate")
            else:
                reason = "conflict" if rid in existing else "seq_taken"
                statuses.append(reason)
                quarantined.append(
                    {k: r[k] for k in ("record_id", "kiosk_id", "epoch", "seq", "kind", "payload", "payload_hash")}
                    | {"reason": reason, "received_at": received_at}
                )
        if quarantined:
            # The same copy pushed twice is quarantined once.
            seen = set(
                conn.execute(
                    select(t.conflict.c.record_id, t.conflict.c.payload_hash).where(
                        t.conflict.c.record_id.in_([q["record_id"] for q in quarantined])
                    )
                ).all()
            )
            fresh = [q for q in quarantined if (q["record_id"], q["payload_hash"]) not in seen]
            if fresh:
                conn.execute(t.conflict.insert(), fresh)
        # A pass a kiosk revoked is revoked at every gate, once the office vetted it (its own
        # community's pass, known to the office, within the kiosk's daily rate: sync/office/vouch.py).
        if any(r["kind"] in PASS_KINDS for r in stored_rows):
            revoked = _vet_passes(conn, kiosk_id, stored_rows, received_at)
            if revoked:
                office_lists.set_items(conn, "revoked", revoked)
        lost_count, lost_epochs = record_lost(conn, kiosk_id, batch.lost, received_at) if batch.lost else (0, set())
        for other in sorted(lost_epochs - {epoch}):
            advance_hwm(conn, kiosk_id, other, lock_epoch(conn, kiosk_id, other), lost=True)
        alerts.record_batch(
            conn, kiosk_id, stored_rows, conflicts=quarantined, skew=a.wall - received_at, now=received_at
        )
        if pg:
            hwm, taken, list_versions = _close_batch_pg(
                conn, kiosk_id, batch, hwm, stored_rows, received_at, public_key, held
            )
            if epoch in lost_epochs:
                hwm = advance_hwm(conn, kiosk_id, epoch, hwm, lost=True)
        else:
            hwm = advance_hwm(conn, kiosk_id, epoch, hwm, (r["seq"] for r in stored_rows), lost=epoch in lost_epochs)
            seen_stmt = t.kiosk.update().where(t.kiosk.c.kiosk_id == kiosk_id, t.kiosk.c.status != "revoked")
            if public_key is not None:
                seen_stmt = seen_stmt.where(t.kiosk.c.public_key == public_key)
            taken = (
                conn.execute(
                    seen_stmt.values(
                        last_seen=received_at,
                        last_push=received_at,
                        backlog=batch.backlog,
                        oldest_pending=batch.oldest_pending,
                        clock_skew=a.wall - received_at,
                        list_versions=json.dumps(batch.list_versions, sort_keys=True),
                        max_epoch=text(f"CASE WHEN max_epoch < {int(epoch)} THEN {int(epoch)} ELSE max_epoch END"),
                    )
                ).rowcount
                > 0
            )
            list_versions = office_lists.versions(conn)
        if not taken:
            raise KioskRefused(kiosk_id)  # leaving the block rolls the whole batch back
        if before_commit is not None:
            before_commit()
    return {
        "batch_id": batch.batch_id,
        "epoch": epoch,
        "hwm": hwm,
        "statuses": statuses,
        "flagged": sum(1 for r in stored_rows if r["flags"]),
        "lost": lost_count,
        "list_versions": list_versions,
        "server_time": time.time(),
    }


def sync_state(
    engine: Engine,
    kiosk_id: str,
    *,
    wall: float | None = None,
    list_versions: dict[str, int] | None = None,
    tip: str = "",
    epoch: int = 0,
    stamp: int | None = None,
) -> dict[str, Any]:
    """What the office holds of this kiosk. `tip` is the kiosk's newest "seq:record_id" in
    `epoch`: tip_ok is False when the office holds a different record at that seq. `stamp`:
    the request's, taken in this transaction (a replay notes nothing: `replay.claim`)."""
    now = time.time()
    with engine.begin() as conn:
        replay.claim(conn, kiosk_id, stamp, now=now)
        epochs = {
            str(e): int(h)
            for e, h in conn.execute(
                select(t.kiosk_epoch.c.epoch, t.kiosk_epoch.c.hwm).where(t.kiosk_epoch.c.kiosk_id == kiosk_id)
            )
        }
        row = conn.execute(select(t.kiosk.c.max_epoch, t.kiosk.c.status).where(t.kiosk.c.kiosk_id == kiosk_id)).one()
        values: dict[str, Any] = {"last_seen": now}
        if wall is not None:
            values["clock_skew"] = wall - now
        if list_versions is not None:
            values["list_versions"] = json.dumps(list_versions, sort_keys=True)
        conn.execute(t.kiosk.update().where(t.kiosk.c.kiosk_id == kiosk_id).values(**values))
        versions = office_lists.versions(conn)
        tip_ok = True
        seq_text, _, tip_id = tip.partition(":")
        if seq_text.isdigit() and tip_id:
            held = conn.execute(
                select(t.record.c.record_id).where(
                    t.record.c.kiosk_id == kiosk_id, t.record.c.epoch == epoch, t.record.c.seq == int(seq_text)
                )
            ).scalar()
            tip_ok = held is None or held == tip_id
    max_epoch = max([int(row.max_epoch)] + [int(e) for e in epochs])
    return {
        "kiosk_id": kiosk_id,
        "epochs": epochs,
        "max_epoch": max_epoch,
        "list_versions": versions,
        "server_time": now,
        "status": row.status,
        "tip_ok": tip_ok,
    }


def known(engine: Engine, kiosk_id: str, record_ids: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    with engine.execution_options(immediate=False).connect() as conn:
        for i in range(0, len(record_ids), 1000):
            chunk = record_ids[i : i + 1000]
            out.update(
                dict(
                    conn.execute(
                        select(t.record.c.record_id, t.record.c.payload_hash).where(
                            t.record.c.record_id.in_(chunk), t.record.c.kiosk_id == kiosk_id
                        )
                    ).all()
                )
            )
        conn.rollback()
    return out
