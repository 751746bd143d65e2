"""The office's database: SQLite in the office dir by default, PostgreSQL for `postgresql://`.

SQLite gets the kiosk's durability pragmas (WAL + synchronous=FULL: an answered push survives
a power cut) and BEGIN IMMEDIATE on every transaction, so concurrent pushes queue on the write
lock instead of failing to upgrade a read lock. PostgreSQL (psycopg 3) is shared by several
workers; concurrency there is handled by row locks in the ingest (see `ingest.py`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from models.errors import KakouError

if TYPE_CHECKING:
    from alembic.config import Config

OFFICE_DB_FILE = "office.db"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "office_alembic_version"
# PostgreSQL: a pooled connection idle longer than this is pinged before it is handed out.
PING_AFTER_IDLE_S = 1.0


class OfficeDatabaseError(KakouError):
    code = "office_db"


def no_office_error(office_dir: Path, database_url: str | None) -> OfficeDatabaseError:
    """A command that found no office where it was told to look: never make one there (a mistyped
    `--office-dir` would report an empty street as "every checkpoint reported")."""
    where_zh = f"数据库 {safe_url(database_url)}" if database_url else f"目录 {office_dir}"
    where_en = f"the database {safe_url(database_url)}" if database_url else f"{office_dir}"
    return OfficeDatabaseError(
        f"{where_zh} 里没有街道办（--office-dir 或 $KAKOU_OFFICE_DIR 写错了？）。"
        f"新建一个街道办：kakou office init --office-dir 目录（kakou office serve 也会新建）。",
        f"no office in {where_en} (a mistyped --office-dir or $KAKOU_OFFICE_DIR?). "
        "To create one: kakou office init --office-dir DIR (kakou office serve creates one too).",
        code="no_office",
    )


def _sqlite_file(url: str) -> Path:
    from sqlalchemy.engine import make_url

    return Path(make_url(url).database or "")


def safe_url(database_url: str | None) -> str:
    """The database address without its password, for words a clerk reads."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(normalise_url(database_url, Path("."))).render_as_string(hide_password=True)
    except Exception:  # an address that does not parse is named by its scheme only
        return (database_url or "").split("://", 1)[0] + "://..."


def normalise_url(database_url: str | None, office_dir: Path) -> str:
    if not database_url:
        return f"sqlite:///{Path(office_dir) / OFFICE_DB_FILE}"
    if database_url.startswith("postgresql://") or database_url.startswith("postgres://"):
        return "postgresql+psycopg://" + database_url.split("://", 1)[1]
    if database_url.startswith(("postgresql+psycopg://", "sqlite:///")):
        return database_url
    raise OfficeDatabaseError(
        f"不认识的数据库地址：{database_url}（可用 postgresql://… 或不填，默认用办公目录里的 SQLite）",
        f"unknown database URL {database_url} (use postgresql://... or leave it out for SQLite in the office dir)",
        code="database_url",
    )


