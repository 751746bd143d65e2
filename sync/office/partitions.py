"""The records' day partitions on PostgreSQL (migration 0023_records_by_day).

`office_record` is partitioned by LIST on `day`: one partition per office-local day, made ahead
by the office (today and the next `AHEAD_DAYS`, at start and then every `MAINTAIN_EVERY_S`), and
a DEFAULT partition that takes any record whose day has none (a kiosk whose clock is months off,
an office that was down for a week): no record is ever refused for want of a partition. When a
day's partition is made later, the rows the default holds for it move into it.

Purging a day whose whole span lies past retention is then dropping its partition (a file
unlinked), not deleting a million rows one by one; the day counts (`office_day_count`) stay, so
the day report still counts what it counted. SQLite keeps one plain table: nothing here runs.

Every change of the partition set takes one advisory lock (per schema), so several workers
making tomorrow's partition at once make it once, and a short lock_timeout, so a long reader
delays the maintenance (it runs again) instead of stalling pushes behind its lock.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.engine import Connection, Engine

log = logging.getLogger("kakou." + __name__)

TABLE = "office_record"
DEFAULT_PARTITION = "office_record_default"
AHEAD_DAYS = 7
MAINTAIN_EVERY_S = 3600.0
LOCK_TIMEOUT = "5s"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DETACHED = re.compile(r"^office_record_d\d{8}$")
_BOUND = re.compile(r"^FOR VALUES IN \('(\d{4}-\d{2}-\d{2})'\)$")


def is_day(day: str) -> bool:
    """A real calendar date written YYYY-MM-DD (so safe to put in DDL as a literal)."""
    if not isinstance(day, str) or not _DAY.match(day):
        return False
    try:
        dt.date.fromisoformat(day)
    except ValueError:
        return False
    return True


def partition_name(day: str) -> str:
    if not is_day(day):
        raise ValueError(f"not a day: {day!r}")
    return f"{TABLE}_d{day.replace('-', '')}"


def is_partitioned(conn: Connection) -> bool:
    """Whether office_record (in the connection's schema) is a partitioned table."""
    if conn.dialect.name != "postgresql":
        return False
    found = conn.exec_driver_sql(
        "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid WHERE c.oid = to_regclass(%(t)s)",
        {"t": TABLE},
    ).first()
    return found is not None


def day_partitions(conn: Connection) -> dict[str, str]:
    """day -> partition name, for every day that has a partition of its own."""
    rows = conn.exec_driver_sql(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%(t)s)",
        {"t": TABLE},
    ).all()
    days = {}
    for name, bound in rows:
        m = _BOUND.match(bound or "")
        if m:
            days[m.group(1)] = name
    return days


def _lock(conn: Connection) -> None:
    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.office_record_partitions'))")


