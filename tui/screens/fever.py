"""The fever recheck (复测): the second reading decides.

Normal -> allowed after recheck (and the passage is saved); still a fever -> the volunteer
chooses: fever clinic (发热门诊) or sent home. The outcome is a record of its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from tui.screens.base import DeskModal
from tui.strings import words
from tui.widgets.key_order_input import KeyOrderInput
from tui.widgets.plain import Plain

if TYPE_CHECKING:
    from models.values import Temperature
    from tui.screens.duty import FeverWait


def _close_case(store, wait, outcome, reading, volunteer_id):
    from models.facts import close_fever_case, record_passage
    from models.verdict import ALLOW, Verdict

    fact = close_fever_case(store, wait.case_id, outcome, reading, volunteer_id)
    if outcome == "allowed" and wait.registration_id is None:
        # Let through after the recheck: the passage itself, with the second reading.
        verdict = wait.verdict if wait.verdict is not None else Verdict(ALLOW, ())
        record_passage(
            store, wait.direction, verdict, reading, volunteer_id, unit_code=wait.unit or None, outcome="allow"
        )
    return fact


@dataclass(frozen=True)
class FeverOutcome:
    """A recheck whose outcome is saved."""

    wait: FeverWait  # the case that was waiting
    outcome: str  # models.facts.FEVER_OUTCOMES key: allowed, clinic, home
    reading: str  # the second reading as shown


class FeverScreen(DeskModal[FeverOutcome | None]):
    """Dismisses with the FeverOutcome once the outcome is saved, else None (Escape)."""

    BINDINGS = [
        Binding("escape", "back", "back", show=False, id="back"),
        Binding("f6", "clinic", "clinic", show=False, id="fever_clinic"),
        Binding("f7", "home", "home", show=False, id="fever_home"),
    ]

    def __init__(self, wait: FeverWait, recheck_minutes: int):
        super().__init__()
        self.wait = wait
        self.recheck_minutes = recheck_minutes
        self.second: Temperature | None = None  # the second reading, once it says fever

    def compose(self) -> ComposeResult:
        app = self.app
        with Vertical(classes="dialog fever", id="fever-dialog"):
            yield Plain(app.t("fever.title"), classes="dialog-title")
            yield Plain(
                app.t(
                    "fever.case",
                    unit=self.wait.unit or "-",
                    temp=self.wait.first,
                    when=time.strftime("%H:%M", time.localtime(self.wait.started)),
                )
            )
            yield Plain("", id="fever-timer")
            yield Plain(app.t("fever.prompt"))
            yield KeyOrderInput(id="fever-reading", max_length=12)
            yield Plain("", id="fever-message", classes="field-error")

    def on_mount(self) -> None:
        self.query_one("#fever-reading", Input).focus()
        self._tick()
        self.set_interval(1, self._tick)

    def _tick(self) -> None:
        left = self.wait.started + self.recheck_minutes * 60 - time.time()
        text = (
            self.app.t("fever.due")
            if left <= 0
            else self.app.t("fever.wait", mmss=f"{int(left) // 60:02d}:{int(left) % 60:02d}")
        )
        self.query_one("#fever-timer", Static).update(text)

    @on(Input.Submitted, "#fever-reading")
    async def reading(self, event: Input.Submitted) -> None:
        from models.values import ValueRejected, parse_temperature

        app = self.app
        message = self.query_one("#fever-message", Static)
        try:
            reading = parse_temperature(event.value)
        except ValueRejected as exc:
            message.update(words(app.lang, exc))
            app.bell()
            return
        if reading.needs_remeasure:
            message.update(
                app.t("duty.remeasure_lo" if reading.reading == "LO" else "duty.remeasure", temp=reading.display())
            )
            return
        if reading.is_fever((await app.current_policy()).fever_threshold):
            self.second = reading
            message.update(app.t("fever.still", temp=reading.display()))
            app.bell()
            return
        self.second = None
        await self._decide("allowed", reading)

    async def action_clinic(self) -> None:
        if self.second is not None:
            await self._decide("clinic", self.second)

    async def action_home(self) -> None:
        if self.second is not None:
            await self._decide("home", self.second)

    async def _decide(self, outcome: str, reading: Temperature) -> None:
        app = self.app
        volunteer_id = app.volunteer.id if app.volunteer else None
        try:
            await app.db(_close_case, self.wait, outcome, reading, volunteer_id)
        except Exception as exc:
            self.query_one("#fever-message", Static).update(app.t("duty.not_saved", error=app.error_text(exc)))
            app.bell()
            return
        self.dismiss(FeverOutcome(self.wait, outcome, reading.display()))

    def action_back(self) -> None:
        self.dismiss(None)
