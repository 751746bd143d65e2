"""Opening sealed personal data at the console: found by unit, masked; opened only with a reason,
through the same function as `kakou office lookup`, audited; a community clerk only for its own
community's gates, a viewer never."""

from __future__ import annotations

import datetime as dt

import pytest

from models.errors import KakouError
from models.facts import RegistrationInput, record_registration
from sync.office import audit, registration_search
from sync.office.users import Account
from tests.console.helpers import logged_in
from tests.sync.helpers import sync_until_quiet

ID_NUMBER, PHONE = "11010519491231002X", "13812345678"


def _registered(console_office, tmp_path) -> str:
    store, service = console_office.add_kiosk(tmp_path / "k1")  # a gate of 幸福里社区
    reg = record_registration(
        store,
        RegistrationInput("visitor", name="王小明", id_number=ID_NUMBER, phone=PHONE, to_unit="3栋2单元501"),
    )
    record_registration(store, RegistrationInput("visitor", name="李四", phone="15987654321", to_unit="5-1-101"))
    sync_until_quiet(service)
    return reg.record_id


def _lookups(engine) -> list[tuple]:
    return [(r["admin"], r["record_id"], r["reason"], r["outcome"]) for r in audit.recent(engine, action="lookup")]


def test_find_by_unit_is_masked_and_scoped_to_the_accounts_gates(console_office, tmp_path):
    rid = _registered(console_office, tmp_path)
    engine = console_office.engine
    (row,) = registration_search.find(engine, Account("张敏", "street"), unit="3-2-501")
    assert (row["record_id"], row["to_unit"], row["name"], row["sealed"]) == (rid, "3-2-501", "王*明", True)
    assert ID_NUMBER not in str(row) and PHONE not in str(row)
    assert registration_search.find(engine, Account("李社区", "community", "幸福里社区"), unit="3-2-501") != []
    assert registration_search.find(engine, Account("赵北", "community", "北苑社区"), unit="3-2-501") == []
    assert registration_search.find(engine, Account("赵北", "community", "北苑社区"), record_id=rid) == []
    with pytest.raises(KakouError):
        registration_search.find(engine, Account("张敏", "street"), unit="no unit")
    today = dt.date.today()
    with pytest.raises(KakouError):  # the days the wrong way round
        registration_search.find(
            engine, Account("张敏", "street"), unit="3-2-501", since=today, until=today.replace(year=2000)
        )


def test_a_street_account_opens_the_numbers_with_a_reason_and_it_is_audited(console_office, tmp_path):
    rid = _registered(console_office, tmp_path)
    c, csrf = logged_in(console_office.app, "张敏")
    found = c.get("/lookup", params={"unit": "3-2-501"})
    assert found.status_code == 200 and rid in found.text and "王*明" in found.text and ID_NUMBER not in found.text
    opened = c.post(f"/lookup/{rid}", data={"csrf": csrf, "reason": "流调 密接核实"})
    assert opened.status_code == 200 and ID_NUMBER in opened.text and PHONE in opened.text
    assert opened.headers["Cache-Control"] == "no-store"
    assert _lookups(console_office.engine) == [("console:张敏", rid, "流调 密接核实", "ok")]


def test_no_reason_no_numbers_and_no_other_communitys_record(console_office, tmp_path):
    rid = _registered(console_office, tmp_path)
    c, csrf = logged_in(console_office.app, "张敏")
    refused = c.post(f"/lookup/{rid}", data={"csrf": csrf, "reason": "   "})
    assert refused.status_code == 400 and "原因" in refused.text and ID_NUMBER not in refused.text
    assert _lookups(console_office.engine) == []  # nothing was tried: nothing to audit
    north, north_csrf = logged_in(console_office.app, "赵北")
    other = north.post(f"/lookup/{rid}", data={"csrf": north_csrf, "reason": "核实"})
    assert other.status_code == 404 and ID_NUMBER not in other.text
    # Answered as no such record, audited as what it was.
    assert _lookups(console_office.engine) == [("console:赵北", rid, "核实", "other_community")]
    home, home_csrf = logged_in(console_office.app, "李社区")
    mine = home.post(f"/lookup/{rid}", data={"csrf": home_csrf, "reason": "核实"})
    assert mine.status_code == 200 and ID_NUMBER in mine.text


def test_a_viewer_never_opens_and_csrf_is_checked(console_office, tmp_path):
    rid = _registered(console_office, tmp_path)
    viewer, csrf = logged_in(console_office.app, "王看")
    page = viewer.get("/lookup", params={"unit": "3-2-501"})
    assert page.status_code == 200 and rid in page.text and f'action="/lookup/{rid}"' not in page.text
    refused = viewer.post(f"/lookup/{rid}", data={"csrf": csrf, "reason": "看看"})
    assert refused.status_code == 403 and ID_NUMBER not in refused.text
    street, _csrf = logged_in(console_office.app, "张敏")
    assert street.post(f"/lookup/{rid}", data={"reason": "核实"}).status_code == 403
    assert street.post(f"/lookup/{rid}", data={"csrf": "forged", "reason": "核实"}).status_code == 403
    assert _lookups(console_office.engine) == []
    bad = street.get("/lookup", params={"unit": "3-2-501", "since": "someday"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text
