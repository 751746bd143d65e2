"""What a kiosk's key vouches for, and which of its revocations the office publishes.

A revoked kiosk mints nothing: its trust item lists the passes the office saw it issue (their
`pass_issued` records, kept in `office_pass`) before the revocation, and every other pass its
key signed is denied at every gate (models.verdict.issuer_revoked). A pass it issued but never
synced cannot be vouched for: the supervisor reissues it.

A kiosk may revoke only passes of its own community (the office knows which kiosk issued each
pass, and each kiosk's community). Every `pass_revoked` record is stored (a poison record never
blocks the queue) and given a status in `office_revocation`:

  published  in the revoked list every gate downloads
  refused    another community's pass: never published, an audit row says who tried
  held       a pass the office never saw issued, or beyond the kiosk's `revocations_per_day`
             (policy): the clerk approves or rejects it (`kakou office revocations`)
  rejected   by the clerk
  withdrawn  the kiosk was revoked, and this came from it after the time the clerk gave

Times are the office's `received_at`: a stolen kiosk decides its own clock, not the office's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from models.errors import KakouError
from sync.office import audit
from sync.office import lists as office_lists
from sync.office import tables as t

DAY_S = 86400.0
CHUNK = 500


class RevocationError(KakouError):
    code = "revocation"


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**62 else None


def _payload(row: dict[str, Any]) -> dict[str, Any]:
    try:
        body = json.loads(row["payload"])
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


# -- at ingest ----------------------------------------------------------------------------------


def note_issued(conn: Connection, kiosk_id: str, rows: list[dict[str, Any]], received_at: float) -> None:
    """Remember which kiosk issued each pass it pushed (the first claim of a pass id stays)."""
    from sync.office.ingest import dialect_insert

    values = {}
    for r in rows:
        if r["kind"] == "pass_issued" and r["ref"] and r["ref"] not in values:
            values[r["ref"]] = {
                "pass_id": r["ref"],
                "kiosk_id": kiosk_id,
                "record_id": r["record_id"],
                "valid_to": _int_or_none(_payload(r).get("valid_to")),
                "received_at": received_at,
            }
    if values:
        conn.execute(dialect_insert(conn, t.office_pass).values(list(values.values())).on_conflict_do_nothing())


def revocations_per_day(conn: Connection) -> int:
    from models.policy import Policy, coerce

    value = conn.execute(
        select(t.list_item.c.value).where(
            t.list_item.c.list_name == "policy",
            t.list_item.c.item_key == "revocations_per_day",
            t.list_item.c.deleted.is_(False),
        )
    ).scalar()
    if value is None:
        return Policy().revocations_per_day
    try:
        return int(coerce("revocations_per_day", json.loads(value)))
    except (ValueError, TypeError):
        return Policy().revocations_per_day


def _issuer_communities(conn: Connection, pass_ids: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for chunk in _chunks(pass_ids):
        out.update(
            conn.execute(
                select(t.office_pass.c.pass_id, t.kiosk.c.community)
                .join(t.kiosk, t.kiosk.c.kiosk_id == t.office_pass.c.kiosk_id)
                .where(t.office_pass.c.pass_id.in_(chunk))
            ).all()
        )
    return out


def vet_revocations(
    conn: Connection, kiosk_id: str, rows: list[dict[str, Any]], received_at: float
) -> dict[str, dict[str, Any]]:
    """The `pass_revoked` records just stored: each gets its status; returns the revoked-list
    items to publish (pass id -> value). Runs in the ingest's transaction."""
    revs = [r for r in rows if r["kind"] == "pass_revoked" and r["ref"]]
    if not revs:
        return {}
    kiosk = conn.execute(select(t.kiosk.c.name, t.kiosk.c.community).where(t.kiosk.c.kiosk_id == kiosk_id)).one()
    communities = _issuer_communities(conn, sorted({r["ref"] for r in revs}))
    limit = revocations_per_day(conn)
    used = int(
        conn.execute(
            select(func.count())
            .select_from(t.revocation)
            .where(
                t.revocation.c.kiosk_id == kiosk_id,
                t.revocation.c.status == "published",
                t.revocation.c.received_at > received_at - DAY_S,
            )
        ).scalar()
        or 0
    )
    publish: dict[str, dict[str, Any]] = {}
    statuses = []
    counts: dict[str, list[str]] = {}
    for r in revs:
        body = _payload(r)
        reason, expires = str(body.get("reason", ""))[:500], _int_or_none(body.get("expires"))
        pass_id = r["ref"]
        issuer_community = communities.get(pass_id)
        if issuer_community is None:
            status, why = "held", "unknown_pass"
        elif issuer_community != kiosk.community:
            status, why = "refused", "other_community"
        elif used >= limit:
            status, why = "held", "rate"
        else:
            status, why = "published", ""
            used += 1
            publish[pass_id] = {"pass_id": pass_id, "reason": reason, "expires": expires, "by": kiosk_id}
        if why:
            counts.setdefault(why, []).append(pass_id)
        statuses.append(
            {
                "record_id": r["record_id"],
                "kiosk_id": kiosk_id,
                "pass_id": pass_id,
                "reason": reason,
                "expires": expires,
                "received_at": received_at,
                "status": status,
                "why": why,
            }
        )
    conn.execute(t.revocation.insert(), statuses)
    for why, ids in sorted(counts.items()):
        # One row per push and cause (not per pass: 30,000 invented ids make one row, not 30,000).
        audit.record(
            conn,
            f"kiosk:{kiosk.community} {kiosk.name}",
            "revocation_refused" if why == "other_community" else "revocation_held",
            reason=why,
            outcome="refused" if why == "other_community" else "held",
            via="push",
            kiosk_id=kiosk_id,
            count=len(ids),
            pass_ids=ids[:20],
        )
    return publish


