"""A fever case opened before midnight and rechecked after it is the first day's at both ends,
and cases still waiting are shown in the office's report (issue 15). The office used to count
the outcome on its own day: the kiosk's report said "1 case, allowed 1" for the day before and
the office's "1 case, allowed 0", then "allowed 1" on a day with no case."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest

from models import clock
from models.facts import close_fever_case, open_fever_case
from models.report import day_report as kiosk_day_report
from models.values import parse_temperature
from sync.office.report import day_report as office_day_report
from sync.office.report import format_csv, format_table


def _at(day: dt.date, hour: int, minute: int) -> float:
    return time.mktime(dt.datetime.combine(day, dt.time(hour, minute)).timetuple())


def _sync(store, service) -> None:
    for _ in range(20):
        service.run_once()
        if store.pending()[0] == 0:
            return
    raise AssertionError("the kiosk's records did not all reach the office")


def _office_row(engine, store, day):
    rows = [r for r in office_day_report(engine, day)["checkpoints"] if r["kiosk_id"] == store.kiosk_state().kiosk_id]
    return rows[0]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
@pytest.mark.parametrize("sync_between", [False, True], ids=["one-push", "case-pushed-first"])
def test_a_case_across_midnight_is_counted_on_the_cases_day_at_both_ends(tmp_path, backend, sync_between):
    from tests.sync.conftest import open_office

    gen = open_office(tmp_path, backend)
    office = next(gen)
    try:
        store, service = office.add_kiosk(tmp_path / "kiosk")
        today = dt.date.today()
        before = today - dt.timedelta(days=2)  # two days back: well inside the office's time window
        after = before + dt.timedelta(days=1)
        boot = f"test-{uuid.uuid4()}"  # its own boot, its monotonic clock running with the wall clock
        t0 = _at(before, 23, 58)
        case = open_fever_case(
            store, "in", parse_temperature("385"), unit_code="3-2-501", reading=clock.Reading(t0, 0, boot)
        )
        # and one case that day still waiting for its recheck
        open_fever_case(
            store, "in", parse_temperature("380"), unit_code="1-1-101", reading=clock.Reading(t0 + 30, 30 * 10**9, boot)
        )
        if sync_between:
            _sync(store, service)
        t1 = _at(after, 0, 2)
        close_fever_case(
            store,
            case.record_id,
            "allowed",
            parse_temperature("366"),
            reading=clock.Reading(t1, int((t1 - t0) * 1e9), boot),
        )
        _sync(store, service)

        k_before, k_after = kiosk_day_report(store, before), kiosk_day_report(store, after)
        o_before, o_after = _office_row(office.engine, store, before), _office_row(office.engine, store, after)
        assert k_before["fevers"] == {"cases": 2, "outcomes": {"allowed": 1, "clinic": 0, "home": 0}, "pending": 1}
        assert (o_before["fevers"], o_before["fever_allowed"], o_before["fever_pending"]) == (2, 1, 1)
        assert k_after["fevers"]["cases"] == 0 and sum(k_after["fevers"]["outcomes"].values()) == 0
        assert (o_after["fevers"], o_after["fever_allowed"], o_after["fever_pending"]) == (0, 0, 0)
        # the pending case is shown in the office's report, in words
        report = office_day_report(office.engine, before)
        assert report["totals"]["fever_pending"] == 1
        assert "待复测" in format_table(report, "zh") and "fever: pending" in format_csv(report, "en")

        # a recount from the records (after a change by hand) counts it on the same day
        from sync.office.report import recount_days

        recount_days(office.engine)
        o_before = _office_row(office.engine, store, before)
        assert (o_before["fevers"], o_before["fever_allowed"], o_before["fever_pending"]) == (2, 1, 1)
    finally:
        gen.close()


def test_an_outcome_naming_another_kiosks_case_is_not_moved_to_that_day(tmp_path):
    """The case's day comes only from this kiosk's own case: another kiosk's record id in a
    payload does not move the count."""
    from tests.sync.conftest import open_office

    gen = open_office(tmp_path, "sqlite")
    office = next(gen)
    try:
        a, sa = office.add_kiosk(tmp_path / "a")
        b, sb = office.add_kiosk(tmp_path / "b")
        today = dt.date.today()
        old = today - dt.timedelta(days=3)
        boot = f"test-{uuid.uuid4()}"
        t0 = _at(old, 10, 0)
        case = open_fever_case(a, "in", parse_temperature("385"), reading=clock.Reading(t0, 0, boot))
        _sync(a, sa)
        other = open_fever_case(b, "in", parse_temperature("385"))
        close_fever_case(b, other.record_id, "home", parse_temperature("385"))
        # kiosk b names kiosk a's case (a forged or confused payload): counted on b's own day
        from models.outbox import append_fact

        payload = {"case_id": case.record_id, "second_raw": "385", "second_value": 38.5, "outcome": "clinic"}
        with b.writer.begin() as conn:
            fact = append_fact(conn, "fever_outcome", payload, clock.now(), b.gate_state().versions)
        b.note_hlc(fact.hlc)
        _sync(b, sb)
        assert _office_row(office.engine, b, old)["fever_clinic"] == 0
        assert _office_row(office.engine, b, today)["fever_clinic"] == 1
        assert _office_row(office.engine, a, old)["fever_clinic"] == 0
    finally:
        gen.close()
