"""Login and lock: a volunteer types their PIN (no name: fewest keystrokes at the gate).

Wrong PINs are limited kiosk-wide by `models.volunteers.login` (persisted, so pulling the
plug does not reset it); while locked out the screen counts the seconds down.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from tui.screens.base import DeskScreen
from tui.widgets.plain import Plain
from tui.widgets.scan_input import MAX_SCAN_CHARS

if TYPE_CHECKING:
    from models.volunteers import VolunteerInfo  # noqa: F401 (in the quoted base class: not imported at run time)


def _login_context(store):
    from models.shift import last_handover_note
    from models.volunteers import locked_for

    cp = store.checkpoint()
    return cp, last_handover_note(store), locked_for(store)


def _could_be_a_pin(text: str) -> bool:
    from models.volunteers import MAX_PIN, MIN_PIN

    text = text.strip()
    return text.isascii() and text.isdigit() and MIN_PIN <= len(text) <= MAX_PIN


class LoginScreen(DeskScreen["VolunteerInfo"]):
    """Dismisses with the VolunteerInfo of whoever typed a right PIN."""

    def __init__(self, locked: bool = False, message: str = "", typed_ahead: str = ""):
        """`typed_ahead`: keys typed at the early PIN prompt (tui/early_login.py) while the desk
        was loading, a final Enter included if one was pressed: taken as if typed here."""
        super().__init__()
        self.locked = locked
        self.typed_ahead = typed_ahead
        self.initial_message = message
        self.locked_until = 0.0

    def compose(self) -> ComposeResult:
        app = self.app
        with Vertical(classes="dialog", id="login-dialog"):
            yield Plain(app.t("login.locked_title" if self.locked else "login.title"), classes="dialog-title")
            peek = app.checkpoint_peek
            yield Plain(
                app.t("login.checkpoint", checkpoint=peek[0], community=peek[1]) if peek else "", id="login-checkpoint"
            )
            yield Plain("", id="login-note")
            yield Plain(app.t("login.prompt"))
            # No PIN-sized limit: a scan must arrive whole to be told apart from a PIN (cut to 8
            # digits, a pass looked like a wrong PIN and three of them locked the kiosk).
            yield Input(password=True, id="login-pin", max_length=MAX_SCAN_CHARS)
            yield Plain(self.initial_message, id="login-message", classes="field-error")
            if app.demo:
                from tui.app import demo_pin_hint

                yield Plain(demo_pin_hint(app.lang), id="login-demo", classes="dialog-hint")

    def on_mount(self) -> None:
        pin = self.query_one("#login-pin", Input)
        pin.focus()
        if self.typed_ahead:
            pin.value = self.typed_ahead.rstrip("\r")
            pin.cursor_position = len(pin.value)
            if self.typed_ahead.endswith("\r"):
                self.call_later(pin.action_submit)  # as the Enter typed there
        self.set_interval(1, self._tick)
        # The PIN field is live at once; what the store knows (handover note, lockout) comes
        # when it is open (at start-up that can be most of a second later).
        self.run_worker(self._load_context(), name="login-context", group="db", exit_on_error=False)

    async def _load_context(self) -> None:
        try:
            cp, note, left = await self.app.db(_login_context)
        except Exception as exc:
            self.query_one("#login-message", Static).update(self.app.error_text(exc))
            return
        if cp is not None:
            self.query_one("#login-checkpoint", Static).update(
                self.app.t("login.checkpoint", checkpoint=cp.name, community=cp.community)
            )
        if note and not self.locked:
            self.query_one("#login-note", Static).update(self.app.t("login.handover_note", note=note[0]))
        if left > 0:
            self.locked_until = time.monotonic() + left  # counted down on the monotonic clock
            self._tick()

    def _tick(self) -> None:
        if not self.locked_until:
            return
        left = self.locked_until - time.monotonic()
        message = self.query_one("#login-message", Static)
        if left <= 0:
            self.locked_until = 0.0
            message.update("")
            return
        message.update(self.app.t("login.countdown", seconds=int(left) + 1))

    @on(Input.Submitted, "#login-pin")
    async def check(self, event: Input.Submitted) -> None:
        from models.volunteers import locked_for, login

        pin_input = self.query_one("#login-pin", Input)
        message = self.query_one("#login-message", Static)
        pin = event.value
        pin_input.value = ""
        if not pin.strip():
            return
        if not _could_be_a_pin(pin):
            # A pass, an ID card or a temperature scanned at the lock screen is no wrong PIN:
            # three scans must not lock the kiosk for everyone.
            message.update(self.app.t("login.not_a_pin"))
            return
        if self.locked_until and self.locked_until > time.monotonic():
            self._tick()
            return
        message.update(self.app.t("login.checking"))
        try:
            who = await self.app.db(login, pin)
        except Exception as exc:
            message.update(self.app.error_text(exc))
            self.app.bell()
            if getattr(exc, "code", "") == "pin_locked":
                left = await self.app.db(locked_for)
                self.locked_until = time.monotonic() + left
            await self._audit_failure()
            return
        if who.weak_pin:
            # A supervisor PIN from before the 6-digit rule: it still opens the shift, but
            # authorises nothing until it is replaced (asked at the first supervisor action).
            self.app.notify(self.app.t("login.weak_pin", name=who.name), severity="warning", timeout=15)
        self.dismiss(who)

    async def _audit_failure(self) -> None:
        from models.facts import record_audit

        try:
            await self.app.db(record_audit, "login_failed", None)
        except Exception:
            pass