def _add_day(conn: Connection, day: str) -> int:
    """Make `day`'s partition; the rows the default partition holds for it move in. Returns how many moved."""
    name = partition_name(day)
    conn.exec_driver_sql(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS)")
    moved = conn.exec_driver_sql(
        f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE day = %(d)s RETURNING *)"
        f" INSERT INTO {name} SELECT * FROM moved",
        {"d": day},
    ).rowcount
    # ATTACH takes only SHARE UPDATE EXCLUSIVE on office_record: pushes go on meanwhile.
    conn.exec_driver_sql(f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES IN ('{day}')")
    return int(moved or 0)


def ensure_days(engine: Engine, days: Iterable[str]) -> list[str]:
    """Make a partition for each of `days` that has none (not days that are no dates); the days made."""
    wanted = sorted({d for d in days if is_day(d)})
    if not wanted or engine.dialect.name != "postgresql":
        return []
    made = []
    with engine.begin() as conn:
        if not is_partitioned(conn):
            return []
        _lock(conn)
        have = day_partitions(conn)
        left = detached(conn)  # a purged day's table not dropped yet holds the name a day's partition takes
        if left:
            conn.exec_driver_sql(f"DROP TABLE {', '.join(left)}")
        for day in wanted:
            if day not in have:
                moved = _add_day(conn, day)
                made.append(day)
                if moved:
                    log.info("partition for %s made; %d records moved in from the default partition", day, moved)
    return made


def days_ahead(today: dt.date, ahead: int = AHEAD_DAYS) -> list[str]:
    return [(today + dt.timedelta(days=i)).isoformat() for i in range(ahead + 1)]


def held_in_default(engine: Engine) -> dict[str, int]:
    """day -> records the default partition holds for it (days that have no partition)."""
    with engine.connect() as conn:
        if not is_partitioned(conn):
            return {}
        rows = conn.exec_driver_sql(f"SELECT day, count(*) FROM {DEFAULT_PARTITION} GROUP BY day").all()
        conn.rollback()
    return {d: int(n) for d, n in rows}


def maintain(engine: Engine, *, today: dt.date | None = None, keep_from: str | None = None) -> list[str]:
    """Partitions for today and the days ahead; and for any day the default partition holds
    records of that lies between `keep_from` (the first day still within retention) and the
    last day ahead, so a day the office missed while it was down gets its own too. Days made."""
    if engine.dialect.name != "postgresql":
        return []
    today = today or dt.date.today()
    ahead = days_ahead(today)
    days = set(ahead)
    if keep_from is not None:
        days.update(d for d in held_in_default(engine) if keep_from <= d <= ahead[-1])
    return ensure_days(engine, days)


@dataclass(frozen=True)
class Dropped:
    days: list[str]  # days whose partition was dropped
    records: int  # records of those days (from the day counts) and default-partition rows deleted


def drop_days_before(engine: Engine, first_kept: str) -> Dropped:
    """Take away the partitions of every day before `first_kept` (the whole day past retention),
    and delete the default partition's rows of such days. The day counts stay.

    The partitions are detached here, in one short transaction: once it commits, office_record
    (every reader and every push) no longer holds a row of those days. Their files are removed
    afterwards by `drop_detached` (`drop_detached_later`: in a thread): a DROP's COMMIT unlinks
    every file of every table and index it drops, seconds for a month of a city's records,
    and a detached table's DROP no longer locks office_record, so no push waits for that."""
    if engine.dialect.name != "postgresql" or not is_day(first_kept):
        return Dropped([], 0)
    with engine.begin() as conn:
        if not is_partitioned(conn):
            return Dropped([], 0)
        _lock(conn)
        have = day_partitions(conn)
        gone = sorted(d for d in have if d < first_kept)
        counted = 0
        if gone:
            counted = int(
                conn.exec_driver_sql(
                    "SELECT coalesce(sum(n), 0) FROM office_day_count WHERE day = ANY(%(days)s)", {"days": gone}
                ).scalar()
                or 0
            )
        for day in gone:  # ACCESS EXCLUSIVE on office_record until COMMIT: a moment (no file is touched)
            conn.exec_driver_sql(f"ALTER TABLE {TABLE} DETACH PARTITION {have[day]}")
        if gone:  # each pass's last passage on those days goes with them (sync/office/inside.py)
            from sync.office.inside import forget_days_before

            forget_days_before(conn, first_kept)
        deleted = conn.exec_driver_sql(f"DELETE FROM {DEFAULT_PARTITION} WHERE day < %(d)s", {"d": first_kept}).rowcount
    return Dropped(gone, counted + int(deleted or 0))


def detached(conn: Connection) -> list[str]:
    """Day tables of this schema that are no partition of office_record: detached by a purge
    and not dropped yet (the drop still running, or the office stopped before it ran)."""
    rows = conn.exec_driver_sql(
        "SELECT c.relname FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace"
        " AND c.relkind = 'r' AND c.relname LIKE %(like)s AND NOT c.relispartition ORDER BY c.relname",
        {"like": f"{TABLE}\\_d%"},
    ).scalars()
    return [name for name in rows if _DETACHED.match(name)]


def drop_detached(engine: Engine) -> list[str]:
    """Drop the day tables a purge detached (one statement); the names dropped."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.begin() as conn:
        if not is_partitioned(conn):
            return []
        _lock(conn)
        names = detached(conn)
        if names:
            conn.exec_driver_sql(f"DROP TABLE {', '.join(names)}")
    return names


_drops: list[threading.Thread] = []


def drop_detached_later(engine: Engine) -> threading.Thread:
    """`drop_detached` in a thread (not a daemon: a command that purged waits for it before it
    exits). A failure is logged; the office's maintenance (`Maintainer`) drops what is left."""

    def run() -> None:
        try:
            dropped = drop_detached(engine)
            if dropped:
                log.info("purged day partitions dropped: %d", len(dropped))
        except Exception as exc:  # the next maintenance round drops them
            log.warning("purged day partitions not dropped yet (%s: %s)", type(exc).__name__, str(exc)[:200])

    thread = threading.Thread(target=run, name="kakou-drop-partitions")
    _drops[:] = [t for t in _drops if t.is_alive()] + [thread]
    thread.start()
    return thread


def wait_for_drops(timeout: float | None = None) -> None:
    """Wait for the drops `drop_detached_later` started (tests; an engine about to be disposed)."""
    for thread in list(_drops):
        thread.join(timeout)


def first_day_kept(cutoff: float) -> str:
    """The first office-local day not wholly before `cutoff`: the day `cutoff` falls in."""
    return time.strftime("%Y-%m-%d", time.localtime(cutoff))


class Maintainer:
    """Runs `maintain` at start and every `every` seconds in a daemon thread (one per worker
    process; the advisory lock makes them agree). Failures are logged and tried again."""

    def __init__(self, engine: Engine, *, every: float = MAINTAIN_EVERY_S):
        self.engine = engine
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.engine.dialect.name != "postgresql" or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="kakou-partitions", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from sync.office.sealed import retention_days

        while not self._stop.is_set():
            try:
                keep_from = first_day_kept(time.time() - retention_days(self.engine) * 86400)
                drop_detached(self.engine)  # what a purge detached and could not drop (the office stopped)
                made = maintain(self.engine, keep_from=keep_from)
                if made:
                    log.info("record partitions made for %s", ", ".join(made))
            except Exception as exc:  # a lock timeout, a lost connection: try again next round
                log.warning("record partitions not made this time (%s: %s)", type(exc).__name__, str(exc)[:200])
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
