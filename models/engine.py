"""The kiosk's SQLite engine: durability pragmas, integrity check, migrations.

No engine exists at import time; `open_engine` makes one for a given file.

Why these pragmas (set on every connection, since SQLite keeps them per connection):
- WAL with synchronous=FULL: a passage shown as saved survives a power cut (WAL+NORMAL may
  roll back the last commits on power loss, which would also reuse `seq` numbers).
- foreign_keys=ON: SQLite's default is off.
- busy_timeout: the sync worker and the duty desk write from different threads.
- secure_delete=ON: purged personal data is overwritten, not left in free pages.
- BEGIN IMMEDIATE for every write transaction (`writer(engine)`): a writer takes the write
  lock up front, so two writers never deadlock upgrading a read lock, and `seq` stays
  gapless and unique.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, ExceptionContext

from models.errors import StoreError
from models.files import private_dir

BUSY_TIMEOUT_MS = 5000
PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA secure_delete=ON",
)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def apply_pragmas(dbapi_conn: sqlite3.Connection) -> None:
    cur = dbapi_conn.cursor()
    for pragma in PRAGMAS:
        cur.execute(pragma)
    cur.close()


def open_engine(db_path: Path | str, *, migrate: bool = True, check: bool = True) -> Engine:
    """Open (creating if needed) the kiosk database, checked and migrated to the newest schema."""
    db_path = Path(db_path)
    try:
        private_dir(db_path.parent)  # the data dir: owner-only, like everything in it
    except OSError as exc:
        raise StoreError(
            f"无法创建数据目录 {db_path.parent}：{exc.strerror}",
            f"cannot create the data directory {db_path.parent}: {exc.strerror}",
        ) from exc
    make_private(db_path)
    engine = create_engine(
        f"sqlite:///{db_path}",
        # Python's sqlite3 must not open transactions behind our back; we BEGIN ourselves.
        connect_args={"isolation_level": None, "check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        # An error's text (logged with its traceback) must not carry the statement's parameters:
        # they are names, phones and ID numbers.
        hide_parameters=True,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        apply_pragmas(dbapi_conn)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers (see `writer`) take the write lock up front; readers stay deferred so a
        # read in another thread never waits behind a write.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("immediate") else "BEGIN")

    @event.listens_for(engine, "handle_error")
    def _on_error(context: ExceptionContext) -> StoreError | None:
        # A full disk (SD card, small partition) shows up at INSERT or at COMMIT, on any write
        # path. SQLite has already rolled the transaction back, so nothing saved is harmed;
        # turn it into a StoreError the duty screen can show in plain words.
        orig = context.original_exception
        if isinstance(orig, sqlite3.OperationalError) and "disk is full" in str(orig):
            return _store_error(db_path, orig)
        # A damaged page met by a read (commands that skip the start-up check, or damage
        # after it): the same plain words as a failed check, not an internal error.
        if isinstance(orig, sqlite3.DatabaseError) and any(w in str(orig) for w in DAMAGE_WORDS):
            return _store_error(db_path, orig)
        return None

    try:
        if check:
            quick_check(engine)
        if migrate:
            upgrade(engine)
    except sqlite3.DatabaseError as exc:  # pragma: no cover - wrapped below by SQLAlchemy
        raise _store_error(db_path, exc) from exc
    except Exception as exc:
        if isinstance(exc, StoreError):
            raise
        orig = getattr(exc, "orig", None)
        if isinstance(orig, sqlite3.DatabaseError):
            raise _store_error(db_path, orig) from exc
        raise
    return engine


# What SQLite says when the file itself is damaged (not a busy lock, not a constraint).
DAMAGE_WORDS = ("malformed", "not a database", "disk I/O error")


def make_private(db_path: Path) -> None:
    """The database holds names and masked numbers: readable by its owner only. SQLite gives
    the -wal and -shm files the database file's permissions, so setting them here covers all
    three. (An empty file is a valid new SQLite database.)"""
    import os

    try:
        if not db_path.exists():
            os.close(os.open(db_path, os.O_WRONLY | os.O_CREAT, 0o600))
        elif db_path.stat().st_mode & 0o077:
            os.chmod(db_path, 0o600)
    except OSError:
        pass  # a read-only or foreign file system: opening it below says what is wrong


def writer(engine: Engine) -> Engine:
    """The same engine, but its transactions begin with BEGIN IMMEDIATE."""
    return engine.execution_options(immediate=True)


def _store_error(db_path: Path, exc: sqlite3.DatabaseError) -> StoreError:
    message = str(exc)
    if "disk is full" in message or "database or disk is full" in message:
        return StoreError(
            f"磁盘已满，无法写入 {db_path}。请清理空间后重试，已保存的记录不会丢失。",
            f"disk full, cannot write {db_path}. Free some space and retry; saved records are kept.",
            code="disk_full",
        )
    return damaged_error(message, db_path)


def damaged_error(detail: str, db_path: Path | str | None = None) -> StoreError:
    """The one set of words for a damaged kiosk file, wherever the damage shows (the start-up
    check, a read, a command, the background check)."""
    where_zh = f"：{db_path}" if db_path else ""
    where_en = f": {db_path}" if db_path else ""
    return StoreError(
        f"数据库文件已损坏（{detail}）{where_zh}。请联系管理员，不要删除该文件，也不要再往里写记录。",
        f"the database file is damaged ({detail}){where_en}. Call your supervisor; do not delete the file, and"
        " do not record into it.",
        code="store_damaged",
    )


def as_damage(exc: BaseException, db_path: Path | str | None = None) -> StoreError | None:
    """The damaged-file words for an error that came out of the kiosk's database where nothing
    turned it into words yet (a damaged schema: "no such column"; a damaged text value that is no
    longer UTF-8), or None for anything else. A busy or locked file is not damage."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, StoreError):
            return current
        if isinstance(current, (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)):
            return None  # a rule of the schema or a mistake in the code, not a damaged file
        if isinstance(current, sqlite3.DatabaseError):
            text_ = str(current)
            if "locked" in text_ or "busy" in text_:
                return None
            return damaged_error(text_[:120], db_path)
        if isinstance(current, UnicodeDecodeError) and _raised_by_sqlite(current):
            return damaged_error("text is not UTF-8", db_path)
        current = current.__cause__ or current.__context__ or getattr(current, "orig", None)
    return None


