"""The duty desk: the kiosk's Textual app.

Start-up is the first thing a volunteer sees, so this module imports Textual only. The store
(SQLModel, SQLAlchemy, argon2, PyNaCl) is opened in the database thread after the first
frame ("正在打开 opening..." shows meanwhile).

All database work runs on one single-thread executor (`DutyApp.db`, its thread named
"kakou-db"): writes are serialised in the order the volunteer made them, reads see every
earlier write, and the UI thread never touches SQLite (tests/tui/test_db_thread.py holds the
desk to it). The scan line keeps taking keys while a write commits. Two threads use the store
on their own by design, with their own connections (SQLite's locking and a busy timeout make
them take turns with the database thread): the sync loop ("kakou-sync", sync.kiosk.SyncLoop,
so a slow office never holds up a scan) and the integrity check at start-up (it reads the
whole file). The policy the screens use is read there once and kept (`DutyApp.policy`),
read again when a sync round brings new lists.

The sync loop tells the desk how sync stands with a `SyncStatusChanged` message; the app
keeps it in the reactive `sync_status`, which the status bar watches (words:
tui/sync_words.py). The volunteer on duty and the clock warning are reactives too.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from textual import events
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive

from tui import logs
from tui.driver import KeyBurst
from tui.early_login import peek_checkpoint
from tui.scanner import ScannerState, SerialScanned
from tui.settings import KioskSettings, load_settings
from tui.strings import t, words

if TYPE_CHECKING:
    from models.clock_health import ClockHealth, OfficeTime
    from models.store import KioskStore
    from models.words import Bilingual
    from sync.kiosk import SyncLoop
    from tui.early_login import EarlyLogin

log = logging.getLogger("kakou." + __name__)

IDLE_CHECK_SECONDS = 5
# Background sync: a round every minute, and a few seconds after new records were saved (the
# wait gathers a queue's worth of passages into one round instead of one round per scan).
SYNC_INTERVAL_SECONDS = 60.0
SYNC_AFTER_RECORDS_SECONDS = 5.0
# How often the desk looks at its clock (models/clock_health.py reads memory only: cheap).
CLOCK_CHECK_SECONDS = 1.0
# The start-up integrity check sleeps this long after each slice of records it hashes (models/outbox.py).
INTEGRITY_PAUSE_S = 0.002
# ... and starts, and goes on after each slice, only once the desk has had no key (typed or from
# the serial scanner) for this long: the queue at the gate comes first (see _check_integrity).
CHECK_WHEN_QUIET_S = 3.0


class SyncStatusChanged(Message):
    """Posted by the sync loop's thread after each round: `status` is a sync.kiosk.SyncStatus."""

    def __init__(self, status: Any) -> None:
        super().__init__()
        self.status = status


