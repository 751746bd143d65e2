"""Every error answer of the office is a JSON problem {code, zh, en} (issue 12): numbers too big to
store, unexpected exceptions, Starlette's own refusals; and the API docs come from the office."""

from __future__ import annotations

import logging
import re
import uuid
import warnings
from urllib.parse import quote

import pytest

from sync import signing
from tests.sync.conftest import BACKENDS, make_office

BIG = 2**63


def _client(app):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    return TestClient(app, raise_server_exceptions=False)


def _assert_problem(response, status: int | None = None) -> dict:
    """A JSON problem with words in both languages and nothing of the server's insides."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert set(body) == {"code", "zh", "en"} and body["zh"] and body["en"], body
    for leak in ("Traceback", 'File "', "OverflowError", "sqlalchemy", "psycopg", "sqlite3"):
        assert leak not in response.text
    if status is not None:
        assert response.status_code == status, response.text
    return body


@pytest.fixture(params=BACKENDS)
def kiosk_office(request, tmp_path):
    handle, schema = make_office(tmp_path, request.param)
    store, _service = handle.add_kiosk(tmp_path / "k")
    yield handle, store
    handle.client.close()
    store.engine.dispose()
    handle.engine.dispose()
    if schema:
        schema.drop()


def _get(handle, store, target: str, epoch: int):
    headers = signing.sign_request(
        store.signing_key, store.kiosk_state().kiosk_id, epoch, uuid.uuid4().hex, signing.get_body("GET", target)
    )
    return _client(handle.app).get(target, headers=headers)


def _post(handle, store, path: str, body: bytes, epoch: int, **extra: str):
    headers = signing.sign_request(store.signing_key, store.kiosk_state().kiosk_id, epoch, uuid.uuid4().hex, body)
    return _client(handle.app).post(path, content=body, headers={**headers, **extra})


@pytest.mark.parametrize("epoch", [BIG, BIG + 1, 2**64, 10**30])
def test_a_signed_request_with_an_epoch_too_big_to_store_is_a_4xx_problem(kiosk_office, epoch):
    handle, store = kiosk_office
    for response in (
        _get(handle, store, "/v1/sync-state?tip=1:x", epoch),
        _get(handle, store, "/v1/lists/revoked?since=0", epoch),
        _post(handle, store, "/v1/push", b'{"epoch": 1}', epoch),
        _post(handle, store, "/v1/known", b'{"record_ids": []}', epoch),
    ):
        assert 400 <= response.status_code < 500, response.text
        _assert_problem(response)


@pytest.mark.parametrize("tip", [f"{BIG}:x", f"{2**64}:x", "\u00b2:x", f"{10**100}:y"])
def test_a_tip_seq_too_big_to_store_is_a_4xx_problem_or_no_tip(kiosk_office, tip):
    handle, store = kiosk_office
    response = _get(handle, store, "/v1/sync-state?tip=" + quote(tip, safe=":"), 1)
    if tip.startswith("\u00b2"):  # no number at all: as if no tip was sent
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 422, response.text
        _assert_problem(response)


@pytest.mark.parametrize("lists", ["revoked:\u00b2", f"revoked:{BIG}"])
def test_list_versions_that_are_no_storable_number_are_ignored(kiosk_office, lists):
    handle, store = kiosk_office
    assert _get(handle, store, "/v1/sync-state?lists=" + quote(lists, safe=":"), 1).status_code == 200


def test_an_unexpected_exception_is_a_json_500_problem_and_logged_with_its_traceback(tmp_path, caplog):
    handle, _schema = make_office(tmp_path, "sqlite")

    @handle.app.get("/v1/broken")
    def broken() -> None:  # a bug: an exception nothing expected
        raise RuntimeError("a bug the office did not see coming")

    with caplog.at_level(logging.ERROR, logger="kakou"):
        response = _client(handle.app).get("/v1/broken")
    assert response.status_code == 500
    assert _assert_problem(response)["code"] == "internal"
    assert "a bug the office did not see coming" not in response.text
    logged = [r for r in caplog.records if r.name.startswith("kakou.") and r.exc_info]
    assert logged and "a bug the office did not see coming" in str(logged[0].exc_info[1])
    assert "/v1/broken" in logged[0].getMessage()
    handle.client.close()
    handle.engine.dispose()


def test_starlettes_own_refusals_are_problems_too(kiosk_office):
    handle, store = kiosk_office
    client = _client(handle.app)
    _assert_problem(client.get("/v1/no-such-thing"), 404)
    _assert_problem(client.delete("/v1/push"), 405)
    _assert_problem(_post(handle, store, "/v1/push", b"x" * ((1 << 20) + 1), 1), 413)
    from sync.office import admin as office_admin

    token = office_admin.add_admin(handle.engine, "张主任")
    _assert_problem(client.get("/v1/admin/audit?limit=0", headers={"Authorization": f"Bearer {token}"}), 422)
    _assert_problem(client.get("/v1/admin/audit?limit=0"), 401)


# -- the API docs --------------------------------------------------------------------------------

OFFICE = "http://testserver"


def test_the_api_docs_are_off_by_default(tmp_path):
    handle, _schema = make_office(tmp_path, "sqlite")
    _assert_problem(_client(handle.app).get("/v1/docs"), 404)
    handle.engine.dispose()


def test_the_api_docs_load_nothing_from_outside_the_office(tmp_path):
    """Turned on, the docs page names no http(s) address outside the office, and every script,
    style sheet and icon it loads is served by the office itself."""
    handle, _schema = make_office(tmp_path, "sqlite", docs=True)
    client = _client(handle.app)
    page = client.get("/v1/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    outside = [u for u in re.findall(r"(?:https?:)?//[^\s\"'<>)]+", page.text) if not u.startswith(OFFICE)]
    assert outside == []
    loaded = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page.text)
    assert len(loaded) >= 3  # the script, its style sheet, the icon
    for url in loaded:
        assert url.startswith("/"), url
        assert client.get(url).status_code == 200, url
    assert '"validatorUrl": null' in page.text  # no badge fetched from validator.swagger.io
    handle.engine.dispose()
