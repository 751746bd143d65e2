"""The scan line: an Input that a USB scanner can type into at full speed.

A scanner is a keyboard that types a whole token in a burst (5-15 ms a key) and ends it with
CR ("enter"), LF ("ctrl+j") or Tab. The stock Input submits through an app-level binding
that runs *after* the next keys were already inserted, so two scans back to back merge into
one. Here the terminator is handled in `_on_key`, in key order, inside the widget: the text
so far is taken out and posted as one `Scanned` message before the next key is looked at.

Printable keys are inserted NFKC-normalised (full-width digits from an active Chinese IME
become ASCII digits); no key of a scan ever bubbles up to a binding.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from textual import events
from textual.message import Message
from textual.widgets import Input

TERMINATORS = frozenset({"enter", "ctrl+j", "ctrl+m", "tab"})
MAX_SCAN_CHARS = 400  # longer than any pass token; a stuck key must not grow forever


class ScanInput(Input):
    """Input whose every terminator ends exactly one scan."""

    @dataclass
    class Scanned(Message):
        """One finished entry (a scan or something typed), with its terminator key."""

        scan_input: "ScanInput"
        text: str
        terminator: str

        @property
        def control(self) -> "ScanInput":
            return self.scan_input

    async def _on_key(self, event: events.Key) -> None:
        if event.key in TERMINATORS:
            # Stop it here: Tab must not move the focus, Enter must not reach a binding.
            event.stop()
            event.prevent_default()
            text = self.value
            self.value = ""
            self.post_message(self.Scanned(self, text, event.key))
            return
        if event.is_printable and event.character is not None:
            event.stop()
            event.prevent_default()
            if len(self.value) >= MAX_SCAN_CHARS:
                return
            char = unicodedata.normalize("NFKC", event.character)
            selection = self.selection
            if selection.is_empty:
                self.insert_text_at_cursor(char)
            else:
                self.replace(char, *selection)
            return
        await super()._on_key(event)

    def _on_paste(self, event: events.Paste) -> None:
        # A paste (or a terminal that delivers a scan as a bracketed paste) may hold several
        # lines: each line is one scan, the last one without a terminator stays typed.
        event.stop()
        text = unicodedata.normalize("NFKC", event.text.replace("\r\n", "\n").replace("\r", "\n"))
        parts = text.split("\n")
        for i, part in enumerate(parts):
            if i < len(parts) - 1:
                self.post_message(self.Scanned(self, self.value + part, "paste"))
                self.value = ""
            elif part:
                self.insert_text_at_cursor(part)
