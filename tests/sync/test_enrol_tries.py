"""Guessing enrolment codes and admin tokens (issue 12): tries limited per client address, an
office-wide budget of wrong codes in the database, near misses lock a code, failures logged."""

from __future__ import annotations

import logging
import warnings

import pytest
from nacl.signing import SigningKey

from sync.office import admin as office_admin
from sync.office.enrol import CODE_ALPHABET, add_checkpoint
from tests.sync.conftest import BACKENDS, make_office


def _client(app, address: str = "203.0.113.7"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    return TestClient(app, raise_server_exceptions=False, client=(address, 40000))


def _enrol(client, code: str):
    return client.post("/v1/enroll", json={"code": code, "public_key": bytes(SigningKey.generate().verify_key).hex()})


def _wrong(code: str, position: int = 7) -> str:
    """The code with one character changed (still from the code alphabet)."""
    raw = code.replace("-", "")
    other = CODE_ALPHABET[(CODE_ALPHABET.index(raw[position]) + 1) % len(CODE_ALPHABET)]
    raw = raw[:position] + other + raw[position + 1 :]
    return f"{raw[:4]}-{raw[4:]}"


def _far(i: int) -> str:
    """A wrong code sharing no half with any code made here (they are random)."""
    return f"ZZZ{CODE_ALPHABET[i % 31]}-ZZ{CODE_ALPHABET[i // 31 % 31]}Z"


def _assert_429(response, code: str = "too_many_tries") -> int:
    assert response.status_code == 429, response.text
    body = response.json()
    assert set(body) == {"code", "zh", "en"} and body["code"] == code and body["zh"] and body["en"]
    wait = int(response.headers["Retry-After"])
    assert wait >= 1
    return wait


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def office_with(tmp_path, backend):
    made = []

    def make(**settings):
        handle, schema = make_office(tmp_path / f"o{len(made)}", backend, **settings)
        made.append((handle, schema))
        return handle

    yield make
    for handle, schema in made:
        handle.client.close()
        handle.engine.dispose()
        if schema:
            schema.drop()


def test_wrong_enrolment_codes_are_limited_per_address_and_logged(office_with, caplog):
    office = office_with(tries_per_address=10)
    good = add_checkpoint(office.engine, "东门卡口", "幸福里社区")["code"]
    guesser, clerk = _client(office.app, "203.0.113.7"), _client(office.app, "198.51.100.20")
    with caplog.at_level(logging.WARNING, logger="kakou"):
        for i in range(10):
            assert _enrol(guesser, _far(i)).json()["code"] == "bad_code"
        for i in range(20):
            _assert_429(_enrol(guesser, _far(100 + i)))
        _assert_429(_enrol(guesser, good))  # not even the right code is looked at from there now
    # every failure is logged with the address, and the refusals after them once (no log flood)
    assert sum("203.0.113.7" in r.getMessage() for r in caplog.records) == 11
    assert _enrol(clerk, good).status_code == 200  # another address is not held back


def test_successful_enrolments_do_not_count_against_the_address(office_with):
    office = office_with(tries_per_address=3)
    clerk = _client(office.app)
    for i in range(8):  # a clerk enrolling a street's kiosks from one laptop
        code = add_checkpoint(office.engine, f"卡口{i}", "幸福里社区")["code"]
        assert _enrol(clerk, code).status_code == 200


def test_the_office_wide_budget_of_wrong_codes_holds_across_worker_processes(office_with, tmp_path, backend):
    """Two apps on one database stand for two worker processes: the budget is in the database."""
    first = office_with(enrol_wrong_per_hour=6, tries_per_address=100)
    from sync.office.app import create_app

    second = create_app(first.office_dir, first.database_url, enrol_wrong_per_hour=6, tries_per_address=100)
    try:
        good = add_checkpoint(first.engine, "东门卡口", "幸福里社区")["code"]
        for i in range(6):  # each from its own address: no per-address limit is reached
            app = (first.app, second)[i % 2]
            assert _enrol(_client(app, f"192.0.2.{i + 1}"), _far(i)).json()["code"] == "bad_code"
        for app in (first.app, second):
            _assert_429(_enrol(_client(app, "192.0.2.99"), good))
    finally:
        second.state.office.close()


def test_near_misses_lock_the_code_they_nearly_hit(office_with):
    office = office_with(code_wrong_tries=5, tries_per_address=100)
    code = add_checkpoint(office.engine, "东门卡口", "幸福里社区")["code"]
    other = add_checkpoint(office.engine, "西门卡口", "幸福里社区")["code"]
    clerk = _client(office.app)
    for i in range(5):  # the second half typed wrong five times (or guessed at, half found)
        assert _enrol(clerk, _wrong(code, 4 + i % 4)).json()["code"] == "bad_code"
    locked = _enrol(clerk, code)
    assert locked.status_code == 403 and locked.json()["code"] == "code_locked", locked.text
    assert locked.json()["zh"] and locked.json()["en"]
    assert _enrol(clerk, other).status_code == 200  # a code nobody came near works


def test_wrong_admin_tokens_are_limited_per_address_and_logged(office_with, caplog):
    office = office_with(tries_per_address=10)
    token = office_admin.add_admin(office.engine, "张主任")
    guesser, admin = _client(office.app, "203.0.113.7"), _client(office.app, "198.51.100.20")
    for _ in range(15):  # a dashboard polling with a good token is never throttled
        assert admin.get("/v1/admin/status", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with caplog.at_level(logging.WARNING, logger="kakou"):
        for i in range(10):
            wrong = guesser.get("/v1/admin/status", headers={"Authorization": f"Bearer guess-{i}"})
            assert wrong.status_code == 401 and wrong.json()["code"] == "admin_token"
        _assert_429(guesser.get("/v1/admin/status", headers={"Authorization": f"Bearer {token}"}))
    assert sum("203.0.113.7" in r.getMessage() for r in caplog.records) == 11
    assert admin.get("/v1/admin/status", headers={"Authorization": f"Bearer {token}"}).status_code == 200
