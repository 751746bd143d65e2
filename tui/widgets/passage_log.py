"""The recent log on the duty screen: fevers waiting for a recheck first, then the newest
passages. Kept as plain lines so the screen reads the same in a test and at the gate.

A gate sees thousands of passages a day and the desk runs for weeks: the log keeps only the
newest MAX_LINES rows (all of them stay in the store), paints only the rows that
fit, and a new row never needs a new layout of the screen (its height comes from app.tcss),
so row 10,000 costs what row 1 did.
"""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.reactive import var
from textual.widgets import Static

MAX_LINES = 50  # more than any screen shows


class PassageLog(Static):
    # Fever countdowns, always on top. Set every second by the duty screen's tick: the log is
    # repainted only when a countdown's words changed (a `var`: no layout, no repaint by itself).
    pinned: var[list[str]] = var(list, init=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.entries: deque[tuple[str, str]] = deque(maxlen=MAX_LINES)  # (style, text), newest first

    def on_mount(self) -> None:
        self._paint()

    def on_resize(self) -> None:
        self._paint()  # a taller log shows more rows

    def add(self, line: str, style: str = "") -> None:
        self.entries.appendleft((style, line))
        self._paint()

    def set_pinned(self, lines: list[str]) -> None:
        self.pinned = list(lines)

    def watch_pinned(self) -> None:
        self._paint()

    def visible_lines(self) -> list[tuple[str, str]]:
        """(style, text) of the rows painted now, top first."""
        rows = self.size.height or MAX_LINES  # before the first layout: as many as kept
        pinned = [("bold red", line) for line in self.pinned]
        return (pinned + list(self.entries))[:rows]

    def _paint(self) -> None:
        body = Text(no_wrap=True, overflow="ellipsis")
        for i, (style, line) in enumerate(self.visible_lines()):
            body.append(("\n" if i else "") + line, style=style)
        self.update(body, layout=False)
