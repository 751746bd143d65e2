"""What the street office must be told at once: the alerts.

An alert is made from what reaches the office, in the transaction that stores it
(`record_batch`, called by `ingest.ingest` once the batch is stored), or by the sweep
(`sweep`: a gate silent for longer than allowed, a fever not rechecked in time). Each has a
`key` that names what it is about (a record, a gate's silence since a time, a gate's clock on a
day), so seeing the same thing twice (a retried push, a second sweep) makes no second alert.

The kinds (`KINDS`):
- `quarantined_out`: a person of a quarantined unit or on the person list tried to go out;
- `bad_pass`: a revoked, forged, other-community or untrusted pass was presented;
- `pass_twice`: a pass went out again, at any gate of the street, with no way in between, within
  policy `pass_out_twice_hours` of going out before (`out_twice`: a lent or copied pass, or a
  gate that let someone in without a scan);
- `fever_overdue`: a fever case with no outcome after its recheck time (and the grace);
- `silent`: a gate not in touch for longer than policy allows;
- `clock`: a gate's clock wrong by more than CLOCK_SKEW_S;
- `conflict`: a second copy of a record with other contents (sync/office/ingest.py);
- `lost`: records the office will never get (a lost range: `record_lost`, the hook for it).

An alert a record reaching the office later shows to be wrong is withdrawn by the office itself
(`withdrawn_at`, `withdrawn_by` = WITHDRAWN_BY, `withdrawn_why`: the words, zh and en), in the
transaction that stores that record (`record_batch`): a `pass_twice` whose two outs have an
allowed in between that a late push brings, a `fever_overdue` whose outcome, timed before the
deadline, arrives late. A withdrawn alert is no longer open; an acknowledgement it had stays. The
other kinds cannot turn out wrong: they say what a record itself says (quarantined_out, bad_pass,
conflict, lost), or what the office itself saw at the time (silent: no contact for that long;
clock: the skew a push measured) - a gate that reports again ends a silence, it does not undo it.

What happened is said in the words of the one table of reasons (models/reasons.py) when the
alert is about a passage, and in `KINDS` otherwise. A clerk acknowledges an alert (who, when,
a note), audited. On PostgreSQL every new alert is announced with NOTIFY kakou_alert (delivered
when the batch commits), so a console of another office process wakes at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, or_, select, text

from models.errors import KakouError
from models.reasons import REASONS, alert_kind, reason_label
from models.words import Words
from sync.office import audit
from sync.office import tables as t
from sync.office.users import Account

__all__ = [
    "CHANNEL",
    "CLOCK_SKEW_S",
    "FEVER_GRACE_S",
    "KINDS",
    "SILENT_AFTER_S",
    "WITHDRAWN_BY",
    "acknowledge",
    "derive",
    "latest",
    "out_twice",
    "record_batch",
    "record_lost",
    "sweep",
    "what",
    "withdrawn_why",
]

CHANNEL = "kakou_alert"
CLOCK_SKEW_S = 120.0  # as the Today page flags a clock (console/today.py)
SILENT_AFTER_S = 2 * 3600.0  # as the Today page calls a gate late
FEVER_GRACE_S = 15 * 60.0  # after the recheck time (policy recheck_minutes) before a fever is overdue

KINDS: dict[str, Words] = {
    "quarantined_out": Words("隔离人员试图外出", "a quarantined person tried to go out"),
    "bad_pass": Words("出示无效通行证", "an invalid pass was presented"),
    "pass_twice": Words("同一通行证连续两次外出", "the same pass went out twice"),
    "fever_overdue": Words("发热未按时复测", "a fever not rechecked in time"),
    "silent": Words("卡口长时间未联系", "a gate silent for too long"),
    "clock": Words("卡口时钟不准", "a gate's clock is wrong"),
    "conflict": Words("记录冲突", "a conflicting record"),
    "lost": Words("记录丢失", "records lost"),
}


def what(kind: str, reason: str, lang: str = "zh") -> str:
    """What happened, in words: the reason's label (models/reasons.py) when there is one."""
    if reason and reason in REASONS:
        return reason_label(reason, lang)
    words = KINDS.get(kind)
    return words.text(lang) if words is not None else kind


