"""The kiosk's own settings, changed by a supervisor at the desk: language, screen lock,
how names show, the printer and its paper width.

One short form like the register form (Enter moves on, Enter on the last field saves, a
refused value stays on its field and says why). What changed is written to the settings
file and each change is an audit record tied to the supervisor who made it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Input, Static

from tui.screens.base import DeskModal
from tui.settings import NAME_DISPLAYS, PAPER_WIDTHS, KioskSettings
from tui.widgets.form import FORM_BREAKPOINTS, FormField, checked_values, enter_moves_on, fields_of
from tui.widgets.plain import Plain

if TYPE_CHECKING:
    from models.volunteers import VolunteerInfo

# field name, label key: the order on screen
FIELDS = (
    ("lang", "set.lang"),
    ("idle_lock_minutes", "set.idle"),
    ("name_display", "set.names"),
    ("printer", "set.printer"),
    ("paper", "set.paper"),
)
# Enrolment with the street office: two optional fields, not settings (nothing is saved in the
# settings file; the office's answer goes into the kiosk's store and keys).
ENROL_FIELDS = (("office", "set.office"), ("code", "set.code"))


class SettingRefused(Exception):
    """A settings value was refused; str() is the sentence shown under the field."""


def shown_value(settings: KioskSettings, name: str) -> str:
    value = getattr(settings, name)
    if name == "idle_lock_minutes":
        return f"{value:g}"
    return str(value)


def clean_setting(name: str, raw: str, lang: str):
    """One setting's clean value, or SettingRefused with the words to show."""
    from tui.strings import t

    value = raw.strip()
    if name == "lang":
        if value.lower() not in ("zh", "en"):
            raise SettingRefused(t(lang, "set.lang_bad"))
        return value.lower()
    if name == "idle_lock_minutes":
        try:
            minutes = float(value)
        except ValueError:
            raise SettingRefused(t(lang, "set.idle_bad")) from None
        if not 0 <= minutes <= 24 * 60 or minutes != minutes:
            raise SettingRefused(t(lang, "set.idle_bad"))
        return int(minutes) if minutes == int(minutes) else minutes
    if name == "name_display":
        if value.lower() not in NAME_DISPLAYS:
            raise SettingRefused(t(lang, "set.names_bad"))
        return value.lower()
    if name == "paper":
        if value not in PAPER_WIDTHS:
            raise SettingRefused(t(lang, "set.paper_bad"))
        return value
    if name == "printer":
        if any(ord(c) < 32 for c in value) or len(value) > 200:
            raise SettingRefused(t(lang, "set.printer_bad", why=value[:40]))
        if value:
            from models.errors import KakouError
            from tui.printing.targets import parse_target

            try:
                parse_target(value)  # a typo is caught here, not at the first print
            except KakouError as exc:
                raise SettingRefused(t(lang, "set.printer_bad", why=exc.text(lang))) from None
        return value
    if name == "office":
        if not value:
            return value
        from sync.office_url import OfficeUrlError, check_office_url

        try:
            return check_office_url(value)
        except OfficeUrlError as exc:
            # One line under the field: the short words; `kakou enroll` prints the long ones.
            raise SettingRefused(t(lang, "set.office_http" if exc.code == "plain_http" else "set.office_bad")) from None
    if name == "code":
        return value.upper()
    raise SettingRefused(t(lang, "set.unknown"))


async def _enrol(app, office: str, code: str, supervisor_id: int) -> str:
    """Enrol, and record who did it: the store's parts on the database thread, the exchange
    with the office (up to its timeout) on a thread of its own, so scans never wait for it."""
    import asyncio

    from sync.kiosk import enrolment_exchange, enrolment_request

    body = await app.db(enrolment_request, code)
    answer = await asyncio.to_thread(enrolment_exchange, office, body)
    return await app.db(_enrolled, office, answer, supervisor_id)


def _enrolled(store, office: str, answer: dict, supervisor_id: int) -> str:
    """Runs on the database thread: keep what the office sent, and the audit line."""
    from models.facts import record_audit
    from sync.kiosk import apply_enrolment

    apply_enrolment(store, office, answer)
    record_audit(store, "enroll", supervisor_id, via="desk", office=office, kiosk_id=answer["kiosk_id"])
    return f"{answer['community']} {answer['name']}"


@dataclass(frozen=True)
class SettingChange:
    """One setting changed (as shown: "10" minutes, "zh"); `enrolment` when the kiosk enrolled."""

    name: str
    old: str
    new: str


@dataclass(frozen=True)
class SettingsResult:
    """What the supervisor saved; no changes when Enter went through the form unchanged."""

    changes: tuple[SettingChange, ...] = ()


