"""Alerts (sync/office/alerts.py): made as records arrive and by the sweep; scoped; acknowledged once."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select, update

from models import clock
from models.errors import KakouError
from models.outbox import append_fact
from sync.office import alerts
from sync.office import tables as t
from sync.office.users import Account

STREET = Account("张敏", "street")
NORTH = Account("赵北", "community", "北苑社区")
HOME = Account("李社区", "community", "幸福里社区")
VIEWER = Account("王看", "viewer")


def passage(store, direction: str, verdict: str, reasons: list[str], **extra) -> str:
    with store.writer.begin() as conn:
        fact = append_fact(
            conn,
            "passage",
            {"direction": direction, "verdict": verdict, "reasons": json.dumps(reasons), "subject": "pass", **extra},
            clock.now(),
            store.gate_state().versions,
        )
    store.note_hlc(fact.hlc)
    return fact.record_id


def fever_case(store) -> str:
    with store.writer.begin() as conn:
        fact = append_fact(
            conn, "fever_case", {"direction": "in", "first_value": 38.2}, clock.now(), store.gate_state().versions
        )
    store.note_hlc(fact.hlc)
    return fact.record_id


def test_derive_names_what_the_office_must_know_and_nothing_else():
    rows = [
        {
            "record_id": "a",
            "kind": "passage",
            "direction": "out",
            "verdict": "deny",
            "reasons": '["quarantined"]',
            "corrected_time": 10.0,
        },
        {
            "record_id": "b",
            "kind": "passage",
            "direction": "in",
            "verdict": "allow",
            "reasons": "[]",
            "corrected_time": 11.0,
        },
        # coming home to a quarantined unit is a note, not an alert
        {
            "record_id": "c",
            "kind": "passage",
            "direction": "in",
            "verdict": "allow",
            "reasons": '["quarantined_home"]',
            "corrected_time": 12.0,
        },
        {
            "record_id": "d",
            "kind": "passage",
            "direction": "in",
            "verdict": "deny",
            "reasons": '["bad_signature"]',
            "corrected_time": 13.0,
        },
        {
            "record_id": "e",
            "kind": "passage",
            "direction": "out",
            "verdict": "deny",
            "reasons": "not json",
            "corrected_time": 14.0,
        },
        {"record_id": "f", "kind": "registration", "reasons": '["quarantined"]', "corrected_time": 15.0},
    ]
    made = alerts.derive("k", rows, skew=30.0, now=100.0)
    assert [(a["record_id"], a["kind"], a["reason"]) for a in made] == [
        ("a", "quarantined_out", "quarantined"),
        ("d", "bad_pass", "bad_signature"),
    ]
    assert alerts.what("bad_pass", "bad_signature", "en") == "bad signature"  # the reasons table's label
    assert alerts.what("clock", "", "zh") == "卡口时钟不准"
    clock_alert = alerts.derive("k", [], skew=-600.0, now=100.0)
    assert [a["kind"] for a in clock_alert] == ["clock"] and json.loads(clock_alert[0]["detail"]) == {"skew_s": -600}


def test_a_quarantined_unit_going_out_becomes_an_alert_once_scoped_to_its_community(console_office, tmp_path):
    store, service = console_office.add_kiosk(tmp_path / "k1")  # a gate of 幸福里社区
    rid = passage(store, "out", "deny", ["quarantined"], unit_code="3-2-502")
    passage(store, "in", "allow", [])
    assert service.run_once().pushed == 2
    street = alerts.latest(console_office.engine, STREET)
    assert [(a["kind"], a["record_id"], a["gate"]) for a in street] == [("quarantined_out", rid, "卡口1")]
    assert alerts.latest(console_office.engine, HOME) == street
    assert alerts.latest(console_office.engine, NORTH) == []  # another community's gate: not seen
    # nothing new pushed, and the sweep, make no second alert
    assert service.run_once().pushed == 0
    alerts.sweep(console_office.engine)
    assert len(alerts.latest(console_office.engine, STREET)) == 1
    assert alerts.latest(console_office.engine, STREET, after=street[0]["id"]) == []


def test_acknowledge_once_with_a_note_audited_and_never_across_communities(console_office, tmp_path):
    store, service = console_office.add_kiosk(tmp_path / "k1")
    passage(store, "in", "deny", ["revoked"])
    service.run_once()
    (alert,) = alerts.latest(console_office.engine, STREET)
    assert alert["kind"] == "bad_pass" and alert["reason"] == "revoked"
    with pytest.raises(KakouError) as refused:
        alerts.acknowledge(console_office.engine, alert["id"], NORTH, "not mine")
    assert refused.value.code == "no_such_alert"
    with pytest.raises(KakouError):
        alerts.acknowledge(console_office.engine, alert["id"], VIEWER)
    done = alerts.acknowledge(console_office.engine, alert["id"], HOME, "  called the gate, pass taken  ")
    assert done["ack_note"] == "called the gate, pass taken"
    with pytest.raises(KakouError) as again:
        alerts.acknowledge(console_office.engine, alert["id"], STREET, "me too")
    assert again.value.code == "acknowledged"
    (after,) = alerts.latest(console_office.engine, STREET)
    assert after["ack_by"] == "李社区" and after["ack_note"] == "called the gate, pass taken"
    assert alerts.open_count(console_office.engine, STREET) == 0
    with console_office.engine.connect() as conn:
        rows = conn.execute(select(t.audit.c.admin, t.audit.c.reason).where(t.audit.c.action == "ack_alert")).all()
    assert [tuple(r) for r in rows] == [("console:李社区", "called the gate, pass taken")]


def test_the_sweep_finds_a_silent_gate_and_a_fever_not_rechecked(console_office, tmp_path):
    store, service = console_office.add_kiosk(tmp_path / "k1")
    case = fever_case(store)
    service.run_once()
    engine = console_office.engine
    assert alerts.sweep(engine) == 0  # just seen, fever just opened
    later = time.time() + alerts.SILENT_AFTER_S + 60
    assert alerts.sweep(engine, now=later) == 2
    kinds = {a["kind"]: a for a in alerts.latest(engine, STREET)}
    assert set(kinds) == {"silent", "fever_overdue"} and kinds["fever_overdue"]["record_id"] == case
    assert alerts.sweep(engine, now=later + 600) == 0  # the same silence, the same fever: no new alert
    # the gate comes back, then goes silent again: a new silence
    with engine.begin() as conn:
        conn.execute(update(t.kiosk).values(last_seen=later))
    assert alerts.sweep(engine, now=later + alerts.SILENT_AFTER_S + 60) == 1


def test_a_fever_with_its_outcome_is_not_overdue(console_office, tmp_path):
    store, service = console_office.add_kiosk(tmp_path / "k1")
    case = fever_case(store)
    with store.writer.begin() as conn:
        append_fact(conn, "fever_outcome", {"case_id": case, "outcome": "allowed"}, clock.now(), {})
    service.run_once()
    alerts.sweep(console_office.engine, now=time.time() + 3600)
    assert [a["kind"] for a in alerts.latest(console_office.engine, STREET)] == []


def test_the_lost_range_hook_makes_one_alert(console_office, tmp_path):
    _store, service = console_office.add_kiosk(tmp_path / "k1")
    service.run_once()
    with console_office.engine.connect() as conn:
        kiosk_id = conn.execute(select(t.kiosk.c.kiosk_id).where(t.kiosk.c.name == "卡口1")).scalar_one()
    with console_office.engine.begin() as conn:
        assert alerts.record_lost(conn, kiosk_id, 1, 5, 9) == 1
        assert alerts.record_lost(conn, kiosk_id, 1, 5, 9) == 0
    (lost,) = alerts.latest(console_office.engine, STREET)
    assert lost["kind"] == "lost" and lost["detail"] == {"epoch": 1, "first": 5, "last": 9}


def test_on_postgresql_an_alert_made_by_another_process_rings_this_ones_bell(tmp_path):
    """LISTEN/NOTIFY: the NOTIFY is sent in the alert's transaction (here another engine, as
    another office process would have) and wakes this process's streams when it commits."""
    import asyncio

    from sqlalchemy import create_engine

    from sync.office.console import live
    from tests.console.conftest import add_accounts
    from tests.sync.conftest import open_office

    for handle in open_office(tmp_path, "postgres"):
        add_accounts(handle.engine)
        other = create_engine(handle.engine.url)
        with other.connect() as conn:
            kiosk_id = conn.execute(select(t.kiosk.c.kiosk_id).where(t.kiosk.c.name == "东门卡口")).scalar_one()

        async def scenario(engine, other, kiosk_id) -> tuple[bool, bool]:
            live.listen(engine)
            await live.BELL.wait(3.0)  # the listener rings once when it has connected
            quiet = await live.BELL.wait(0.3)

            def make() -> None:
                with other.begin() as conn:
                    alerts.record_lost(conn, kiosk_id, 1, 1, 2)

            waiting = asyncio.create_task(live.BELL.wait(5.0))
            await asyncio.sleep(0.1)
            await asyncio.to_thread(make)
            return quiet, await waiting

        quiet, rang = asyncio.run(scenario(handle.engine, other, kiosk_id))
        other.dispose()
        assert (quiet, rang) == (False, True)


