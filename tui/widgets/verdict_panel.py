"""The verdict panel: 通行 / 禁止 / 请核查 / 发热, large, coloured, and always in words.

The headline is a block three rows tall across the whole panel with a strong background
(green, red, amber), so it reads from two steps away in the sun; the reason, the holder and
what to do now follow underneath. Colour is never the only signal: each state has its word
(in Chinese also the English word) and an ASCII symbol ([OK], [X], [?], [!]) so a
colour-blind volunteer reads it as well as anyone.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.widgets import Static

STATES = ("idle", "allow", "deny", "refer", "fever", "info")


class VerdictPanel(Vertical):
    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.state = "idle"
        self.headline = ""
        self.lines: list[str] = []
        self.status_line = ""
        self._painted: tuple[str, Text | None] = ("", None)  # what the two parts show now

    def compose(self) -> ComposeResult:
        yield Static("", id="verdict-header", markup=False)
        yield Static("", id="verdict-body", markup=False)

    def on_mount(self) -> None:
        self._paint()

    def show(self, state: str, headline: str, lines: list[str] | None = None, status: str = "") -> None:
        """`headline` is the big word; `lines` the reason and the holder; `status` the last
        line (what the volunteer should do now, or "saved")."""
        self.state = state
        self.headline = headline
        self.lines = list(lines or [])
        self.status_line = status
        self._paint()

    def set_status(self, status: str) -> None:
        self.show(self.state, self.headline, self.lines, status)

    def _paint(self) -> None:
        # show() may come before the panel's own children exist (the screen's first paint);
        # on_mount paints again then.
        try:
            header = self.query_one("#verdict-header", Static)
            body_widget = self.query_one("#verdict-body", Static)
        except NoMatches:
            return
        for name in STATES:
            self.set_class(self.state == name, f"verdict-{name}")
        body = Text()
        for i, line in enumerate(self.lines):
            body.append(("\n" if i else "") + line)
        if self.status_line:
            body.append(("\n" if self.lines else "") + self.status_line, style="bold")
        # Both parts have a fixed size in app.tcss, so a new text needs no new layout of the
        # screen (a layout repaints every widget: it was most of a scan's screen time). A
        # part whose text did not change is not repainted at all.
        if self.headline != self._painted[0]:
            header.update(self.headline, layout=False)
        if body != self._painted[1]:
            body_widget.update(body, layout=False)
        self._painted = (self.headline, body)

    @property
    def text(self) -> str:
        """Everything the panel says, as plain text (tests and the screen reader of a log)."""
        return "\n".join([self.headline, *self.lines, self.status_line]).strip()
