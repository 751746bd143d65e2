"""The Lists page: the quarantine and watch lists and revoking a pass, changed by street accounts
only, taken by the gates at their next pull."""

from __future__ import annotations

from tests.console.helpers import logged_in
from tests.sync.helpers import write_passages


def test_a_unit_quarantined_at_the_console_reaches_the_kiosk_at_its_next_pull(console_office, tmp_path):
    store, service = console_office.add_kiosk(tmp_path / "k1")
    write_passages(store, 1)
    service.run_once()
    assert "3-2-501" not in store.gate_state().quarantine_units
    c, csrf = logged_in(console_office.app, "张敏")
    answer = c.post(
        "/lists/quarantine/add", data={"csrf": csrf, "unit": "3-2-501", "until": "2099-01-01", "note": "密接"}
    )
    assert answer.status_code == 200 and "已加入" in answer.text
    page = c.get("/lists").text
    assert "3-2-501" in page and "密接" in page and "已拿到最新版本的卡口 0/1" in page  # not pulled yet
    service.run_once()
    assert "3-2-501" in store.gate_state().quarantine_units
    assert "已拿到最新版本的卡口 1/1" in c.get("/lists").text
    removed = c.post("/lists/quarantine/remove", data={"csrf": csrf, "unit": "3-2-501"})
    assert removed.status_code == 200
    service.run_once()
    assert "3-2-501" not in store.gate_state().quarantine_units


def test_a_person_is_listed_by_id_number_and_only_its_mask_is_shown(console_office):
    c, csrf = logged_in(console_office.app, "张敏")
    number = "11010519491231002X"
    answer = c.post("/lists/watch/add", data={"csrf": csrf, "id_number": number})
    assert answer.status_code == 200 and number not in answer.text
    page = c.get("/lists").text
    # The list holds only the look-up hash: no digit of the number is shown (each one would
    # divide the work of recovering it), the entry is there as a person listed by ID number.
    assert number not in page and "1101" not in page and "002X" not in page
    assert "某人（按身份证号列入）" in page


def test_bad_input_is_refused_in_words_and_changes_nothing(console_office):
    c, csrf = logged_in(console_office.app, "张敏")
    bad = c.post("/lists/quarantine/add", data={"csrf": csrf, "unit": "5-1-302", "id_number": "110105194912310021"})
    assert bad.status_code == 400 and "二选一" in bad.text
    assert (
        c.post("/lists/quarantine/add", data={"csrf": csrf, "unit": "5-1-302", "until": "someday"}).status_code == 400
    )
    assert c.post("/lists/policy/add", data={"csrf": csrf, "unit": "5-1-302"}).status_code == 404
    revoke = c.post("/lists/revoke", data={"csrf": csrf, "pass_id": "not-a-pass", "reason": "lost"})
    assert revoke.status_code == 400 and "32" in revoke.text
    assert "5-1-302" not in c.get("/lists").text


def test_revoke_a_pass_is_audited_under_the_clerks_name(console_office):
    from sync.office import audit
    from sync.office.passes import issue_office_pass

    c, csrf = logged_in(console_office.app, "张敏")
    # Only a pass the office knows is revoked (issue 14): one it issued, named by its full id.
    pass_id = issue_office_pass(
        console_office.engine, console_office.app.state.office.keys, "resident", "3-2-501", street_wide=True
    ).pass_id
    answer = c.post("/lists/revoke", data={"csrf": csrf, "pass_id": pass_id.upper(), "reason": "丢失"})
    assert answer.status_code == 200 and pass_id in answer.text
    row = audit.recent(console_office.engine, limit=1, action="revoke_pass")[0]
    assert row["admin"] == "console:张敏" and row["detail"]["pass_id"] == pass_id and row["reason"] == "丢失"


def test_only_a_street_account_changes_the_streets_lists(console_office):
    for name in ("李社区", "王看"):
        c, csrf = logged_in(console_office.app, name)
        page = c.get("/lists")
        assert page.status_code == 200 and "/lists/quarantine/add" not in page.text
        refused = c.post("/lists/quarantine/add", data={"csrf": csrf, "unit": "5-1-302"})
        assert refused.status_code == 403
        refused = c.post("/lists/revoke", data={"csrf": csrf, "pass_id": "0" * 32, "reason": "x"})
        assert refused.status_code == 403
    street, _ = logged_in(console_office.app, "张敏")
    assert "5-1-302" not in street.get("/lists").text
    assert c.post("/lists/quarantine/add", data={"unit": "5-1-302"}).status_code == 403  # and no token: refused too
