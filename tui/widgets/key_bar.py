"""The key hint line at the bottom: the function keys of the current screen and what they do.

It reads the keys from the app's keymap, so a site that remapped a binding in its settings
sees its own keys here and in the help screen.
"""

from __future__ import annotations

from textual.widgets import Static


def key_for(app, binding_id: str, default: str) -> str:
    keymap = getattr(app, "_keymap", {}) or {}
    return keymap.get(binding_id, default).split(",")[0].strip()


def key_label(key: str) -> str:
    return key.upper() if key.startswith("f") and key[1:].isdigit() else key.replace("ctrl+", "Ctrl+").title()


class KeyBar(Static):
    def set_keys(self, items: list[tuple[str, str]]) -> None:
        """items: (key label, meaning)."""
        self.update("  ".join(f"{k} {meaning}" for k, meaning in items))