def _save_and_audit(store, data_dir, new: KioskSettings, changes: list[SettingChange], supervisor_id: int) -> None:
    """Runs on the database thread: the file first (what the desk reads next start), then one
    audit record per change."""
    from models.facts import record_audit
    from tui.settings import save_settings

    save_settings(data_dir, new)
    for change in changes:
        record_audit(store, "settings_changed", supervisor_id, setting=change.name, old=change.old, new=change.new)


class SettingsScreen(DeskModal[SettingsResult | None]):
    """Dismisses with the SettingsResult of what was saved, or None (Escape)."""

    VERTICAL_BREAKPOINTS = FORM_BREAKPOINTS

    BINDINGS = [
        Binding("escape", "back", "back", show=False, id="back"),
        Binding("f3", "volunteers", "volunteers", show=False, id="volunteers"),
    ]

    def __init__(self, supervisor: VolunteerInfo):
        super().__init__()
        self.supervisor = supervisor

    def compose(self) -> ComposeResult:
        app = self.app
        with VerticalScroll(classes="dialog form", id="settings-form"):
            yield Plain(app.t("set.title"), classes="dialog-title")
            yield Plain(app.t("set.hint"), classes="dialog-hint")
            for name, label in FIELDS:
                yield FormField(name, app.t(label), shown_value(app.settings, name), max_length=200)
            for name, label in ENROL_FIELDS:
                yield FormField(name, app.t(label), "", max_length=200)
            yield Plain("", id="settings-message", classes="field-error")

    def on_mount(self) -> None:
        fields_of(self)[0].input.focus()

    def check(self, f: FormField) -> Any:
        try:
            clean = clean_setting(f.field_name, f.value, self.app.lang)
        except SettingRefused as exc:
            f.set_error(str(exc))
            f.input.focus()
            return None
        f.set_error("")
        return clean

    @on(Input.Submitted)
    async def enter(self, event: Input.Submitted) -> None:
        await enter_moves_on(self, event)

    async def save(self) -> None:
        app = self.app
        values = checked_values(self)
        if values is None:
            return
        office, code = values.pop("office", ""), values.pop("code", "")
        old = app.settings
        new = replace(old, error="", **values)
        changes = [
            SettingChange(name, shown_value(old, name), shown_value(new, name))
            for name, _label in FIELDS
            if shown_value(old, name) != shown_value(new, name)
        ]
        enrolment: SettingChange | None = None
        message = self.query_one("#settings-message", Static)
        if office:
            if not code:
                field = next(f for f in fields_of(self) if f.field_name == "code")
                field.set_error(app.t("set.code_missing"))
                field.input.focus()
                return
            message.update(app.t("set.enrolling"))
            try:
                name = await _enrol(app, office, code, self.supervisor.id)
            except Exception as exc:
                message.update(app.error_text(exc))
                app.bell()
                return
            enrolment = SettingChange("enrolment", "", name)
            message.update(app.t("set.enrolled", name=name))
            app.records_saved()  # wakes the sync thread, which now finds the kiosk enrolled
        if not changes and enrolment is None:
            self.dismiss(SettingsResult())
            return
        message.update(app.t("duty.saving"))
        if changes:
            try:
                await app.db(_save_and_audit, app.data_dir, new, changes, self.supervisor.id)
            except Exception as exc:
                message.update(app.t("duty.not_saved", error=app.error_text(exc)))
                app.bell()
                return
        app.settings = new
        app.lang = new.lang
        app.records_saved()
        self.dismiss(SettingsResult(tuple(changes) + ((enrolment,) if enrolment else ())))

    def action_volunteers(self) -> None:
        """The volunteer screen, behind its own supervisor PIN (models.permissions: each action
        that needs a supervisor asks, whoever opened the settings)."""
        from tui.screens.supervisor import SupervisorPinScreen
        from tui.screens.volunteers import VolunteersScreen

        def opened(supervisor: VolunteerInfo | None) -> None:
            if supervisor is not None:
                self.app.push_screen(VolunteersScreen(supervisor), callback=self._volunteers_closed)

        self.app.push_screen(SupervisorPinScreen("manage_volunteers"), callback=opened)

    async def _volunteers_closed(self, _result: None) -> None:
        from tui.screens.volunteers import on_duty_disabled

        if await on_duty_disabled(self.app):
            # Whoever is on duty was just disabled: back to the duty screen, and it locks.
            self.dismiss(None)
            self.app.lock()

    def action_back(self) -> None:
        self.dismiss(None)
