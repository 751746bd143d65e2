"""Reads that need not see the newest commit, from a PostgreSQL streaming replica.

`kakou office serve --read-database-url URL` (or $KAKOU_OFFICE_READ_DATABASE_URL) names a hot
standby of the office's database. The day report, the status, exports and the console's pages
read from it (`ReadEngines.run`), so they take no connection, CPU or buffer cache from the
primary that takes the kiosks' pushes. Every write still goes to the primary: the read engine's
sessions are read-only (`default_transaction_read_only`), so a write sent to it by mistake fails
instead of landing on a replica that was promoted, or on the primary through a wrong URL.

What a read says about where it came from (`ReadSource.as_dict`, the `read_from` field of the
report's and the status's JSON; `read_words` for the text):

- how far the replica is behind: 0 when it has replayed all the WAL the primary had written
  when the read began (`pg_current_wal_lsn()` on the primary, which counts a commit made with
  synchronous_commit off before it reaches the disk, against `pg_last_wal_replay_lsn()` on the
  replica); else the age of the last transaction it replayed
  (`pg_last_xact_replay_timestamp()`), which is how old what it shows may be, and the bytes of
  WAL still to replay. A replica cut off from its primary cannot claim to be up to date: the
  primary's position is asked of the primary itself.
- the replica did not answer (stopped, unreachable, a read on it failed): the read goes to the
  primary and says so; the replica is left alone `read_retry` seconds (doubling while it stays
  away, up to `read_retry_max`), so a dead one costs one connect timeout per window, not one
  per request.
- the replica is further behind than `read_max_lag`: the primary answers, and says why.
- the URL names a database that is not a replica of the office's (another cluster, another
  database or schema on it, a stand-alone copy): never read from; the commands refuse to start
  with it (`check`), and a read that meets it later goes to the primary and says so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError

from models.errors import KakouError
from models.words import Words
from sync.office.db import OfficeDatabaseError, normalise_url, reader, safe_url

log = logging.getLogger("kakou." + __name__)

T = TypeVar("T")

# Why a read did not go to the replica (ReadSource.problem).
UNREACHABLE = "unreachable"  # no connection, or the connection died
NOT_A_REPLICA = "not_a_replica"  # the URL names some other database
READ_FAILED = "read_failed"  # the read itself failed there (say, cancelled by a conflict with recovery)
BEHIND = "behind"  # further behind than read_max_lag
PROBLEMS = (UNREACHABLE, NOT_A_REPLICA, READ_FAILED, BEHIND)

# What the office's database is: the cluster (a streaming replica has its primary's system
# identifier), the database and schema on it. Run on the primary and on every new connection
# to the replica.
_IDENTITY = text(
    "SELECT (SELECT system_identifier FROM pg_control_system())::text, current_database(), current_schema(),"
    " pg_is_in_recovery(), pg_postmaster_start_time()::text"
)
# Where the replica's replay is, against the position the primary had written (None: unknown).
_LAG = text(
    "SELECT pg_is_in_recovery(), pg_wal_lsn_diff(CAST(:primary AS pg_lsn), pg_last_wal_replay_lsn()),"
    " extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8"
)


class NotAReplica(KakouError):
    code = "not_a_replica"


@dataclass(frozen=True)
class ReadSource:
    """Where one read goes: `engine`, and what to tell whoever reads the answer."""

    engine: Engine
    replica: bool  # the replica answers this read (False: the primary)
    configured: bool = False  # a replica is set at all
    lag_seconds: float | None = None  # the replica's lag; None: not known (the primary did not answer)
    lag_bytes: int | None = None
    problem: str | None = None  # why the primary answers although a replica is set: PROBLEMS

    def as_dict(self) -> dict[str, Any]:
        """The `read_from` field of a JSON answer."""
        out: dict[str, Any] = {"database": "replica" if self.replica else "primary"}
        if self.configured:
            out.update(replica_lag_seconds=self.lag_seconds, replica_lag_bytes=self.lag_bytes)
            out["replica_problem"] = self.problem
        return out


def _seconds(value: float) -> str:
    if value == 0:
        return "0"
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def read_words(read_from: dict[str, Any] | None) -> Words | None:
    """The line a report or status shows about the replica (Chinese with English; English); None
    when the office has no replica (every read is the primary's: nothing to say)."""
    if not read_from or "replica_problem" not in read_from:
        return None
    problem = read_from.get("replica_problem")
    if read_from.get("database") == "replica":
        lag = read_from.get("replica_lag_seconds")
        if lag is None:
            return Words(
                "副本落后多少未知（主库没有回应）/ replica lag unknown (the primary did not answer)",
                "replica lag unknown (the primary did not answer)",
            )
        return Words(
            f"副本落后 {_seconds(lag)} 秒 / replica {_seconds(lag)} s behind", f"replica {_seconds(lag)} s behind"
        )
    if problem == BEHIND:
        lag = float(read_from.get("replica_lag_seconds") or 0)
        zh, en = (
            f"副本落后 {_seconds(lag)} 秒，太多，已改读主库",
            f"replica {_seconds(lag)} s behind, too far: read from the primary",
        )
    elif problem == NOT_A_REPLICA:
        zh, en = (
            "读库不是本街道库的副本，已改读主库",
            "the read database is not a replica of the office's: read from the primary",
        )
    elif problem == READ_FAILED:
        zh, en = "副本读取失败，已改读主库", "the read failed on the replica: read from the primary"
    else:
        zh, en = "副本连不上，已改读主库", "replica unreachable: read from the primary"
    return Words(f"{zh} / {en}", en)


def open_read_engine(read_url: str, *, connect_timeout: int = 2, pool_size: int = 4) -> Engine:
    """The replica's engine: PostgreSQL only, sessions read-only, a short connect timeout."""
    url = normalise_url(read_url, Path("."))
    if not url.startswith("postgresql"):
        raise OfficeDatabaseError(
            f"--read-database-url 要用 PostgreSQL 副本的地址（postgresql://…），不是 {safe_url(read_url)}",
            f"--read-database-url takes a PostgreSQL replica's address (postgresql://...), not {safe_url(read_url)}",
            code="read_database_url",
        )
    parsed = make_url(url)
    # libpq's `options` of the URL (a search_path, say) are kept; read-only is added to them.
    given = parsed.query.get("options", "")
    options = " ".join(given if isinstance(given, tuple) else (given,)).strip()
    return create_engine(
        parsed.difference_update_query(["options"]),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        hide_parameters=True,
        connect_args={
            "connect_timeout": max(2, int(connect_timeout)),
            "options": f"{options} -c default_transaction_read_only=on".strip(),
            "application_name": "kakou-office-reads",
        },
    )


class ReadEngines:
    """The office's reads: on the replica when one is set and usable, else on the primary.

    One per office process (`Office.reads`); thread-safe. `run(work)` is what a read calls."""

    def __init__(
        self,
        primary: Engine,
        read_url: str | None = None,
        *,
        retry: float = 5.0,
        retry_max: float = 60.0,
        connect_timeout: int = 2,
        max_lag: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.primary = primary
        self.primary_reader = reader(primary)
        self.read_url = read_url
        self.retry, self.retry_max, self.max_lag = retry, max(retry, retry_max), max_lag
        self._clock = clock
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._failures = 0
        self._problem: str | None = None
        self._primary_identity: tuple[str, ...] | None = None
        self._refusal: NotAReplica | None = None
        self.attempts = 0  # connections tried to the replica (made or failed)
        self.replica: Engine | None = None
        if read_url:
            if primary.dialect.name != "postgresql":
                raise OfficeDatabaseError(
                    "只有主库是 PostgreSQL 时才能用 --read-database-url（SQLite 没有副本）",
                    "--read-database-url needs the office on PostgreSQL (--database-url postgresql://...)",
                    code="read_database_url",
                )
            self.replica = open_read_engine(read_url, connect_timeout=connect_timeout)
            event.listen(self.replica, "do_connect", self._counting)
            event.listen(self.replica, "connect", self._check_identity)

    # -- the replica's identity ----------------------------------------------------------------

    def _counting(self, *_args: Any) -> None:
        with self._lock:
            self.attempts += 1

    def primary_identity(self, *, fresh: bool = False) -> tuple[str, ...]:
        if self._primary_identity is None or fresh:
            with self.primary_reader.connect() as conn:
                row = conn.execute(_IDENTITY).one()
                conn.rollback()
            self._primary_identity = (str(row[0]), str(row[1]), str(row[2]), str(row[4]))
        return self._primary_identity

    def _check_identity(self, dbapi_conn: Any, _record: object) -> None:
        """Every new connection to the replica: the same cluster, database and schema as the
        primary's, and either a standby or the primary itself (same server, same start). A
        stand-alone copy or a promoted former replica would show a street that no longer moves."""
        with dbapi_conn.cursor() as cur:
            cur.execute(str(_IDENTITY))
            system, database, schema, recovery, started = cur.fetchone()
        dbapi_conn.rollback()
        mine = (str(system), str(database), str(schema))
        for fresh in (False, True):  # the primary may have restarted since it was asked
            primary = self.primary_identity(fresh=fresh)
            if mine == primary[:3] and (recovery or str(started) == primary[3]):
                return
        raise NotAReplica(
            f"{safe_url(self.read_url)} 不是本街道库的副本（集群、库或 schema 不同，或者不是备库）。",
            f"{safe_url(self.read_url)} is not a replica of the office's database (another cluster, database or"
            " schema, or not a standby).",
        )

    # -- choosing ------------------------------------------------------------------------------

    def _fallback(self, problem: str, lag: float | None = None, lag_bytes: int | None = None) -> ReadSource:
        return ReadSource(self.primary_reader, False, True, lag, lag_bytes, problem)

    def _mark_down(self, problem: str, exc: BaseException | None) -> None:
        with self._lock:
            self._failures += 1
            wait = min(self.retry_max, self.retry * 2 ** min(self._failures - 1, 30))
            self._down_until = self._clock() + wait
            first, self._problem = self._problem is None, problem
        say = log.error if problem == NOT_A_REPLICA else log.warning
        if first:
            say("read replica %s: %s (%s); reads go to the primary", safe_url(self.read_url), problem, _short(exc))
        else:
            log.info("read replica still %s; next try in %.0f s", problem, wait)

    def _mark_up(self) -> None:
        with self._lock:
            back, self._failures, self._down_until, self._problem = self._problem, 0, 0.0, None
        if back is not None:
            log.warning("read replica %s answers again: reads go to it", safe_url(self.read_url))

    def _primary_lsn(self) -> str | None:
        try:
            with self.primary_reader.connect() as conn:
                lsn = conn.execute(text("SELECT pg_current_wal_lsn()::text")).scalar_one()
                conn.rollback()
            return str(lsn)
        except DBAPIError as exc:  # the replica can still answer; its lag is then unknown
            log.warning("the primary did not say its WAL position (%s): replica lag unknown", _short(exc))
            return None

    def source(self) -> ReadSource:
        """Where the next read goes, and what it will say (blocking: it may connect)."""
        if self.replica is None:
            return ReadSource(self.primary_reader, False)
        with self._lock:
            resting, problem = self._clock() < self._down_until, self._problem
        if resting:
            return self._fallback(problem or UNREACHABLE)
        primary_lsn = self._primary_lsn()
        try:
            with self.replica.connect() as conn:
                recovery, behind, age = conn.execute(_LAG, {"primary": primary_lsn}).one()
                conn.rollback()
        except NotAReplica as exc:
            self._refusal = exc
            self._mark_down(NOT_A_REPLICA, exc)
            return self._fallback(NOT_A_REPLICA)
        except DBAPIError as exc:
            self._mark_down(UNREACHABLE, exc)
            return self._fallback(UNREACHABLE)
        self._mark_up()
        lag: float | None
        if not recovery:  # the primary itself (checked on connect): nothing to catch up
            lag, lag_bytes = 0.0, 0
        elif behind is None:
            lag, lag_bytes = None, None
        elif behind <= 0:
            lag, lag_bytes = 0.0, 0
        else:
            lag, lag_bytes = (max(0.0, float(age)) if age is not None else None), int(behind)
        if self.max_lag and lag is not None and lag > self.max_lag:
            return self._fallback(BEHIND, lag, lag_bytes)
        return ReadSource(self.replica, True, True, lag, lag_bytes)

    def run(self, work: Callable[[Engine], T]) -> tuple[T, ReadSource]:
        """`work(engine)` on the replica, or on the primary when the replica cannot answer (also
        when it fails during the read); with where it ran. `work` only reads: on the replica a
        write fails (read-only sessions) and is not retried on the primary."""
        src = self.source()
        if not src.replica:
            return work(src.engine), src
        try:
            return work(src.engine), src
        except NotAReplica as exc:
            self._mark_down(NOT_A_REPLICA, exc)
            src = self._fallback(NOT_A_REPLICA)
        except DBAPIError as exc:
            if not _connection_trouble(exc):
                raise  # a read-only violation, a bad query: the primary would not do better
            # No answer from the server (it went away mid-read) or the server's own refusal
            # (a standby cancels a query that conflicts with recovery): rest it either way.
            problem = UNREACHABLE if getattr(exc.orig, "sqlstate", None) is None else READ_FAILED
            self._mark_down(problem, exc)
            src = self._fallback(problem)
        return work(src.engine), src

    def check(self) -> ReadSource:
        """For a command that starts with a replica: refuse one that is not the office's
        (`NotAReplica`, in words); one that does not answer is said (the source's problem), not refused."""
        src = self.source()
        if src.problem == NOT_A_REPLICA and self._refusal is not None:
            raise self._refusal
        return src

    def close(self) -> None:
        if self.replica is not None:
            self.replica.dispose()


def _connection_trouble(exc: DBAPIError) -> bool:
    """A failure of the replica, not of the read: its connection, or a standby's cancellation
    (OperationalError); not a read-only violation or a bad query (InternalError, ProgrammingError)."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    return bool(exc.connection_invalidated) or isinstance(exc, (OperationalError, InterfaceError))


def _short(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    inner = getattr(exc, "orig", None) or exc
    return f"{type(inner).__name__}: {(str(inner).splitlines() or [''])[0][:160]}"