def _raised_by_sqlite(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if "sqlalchemy" in name or "sqlite3" in name or name.endswith("engine.py"):
            return True
        tb = tb.tb_next
    return False


def quick_check(engine: Engine, pragma: str = "quick_check") -> None:
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(f"PRAGMA {pragma}").fetchall()
            conn.rollback()
    except Exception as exc:
        damage = as_damage(exc)
        if damage is None:
            raise
        raise damage from exc
    if [r[0] for r in rows] != ["ok"]:
        raise damaged_error("; ".join(str(r[0]) for r in rows[:3]))


def integrity_check(engine: Engine) -> None:
    """SQLite's full check (indexes against their tables too): slower than quick_check, for a
    background thread."""
    quick_check(engine, "integrity_check")


def head_revision() -> str:
    """The newest migration id, read from the newest file (cheap: no Alembic import). Files are
    numbered in order; the id is the file's `revision = "..."` line (`0003`, `0004_pass_binding`)."""
    import re

    newest = sorted((MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))[-1]
    found = re.search(r'^revision = "([^"]+)"', newest.read_text("utf-8"), re.MULTILINE)
    return found.group(1) if found else newest.stem.split("_", 1)[0]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        exists = conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'"
        ).first()
        rev = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() if exists else None
        conn.rollback()
    return rev


def upgrade(engine: Engine) -> None:
    """Bring the file to the newest schema; a kiosk in the field upgrades its own file."""
    if current_revision(engine) == head_revision():
        return  # the common case, without importing Alembic (start-up time)
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with writer(engine).begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def read_pragmas(engine: Engine) -> dict[str, object]:
    """The pragmas as a live connection reports them (for tests and `kakou doctor`)."""
    names = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout", "secure_delete", "temp_store")
    with engine.connect() as conn:
        values = {n: conn.exec_driver_sql(f"PRAGMA {n}").scalar() for n in names}
        conn.rollback()
    return values


def checkpoint_and_close(engine: Engine) -> None:
    """At clean shutdown: fold the WAL back into the main file."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.rollback()
    finally:
        engine.dispose()


def count(engine: Engine, sql: str, **params: Any) -> int:
    with engine.connect() as conn:
        value = conn.execute(text(sql), params).scalar()
        conn.rollback()
    return int(value or 0)
