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
from textual.reactive import var
from textual.widgets import Static

STATES = ("idle", "allow", "deny", "refer", "fever", "info")


class VerdictPanel(Vertical):
    """What the panel shows is three reactive values; a watcher repaints only the part whose
    value changed (a new verdict with the same headline repaints the body alone).

    They are `var`s: no layout and no repaint of the panel itself. Both parts have a fixed
    size in app.tcss, so a new text needs no new layout of the screen either (a layout
    repaints every widget: it was most of a scan's screen time)."""

    state = var("idle")  # one of STATES: the panel's colour (class verdict-<state>)
    headline = var("")  # the big word
    details: var[Text] = var(Text)  # the reason, the holder, and the status line in bold

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.lines: list[str] = []
        self.status_line = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="verdict-header", markup=False)
        yield Static("", id="verdict-body", markup=False)

    def on_mount(self) -> None:
        # show() may come before the panel's own children exist (the screen's first paint):
        # the watchers skipped the parts then, so paint them now.
        self.set_class(True, f"verdict-{self.state}")
        self.watch_headline(self.headline)
        self.watch_details(self.details)

    def show(self, state: str, headline: str, lines: list[str] | None = None, status: str = "") -> None:
        """`headline` is the big word; `lines` the reason and the holder; `status` the last
        line (what the volunteer should do now, or "saved"): always on screen, see `fit_details`."""
        self.lines = list(lines or [])
        self.status_line = status
        self.state = state
        self.headline = headline
        self.details = self.fit_details()

    def fit_details(self) -> Text:
        """The body's text, fitted to the body's cells: the status line is never pushed off the
        bottom (at 80x24 a reason that wraps left "已保存" unseen). The last lines give way first
        (the validity line, then the holder's), and a line cut short ends in "..." (three dots: an ellipsis is two cells wide on some CJK terminals)."""
        body = self._part("#verdict-body")
        width, height = (body.content_size.width, body.content_size.height) if body is not None else (0, 0)
        lines = self.lines
        if width > 0 and height > 0:
            console = self.app.console
            rows = lambda text: len(Text(text).wrap(console, width))  # noqa: E731
            budget = height - (min(height, rows(self.status_line)) if self.status_line else 0)
            fitted: list[str] = []
            for line in lines:
                need = rows(line)
                if need > budget:
                    if budget > 0:
                        cut = Text(line)
                        cut.truncate(budget * width - 1)
                        while cut.plain and rows(cut.plain + "...") > budget:
                            cut.right_crop(1)
                        fitted.append(cut.plain + "...")
                    break
                fitted.append(line)
                budget -= need
            lines = fitted
        details = Text()
        for i, line in enumerate(lines):
            details.append(("\n" if i else "") + line)
        if self.status_line:
            details.append(("\n" if lines else "") + self.status_line, style="bold")
        return details

    def on_resize(self) -> None:
        self.details = self.fit_details()

    def set_status(self, status: str) -> None:
        self.show(self.state, self.headline, self.lines, status)

    def watch_state(self, old: str, new: str) -> None:
        # One change of classes, so the panel's styles are worked out once, not once for the
        # class taken off and again for the one put on (each is a stylesheet pass over the
        # panel and its parts: a fifth of a scan's own CPU on the duty screen).
        self.set_classes((self.classes - {f"verdict-{old}"}) | {f"verdict-{new}"})

    def watch_headline(self, headline: str) -> None:
        part = self._part("#verdict-header")
        if part is not None:
            part.update(headline, layout=False)

    def watch_details(self, details: Text) -> None:
        part = self._part("#verdict-body")
        if part is not None:
            part.update(details, layout=False)

    def _part(self, selector: str) -> Static | None:
        try:
            return self.query_one(selector, Static)
        except NoMatches:
            return None

    @property
    def text(self) -> str:
        """Everything the panel says, as plain text (tests and the screen reader of a log)."""
        return "\n".join([self.headline, *self.lines, self.status_line]).strip()
