"""A clock that jumps back and forth during a shift, on a standalone kiosk (no office): the duty
screen says what is wrong in the status bar, passages keep being recorded, and the warning goes
once the clock is right again (issue 7)."""

from __future__ import annotations

import re
import time
import types

import pytest

from tests.tui.conftest import db_rows, log_in, scan, screen_text, token_of, wait_for
from tui.app import DutyApp
from tui.strings import age_text, t


class _FakeTime:
    """Stands in for the `time` module inside models.clock and models.store (as in
    tests/test_reliability.py): the kiosk's wall clock; monotonic time stays real."""

    monotonic_ns = staticmethod(time.monotonic_ns)

    def __init__(self, wall: float):
        self.wall = wall

    def time(self) -> float:
        return self.wall


@pytest.fixture
def fake_clock(monkeypatch):
    from models import clock

    fake = _FakeTime(time.time())
    monkeypatch.setattr(clock, "time", types.SimpleNamespace(time=fake.time, monotonic_ns=fake.monotonic_ns))
    monkeypatch.setattr("models.store.time", types.SimpleNamespace(time=fake.time))
    return fake


def status_line(app) -> str:
    return screen_text(app).splitlines()[0]


def sync_text(app) -> str:
    return app.screen.status_bar._texts["sync"]


def notices(app) -> list[str]:
    return [n.message for n in app._notifications]


def passages(data_dir):
    return db_rows(
        data_dir,
        "SELECT p.unit_code, p.verdict, o.clock_flag FROM passage p JOIN outbox o"
        " ON o.record_id = p.record_id ORDER BY o.seq",
    )


@pytest.mark.parametrize("lang, size", [("zh", (80, 24)), ("en", (100, 30))])
async def test_clock_jumps_are_explained_and_passages_keep_being_saved(desk_dir, fake_clock, lang, size):
    real_now = fake_clock.wall
    clock_words = {p: t(lang, f"duty.clock.{p}") for p in ("behind", "unset")}
    app = DutyApp(desk_dir, lang=lang)
    async with app.run_test(size=size) as pilot:
        await log_in(pilot)
        before = len(passages(desk_dir))
        await scan(pilot, token_of(desk_dir, "3-2-501"))
        await scan(pilot, "365")
        await wait_for(pilot, lambda: len(passages(desk_dir)) == before + 1)
        await pilot.pause(1.2)  # a look at the clock or two
        assert re.search(r"\d\d:\d\d:\d\d", status_line(app))
        assert app.screen.status_bar.clock_warning == ""

        # Stepped back an hour mid-shift.
        fake_clock.wall = real_now - 3600
        await wait_for(pilot, lambda: clock_words["behind"] in status_line(app))
        assert sync_text(app) and sync_text(app) in status_line(app)  # the sync text stays whole
        if size[0] >= 100:  # what to do goes on the line itself when the line has room for it
            from rich.cells import cell_len

            line = status_line(app)
            long_words, short_words = t(lang, "duty.clock.behind.long"), clock_words["behind"]
            room = size[0] - cell_len(line.rstrip())
            assert long_words in line or room < cell_len(long_words) - cell_len(short_words), line
        # The notice says what is wrong and that the gate goes on.
        await wait_for(pilot, lambda: t(lang, "duty.clock.notice.behind", off=age_text(lang, 3600)) in notices(app))
        await scan(pilot, token_of(desk_dir, "3-2-502"))
        await scan(pilot, "366")
        await wait_for(pilot, lambda: len(passages(desk_dir)) == before + 2)
        assert passages(desk_dir)[-1] == ("3-2-502", "allow", "backwards")
        assert clock_words["behind"] in status_line(app)  # still wrong after the passage

        # Power cut without an RTC: 1970.
        fake_clock.wall = 5.0
        await wait_for(pilot, lambda: clock_words["unset"] in status_line(app))
        await wait_for(pilot, lambda: t(lang, "duty.clock.notice.unset", year=1970) in notices(app))
        assert sync_text(app) in status_line(app)
        await scan(pilot, token_of(desk_dir, "5-1-101"))
        await scan(pilot, "364")
        await wait_for(pilot, lambda: len(passages(desk_dir)) == before + 3)
        # A valid pass is still let through (verdicts use the newest record's time).
        assert passages(desk_dir)[-1] == ("5-1-101", "allow", "backwards")

        # NTP answers: the clock is right again, the warning goes.
        fake_clock.wall = real_now + 60
        await wait_for(pilot, lambda: app.screen.status_bar.clock_warning == "")
        line = status_line(app)
        assert re.search(r"\d\d:\d\d:\d\d", line) and clock_words["behind"] not in line
        assert clock_words["unset"] not in line
        await wait_for(pilot, lambda: t(lang, "duty.clock.fixed") in notices(app))
        await scan(pilot, token_of(desk_dir, "3-2-501"))
        await scan(pilot, "365")
        await wait_for(pilot, lambda: len(passages(desk_dir)) == before + 4)
        assert passages(desk_dir)[-1] == ("3-2-501", "allow", "")
        assert app.screen.status_bar.clock_warning == ""


class _OfficeSync:
    """Stands in for sync.kiosk.SyncService: a street office whose clock is the real time,
    reachable or not. Like the real one, `clock_skew` keeps the last measured value while the
    office cannot be reached."""

    def __init__(self, store, fake_clock, office_now: float):
        self.store = store
        self.fake_clock = fake_clock
        self.office_offset = office_now - time.monotonic()  # the office's clock runs on
        self.online = True
        self.clock_skew = None
        self.last_result = None
        self.rounds = 0

    def run_once(self):
        self.rounds += 1
        from sync.kiosk import SyncError, SyncResult

        if self.online:
            self.clock_skew = self.fake_clock.wall - (time.monotonic() + self.office_offset)
            self.last_result = SyncResult()
        else:
            self.last_result = SyncResult(error=SyncError("连不上", "cannot reach", code="offline"))
        return self.last_result


async def test_an_enrolled_kiosk_judges_its_clock_by_the_office_even_while_offline(desk_dir, fake_clock):
    from tests.tui.test_desk_sync import enrol_locally

    enrol_locally(desk_dir)
    real_now = fake_clock.wall
    services = []

    def make(store):
        services.append(_OfficeSync(store, fake_clock, real_now))
        return services[-1]

    app = DutyApp(desk_dir, lang="zh", sync_service=make, sync_interval=0.1, sync_after_records=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot)
        await wait_for(pilot, lambda: app.office_time is not None)
        office = services[0]
        # A passage stamped while the clock ran a year ahead, then the clock corrected: a
        # standalone kiosk would call it "behind"; the office says the clock is right.
        fake_clock.wall = real_now + 366 * 86400
        await scan(pilot, token_of(desk_dir, "3-2-501"))
        await scan(pilot, "365")
        fake_clock.wall = real_now
        await pilot.pause(1.5)
        assert app.screen.status_bar.clock_warning == ""

        # The office goes away, then the clock steps back an hour: the skew measured before
        # the jump is stale, the office's time carried on the monotonic clock is not.
        office.online = False
        rounds = office.rounds
        await wait_for(pilot, lambda: office.rounds > rounds + 1)
        fake_clock.wall = real_now - 3600
        await wait_for(pilot, lambda: app.screen.status_bar.clock_warning == t("zh", "duty.clock.office"))
        assert "时钟不准" in status_line(app)

        fake_clock.wall = real_now + 30  # set right again
        await wait_for(pilot, lambda: app.screen.status_bar.clock_warning == "")
