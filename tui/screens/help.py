"""Help: every key of the duty desk and what it does (read from the live keymap)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen

from tui.widgets.key_bar import key_for, key_label
from tui.widgets.plain import Plain


class HelpScreen(ModalScreen):
    BINDINGS = [
        Binding("escape", "close", "back", show=False, id="back"),
        Binding("f1", "close", "close", show=False),
    ]

    def compose(self) -> ComposeResult:
        from tui.screens.duty import DESK_KEYS

        app = self.app
        lines = []
        for binding_id, default, _action, meaning in DESK_KEYS:
            lines.append(f"{key_label(key_for(app, binding_id, default)):>7}  {app.t(meaning)}")
        lines.append(f"{key_label(key_for(app, 'quit', 'ctrl+q')):>7}  {app.t('key.quit')}")
        with Vertical(classes="dialog", id="help-dialog"):
            yield Plain(app.t("help.title"), classes="dialog-title")
            yield Plain("\n".join(lines), id="help-keys")
            yield Plain(app.t("help.scan"))
            yield Plain(app.t("help.temp"))
            yield Plain(app.t("help.esc"))
            yield Plain(app.t("help.close"), classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)
