"""The Today page's states and completeness (sync/office/console/today.py), with a fixed clock."""

from __future__ import annotations

import datetime as dt
import time

from sync.office.console.today import checkpoint_state, today
from sync.office.users import Account

DAY = dt.date(2026, 3, 15)
NOON = time.mktime(dt.datetime(2026, 3, 15, 12, 0).timetuple())
NEXT_MORNING = time.mktime(dt.datetime(2026, 3, 16, 8, 0).timetuple())
HOUR = 3600.0


def _row(reported=True, records=5, last_seen=NOON - 60, backlog=0):
    return {"reported": reported, "records": records, "last_seen": last_seen, "backlog": backlog}


def test_states_of_a_day_still_going_on():
    assert checkpoint_state(_row(reported=False, records=0, last_seen=None), DAY, NOON, 2 * HOUR) == "silent"
    assert checkpoint_state(_row(), DAY, NOON, 2 * HOUR) == "reported"
    assert checkpoint_state(_row(records=0), DAY, NOON, 2 * HOUR) == "zero"  # in touch, nothing to count
    # it reported this morning and has been quiet for three hours: late, not "reported"
    assert checkpoint_state(_row(last_seen=NOON - 3 * HOUR), DAY, NOON, 2 * HOUR) == "late"
    # in touch, but still holding records it has not sent
    assert checkpoint_state(_row(backlog=40), DAY, NOON, 2 * HOUR) == "late"


def test_a_past_day_is_on_time_only_if_the_gate_was_in_touch_after_it_ended():
    evening = time.mktime(dt.datetime(2026, 3, 15, 21, 0).timetuple())
    assert checkpoint_state(_row(last_seen=evening), DAY, NEXT_MORNING, 2 * HOUR) == "late"
    after = time.mktime(dt.datetime(2026, 3, 16, 0, 5).timetuple())
    assert checkpoint_state(_row(last_seen=after), DAY, NEXT_MORNING, 2 * HOUR) == "reported"


def test_today_puts_the_silent_first_and_counts_completeness(tmp_path):
    from tests.console.conftest import add_accounts
    from tests.sync.conftest import open_office
    from tests.sync.helpers import write_passages

    for handle in open_office(tmp_path, "sqlite"):
        add_accounts(handle.engine)
        store, service = handle.add_kiosk(tmp_path / "k1")
        write_passages(store, 4)
        assert service.run_once().pushed == 4
        street = today(handle.engine, dt.date.today(), Account("s", "street"))
        assert [r["state"] for r in street["rows"]] == ["silent", "silent", "reported"]
        assert street["counts"] == {"silent": 2, "late": 0, "zero": 0, "reported": 1}
        assert round(street["reporting_rate"], 3) == round(1 / 3, 3) and round(street["on_time"], 3) == round(1 / 3, 3)
        assert street["totals"]["in"] + street["totals"]["out"] == 4
        north = today(handle.engine, dt.date.today(), Account("n", "community", "北苑社区"))
        assert [r["checkpoint"] for r in north["rows"]] == ["北门卡口"] and north["reporting_rate"] == 0
        # three hours of silence (past the two allowed, or past midnight) make the gate that reported a late one
        later = today(handle.engine, dt.date.today(), Account("s", "street"), now=time.time() + 3 * HOUR)
        assert later["counts"]["late"] == 1 and later["rows"][-1]["state"] == "late"


def test_the_kiosks_own_rows_without_the_record_counts_are_the_full_statuss_rows(tmp_path):
    from sync.office.status import kiosk_status
    from tests.sync.conftest import open_office
    from tests.sync.helpers import write_passages

    for handle in open_office(tmp_path, "sqlite"):
        store, service = handle.add_kiosk(tmp_path / "k1")
        write_passages(store, 3)
        service.run_once()
        full, rows = kiosk_status(handle.engine), kiosk_status(handle.engine, counts=False)
        counted = ("conflicts", "gaps", "flagged", "revocations_held", "revocations_refused")
        assert [{k: v for k, v in r.items() if k not in counted} for r in full["kiosks"]] == [
            {k: v for k, v in r.items() if k not in counted} for r in rows["kiosks"]
        ]
        assert full["kiosks"][0]["hwm"] == 3 and full["kiosks"][0]["gaps"] == 0
        assert all(rows["kiosks"][0][k] is None for k in counted)  # not counted: not a false zero


def test_a_gate_that_is_offline_now_is_shown_as_blind(tmp_path):
    from sync.office.console.today import BLIND_AFTER_S, blind
    from tests.console.conftest import add_accounts
    from tests.sync.conftest import open_office
    from tests.sync.helpers import write_passages

    assert blind({"status": "active", "last_seen": NOON - 60}, NOON) is False
    assert blind({"status": "active", "last_seen": NOON - BLIND_AFTER_S - 1}, NOON) is True
    assert blind({"status": "active", "last_seen": None}, NOON) is True
    assert blind({"status": "pending", "last_seen": None}, NOON) is False  # not a gate yet
    assert blind({"status": "revoked", "last_seen": NOON - 99999}, NOON) is False
    for handle in open_office(tmp_path, "sqlite"):
        add_accounts(handle.engine)
        store, service = handle.add_kiosk(tmp_path / "k1")
        write_passages(store, 1)
        service.run_once()
        street = Account("s", "street")
        (row,) = [r for r in today(handle.engine, dt.date.today(), street)["rows"] if r["checkpoint"] == "卡口1"]
        assert row["blind"] is False
        later = today(handle.engine, dt.date.today(), street, now=time.time() + BLIND_AFTER_S + 60)
        (row,) = [r for r in later["rows"] if r["checkpoint"] == "卡口1"]
        assert row["blind"] is True
        from tests.console.helpers import logged_in

        c, _ = logged_in(handle.app, "张敏")
        assert "离线·盲区" not in c.get("/").text
        from sqlalchemy import update

        from sync.office import tables as t

        with handle.engine.begin() as conn:
            conn.execute(update(t.kiosk).where(t.kiosk.c.name == "卡口1").values(last_seen=time.time() - 3600))
        assert "离线·盲区" in c.get("/").text


def test_the_today_rows_read_the_day_counts_not_the_records(tmp_path):
    """The Today page shows counts and contact, no one's whereabouts: building its rows must not
    read the day's passages (two days of a city's records for "who is still inside": seconds)."""
    from sqlalchemy import event

    from tests.console.conftest import add_accounts
    from tests.sync.conftest import open_office
    from tests.sync.helpers import write_passages

    for handle in open_office(tmp_path, "sqlite"):
        add_accounts(handle.engine)
        store, service = handle.add_kiosk(tmp_path / "k1")
        write_passages(store, 4)
        assert service.run_once().pushed == 4
        statements: list[str] = []

        def seen(conn, cursor, statement, parameters, context, executemany, into=statements):
            into.append(statement)

        event.listen(handle.engine, "before_cursor_execute", seen)
        try:
            rows = today(handle.engine, dt.date.today(), Account("s", "street"))
        finally:
            event.remove(handle.engine, "before_cursor_execute", seen)
        assert rows["totals"]["in"] + rows["totals"]["out"] == 4  # the counts are there
        assert statements and not [s for s in statements if "office_record" in s]
