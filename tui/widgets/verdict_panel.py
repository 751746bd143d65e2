"""The verdict panel: 通行 / 禁止 / 请核查 / 发热, large, coloured, and always in words.

Colour is never the only signal: each state has its word and an ASCII symbol ([OK], [X],
[?], [!]) so a colour-blind volunteer in the sun reads it as well as anyone.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

STATES = ("idle", "allow", "deny", "refer", "fever", "info")


class VerdictPanel(Static):
    def show(self, state: str, headline: str, lines: list[str] | None = None, status: str = "") -> None:
        """`headline` is the big word; `lines` the reason and the holder; `status` the last
        line (what the volunteer should do now, or "saved")."""
        for name in STATES:
            self.set_class(state == name, f"verdict-{name}")
        body = Text()
        body.append(headline, style="bold")
        for line in lines or []:
            body.append("\n" + line)
        if status:
            body.append("\n" + status, style="bold")
        self.update(body)
        self.headline = headline
        self.state = state
        self.status_line = status
        self.lines = list(lines or [])

    def set_status(self, status: str) -> None:
        self.show(self.state, self.headline, self.lines, status)

    def on_mount(self) -> None:
        if not hasattr(self, "state"):
            self.show("idle", "")
