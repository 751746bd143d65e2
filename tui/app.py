"""The duty desk: the kiosk's Textual app.

Start-up is the first thing a volunteer sees, so this module imports Textual only. The store
(SQLModel, SQLAlchemy, argon2, PyNaCl) is opened in the database thread after the first
frame ("正在打开 opening..." shows meanwhile).

All database work runs on one single-thread executor (`DutyApp.db`): writes are serialised in
the order the volunteer made them, reads see every earlier write, and the UI thread never
waits on SQLite. The scan line keeps taking keys while a write commits.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from textual import events
from textual.app import App
from textual.binding import Binding

from tui.settings import KioskSettings, load_settings
from tui.strings import t

log = logging.getLogger("kakou.desk")

SYNC_REFRESH_SECONDS = 15
IDLE_CHECK_SECONDS = 5


class DutyApp(App):
    """One kiosk's duty desk. `store` is None until the database thread opened it."""

    CSS_PATH = "styles/app.tcss"
    ENABLE_COMMAND_PALETTE = False
    TITLE = "kakou"
    BINDINGS = [
        # A kiosk is not a laptop: Ctrl+Q asks for a supervisor PIN, Ctrl+C does nothing.
        Binding("ctrl+q", "request_quit", "quit", show=False, priority=True, id="quit"),
        Binding("ctrl+c", "ignore", show=False, priority=True),
    ]

    def __init__(self, data_dir: Path, lang: str | None = None, *, settings: KioskSettings | None = None):
        super().__init__()
        self.data_dir = Path(data_dir)
        self.settings = settings or load_settings(self.data_dir)
        self.lang = lang or self.settings.lang
        self.store = None
        self.volunteer = None  # models.volunteers.VolunteerInfo of whoever is on duty
        self.shift_started: float | None = None
        self.locked = False
        self.last_activity = time.monotonic()
        self.bells = 0  # how often the bell rang (tests and the audit of a noisy shift)
        self.sync_override: tuple[str, str] | None = None
        self._db_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kakou-db")

    # -- language ----------------------------------------------------------------------------
    def t(self, key: str, **params) -> str:
        return t(self.lang, key, **params)

    # -- database thread -----------------------------------------------------------------------
    async def db(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        """Run `fn(store, *args, **kwargs)` on the database thread and return its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db_pool, functools.partial(fn, self.store, *args, **kwargs))

    async def db_call(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        """Run `fn(*args, **kwargs)` (no store argument) on the database thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db_pool, functools.partial(fn, *args, **kwargs))

    def error_text(self, exc: BaseException) -> str:
        """What a volunteer reads about a failure: the domain's own words, or a plain
        "something went wrong" with the details in the error log (never a traceback)."""
        zh = getattr(exc, "zh", None)
        en = getattr(exc, "en", None)
        if zh and en:
            return en if self.lang == "en" else zh
        self._log_internal_error(exc)
        return self.t("app.internal_error", error=type(exc).__name__)

    def _log_internal_error(self, exc: BaseException) -> None:
        try:
            path = self.data_dir / "logs" / "kakou-errors.log"
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as f:
                f.write(time.strftime("%Y-%m-%d %H:%M:%S ") + "duty desk\n")
                f.write("".join(traceback.format_exception(exc)))
        except OSError:
            pass

    # -- start-up ------------------------------------------------------------------------------
    def on_mount(self) -> None:
        from tui.screens.loading import LoadingScreen

        self.title = self.t("app.title")
        if self.settings.keys:
            self.set_keymap(self.settings.keys)
        self.push_screen(LoadingScreen())
        self.run_worker(self._open_store(), name="open-store", group="db", exit_on_error=False)
        self.set_interval(IDLE_CHECK_SECONDS, self._check_idle)

    async def _open_store(self) -> None:
        from tui.screens.loading import LoadingScreen

        try:
            self.store = await self.db_call(_open_store, self.data_dir)
            set_up = await self.db(lambda store: store.is_set_up())
        except Exception as exc:  # the loading screen says what and stays: nothing to lose yet
            screen = self.screen
            if isinstance(screen, LoadingScreen):
                screen.failed(self.t("app.open_failed", error=self.error_text(exc)))
            return
        if not set_up:
            from tui.screens.setup import SetupScreen

            await self.switch_screen(SetupScreen())
        else:
            await self.open_desk()

    async def open_desk(self) -> None:
        """The duty screen, with the login screen on top of it."""
        from tui.screens.duty import DutyScreen
        from tui.screens.login import LoginScreen

        await self.switch_screen(DutyScreen())
        if self.settings.error:
            self.notify(self.t("app.settings_bad", error=self.settings.error), severity="warning", timeout=10)
        await self.push_screen(LoginScreen(), callback=self.on_logged_in)

    async def on_logged_in(self, volunteer) -> None:
        from models.facts import record_audit, record_shift

        previous = self.volunteer
        self.locked = False
        self.last_activity = time.monotonic()
        try:
            if previous is None or previous.id != volunteer.id:
                if previous is not None:
                    # Someone else unlocked: the previous shift ends here (no handover note).
                    await self.db(record_shift, previous.id, "off", "", {"closed_by": volunteer.id})
                await self.db(record_shift, volunteer.id, "on")
                self.shift_started = time.time()
            else:
                await self.db(record_audit, "unlock", volunteer.id)
        except Exception as exc:
            self.notify(self.error_text(exc), severity="error", timeout=10)
        self.volunteer = volunteer
        self.duty_screen_changed()

    def duty_screen_changed(self) -> None:
        from tui.screens.duty import DutyScreen

        for screen in self.screen_stack:
            if isinstance(screen, DutyScreen):
                screen.refresh_status()

    # -- lock, quit -------------------------------------------------------------------------
    def lock(self) -> None:
        from tui.screens.login import LoginScreen

        if self.locked or self.store is None:
            return
        self.locked = True
        self.push_screen(LoginScreen(locked=True), callback=self.on_logged_in)

    def _check_idle(self) -> None:
        minutes = self.settings.idle_lock_minutes
        if not minutes or self.volunteer is None or self.locked:
            return
        if time.monotonic() - self.last_activity >= minutes * 60:
            self.lock()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.last_activity = time.monotonic()
        await super().on_event(event)

    def action_ignore(self) -> None:
        pass

    def action_request_quit(self) -> None:
        from tui.screens.supervisor import SupervisorPinScreen

        if self.store is None or not self.store.is_set_up():
            self.exit(0)
            return
        if any(isinstance(s, SupervisorPinScreen) for s in self.screen_stack):
            return

        async def done(supervisor) -> None:
            if supervisor is None:
                return
            from models.facts import record_audit

            try:
                await self.db(record_audit, "quit", supervisor.id)
            except Exception:
                pass  # quitting must not be blocked by an audit line
            self.exit(0)

        self.push_screen(SupervisorPinScreen("quit"), callback=done)

    # -- bell and sync state -------------------------------------------------------------------
    def bell(self) -> None:
        self.bells += 1
        super().bell()

    def set_sync_state(self, text: str, level: str = "ok") -> None:
        """Override the sync part of the status bar (the sync worker calls this through
        `call_from_thread`). `level`: "ok", "warn" or "error"."""
        self.sync_override = (text, level)
        from tui.screens.duty import DutyScreen

        for screen in self.screen_stack:
            if isinstance(screen, DutyScreen):
                screen.show_sync(text, level)

    async def on_unmount(self) -> None:
        store = self.store
        if store is not None:
            try:
                await self.db_call(store.close)
            except Exception:
                pass
        self._db_pool.shutdown(wait=False)


def _open_store(data_dir: Path):
    """Open the store and warm what the first scan needs (runs on the database thread)."""
    from models.store import KioskStore

    store = KioskStore.open(data_dir)
    store.policy()
    store.gate_state()
    import models.facts  # noqa: F401  (import now, not during the first scan)
    import models.gate  # noqa: F401
    import models.volunteers  # noqa: F401

    return store


def run_app(data_dir: Path, lang: str | None = None) -> int:
    app = DutyApp(Path(data_dir), lang=lang)
    result = app.run()
    return int(result or app.return_code or 0)