def test_what_makes_an_alert_is_one_rule_for_the_desk_and_the_office():
    from models.reasons import REASONS, alert_kind

    assert alert_kind("out", ["quarantined"]) == ("quarantined_out", "quarantined")
    assert alert_kind("in", ["quarantined"]) is None  # quarantined only stops going out
    assert alert_kind("in", ["quarantined_home"]) is None
    assert alert_kind("in", ["watch", "other_community"]) == ("bad_pass", "other_community")
    assert alert_kind("out", ["expired"]) is None and alert_kind("out", []) is None
    from models.reasons import ALERT_PASS_REASONS, ALERT_QUARANTINE_REASONS

    assert set(REASONS) >= ALERT_PASS_REASONS | ALERT_QUARANTINE_REASONS  # every code is in the one table


# -- the same pass out twice ------------------------------------------------------------------


def _p(rid: str, direction: str, at: float, kiosk: str = "k1") -> dict:
    return {"record_id": rid, "kiosk_id": kiosk, "direction": direction, "corrected_time": at}


def test_out_twice_pairs_two_outs_with_no_in_between_within_the_window():
    hour = 3600.0
    seq = [_p("a", "out", 0), _p("b", "out", hour, "k2"), _p("c", "in", 2 * hour), _p("d", "out", 3 * hour)]
    assert [(a["record_id"], b["record_id"]) for a, b in alerts.out_twice(seq, 24 * hour)] == [("a", "b")]
    # out, in, out is a resident's ordinary day; two outs further apart than the window are not an alert
    assert alerts.out_twice([_p("a", "out", 0), _p("c", "in", 1), _p("d", "out", 2)], 24 * hour) == []
    assert alerts.out_twice([_p("a", "out", 0), _p("b", "out", 25 * hour)], 24 * hour) == []
    # three outs in a row: the second and the third are each an alert
    three = [_p("a", "out", 0), _p("b", "out", 1), _p("c", "out", 2)]
    assert [b["record_id"] for _a, b in alerts.out_twice(three, hour)] == ["b", "c"]


