"""Visitors inside (在内访客): who is inside and not of a household here, and their sign-out.

A short list (number, kind, unit, masked name, since when). The volunteer types the number and
Enter, or moves the mark with the arrows and presses Enter: that person's exit is recorded
(models/inside.py sign_out: an outbox record, synced). Nothing is triggered by a stray scan: a
scanned code is not a number on the list (refused in words and left on the line, so the scanner's
second line end does not pick anyone), and Enter on an empty line picks only a mark the arrows
set.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Input, Static

from tui.screens.base import DeskModal
from tui.widgets.key_order_input import KeyOrderInput
from tui.widgets.plain import Plain

if TYPE_CHECKING:
    from models.inside import Inside


def _sign_out(store, key: str, volunteer_id: int | None):
    from models.inside import sign_out

    return sign_out(store, key, volunteer_id)


def _inside(store):
    from models.inside import visitors_inside

    return visitors_inside(store)


class InsideScreen(DeskModal["Inside | None"]):
    """Dismisses with the person signed out (their exit saved), or None (Escape: nothing saved)."""

    BINDINGS = [
        Binding("escape", "back", "back", show=False, id="back"),
        Binding("up", "move(-1)", "up", show=False, id="inside_up"),
        Binding("down", "move(1)", "down", show=False, id="inside_down"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.people: list[Inside] = []
        self.mark: int | None = None  # set by the arrows only

    def compose(self) -> ComposeResult:
        app = self.app
        with Vertical(classes="dialog", id="inside-dialog"):
            yield Plain(app.t("inside.title"), classes="dialog-title")
            yield Plain(app.t("inside.hint"), classes="dialog-hint")
            with VerticalScroll(id="inside-list"):
                yield Static(app.t("duty.searching"), id="inside-rows")
            yield KeyOrderInput(id="inside-pick", max_length=40)
            yield Plain("", id="inside-message", classes="field-error")

    async def on_mount(self) -> None:
        self.query_one("#inside-pick", Input).focus()
        await self.reload()

    async def reload(self) -> None:
        app = self.app
        try:
            self.people = await app.db(_inside)
        except Exception as exc:
            self._say(app.t("duty.not_saved", error=app.error_text(exc)))
            return
        self.mark = None
        self._paint()

    def row_text(self, n: int, person: Inside) -> str:
        app = self.app
        return app.t(
            "inside.row",
            n=n,
            kind=person.kind_label(app.lang),
            unit=person.unit or "-",
            name=person.name_masked or "-",
            since=time.strftime("%m-%d %H:%M", time.localtime(person.since)),
        )

    def _paint(self) -> None:
        app = self.app
        rows = self.query_one("#inside-rows", Static)
        if not self.people:
            rows.update(app.t("inside.none"))
            return
        lines = []
        for i, person in enumerate(self.people):
            mark = "▶" if i == self.mark else " "
            lines.append(f"{mark} {self.row_text(i + 1, person)}")
        rows.update("\n".join(lines))

    def _say(self, text: str) -> None:
        self.query_one("#inside-message", Static).update(text)

    def action_move(self, step: int) -> None:
        if not self.people:
            return
        self.mark = (step - 1 if step > 0 else len(self.people) + step) if self.mark is None else self.mark + step
        self.mark = max(0, min(len(self.people) - 1, self.mark))
        self._paint()
        self._say("")

    @on(Input.Submitted, "#inside-pick")
    async def picked(self, event: Input.Submitted) -> None:
        app = self.app
        text = event.value.strip()
        if not self.people:
            self._say(app.t("inside.none"))
            return
        if not text:
            if self.mark is None:
                self._say(app.t("inside.pick", last=len(self.people)))
                return
            index = self.mark
        elif text.isascii() and text.isdigit() and 1 <= int(text) <= len(self.people):
            index = int(text) - 1
        else:
            # A scan, a typo, a number off the list: say so and leave it on the line (a scanner's
            # CR LF must not turn into an empty Enter that picks the marked person).
            app.bell()
            self._say(app.t("inside.not_on_list", last=len(self.people)))
            return
        person = self.people[index]
        volunteer_id = app.volunteer.id if app.volunteer else None
        try:
            await app.db(_sign_out, person.key, volunteer_id)
        except Exception as exc:
            app.bell()
            self._say(app.t("duty.not_saved", error=app.error_text(exc)))
            self.query_one("#inside-pick", Input).value = ""
            await self.reload()
            return
        self.dismiss(person)

    def action_back(self) -> None:
        self.dismiss(None)