def _codes(reasons: str | None) -> list[str]:
    try:
        codes = json.loads(reasons or "[]")
    except (ValueError, TypeError, RecursionError):
        return []
    return [c for c in codes if isinstance(c, str)] if isinstance(codes, list) else []


def derive(
    kiosk_id: str,
    rows: Iterable[dict[str, Any]],
    *,
    conflicts: Iterable[dict[str, Any]] = (),
    skew: float | None = None,
    now: float,
) -> list[dict[str, Any]]:
    """The alerts one stored batch makes (office_alert rows without ids). Plain: no database."""
    made: list[dict[str, Any]] = []

    def add(key: str, at: float, kind: str, reason: str = "", record_id: str | None = None, **detail: Any) -> None:
        made.append(
            {
                "key": key[:128],
                "at": at,
                "made_at": now,
                "kiosk_id": kiosk_id,
                "kind": kind,
                "reason": reason[:32],
                "record_id": record_id,
                "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True),
            }
        )

    for r in rows:
        reasons = r.get("reasons")
        if r.get("kind") != "passage" or not reasons or reasons == "[]":  # nearly every passage: no JSON read
            continue
        found = alert_kind(r.get("direction"), _codes(reasons))
        if found is not None:
            rid = r["record_id"]
            add(f"record:{rid}", r["corrected_time"], found[0], found[1], rid, direction=r.get("direction"))
    for c in conflicts:
        add(f"conflict:{c['record_id']}:{c['payload_hash']}", now, "conflict", "", c["record_id"], why=c["reason"])
    if skew is not None and abs(skew) > CLOCK_SKEW_S:
        day = time.strftime("%Y-%m-%d", time.localtime(now))
        add(f"clock:{kiosk_id}:{day}", now, "clock", "", None, skew_s=round(skew))
    return made


def _store(conn: Connection, alerts: Sequence[dict[str, Any]]) -> int:
    """Insert the alerts not made before (by key); announce them. Returns how many were new."""
    if not alerts:
        return 0
    from sync.office.ingest import dialect_insert

    stmt = dialect_insert(conn, t.alert).values(list(alerts)).on_conflict_do_nothing().returning(t.alert.c.id)
    new = len(conn.execute(stmt).all())
    if new and conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
    return new


def out_twice(passages: Iterable[dict[str, Any]], window_s: float) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """One pass's allowed passages at any gate ({record_id, kiosk_id, direction, corrected_time}),
    in time order: each passage out whose last passage before it was out too, no more than
    `window_s` earlier, paired with that earlier one. Plain: no database."""
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    previous: dict[str, Any] | None = None
    for p in passages:
        if p.get("direction") not in ("in", "out"):
            continue
        if (
            p["direction"] == "out"
            and previous is not None
            and previous["direction"] == "out"
            and p["corrected_time"] - previous["corrected_time"] <= window_s
        ):
            pairs.append((previous, p))
        previous = p
    return pairs


_CHUNK = 400  # ids per query: well under SQLite's bound-parameter limit


def _neighbour(b: Any, before: bool, columns: Sequence[str]) -> Any:
    """The allowed passage of the same pass as `b` just before (or after) it, at any gate: one
    seek of ix_office_record_pass_ref (ref, corrected_time, record_id), however many passages
    the pass has."""
    p = t.record.alias("p")
    order = (p.c.ref, p.c.corrected_time, p.c.record_id)
    # (corrected_time, record_id) before / after b's, spelt out: SQLite seeks the index on the
    # time range only this way (a row-value comparison is no range to it).
    if before:
        when = and_(
            p.c.corrected_time <= b.c.corrected_time,
            or_(p.c.corrected_time < b.c.corrected_time, p.c.record_id < b.c.record_id),
        )
    else:
        when = and_(
            p.c.corrected_time >= b.c.corrected_time,
            or_(p.c.corrected_time > b.c.corrected_time, p.c.record_id > b.c.record_id),
        )
    q = select(*(p.c[c] for c in columns)).where(
        # The index's own condition (migration 0025), written out: a bound value would keep
        # SQLite, and PostgreSQL's generic plans, from using a partial index.
        text("p.kind = 'passage' AND p.ref IS NOT NULL AND p.verdict = 'allow'"),
        p.c.ref == b.c.ref,
        when,
    )
    q = q.order_by(*(c.desc() for c in order)) if before else q.order_by(*order)
    return q.limit(1)