def test_a_pass_going_out_at_two_gates_with_no_in_between_is_one_alert_at_the_second(console_office, tmp_path):
    from sync.office.admin import set_policy

    east, east_sync = console_office.add_kiosk(tmp_path / "k1")
    west, west_sync = console_office.add_kiosk(tmp_path / "k2")
    passage(east, "out", "allow", [], pass_id="p" * 32, unit_code="3-2-501")
    passage(east, "out", "allow", [], pass_id="q" * 32, unit_code="3-2-502")
    east_sync.run_once()
    passage(west, "in", "allow", [], pass_id="q" * 32, unit_code="3-2-502")  # q came home: no alert
    second = passage(west, "out", "allow", [], pass_id="p" * 32, unit_code="3-2-501")
    passage(west, "out", "deny", ["quarantined"], pass_id="q" * 32, unit_code="3-2-502")  # denied: did not go out
    west_sync.run_once()
    twice = [a for a in alerts.latest(console_office.engine, STREET) if a["kind"] == "pass_twice"]
    assert [(a["record_id"], a["gate"], a["detail"]["earlier_gate"]) for a in twice] == [(second, "卡口2", "卡口1")]
    assert alerts.what("pass_twice", "", "zh") == "同一通行证连续两次外出"
    assert [a["kind"] for a in alerts.latest(console_office.engine, NORTH)] == []  # another community's gates
    # The policy's hours: 0 turns the alert off.
    set_policy(console_office.engine, {"pass_out_twice_hours": "0"})
    passage(east, "out", "allow", [], pass_id="p" * 32, unit_code="3-2-501")
    east_sync.run_once()
    assert len([a for a in alerts.latest(console_office.engine, STREET) if a["kind"] == "pass_twice"]) == 1


