from __future__ import annotations

import warnings

import pytest

from tests.postgres import postgres_url
from tests.sync.helpers import OfficeHandle, PgSchema, new_client

warnings.filterwarnings("ignore", message=".*httpx.*", category=DeprecationWarning)

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def make_office(tmp_path, backend: str, **kwargs):
    from sync.office.app import create_app

    schema = None
    url = None
    if backend == "postgres":
        schema = PgSchema(postgres_url())
        url = schema.url
    app = create_app(tmp_path / "office", url, **kwargs)
    client, transport = new_client(app)
    handle = OfficeHandle(app, app.state.office.engine, tmp_path / "office", url, transport, client)
    return handle, schema


def open_office(tmp_path, backend: str, **kwargs):
    """An office in-process on `backend` for one test: yields its handle, then closes its client,
    its kiosks' and its own engine, and drops its PostgreSQL schema."""
    handle, schema = make_office(tmp_path, backend, **kwargs)
    try:
        yield handle
    finally:
        handle.client.close()
        for store in handle.kiosks:
            store.engine.dispose()
        handle.engine.dispose()
        if schema is not None:
            schema.drop()


@pytest.fixture(params=BACKENDS)
def office(request, tmp_path):
    yield from open_office(tmp_path, request.param)


@pytest.fixture
def sqlite_office(tmp_path):
    handle, _ = make_office(tmp_path, "sqlite")
    yield handle
    handle.client.close()
    handle.engine.dispose()