_NEIGHBOUR_COLUMNS = ("record_id", "kiosk_id", "direction", "corrected_time")


def _neighbours(before: bool) -> Any:
    """SQLite: each of the batch's passages (ids) with its pass's passage just before (or after)
    it at any gate, in one statement; the neighbour's id found by `_neighbour`, its row joined."""
    b, n = t.record.alias("b"), t.record.alias("n")
    found = _neighbour(b, before, ("record_id",)).correlate(b).scalar_subquery()
    return (
        select(b.c.record_id, *(n.c[c] for c in _NEIGHBOUR_COLUMNS))
        .select_from(b.join(n, n.c.record_id == found))
        .where(b.c.record_id.in_(bindparam("ids", expanding=True)))
    )


def _pg_neighbours(before: bool) -> Any:
    """PostgreSQL: the same, the batch's passages given as arrays (what ingest already holds),
    each neighbour one seek of the index in a LATERAL join: no read of the batch's own rows,
    whose plan would follow the table's statistics (a sequential scan while they are few)."""
    cmp, eq, order = ("<", "<=", "DESC") if before else (">", ">=", "ASC")
    return text(
        "SELECT b.record_id, n.record_id, n.kiosk_id, n.direction, n.corrected_time"
        " FROM unnest(CAST(:ids AS text[]), CAST(:refs AS text[]), CAST(:ats AS float8[]))"
        " AS b(record_id, ref, corrected_time)"
        " CROSS JOIN LATERAL (SELECT p.record_id, p.kiosk_id, p.direction, p.corrected_time FROM office_record p"
        " WHERE p.kind = 'passage' AND p.ref IS NOT NULL AND p.verdict = 'allow' AND p.ref = b.ref"
        f" AND p.corrected_time {eq} b.corrected_time"
        f" AND (p.corrected_time {cmp} b.corrected_time OR p.record_id {cmp} b.record_id)"
        f" ORDER BY p.ref {order}, p.corrected_time {order}, p.record_id {order} LIMIT 1) n"
    )


_STATEMENTS = {
    (before, pg): (_pg_neighbours if pg else _neighbours)(before) for before in (True, False) for pg in (True, False)
}


def _look(
    conn: Connection, mine: dict[str, dict[str, Any]], before: bool, near: dict[str, list[dict[str, Any]]]
) -> None:
    """Each of `mine`'s passages' neighbour (its pass's allowed passage just before or after it,
    at any gate) appended to near[its id]: one statement per _CHUNK passages."""
    pg = conn.dialect.name == "postgresql"
    ids = list(mine)
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        params: dict[str, Any] = {"ids": chunk}
        if pg:
            params |= {"refs": [mine[x]["ref"] for x in chunk], "ats": [mine[x]["corrected_time"] for x in chunk]}
        for rid, n_id, kiosk_id, direction, at in conn.execute(_STATEMENTS[before, pg], params):
            near[rid].append({"record_id": n_id, "kiosk_id": kiosk_id, "direction": direction, "corrected_time": at})


