"""The office's database: SQLite in the office dir by default, PostgreSQL for `postgresql://`.

SQLite gets the kiosk's durability pragmas (WAL + synchronous=FULL: an answered push survives
a power cut) and BEGIN IMMEDIATE on every transaction, so concurrent pushes queue on the write
lock instead of failing to upgrade a read lock. PostgreSQL (psycopg 3) is shared by several
workers; concurrency there is handled by row locks in the ingest (see `ingest.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine

from models.errors import KakouError

if TYPE_CHECKING:
    from alembic.config import Config

OFFICE_DB_FILE = "office.db"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "office_alembic_version"


class OfficeDatabaseError(KakouError):
    code = "office_db"


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
    office_dir: Path, database_url: str | None = None, *, migrate: bool = True, pool_size: int = 8
) -> Engine:
    office_dir = Path(office_dir)
    url = normalise_url(database_url, office_dir)
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
        engine = create_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, hide_parameters=True
        )
    if migrate:
        try:
            upgrade(engine)
        except Exception as exc:
            engine.dispose()
            if isinstance(exc, KakouError):
                raise
            raise OfficeDatabaseError(
                f"无法打开街道数据库（{type(exc).__name__}: {str(exc).splitlines()[0][:200]}）。请检查地址和权限。",
                f"cannot open the office database ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). "
                "Check the address and permissions.",
                code="database_open",
            ) from exc
    return engine


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
