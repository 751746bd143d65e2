"""Guessing enrolment codes and admin tokens: how many tries are answered, and who gets locked.

Three limits, each answered 429 with Retry-After (a JSON problem), each failure logged with the
client's address:

- Per client address (`AddressBuckets`, in each worker process's memory): `tries_per_address`
  failed tries of an enrolment code or an admin token, refilled over `tries_window` seconds. A
  try takes a token before it is looked at (so parallel tries cannot overrun the budget) and a
  success gives it back: a clerk who enrols ten kiosks, or an admin whose dashboard polls, is
  never throttled. Memory is enough here: with N workers an address gets at most N times the
  budget, and the office-wide budget below holds whatever the processes do. IPv6 addresses are
  counted per /64 (one household's block), as one address.
- Office-wide, in the database (`office_throttle`, shared by every worker): at most
  `enrol_wrong_per_hour` wrong enrolment codes an hour from everyone together. This is what
  bounds a guesser with many addresses: 31^8 = 8.5e11 codes, so with 100 pending codes and 100
  wrong tries an hour a guess succeeds about once in 10^4 years. The price, said plainly: while
  someone burns the budget, honest enrolments wait too (the clerk sees "try again in N
  minutes"; the log names the addresses).
- Per code, where it can be known: a wrong code names no checkpoint, so "tries per code" cannot
  be counted for the code that was meant. What can be known is a near miss: a try that gets
  one half of a pending code right (`XXXX-` or `-XXXX`). Each near miss counts against that
  code, and after `code_wrong_tries` of them the code is locked (it must be made again with
  `kakou office add-checkpoint`): a clerk's repeated typos, or a guesser who has found half a
  code, get no more than a few tries at the rest. The halves are stored as hashes; they add
  nothing for someone holding the database, who can already search the 8.5e11 full codes.

Admin tokens are 256-bit random (`admin.add_admin`): no budget makes guessing them feasible,
so they get the per-address limit and the log, not an office-wide lockout an attacker could
turn against the admins.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from sync.office import problems
from sync.office import tables as t
from sync.office.problems import ApiProblem

log = logging.getLogger("kakou." + __name__)

ENROL_BUDGET = "enrol_wrong"  # the office-wide budget's row in office_throttle
BUDGET_WINDOW_S = 3600.0
MAX_ADDRESSES = 50_000  # buckets kept per process; beyond, the full (idle) ones are dropped


def client_address(host: str | None) -> str:
    """The address a bucket counts: the peer's IPv4 address, its IPv6 /64."""
    if not host:
        return "?"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]  # "testclient", a unix socket's name
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass
class _Bucket:
    tokens: float
    at: float
    warned: bool = False  # its refusal is logged once until it has a try again (no log flood)


class AddressBuckets:
    """Token buckets per (kind, address): `capacity` tries, refilled evenly over `window_s`."""

    def __init__(self, capacity: int, window_s: float):
        self.capacity = capacity
        self.rate = capacity / window_s
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()

    def _refilled(self, key: tuple[str, str], now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_ADDRESSES:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(float(self.capacity), now)
        else:
            bucket.tokens = min(float(self.capacity), bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
        return bucket

    def _forget_full(self, now: float) -> None:
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.at) * self.rate >= self.capacity]
        for k in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[k]

    def take(self, kind: str, address: str) -> None:
        """One try for this address, or ApiProblem 429 with the seconds until the next one."""
        now = time.monotonic()
        with self._lock:
            bucket = self._refilled((kind, address), now)
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                bucket.warned = False
                return
            wait = math.ceil((1 - bucket.tokens) / self.rate)
            warn, bucket.warned = not bucket.warned, True
        if warn:
            log.warning("too many %s tries from %s: refused until it waits %d s (logged once)", kind, address, wait)
        raise ApiProblem(TOO_MANY[kind], headers={"Retry-After": str(wait)}, minutes=_minutes(wait))

    def give_back(self, kind: str, address: str) -> None:
        """The try succeeded: it does not count."""
        with self._lock:
            bucket = self._buckets.get((kind, address))
            if bucket is not None:
                bucket.tokens = min(float(self.capacity), bucket.tokens + 1)


