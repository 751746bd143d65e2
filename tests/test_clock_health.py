"""Whether the kiosk's clock looks wrong, from plain values, and from a real store whose clock
jumps (the duty desk shows this judgement in its status bar)."""

from __future__ import annotations

import time
import types

import pytest

from models import clock
from models.clock import PLAUSIBLE_SINCE, Reading
from models.clock_health import CLOCK_WARN_S, OfficeTime, judge_clock, store_clock_health

NOW = 1_760_000_000.0  # 2025-10-09, a plausible moment


class TestJudgeClock:
    def test_a_clock_in_step_with_its_records_is_fine(self):
        health = judge_clock(NOW, newest_record=NOW - 5)
        assert health.ok and health.problem == ""

    def test_no_record_yet_and_no_office_is_fine(self):
        assert judge_clock(NOW).ok

    def test_an_hour_behind_the_newest_record_is_behind_by_that_much(self):
        health = judge_clock(NOW - 3600, newest_record=NOW)
        assert health.problem == "behind"
        assert health.off_by == pytest.approx(3600)
        assert not health.ok

    def test_a_few_seconds_back_is_not_worth_a_warning(self):
        # NTP steps of a few seconds happen; the records carry the "backwards" flag anyway.
        assert judge_clock(NOW - 30, newest_record=NOW).ok
        assert judge_clock(NOW - CLOCK_WARN_S, newest_record=NOW).ok
        assert judge_clock(NOW - CLOCK_WARN_S - 1, newest_record=NOW).problem == "behind"

    @pytest.mark.parametrize("wall", [0.0, 5.0, 86400.0 * 365 * 30, PLAUSIBLE_SINCE - 1])
    def test_a_clock_before_2025_was_never_set(self, wall):
        health = judge_clock(wall, newest_record=NOW)
        assert health.problem == "unset" and health.wall == wall

    def test_unset_wins_over_the_office_and_the_records(self):
        assert judge_clock(5.0, newest_record=NOW, office_skew=-NOW).problem == "unset"

    @pytest.mark.parametrize("skew", [-3600.0, 301.0, 86400.0 * 366])
    def test_far_from_the_office_is_office(self, skew):
        health = judge_clock(NOW, newest_record=NOW - 10, office_skew=skew)
        assert health.problem == "office" and health.off_by == skew

    def test_the_office_is_the_reference_when_known(self):
        # A record stamped while the clock ran a year ahead; the clock was then corrected and
        # now agrees with the office: it is right, not "behind".
        year_ahead = NOW + 366 * 86400
        assert judge_clock(NOW, newest_record=year_ahead).problem == "behind"
        assert judge_clock(NOW, newest_record=year_ahead, office_skew=2.0).ok

    def test_custom_floor_and_tolerance(self):
        assert judge_clock(100.0, plausible_since=50).ok
        assert judge_clock(NOW - 61, newest_record=NOW, tolerance=60).problem == "behind"


class TestOfficeTime:
    def test_a_jump_after_the_sync_is_seen_against_the_office(self):
        synced = Reading(wall=NOW, mono_ns=1_000_000_000_000, boot_id="b1")
        office = OfficeTime.from_skew(2.0, synced)  # kiosk 2 s ahead at the sync
        ten_min_later = Reading(wall=NOW + 600, mono_ns=synced.mono_ns + 600 * 10**9, boot_id="b1")
        assert office.skew_at(ten_min_later) == pytest.approx(2.0)
        stepped_back = Reading(wall=NOW + 600 - 3600, mono_ns=ten_min_later.mono_ns, boot_id="b1")
        assert office.skew_at(stepped_back) == pytest.approx(2.0 - 3600)

    def test_after_a_reboot_the_office_time_is_unknown(self):
        office = OfficeTime.from_skew(0.0, Reading(wall=NOW, mono_ns=5, boot_id="b1"))
        assert office.skew_at(Reading(wall=NOW, mono_ns=5, boot_id="b2")) is None


class _FakeTime:
    """Stands in for the `time` module inside models.clock (as tests/test_reliability.py)."""

    monotonic_ns = staticmethod(time.monotonic_ns)

    def __init__(self, wall: float):
        self.wall = wall

    def time(self) -> float:
        return self.wall


class TestStoreClockHealth:
    @pytest.fixture
    def fake_clock(self, monkeypatch):
        fake = _FakeTime(time.time())
        monkeypatch.setattr(clock, "time", types.SimpleNamespace(time=fake.time, monotonic_ns=fake.monotonic_ns))
        monkeypatch.setattr("models.store.time", types.SimpleNamespace(time=fake.time))
        return fake

    def _passage(self, store):
        from models.facts import record_passage
        from models.verdict import ALLOW, Verdict

        return record_passage(store, "in", Verdict(ALLOW, ()), subject="person", unit_code="3-2-501")

    def test_jumps_back_and_forth_while_passages_keep_being_recorded(self, store, fake_clock):
        from sqlalchemy import text

        real_now = fake_clock.wall
        self._passage(store)
        assert store_clock_health(store).ok

        fake_clock.wall = real_now - 3600  # stepped back an hour
        health = store_clock_health(store)
        assert health.problem == "behind" and health.off_by == pytest.approx(3600, abs=5)
        fact = self._passage(store)  # still recorded, flagged
        assert fact.clock_flag == "backwards"
        assert store_clock_health(store).problem == "behind"

        fake_clock.wall = 5.0  # power cut, no RTC: 1970
        assert store_clock_health(store).problem == "unset"
        self._passage(store)

        fake_clock.wall = real_now + 60  # NTP answered
        assert store_clock_health(store).ok
        self._passage(store)
        with store.engine.connect() as conn:
            flags = [
                r[0] for r in conn.execute(text("SELECT clock_flag FROM outbox WHERE kind = 'passage' ORDER BY seq"))
            ]
        assert flags == ["", "backwards", "backwards", ""]

    def test_a_reopened_store_remembers_its_newest_record(self, store, fake_clock, tmp_path):
        from models.store import KioskStore

        self._passage(store)
        data_dir = store.data_dir
        store.close()
        fake_clock.wall -= 7200
        reopened = KioskStore.open(data_dir)
        try:
            assert store_clock_health(reopened).problem == "behind"
        finally:
            reopened.close()

    def test_the_office_time_overrides_the_records(self, store, fake_clock):
        real_now = fake_clock.wall
        fake_clock.wall = real_now + 366 * 86400  # a bad NTP answer, a passage stamped then
        self._passage(store)
        fake_clock.wall = real_now
        assert store_clock_health(store).problem == "behind"
        office = OfficeTime.from_skew(0.0, clock.now())
        assert store_clock_health(store, office).ok
        fake_clock.wall = real_now - 3600
        health = store_clock_health(store, office)
        assert health.problem == "office" and health.off_by == pytest.approx(-3600, abs=5)