def test_the_alerts_page_says_where_the_pass_went_out_before(console_office, tmp_path):
    from tests.console.helpers import logged_in

    east, east_sync = console_office.add_kiosk(tmp_path / "k1")
    west, west_sync = console_office.add_kiosk(tmp_path / "k2")
    passage(east, "out", "allow", [], pass_id="p" * 32, unit_code="3-2-501")
    east_sync.run_once()
    passage(west, "out", "allow", [], pass_id="p" * 32, unit_code="3-2-501")
    west_sync.run_once()
    c, _csrf = logged_in(console_office.app, "李社区")
    page = c.get("/alerts").text
    assert "同一通行证连续两次外出" in page and "上次外出 卡口1" in page


def _stored_passage(conn, kiosk_id: str, rid: str, direction: str, at: float, received: float, ref: str) -> dict:
    row = {
        "record_id": rid,
        "kiosk_id": kiosk_id,
        "epoch": 1,
        "seq": int(at),
        "kind": "passage",
        "payload": "{}",
        "payload_hash": "0" * 64,
        "device_time": at,
        "corrected_time": at,
        "received_at": received,
        "time_quality": "anchored",
        "day": time.strftime("%Y-%m-%d", time.localtime(at)),
        "hlc": int(at),
        "boot_id": "b",
        "mono_ns": 0,
        "direction": direction,
        "verdict": "allow",
        "reasons": "[]",
        "ref": ref,
    }
    conn.execute(t.record.insert().values(**row))
    return row


def test_an_out_that_arrives_after_a_later_one_makes_the_alert_of_the_later_one(console_office):
    engine = console_office.engine
    with engine.connect() as conn:
        gates = dict(conn.execute(select(t.kiosk.c.name, t.kiosk.c.kiosk_id)).all())
    east, north = gates["东门卡口"], gates["北门卡口"]
    now = time.time()
    with engine.begin() as conn:
        # 北门 (online) sent its out at once; 东门 was offline and sends an out of an hour before.
        fresh = _stored_passage(conn, north, "r-north", "out", now - 60, now - 50, "p" * 32)
        alerts.record_batch(conn, north, [fresh], now=now - 50)
        late = _stored_passage(conn, east, "r-east", "out", now - 3600, now, "p" * 32)
        alerts.record_batch(conn, east, [late], now=now)
        # A copied pass: out at 东门, half a minute later out at 北门, 北门's push arriving first.
        first = _stored_passage(conn, north, "q-north", "out", now - 30, now - 25, "q" * 32)
        alerts.record_batch(conn, north, [first], now=now - 25)
        second = _stored_passage(conn, east, "q-east", "out", now - 60, now - 20, "q" * 32)
        alerts.record_batch(conn, east, [second], now=now - 20)
    twice = sorted(
        (a["record_id"], a["gate"], a["detail"]["earlier_gate"])
        for a in alerts.latest(engine, STREET)
        if a["kind"] == "pass_twice"
    )
    assert twice == [("q-north", "北门卡口", "东门卡口"), ("r-north", "北门卡口", "东门卡口")]


def _silence(engine, seconds: float) -> None:
    with engine.begin() as conn:
        conn.execute(update(t.kiosk).values(last_seen=time.time() - seconds))