def _out_twice_hours(conn: Connection) -> float:
    """The policy's pass_out_twice_hours, the one key read (every batch with a pass going out
    asks: the whole policy would cost more than the look-up it decides on)."""
    from models.policy import Policy, coerce

    value = conn.execute(
        select(t.list_item.c.value).where(
            t.list_item.c.list_name == "policy",
            t.list_item.c.item_key == "pass_out_twice_hours",
            t.list_item.c.deleted.is_(False),
        )
    ).scalar()
    try:
        return (
            float(coerce("pass_out_twice_hours", json.loads(value)))
            if value is not None
            else Policy().pass_out_twice_hours
        )
    except (ValueError, TypeError):
        return Policy().pass_out_twice_hours


def _out_twice_alerts(conn: Connection, rows: Sequence[dict[str, Any]], now: float) -> list[dict[str, Any]]:
    """The `pass_twice` alerts a stored batch makes: for each of its passes going out, what that
    pass did just before and just after at any gate (records reach the office in any order)."""
    mine = {
        r["record_id"]: r
        for r in rows
        if r.get("kind") == "passage" and r.get("verdict") == "allow" and r.get("ref") and r.get("direction") == "out"
    }
    if not mine:
        return []
    hours = _out_twice_hours(conn)
    if hours <= 0:
        return []
    window = hours * 3600.0
    near: dict[str, list[dict[str, Any]]] = {rid: [] for rid in mine}
    # After it too, whatever its age: a copied pass out at two gates a minute apart reaches the
    # office in either order (each gate pushes when it pushes).
    _look(conn, mine, True, near)
    _look(conn, mine, False, near)
    made: dict[str, dict[str, Any]] = {}
    for rid, found in near.items():
        here = {k: mine[rid][k] for k in ("record_id", "kiosk_id", "direction", "corrected_time")}
        seq = sorted([here, *found], key=lambda x: (x["corrected_time"], x["record_id"]))
        for first, second in out_twice(seq, window):
            key = f"twice:{second['record_id']}"[:128]
            made[key] = {
                "key": key,
                "at": second["corrected_time"],
                "made_at": now,
                "kiosk_id": second["kiosk_id"],
                "kind": "pass_twice",
                "reason": "",
                "record_id": second["record_id"],
                "detail": json.dumps(
                    {
                        "earlier_record": first["record_id"],
                        "earlier_kiosk": first["kiosk_id"],
                        "earlier_at": first["corrected_time"],
                    },
                    sort_keys=True,
                ),
            }
    return list(made.values())


WITHDRAWN_BY = "office"  # who withdraws: the office itself, never a person


def _stamp(ts: float) -> str:
    try:
        return time.strftime("%m-%d %H:%M", time.localtime(ts))
    except (OverflowError, ValueError, OSError):
        return "?"


def _gate_name(conn: Connection, kiosk_id: str) -> str:
    return conn.execute(select(t.kiosk.c.name).where(t.kiosk.c.kiosk_id == kiosk_id)).scalar() or kiosk_id