def open_office_engine(
    office_dir: Path,
    database_url: str | None = None,
    *,
    migrate: bool = True,
    pool_size: int = 8,
    create: bool = True,
    ping_after_idle_s: float = PING_AFTER_IDLE_S,
) -> Engine:
    """The office's engine, its schema brought up to date (`migrate`).

    `create=False`: the office must already be there (its database has the office's version
    table); otherwise `no_office_error`, and nothing is made: no directory, no file, no table.
    Only `kakou office init` and `serve` (and tests) create an office."""
    office_dir = Path(office_dir)
    url = normalise_url(database_url, office_dir)
    if not create and url.startswith("sqlite") and not _sqlite_file(url).is_file():
        raise no_office_error(office_dir, database_url)  # connecting would make the file
    if url.startswith("sqlite"):
        office_dir.mkdir(parents=True, exist_ok=True)
        from models.engine import make_private

        make_private(office_dir / OFFICE_DB_FILE)  # records hold names: owner-only
        engine = create_engine(
            url,
            connect_args={"isolation_level": None, "check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=pool_size,
            hide_parameters=True,  # logged errors must not carry names or sealed records
        )
        from models.engine import apply_pragmas

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: object) -> None:
            apply_pragmas(dbapi_conn)
            dbapi_conn.execute("PRAGMA busy_timeout=30000")

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("immediate", True) else "BEGIN")
    else:
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise OfficeDatabaseError(
                "使用 PostgreSQL 需要安装 psycopg：pip install 'kakou[postgres]'",
                "PostgreSQL needs psycopg: pip install 'kakou[postgres]'",
                code="no_driver",
            ) from exc
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, hide_parameters=True)
        _ping_when_idle(engine, ping_after_idle_s)
    if not create:
        try:
            found = office_exists(engine)
        except Exception as exc:
            engine.dispose()
            raise _open_error(exc) from exc
        if not found:
            engine.dispose()
            raise no_office_error(office_dir, database_url)
    if migrate:
        try:
            upgrade(engine)
        except Exception as exc:
            engine.dispose()
            if isinstance(exc, KakouError):
                raise
            raise _open_error(exc) from exc
    return engine


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """The pool's liveness rule on PostgreSQL: a connection that came back to the pool less
    than `idle_s` ago is handed out as it is, one idle longer is pinged first, and one whose
    socket psycopg already knows is dead is replaced without a word sent.

    `pool_pre_ping` pings at every checkout: one more round trip for every push, a tenth of a
    small push's time at a busy office, to guard against a server gone away in the few
    milliseconds since the connection's last statement. A connection the server dropped since
    (PostgreSQL restarted under a busy office) fails its next statement instead; SQLAlchemy
    then discards every connection of the pool made before, so that is one failed request per
    worker, which the kiosk retries as it retries any failed push, its records safe on its disk."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
        if dbapi_conn.closed or dbapi_conn.broken:
            raise sa_exc.DisconnectionError()  # the pool retries with a fresh connection
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since <= idle_s:
            return  # new, or used a moment ago
        import psycopg

        try:
            engine.dialect.do_ping(dbapi_conn)
        except psycopg.OperationalError as error:  # the server closed it (restarted, or ended the session)
            raise sa_exc.DisconnectionError() from error


def _open_error(exc: Exception) -> OfficeDatabaseError:
    first = (str(exc).splitlines() or [""])[0][:200]
    return OfficeDatabaseError(
        f"无法打开街道数据库（{type(exc).__name__}: {first}）。请检查地址和权限。",
        f"cannot open the office database ({type(exc).__name__}: {first}). Check the address and permissions.",
        code="database_open",
    )


def office_exists(engine: Engine) -> bool:
    """Whether this database holds an office: its version table, which the first migration
    writes (an empty SQLite file or an empty PostgreSQL database holds none)."""
    from sqlalchemy import inspect

    with reader(engine).connect() as conn:
        found = inspect(conn).has_table(VERSION_TABLE)
        conn.rollback()
    return bool(found)


def reader(engine: Engine) -> Engine:
    """Read-only work (reports) on SQLite need not take the write lock."""
    return engine.execution_options(immediate=False)


def upgrade(engine: Engine) -> None:
    """Bring the office database to the newest schema (one linear history, one head)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        _drop_superseded_heads(conn, cfg)
        command.upgrade(cfg, "head")


def _drop_superseded_heads(conn: Connection, cfg: Config) -> None:
    """Keep only the newest of version rows that now lie on one line.

    The history used to branch at 0001 (0002_office_security and 0009_office_day_counts were
    both heads), so an office upgraded before it was made linear has both in its version table.
    Now that 0009 follows 0002, the 0002 row says nothing 0009 does not, and Alembic refuses a
    version table holding a revision together with one of its ancestors. Rows that are not
    ancestors of another row (a real, unknown revision included) are left for Alembic to judge.
    """
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    current = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_heads()
    if len(current) < 2:
        return
    script = ScriptDirectory.from_config(cfg)
    known = {s.revision for s in script.walk_revisions()}
    below: set[str] = set()
    for rev in current:
        if rev in known:
            below.update(s.revision for s in script.iterate_revisions(rev, "base") if s.revision != rev)
    for rev in set(current) & below:
        conn.execute(text(f"DELETE FROM {VERSION_TABLE} WHERE version_num = :v"), {"v": rev})