def test_a_running_office_sweeps_with_no_page_open(tmp_path):
    """A gate that falls silent at night is an alert by morning, whether or not a clerk had the
    Alerts page open: every office process sweeps in the background (sync/office/sweeper.py)."""
    from starlette.testclient import TestClient

    from tests.sync.conftest import open_office

    for handle in open_office(tmp_path, "sqlite", sweep_seconds=0.05):
        _store, service = handle.add_kiosk(tmp_path / "k1")
        service.run_once()
        _silence(handle.engine, alerts.SILENT_AFTER_S + 60)
        with TestClient(handle.app):  # the office running (its lifespan): no request made
            end = time.monotonic() + 10
            while not alerts.latest(handle.engine, STREET) and time.monotonic() < end:
                time.sleep(0.05)
        assert [a["kind"] for a in alerts.latest(handle.engine, STREET)] == ["silent"]


def test_the_sweep_judges_a_fever_by_the_policys_recheck_time(console_office, tmp_path):
    from sync.office.admin import set_policy
    from sync.office.sweeper import sweep_once

    store, service = console_office.add_kiosk(tmp_path / "k1")
    fever_case(store)
    service.run_once()
    set_policy(console_office.engine, {"recheck_minutes": "60"})
    in_twenty_minutes = time.time() + 20 * 60  # past the default 3 minutes, not past 60
    assert sweep_once(console_office.engine, now=in_twenty_minutes) == 0
    assert sweep_once(console_office.engine, now=time.time() + 62 * 60 + alerts.FEVER_GRACE_S) == 1


# Records of different gates a few milliseconds apart may swap order at the office: each gate's
# times are anchored to the office's clock at its push, to within the push's latency. Spaced.
SPACING_S = 0.3


def _one(engine, kind: str) -> dict:
    (found,) = [a for a in alerts.latest(engine, STREET) if a["kind"] == kind]
    return found


def test_a_late_in_between_two_outs_withdraws_the_pass_twice_alert_keeping_its_acknowledgement(
    console_office, tmp_path
):
    engine = console_office.engine
    east, east_sync = console_office.add_kiosk(tmp_path / "k1")
    west, west_sync = console_office.add_kiosk(tmp_path / "k2")
    south, south_sync = console_office.add_kiosk(tmp_path / "k3")  # offline: pushes last
    pass_id = "p" * 32
    passage(east, "out", "allow", [], pass_id=pass_id, unit_code="3-2-501")
    east_sync.run_once()
    time.sleep(SPACING_S)
    came_in = passage(south, "in", "allow", [], pass_id=pass_id, unit_code="3-2-501")
    time.sleep(SPACING_S)
    passage(west, "out", "allow", [], pass_id=pass_id, unit_code="3-2-501")
    passage(west, "out", "deny", ["quarantined"], unit_code="3-2-502")  # stands: nothing disproves it
    west_sync.run_once()
    twice = _one(engine, "pass_twice")
    assert twice["withdrawn_at"] is None and alerts.open_count(engine, STREET) == 2
    alerts.acknowledge(engine, twice["id"], HOME, "已打电话")
    south_sync.run_once()  # the in between the two outs reaches the office

    twice = _one(engine, "pass_twice")
    assert twice["withdrawn_at"] is not None and twice["withdrawn_by"] == "office"
    assert alerts.withdrawn_why(twice, "zh").startswith("卡口3 ") and "两次外出之间进来过" in alerts.withdrawn_why(
        twice
    )
    assert "reached the office later" in alerts.withdrawn_why(twice, "en")
    assert (twice["ack_by"], twice["ack_note"]) == ("李社区", "已打电话")  # the acknowledgement stays
    assert _one(engine, "quarantined_out")["withdrawn_at"] is None
    assert [a["kind"] for a in alerts.latest(engine, STREET, open_only=True)] == ["quarantined_out"]
    assert alerts.open_count(engine, STREET) == 1
    with engine.connect() as conn:
        in_at = conn.execute(select(t.record.c.corrected_time).where(t.record.c.record_id == came_in)).scalar_one()
    assert twice["detail"]["earlier_at"] < in_at < twice["at"]
    with pytest.raises(KakouError) as refused:
        alerts.acknowledge(engine, _one(engine, "quarantined_out")["id"] + 1000, STREET)
    assert refused.value.code == "no_such_alert"


