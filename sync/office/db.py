"""The office's database: SQLite in the office dir by default, PostgreSQL for `postgresql://`.

SQLite gets the kiosk's durability pragmas (WAL + synchronous=FULL: an answered push survives
a power cut) and BEGIN IMMEDIATE on every transaction, so concurrent pushes queue on the write
lock instead of failing to upgrade a read lock. PostgreSQL (psycopg 3) is shared by several
workers; concurrency there is handled by row locks in the ingest (see `ingest.py`).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from models.errors import KakouError

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


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


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
        )
        from models.engine import apply_pragmas

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            apply_pragmas(dbapi_conn)
            dbapi_conn.execute("PRAGMA busy_timeout=30000")

        @event.listens_for(engine, "begin")
        def _on_begin(conn):
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
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
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
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        # Every head: independent features add their revisions as branches from the base
        # (e.g. 0009_office_day_counts), so one engineer's migration never blocks another's.
        command.upgrade(cfg, "heads")
