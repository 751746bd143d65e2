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


@pytest.fixture(params=BACKENDS)
def office(request, tmp_path):
    handle, schema = make_office(tmp_path, request.param)
    yield handle
    handle.client.close()
    for store in handle.kiosks:
        store.engine.dispose()
    handle.engine.dispose()
    if schema is not None:
        schema.drop()


@pytest.fixture
def sqlite_office(tmp_path):
    handle, _ = make_office(tmp_path, "sqlite")
    yield handle
    handle.client.close()
    handle.engine.dispose()