def test_an_in_after_the_second_out_withdraws_nothing(console_office, tmp_path):
    engine = console_office.engine
    east, east_sync = console_office.add_kiosk(tmp_path / "k1")
    west, west_sync = console_office.add_kiosk(tmp_path / "k2")
    pass_id = "p" * 32
    passage(east, "out", "allow", [], pass_id=pass_id)
    east_sync.run_once()
    time.sleep(SPACING_S)
    passage(west, "out", "allow", [], pass_id=pass_id)
    west_sync.run_once()
    time.sleep(SPACING_S)
    passage(east, "in", "allow", [], pass_id=pass_id)  # home again, after both outs: the alert was right
    passage(east, "in", "deny", ["revoked"], pass_id=pass_id)
    east_sync.run_once()
    assert _one(engine, "pass_twice")["withdrawn_at"] is None
    assert alerts.open_count(engine, STREET) == 2


def test_a_withdrawn_alert_cannot_be_acknowledged(console_office, tmp_path):
    engine = console_office.engine
    store, service = console_office.add_kiosk(tmp_path / "k1")
    case = fever_case(store)
    service.run_once()
    assert alerts.sweep(engine, now=time.time() + 3600) == 1  # the fever
    with store.writer.begin() as conn:
        append_fact(conn, "fever_outcome", {"case_id": case, "outcome": "allowed"}, clock.now(), {})
    service.run_once()
    overdue = _one(engine, "fever_overdue")
    with pytest.raises(KakouError) as refused:
        alerts.acknowledge(engine, overdue["id"], STREET, "done")
    assert refused.value.code == "withdrawn" and _one(engine, "fever_overdue")["ack_at"] is None


def test_a_fever_outcome_timed_before_the_deadline_withdraws_the_overdue_alert_a_later_one_does_not(
    console_office, tmp_path
):
    engine = console_office.engine
    store, service = console_office.add_kiosk(tmp_path / "k1")
    case = fever_case(store)
    other = fever_case(store)
    service.run_once()
    assert alerts.sweep(engine, now=time.time() + alerts.SILENT_AFTER_S + 60) == 3  # the gate silent, two fevers
    # The gate rechecked the first case at once, but the outcome reaches the office only now.
    with store.writer.begin() as conn:
        append_fact(conn, "fever_outcome", {"case_id": case, "outcome": "allowed"}, clock.now(), {})
    service.run_once()
    by_case = {a["record_id"]: a for a in alerts.latest(engine, STREET) if a["kind"] == "fever_overdue"}
    assert by_case[case]["withdrawn_at"] is not None and by_case[case]["withdrawn_by"] == "office"
    assert "已复测" in alerts.withdrawn_why(by_case[case]) and "not overdue" in alerts.withdrawn_why(
        by_case[case], "en"
    )
    assert by_case[other]["withdrawn_at"] is None
    # The silence stands: the office heard nothing for that long (a gate back in touch ends it).
    assert _one(engine, "silent")["withdrawn_at"] is None
    # An outcome of the other case timed after its deadline: it was overdue, the alert stands.
    kiosk_id = by_case[other]["kiosk_id"]
    late = by_case[other]["at"] + 60
    row = {
        "record_id": "late-outcome",
        "kiosk_id": kiosk_id,
        "epoch": 1,
        "seq": 10**9,
        "kind": "fever_outcome",
        "payload": "{}",
        "payload_hash": "0" * 64,
        "device_time": late,
        "corrected_time": late,
        "received_at": late,
        "time_quality": "anchored",
        "day": time.strftime("%Y-%m-%d", time.localtime(late)),
        "hlc": 1,
        "boot_id": "b",
        "mono_ns": 0,
        "detail": "allowed",
        "ref": other,
    }
    with engine.begin() as conn:
        conn.execute(t.record.insert().values(**row))
        alerts.record_batch(conn, kiosk_id, [row], now=late)
    assert {a["record_id"]: a for a in alerts.latest(engine, STREET)}[other]["withdrawn_at"] is None
    assert alerts.open_count(engine, STREET) == 2
