"""What shows while the database thread opens the store (the first frame, before SQLModel)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from tui.screens.base import DeskScreen
from tui.widgets.plain import Plain


class LoadingScreen(DeskScreen[None]):
    def compose(self) -> ComposeResult:
        yield Plain(self.app.t("app.opening"), id="loading-message")

    def failed(self, text: str) -> None:
        message = self.query_one("#loading-message", Static)
        message.update(text)
        message.add_class("error")
        self.app.bell()
