"""A supervisor's PIN, asked before quitting the desk or issuing a pass."""

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

PURPOSES = {"quit": "sup.quit", "issue_pass": "sup.issue", "settings": "sup.settings", "override": "sup.override"}


class SupervisorPinScreen(DeskModal["VolunteerInfo | None"]):
    """Dismisses with the supervisor's VolunteerInfo, or None on Escape."""

    BINDINGS = [Binding("escape", "back", "back", show=False, id="back")]

    def __init__(self, purpose: str):
        super().__init__()
        self.purpose = purpose

    def compose(self) -> ComposeResult:
        app = self.app
        with Vertical(classes="dialog"):
            yield Plain(app.t("sup.title"), classes="dialog-title")
            yield Plain(app.t(PURPOSES.get(self.purpose, "sup.quit")))
            yield Plain(app.t("sup.prompt"))
            yield Input(password=True, id="sup-pin", max_length=8)
            yield Plain("", id="sup-message", classes="field-error")

    def on_mount(self) -> None:
        self.query_one("#sup-pin", Input).focus()

    @on(Input.Submitted, "#sup-pin")
    async def check(self, event: Input.Submitted) -> None:
        from models.volunteers import login

        pin_input = self.query_one("#sup-pin", Input)
        message = self.query_one("#sup-message", Static)
        pin = event.value
        pin_input.value = ""
        message.update(self.app.t("login.checking"))
        try:
            who = await self.app.db(login, pin)
        except Exception as exc:
            message.update(self.app.error_text(exc))
            self.app.bell()
            await self.app.audit("login_failed", None, purpose=self.purpose)
            return
        if not who.is_supervisor:
            message.update(self.app.t("sup.not_supervisor", name=who.name))
            await self.app.audit("supervisor_refused", who.id, purpose=self.purpose)
            return
        self.dismiss(who)

    def action_back(self) -> None:
        self.dismiss(None)
