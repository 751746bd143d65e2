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
