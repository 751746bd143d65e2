"""Background sync at the duty desk: rounds on a timer and after new records, only when the
kiosk is enrolled, the result in the status bar, and new office lists used by the next scan."""

from __future__ import annotations

import sqlite3
import threading
import warnings

import pytest

from sync.kiosk import SyncError, SyncResult
from tests.tui.conftest import db_rows, log_in, scan, screen_text, token_of, wait_for
from tui.app import DutyApp

warnings.filterwarnings("ignore", message=".*httpx.*", category=DeprecationWarning)


def enrol_locally(data_dir, url="http://office.test"):
    """Mark the kiosk enrolled (what `kakou enroll` leaves behind) without an office."""
    conn = sqlite3.connect(data_dir / "kakou.db")
    with conn:
        conn.execute("UPDATE kiosk_state SET office_url = ?, enrolled_at = 1", (url,))
    conn.close()


class FakeSync:
    """Stands in for sync.kiosk.SyncService: counts rounds; every round is refused by the office
    in its own words (a failure that needs a person)."""

    def __init__(self, store):
        self.store = store
        self.rounds = 0
        self.threads: set[str] = set()
        self.last_result = None
        self.round_done = threading.Event()

    def run_once(self):
        self.rounds += 1
        self.threads.add(threading.current_thread().name)
        error = SyncError(
            "街道办已吊销本机密钥，请联系街道办",
            "the office revoked this kiosk's key",
            code="key_revoked",
            retryable=False,
        )
        self.last_result = SyncResult(error=error)
        self.round_done.set()
        return self.last_result


class TestSyncWithAFakeOffice:
    async def test_the_status_bar_shows_what_sync_says_and_the_timer_runs_it(self, desk_dir):
        enrol_locally(desk_dir)
        services = []

        def make(store):
            services.append(FakeSync(store))
            return services[-1]

        app = DutyApp(desk_dir, lang="zh", sync_service=make, sync_interval=0.2, sync_after_records=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await wait_for(pilot, lambda: services and services[0].rounds >= 3)
            assert len(services) == 1, "one service for the desk's life"
            assert services[0].threads == {"kakou-sync"}, "sync runs on its own thread, off the UI and database threads"
            await wait_for(pilot, lambda: "街道办已吊销本机密钥" in screen_text(app).splitlines()[0])
            assert app.screen.query_one("#status-sync").has_class("sync-error")

    async def test_a_saved_passage_brings_the_next_round_forward(self, desk_dir):
        enrol_locally(desk_dir)
        services = []

        def make(store):
            services.append(FakeSync(store))
            return services[-1]

        # A timer far away: only the new record can cause the second round.
        app = DutyApp(desk_dir, lang="zh", sync_service=make, sync_interval=3600, sync_after_records=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await wait_for(pilot, lambda: services and services[0].rounds == 1)
            await pilot.pause(0.3)
            assert services[0].rounds == 1
            await scan(pilot, token_of(desk_dir, "3-2-501"))
            await scan(pilot, "365")
            await wait_for(pilot, lambda: services[0].rounds == 2)

    async def test_a_quarantined_person_going_out_is_sent_at_once_not_after_the_gather_wait(self, desk_dir):
        enrol_locally(desk_dir)
        services = []

        def make(store):
            services.append(FakeSync(store))
            return services[-1]

        # The timer and the wait for the rest of a burst both an hour away: only an
        # alert-worthy record (models.reasons.alert_kind) brings a round now.
        app = DutyApp(desk_dir, lang="zh", sync_service=make, sync_interval=3600, sync_after_records=3600)
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await pilot.pause(0.2)
            before = services[0].rounds if services else 0
            await scan(pilot, token_of(desk_dir, "3-2-501"))  # an ordinary passage in: it waits
            await scan(pilot, "365")
            await pilot.pause(0.5)
            assert (services[0].rounds if services else 0) == before
            await pilot.press("f4")
            await scan(pilot, token_of(desk_dir, "2-1-302"))  # quarantined: may not go out
            await wait_for(pilot, lambda: services and services[0].rounds == before + 1)

    async def test_a_kiosk_that_is_not_enrolled_does_not_sync_and_shows_its_own_count(self, desk_dir):
        made = []
        app = DutyApp(
            desk_dir,
            lang="zh",
            sync_service=lambda store: made.append(store),
            sync_interval=0.05,
            sync_after_records=0.01,
        )
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await scan(pilot, token_of(desk_dir, "3-2-501"))
            await scan(pilot, "365")
            await pilot.pause(0.3)
            assert made == []
            pending = db_rows(desk_dir, "SELECT count(*) FROM outbox WHERE seq > (SELECT acked_seq FROM kiosk_state)")[
                0
            ][0]
            # The saved passage wakes the loop, which counts again (no round: not enrolled).
            # Not "待上报" (to be sent): nothing is sent before an enrolment (issue 14).
            await wait_for(pilot, lambda: f"未登记 本机存{pending}条" in screen_text(app).splitlines()[0])
            assert "待上报" not in screen_text(app).splitlines()[0]
            assert app.sync_rounds == 0


@pytest.fixture
def office(tmp_path):
    from tests.sync.conftest import make_office

    handle, _ = make_office(tmp_path, "sqlite")
    yield handle
    handle.client.close()
    for store in handle.kiosks:
        store.engine.dispose()
    handle.engine.dispose()


class TestSyncWithARealOffice:
    async def test_a_passage_reaches_the_office_and_new_lists_turn_the_next_verdict(self, desk_dir, office):
        from sqlalchemy import text

        from sync.kiosk import SyncService
        from sync.office import lists as office_lists
        from tests.sync.helpers import office_records

        store, _service = office.add_kiosk(desk_dir)
        kiosk_id = store.kiosk_state().kiosk_id
        store.engine.dispose()
        services = []

        def make(desk_store):
            services.append(SyncService(desk_store, client=office.client))
            return services[-1]

        app = DutyApp(desk_dir, lang="zh", sync_service=make, sync_interval=0.3, sync_after_records=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await scan(pilot, token_of(desk_dir, "3-2-501"))
            await scan(pilot, "365")
            passage_id, pass_id = db_rows(
                desk_dir, "SELECT record_id, pass_id FROM passage ORDER BY device_time DESC LIMIT 1"
            )[0]
            await wait_for(pilot, lambda: passage_id in office_records(office.engine, kiosk_id), timeout=30)
            await wait_for(pilot, lambda: "已同步" in screen_text(app).splitlines()[0], timeout=30)

            # The office revokes that pass; after the next pull the desk denies it.
            with office.engine.begin() as conn:
                office_lists.revoke_pass(conn, pass_id, "丢失 lost")

            def revoked_here() -> bool:
                with app.store.engine.connect() as conn:
                    found = conn.execute(
                        text("SELECT count(*) FROM revocation WHERE pass_id = :p"), {"p": pass_id}
                    ).scalar()
                    conn.rollback()
                return bool(found)

            await wait_for(pilot, revoked_here, timeout=30)
            await scan(pilot, token_of(desk_dir, "3-2-501"))
            text_now = screen_text(app)
            assert "禁止" in text_now and "作废" in text_now
