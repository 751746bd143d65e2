"""The Lists page: the quarantine and watch lists and revoking a pass, taken by the gates at their
next pull. A unit entry is one community's (unit codes are unique inside a community only): its
gates take it, a community account changes and sees its own community's only; a person entry and
a revoked pass are the street's."""

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
        "/lists/quarantine/add",
        data={"csrf": csrf, "unit": "3-2-501", "until": "2099-01-01", "note": "密接", "community": "幸福里社区"},
    )
    assert answer.status_code == 200 and "已加入" in answer.text
    page = c.get("/lists").text
    assert "3-2-501" in page and "密接" in page and "已拿到最新版本的卡口 0/1" in page  # not pulled yet
    service.run_once()
    assert "3-2-501" in store.gate_state().quarantine_units
    assert "已拿到最新版本的卡口 1/1" in c.get("/lists").text
    removed = c.post("/lists/quarantine/remove", data={"csrf": csrf, "unit": "3-2-501", "community": "幸福里社区"})
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


def test_a_viewer_changes_nothing_and_only_a_street_account_revokes(console_office):
    c, csrf = logged_in(console_office.app, "王看")
    page = c.get("/lists")
    assert page.status_code == 200 and "/lists/quarantine/add" not in page.text
    refused = c.post("/lists/quarantine/add", data={"csrf": csrf, "unit": "5-1-302", "community": "幸福里社区"})
    assert refused.status_code == 403
    for name in ("王看", "李社区"):
        c, csrf = logged_in(console_office.app, name)
        refused = c.post("/lists/revoke", data={"csrf": csrf, "pass_id": "0" * 32, "reason": "x"})
        assert refused.status_code == 403
    street, _ = logged_in(console_office.app, "张敏")
    assert "5-1-302" not in street.get("/lists").text
    assert c.post("/lists/quarantine/add", data={"unit": "5-1-302"}).status_code == 403  # and no token: refused too


def _out(store, token: str):
    from models.gate import check_token

    return check_token(store, token, "out")


def test_a_unit_quarantined_in_one_community_stops_its_gates_only(console_office, tmp_path):
    """幸福里社区 3-2-501 and 北苑社区 3-2-501 are two households: quarantining one leaves the
    other's residents going out; both gates still count as having the newest list."""
    from models.passes import PassKind, issue_pass

    east, east_sync = console_office.add_kiosk(tmp_path / "east")
    north, north_sync = console_office.add_kiosk(tmp_path / "north", community="北苑社区")
    east_pass = issue_pass(east, PassKind.RESIDENT, "3-2-501", valid_days=30).token
    north_pass = issue_pass(north, PassKind.RESIDENT, "3-2-501", valid_days=30).token
    east_sync.run_once()
    north_sync.run_once()
    assert _out(east, east_pass).outcome == "allow" and _out(north, north_pass).outcome == "allow"
    c, csrf = logged_in(console_office.app, "张敏")
    added = c.post("/lists/quarantine/add", data={"csrf": csrf, "unit": "3-2-501", "community": "幸福里社区"})
    assert added.status_code == 200 and "3-2-501（幸福里社区）" in added.text
    east_sync.run_once()
    north_sync.run_once()
    east_verdict = _out(east, east_pass)
    assert east_verdict.outcome == "deny" and "quarantined" in east_verdict.reason_codes()
    north_verdict = _out(north, north_pass)
    assert north_verdict.outcome == "allow" and "quarantined" not in north_verdict.reason_codes()
    assert "3-2-501" not in north.gate_state().quarantine_units
    assert "已拿到最新版本的卡口 2/2" in c.get("/lists").text  # the north gate is up to date too
    north_clerk, _ = logged_in(console_office.app, "赵北")
    north_page = north_clerk.get("/lists").text
    assert "已拿到最新版本的卡口 1/1" in north_page and "<b>3-2-501</b>" not in north_page  # its own gate only
    # The north community quarantines its own 3-2-501: now both; the east one lifted: north only.
    c.post("/lists/quarantine/add", data={"csrf": csrf, "unit": "3-2-501", "community": "北苑社区"})
    c.post("/lists/quarantine/remove", data={"csrf": csrf, "unit": "3-2-501", "community": "幸福里社区"})
    east_sync.run_once()
    north_sync.run_once()
    assert _out(east, east_pass).outcome == "allow" and _out(north, north_pass).outcome == "deny"


