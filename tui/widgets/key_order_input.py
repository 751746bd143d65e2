"""An `Input` whose Backspace takes effect in the order the keys came.

Textual's Input deletes on its "backspace" binding, and a binding runs only once the key has
travelled up to the app, after the keys typed behind it have already been inserted: a fast
keypad's `3 8 6 ⌫ 5` came out as 38.6 instead of 38.5. Here Backspace is applied when the key
arrives, like every other key (the scan line does the same, tui/widgets/scan_input.py).
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class KeyOrderInput(Input):
    def on_key(self, event: events.Key) -> None:
        if event.key == "backspace":
            event.stop()
            event.prevent_default()
            self.action_delete_left()
