"""The office sees who is still inside after the visiting hours and which households have someone
out after the curfew, per checkpoint, from the records the kiosks pushed (issue 14)."""

from __future__ import annotations

import datetime as dt
import time

from models.facts import RegistrationInput, record_passage, record_registration
from models.gate import check_token
from models.inside import sign_out, visitors_inside
from models.passes import issue_pass
from models.passtoken import PassKind
from sync.office.admin import set_policy
from sync.office.inside import where_people_are
from sync.office.report import day_report, format_table


def _late_today() -> float:
    """Just before midnight today: past any visiting hour and curfew, after every record."""
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    return time.mktime(tomorrow.timetuple()) - 1


def test_the_day_report_names_who_is_inside_and_out_per_checkpoint(office, tmp_path):
    store, service = office.add_kiosk(tmp_path / "k1", name="东门")
    _quiet, quiet_service = office.add_kiosk(tmp_path / "k2", name="西门")
    set_policy(office.engine, {"visiting_until_hour": "20", "curfew_hour": "22"})
    visitor = issue_pass(store, PassKind.VISITOR, "4-1-101", valid_days=1)
    left = issue_pass(store, PassKind.VISITOR, "4-1-102", valid_days=1)
    resident = issue_pass(store, PassKind.RESIDENT, "3-2-501")
    home = issue_pass(store, PassKind.RESIDENT, "3-2-502")
    for p, moves in ((visitor, ["in"]), (left, ["in", "out"]), (resident, ["out"]), (home, ["out", "in"])):
        for direction in moves:
            record_passage(store, direction, check_token(store, p.token, direction))
    for kind, unit in (("visitor", "5-1-201"), ("worker", "6-2-301"), ("returnee", "7-1-101")):
        record_registration(store, RegistrationInput(kind=kind, name="张三", to_unit=unit, phone="13800138000"))
    gone = next(p for p in visitors_inside(store) if p.unit == "6-2-301")
    sign_out(store, gone.key)
    service.run_once()
    quiet_service.run_once()

    report = day_report(office.engine, dt.date.today(), now=_late_today())
    rows = {r["checkpoint"]: r for r in report["checkpoints"]}
    assert rows["东门"]["visitors_inside"] == ["4-1-101"]
    assert rows["东门"]["registrations_inside"] == [["visitor", "5-1-201"]]
    assert rows["东门"]["out_past_curfew"] == ["3-2-501"]
    assert (
        rows["西门"]["visitors_inside"] == rows["西门"]["registrations_inside"] == rows["西门"]["out_past_curfew"] == []
    )
    text = format_table(report, "zh")
    assert "东门：访客超时未离开：4-1-101" in text
    assert "东门：登记人员超时未离开 1 人：访客 5-1-201" in text
    assert "东门：宵禁后仍有人在外的住户：3-2-501" in text
    assert "households with someone out after curfew: 3-2-501" in format_table(report, "en")


def test_where_people_are_follows_the_order_the_kiosk_wrote():
    records = [
        ("registration", "r1", {"kind": "visitor", "to_unit": "1-1-101"}),  # before registrations had a direction
        ("registration", "r2", {"kind": "courier", "to_unit": "", "direction": "in"}),
        ("registration", "r3", {"kind": "medical", "to_unit": "", "direction": "out"}),
        ("registration", "r4", {"kind": "returnee", "to_unit": "2-1-101", "direction": "in"}),
        ("passage", "x1", {"direction": "out", "verdict": "allow", "registration_id": "r2"}),
        ("passage", "x2", {"direction": "out", "verdict": "deny", "registration_id": "r1"}),  # refused: not an exit
        ("passage", "p1", {"direction": "in", "verdict": "allow", "pass_id": "aa", "pass_kind": 5, "unit_code": "3-1"}),
        (
            "passage",
            "p2",
            {"direction": "out", "verdict": "allow", "pass_id": "bb", "pass_kind": 1, "unit_code": "4-1"},
        ),
        ("passage", "p3", {"direction": "in", "verdict": "allow", "pass_id": "bb", "pass_kind": 1, "unit_code": "4-1"}),
        (
            "passage",
            "p4",
            {"direction": "out", "verdict": "allow", "pass_id": "cc", "pass_kind": 2, "unit_code": "5-1"},
        ),
    ]
    assert where_people_are(records) == {
        "visitors_inside": ["3-1"],
        "registrations_inside": [["visitor", "1-1-101"]],
        "out_past_curfew": ["5-1"],
    }
