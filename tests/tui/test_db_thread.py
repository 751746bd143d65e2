"""The desk's promise (tui/app.py): all database work runs on `DutyApp.db`'s one thread, so
writes keep the volunteer's order and the UI thread never waits on SQLite.

The desk is driven through a shift - login, scans, a fever and its recheck, a registration, a
look-up, issuing a pass, the settings with an enrolment at a real office, Ctrl+Q - with its store
wrapped so that every use of it says which thread it came from. Only the database thread
("kakou-db...") may use it, and by design the sync loop ("kakou-sync", its own connections)
and the start-up integrity check; reading the clock's newest record time (memory) is free."""

from __future__ import annotations

import threading

from tests.tui.conftest import db_rows, log_in, on_screen, scan, screen_text, settle, token_of, type_keys, wait_for
from tui.app import DutyApp

DB_THREADS = ("kakou-db", "kakou-sync")
MEMORY_ONLY = {"newest_record_time", "trusted_now", "data_dir"}  # no SQLite behind them
OWN_THREAD = {"check_integrity"}  # PRAGMA quick_check reads the whole file: on a thread of its own


class GuardedStore:
    """The real KioskStore, noting each use (attribute read or method call) and its thread."""

    def __init__(self, real) -> None:
        self._real = real
        self.stray: list[tuple[str, str]] = []  # (what, thread) used off the database threads
        self.on_db_thread = 0

    def _note(self, name: str) -> None:
        thread = threading.current_thread().name
        if thread.startswith(DB_THREADS):
            self.on_db_thread += 1
        elif name not in MEMORY_ONLY and name not in OWN_THREAD:
            self.stray.append((name, thread))

    def __getattr__(self, name: str):
        value = getattr(self._real, name)
        if not callable(value):
            self._note(name)
            return value

        def guarded(*args, **kwargs):
            self._note(name)  # where it is called, not where the bound method was fetched
            return value(*args, **kwargs)

        return guarded


async def test_every_store_call_of_a_shift_runs_on_the_database_thread(desk_dir, tmp_path, monkeypatch):
    import tui.app
    from sync.office.app import create_app
    from sync.office.enrol import add_checkpoint
    from tests.sync.helpers import ThreadedServer
    from tests.tui.test_desk_settings import open_settings, set_field

    guards: list[GuardedStore] = []
    real_open = tui.app._open_store

    def open_guarded(data_dir):
        guards.append(GuardedStore(real_open(data_dir)))
        return guards[-1]

    monkeypatch.setattr(tui.app, "_open_store", open_guarded)
    office_app = create_app(tmp_path / "office")
    code = add_checkpoint(office_app.state.office.engine, "东门卡口", "幸福里社区")["code"]
    app = DutyApp(desk_dir, lang="zh", sync_interval=0.2, sync_after_records=0.05)
    with ThreadedServer(office_app) as server:
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            # A pass, then a temperature; a fever, rechecked and let in.
            await scan(pilot, token_of(desk_dir, "3-2-501"))
            await scan(pilot, "365")
            await scan(pilot, token_of(desk_dir, "5-1-102"))
            await scan(pilot, "385")
            await pilot.press("f5")
            await wait_for(pilot, on_screen(pilot, "FeverScreen"))
            await type_keys(pilot, "365\r")
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))
            await settle(pilot)
            # A registration.
            await pilot.press("f2")
            await wait_for(pilot, on_screen(pilot, "RegisterScreen"))
            for value in ["1", "张三", "13800138000", "", "上海", "3-2-501", "探亲", "366"]:
                await type_keys(pilot, value + "\r")
                await pilot.pause(0.02)
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))
            await settle(pilot)
            # A look-up by phone number.
            await scan(pilot, "13800138000")
            await wait_for(pilot, on_screen(pilot, "LookupScreen"))
            assert "张" in screen_text(app)
            await pilot.press("escape")
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))
            # A pass issued by a supervisor (no printer set: saved, not printed).
            await pilot.press("f7")
            await wait_for(pilot, on_screen(pilot, "SupervisorPinScreen"))
            await type_keys(pilot, "888888\r")
            await wait_for(pilot, on_screen(pilot, "IssuePassScreen"))
            issue = app.screen
            for name, value in [("kind", "2"), ("unit", "3-2-501"), ("name", "王喆"), ("days", "7")]:
                box = issue.query_one(f"#input-{name}")
                box.value = value
                box.focus()
                await pilot.pause()
                await pilot.press("enter")
            for _name in ("plate", "hours"):
                await pilot.press("enter")
            await wait_for(pilot, lambda: issue.issued is not None)
            await pilot.press("escape")
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))
            # The settings: enrol with the street office, then sync runs.
            await open_settings(pilot)
            await wait_for(pilot, on_screen(pilot, "SettingsScreen"))
            await set_field(pilot, "office", server.url)
            await pilot.press("enter")
            await set_field(pilot, "code", code)
            await pilot.press("enter")
            await wait_for(pilot, on_screen(pilot, "DutyScreen"), timeout=30)
            await wait_for(pilot, lambda: app.sync_rounds >= 1, timeout=30)
            await settle(pilot)
            # Ctrl+Q asks for a supervisor (whether the checkpoint is set up is known, not queried).
            await pilot.press("ctrl+q")
            await wait_for(pilot, on_screen(pilot, "SupervisorPinScreen"))
            await pilot.press("escape")
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))
        office_app.state.office.engine.dispose()
    assert db_rows(desk_dir, "SELECT count(*) FROM registration")[0][0] == 1
    assert db_rows(desk_dir, "SELECT count(*) FROM audit_event WHERE action = 'issue_pass'")[0][0] == 1
    assert db_rows(desk_dir, "SELECT office_url FROM kiosk_state")[0][0] == server.url
    (guard,) = guards
    assert guard.on_db_thread > 50, "the guard saw the shift's database work"
    assert guard.stray == [], f"store used off the database thread: {sorted(set(guard.stray))}"
