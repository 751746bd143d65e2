"""The office's audit trail: who did what, when, to which record, and why.

Every opening of sealed personal data is written here in the same transaction that reads it,
so there is no way to see a full ID number without leaving a row. Failed attempts are kept too
(a wrong record id typed twenty times is worth seeing). Rows are only ever added.
"""

from __future__ import annotations

import getpass
import json
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from sync.office import tables as t

MAX_REASON = 500


def cli_actor() -> str:
    """Who ran a clerk's command that names no admin: the operating-system account."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers): still say it was the command line
        user = "unknown"
    return f"cli:{user}"[:64]


def record(
    conn: Connection,
    admin: str,
    action: str,
    *,
    record_id: str | None = None,
    reason: str = "",
    outcome: str = "ok",
    via: str = "cli",
    **detail: Any,
) -> int:
    """Add one audit row inside the caller's transaction; returns its id."""
    result = conn.execute(
        t.audit.insert().values(
            at=time.time(),
            admin=admin[:64],
            action=action[:32],
            record_id=(record_id or None) and record_id[:36],
            reason=reason[:MAX_REASON],
            outcome=outcome[:16],
            via=via[:8],
            detail=json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str),
        )
    )
    key = result.inserted_primary_key
    assert key is not None  # an INSERT of one row has one
    return int(key[0])


def recent(
    engine: Engine, *, limit: int = 100, action: str | None = None, admin: str | None = None
) -> list[dict[str, Any]]:
    """The newest audit rows first."""
    q = select(t.audit).order_by(t.audit.c.id.desc()).limit(max(1, min(int(limit), 10000)))
    if action:
        q = q.where(t.audit.c.action == action)
    if admin:
        q = q.where(t.audit.c.admin == admin)
    with engine.execution_options(immediate=False).connect() as conn:
        rows = conn.execute(q).all()
        conn.rollback()
    return [
        {
            "id": r.id,
            "at": r.at,
            "admin": r.admin,
            "action": r.action,
            "record_id": r.record_id,
            "reason": r.reason,
            "outcome": r.outcome,
            "via": r.via,
            "detail": json.loads(r.detail or "{}"),
        }
        for r in rows
    ]


def format_audit(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "没有审计记录 / no audit records"
    lines = ["时间 time | 管理员 admin | 操作 action | 记录 record | 结果 outcome | 途径 via | 原因 reason"]
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["at"]))
        lines.append(
            f"{when} | {r['admin']} | {r['action']} | {r['record_id'] or '-'} | {r['outcome']} | {r['via']}"
            f" | {r['reason'] or '-'}"
        )
    return "\n".join(lines)
