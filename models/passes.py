"""Issuing, revoking and reissuing passes on this kiosk.

Reissue revokes the old pass in the same transaction as it records the new one, so a lost
pass can never stay valid next to its replacement (the pretix#2467 failure).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import insert
from sqlmodel import col, select

from models import clock
from models.errors import KakouError
from models.kinds import PassKind, pass_kind_by_code
from models.outbox import append_fact
from models.passtoken import PassBody, kid_for, new_pass_id, sign_pass
from models.tables import PassRecord, Revocation
from models.values import ValueRejected, parse_pass_name, parse_unit

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from models.policy import Policy
    from models.store import KioskStore
    from models.verdict import GateState


class PassError(KakouError):
    code = "pass"


def parse_kind(word: str) -> PassKind:
    kind = pass_kind_by_code(word)
    if kind is None:
        names = ", ".join(k.code for k in PassKind)
        raise PassError(
            f"没有这种通行证：{word}（可选：{names}）", f"unknown pass kind {word!r} (one of: {names})", code="kind"
        )
    return kind


def parse_hours(text: str | None) -> tuple[int, int]:
    """ "8-18" -> (8, 18); "22-6" wraps past midnight; None -> all day."""
    if not text:
        return (0, 24)
    start, sep, end = text.replace("：", ":").replace(":00", "").partition("-")
    try:
        hours = (int(start), int(end))
    except ValueError:
        hours = (-1, -1)
    if not sep or not (0 <= hours[0] <= 23 and 0 <= hours[1] <= 24) or hours[0] == hours[1]:
        raise PassError(
            f"时段写法不对：{text}（例如 8-18）", f"hours {text!r} not understood (e.g. 8-18)", code="hours"
        )
    return hours


@dataclass(frozen=True)
class IssuedPass:
    token: str
    body: PassBody
    record_id: str

    @property
    def pass_id(self) -> str:
        return self.body.pass_id_hex


def build_body(
    store: KioskStore,
    kind: PassKind,
    unit: str,
    name: str = "",
    valid_days: float | None = None,
    plate: str = "",
    hours: tuple[int, int] = (0, 24),
    scope: int = 0,
    valid_from: float | None = None,
) -> PassBody:
    start = valid_from if valid_from is not None else store.trusted_now()
    public = bytes(store.signing_key.verify_key)
    if scope:
        _check_scope(store.gate_state(), scope)
    return make_body(public, store.policy(), kind, unit, name, valid_days, plate, hours, scope, start)


def _check_scope(gate: GateState, scope: int) -> None:
    """An enrolled kiosk scopes a pass to a gate of its own community (the office's numbers, from
    the trust list): a pass scoped to any other number would open no gate at all."""
    if gate.community_id is None:
        return  # not enrolled: the numbers are this kiosk's own business
    ours = {gate.checkpoint_number} | {
        entry.checkpoint
        for entries in gate.trust.values()
        for entry in entries
        if entry.community_id == gate.community_id and entry.checkpoint
    }
    if scope not in ours:
        numbers = ", ".join(str(n) for n in sorted(ours))
        raise PassError(
            f"卡口编号 {scope} 不是本社区的卡口（本社区的卡口：{numbers}；0 为本社区所有卡口）",
            f"checkpoint {scope} is not a gate of this community (its gates: {numbers}; 0 for all of them)",
            code="scope",
        )


def make_body(
    public_key: bytes,
    policy: Policy,
    kind: PassKind,
    unit: str,
    name: str = "",
    valid_days: float | None = None,
    plate: str = "",
    hours: tuple[int, int] = (0, 24),
    scope: int = 0,
    valid_from: float = 0.0,
) -> PassBody:
    """The body of a pass the holder of `public_key` signs (a kiosk's or the office's), checked
    against `policy`: the kind's maximum validity is refused here as the verifier would deny it."""
    try:
        unit_code = str(parse_unit(unit))
        name = parse_pass_name(name)
    except ValueRejected as exc:
        raise PassError(exc.zh, exc.en, code=exc.code) from None
    kind = PassKind(kind)
    if kind.info.needs_plate and not plate.strip():
        called = kind.info.name
        raise PassError(f"{called.zh}需要车牌号", f"a {called.en.lower()} needs a plate number", code="plate")
    days = kind.info.default_days if valid_days is None else valid_days
    limit = policy.max_days_for(kind)
    if not 0 < days <= limit:
        called = kind.info.name
        raise PassError(
            f"{called.zh}的有效天数须在 1-{limit} 之间（街道政策）",
            f"a {called.en.lower()} is valid 1-{limit} days (the office's policy)",
            code="valid_days",
        )
    start = int(valid_from)
    try:
        body = PassBody(
            kid=kid_for(public_key),
            pass_id=new_pass_id(),
            kind=kind,
            scope=scope,
            valid_from=start,
            valid_to=start + int(days * 86400),
            unit=unit_code,
            name=name,
            plate=plate.strip().upper(),
            hour_from=hours[0],
            hour_to=hours[1],
        )
        body.to_bytes()
    except ValueError as exc:
        raise PassError(f"通行证内容无效：{exc}", f"invalid pass content: {exc}", code="pass_field") from None
    return body


