"""Personal data at the office: opening sealed numbers (always audited) and purging old ones.

A registration arrives with its ID number and phone masked, hashed, and sealed to the office's
X25519 key (`models.privacy`), or, made before its kiosk enrolled, to the kiosk's hand-over key,
which the kiosk gave the office at enrolment (kept sealed to the office's key, `office_kiosk`). The office is the only place that can open them, and it does so
only here: each opening writes an audit row (who, when, which record, why) in the same
transaction, and the numbers are handed back only after that row is committed.

Retention: after `retention_days` the personal fields of a record (names, masked numbers,
look-up hashes, sealed copies, places, reasons) are cleared from the stored payload and from
quarantined copies. The rows stay, so the day reports count exactly what they counted before.
On PostgreSQL, where records are partitioned by day (`sync.office.partitions`), a day that lies
wholly past retention goes whole: its partition is dropped (the default partition's rows of such
days are deleted). The day counts stay, so the reports still count them; a kiosk's retry of such
a record is still a duplicate (`ingest`: its slot is below the kiosk's mark).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Engine

from models.errors import KakouError
from models.retention import PERSONAL_KINDS, PERSONAL_PAYLOAD_KEYS
from sync.office import audit, partitions, problems
from sync.office import tables as t

if TYPE_CHECKING:
    from sqlalchemy import Column, Table

    from sync.office.keys import OfficeKeys

SEALED_FIELDS = {"id_sealed": "id_number", "phone_sealed": "phone"}
RETENTION_SETTING = "retention_days"
PURGE_CHUNK = 2000
MAX_RETENTION_DAYS = 3650


class SealedLookupError(KakouError):
    """A lookup that opens nothing; its words and HTTP status are `problems.LOOKUP_REFUSALS`."""

    code = "lookup"

    def __init__(self, outcome: str):
        refusal = problems.LOOKUP_REFUSALS[outcome]
        super().__init__(refusal.zh, refusal.en, code=refusal.code)
        self.status = refusal.status  # the HTTP status the API answers with


@dataclass(frozen=True)
class LookupResult:
    record_id: str
    checkpoint: str
    community: str
    registration_kind: str
    day: str
    recorded_at: float
    name: str
    id_masked: str
    phone_masked: str
    id_number: str | None
    phone: str | None
    audit_id: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if not reason:
        raise KakouError(
            "查看完整号码必须写明原因（例如：流调 2022-04-03 病例密接）",
            "opening full numbers needs a reason (e.g. contact tracing for the 2022-04-03 case)",
            code="usage",
        )
    if len(reason) > audit.MAX_REASON:
        raise KakouError(
            f"原因太长（最多 {audit.MAX_REASON} 字）",
            f"the reason is too long (at most {audit.MAX_REASON} characters)",
            code="usage",
        )
    return reason


def _open_payload(
    payload: dict[str, Any], office_keys: OfficeKeys, handover_sealed: str | None = None
) -> tuple[str, dict[str, str]]:
    """Open what a registration sealed: to the office's key, or, for one its kiosk made before
    enrolment, to the hand-over key that kiosk gave the office when it enrolled."""
    if payload.get("purged"):
        return "purged", {}
    sealed = {field: payload.get(key) for key, field in SEALED_FIELDS.items() if payload.get(key)}
    if not sealed:
        return "nothing_sealed", {}
    from nacl.exceptions import CryptoError

    from models.privacy import unseal

    def with_office(value: str) -> str:
        return office_keys.unseal(value)

    openers = [with_office]
    if handover_sealed:
        try:
            handover = office_keys.unseal_bytes(bytes.fromhex(handover_sealed))
            openers.append(lambda value: unseal(handover, bytes.fromhex(value)))
        except (CryptoError, ValueError):
            pass  # a damaged hand-over key opens nothing: the record reads as unreadable
    for opener in openers:
        try:
            return "ok", {field: opener(str(value)) for field, value in sealed.items()}
        except (CryptoError, ValueError, TypeError, UnicodeDecodeError):
            continue
    return "unreadable", {}


def lookup(
    engine: Engine,
    office_keys: OfficeKeys,
    record_id: str,
    *,
    admin: str,
    reason: str,
    via: str = "cli",
    community: str | None = None,
) -> LookupResult:
    """Open the sealed ID number and phone of one registration, leaving an audit row first.

    `admin` must already be authenticated (token over HTTP, an active admin's name on the
    command line, a console session). `community`: only a registration made at a gate of that
    community is opened (a community clerk's); one of another community is answered as if it
    did not exist, and audited as what it was ("other_community"). Attempts that open nothing
    are audited too, with their outcome."""
    reason = _reason(reason)
    record_id = (record_id or "").strip()
    with engine.begin() as conn:
        row = None
        if 0 < len(record_id) <= 36:
            row = conn.execute(
                select(
                    t.record.c.record_id,
                    t.record.c.kind,
                    t.record.c.payload,
                    t.record.c.day,
                    t.record.c.corrected_time,
                    t.kiosk.c.name,
                    t.kiosk.c.community,
                    t.kiosk.c.handover_sealed,
                )
                .select_from(t.record.outerjoin(t.kiosk, t.kiosk.c.kiosk_id == t.record.c.kiosk_id))
                .where(t.record.c.record_id == record_id)
                # The first received: on PostgreSQL a copy of its id another kiosk pushed days away
                # is stored beside it (ingest.PG_HELD), never in its place.
                .order_by(t.record.c.received_at)
            ).first()
        opened: dict[str, str] = {}
        payload: dict[str, Any] = {}
        if row is None:
            outcome = "not_found"
        elif community is not None and (row.community or "") != community:
            outcome = "other_community"
        elif row.kind != "registration":
            outcome = "not_registration"
        else:
            try:
                payload = json.loads(row.payload)
                if not isinstance(payload, dict):
                    raise ValueError("not an object")
                outcome, opened = _open_payload(payload, office_keys, row.handover_sealed)
            except ValueError:
                outcome = "unreadable"
        audit_id = audit.record(
            conn,
            admin,
            "lookup",
            record_id=record_id[:36],
            reason=reason,
            outcome=outcome,
            via=via,
            fields=sorted(opened),
        )
    if outcome != "ok":
        raise SealedLookupError("not_found" if outcome == "other_community" else outcome)
    assert row is not None  # outcome "ok" means the row was found and opened
    return LookupResult(
        record_id=row.record_id,
        checkpoint=row.name or "",
        community=row.community or "",
        registration_kind=_registration_kind(payload),
        day=row.day,
        recorded_at=row.corrected_time,
        name=str(payload.get("name") or ""),
        id_masked=str(payload.get("id_masked") or ""),
        phone_masked=str(payload.get("phone_masked") or ""),
        id_number=opened.get("id_number"),
        phone=opened.get("phone"),
        audit_id=audit_id,
    )


def _registration_kind(payload: dict[str, Any]) -> str:
    from models.facts import REGISTRATION_KINDS

    kind = str(payload.get("kind") or "")
    return kind if kind in REGISTRATION_KINDS else ""


def format_lookup(result: LookupResult) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(result.recorded_at))
    return "\n".join(
        [
            f"记录 record: {result.record_id}  ({result.community} {result.checkpoint}, {when}, {result.registration_kind})",
            f"姓名 name: {result.name or '-'}",
            f"身份证号 ID number: {result.id_number or '-'}",
            f"电话 phone: {result.phone or '-'}",
            f"已记入审计 audited as #{result.audit_id}. 请勿转发或截图外传 / do not forward or share.",
        ]
    )


# -- retention ----------------------------------------------------------------------------------


def _valid_days(days: int) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_RETENTION_DAYS:
        raise KakouError(
            f"保存天数须为 1-{MAX_RETENTION_DAYS} 的整数",
            f"retention days must be a whole number 1-{MAX_RETENTION_DAYS}",
            code="usage",
        )
    return days


def retention_days(engine: Engine) -> int:
    """The office's own setting; else the policy it sends to kiosks; else the policy default (28)."""
    from models.policy import Policy

    with engine.execution_options(immediate=False).connect() as conn:
        own = conn.execute(select(t.setting.c.value).where(t.setting.c.key == RETENTION_SETTING)).scalar()
        policy = conn.execute(
            select(t.list_item.c.value).where(
                t.list_item.c.list_name == "policy",
                t.list_item.c.item_key == RETENTION_SETTING,
                t.list_item.c.deleted.is_(False),
            )
        ).scalar()
        conn.rollback()
    for value in (own, policy):
        try:
            days = int(json.loads(value)) if value is not None else None
        except (ValueError, TypeError):
            days = None
        if days and 1 <= days <= MAX_RETENTION_DAYS:
            return days
    return Policy().retention_days


def set_retention_days(engine: Engine, days: int, *, by: str | None = None, via: str = "cli") -> int:
    days = _valid_days(days)
    with engine.begin() as conn:
        updated = conn.execute(
            t.setting.update().where(t.setting.c.key == RETENTION_SETTING).values(value=json.dumps(days))
        ).rowcount
        if not updated:
            conn.execute(t.setting.insert().values(key=RETENTION_SETTING, value=json.dumps(days)))
        audit.record(conn, by or audit.cli_actor(), "set_retention", via=via, days=days)
    return days


@dataclass(frozen=True)
class OfficePurgeResult:
    records: int  # stored records whose personal fields were cleared now
    conflicts: int  # quarantined copies cleared now
    cutoff: float
    days: int
    dropped_days: list[str] = field(default_factory=list)  # PostgreSQL: days whose records were dropped whole
    dropped_records: int = 0  # records of those days (their day counts stay)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _scrub(payload_text: str) -> str | None:
    """The payload without personal fields, or None when there is nothing left to clear."""
    try:
        body = json.loads(payload_text)
    except ValueError:
        # Unreadable payloads were stored as they came and may hold anything: keep nothing.
        return json.dumps({"purged": True, "unreadable": True})
    if not isinstance(body, dict):
        return json.dumps({"purged": True, "unreadable": True})
    if not any(body.get(k) for k in PERSONAL_PAYLOAD_KEYS):
        return None
    for k in PERSONAL_PAYLOAD_KEYS:
        if k in body:
            body[k] = None
    body["purged"] = True
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _purge_table(
    engine: Engine,
    table: Table,
    key_column: Column[Any],
    time_column: Column[Any],
    cutoff: float,
    secure: bool,
    last_day: str | None = None,
) -> int:
    """Clear personal fields chunk by chunk: each chunk is its own short transaction, so kiosks'
    pushes are not held behind the write lock for the whole purge (a rerun finishes the job)."""
    cleared, after = 0, None
    while True:
        with engine.begin() as conn:
            if secure:
                conn.exec_driver_sql("PRAGMA secure_delete=ON")  # overwrite freed bytes, not just unlink them
            q = select(key_column, table.c.payload).where(table.c.kind.in_(PERSONAL_KINDS), time_column < cutoff)
            if last_day is not None:
                # A record before the cutoff is dated on the cutoff's day or before (a fever outcome on
                # its case's, earlier, day): the days after are not read (PostgreSQL: not even opened).
                q = q.where(table.c.day <= last_day)
            if after is not None:
                q = q.where(key_column > after)
            rows = conn.execute(q.order_by(key_column).limit(PURGE_CHUNK)).all()
            changes = []
            for key, payload_text in rows:
                scrubbed = _scrub(payload_text)
                if scrubbed is not None and scrubbed != payload_text:
                    changes.append({"row_key": key, "scrubbed": scrubbed})
            if changes:
                # One executemany per chunk. payload_hash stays the original: it is what the
                # kiosk's retries are compared to.
                conn.execute(
                    table.update().where(key_column == bindparam("row_key")).values(payload=bindparam("scrubbed")),
                    changes,
                )
                cleared += len(changes)
        if len(rows) < PURGE_CHUNK:
            return cleared
        after = rows[-1][0]


def purge(
    engine: Engine,
    *,
    older_than_days: int | None = None,
    now: float | None = None,
    admin: str | None = None,
    via: str = "cli",
    reclaim: bool = True,
) -> OfficePurgeResult:
    """Clear the personal data of records older than the retention period (default: the
    office's `retention_days`). Counts in reports do not change: rows stay, only payload
    fields that point at a person go."""
    days = _valid_days(older_than_days) if older_than_days is not None else retention_days(engine)
    now = time.time() if now is None else now
    cutoff = now - days * 86400
    secure = engine.dialect.name == "sqlite"
    first_kept = partitions.first_day_kept(cutoff)
    dropped = partitions.drop_days_before(engine, first_kept)
    if dropped.days:
        partitions.drop_detached_later(engine)  # their files: the rows are out of office_record already
    records = _purge_table(
        engine, t.record, t.record.c.record_id, t.record.c.corrected_time, cutoff, secure, last_day=first_kept
    )
    conflicts = _purge_table(engine, t.conflict, t.conflict.c.id, t.conflict.c.received_at, cutoff, secure)
    with engine.begin() as conn:
        audit.record(
            conn,
            admin or audit.cli_actor(),
            "purge",
            via=via,
            days=days,
            cutoff=cutoff,
            records=records,
            conflicts=conflicts,
            dropped_days=dropped.days,
            dropped_records=dropped.records,
        )
    if reclaim and (records or conflicts):
        _reclaim(engine, first_kept)
    return OfficePurgeResult(records, conflicts, cutoff, days, dropped.days, dropped.records)


def _reclaim(engine: Engine, last_day: str) -> None:
    """Give the freed space back and drop old row versions from the WAL (SQLite), or let
    PostgreSQL mark the dead row versions reusable (VACUUM cannot run in a transaction): only
    in the partitions the purge wrote to (days up to `last_day`, and the default one)."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        try:
            sqlite = raw.driver_connection
            assert sqlite is not None  # a fresh pool connection is open
            sqlite.execute("VACUUM")
            sqlite.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            tables = ["office_record"]
            if partitions.is_partitioned(conn):
                held = partitions.day_partitions(conn)
                tables = [name for day, name in sorted(held.items()) if day <= last_day]
                tables.append(partitions.DEFAULT_PARTITION)
            conn.exec_driver_sql(f"VACUUM {', '.join(tables)}, office_conflict")