# -- revoking a kiosk ----------------------------------------------------------------------------


def parse_since(value: str) -> float:
    """`--since`: office-local "YYYY-MM-DD HH:MM" (or "YYYY-MM-DDTHH:MM", or a day: its start)."""
    import datetime as dt

    text_ = " ".join((value or "").replace("T", " ").split())
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            when = dt.datetime.strptime(text_, fmt)
        except ValueError:
            continue
        if 2000 <= when.year <= 2999:
            return time.mktime(when.timetuple())
    raise RevocationError(
        f"时间应写成 YYYY-MM-DD HH:MM：{value[:40]}", f"write the time as YYYY-MM-DD HH:MM: {value[:40]}", code="date"
    )


def vouched_passes(conn: Connection, kiosk_id: str, before: float, now: float) -> list[str]:
    """The pass ids the office received from this kiosk before `before`, not yet expired."""
    return sorted(
        conn.execute(
            select(t.office_pass.c.pass_id).where(
                t.office_pass.c.kiosk_id == kiosk_id,
                t.office_pass.c.received_at < before,
                (t.office_pass.c.valid_to.is_(None)) | (t.office_pass.c.valid_to > int(now)),
            )
        ).scalars()
    )


def withdraw_revocations(conn: Connection, kiosk_id: str, since: float, now: float, by: str) -> int:
    """Tombstone from the revoked list what this kiosk revoked from `since` on (unless another
    kiosk's revocation of the same pass stands: then that one stays published); held and refused
    ones are withdrawn too. Returns how many revocations were withdrawn."""
    rows = conn.execute(
        select(t.revocation.c.record_id, t.revocation.c.pass_id, t.revocation.c.status).where(
            t.revocation.c.kiosk_id == kiosk_id,
            t.revocation.c.received_at >= since,
            t.revocation.c.status.in_(("published", "held", "refused")),
        )
    ).all()
    if not rows:
        return 0
    published = sorted({r.pass_id for r in rows if r.status == "published"})
    conn.execute(
        t.revocation.update()
        .where(t.revocation.c.record_id.in_([r.record_id for r in rows]))
        .values(status="withdrawn", decided_by=by[:64], decided_at=now)
    )
    for chunk in _chunks(published):
        live = dict(
            conn.execute(
                select(t.list_item.c.item_key, t.list_item.c.value).where(
                    t.list_item.c.list_name == "revoked",
                    t.list_item.c.item_key.in_(chunk),
                    t.list_item.c.deleted.is_(False),
                )
            ).all()
        )
        others: dict[str, dict[str, Any]] = {}
        for o in conn.execute(
            select(t.revocation)
            .where(t.revocation.c.pass_id.in_(chunk), t.revocation.c.status == "published")
            .order_by(t.revocation.c.received_at)
        ):
            others[o.pass_id] = {"pass_id": o.pass_id, "reason": o.reason, "expires": o.expires, "by": o.kiosk_id}
        gone = [p for p in chunk if p in live and json.loads(live[p]).get("by") == kiosk_id and p not in others]
        stays = {p: others[p] for p in chunk if p in live and json.loads(live[p]).get("by") == kiosk_id and p in others}
        if gone:
            office_lists.remove_items(conn, "revoked", gone)
        if stays:
            office_lists.set_items(conn, "revoked", stays)
    return len(rows)


@dataclass(frozen=True)
class KioskRevocation:
    kiosk_id: str
    since: float  # passes it synced before this stay valid; what it sent from this on is withdrawn
    vouched: int
    withdrawn: int


def revoke_kiosk(conn: Connection, row: Any, since: float | None, by: str) -> KioskRevocation:
    """`kakou office revoke-kiosk`, in the caller's transaction (sync.office.enrol.revoke_kiosk).

    `since`: when the kiosk is thought stolen. Default: the moment of the (first) revocation -
    the office cannot know when a kiosk was stolen, a retired kiosk's revocations must stand, and
    withdrawing a real revocation would open a lost pass again, while a thief's revocations are
    bounded (own community, a daily rate) and withdrawn as soon as the clerk gives the time (the
    command may be run again on a revoked kiosk)."""
    now = time.time()
    revoked_at = float(row.revoked_at) if row.revoked_at is not None else now
    cutoff = min(since if since is not None else revoked_at, now)
    conn.execute(
        t.kiosk.update().where(t.kiosk.c.kiosk_id == row.kiosk_id).values(status="revoked", revoked_at=revoked_at)
    )
    vouched: list[str] = []
    if row.public_key:
        vouched = vouched_passes(conn, row.kiosk_id, cutoff, now)
        office_lists.trust_key(
            conn, row.public_key, f"{row.community} {row.name}", "kiosk", revoked_after=int(cutoff), vouched=vouched
        )
    withdrawn = withdraw_revocations(conn, row.kiosk_id, cutoff, now, by)
    return KioskRevocation(str(row.kiosk_id), cutoff, len(vouched), withdrawn)


