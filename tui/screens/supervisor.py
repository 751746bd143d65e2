"""A supervisor's PIN, asked before every action that needs one (quitting the desk, issuing a
pass on any path, settings, managing volunteers).

Which actions need a supervisor and the check itself are the domain's
(`models.permissions.authorize`); this dialog only asks for the PIN. The purpose is the action's
name in that table: an action the table does not know is refused, never let through.

A supervisor whose PIN is shorter than today's rule (set before it) is asked for a new one here,
twice, and the action goes on with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from tui.screens.base import DeskModal
from tui.widgets.plain import Plain

if TYPE_CHECKING:
    from models.volunteers import VolunteerInfo  # noqa: F401 (in the quoted base class: not imported at run time)

PURPOSES = {
    "quit": "sup.quit",
    "issue_pass": "sup.issue",
    "settings": "sup.settings",
    "manage_volunteers": "sup.volunteers",
    "override": "sup.override",
}


class SupervisorPinScreen(DeskModal["VolunteerInfo | None"]):
    """Dismisses with the supervisor's VolunteerInfo, or None on Escape."""

    BINDINGS = [Binding("escape", "back", "back", show=False, id="back")]

    def __init__(self, purpose: str):
        super().__init__()
        self.purpose = purpose
        # While a too-short supervisor PIN is being replaced: the old PIN, then the new one.
        self._old_pin = ""
        self._new_pin = ""

    def compose(self) -> ComposeResult:
        app = self.app
        with Vertical(classes="dialog"):
            yield Plain(app.t("sup.title"), classes="dialog-title")
            yield Plain(app.t(PURPOSES.get(self.purpose, "sup.title")))
            yield Plain(app.t("sup.prompt"), id="sup-prompt")
            yield Input(password=True, id="sup-pin", max_length=8)
            yield Plain("", id="sup-message", classes="field-error")

    def on_mount(self) -> None:
        self.query_one("#sup-pin", Input).focus()

    @on(Input.Submitted, "#sup-pin")
    async def check(self, event: Input.Submitted) -> None:
        from models.permissions import authorize

        pin_input = self.query_one("#sup-pin", Input)
        message = self.query_one("#sup-message", Static)
        pin = event.value
        pin_input.value = ""
        if not pin.strip():
            return  # an Enter on an empty field is no try at a PIN
        if self._old_pin:
            await self._new_pin_typed(pin)
            return
        message.update(self.app.t("login.checking"))
        try:
            who = await self.app.db(authorize, self.purpose, pin, via="desk")
        except Exception as exc:
            self.app.records_saved()  # the refusal is an audit record
            if getattr(exc, "code", "") == "pin_too_short":
                self._old_pin = pin
                self._ask_new_pin(self.app.error_text(exc))
                return
            message.update(self.app.error_text(exc))
            self.app.bell()
            return
        self.dismiss(who)

    def _ask_new_pin(self, why: str = "") -> None:
        from models.volunteers import MAX_PIN, MIN_SUPERVISOR_PIN

        self._new_pin = ""
        self.query_one("#sup-prompt", Static).update(self.app.t("sup.new_pin", low=MIN_SUPERVISOR_PIN, high=MAX_PIN))
        self.query_one("#sup-message", Static).update(why)

    async def _new_pin_typed(self, pin: str) -> None:
        from models.permissions import authorize, change_own_pin
        from models.volunteers import PinError, validate_pin

        message = self.query_one("#sup-message", Static)
        if not self._new_pin:
            try:
                self._new_pin = validate_pin(pin, "supervisor")
            except PinError as exc:
                message.update(self.app.error_text(exc))
                return
            self.query_one("#sup-prompt", Static).update(self.app.t("sup.new_pin_again"))
            message.update("")
            return
        if pin.strip() != self._new_pin:
            self._ask_new_pin(self.app.t("sup.new_pin_mismatch"))
            return
        message.update(self.app.t("login.checking"))
        try:
            await self.app.db(change_own_pin, self._old_pin, self._new_pin, via="desk")
            who = await self.app.db(authorize, self.purpose, self._new_pin, via="desk")
        except Exception as exc:
            # A PIN someone else has, say: ask for another new one.
            self._ask_new_pin(self.app.error_text(exc))
            self.app.bell()
            return
        finally:
            self.app.records_saved()
        self._old_pin = self._new_pin = ""
        self.dismiss(who)

    def action_back(self) -> None:
        self._old_pin = self._new_pin = ""
        self.dismiss(None)
