"""The recent log on the duty screen: fevers waiting for a recheck first, then the newest
passages. Kept as plain lines so the screen reads the same in a test and at the gate."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

MAX_LINES = 50


class PassageLog(Static):
    def on_mount(self) -> None:
        self.entries: list[tuple[str, str]] = []  # (style, text), newest first
        self.pinned: list[str] = []  # fever countdowns, always on top
        self._paint()

    def add(self, line: str, style: str = "") -> None:
        self.entries.insert(0, (style, line))
        del self.entries[MAX_LINES:]
        self._paint()

    def set_pinned(self, lines: list[str]) -> None:
        if lines != self.pinned:
            self.pinned = list(lines)
            self._paint()

    def _paint(self) -> None:
        body = Text(no_wrap=True, overflow="ellipsis")
        first = True
        for line in self.pinned:
            body.append(("" if first else "\n") + line, style="bold red")
            first = False
        for style, line in self.entries:
            body.append(("" if first else "\n") + line, style=style)
            first = False
        self.update(body)

    def plain_lines(self) -> list[str]:
        return self.pinned + [line for _, line in self.entries]
