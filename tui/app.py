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
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from textual import events
from textual.app import App
from textual.binding import Binding

from tui.settings import KioskSettings, load_settings
from tui.strings import t, words

if TYPE_CHECKING:
    from models.words import Bilingual

if TYPE_CHECKING:
    from models.clock_health import ClockHealth, OfficeTime
    from models.store import KioskStore
    from models.volunteers import VolunteerInfo

log = logging.getLogger("kakou.desk")

IDLE_CHECK_SECONDS = 5
# Background sync: a round every minute, and a few seconds after new records were saved (the
# wait gathers a queue's worth of passages into one round instead of one round per scan).
SYNC_INTERVAL_SECONDS = 60.0
SYNC_AFTER_RECORDS_SECONDS = 5.0
# How often the desk looks at its clock (models/clock_health.py reads memory only: cheap).
CLOCK_CHECK_SECONDS = 1.0


class DutyApp(App):
    """One kiosk's duty desk. `store` is None until the database thread opened it."""

    CSS_PATH = "styles/app.tcss"
    ENABLE_COMMAND_PALETTE = False
    TITLE = "kakou"
    BINDINGS = [
        # A kiosk is not a laptop: Ctrl+Q asks for a supervisor PIN, Ctrl+C does nothing.
        Binding("ctrl+q", "request_quit", "quit", show=False, priority=True, id="quit"),
        Binding("ctrl+c", "ignore", show=False, priority=True, id="ignore_ctrl_c"),
    ]

    def __init__(
        self,
        data_dir: Path,
        lang: str | None = None,
        *,
        settings: KioskSettings | None = None,
        sync_service: Callable[[Any], Any] | None = None,
        sync_interval: float = SYNC_INTERVAL_SECONDS,
        sync_after_records: float = SYNC_AFTER_RECORDS_SECONDS,
    ):
        """`sync_service(store)` makes the object that talks to the street office (default:
        `sync.kiosk.SyncService`; tests pass a fake)."""
        super().__init__()
        self.data_dir = Path(data_dir)
        self.settings = settings or load_settings(self.data_dir)
        self.lang = lang or self.settings.lang
        self.store: KioskStore | None = None
        self.volunteer: VolunteerInfo | None = None  # whoever is on duty
        self.shift_started: float | None = None
        self.locked = False
        self.last_activity = time.monotonic()
        self.bells = 0  # how often the bell rang (tests and the audit of a noisy shift)
        self.sync_override: tuple[str, str] | None = None
        self.demo = _is_demo(self.data_dir)
        self._db_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kakou-db")
        self.sync_factory = sync_service
        self.sync_interval = sync_interval
        self.sync_after_records = sync_after_records
        self.sync_rounds = 0  # rounds the background sync ran (tests, and the handover's numbers)
        self._sync_wake = threading.Event()
        self._sync_stop = threading.Event()
        self.store_ready = asyncio.Event()  # set once `store` is open; db() waits for it
        self.store_damaged = False
        self.fatal_text = ""  # once set, the desk shows only this (a damaged file, say)
        self.checkpoint_peek: tuple[str, str] | None = None  # (name, community) read before the store opens
        self.clock_health: ClockHealth | None = None  # the last look at the clock
        self.office_time: OfficeTime | None = None  # from the last good sync round

    # -- language ----------------------------------------------------------------------------
    def get_driver_class(self):
        # Textual's driver, made to survive a byte on the tty that is not UTF-8 (tui/driver.py).
        from tui.driver import survive_bad_bytes

        return survive_bad_bytes(super().get_driver_class())

    def t(self, key: str, **params: Any) -> str:
        return t(self.lang, key, **params)

    def get_key_display(self, binding: Binding) -> str:
        """How the key bar and the help write a key: as the keyboard prints it (F1, Ctrl+Q)."""
        from tui.widgets.key_bar import key_label

        return binding.key_display or key_label(binding.key)

    # -- database thread -----------------------------------------------------------------------
    async def db(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        """Run `fn(store, *args, **kwargs)` on the database thread and return its result.
        Before the store is open (the login screen shows first) this waits for it."""
        if self.store is None:
            await self.store_ready.wait()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db_pool, functools.partial(fn, self.store, *args, **kwargs))

    async def db_call(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        """Run `fn(*args, **kwargs)` (no store argument) on the database thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db_pool, functools.partial(fn, *args, **kwargs))

    def error_text(self, exc: BaseException) -> str:
        """What a volunteer reads about a failure: the domain's own words, or a plain
        "something went wrong" with the details in the error log (never a traceback)."""
        if getattr(exc, "zh", None) and getattr(exc, "en", None):
            return words(self.lang, cast("Bilingual", exc))
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
    # The volunteer should see the PIN field within about a second. Opening the store imports
    # SQLAlchemy/SQLModel (most of a second on a Pi), so it starts on the database thread as
    # the first screen is up, and a checkpoint that is already set up shows the duty screen and
    # the login on top of it at once (the checkpoint's name read with plain sqlite3). A PIN
    # typed before the store is open waits for it in `db()`. The integrity check (it reads the
    # whole file) runs on its own thread after that. (Opening the store before the first frame,
    # in on_load, was measured slower: its imports hold the GIL the first frame needs.)
    def on_mount(self) -> None:
        from tui.screens.loading import LoadingScreen

        self.title = self.t("app.title")
        if self.settings.keys:
            self.set_keymap(self.settings.keys)
        self.checkpoint_peek = _peek_checkpoint(self.data_dir)
        if self.checkpoint_peek is None:
            self.push_screen(LoadingScreen())
        self.run_worker(self._open_store(), name="open-store", group="db", exit_on_error=False)
        self.set_interval(IDLE_CHECK_SECONDS, self._check_idle)
        self.set_interval(CLOCK_CHECK_SECONDS, self.check_clock)

    async def _open_store(self) -> None:
        early = self.checkpoint_peek is not None
        if early:
            # Not awaited: the login screen's own loading waits for the store opened below.
            self.run_worker(self.open_desk(), name="open-desk", group="db", exit_on_error=False)
        try:
            self.store = await self.db_call(_open_store, self.data_dir)
            set_up = await self.db(lambda store: store.is_set_up())
        except Exception as exc:  # says what and stays: nothing to lose yet
            await self._show_fatal(self.t("app.open_failed", error=self.error_text(exc)))
            return
        self.store_ready.set()
        self.run_worker(self._check_integrity, name="quick-check", group="check", thread=True, exit_on_error=False)
        self.run_worker(self._sync_loop, name="sync", group="sync", thread=True, exit_on_error=False)
        if not set_up:
            from tui.screens.setup import SetupScreen

            await self.switch_screen(SetupScreen())
        elif not early:
            await self.open_desk()
        try:
            await self.db(_warm_up)
        except Exception as exc:
            self._log_internal_error(exc)

    async def _show_fatal(self, text: str) -> None:
        from tui.screens.loading import LoadingScreen

        self.fatal_text = text
        current = self.screen
        screen = current if isinstance(current, LoadingScreen) else LoadingScreen()
        if screen is not current:
            await self.push_screen(screen)
        screen.failed(text)

    def _check_integrity(self) -> None:
        """PRAGMA quick_check, off the database thread: a damaged file stops the desk with
        plain words (records must not be added to a file that is breaking)."""
        try:
            self.store.check_integrity()
        except Exception as exc:
            self.store_damaged = True
            self._post(self._show_fatal_from_thread, exc)

    async def _show_fatal_from_thread(self, exc: BaseException) -> None:
        await self._show_fatal(self.t("app.open_failed", error=self.error_text(exc)))

    async def open_desk(self) -> None:
        """The duty screen, with the login screen on top of it."""
        from textual.screen import Screen

        from tui.screens.duty import DutyScreen
        from tui.screens.login import LoginScreen

        if type(self.screen) is Screen:
            # Straight from start-up: nothing to replace (the app's blank default screen).
            await self.push_screen(DutyScreen())
        else:
            await self.switch_screen(DutyScreen())  # the loading or setup screen
        if self.settings.error:
            self.notify(self.t("app.settings_bad", error=self.settings.error), severity="warning", timeout=10)
        await self.push_screen(LoginScreen(), callback=self.on_logged_in)
        if self.fatal_text:
            # Start-up found the file damaged while these screens were being drawn.
            await self._show_fatal(self.fatal_text)

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
                await self.db(record_audit, "login", volunteer.id)
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
    def lock(self, idle: bool = False) -> None:
        from tui.screens.login import LoginScreen

        if self.locked or self.store is None:
            return
        self.locked = True
        if self.volunteer is not None:
            self.run_worker(self.audit("lock", self.volunteer.id, idle=idle), group="db")
        self.push_screen(LoginScreen(locked=True), callback=self.on_logged_in)

    def _check_idle(self) -> None:
        minutes = self.settings.idle_lock_minutes
        if not minutes or self.volunteer is None or self.locked:
            return
        if time.monotonic() - self.last_activity >= minutes * 60:
            self.lock(idle=True)

    async def audit(self, action: str, volunteer_id: int | None, **detail) -> None:
        """An audit line that must not stop what the volunteer is doing if it fails (it is
        logged for the supervisor instead)."""
        from models.facts import record_audit

        try:
            await self.db(record_audit, action, volunteer_id, **detail)
            self.records_saved()
        except Exception as exc:
            self._log_internal_error(exc)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.last_activity = time.monotonic()
        await super().on_event(event)

    def action_ignore(self) -> None:
        pass

    def action_request_quit(self) -> None:
        from tui.screens.supervisor import SupervisorPinScreen

        if self.store is None or self.store_damaged or not self.store.is_set_up():
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

    # -- the kiosk's clock ---------------------------------------------------------------------
    def check_clock(self) -> None:
        """Say in the status bar when the clock looks wrong (gone back, never set, far from the
        office's), and clear it once it is right. Recording goes on either way."""
        if self.store is None or self.store_damaged:
            return
        from models.clock_health import store_clock_health

        try:
            health = store_clock_health(self.store, self.office_time)
        except Exception as exc:  # a look at the clock must never stop the desk
            self._log_internal_error(exc)
            return
        self.show_clock_health(health)

    def show_clock_health(self, health) -> None:
        from tui.strings import age_text
        from tui.widgets.status_bar import StatusBar

        previous = self.clock_health
        self.clock_health = health
        short = long = ""
        if not health.ok:
            short, long = self.t(f"duty.clock.{health.problem}"), self.t(f"duty.clock.{health.problem}.long")
        for screen in self.screen_stack:
            for bar in screen.query(StatusBar):
                bar.set_clock_warning(short, long)
        was = previous.problem if previous is not None else ""
        if health.problem == was:
            return
        if health.problem:
            # Once per change, the whole sentence: what is wrong, that the gate goes on, who fixes it.
            year = time.gmtime(max(0.0, health.wall)).tm_year
            off = round(abs(health.off_by) / 60) * 60  # to the minute: "1 h", not "59 min" for 3599.9 s
            self.notify(
                self.t(f"duty.clock.notice.{health.problem}", off=age_text(self.lang, off), year=year),
                severity="warning",
                timeout=20,
            )
        elif previous is not None:
            self.notify(self.t("duty.clock.fixed"), timeout=5)

    # -- background sync ---------------------------------------------------------------------------
    def records_saved(self) -> None:
        """A record was committed: sync soon (the sync thread waits a few seconds for more)."""
        self._sync_wake.set()

    def _sync_loop(self) -> None:
        """The sync thread: rounds on the timer and after new records, only while the kiosk
        is enrolled. Sync uses its own database connections (not the desk's executor), so a
        slow office never holds up a scan; both sides write with BEGIN IMMEDIATE and a busy
        timeout, so they take turns instead of failing."""
        service = None
        delay = self.sync_after_records  # the first round after the desk is up, not during start-up
        while not self._sync_stop.is_set():
            woke = self._sync_wake.wait(delay) if delay else False
            if self._sync_stop.is_set():
                return
            # Woken by new records: let the rest of a burst of scans commit, then send them in one round.
            if woke and self._sync_stop.wait(self.sync_after_records):
                return
            self._sync_wake.clear()
            delay = self.sync_interval
            try:
                if not _enrolled(self.store):
                    continue  # the status bar keeps showing the local pending count
                if service is None:
                    service = self._make_sync_service()
                from models import clock

                before = clock.now()
                result = service.run_once()
                self._note_office_time(service, result, before)
                self.sync_rounds += 1
                text, level = sync_status_text(service, self.lang)
            except Exception as exc:  # sync trouble must never stop the desk or the thread
                self._log_internal_error(exc)
                text, level = self.t("sync.failed"), "error"
                result = None
            self._post_sync_state(text, level)
            if result is None:
                continue
            if getattr(result, "lists_updated", None):
                self._post(self._lists_changed)
            error = getattr(result, "error", None)
            if error is not None and getattr(error, "retryable", False):
                backoff = getattr(service, "backoff", None)
                if backoff is not None:
                    delay = min(self.sync_interval * 5, backoff.next_delay(getattr(error, "retry_after", None)))
            elif error is None and getattr(result, "remaining", 0):
                delay = min(delay, self.sync_after_records)  # more than one round's worth waiting

    def _note_office_time(self, service, result, before) -> None:
        """After a good round, the office's time (carried on the monotonic clock, so a jump
        after this round is still measured against it). The skew is taken at the handshake,
        the first thing in a round: `before` stands for that moment."""
        skew = getattr(service, "clock_skew", None)
        if not isinstance(skew, (int, float)) or result is None or getattr(result, "error", None) is not None:
            return  # a failed round may carry the skew of an older one
        from models.clock_health import OfficeTime

        self.office_time = OfficeTime.from_skew(float(skew), before)

    def _make_sync_service(self):
        if self.sync_factory is not None:
            return self.sync_factory(self.store)
        from sync.kiosk import SyncService

        return SyncService(self.store)

    def _post(self, callback: Callable[..., Any], *args) -> None:
        if self._sync_stop.is_set():
            return
        try:
            self.call_from_thread(callback, *args)
        except Exception:
            pass  # the app is closing

    def _post_sync_state(self, text: str, level: str) -> None:
        self._post(self.set_sync_state, text, level)

    async def _lists_changed(self) -> None:
        """A pull brought new lists or policy: the store already dropped its cached gate state;
        the duty screen reloads the policy it keeps (fever threshold, temperature rules)."""
        from tui.screens.duty import DutyScreen

        for screen in self.screen_stack:
            if isinstance(screen, DutyScreen):
                await screen.reload_policy()

    async def on_unmount(self) -> None:
        self._sync_stop.set()
        self._sync_wake.set()
        store = self.store
        if store is not None:
            try:
                await self.db_call(store.close)
            except Exception:
                pass
        self._db_pool.shutdown(wait=False)


def _is_demo(data_dir: Path) -> bool:
    """A data dir `kakou demo` made: the desk shows the demo PINs and where the demo passes
    are (the PINs `kakou demo` printed are gone once the desk takes the screen)."""
    from tui.demo import DEMO_MARKER  # light: tui.demo imports its heavy parts lazily

    try:
        return (data_dir / DEMO_MARKER).exists()
    except OSError:
        return False


def demo_pin_hint(lang: str) -> str:
    from tui.demo import SUPERVISOR, VOLUNTEERS

    return t(
        lang,
        "login.demo_hint",
        supervisor=SUPERVISOR[0],
        supervisor_pin=SUPERVISOR[1],
        volunteer=VOLUNTEERS[0][0],
        volunteer_pin=VOLUNTEERS[0][1],
    )


def _enrolled(store) -> bool:
    state = store.kiosk_state()
    return bool(state is not None and state.office_url)


def sync_status_text(service, lang: str) -> tuple[str, str]:
    """The sync part of the status bar, short enough for 80 columns.

    Errors that need a person (not enrolled, key revoked...) are shown in sync's own words;
    otherwise the desk says the same things as `status_text` in fewer cells: offline since,
    records waiting and the oldest's age, and how old the lists are."""
    from tui.strings import short_age

    text, level = service.status_text(lang)
    result = getattr(service, "last_result", None)
    error = getattr(result, "error", None)
    store = getattr(service, "store", None)
    if store is None or (error is not None and not getattr(error, "retryable", True)):
        return text, level
    now = time.time()
    parts = []
    offline_since = getattr(service, "offline_since", None)
    if offline_since is not None:
        parts.append(t(lang, "duty.sync.offline", since=time.strftime("%H:%M", time.localtime(offline_since))))
    elif error is not None:
        # Reached something, but the round failed: say which kind of trouble, in few cells.
        code = getattr(error, "code", "")
        key = {"busy": "duty.sync.busy", "tls_untrusted": "duty.sync.tls"}.get(code, "duty.sync.trouble")
        parts.append(t(lang, key))
        level = "error" if code == "tls_untrusted" else "warn"
    pending, oldest = store.pending()
    if pending:
        parts.append(
            t(lang, "duty.sync.pending", count=pending, age=short_age(lang, now - oldest))
            if oldest
            else t(lang, "duty.sync.pending_count", count=pending)
        )  # no record with a set clock
    elif error is None:
        parts.append(t(lang, "duty.sync.synced"))
    # The office's clock skew is not repeated here: the clock part of the status bar says it
    # (DutyApp.check_clock, models/clock_health.py), carried forward past jumps after the sync.
    lists_at = store.gate_state().lists_updated_at
    parts.append(
        t(lang, "duty.sync.lists_local")
        if lists_at is None
        else t(lang, "duty.sync.lists_age", age=short_age(lang, now - lists_at))
    )
    return "  ".join(parts), level


def _peek_checkpoint(data_dir: Path) -> tuple[str, str] | None:
    """(name, community) of a checkpoint that is set up, read read-only with plain sqlite3
    (milliseconds, no SQLAlchemy); None for a first start or anything unexpected, which
    then waits for the store as before."""
    import sqlite3

    path = data_dir / "kakou.db"
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=1)
        try:
            row = conn.execute("SELECT name, community FROM checkpoint ORDER BY id LIMIT 1").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return (str(row[0]), str(row[1])) if row else None


def _open_store(data_dir: Path):
    """Open the store (runs on the database thread). The integrity check runs later, on its
    own thread, so a big file does not keep the login screen waiting."""
    from models.store import KioskStore

    return KioskStore.open(data_dir, check=False)


def _warm_up(store) -> None:
    """What the first scan needs, loaded after the login screen is up, not during the scan."""
    store.policy()
    store.gate_state()
    import models.facts
    import models.gate
    import models.volunteers  # noqa: F401


def run_app(data_dir: Path, lang: str | None = None) -> int:
    app = DutyApp(Path(data_dir), lang=lang)
    result = app.run()
    return int(result or app.return_code or 0)
