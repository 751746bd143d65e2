"""What the office holds of the records kiosks said they lost (office_lost_range, written by
sync/office/ingest.py `record_lost`): per kiosk, for `kakou office status` and the day report."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from models.words import Words
from sync.office import tables as t


def lost_by_kiosk(
    conn: Connection, since: float | None = None, until: float | None = None
) -> dict[str, dict[str, Any]]:
    """kiosk id -> {"lost": seqs counted lost, "ranges": [(epoch, first, last, reason)],
    "refused": [(epoch, first, last, held)]}, for the claims received in [since, until) (all: None)."""
    lr = t.lost_range.c
    query = select(lr.kiosk_id, lr.epoch, lr.first_seq, lr.last_seq, lr.reason, lr.status, lr.held).order_by(
        lr.kiosk_id, lr.epoch, lr.first_seq
    )
    if since is not None:
        query = query.where(lr.received_at >= since)
    if until is not None:
        query = query.where(lr.received_at < until)
    out: dict[str, dict[str, Any]] = {}
    for kiosk_id, epoch, first, last, reason, status, held in conn.execute(query):
        entry = out.setdefault(kiosk_id, {"lost": 0, "ranges": [], "refused": []})
        if status == "lost":
            entry["lost"] += int(last) - int(first) + 1
            entry["ranges"].append((int(epoch), int(first), int(last), str(reason)))
        else:
            entry["refused"].append((int(epoch), int(first), int(last), int(held)))
    return out


def _span(epoch: int, first: int, last: int) -> str:
    return f"{epoch}:{first}" + (f"-{last}" if last != first else "")


def lost_words(entry: dict[str, Any]) -> Words | None:
    """One kiosk's lost records and refused claims in words (None: nothing to say)."""
    zh, en = [], []
    if entry["ranges"]:
        spans = ", ".join(
            _span(e, a, b) + (" 损坏 damaged" if r == "damaged" else "") for e, a, b, r in entry["ranges"][:8]
        )
        more = " …" if len(entry["ranges"]) > 8 else ""
        zh.append(f"设备报告丢失记录 {entry['lost']} 条（批次:编号 {spans}{more}），这些编号不会再收到")
        en.append(f"the kiosk reported {entry['lost']} records lost (epoch:seq {spans}{more}); they will not arrive")
    if entry["refused"]:
        held = sum(h for *_r, h in entry["refused"])
        spans = ", ".join(_span(e, a, b) for e, a, b, _h in entry["refused"][:8])
        zh.append(f"设备报告丢失的记录中有 {held} 条街道办已收到：记录保留，不计为丢失（{spans}）")
        en.append(
            f"{held} records the kiosk reported lost are held by the office: they stay, not counted lost ({spans})"
        )
    if not zh:
        return None
    return Words("；".join(zh), "; ".join(en))