def _insert_pass(
    conn: Connection, store: KioskStore, body: PassBody, token: str, reading: clock.Reading, replaces: str | None = None
) -> str:
    payload = {
        "pass_id": body.pass_id_hex,
        "kind": int(body.kind),
        "unit_code": body.unit,
        "name": body.name,
        "plate": body.plate,
        "scope": body.scope,
        "valid_from": body.valid_from,
        "valid_to": body.valid_to,
        "hour_from": body.hour_from,
        "hour_to": body.hour_to,
        "kid": body.kid,
        "replaces": replaces,
    }
    fact = append_fact(conn, "pass_issued", payload, reading, store.gate_state().versions)
    conn.execute(insert(PassRecord).values(record_id=fact.record_id, token=token, issued_at=reading.wall, **payload))
    store.note_hlc(fact.hlc)
    return fact.record_id


def _insert_revocation(
    conn: Connection, store: KioskStore, pass_id: str, reason: str, expires: int | None, reading: clock.Reading
) -> str:
    payload = {"pass_id": pass_id, "reason": reason, "expires": expires}
    fact = append_fact(conn, "pass_revoked", payload, reading, store.gate_state().versions)
    conn.execute(
        insert(Revocation).values(record_id=fact.record_id, source="local", revoked_at=reading.wall, **payload)
    )
    store.note_hlc(fact.hlc)
    return fact.record_id


def issue_pass(
    store: KioskStore,
    kind: PassKind,
    unit: str,
    name: str = "",
    valid_days: float | None = None,
    plate: str = "",
    hours: tuple[int, int] = (0, 24),
    scope: int = 0,
    valid_from: float | None = None,
    reading: clock.Reading | None = None,
) -> IssuedPass:
    body = build_body(store, kind, unit, name, valid_days, plate, hours, scope, valid_from)
    token = sign_pass(body, store.signing_key)
    reading = reading or clock.now()
    with store.writer.begin() as conn:
        record_id = _insert_pass(conn, store, body, token, reading)
    return IssuedPass(token, body, record_id)


def find_pass(store: KioskStore, pass_id: str) -> PassRecord | None:
    pass_id = pass_id.strip().lower()
    with store.session() as s:
        if len(pass_id) == 32:
            return s.get(PassRecord, pass_id)
        # Volunteers read ids off a slip: accept a unique prefix of at least 8 characters.
        if len(pass_id) >= 8:
            rows = s.exec(select(PassRecord).where(PassRecord.pass_id.startswith(pass_id))).all()
            if len(rows) == 1:
                return rows[0]
    return None


def revoke_pass(store: KioskStore, pass_id: str, reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise PassError("请写明作废原因", "give a reason for revoking", code="reason")
    record = find_pass(store, pass_id)
    full_id = record.pass_id if record else pass_id.strip().lower()
    if len(full_id) != 32 or any(c not in "0123456789abcdef" for c in full_id):
        raise PassError(f"找不到通行证 {pass_id}", f"no pass {pass_id}", code="not_found")
    if full_id in store.gate_state().revoked:
        raise PassError("这张通行证已经作废", "that pass is already revoked", code="already_revoked")
    reading = clock.now()
    with store.writer.begin() as conn:
        record_id = _insert_revocation(conn, store, full_id, reason, record.valid_to if record else None, reading)
    store.invalidate()
    return record_id


def reissue_pass(
    store: KioskStore, pass_id: str, reason: str = "补办 reissued", valid_days: float | None = None
) -> IssuedPass:
    """Revoke the old pass and issue its replacement, in one transaction."""
    old = find_pass(store, pass_id)
    if old is None:
        raise PassError(f"找不到通行证 {pass_id}", f"no pass {pass_id}", code="not_found")
    if old.pass_id in store.gate_state().revoked:
        raise PassError(
            "这张通行证已经作废，请直接新办", "that pass is already revoked, issue a new one", code="already_revoked"
        )
    body = build_body(
        store,
        PassKind(old.kind),
        old.unit_code,
        old.name,
        valid_days,
        old.plate,
        (old.hour_from, old.hour_to),
        old.scope,
    )
    token = sign_pass(body, store.signing_key)
    reading = clock.now()
    with store.writer.begin() as conn:
        _insert_revocation(conn, store, old.pass_id, reason, old.valid_to, reading)
        record_id = _insert_pass(conn, store, body, token, reading, replaces=old.pass_id)
    store.invalidate()
    return IssuedPass(token, body, record_id)


def list_passes(store: KioskStore, unit: str | None = None) -> list[PassRecord]:
    with store.session() as s:
        q = select(PassRecord).order_by(col(PassRecord.issued_at))
        if unit:
            q = q.where(PassRecord.unit_code == str(parse_unit(unit)))
        return list(s.exec(q).all())


def kind_label(kind: int, lang: str = "zh") -> str:
    return PassKind(kind).label(lang)
