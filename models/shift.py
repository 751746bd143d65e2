"""The shift summary shown at handover (交接班): what happened between two moments.

Counts come from the same query as the day report (`models.report.counts_between`), so the
handover and the report can never disagree about the same hours.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from models.report import counts_between, who_is_out_of_place

if TYPE_CHECKING:
    from models.store import KioskStore


def shift_summary(store: KioskStore, start: float, end: float | None = None) -> dict[str, Any]:
    """Counts between `start` and `end` (now by default), plus what still waits for sync."""
    end = time.time() + 1 if end is None else end
    with store.engine.connect() as conn:
        body = counts_between(conn, start, end)
        conn.rollback()
    pending, oldest = store.pending()
    from models.lookup import open_fever_cases

    # Everyone still waiting for a recheck is handed over, whichever shift took their first
    # reading (the counts above are this shift's only).
    waiting = [unit or "?" for _case, unit, _first, _at, _direction in open_fever_cases(store, since=end - 86400)]
    # Who is still in (or out) now, whichever shift let them through.
    places = who_is_out_of_place(store)
    return {
        "start": start,
        "end": end,
        **body,
        "waiting_recheck": waiting,
        "visitors_inside": places["visitors_inside"],
        "registrations_inside": places["registrations_inside"],
        "out_past_curfew": places["out_past_curfew"],
        "visiting_until_hour": places["visiting_until_hour"],
        "curfew_hour": places["curfew_hour"],
        "registrations_total": sum(body["registrations"].values()),
        "unsynced": pending,
        "oldest_unsynced": oldest,
    }


def last_handover_note(store: KioskStore) -> tuple[str, float] | None:
    """The note the previous volunteer left at their handover, for the next one to read."""
    with store.engine.connect() as conn:
        row = conn.execute(
            text("SELECT note, device_time FROM shift_event WHERE event = 'off' ORDER BY device_time DESC LIMIT 1")
        ).first()
        conn.rollback()
    if row is None or not row[0]:
        return None
    return row[0], row[1]


def summary_for_record(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary as it is kept in the shift record (JSON-safe)."""
    record: dict[str, Any] = json.loads(json.dumps(summary, default=str))
    return record
