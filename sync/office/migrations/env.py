"""Alembic environment of the office database (SQLite or PostgreSQL).

Run by `sync.office.db.upgrade` with a live connection; its own version table, so an office
database never mixes with a kiosk's migrations.

One linear history: a new revision revises the current head, and the tables it builds are the
ones declared in `sync/office/tables.py` (tests/test_migrations.py fails on a branch or on any
difference autogenerate finds).
"""

from alembic import context
from sqlalchemy.engine import Connection

from sync.office.tables import metadata

config = context.config
VERSION_TABLE = "office_alembic_version"


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from sqlalchemy import create_engine

        url = config.get_main_option("sqlalchemy.url")
        assert url, "sync.office.db.upgrade passes a connection; a URL is the only other way in"
        with create_engine(url).connect() as connection:
            _migrate(connection)
            connection.commit()
        return
    _migrate(connection)


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run()
