"""Alembic environment for the kiosk's SQLite file.

Run programmatically by `models.engine.upgrade` with a live connection in
`config.attributes["connection"]`; batch mode so later migrations can alter SQLite tables.

One linear history whose revision ids are the four-digit file prefixes (`models.engine.head_revision`
reads them to skip Alembic at start-up); tests/test_migrations.py fails on a branch or on any
difference autogenerate finds between the migrated file and `models/tables.py`.
"""

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import models.tables  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from sqlalchemy import create_engine

        url = config.get_main_option("sqlalchemy.url")
        assert url, "models.engine.upgrade passes a connection; a URL is the only other way in"
        with create_engine(url).connect() as connection:
            _migrate(connection)
        return
    _migrate(connection)


def _migrate(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()
