"""`kakou office status`: how each kiosk is doing, as the office sees it."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from sync.office import lists as office_lists
from sync.office import tables as t
from sync.office import vouch
from sync.office.lost import lost_by_kiosk, lost_words
from sync.office.replica import read_words


def kiosk_status(engine: Engine, *, counts: bool = True) -> dict[str, Any]:
    """Every kiosk as the office sees it. `counts=False`: without the conflicts, gaps, flagged
    records and revocations (None), which scan the records; the console's Today page needs only
    the kiosk's own row (last seen, backlog, skew, lists behind) and must stay fast at millions."""
    with engine.execution_options(immediate=False).connect() as conn:
        office_versions = office_lists.versions(conn)
        kiosks = conn.execute(select(t.kiosk).order_by(t.kiosk.c.community, t.kiosk.c.name)).all()
        marks = {
            (k, e): h
            for k, e, h in conn.execute(select(t.kiosk_epoch.c.kiosk_id, t.kiosk_epoch.c.epoch, t.kiosk_epoch.c.hwm))
        }
        # Lost ranges are a few rows per kiosk (no scan of the records): in both kinds of status.
        lost = lost_by_kiosk(conn)
        if not counts:
            conn.rollback()
            return {
                "office_list_versions": office_versions,
                "kiosks": [_kiosk_row(k, marks, office_versions) | _lost_fields(lost, k.kiosk_id) for k in kiosks],
                "generated_at": time.time(),
            }
        conflicts: dict[str, int] = dict(
            conn.execute(text("SELECT kiosk_id, count(*) FROM office_conflict GROUP BY kiosk_id")).all()
        )
        # Stored records above the contiguous mark, per kiosk and epoch: the holes below them are gaps.
        above = conn.execute(
            text(
                "SELECT r.kiosk_id, r.epoch, count(*), max(r.seq) FROM office_record r JOIN office_kiosk_epoch e"
                " ON e.kiosk_id = r.kiosk_id AND e.epoch = r.epoch WHERE r.seq > e.hwm GROUP BY r.kiosk_id, r.epoch"
            )
        ).all()
        flagged: dict[str, int] = dict(
            conn.execute(text("SELECT kiosk_id, count(*) FROM office_record WHERE flags <> '' GROUP BY kiosk_id")).all()
        )
        revocations = vouch.counts_by_kiosk(conn)
        conn.rollback()
    gaps: dict[str, int] = {}
    for kiosk_id, epoch, n, top in above:
        gaps[kiosk_id] = gaps.get(kiosk_id, 0) + int(top) - int(marks.get((kiosk_id, epoch), 0)) - int(n)
    out = []
    for k in kiosks:
        row = _kiosk_row(k, marks, office_versions)
        row.update(
            {
                "conflicts": int(conflicts.get(k.kiosk_id, 0)),
                "gaps": gaps.get(k.kiosk_id, 0),
                "flagged": int(flagged.get(k.kiosk_id, 0)),
                # Its revocations the office did not publish: held for the clerk, refused (another community's).
                "revocations_held": revocations.get(k.kiosk_id, {}).get("held", 0),
                "revocations_refused": revocations.get(k.kiosk_id, {}).get("refused", 0),
                **_lost_fields(lost, k.kiosk_id),
            }
        )
        out.append(row)
    return {"office_list_versions": office_versions, "kiosks": out, "generated_at": time.time()}


def _lost_fields(lost: dict[str, Any], kiosk_id: str) -> dict[str, Any]:
    """Records the kiosk said it lost (its file lost them, or they are damaged) and its claims the
    office did not take (it holds those records): sync/office/lost.py."""
    mine = lost.get(kiosk_id, {})
    return {
        "lost": mine.get("lost", 0),
        "lost_ranges": [list(r) for r in mine.get("ranges", [])],
        "lost_refused": [list(r) for r in mine.get("refused", [])],
    }


def _kiosk_row(k: Any, marks: dict[tuple[str, int], int], office_versions: dict[str, int]) -> dict[str, Any]:
    versions = json.loads(k.list_versions or "{}")
    return {
        "kiosk_id": k.kiosk_id,
        "checkpoint": k.name,
        "checkpoint_number": k.checkpoint_number,
        "community": k.community,
        "status": k.status,
        "last_seen": k.last_seen,
        "backlog": k.backlog,
        "oldest_pending": k.oldest_pending,
        "clock_skew": k.clock_skew,
        "epoch": k.max_epoch,
        "hwm": marks.get((k.kiosk_id, k.max_epoch), 0),  # one mark per (kiosk, epoch): no scan of them all
        "list_versions": versions,
        "lists_behind": sorted(
            n for n, v in office_versions.items() if k.status == "active" and versions.get(n, 0) < v
        ),
        "conflicts": None,
        "gaps": None,
        "flagged": None,
        "revocations_held": None,
        "revocations_refused": None,
    }


def format_status(status: dict[str, Any]) -> str:
    lines = []
    replica = read_words(status.get("read_from"))  # read from a replica: how far behind, or why not
    if replica is not None:
        lines.append(replica.zh)
    lines.append(
        "卡口 checkpoint | 状态 status | 最后联系 last seen | 待传 backlog | 时钟偏差 skew | 名单 lists | 冲突 conflicts | 缺号 gaps"
    )
    if not status["kiosks"]:
        from sync.office.report import NO_CHECKPOINTS

        lines.append(NO_CHECKPOINTS.zh)
    for k in status["kiosks"]:
        seen = time.strftime("%m-%d %H:%M", time.localtime(k["last_seen"])) if k["last_seen"] else "-"
        skew = f"{k['clock_skew']:+.0f}s" if k["clock_skew"] is not None else "-"
        lists = "ok" if not k["lists_behind"] else "behind: " + ",".join(k["lists_behind"])
        number = f" #{k['checkpoint_number']}" if k.get("checkpoint_number") else ""
        lines.append(
            f"{k['community']} {k['checkpoint']}{number} | {k['status']} | {seen} | {k['backlog']} | {skew} | {lists}"
            f" | {k['conflicts']} | {k['gaps']}"
        )
        lost = lost_words(
            {"lost": k.get("lost", 0), "ranges": k.get("lost_ranges", []), "refused": k.get("lost_refused", [])}
        )
        if lost is not None:
            lines.append(f"  {lost.zh} / {lost.en}")
        if k["revocations_held"] or k["revocations_refused"]:
            lines.append(
                f"  作废待审核 {k['revocations_held']}，已拒绝(非本社区) {k['revocations_refused']}"
                f" / revocations held {k['revocations_held']}, refused (other community) {k['revocations_refused']}"
                " - kakou office revocations list"
            )
    return "\n".join(lines)
