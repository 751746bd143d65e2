"""Checking a scan against this kiosk's state: the verdict plus what it needs from the file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import bindparam, text

from models.passtoken import PassKind, TokenError, decode_token
from models.verdict import DENY, Reason, Verdict, decide_pass, decide_person, list_reasons

if TYPE_CHECKING:
    from models.store import KioskStore

_QUOTA_KINDS = [int(k) for k in PassKind if k.info.outing_quota]
_OUTINGS = text(
    "SELECT device_time FROM passage WHERE unit_code = :unit AND direction = 'out'"
    " AND verdict = 'allow' AND pass_kind IN :kinds AND device_time > :since"
).bindparams(bindparam("kinds", expanding=True))


def household_outings(store: KioskStore, unit: str, now: float, window_days: int) -> list[float]:
    """Times of this household's allowed outings inside the quota window, with the passes the
    outing quota applies to."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            _OUTINGS,
            {"unit": unit, "kinds": _QUOTA_KINDS, "since": now - window_days * 86400},
        ).all()
        conn.rollback()
    return [r[0] for r in rows]


_LAST_DIRECTION = "SELECT direction FROM passage WHERE pass_id = ? AND verdict = 'allow' ORDER BY rowid DESC LIMIT 1"


def last_direction(store: KioskStore, pass_id: str) -> str | None:
    """Which way this pass last went through this gate, allowed ("in", "out"; None: never).
    The last one written, not the latest device time: a clock that fell back to 1970 after a
    power cut must not make an older passage look newer. (ix_passage_pass_time finds the rows.)"""
    # On every scan: the driver's own cursor, a quarter of the cost of a SQLAlchemy round
    # (0.07 against 0.3 ms on the 100k-passage benchmark file).
    raw = store.engine.raw_connection()
    try:
        row = raw.cursor().execute(_LAST_DIRECTION, (pass_id,)).fetchone()
    finally:
        raw.close()
    return str(row[0]) if row is not None else None


def check_token(store: KioskStore, token: str, direction: str, now: float | None = None) -> Verdict:
    """The verdict for a scanned pass. Records nothing."""
    now = store.trusted_now() if now is None else now
    try:
        decoded = decode_token(token)
    except TokenError as exc:
        return Verdict(DENY, (Reason(exc.code),))
    policy = store.policy()
    outings: list[float] = []
    if decoded.body.kind.info.outing_quota and direction == "out" and policy.outing_quota > 0:
        outings = household_outings(store, decoded.body.unit, now, policy.outing_window_days)
    last = last_direction(store, decoded.body.pass_id_hex)
    return decide_pass(decoded, direction, now, store.gate_state(), policy, outings, last)


def check_person(
    store: KioskStore,
    unit: str | None,
    person_hash: str | None,
    direction: str,
    now: float | None = None,
    *,
    visitor: bool = False,
) -> Verdict:
    """The lists' verdict for a person without a pass; `visitor`: registered to visit `unit`."""
    now = store.trusted_now() if now is None else now
    return decide_person(unit, person_hash, direction, now, store.gate_state(), store.policy(), visitor)


def listed_person_hash(store: KioskStore, id_number: str) -> str | None:
    """The look-up hash under which the office's person lists know this (validated) ID number:
    of its hashes under every parameter set in use (models/lookup.py person_hashes), the one a
    list holds, else the current one. None for no ID number."""
    from models.lookup import person_hashes

    if not id_number:
        return None
    hashes = person_hashes(store, "id", id_number)
    state = store.gate_state()
    listed = [h for h in hashes if h in state.quarantine_persons or h in state.watch_persons]
    return (listed or hashes)[0]


def person_list_reasons(store: KioskStore, id_number: str, direction: str) -> tuple[Reason, ...]:
    """What the quarantine and watch lists say of this person (by ID number), nothing else."""
    person_hash = listed_person_hash(store, id_number)
    reasons = list_reasons(None, person_hash, direction, store.trusted_now(), store.gate_state(), store.policy())
    return tuple(r for r in reasons if r.code != "list_stale")


def check_registration(store: KioskStore, unit: str | None, id_number: str, direction: str) -> Verdict:
    """What the lists say about someone registering at the gate (by the unit they visit and
    their ID number's keyed hash, as the office's person lists hold it)."""
    return check_person(store, unit or None, listed_person_hash(store, id_number), direction, visitor=True)