# -- the clerk's review ----------------------------------------------------------------------------


def list_revocations(
    engine: Engine, *, kiosk_id: str | None = None, all_statuses: bool = False, limit: int = 1000
) -> list[dict[str, Any]]:
    """Held revocations (every status with `all_statuses`), newest first, with the kiosk's name."""
    q = (
        select(t.revocation, t.kiosk.c.name, t.kiosk.c.community)
        .join(t.kiosk, t.kiosk.c.kiosk_id == t.revocation.c.kiosk_id, isouter=True)
        .order_by(t.revocation.c.received_at.desc(), t.revocation.c.record_id)
        .limit(max(1, min(int(limit), 100000)))
    )
    if not all_statuses:
        q = q.where(t.revocation.c.status == "held")
    if kiosk_id:
        q = q.where(t.revocation.c.kiosk_id == kiosk_id)
    with engine.execution_options(immediate=False).connect() as conn:
        rows = conn.execute(q).all()
        conn.rollback()
    return [
        {
            "record_id": r.record_id,
            "pass_id": r.pass_id,
            "kiosk_id": r.kiosk_id,
            "checkpoint": f"{r.community or ''} {r.name or ''}".strip(),
            "reason": r.reason,
            "received_at": r.received_at,
            "status": r.status,
            "why": r.why,
        }
        for r in rows
    ]


def counts_by_kiosk(conn: Connection) -> dict[str, dict[str, int]]:
    """Per kiosk: how many of its revocations are held and how many were refused (for status)."""
    out: dict[str, dict[str, int]] = {}
    for kiosk_id, status, n in conn.execute(
        select(t.revocation.c.kiosk_id, t.revocation.c.status, func.count())
        .where(t.revocation.c.status.in_(("held", "refused")))
        .group_by(t.revocation.c.kiosk_id, t.revocation.c.status)
    ):
        out.setdefault(kiosk_id, {})[status] = int(n)
    return out


WHY_WORDS = {
    "unknown_pass": ("街道没有此证的签发记录", "the office never saw this pass issued"),
    "rate": ("超过每台设备每天的作废上限", "beyond the kiosk's daily revocation limit"),
    "other_community": ("不是本社区的通行证", "a pass of another community"),
}


def decide(
    engine: Engine,
    ids: list[str],
    approve: bool,
    *,
    kiosk_id: str | None = None,
    by: str | None = None,
    via: str = "cli",
) -> tuple[int, int]:
    """Approve (publish) or reject held revocations (reject also takes refused ones), named by
    record id or pass id, or all of one kiosk; audited. Returns (how many, the revoked list's version)."""
    clean = sorted({i.strip().lower() for i in ids if i.strip()})
    if not clean and not kiosk_id:
        raise RevocationError(
            "请给出作废记录编号、通行证编号或 --kiosk", "give record ids, pass ids or --kiosk", code="usage"
        )
    actor = by or audit.cli_actor()
    now = time.time()
    with engine.begin() as conn:
        # Rejecting a refused one (another community's pass) acknowledges it: it leaves `status`.
        # Only held ones can be approved: the community rule has no exceptions.
        q = select(t.revocation).where(t.revocation.c.status.in_(("held",) if approve else ("held", "refused")))
        if clean:
            q = q.where(t.revocation.c.record_id.in_(clean) | t.revocation.c.pass_id.in_(clean))
        if kiosk_id:
            q = q.where(t.revocation.c.kiosk_id == kiosk_id)
        rows = conn.execute(q.order_by(t.revocation.c.received_at)).all()
        if not rows:
            raise RevocationError("没有待审核的这些作废记录", "no held revocations match", code="not_held")
        conn.execute(
            t.revocation.update()
            .where(t.revocation.c.record_id.in_([r.record_id for r in rows]))
            .values(status="published" if approve else "rejected", decided_by=actor[:64], decided_at=now)
        )
        version = office_lists.current_version(conn, "revoked")
        if approve:
            version = office_lists.set_items(
                conn,
                "revoked",
                {
                    r.pass_id: {"pass_id": r.pass_id, "reason": r.reason, "expires": r.expires, "by": r.kiosk_id}
                    for r in rows
                },
            )
        audit.record(
            conn,
            actor,
            "revocation_approve" if approve else "revocation_reject",
            via=via,
            count=len(rows),
            pass_ids=[r.pass_id for r in rows][:20],
            kiosk_id=kiosk_id,
            version=version,
        )
    return len(rows), version