def _disproved_twice(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[tuple[int, Words]]:
    """The standing `pass_twice` alerts a stored batch's allowed passages in disprove: the pass's
    next passage after such an in is the alert's second out (so the in lies between its two outs).
    One seek per in (one statement a chunk), then one look-up of the alerts, when there are any."""
    ins = {
        r["record_id"]: r
        for r in rows
        if r.get("kind") == "passage" and r.get("verdict") == "allow" and r.get("ref") and r.get("direction") == "in"
    }
    if not ins:
        return []
    near: dict[str, list[dict[str, Any]]] = {rid: [] for rid in ins}
    _look(conn, ins, False, near)
    after_in = {n[0]["record_id"]: rid for rid, n in near.items() if n and n[0]["direction"] == "out"}
    if not after_in:
        return []
    found = conn.execute(
        select(t.alert.c.id, t.alert.c.record_id, t.alert.c.detail).where(
            t.alert.c.kind == "pass_twice",
            t.alert.c.withdrawn_at.is_(None),
            t.alert.c.record_id.in_(list(after_in)),
        )
    ).all()
    out: list[tuple[int, Words]] = []
    names: dict[str, str] = {}
    for alert_id, second, detail in found:
        came_in = ins[after_in[second]]
        try:
            earlier_at = float(json.loads(detail or "{}").get("earlier_at"))
        except (ValueError, TypeError):
            earlier_at = float("-inf")
        if came_in["corrected_time"] < earlier_at:
            continue  # not between the two outs after all (a tie in time ordered the other way)
        kiosk = came_in["kiosk_id"]
        gate = names.setdefault(kiosk, _gate_name(conn, kiosk))
        at = _stamp(came_in["corrected_time"])
        out.append(
            (
                alert_id,
                Words(
                    f"{gate} {at} 的进入记录后到：两次外出之间进来过",
                    f"a passage in at {gate} at {at} reached the office later: the pass came in between the two outs",
                ),
            )
        )
    return out


def _disproved_overdue(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[tuple[int, Words]]:
    """The standing `fever_overdue` alerts a stored batch's fever outcomes disprove: an outcome of
    the case timed no later than the alert's deadline (it was rechecked in time; its record came
    late). An outcome after the deadline leaves the alert standing: it was overdue."""
    outcomes: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r.get("kind") == "fever_outcome" and r.get("ref"):
            known = outcomes.get(r["ref"])
            if known is None or r["corrected_time"] < known["corrected_time"]:
                outcomes[r["ref"]] = r
    if not outcomes:
        return []
    found = conn.execute(
        select(t.alert.c.id, t.alert.c.record_id, t.alert.c.at).where(
            t.alert.c.kind == "fever_overdue",
            t.alert.c.withdrawn_at.is_(None),
            t.alert.c.record_id.in_(list(outcomes)),
        )
    ).all()
    out: list[tuple[int, Words]] = []
    for alert_id, case_id, deadline in found:
        outcome = outcomes[case_id]
        if outcome["corrected_time"] > deadline:
            continue
        gate = _gate_name(conn, outcome["kiosk_id"])
        at = _stamp(outcome["corrected_time"])
        out.append(
            (
                alert_id,
                Words(
                    f"{gate} {at} 已复测，记录后到：并未超时",
                    f"rechecked at {gate} at {at}, the record reaching the office later: it was not overdue",
                ),
            )
        )
    return out


def _withdraw(conn: Connection, found: Sequence[tuple[int, Words]], now: float) -> int:
    """Withdraw these standing alerts (by the office, with the words why), in one statement;
    announce it as a new alert is announced. Returns how many were withdrawn now."""
    if not found:
        return 0
    stmt = (
        t.alert.update()
        .where(t.alert.c.id == bindparam("alert_id"), t.alert.c.withdrawn_at.is_(None))
        .values(withdrawn_at=now, withdrawn_by=WITHDRAWN_BY, withdrawn_why=bindparam("why"))
    )
    params = [
        {"alert_id": alert_id, "why": json.dumps({"zh": why.zh, "en": why.en}, ensure_ascii=False)}
        for alert_id, why in found
    ]
    done = conn.execute(stmt, params).rowcount
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
    return int(done) if done is not None and done >= 0 else len(found)


def withdrawn_why(alert: dict[str, Any], lang: str = "zh") -> str:
    """Why the office withdrew this alert, in the page's language ('' if it stands)."""
    try:
        why = json.loads(alert.get("withdrawn_why") or "{}")
    except (ValueError, TypeError):
        return ""
    if not isinstance(why, dict):
        return ""
    return str(why.get("en" if lang == "en" else "zh") or why.get("zh") or "")


def record_batch(
    conn: Connection,
    kiosk_id: str,
    rows: Iterable[dict[str, Any]],
    *,
    conflicts: Iterable[dict[str, Any]] = (),
    skew: float | None = None,
    now: float | None = None,
) -> int:
    """The alerts of a stored batch, in its transaction (ingest calls this once the batch is stored)."""
    when = now or time.time()
    rows = list(rows)
    made = derive(kiosk_id, rows, conflicts=conflicts, skew=skew, now=when)
    _withdraw(conn, _disproved_twice(conn, rows) + _disproved_overdue(conn, rows), when)
    return _store(conn, made + _out_twice_alerts(conn, rows, when))


def record_lost(conn: Connection, kiosk_id: str, epoch: int, first: int, last: int, *, now: float | None = None) -> int:
    """The hook for a lost range (records `first`..`last` of `epoch` the office will never get):
    whoever records one at the office calls this in the same transaction."""
    when = now or time.time()
    row = {
        "key": f"lost:{kiosk_id}:{epoch}:{first}:{last}",
        "at": when,
        "made_at": when,
        "kiosk_id": kiosk_id,
        "kind": "lost",
        "reason": "",
        "record_id": None,
        "detail": json.dumps({"epoch": epoch, "first": first, "last": last}),
    }
    return _store(conn, [row])


def sweep(engine: Engine, *, now: float | None = None, recheck_minutes: int = 3) -> int:
    """The alerts no record brings: gates silent for longer than SILENT_AFTER_S (one alert per
    silence: a gate that comes back and goes silent again makes a new one) and fever cases with
    no outcome FEVER_GRACE_S after their recheck time. Returns how many were new."""
    when = now or time.time()
    made: list[dict[str, Any]] = []
    overdue_before = when - recheck_minutes * 60 - FEVER_GRACE_S
    with engine.begin() as conn:
        quiet = conn.execute(
            select(t.kiosk.c.kiosk_id, t.kiosk.c.last_seen).where(
                t.kiosk.c.status == "active",
                t.kiosk.c.last_seen.is_not(None),
                t.kiosk.c.last_seen < when - SILENT_AFTER_S,
            )
        ).all()
        for kiosk_id, last_seen in quiet:
            made.append(
                {
                    "key": f"silent:{kiosk_id}:{int(last_seen)}",
                    "at": last_seen + SILENT_AFTER_S,
                    "made_at": when,
                    "kiosk_id": kiosk_id,
                    "kind": "silent",
                    "reason": "",
                    "record_id": None,
                    "detail": json.dumps({"last_seen": last_seen}),
                }
            )
        outcome = t.record.alias("outcome")
        cases = conn.execute(
            select(t.record.c.record_id, t.record.c.kiosk_id, t.record.c.corrected_time)
            .where(
                t.record.c.kind == "fever_case",
                t.record.c.day >= time.strftime("%Y-%m-%d", time.localtime(when - 2 * 86400)),
                t.record.c.corrected_time < overdue_before,
                ~select(outcome.c.record_id)
                .where(outcome.c.kind == "fever_outcome", outcome.c.ref == t.record.c.record_id)
                .exists(),
            )
            .limit(1000)
        ).all()
        for record_id, kiosk_id, at in cases:
            made.append(
                {
                    "key": f"fever:{record_id}",
                    "at": at + recheck_minutes * 60 + FEVER_GRACE_S,
                    "made_at": when,
                    "kiosk_id": kiosk_id,
                    "kind": "fever_overdue",
                    "reason": "",
                    "record_id": record_id,
                    "detail": "{}",
                }
            )
        return _store(conn, made)


def _scoped(account: Account) -> Any:
    if account.role != "community":
        return None
    return t.kiosk.c.community == (account.community or "")


def latest(
    engine: Engine,
    account: Account,
    *,
    after: int = 0,
    limit: int = 200,
    open_only: bool = False,
    only: int | None = None,
    withdrawn_since: float | None = None,
) -> list[dict[str, Any]]:
    """The alerts this account may see, newest first; `after`: only those with a larger id;
    `only`: that one alert (if the account may see it); `open_only`: neither acknowledged nor
    withdrawn; `withdrawn_since`: only those withdrawn after that time (any id)."""
    q = (
        select(t.alert, t.kiosk.c.name.label("gate"), t.kiosk.c.community)
        .join(t.kiosk, t.kiosk.c.kiosk_id == t.alert.c.kiosk_id)
        .where(t.alert.c.id > after)
        .order_by(t.alert.c.id.desc())
        .limit(limit)
    )
    if withdrawn_since is not None:
        q = q.where(t.alert.c.withdrawn_at > withdrawn_since)
    scope = _scoped(account)
    if scope is not None:
        q = q.where(scope)
    if open_only:
        q = q.where(t.alert.c.ack_at.is_(None), t.alert.c.withdrawn_at.is_(None))
    if only is not None:
        q = q.where(t.alert.c.id == only)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
        for r in rows:
            r["detail"] = json.loads(r["detail"] or "{}")
        # The gate a pass went out at before (pass_twice): named, as the alert's own gate is.
        earlier = {r["detail"]["earlier_kiosk"] for r in rows if "earlier_kiosk" in r["detail"]}
        names = (
            dict(conn.execute(select(t.kiosk.c.kiosk_id, t.kiosk.c.name).where(t.kiosk.c.kiosk_id.in_(earlier))).all())
            if earlier
            else {}
        )
        conn.rollback()
    for r in rows:
        if "earlier_kiosk" in r["detail"]:
            r["detail"]["earlier_gate"] = names.get(r["detail"]["earlier_kiosk"], "?")
    return rows


def open_count(engine: Engine, account: Account) -> int:
    """How many alerts stand for this account: neither acknowledged nor withdrawn."""
    q = (
        select(func.count())
        .select_from(t.alert.join(t.kiosk, t.kiosk.c.kiosk_id == t.alert.c.kiosk_id))
        .where(t.alert.c.ack_at.is_(None), t.alert.c.withdrawn_at.is_(None))
    )
    scope = _scoped(account)
    if scope is not None:
        q = q.where(scope)
    with engine.connect() as conn:
        n = int(conn.execute(q).scalar_one())
        conn.rollback()
    return n


NOT_YOURS = KakouError("没有这条警报", "no such alert", code="no_such_alert")
NOTE_CHARS = 500


def acknowledge(
    engine: Engine, alert_id: int, account: Account, note: str = "", *, via: str = "console"
) -> dict[str, Any]:
    """A clerk has seen the alert and says what was done (the note). Once: a second
    acknowledgement is refused in words and changes nothing. Audited. An alert of a gate the
    account may not see is answered as if it did not exist."""
    if not account.can_change:
        raise KakouError("只读账号不能确认警报", "a read-only account cannot acknowledge alerts", code="read_only")
    note = note.strip()[:NOTE_CHARS]
    with engine.begin() as conn:
        row = conn.execute(
            select(
                t.alert.c.id,
                t.alert.c.kind,
                t.alert.c.ack_at,
                t.alert.c.withdrawn_at,
                t.alert.c.kiosk_id,
                t.kiosk.c.community,
            )
            .join(t.kiosk, t.kiosk.c.kiosk_id == t.alert.c.kiosk_id)
            .where(t.alert.c.id == alert_id)
        ).first()
        if row is None or not account.sees(row.community):
            raise NOT_YOURS
        if row.ack_at is not None:
            raise KakouError("这条警报已确认过", "this alert was acknowledged already", code="acknowledged")
        if row.withdrawn_at is not None:
            raise KakouError(
                "这条警报已由系统撤回，无需确认",
                "the office withdrew this alert: nothing to acknowledge",
                code="withdrawn",
            )
        when = time.time()
        done = conn.execute(
            t.alert.update()
            .where(and_(t.alert.c.id == alert_id, t.alert.c.ack_at.is_(None)))
            .values(ack_by=account.name[:64], ack_at=when, ack_note=note)
        ).rowcount
        if not done:  # another clerk, in the same instant
            raise KakouError("这条警报已确认过", "this alert was acknowledged already", code="acknowledged")
        audit.record(
            conn,
            f"console:{account.name}",
            "ack_alert",
            via=via,
            reason=note,
            alert=alert_id,
            kind=row.kind,
            kiosk_id=row.kiosk_id,
        )
    return {"id": alert_id, "ack_by": account.name, "ack_at": when, "ack_note": note}
