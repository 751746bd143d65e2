"""The adversary tests' street office: in-process, on SQLite and on PostgreSQL (tests/sync/)."""

from __future__ import annotations

import pytest

from tests.sync.conftest import BACKENDS, open_office


@pytest.fixture(params=BACKENDS)
def office(request, tmp_path):
    yield from open_office(tmp_path, request.param)
