"""The key hint line at the bottom: the function keys of the current screen and what they do.

The keys are read from the screen's bindings as Textual resolves them (`Screen.active_bindings`,
with the app's keymap applied), so a site that remapped a binding in its settings sees its own
keys here and in the help screen. How a key is written is `App.get_key_display` (the desk says
"F1", "Ctrl+Q", "Escape": what is printed on the keyboard).
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import Static


def bound_keys(screen: Screen[Any]) -> dict[str, str]:
    """Binding id -> its key as shown, for every binding the screen answers to now (its own, its
    focused widget's and the app's). A binding remapped to several keys shows the first."""
    app = screen.app
    shown: dict[str, str] = {}
    for active in screen.active_bindings.values():
        binding = active.binding
        if binding.id is not None and binding.id not in shown:
            shown[binding.id] = app.get_key_display(binding)
    return shown


def key_label(key: str) -> str:
    """A Textual key name as the keyboard prints it: f1 -> F1, ctrl+q -> Ctrl+Q, escape -> Escape."""
    return key.upper() if key.startswith("f") and key[1:].isdigit() else key.replace("ctrl+", "Ctrl+").title()


class KeyBar(Static):
    def set_keys(self, items: list[tuple[str, str]]) -> None:
        """items: (key as shown, meaning)."""
        self.update("  ".join(f"{k} {meaning}" for k, meaning in items))
