"""The status bar: checkpoint, volunteer on duty, clock, and the sync state."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static


class StatusBar(Horizontal):
    """One line at the top of the duty screen. Each part is its own Static so a tick of the
    clock repaints eight cells, not the whole line."""

    def compose(self) -> ComposeResult:
        # The sync text is last and takes what is left: on a narrow screen it is the part cut.
        yield Static("", id="status-checkpoint", markup=False)
        yield Static("", id="status-volunteer", markup=False)
        yield Static("", id="status-direction", markup=False)
        yield Static("", id="status-clock", markup=False)
        yield Static("", id="status-sync", markup=False)

    def on_mount(self) -> None:
        self.tick()

    def tick(self) -> None:
        self.query_one("#status-clock", Static).update(time.strftime("%H:%M:%S"))

    def set_checkpoint(self, text: str) -> None:
        self.query_one("#status-checkpoint", Static).update(text)

    def set_volunteer(self, text: str) -> None:
        self.query_one("#status-volunteer", Static).update(text)

    def set_direction(self, text: str, direction: str) -> None:
        part = self.query_one("#status-direction", Static)
        part.update(text)
        part.set_class(direction == "out", "out")

    def set_sync(self, text: str, level: str = "ok") -> None:
        part = self.query_one("#status-sync", Static)
        part.update(text)
        for name in ("ok", "warn", "error"):
            part.set_class(level == name, f"sync-{name}")
