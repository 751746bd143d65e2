"""An office with console accounts, in-process, on SQLite and (when given) PostgreSQL."""

from __future__ import annotations

import pytest

from tests.sync.conftest import BACKENDS, open_office

PASSWORDS = {"张敏": "street-pass-1", "李社区": "community-pass", "王看": "viewer-pass-1", "赵北": "north-pass-1"}


def add_accounts(engine) -> None:
    from sync.office.enrol import add_checkpoint
    from sync.office.users import add_user

    add_checkpoint(engine, "东门卡口", "幸福里社区")
    add_checkpoint(engine, "北门卡口", "北苑社区")
    add_user(engine, "张敏", "street", PASSWORDS["张敏"])
    add_user(engine, "李社区", "community", PASSWORDS["李社区"], community="幸福里社区")
    add_user(engine, "王看", "viewer", PASSWORDS["王看"])
    add_user(engine, "赵北", "community", PASSWORDS["赵北"], community="北苑社区")


@pytest.fixture(params=BACKENDS)
def console_office(request, tmp_path):
    """An office (OfficeHandle) with two communities, one gate each, and four accounts."""
    for handle in open_office(tmp_path, request.param):
        add_accounts(handle.engine)
        yield handle
