"""Replays: every signed request that changes something at the office is taken once.

A kiosk's request id carries a stamp (`sync.signing.request_id_for`) that strictly increases
per kiosk; the office keeps the last stamp it took of each kiosk in its database (one column,
`office_kiosk.last_stamp`, so every worker process and both databases agree) and takes a
request only with a higher one, in the same transaction as the request's own work. A captured
request replayed later, or one that arrives after a newer one, is refused with a signed
`stale_request` problem and changes nothing: not the records, not the kiosk's last_seen, clock
skew or list versions.

No clock window on the kiosk's own clock (a kiosk whose clock reads 1970 must still push): the
stamp is the kiosk's estimate of the office's time in ms, learnt from the office's signed
answers, and the refusal says (signed) which stamp the office would take, so an honest kiosk
that lost its place (restarted, restored from an old backup, a second process) tries once more
and goes on. A stamp more than `AHEAD_MS` beyond the office's clock is refused too, so no
kiosk can push its own stamps so far ahead that it locks itself out.

A kiosk too old to send stamps is taken as before until it sends its first stamp; from then on
an id without a stamp is refused like a replay.
"""

from __future__ import annotations

import time

from sqlalchemy import or_, select
from sqlalchemy.engine import Connection

from sync import signing
from sync.office import problems
from sync.office import tables as t
from sync.office.problems import ApiProblem, ProblemType

AHEAD_MS = 10 * 60 * 1000


class StaleRequest(ApiProblem):
    """A request whose stamp the office will not take; its answer names the lowest it would."""

    def __init__(self, problem: ProblemType, next_stamp: int):
        super().__init__(problem)
        self.next_stamp = next_stamp


def stamp_of(request_id: str) -> int | None:
    """The stamp of a signed request's id (None: a kiosk older than stamps); a malformed one is
    refused before anything else looks at the request."""
    stamp = signing.stamp_of(request_id)
    if stamp == -1:
        raise ApiProblem(problems.SIGNATURE_HEADERS)
    return stamp


# PostgreSQL's push sends the claim in the pipeline that opens its batch (sync/office/ingest.py):
# no round trip of its own. It takes the stamp exactly as `claim` does; no row means refused.
PG_CLAIM = (
    "UPDATE office_kiosk SET last_stamp = %(stamp)s::int8"
    " WHERE kiosk_id = %(k)s AND (last_stamp IS NULL OR last_stamp < %(stamp)s::int8)"
)


def pipelines(stamp: int | None, *, now: float) -> bool:
    """Whether `PG_CLAIM` decides this stamp alone: a stamp, not too far ahead. (Else `claim`,
    which reads the kiosk's last stamp first: kiosks older than stamps, or a refusal anyway.)"""
    return stamp is not None and stamp <= int(now * 1000) + AHEAD_MS


def refuse(conn: Connection, kiosk_id: str) -> StaleRequest:
    """The refusal of a stamp `PG_CLAIM` did not take, naming the lowest the office would take."""
    kiosk = t.kiosk.c
    last = conn.execute(select(kiosk.last_stamp).where(kiosk.kiosk_id == kiosk_id)).scalar()
    return StaleRequest(problems.STALE_REQUEST, int(last or 0) + 1)


def claim(conn: Connection, kiosk_id: str, stamp: int | None, *, now: float | None = None) -> None:
    """Take `stamp` for `kiosk_id` inside the caller's transaction, or raise StaleRequest
    (leaving the block rolls back everything the request did)."""
    now_ms = int((time.time() if now is None else now) * 1000)
    kiosk = t.kiosk.c
    if stamp is None:
        last = conn.execute(select(kiosk.last_stamp).where(kiosk.kiosk_id == kiosk_id)).scalar()
        if last is not None:
            raise StaleRequest(problems.STALE_REQUEST, int(last) + 1)
        return
    if stamp > now_ms + AHEAD_MS:
        last = conn.execute(select(kiosk.last_stamp).where(kiosk.kiosk_id == kiosk_id)).scalar()
        raise StaleRequest(problems.REQUEST_AHEAD, max(int(last or 0) + 1, 0))
    taken = conn.execute(
        t.kiosk.update()
        .where(kiosk.kiosk_id == kiosk_id, or_(kiosk.last_stamp.is_(None), kiosk.last_stamp < stamp))
        .values(last_stamp=stamp)
    ).rowcount
    if taken != 1:
        raise refuse(conn, kiosk_id)