class DutyApp(App):
    """One kiosk's duty desk. `store` is None until the database thread opened it."""

    # models.volunteers.VolunteerInfo of whoever is on duty (None: nobody logged in).
    volunteer: reactive[Any] = reactive(None, init=False, always_update=True)
    # The last sync.kiosk.SyncStatus the sync loop sent (None until it first did).
    sync_status: reactive[Any] = reactive(None, init=False)
    # (short, long) words shown instead of the time while the clock looks wrong; ("", "") when right.
    clock_warning: reactive[tuple[str, str]] = reactive(("", ""), init=False)
    # The serial scanner (tui/scanner.py): "" none set up, "ok" there, "gone" unplugged.
    scanner_state: reactive[str] = reactive("", init=False)

    CSS_PATH = "styles/app.tcss"
    ENABLE_COMMAND_PALETTE = False
    TITLE = "kakou"
    BINDINGS = [
        # A kiosk is not a laptop: Ctrl+Q asks for a supervisor PIN, Ctrl+C does nothing. Ctrl+Q is
        # not a priority binding: the scan line sees it first and drops it inside a scan (a code
        # holding the byte 0x11 must not open the PIN dialog in front of the queue).
        Binding("ctrl+q", "request_quit", "quit", show=False, id="quit"),
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
        logs.configure(self.data_dir)  # DATA_DIR/logs/kakou.log
        self.settings = settings or load_settings(self.data_dir)
        self.lang = lang or self.settings.lang
        self.store: KioskStore | None = None
        self.shift_started: float | None = None
        self.locked = False
        self.last_activity = time.monotonic()
        self.typed_ahead = ""  # keys typed at the early PIN prompt, for the first login screen
        # The real desk (run_app) freezes what start-up made (_freeze_start_up_objects); a test
        # process that starts hundreds of desks must not keep each one's objects for good.
        self.freeze_start_up = False
        self.bells = 0  # how often the bell rang (tests and the audit of a noisy shift)
        self.demo = _is_demo(self.data_dir)
        self._db_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kakou-db")
        self.sync_factory = sync_service
        self.sync_interval = sync_interval
        self.sync_after_records = sync_after_records
        self.sync_loop: SyncLoop | None = None  # sync.kiosk.SyncLoop, started once the store is open
        self.policy = None  # models.policy.Policy, read on the database thread (see current_policy)
        self.store_ready = asyncio.Event()  # set once `store` is open; db() waits for it
        self.store_damaged = False
        self.fatal_text = ""  # once set, the desk shows only this (a damaged file, say)
        self.lost_text = ""  # records the kiosk file lost (models/hwm.py), in the desk's language
        self.set_up = False  # the checkpoint is set up (read when the store opened; setup sets it)
        self.checkpoint_peek: tuple[str, str] | None = None  # (name, community) read before the store opens
        self.clock_health: ClockHealth | None = None  # the last look at the clock
        self.office_time: OfficeTime | None = None  # from the last good sync round
        self._shutting_down = threading.Event()  # set on unmount: nothing more is posted from threads

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
            logs.shown_error(log, exc, "duty desk")
            return words(self.lang, cast("Bilingual", exc))
        from models.engine import as_damage

        damage = as_damage(exc, self.data_dir / "kakou.db")
        if damage is not None:  # out of the database with no words yet: a damaged file
            log.error("duty desk: the database is damaged", exc_info=exc)
            self.store_damaged = True
            return words(self.lang, damage)
        self._log_internal_error(exc)
        return self.t("app.internal_error", error=type(exc).__name__)

    def _log_internal_error(self, exc: BaseException) -> None:
        logs.shown_error(log, exc, "duty desk")

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
        self.checkpoint_peek = peek_checkpoint(self.data_dir)
        if self.checkpoint_peek is None:
            self.push_screen(LoadingScreen())
        self.run_worker(self._open_store(), name="open-store", group="db", exit_on_error=False)
        self.set_interval(IDLE_CHECK_SECONDS, self._check_idle)
        self.set_interval(CLOCK_CHECK_SECONDS, self.check_clock)
        self._start_scanner()

    async def _open_store(self) -> None:
        early = self.checkpoint_peek is not None
        if early:
            # Not awaited: the login screen's own loading waits for the store opened below.
            self.run_worker(self.open_desk(), name="open-desk", group="db", exit_on_error=False)
        try:
            self.store = await self.db_call(_open_store, self.data_dir)
            set_up = await self.db(lambda store: store.is_set_up())
            self.policy = await self.db(_read_policy)
        except Exception as exc:  # says what and stays: nothing to lose yet
            await self._show_fatal(self.t("app.open_failed", error=self.error_text(exc)))
            return
        self.set_up = set_up
        self.store_ready.set()
        try:
            lost = await self.db(lambda store: store.lost_notice())
        except Exception as exc:
            self._log_internal_error(exc)
            lost = None
        if lost is not None:
            # Records the file lost (models/hwm.py): said once in full here; the status bar's
            # sync part keeps saying it (tui/sync_words.py) while the desk goes on.
            self.lost_text = lost.text(self.lang)
            self.notify(self.lost_text, severity="error", timeout=60)
        self.run_worker(self._check_integrity, name="quick-check", group="check", thread=True, exit_on_error=False)
        self._start_sync()
        if not set_up:
            from tui.screens.setup import SetupScreen

            await self.switch_screen(SetupScreen())
        elif not early:
            await self.open_desk()
        try:
            await self.db(_warm_up)
        except Exception as exc:
            self._log_internal_error(exc)
        if self.freeze_start_up:
            _freeze_start_up_objects()

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
        store = self.store
        if store is None:  # started only once the store is open
            return
        _lowest_priority()
        try:
            # It waits for a quiet desk before it starts and after every slice of records. On a
            # Pi-class CPU the check is seconds of work and a gate's first scans come right after
            # the login: nice 19 keeps this thread off the CPU but not off the interpreter, and
            # under a CPU quota (a cgroup, a slow board) every cycle it takes is one the desk
            # waits for. A short sleep between slices hands the GIL back even when quiet.
            self._wait_until_quiet()
            store.check_integrity(pause=self._pause_integrity_check)
        except _CheckStopped:
            return
        except Exception as exc:
            self.store_damaged = True
            self._post(self._show_fatal_from_thread, exc)

    def _pause_integrity_check(self) -> None:
        time.sleep(INTEGRITY_PAUSE_S)
        self._wait_until_quiet()

    def _wait_until_quiet(self) -> None:
        """On the check's thread: return once no key has come for CHECK_WHEN_QUIET_S; raise
        _CheckStopped when the desk is closing (a thread worker cannot be cancelled from outside)."""
        from textual.worker import get_current_worker

        worker = get_current_worker()
        while True:
            if worker.is_cancelled:
                raise _CheckStopped
            waited = time.monotonic() - self.last_activity
            if waited >= CHECK_WHEN_QUIET_S:
                return
            time.sleep(min(CHECK_WHEN_QUIET_S - waited, 0.25))

    async def _show_fatal_from_thread(self, exc: BaseException) -> None:
        await self._show_fatal(self.t("app.open_failed", error=self.error_text(exc)))

    async def open_desk(self) -> None:
        """The duty screen, with the login screen on top of it."""
        from textual.screen import Screen

        from tui.screens.duty import DutyScreen
        from tui.screens.login import LoginScreen

        self.set_up = True  # only a checkpoint that is set up has a desk
        if type(self.screen) is Screen:
            # Straight from start-up: nothing to replace (the app's blank default screen).
            await self.push_screen(DutyScreen())
        else:
            await self.switch_screen(DutyScreen())  # the loading or setup screen
        if self.settings.error:
            self.notify(self.t("app.settings_bad", error=self.settings.error), severity="warning", timeout=10)
        typed, self.typed_ahead = self.typed_ahead, ""
        await self.push_screen(LoginScreen(typed_ahead=typed), callback=self.on_logged_in)
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
        self.volunteer = volunteer  # the duty screen watches it

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

    async def on_key_burst(self, burst: KeyBurst) -> None:
        """Printable keys that came together (tui/driver.py). The focused scan line takes them in
        one piece: it consumes every printable key, so no binding could take one of them (unless
        a priority binding was put on a printable key: then, and for any other focused widget,
        each key goes through the app as if it had come alone)."""
        from tui.widgets.scan_input import ScanInput

        self.last_activity = time.monotonic()
        focused = self.focused
        if isinstance(focused, ScanInput):
            active = self.screen.active_bindings
            if not any((b := active.get(key.key)) is not None and b.binding.priority for key in burst.keys):
                focused.post_message(burst)
                return
        for key in burst.keys:
            await self.on_event(key)

    def action_ignore(self) -> None:
        pass

    def action_request_quit(self) -> None:
        from tui.screens.supervisor import SupervisorPinScreen

        if self.store is None or self.store_damaged or not self.set_up:
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

        previous = self.clock_health
        self.clock_health = health
        short = long = ""
        if not health.ok:
            short, long = self.t(f"duty.clock.{health.problem}"), self.t(f"duty.clock.{health.problem}.long")
        self.clock_warning = (short, long)  # the status bar watches it
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
    # -- the serial scanner (tui/scanner.py) -------------------------------------------------------
    def _start_scanner(self) -> None:
        """Read the `scanner` setting ($KAKOU_SCANNER wins) and, for a serial scanner, start the
        thread worker that reads it. The keyboard path needs nothing: it is always there."""
        import os

        from tui.scanner import SCANNER_ENV, parse_scanner_setting, read_scanner

        try:
            setting = parse_scanner_setting(os.environ.get(SCANNER_ENV) or self.settings.scanner)
        except Exception as exc:
            self.notify(self.error_text(exc), severity="error", timeout=15)
            return
        if setting is None:
            return
        self.scanner_state = "gone"  # until the port opens
        stop = self._shutting_down
        self.run_worker(
            functools.partial(
                read_scanner,
                setting,
                lambda text: self.post_message(SerialScanned(text)),
                lambda state: self.post_message(ScannerState(state, setting.port)),
                stop,
            ),
            name="serial-scanner",
            group="scanner",
            thread=True,
            exit_on_error=False,
        )

    def on_serial_scanned(self, message: SerialScanned) -> None:
        """A code from the serial scanner goes to the duty screen when it is in front and
        someone is on duty, as a typed scan would; otherwise it is not used, and said so."""
        from tui.screens.duty import DutyScreen

        screen = self.screen
        if isinstance(screen, DutyScreen) and self.volunteer is not None and not self.locked:
            self.last_activity = time.monotonic()
            screen.post_message(SerialScanned(message.text))
        else:
            self.notify(self.t("duty.scanner.ignored"), severity="warning", timeout=5)
            self.bell()

    def on_scanner_state(self, message: ScannerState) -> None:
        self.scanner_state = message.state

    def _start_sync(self) -> None:
        """The sync loop on its own thread: rounds on the timer and a few seconds after new
        records, only while the kiosk is enrolled; the first round not during start-up."""
        from sync.kiosk import SyncLoop

        store = self.store
        if store is None:  # started only once the store is open (open_desk)
            return
        self.sync_loop = SyncLoop(
            store,
            make_service=self.sync_factory,
            interval=self.sync_interval,
            gather=self.sync_after_records,
            first_delay=self.sync_after_records,
            on_status=self._sync_status_from_thread,
        )
        self.sync_loop.start()

    @property
    def sync_rounds(self) -> int:
        """Rounds the background sync ran (tests, and the handover's numbers)."""
        return self.sync_loop.rounds if self.sync_loop is not None else 0

    def records_saved(self, urgent: bool = False) -> None:
        """A record was committed: sync soon (the sync loop waits a few seconds for more);
        `urgent` (an alert-worthy record, models.reasons.alert_kind): at once."""
        if self.sync_loop is not None:
            self.sync_loop.wake(urgent=urgent)

    def _sync_status_from_thread(self, status) -> None:
        if not self._shutting_down.is_set():
            self.post_message(SyncStatusChanged(status))

    def on_sync_status_changed(self, message: SyncStatusChanged) -> None:
        status = message.status
        if status.office_time is not None:
            self.office_time = status.office_time  # the clock check judges by the office from now on
        self.sync_status = status
        if status.lists_changed:
            self.run_worker(self._lists_changed(), name="reload-policy", group="db", exit_on_error=False)

    async def _lists_changed(self) -> None:
        """A pull brought new lists or policy: the store already dropped its cached gate state;
        the policy the screens use (fever threshold, temperature rules) is read again."""
        try:
            self.policy = await self.db(_read_policy)
        except Exception as exc:
            self.notify(self.error_text(exc), severity="warning")

    async def current_policy(self):
        """The office's policy as last read on the database thread (read now if not yet)."""
        if self.policy is None:
            self.policy = await self.db(_read_policy)
        return self.policy

    def _post(self, callback: Callable[..., Any], *args) -> None:
        if self._shutting_down.is_set():
            return
        try:
            self.call_from_thread(callback, *args)
        except Exception:
            pass  # the app is closing

    async def on_unmount(self) -> None:
        self._shutting_down.set()
        if self.sync_loop is not None:
            self.sync_loop.stop()
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


def _freeze_start_up_objects() -> None:
    """Once the desk is up: every object made so far (modules, classes, the screens, the store's
    caches: over 100k) is moved out of the garbage collector's reach with gc.freeze, so a full
    collection during a shift looks at what the shift made, not at all of them. Measured with
    the desk in a pty, 300 passages: three full collections of 0.45-0.63 s each (on a loaded
    machine; a Pi-class CPU is slower still) were the slowest verdicts. What start-up made
    lives as long as the desk, so nothing is kept that would otherwise be freed."""
    import gc

    gc.collect()  # what start-up already threw away is freed first, not frozen
    gc.freeze()


class _CheckStopped(Exception):
    """The desk is closing while the integrity check waits for a quiet moment."""


def _lowest_priority() -> None:
    """This thread (the start-up integrity check) at nice 19: it reads and hashes the whole file
    (seconds of CPU on a 100k-record file, far more on a Pi) and must not take the CPU the scans
    need; it still runs to the end, on what the desk leaves. Linux gives each thread its own nice
    value (setpriority on the thread id); elsewhere it runs as before."""
    import os

    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass


def _read_policy(store):
    return store.policy()


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


def run_app(data_dir: Path, lang: str | None = None, early: EarlyLogin | None = None) -> int:
    """The desk, run until it is closed. `early` is the PIN prompt drawn while this module was
    being imported (tui/early_login.py): what was typed into it goes to the first login screen.
    The caller holds the desk lock."""
    app = DutyApp(Path(data_dir), lang=lang)
    app.freeze_start_up = True
    if early is not None:
        app.typed_ahead = early.stop()  # the terminal is Textual's from here
    result = app.run()
    return int(result or app.return_code or 0)
