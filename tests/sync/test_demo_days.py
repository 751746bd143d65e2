"""The demo tells the truth at both ends: after a sync, the office's day report and the kiosk's
agree day by day (issue 15). The demo's traffic used to carry monotonic time 0 on the live boot,
so the office, which dates a record by its boot's anchor, put the whole day on the boot's date."""

from __future__ import annotations

import datetime as dt

import pytest

from models.report import day_report as kiosk_day_report
from sync.office.report import day_report as office_day_report
from tui.demo import seed_demo


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_demo_traffic_is_dated_alike_at_kiosk_and_office(tmp_path, backend):
    from tests.sync.conftest import open_office

    gen = open_office(tmp_path, backend)
    office = next(gen)
    try:
        seed_demo(tmp_path / "kiosk", traffic=200)
        store, service = office.add_kiosk(tmp_path / "kiosk")
        for _ in range(20):
            service.run_once()
            if store.pending()[0] == 0:
                break
        assert store.pending()[0] == 0
        today = dt.date.today()
        days = [today - dt.timedelta(days=1), today]
        seen = 0
        for day in days:
            k = kiosk_day_report(store, day)
            rows = [
                r
                for r in office_day_report(office.engine, day)["checkpoints"]
                if r["kiosk_id"] == store.kiosk_state().kiosk_id
            ]
            o = rows[0] if rows else {"in": 0, "out": 0, "turned_back": 0, "fevers": 0, "registrations": 0}
            kiosk_counts = (
                k["passages"]["in"],
                k["passages"]["out"],
                k["turned_back"],
                k["fevers"]["cases"],
                sum(k["registrations"].values()),
            )
            office_counts = (o["in"], o["out"], o["turned_back"], o["fevers"], o["registrations"])
            assert office_counts == kiosk_counts, day
            seen += sum(kiosk_counts)
        assert seen >= 190  # the demo's 200 records fall on these two days, and were all counted
    finally:
        gen.close()