def _minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60))


TOO_MANY = {
    "enrol": problems.TOO_MANY_ENROL_TRIES,
    "admin": problems.TOO_MANY_ADMIN_TRIES,
    "login": problems.TOO_MANY_LOGIN_TRIES,  # the console's login form (sync/office/console/auth.py)
}


# -- the enrolment code's halves ----------------------------------------------------------------


def half_hashes(normalised: str) -> tuple[str, str]:
    """The hashes of a normalised code's first and second half (each with its own context)."""
    half = len(normalised) // 2
    return (
        hashlib.sha256(b"kakou/enrol-head/v1\x00" + normalised[:half].encode("ascii", "replace")).hexdigest(),
        hashlib.sha256(b"kakou/enrol-tail/v1\x00" + normalised[half:].encode("ascii", "replace")).hexdigest(),
    )


# -- the office-wide budget (in the database) ---------------------------------------------------


def _budget_row(conn: Connection, name: str) -> tuple[float, int]:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(insert(t.throttle).values(name=name, window_start=0.0, tries=0).on_conflict_do_nothing())
    row = conn.execute(
        select(t.throttle.c.window_start, t.throttle.c.tries).where(t.throttle.c.name == name).with_for_update()
    ).one()
    return float(row.window_start), int(row.tries)


def check_enrol_budget(engine: Engine, per_hour: int) -> None:
    """429 while the office's wrong enrolment codes of this hour are used up (blocking: call it
    in a worker thread)."""
    now = time.time()
    with engine.execution_options(immediate=False).connect() as conn:
        row = conn.execute(
            select(t.throttle.c.window_start, t.throttle.c.tries).where(t.throttle.c.name == ENROL_BUDGET)
        ).first()
        conn.rollback()
    if row is None or now >= row.window_start + BUDGET_WINDOW_S or row.tries < per_hour:
        return
    wait = math.ceil(row.window_start + BUDGET_WINDOW_S - now)
    log.warning("the office's budget of wrong enrolment codes is used up: enrolment refused for %d s", wait)
    raise ApiProblem(problems.ENROL_BUDGET_SPENT, headers={"Retry-After": str(wait)}, minutes=_minutes(wait))


def wrong_code(engine: Engine, normalised: str, *, lock_after: int, address: str) -> int:
    """A wrong enrolment code was tried: count it in the office's budget, and against every
    pending code it is a near miss of (locking those with `lock_after` near misses). Returns
    how many codes it was a near miss of (blocking: call it in a worker thread)."""
    now = time.time()
    head, tail = half_hashes(normalised)
    code = t.enrol_code.c
    with engine.begin() as conn:
        start, tries = _budget_row(conn, ENROL_BUDGET)
        if now >= start + BUDGET_WINDOW_S:
            start, tries = now, 0
        conn.execute(
            t.throttle.update().where(t.throttle.c.name == ENROL_BUDGET).values(window_start=start, tries=tries + 1)
        )
        near = conn.execute(
            t.enrol_code.update()
            .where(
                code.used_at.is_(None), code.locked_at.is_(None), (code.head_hash == head) | (code.tail_hash == tail)
            )
            .values(wrong_tries=code.wrong_tries + 1)
        ).rowcount
        locked = 0
        if near:
            locked = conn.execute(
                t.enrol_code.update()
                .where(code.used_at.is_(None), code.locked_at.is_(None), code.wrong_tries >= lock_after)
                .values(locked_at=now)
            ).rowcount
    log.warning(
        "wrong enrolment code from %s (%d this hour office-wide%s%s)",
        address,
        tries + 1,
        f"; a near miss of {near} pending code(s)" if near else "",
        f"; {locked} code(s) locked" if locked else "",
    )
    return int(near)
