"""The duty screen: one place for a whole shift at the gate.

A routine passage is: scan -> verdict -> type `365` Enter -> "saved" (after the commit).
The scan line has the focus always and reads what it gets by shape: a pass token is
checked; while a checked person waits for their temperature, a short reading is the
temperature; an ID number, phone, unit or name is looked up. Everything else is on
function keys (never a printable letter: a scan would trigger it).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import var
from textual.widgets import Static

from models.reasons import alert_kind
from tui.scanner import SerialScanned
from tui.screens.base import DeskScreen
from tui.widgets.key_bar import KeyBar, bound_keys, key_label
from tui.widgets.passage_log import PassageLog
from tui.widgets.plain import Plain
from tui.widgets.scan_input import ScanInput
from tui.widgets.status_bar import StatusBar
from tui.widgets.verdict_panel import VerdictPanel

if TYPE_CHECKING:
    from models.volunteers import VolunteerInfo
    from tui.screens.fever import FeverOutcome
    from tui.screens.handover import HandedOver
    from tui.screens.register import RegistrationPrefill, RegistrationResult
    from tui.screens.settings import SettingsResult

# binding id, default key, action, meaning (string key). Sites remap by id in their settings.
DESK_KEYS: tuple[tuple[str, str, str, str], ...] = (
    ("help", "f1", "help", "key.help"),
    ("register", "f2", "register", "key.register"),
    ("inside", "f3", "visitors_inside", "key.inside"),
    ("direction", "f4", "toggle_direction", "key.direction"),
    ("recheck", "f5", "recheck", "key.recheck"),
    ("override", "f6", "override", "key.override"),
    ("issue_pass", "f7", "issue_pass", "key.issue_pass"),
    ("settings", "f8", "settings", "key.settings"),
    ("handover", "f9", "handover", "key.handover"),
    ("lock", "f12", "lock", "key.lock"),
    ("cancel_person", "escape", "cancel_person", "key.cancel_person"),
)
# What the bottom line shows (the rest is in F1 help).
KEY_BAR_IDS = ("help", "register", "direction", "recheck", "handover", "lock")

_TEMP_CHARS = frozenset("0123456789.,。 ")
# How each answer's colour (models/health_checks.py) shows on the prompt line.
_ANSWER_STYLES = {
    "green": "bold black on green",
    "yellow": "bold black on yellow",
    "red": "bold white on red",
    "grey": "bold black on grey70",
}

# How often the open desk looks whether another process (`kakou pass revoke`, `kakou sync`, a
# list pulled on the command line) changed the lists or the policy: one small query.
LISTS_CHECK_SECONDS = 2.0


def reload_if_changed(store) -> Any:
    """The policy read again if the lists or policy changed under the desk (None: unchanged)."""
    return store.policy() if store.reload_if_changed() else None


def looks_like_temperature(text: str) -> bool:
    """A short reading ("365", "36.5", "36,5", "LO", "HI", "37度") rather than a search."""
    compact = text.strip().upper()
    if compact in ("LO", "HI"):
        return True
    for suffix in ("摄氏度", "度", "C", "F"):
        if compact.endswith(suffix):
            compact = compact[: -len(suffix)].strip()
            break
    if 1 <= len(compact) <= 6 and all(c in _TEMP_CHARS for c in compact) and any(c.isdigit() for c in compact):
        return True
    # what the value rule itself reads as a reading: "36度5", "36.5。", a thermometer's "Err" / "---"
    from models.values import ValueRejected, parse_temperature

    try:
        parse_temperature(text)
    except ValueRejected as exc:
        return exc.code not in ("empty", "not_a_number")
    return True


def looks_like_foreign_code(text: str) -> bool:
    """Another QR code (a URL, a health-code string, a long number) is not a name to search."""
    lowered = text.lower()
    if "://" in lowered or lowered.startswith(("www.", "http")):
        return True
    digits = sum(c.isdigit() for c in text)
    return len(text) > 24 or (digits >= 12 and digits >= len(text) * 0.8)


def shown_temperature(raw: str | None) -> str:
    """A stored reading ("365") as the log shows a new one ("36.5"); as stored if it does not parse."""
    from models.values import ValueRejected, parse_temperature

    if not raw:
        return ""
    try:
        return parse_temperature(raw).display()
    except ValueRejected:
        return raw


# What the desk does with one line from the scan line (see `route_scan`).
ROUTES = ("ignore", "temperature", "pass", "look_up", "temp_first", "foreign_code")


@dataclass(frozen=True)
class ScanRoute:
    action: str  # one of ROUTES
    text: str = ""  # the normalised entry
    look_up: str = ""  # for "look_up": "id", "phone", "unit" or "name"


def route_scan(raw: str, waiting: bool) -> ScanRoute:
    """Where one scan-line entry goes, by its shape: a pure function of the text and whether
    someone is waiting for a temperature. Never raises for any string (a scanner or a
    hostile QR code can produce anything): what it cannot place is a name to search."""
    from models.values import ScanKind, classify_scan

    if not raw or not raw.strip():
        return ScanRoute("ignore")
    scan = classify_scan(raw.strip())
    text = scan.text
    if scan.kind == ScanKind.EMPTY:
        return ScanRoute("ignore")
    if waiting and scan.kind in (ScanKind.NAME, ScanKind.UNIT) and looks_like_temperature(text):
        return ScanRoute("temperature", text)
    if scan.kind == ScanKind.TOKEN:
        return ScanRoute("pass", text)
    kinds = {ScanKind.ID_NUMBER: "id", ScanKind.PHONE: "phone", ScanKind.UNIT: "unit"}
    if scan.kind in kinds:
        return ScanRoute("look_up", text, kinds[scan.kind])
    if looks_like_temperature(text):
        return ScanRoute("temp_first", text)
    if looks_like_foreign_code(text):
        return ScanRoute("foreign_code", text)
    return ScanRoute("look_up", text, "name")


@dataclass
class WaitingPerson:
    """Checked at the gate, waiting for the temperature before the passage is saved."""

    verdict: Any  # models.verdict.Verdict
    direction: str
    unit: str
    # The checks beside the pass the policy requires (models/health_checks.py), asked one key
    # each after the temperature, and the answers so far ({"health_code": "green"}).
    checks: list[str] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)
    reading: Any = None  # the temperature, once taken (models.values.Temperature)
    temp_done: bool = False
    confirm: bool = False  # an answer asks for a check by hand: Enter lets through, Esc turns back

    @property
    def asking(self) -> str | None:
        """The check whose answer is awaited now (None: the temperature, or nothing, comes next)."""
        if not self.temp_done or self.confirm or len(self.answers) >= len(self.checks):
            return None
        return self.checks[len(self.answers)]


@dataclass
class FeverWait:
    """Someone with a fever reading, waiting aside for the recheck (复测)."""

    case_id: str
    unit: str
    first: str  # the first reading as shown
    direction: str
    started: float  # wall time of the first reading
    verdict: Any = None  # the pass verdict, to save the passage if the recheck is normal
    registration_id: str | None = None
    extra: dict = field(default_factory=dict)


def check_scan(store, token: str, direction: str):
    from models.gate import check_token

    return check_token(store, token, direction)


def save_passage(store, direction, verdict, temperature, volunteer_id, outcome=None, extra_reasons=None, checks=None):
    from models.facts import record_passage

    return record_passage(
        store,
        direction,
        verdict,
        temperature,
        volunteer_id,
        outcome=outcome,
        extra_reasons=extra_reasons,
        checks=checks or None,
    )


def open_case(store, direction, temperature, volunteer_id, verdict):
    from models.facts import open_fever_case

    body = verdict.body if verdict is not None else None
    return open_fever_case(
        store,
        direction,
        temperature,
        volunteer_id,
        pass_id=body.pass_id_hex if body else None,
        unit_code=body.unit if body else None,
    )


def desk_start_state(store):
    """What the duty screen shows after a (re)start: recent log and fevers still waiting."""
    from models.lookup import open_fever_cases, recent_passages

    cp = store.checkpoint()
    return cp, recent_passages(store, 8), open_fever_cases(store)


class DutyScreen(DeskScreen[None]):
    BINDINGS = [
        Binding(key, action, meaning, show=False, id=binding_id) for binding_id, key, action, meaning in DESK_KEYS
    ]

    # The words on the scan prompt: repainted only when they change (every scan sets them).
    prompt_words = var("", init=False)

    def __init__(self) -> None:
        super().__init__()
        self.direction = "in"
        self.waiting: WaitingPerson | None = None
        self.fevers: list[FeverWait] = []
        self.checkpoint_name = ""
        self.busy = 0  # scans being checked; a temperature typed meanwhile waits for them
        # The last pass refused on screen (verdict, direction, unit): what an override lets through.
        self.last_refused: tuple[Any, str, str] | None = None
        self._check_shown = False  # the prompt line shows a check's answers (see _prompt_check)

    # -- layout ----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusBar(id="status-bar")
        with Horizontal(id="duty-main"):
            with Vertical(id="direction-badge"):
                yield Plain("", id="direction-word")
                yield Plain("", id="direction-key")
            yield VerdictPanel(id="verdict")
        with Vertical(id="scan-area"):
            yield Plain("", id="scan-prompt")
            yield ScanInput(placeholder=self.app.t("duty.scan_placeholder"), id="scan-line")
        yield PassageLog("", id="passage-log")
        yield KeyBar("", id="key-bar")

    async def on_mount(self) -> None:
        app = self.app
        self.entries: asyncio.Queue[str] = asyncio.Queue()
        self.run_worker(self._entry_loop(), name="scan-entries", group="scan")
        self.scan_line.focus()
        self._show_direction()
        self._show_ready()
        self._paint_keys()
        self.set_interval(1, self._tick)
        self.set_interval(LISTS_CHECK_SECONDS, self._check_lists)
        self.watch(app, "volunteer", self._volunteer_changed, init=False)
        self.watch(app, "sync_status", self._sync_status_changed, init=False)
        self.refresh_status()
        if app.checkpoint_peek is not None:
            self.checkpoint_name = app.checkpoint_peek[0]
            self.status_bar.set_checkpoint(self.checkpoint_name)
        # The log, waiting fevers and policy come from the store, which may still be opening:
        # load them in a worker so the login screen on top is not held up.
        self.run_worker(self._load_start_state(), name="desk-start", group="db", exit_on_error=False)

    async def _load_start_state(self) -> None:
        app = self.app
        try:
            cp, recent, open_cases = await app.db(desk_start_state)
        except Exception as exc:
            self.verdict_panel.show("deny", app.error_text(exc))
            return
        if cp is not None:
            self.checkpoint_name = cp.name
            self.status_bar.set_checkpoint(cp.name)
        log = self.log_widget
        for line in reversed(recent):
            log.add(
                self._log_text(
                    line.device_time, line.direction, line.unit_code, line.verdict, shown_temperature(line.temp_raw)
                )
            )
        for case_id, unit, first, started, direction in open_cases:
            # The reading as it was shown when it was taken ("38.0", not the keys "380度").
            self.fevers.append(FeverWait(case_id, unit, shown_temperature(first), direction, started))
        self._paint_fevers()

    @property
    def scan_line(self) -> ScanInput:
        return self.query_one("#scan-line", ScanInput)

    @property
    def verdict_panel(self) -> VerdictPanel:
        return self.query_one("#verdict", VerdictPanel)

    @property
    def status_bar(self) -> StatusBar:
        return self.query_one("#status-bar", StatusBar)

    @property
    def log_widget(self) -> PassageLog:
        return self.query_one("#passage-log", PassageLog)

    def on_screen_resume(self) -> None:
        # Every dialog hands the focus back to the scan line.
        self.scan_line.focus()
        self._paint_keys()
        self.refresh_status()

    @property
    def policy(self):
        """The office's policy the app keeps (None until the store is open)."""
        return self.app.policy

    def _volunteer_changed(self, _volunteer) -> None:
        self.refresh_status()

    def refresh_status(self) -> None:
        volunteer = self.app.volunteer
        self.status_bar.set_volunteer(
            self.app.t("duty.volunteer", name=volunteer.name) if volunteer else self.app.t("duty.no_volunteer")
        )
        if self.checkpoint_name:
            self.status_bar.set_checkpoint(self.checkpoint_name)

    def desk_keys(self) -> list[tuple[str, str, str]]:
        """(binding id, key as shown, meaning) of every desk key and the app's quit, as bound now
        (a site's keymap applied)."""
        app = self.app
        bound = bound_keys(self)
        keys = [(bid, bound.get(bid) or key_label(key), app.t(meaning)) for bid, key, _a, meaning in DESK_KEYS]
        keys.append(("quit", bound.get("quit") or key_label("ctrl+q"), app.t("key.quit")))
        return keys

    def _paint_keys(self) -> None:
        keys = {bid: (key, meaning) for bid, key, meaning in self.desk_keys()}
        self.query_one("#key-bar", KeyBar).set_keys([keys[bid] for bid in KEY_BAR_IDS])
        self.query_one("#direction-key", Static).update(f"{keys['direction'][0]} {keys['direction'][1]}")

    def _check_lists(self) -> None:
        if self.app.store is not None:
            self.run_worker(
                self._reload_lists(), name="lists-check", group="lists", exclusive=True, exit_on_error=False
            )

    async def _reload_lists(self) -> None:
        try:
            policy = await self.app.db(reload_if_changed)
        except Exception as exc:  # a look at the lists must never stop the desk
            self.app.error_text(exc)
            return
        if policy is not None:
            self.app.policy = policy

    def _tick(self) -> None:
        self.status_bar.tick()
        self._paint_fevers()

    # -- direction -------------------------------------------------------------------------
    def _show_direction(self) -> None:
        app = self.app
        badge = self.query_one("#direction-badge")
        self.query_one("#direction-word", Static).update(app.t(f"duty.dir.{self.direction}_big"))
        badge.set_class(self.direction == "out", "out")
        self.status_bar.set_direction(app.t(f"duty.dir.{self.direction}"), self.direction)

    def action_toggle_direction(self) -> None:
        self.direction = "out" if self.direction == "in" else "in"
        self._show_direction()
        if self.waiting is not None:
            # The person in front is the same; only which way they go changed (and with it
            # which checks the policy requires).
            person = self.waiting
            person.direction = self.direction
            if self.policy is not None and not person.confirm:
                from models.health_checks import required_checks

                body = person.verdict.body
                person.checks = required_checks(self.policy, self.direction, body.kind if body else None)
                person.answers = {k: v for k, v in person.answers.items() if k in person.checks}
            if person.asking is not None:
                self._prompt_check(person)
            else:
                self._prompt_temperature(person)
        self.scan_line.focus()

    # -- what the volunteer sees ------------------------------------------------------------
    def _not_enrolled(self) -> bool:
        from sync.kiosk import NOT_ENROLLED

        status = self.app.sync_status
        return status is not None and status.state == NOT_ENROLLED

    def _sync_status_changed(self, _status: object) -> None:
        # Enrolled or not changes what the idle panel says of full numbers (models/privacy.py).
        said = self.app.t("duty.numbers_not_sealed") in self.verdict_panel.lines
        idle = self.verdict_panel.state == "idle" and self.waiting is None
        if idle and said != self._not_enrolled():
            self._show_ready(self.verdict_panel.status_line)

    def _show_ready(self, status: str = "") -> None:
        app = self.app
        lines = [app.t("duty.ready_hint")]
        if app.demo and not status:  # what just happened matters more than the demo hint
            # Where the demo's passes are is what a newcomer needs first: before the notice below,
            # which the panel cuts first at 80x24.
            lines.append(app.t("duty.demo_hint"))
            lines.append(app.t("duty.demo_path", passes=app.data_dir / "demo-passes"))
        if self._not_enrolled():
            # Before enrolment the full numbers are sealed to a key still on this kiosk: say so.
            lines.append(app.t("duty.numbers_not_sealed"))
        self.verdict_panel.show("idle", app.t("duty.ready"), lines, status)
        self._set_prompt(False)

    def _set_prompt(self, temperature: bool, text: str = "") -> None:
        app = self.app
        self.scan_line.expect_answer("")
        self.prompt_words = text or (app.t("duty.temp_prompt") if temperature else "")
        if self._check_shown:  # the check's coloured line is not prompt_words: put the words back
            self._check_shown = False
            self.watch_prompt_words(self.prompt_words)
        self.query_one("#scan-prompt", Static).set_class(temperature, "temperature")
        self.scan_line.placeholder = app.t("duty.temp_placeholder" if temperature else "duty.scan_placeholder")

    def watch_prompt_words(self, words: str) -> None:
        # One row high in app.tcss: new words need no new layout of the screen.
        self.query_one("#scan-prompt", Static).update(words, layout=False)

    def _holder_lines(self, verdict) -> list[str]:
        from models.passes import kind_label
        from models.values import mask_name
        from models.verdict import fmt_date

        app = self.app
        lines = [verdict.reason_text(app.lang)] if verdict.reasons else []
        body = verdict.body
        if body is not None:
            full = app.settings.show_full_name(self.policy.show_full_name if self.policy else False)
            name = body.name if full else mask_name(body.name)
            lines.append(app.t("duty.pass_line", unit=body.unit, kind=kind_label(body.kind, app.lang), name=name))
            lines.append(app.t("duty.valid_line", date=fmt_date(body.valid_to), issuer=verdict.issuer or "-"))
        return lines

    def _show_verdict(self, verdict, status: str = "", extra: tuple[str, ...] = ()) -> None:
        app = self.app
        outcome = verdict.outcome
        self.verdict_panel.show(outcome, app.t(f"duty.big.{outcome}"), [*self._holder_lines(verdict), *extra], status)

    def _prompt_temperature(self, person: WaitingPerson) -> None:
        app = self.app
        hint = app.t("duty.refer_hint") if person.verdict.outcome == "refer" else app.t("duty.temp_prompt")
        self._show_verdict(person.verdict, hint)
        self._set_prompt(True, hint)

    def _log_text(self, when: float, direction: str, unit: str, verdict: str, temp: str) -> str:
        app = self.app
        return app.t(
            "duty.log_row",
            time=time.strftime("%H:%M", time.localtime(when)),
            dir=app.t(f"duty.dir.{direction}"),
            unit=unit or "-",
            verdict=app.t(f"duty.{verdict}") if verdict in ("allow", "deny", "refer") else verdict,
            temp=temp or "",
        ).rstrip()

    def _paint_fevers(self) -> None:
        app = self.app
        minutes = self.policy.recheck_minutes if self.policy else 3
        now = time.time()
        lines = []
        for f in self.fevers:
            left = f.started + minutes * 60 - now
            when = (
                app.t("duty.fever_due")
                if left <= 0
                else app.t("duty.fever_left", mmss=f"{int(left) // 60:02d}:{int(left) % 60:02d}")
            )
            lines.append(app.t("duty.fever_row", unit=f.unit or "-", temp=f.first, left=when))
        self.log_widget.set_pinned(lines)

    def alarm(self) -> None:
        self.app.bell()

    # -- the scan line ---------------------------------------------------------------------
    @on(ScanInput.Scanned, "#scan-line")
    def scanned(self, message: ScanInput.Scanned) -> None:
        message.stop()
        # Entries are handled one at a time, in the order they were typed: a temperature
        # typed while the previous scan is still being checked must apply to that scan.
        self.entries.put_nowait(message.text)

    @on(SerialScanned)
    def serial_scanned(self, message: SerialScanned) -> None:
        """A code from the serial scanner (tui/scanner.py, handed on by the app): the same queue,
        so the same path, as a code typed into the scan line."""
        message.stop()
        self.entries.put_nowait(message.text)

    async def _entry_loop(self) -> None:
        while True:
            text = await self.entries.get()
            try:
                await self._handle_entry(text)
            except Exception as exc:  # one bad entry must not stop the desk
                self.verdict_panel.show("deny", self.app.error_text(exc))
                self.alarm()
            finally:
                self.entries.task_done()

    async def entries_done(self) -> None:
        """Wait until every entry typed so far has been handled (tests, and shutdown)."""
        await self.entries.join()

    async def _handle_entry(self, raw: str) -> None:
        app = self.app
        if app.volunteer is None:
            return
        waiting = self.waiting
        if waiting is not None and waiting.confirm and not raw.strip():
            await self._finish(waiting, checked=True)  # checked by hand: Enter lets through
            return
        if waiting is not None and waiting.asking is not None and len(raw.strip()) == 1:
            await self._answer(waiting, raw.strip())
            return
        route = route_scan(raw, waiting is not None and waiting.asking is None and not waiting.temp_done)
        if route.action == "ignore":
            return
        if route.action == "temperature" and waiting is not None:
            await self._temperature(waiting, route.text)
            return
        if waiting is not None:
            # A new scan while the last person still waits for a reading: that person was
            # not let in; say so, save nothing for them.
            self.waiting = None
            said = "duty.previous_dropped_check" if waiting.temp_done else "duty.previous_dropped"
            self.log_widget.add(app.t(said, unit=waiting.unit or "-"), "yellow")
        if route.action == "pass":
            await self._check_pass(route.text)
        elif route.action == "look_up":
            await self._look_up(route.look_up, route.text)
        elif route.action == "temp_first":
            self.verdict_panel.show("info", app.t("duty.temp_first"))
        elif route.action == "foreign_code":
            self.verdict_panel.show("deny", app.t("duty.big.deny"), [app.t("duty.not_kakou")])
            self.alarm()

    async def _check_pass(self, token: str) -> None:
        app = self.app
        direction = self.direction
        self.last_refused = None
        try:
            verdict = await app.db(check_scan, token, direction)
        except Exception as exc:
            self.verdict_panel.show("deny", app.t("duty.not_saved", error=app.error_text(exc)))
            self.alarm()
            return
        if verdict.outcome == "deny":
            self._show_verdict(verdict)
            self.alarm()
            if verdict.body is not None:
                self.last_refused = (verdict, direction, verdict.body.unit)
                # A decoded pass that was turned back is a fact the office counts; a scan
                # that did not decode is just a bad read (scan again), not a passage.
                await self._save(verdict, direction, None, unit=verdict.body.unit)
            self._set_prompt(False)
            return
        from models.health_checks import required_checks

        policy = await app.current_policy()
        needs_temp = policy.temp_required_in if direction == "in" else policy.temp_required_out
        unit = verdict.body.unit if verdict.body else ""
        checks = required_checks(policy, direction, verdict.body.kind if verdict.body else None)
        if verdict.outcome == "allow" and not needs_temp and not checks:
            self._show_verdict(verdict, app.t("duty.saving"))
            await self._save(verdict, direction, None, unit=unit)
            return
        self.waiting = WaitingPerson(verdict, direction, unit, checks=checks)
        if verdict.outcome == "refer":
            self.alarm()
        if verdict.outcome == "allow" and not needs_temp:
            self.waiting.temp_done = True  # no reading wanted: straight to the first check
            self._prompt_check(self.waiting)
            return
        self._prompt_temperature(self.waiting)

    async def _temperature(self, person: WaitingPerson, text: str) -> None:
        from models.values import ValueRejected, parse_temperature
        from tui.strings import words

        app = self.app
        try:
            reading = parse_temperature(text)
        except ValueRejected as exc:
            self._show_verdict(person.verdict, words(app.lang, exc))
            self.alarm()
            return
        if reading.needs_remeasure:
            key = "duty.remeasure_lo" if reading.reading == "LO" else "duty.remeasure"
            self._show_verdict(person.verdict, app.t(key, temp=reading.display()))
            self.alarm()
            return
        policy = await app.current_policy()
        if reading.is_fever(policy.fever_threshold):
            self.waiting = None
            self._set_prompt(False)
            await self._fever(person, reading, policy)
            return
        person.reading = reading
        person.temp_done = True
        if person.asking is not None:
            self._prompt_check(person)  # the checks beside the pass, one key each
            return
        await self._finish(person)

    def _prompt_check(self, person: WaitingPerson) -> None:
        """The next check's question on the prompt line, its answers numbered and coloured."""
        from rich.text import Text

        from models.health_checks import CHECKS
        from tui.strings import words

        app = self.app
        check = person.asking
        if check is None:
            return
        info = CHECKS[check]
        line = Text(app.t("duty.check_question", check=words(app.lang, info.name)))
        for number, answer in enumerate(info.answers, 1):
            line.append(f" {number} {words(app.lang, answer.name)} ", style=_ANSWER_STYLES[answer.colour])
            line.append(" ")
        line.append(app.t("duty.check_keys"))
        seen = self._answers_text(person)
        self._show_verdict(
            person.verdict, app.t("duty.check_prompt", check=words(app.lang, info.name)), (seen,) if seen else ()
        )
        self.prompt_words = ""
        self._check_shown = True
        self.query_one("#scan-prompt", Static).update(line, layout=False)
        self.query_one("#scan-prompt", Static).set_class(True, "temperature")
        self.scan_line.placeholder = app.t("duty.check_placeholder", keys=f"1-{len(info.answers)}")
        self.scan_line.expect_answer("".join(str(n) for n in range(1, len(info.answers) + 1)))

    def _answers_text(self, person: WaitingPerson) -> str:
        from models.health_checks import CHECKS
        from tui.strings import words

        app = self.app
        parts = []
        for check, code in person.answers.items():
            info = CHECKS[check]
            name = next((words(app.lang, a.name) for a in info.answers if a.code == code), code)
            parts.append(f"{words(app.lang, info.name)} {name}")
        return "  ".join(parts)

    async def _answer(self, person: WaitingPerson, key: str) -> None:
        from models.health_checks import CHECKS, answer_by_key, rule

        app = self.app
        check = person.asking
        if check is None:
            return
        answer = answer_by_key(check, key)
        if answer is None:
            self._show_verdict(person.verdict, app.t("duty.check_bad_key", keys=f"1-{len(CHECKS[check].answers)}"))
            self.alarm()
            return
        person.answers[check] = answer.code
        policy = await app.current_policy()
        if person.asking is not None and rule(policy, check, answer.code) != "deny":
            self._prompt_check(person)
            return
        await self._finish(person)  # all answered, or refused already: no key more is asked

    async def _finish(self, person: WaitingPerson, checked: bool = False) -> None:
        """Everything asked: what the answers mean applied to the verdict, and the passage saved."""
        from models.health_checks import apply_answers

        app = self.app
        policy = await app.current_policy()
        # Once asked to confirm, the verdict the person holds already has what the answers mean.
        verdict = person.verdict if person.confirm else apply_answers(policy, person.verdict, person.answers)
        seen = self._answers_text(person)
        if verdict.outcome == "deny":
            self.waiting = None
            self._set_prompt(False)
            self.alarm()
            self._show_verdict(verdict, "", (seen,))
            self.last_refused = (verdict, person.direction, person.unit)
            await self._save(verdict, person.direction, person.reading, unit=person.unit, checks=person.answers)
            return
        if verdict.outcome == "refer" and person.verdict.outcome != "refer" and not checked:
            # An answer asks for a check by hand: Enter once checked, Esc turns back.
            person.verdict = verdict
            person.confirm = True
            self.alarm()
            hint = app.t("duty.check_refer_hint")
            self._show_verdict(verdict, hint, (seen,))
            self._set_prompt(True, hint)
            self.scan_line.placeholder = hint
            return
        self.waiting = None
        self._set_prompt(False)
        extra = ["checked_by_hand"] if verdict.outcome == "refer" else None
        self._show_verdict(verdict, app.t("duty.saving"), (seen,) if seen else ())
        await self._save(
            verdict,
            person.direction,
            person.reading,
            unit=person.unit,
            outcome="allow" if extra else None,
            extra_reasons=extra,
            checks=person.answers,
        )

    async def _save(
        self, verdict, direction, reading, unit: str = "", outcome=None, extra_reasons=None, checks=None
    ) -> bool:
        app = self.app
        volunteer_id = app.volunteer.id if app.volunteer else None
        try:
            fact = await app.db(save_passage, direction, verdict, reading, volunteer_id, outcome, extra_reasons, checks)
        except Exception as exc:
            self.verdict_panel.set_status(app.t("duty.not_saved", error=app.error_text(exc)))
            self.alarm()
            return False
        self.verdict_panel.set_status(app.t("duty.saved"))
        app.records_saved(urgent=alert_kind(direction, verdict.reason_codes() + (extra_reasons or [])) is not None)
        final = outcome or verdict.outcome
        self.log_widget.add(
            self._log_text(fact.wall_time, direction, unit, final, reading.display() if reading else ""),
            "" if final == "allow" else "red",
        )
        self._set_prompt(False)
        return True

    async def _fever(self, person: WaitingPerson, reading, policy) -> None:
        app = self.app
        volunteer_id = app.volunteer.id if app.volunteer else None
        self.alarm()
        headline = f"{app.t('duty.big.fever')}  {reading.display()}"
        try:
            fact = await app.db(open_case, person.direction, reading, volunteer_id, person.verdict)
        except Exception as exc:
            self.verdict_panel.show("fever", headline, [app.t("duty.not_saved", error=app.error_text(exc))])
            return
        app.records_saved()
        self.fevers.append(
            FeverWait(fact.record_id, person.unit, reading.display(), person.direction, fact.wall_time, person.verdict)
        )
        # Who it is (unit, kind, name) stays on screen while they wait; the pass line is the
        # second-last of the holder lines (the reason, if any, comes first).
        who = self._holder_lines(person.verdict)[-2:-1] if person.verdict.body is not None else []
        self.verdict_panel.show(
            "fever",
            headline,
            [*who, app.t("duty.fever_wait", temp=reading.display(), minutes=policy.recheck_minutes)],
            app.t("duty.saved"),
        )
        self.log_widget.add(
            app.t(
                "duty.log_fever",
                time=time.strftime("%H:%M", time.localtime(fact.wall_time)),
                dir=app.t(f"duty.dir.{person.direction}"),
                unit=person.unit or "-",
                temp=reading.display(),
            ),
            "red",
        )
        self._paint_fevers()

    def add_fever_wait(self, wait: FeverWait) -> None:
        """A fever found outside the scan line (the register form) waits here too."""
        self.fevers.append(wait)
        self._paint_fevers()

    # -- look-ups ---------------------------------------------------------------------------
    async def _look_up(self, kind: str, text: str) -> None:
        from tui.screens.lookup import LookupScreen, run_lookup

        app = self.app
        self.verdict_panel.show("info", app.t("duty.searching"))
        try:
            result = await app.db(run_lookup, kind, text, self.direction)
        except Exception as exc:
            self.verdict_panel.show("deny", f"{app.t('duty.symbol.deny')} {app.error_text(exc)}")
            self.alarm()
            return
        self._show_ready()
        if result.register_with is not None:
            # Never seen before: go straight to the registration with what was scanned.
            self.open_register(result.register_with)
            return
        self.app.push_screen(LookupScreen(result), callback=self._lookup_closed)

    def _lookup_closed(self, register_with: RegistrationPrefill | None) -> None:
        if register_with is not None:
            self.open_register(register_with)

    # -- actions (function keys) ----------------------------------------------------------------
    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen([(key, meaning) for _bid, key, meaning in self.desk_keys()]))

    def action_register(self) -> None:
        self.open_register()

    def open_register(self, prefill: RegistrationPrefill | None = None) -> None:
        from tui.screens.register import RegisterScreen, RegistrationPrefill

        p = prefill or RegistrationPrefill()
        self.app.push_screen(
            RegisterScreen(direction=self.direction, id_number=p.id_number, phone=p.phone, unit=p.unit),
            callback=self._registered,
        )

    async def _registered(self, result: RegistrationResult | None) -> None:
        if result is None:
            return
        app = self.app
        app.records_saved()
        kind_label, unit, fever = result.kind_label, result.unit, result.fever
        verdict = result.verdict
        reasons = [verdict.reason_text(app.lang)] if verdict is not None and verdict.reasons else []
        if verdict is not None and verdict.outcome == "refer":
            from models.verdict import Reason

            # Saved after the volunteer's check: say so, not only "check by hand".
            reasons = [f"{reasons[0]} → {Reason('checked_by_hand').text(app.lang)}"]
        if result.refused:
            self.alarm()
            self.log_widget.add(self._log_text(time.time(), self.direction, unit, "deny", ""), "red")
            self.verdict_panel.show(
                "deny", app.t("duty.big.deny"), [app.t("reg.refused", reason=verdict.reason_text(app.lang))]
            )
            return
        self.log_widget.add(
            app.t("duty.log_registration", time=time.strftime("%H:%M"), kind=kind_label, unit=unit or "-")
        )
        if fever is not None:
            self.alarm()
            self.add_fever_wait(fever)
            self.verdict_panel.show(
                "fever", f"{app.t('duty.big.fever')}  {fever.first}", [app.t("reg.saved_fever", temp=fever.first)]
            )
            return
        self.verdict_panel.show(
            "allow",
            f"{app.t('duty.symbol.allow')} {app.t('duty.saved')}",
            [*reasons, app.t("reg.saved", kind=kind_label, unit=unit or "-")],
        )
        from models.kinds import REGISTRATION_KINDS

        offers = REGISTRATION_KINDS[result.kind].offers_pass
        if offers is not None:
            # The pass (a returnee's entry slip) opens with what the form already knows: no name typed
            # twice. Behind the supervisor's PIN like every pass: its screen can issue any kind.
            self.offer_issue_pass(unit=unit, kind=offers.code, name=result.name or None)

    def action_visitors_inside(self) -> None:
        from tui.screens.inside import InsideScreen

        if self.app.volunteer is not None:
            self.app.push_screen(InsideScreen(), callback=self._signed_out)

    def _signed_out(self, person) -> None:
        if person is None:
            return
        app = self.app
        app.records_saved()
        kind = person.kind_label(app.lang)
        said = app.t("inside.signed_out", kind=kind, unit=person.unit or "-", name=person.name_masked or "-")
        self.verdict_panel.show("allow", f"{app.t('duty.symbol.allow')} {app.t('duty.saved')}", [said])
        self.log_widget.add(self._log_text(time.time(), "out", person.unit, "allow", ""))

    def action_cancel_person(self) -> None:
        app = self.app
        person = self.waiting
        if person is None:
            self._show_ready()
            return
        self.waiting = None
        if person.verdict.outcome == "refer":
            # Checked by hand and turned back: that is a fact the office counts.
            self.run_worker(
                self._save(
                    person.verdict,
                    person.direction,
                    person.reading,
                    unit=person.unit,
                    outcome="deny",
                    extra_reasons=["turned_back"],
                    checks=person.answers,
                ),
                group="scan",
            )
            self._show_verdict(person.verdict, app.t("duty.turned_back"))
        else:
            self._show_ready(app.t("duty.cancelled"))
        self._set_prompt(False)

    def action_recheck(self) -> None:
        from tui.screens.fever import FeverScreen

        if not self.fevers:
            self.verdict_panel.show("info", self.app.t("duty.no_fevers"))
            return
        minutes = self.policy.recheck_minutes if self.policy else 3
        # The one waiting longest first: they are due before anyone else.
        wait = min(self.fevers, key=lambda f: f.started)
        self.app.push_screen(FeverScreen(wait, minutes), callback=self._rechecked)

    def _rechecked(self, result: FeverOutcome | None) -> None:
        if result is None:
            return
        app = self.app
        app.records_saved()
        wait, outcome, reading_text = result.wait, result.outcome, result.reading
        self.fevers = [f for f in self.fevers if f.case_id != wait.case_id]
        self._paint_fevers()
        from models.kinds import FEVER_OUTCOMES
        from tui.strings import words

        label = words(app.lang, FEVER_OUTCOMES[outcome].name)
        self.log_widget.add(
            app.t(
                "duty.log_fever_done",
                time=time.strftime("%H:%M"),
                unit=wait.unit or "-",
                temp=reading_text,
                outcome=label,
            ),
            "" if outcome == "allowed" else "red",
        )
        self.verdict_panel.show(
            "allow" if outcome == "allowed" else "deny",
            f"{app.t('duty.symbol.allow' if outcome == 'allowed' else 'duty.symbol.deny')} {label}",
            [],
            app.t("duty.saved"),
        )

    def action_issue_pass(self) -> None:
        self.offer_issue_pass()

    def offer_issue_pass(self, unit: str | None = None, kind: str | None = None, name: str | None = None) -> None:
        """The one way to the pass screen: always behind the supervisor's PIN (models.permissions)."""
        app = self.app
        try:
            from tui.screens.issue_pass import IssuePassScreen
        except ImportError:
            self.verdict_panel.show("info", app.t("duty.not_available"))
            return

        def open_screen(supervisor: VolunteerInfo | None) -> None:
            if supervisor is None:
                return
            app.push_screen(IssuePassScreen(app.store, supervisor, app.lang, unit=unit, kind=kind, name=name))

        from tui.screens.supervisor import SupervisorPinScreen

        app.push_screen(SupervisorPinScreen("issue_pass"), callback=open_screen)

    def action_settings(self) -> None:
        from tui.screens.settings import SettingsScreen
        from tui.screens.supervisor import SupervisorPinScreen

        app = self.app

        def open_settings(supervisor: VolunteerInfo | None) -> None:
            if supervisor is not None:
                app.push_screen(SettingsScreen(supervisor), callback=self._settings_closed)

        app.push_screen(SupervisorPinScreen("settings"), callback=open_settings)

    def _settings_closed(self, result: SettingsResult | None) -> None:
        if result is None:
            return
        changes = result.changes
        app = self.app
        # A new language or key meaning shows at once, on every part of the duty screen.
        self.scan_line.placeholder = app.t("duty.scan_placeholder")
        self._show_direction()
        self._paint_keys()
        self.refresh_status()
        if self.waiting is None:
            self._show_ready(
                app.t("set.saved", items=", ".join(change.name for change in changes))
                if changes
                else app.t("set.unchanged")
            )
        self.status_bar.paint_sync()

    def action_handover(self) -> None:
        from tui.screens.handover import HandoverScreen

        if self.app.volunteer is None:
            return
        self.app.push_screen(HandoverScreen(), callback=self._handed_over)

    def _handed_over(self, done: HandedOver | None) -> None:
        from tui.screens.login import LoginScreen

        if done is None:
            return
        app = self.app
        self.waiting = None
        self.refresh_status()
        app.push_screen(LoginScreen(message=app.t("hand.done")), callback=app.on_logged_in)

    def action_lock(self) -> None:
        self.app.lock()

    # -- the supervisor's override ------------------------------------------------------------
    def override_target(self):
        """Who an override is for: the person waiting (a CHECK, or a reading that will not come),
        else the pass just refused on screen, else someone without a pass."""
        from tui.screens.override import OverrideTarget

        if self.waiting is not None:
            return OverrideTarget(self.waiting.verdict, self.waiting.direction, self.waiting.unit)
        if self.last_refused is not None:
            verdict, direction, unit = self.last_refused
            return OverrideTarget(verdict, direction, unit)
        return OverrideTarget(None, self.direction, "")

    def action_override(self) -> None:
        from tui.screens.override import OverrideScreen
        from tui.screens.supervisor import SupervisorPinScreen

        app = self.app
        if app.volunteer is None:
            return
        target = self.override_target()
        on_duty = app.volunteer

        def with_supervisor(supervisor: VolunteerInfo | None) -> None:
            if supervisor is None:
                return

            async def chosen(choice) -> None:
                await self._overridden(target, on_duty, supervisor, choice)

            app.push_screen(OverrideScreen(target, supervisor.name, on_duty.name), callback=chosen)

        app.push_screen(SupervisorPinScreen("override"), callback=with_supervisor)

    async def _overridden(self, target, on_duty, supervisor, choice) -> None:
        from models.facts import record_override

        app = self.app
        if choice is None:
            return
        try:
            fact = await app.db(
                record_override,
                target.direction,
                target.verdict,
                on_duty.id,
                supervisor.id,
                choice.reason,
                unit_code=choice.unit or None,
                reason_code=choice.code,
            )
        except Exception as exc:
            self.verdict_panel.set_status(app.t("duty.not_saved", error=app.error_text(exc)))
            self.alarm()
            return
        app.records_saved()
        if self.waiting is not None and target.verdict is self.waiting.verdict:
            self.waiting = None
        self.last_refused = None
        self._set_prompt(False)
        self.verdict_panel.show(
            "allow",
            app.t("duty.big.allow"),
            [app.t("ovr.saved", supervisor=supervisor.name, reason=choice.reason)],
            app.t("duty.saved"),
        )
        self.log_widget.add(self._log_text(fact.wall_time, target.direction, choice.unit, "allow", ""))