def test_a_street_account_must_name_a_known_community_for_a_unit(console_office):
    c, csrf = logged_in(console_office.app, "张敏")
    missing = c.post("/lists/quarantine/add", data={"csrf": csrf, "unit": "5-1-302"})
    assert missing.status_code == 400 and "请指明单元 5-1-302 所属的社区" in missing.text
    unknown = c.post("/lists/quarantine/add", data={"csrf": csrf, "unit": "5-1-302", "community": "南苑社区"})
    assert unknown.status_code == 400 and "没有这个社区：南苑社区" in unknown.text
    assert "5-1-302" not in c.get("/lists").text  # nothing added
    page = c.get("/lists").text
    assert "<option>北苑社区</option>" in page and "<option>幸福里社区</option>" in page


def test_a_community_account_changes_and_sees_its_own_communitys_units_only(console_office):
    north, north_csrf = logged_in(console_office.app, "赵北")
    added = north.post("/lists/watch/add", data={"csrf": north_csrf, "unit": "9-9-909", "note": "北苑的户"})
    assert added.status_code == 200 and "9-9-909（北苑社区）" in added.text
    east, csrf = logged_in(console_office.app, "李社区")
    assert east.post("/lists/watch/add", data={"csrf": csrf, "unit": "5-1-302"}).status_code == 200
    # A forged community field is refused in words, and nothing is added there.
    forged = east.post("/lists/watch/add", data={"csrf": csrf, "unit": "6-1-601", "community": "北苑社区"})
    assert forged.status_code == 403 and "只能修改本社区的单元" in forged.text
    # Nor removed there: the north household stays listed.
    forged = east.post("/lists/watch/remove", data={"csrf": csrf, "unit": "9-9-909", "community": "北苑社区"})
    assert forged.status_code == 403
    not_here = east.post("/lists/watch/remove", data={"csrf": csrf, "unit": "9-9-909"})
    assert not_here.status_code == 400 and "名单里没有这一项" in not_here.text
    # A person is the street's: a community account neither adds nor removes one.
    person = east.post("/lists/watch/add", data={"csrf": csrf, "id_number": "11010519491231002X"})
    assert person.status_code == 403 and "只有街道账号" in person.text
    east_page = east.get("/lists").text
    assert "5-1-302" in east_page and "9-9-909" not in east_page and "北苑的户" not in east_page
    north_page = north.get("/lists").text
    assert "9-9-909" in north_page and "5-1-302" not in north_page and "6-1-601" not in north_page
    street, _ = logged_in(console_office.app, "张敏")
    street_page = street.get("/lists").text
    assert "5-1-302" in street_page and "9-9-909" in street_page  # the street sees every community's


def test_a_street_wide_unit_from_before_communities_is_marked_and_placed_by_adding_it_in_its_community(
    console_office, tmp_path
):
    """An entry the migration could not place (two communities) stops the unit at every gate
    and shows 全街道; adding the same unit in its community replaces it at every gate."""
    from sync.office import lists as office_lists

    east, east_sync = console_office.add_kiosk(tmp_path / "east")
    north, north_sync = console_office.add_kiosk(tmp_path / "north", community="北苑社区")
    with console_office.engine.begin() as conn:
        office_lists.set_items(conn, "quarantine", {"unit:3-2-501": {"unit": "3-2-501", "until": None, "note": ""}})
    east_sync.run_once()
    north_sync.run_once()
    assert "3-2-501" in east.gate_state().quarantine_units and "3-2-501" in north.gate_state().quarantine_units
    # A community's clerk cannot place it: that would lift it at the other community's gates.
    east_clerk, east_csrf = logged_in(console_office.app, "李社区")
    refused = east_clerk.post("/lists/quarantine/add", data={"csrf": east_csrf, "unit": "3-2-501"})
    assert refused.status_code == 400 and "已有全街道的条目" in refused.text
    north_sync.run_once()
    assert "3-2-501" in north.gate_state().quarantine_units
    c, csrf = logged_in(console_office.app, "张敏")
    assert "全街道" in c.get("/lists").text.split("3-2-501", 1)[1].split("</tr>", 1)[0]
    placed = c.post("/lists/quarantine/add", data={"csrf": csrf, "unit": "3-2-501", "community": "幸福里社区"})
    assert placed.status_code == 200
    row = placed.text.split("<b>3-2-501</b>", 1)[1].split("</tr>", 1)[0]
    assert "幸福里社区" in row and "全街道" not in row and placed.text.count("<b>3-2-501</b>") == 1
    east_sync.run_once()
    north_sync.run_once()
    assert "3-2-501" in east.gate_state().quarantine_units  # deleted and added again in one delta
    assert "3-2-501" not in north.gate_state().quarantine_units
