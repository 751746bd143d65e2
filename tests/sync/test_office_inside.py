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


# The office keeps each pass's last allowed passage as the records arrive (office_last_passage,
# migration 0028); the report must say what the kiosk's own order of records says, whatever order
# the batches came in. Records timed by the kiosk's wall clock (a boot the office has no anchor
# for), on days wholly past, so the test is the same at any hour.
VISITOR, RESIDENT = int(PassKind.VISITOR), int(PassKind.RESIDENT)


def _day_at(day: dt.date, hour: float) -> float:
    return time.mktime(day.timetuple()) + hour * 3600


def _record(seq: int, at: float, kind: str, payload: dict, *, compact: bool = False) -> dict:
    import hashlib
    import json
    import uuid

    rid = str(uuid.uuid4())
    text = json.dumps(dict(payload, record_id=rid), sort_keys=True, separators=(",", ":") if compact else None)
    return {
        "record_id": rid,
        "seq": seq,
        "kind": kind,
        "payload": text,
        "payload_hash": hashlib.sha256(text.encode()).hexdigest(),
        "wall_time": at,
        "hlc": seq,
        "boot_id": "an-earlier-boot",
        "mono_ns": seq,
        "clock_flag": "",
        "versions": "{}",
    }


def _move(seq: int, at: float, direction: str, pass_id: str, pass_kind: int, unit: str, verdict: str = "allow"):
    body = {"direction": direction, "verdict": verdict, "pass_id": pass_id, "pass_kind": pass_kind, "unit_code": unit}
    return _record(seq, at, "passage", body)


def _register(seq: int, at: float, kind: str, unit: str, direction: str = "in", *, compact: bool = False) -> dict:
    return _record(seq, at, "registration", {"kind": kind, "to_unit": unit, "direction": direction}, compact=compact)


def _sign_out(seq: int, at: float, registration: dict) -> dict:
    body = {"direction": "out", "verdict": "allow", "registration_id": registration["record_id"]}
    return _record(seq, at, "passage", body)


def _push(office, store, records: list[dict]) -> None:
    from tests.sync.test_ingest_perf_paths import push

    answer = push(office, store, records)
    assert answer["statuses"] == ["stored"] * len(records)


def _pure(records: list[dict]) -> dict:
    """What where_people_are says from the records in the kiosk's order."""
    import json

    ordered = sorted(records, key=lambda r: r["hlc"])
    return where_people_are([(r["kind"], r["record_id"], json.loads(r["payload"])) for r in ordered])


def test_late_and_out_of_order_batches_leave_the_last_passage_the_kiosk_wrote(office, tmp_path):
    store, _service = office.add_kiosk(tmp_path / "k1", name="东门")
    other, _other_service = office.add_kiosk(tmp_path / "k2", name="西门")
    set_policy(office.engine, {"visiting_until_hour": "20", "curfew_hour": "22"})
    day = dt.date.today() - dt.timedelta(days=2)
    at = _day_at(day, 10)
    reg, courier = _register(8, at + 8, "visitor", "5-1-201"), _register(10, at + 10, "courier", "6-1-101")
    records = {
        1: _move(1, at + 1, "in", "v1", VISITOR, "4-1-101"),
        2: _move(2, at + 2, "out", "r1", RESIDENT, "3-2-501"),
        3: _move(3, at + 3, "out", "v1", VISITOR, "4-1-101"),  # v1 left: its "in" comes later, in a late batch
        4: _move(4, at + 4, "in", "r1", RESIDENT, "3-2-501"),  # r1 home again, in the same batch as its "out"
        5: _move(5, at + 5, "in", "v2", VISITOR, "4-1-102"),
        6: _move(6, at + 6, "out", "r2", RESIDENT, "3-2-502"),
        7: _move(7, at + 7, "out", "v2", VISITOR, "4-1-102", verdict="deny"),  # refused: v2 is still inside
        8: reg,
        9: _sign_out(9, at + 9, reg),
        10: courier,
        11: _move(11, at + 11, "in", "v3", VISITOR, "4-1-103"),
        12: _move(12, at + 11, "out", "v3", VISITOR, "4-1-103"),  # the same instant: the kiosk's order decides
        # Written as the kiosk writes JSON (no spaces): one going out, one whose unit is longer than the column.
        13: _register(13, at + 12, "worker", "7-1-101", "out", compact=True),
        14: _register(14, at + 13, "visitor", "8-1-101 " + "东" * 40, compact=True),
    }
    _push(office, store, [records[s] for s in (2, 3, 4, 5, 6, 8, 10, 12, 13, 14)])
    _push(office, store, [records[s] for s in (1, 7, 9, 11)])  # late, and older than what came first
    elsewhere = [_move(1, at + 30, "in", "v1", VISITOR, "4-1-101")]  # the same pass at another gate
    _push(office, other, elsewhere)

    rows = {r["checkpoint"]: r for r in day_report(office.engine, day)["checkpoints"]}
    east = {k: rows["东门"][k] for k in ("visitors_inside", "registrations_inside", "out_past_curfew")}
    assert east == {
        "visitors_inside": ["4-1-102"],
        "registrations_inside": [["courier", "6-1-101"], ["visitor", "8-1-101 " + "东" * 40]],
        "out_past_curfew": ["3-2-502"],
    }
    assert east == _pure(list(records.values()))
    assert rows["西门"]["visitors_inside"] == ["4-1-101"]  # each gate says what its own records say
    assert rows["西门"]["out_past_curfew"] == rows["西门"]["registrations_inside"] == []


def test_a_past_day_says_who_was_inside_as_it_ended_and_today_as_it_is(office, tmp_path):
    """A pass's last passage is the next day's: the report of the day before reads what it did
    by that day's end from the records, and the next day's report the last passage."""
    store, _service = office.add_kiosk(tmp_path / "k1", name="东门")
    set_policy(office.engine, {"visiting_until_hour": "20", "curfew_hour": "22"})
    first = dt.date.today() - dt.timedelta(days=2)
    second = first + dt.timedelta(days=1)
    reg = _register(3, _day_at(first, 12), "visitor", "5-1-201")
    records = [
        _move(1, _day_at(first, 12), "in", "v1", VISITOR, "4-1-101"),
        _move(2, _day_at(first, 12.5), "out", "r1", RESIDENT, "3-2-501"),
        reg,
        _move(4, _day_at(second, 8), "out", "v1", VISITOR, "4-1-101"),
        _move(5, _day_at(second, 8), "in", "r1", RESIDENT, "3-2-501"),
        _sign_out(6, _day_at(second, 8), reg),
    ]
    _push(office, store, records)

    def places(day: dt.date) -> dict:
        row = day_report(office.engine, day)["checkpoints"][0]
        return {k: row[k] for k in ("visitors_inside", "registrations_inside", "out_past_curfew")}

    assert places(first) == {
        "visitors_inside": ["4-1-101"],
        "registrations_inside": [["visitor", "5-1-201"]],
        "out_past_curfew": ["3-2-501"],
    }
    assert places(first) == _pure(records[:3])
    assert places(second) == {"visitors_inside": [], "registrations_inside": [], "out_past_curfew": []}
    assert places(second) == _pure(records)
