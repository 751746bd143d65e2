"""Help: every key of the duty desk and what it does (the keys as bound now, remapped or not)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical

from tui.screens.base import DeskModal
from tui.widgets.plain import Plain


class HelpScreen(DeskModal[None]):
    """`keys`: (key as shown, meaning) of every key of the screen it explains, read from that
    screen's bindings (see `tui.widgets.key_bar.bound_keys`): a help screen is modal, its own
    bindings are not the desk's."""

    BINDINGS = [
        Binding("escape", "close", "back", show=False, id="back"),
        Binding("f1", "close", "close", show=False, id="help_close"),
    ]

    def __init__(self, keys: list[tuple[str, str]]):
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        app = self.app
        lines = [f"{key:>7}  {meaning}" for key, meaning in self.keys]
        with Vertical(classes="dialog", id="help-dialog"):
            yield Plain(app.t("help.title"), classes="dialog-title")
            yield Plain("\n".join(lines), id="help-keys")
            yield Plain(app.t("help.scan"))
            yield Plain(app.t("help.temp"))
            yield Plain(app.t("help.esc"))
            yield Plain(app.t("help.close"), classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)
