"""The scan line: an Input that a USB scanner can type into at full speed.

A scanner is a keyboard that types a whole token in a burst (5-15 ms a key) and ends it with
CR ("enter"), LF ("ctrl+j") or Tab. The stock Input submits through an app-level binding
that runs *after* the next keys were already inserted, so two scans back to back merge into
one. Here the terminator is handled in `_on_key`, in key order, inside the widget: the text
so far is taken out and posted as one `Scanned` message before the next key is looked at.

Printable keys are inserted NFKC-normalised (full-width digits from an active Chinese IME
become ASCII digits); no key of a scan ever bubbles up to a binding.

Speed: setting `Input.value` costs a fresh cursor, a scroll, a re-layout and a `Changed`
message, which for a 280-digit token was most of the time from scan to verdict. So printable
keys go into `_typed` first and reach `value` SHOW_AFTER seconds after the first of them (the
terminal driver hands keys over one by one, so there is no "end of the batch" to wait for):
a burst becomes a few updates, a key typed by hand shows within a frame. Anything
that reads or moves the text (a terminator, another key, a paste, a click, losing the focus)
puts the typed keys in first, so nothing changes order.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from rich.cells import cell_len
from textual import events
from textual.geometry import Region
from textual.message import Message
from textual.widgets import Input

TERMINATORS = frozenset({"enter", "ctrl+j", "ctrl+m", "tab"})
MAX_SCAN_CHARS = 400  # longer than any pass token; a stuck key must not grow forever
SHOW_AFTER = 1 / 50  # seconds from a typed key to its showing: about one frame, too short to see


class ScanInput(Input):
    """Input whose every terminator ends exactly one scan."""

    # Horizontal scrolling always on (its scroll bar has no size, as in Input): see `refresh`.
    DEFAULT_CSS = """
    ScanInput {
        overflow-x: scroll;
    }
    """

    _value_changing = False  # inside Input's value watcher (see `refresh`)

    @dataclass
    class Scanned(Message):
        """One finished entry (a scan or something typed), with its terminator key."""

        scan_input: ScanInput
        text: str
        terminator: str

        @property
        def control(self) -> ScanInput:
            return self.scan_input

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._typed: list[str] = []  # printable keys not yet in `value`, in key order
        self._typed_len = 0
        self._put_in_scheduled = False

    def _watch_value(self, value: str) -> None:
        # Input sets its virtual size (a "layout" reactive) on every change, which lays out
        # and repaints the whole screen, once a frame during a burst. This line's size is
        # fixed in app.tcss (height 3, full width) and never depends on its text, so that
        # refresh is a repaint of the line alone. Only a layout turns horizontal scrolling
        # on or off, which is why it is always on here (with overflow "auto" a long scan
        # would need a layout to start scrolling, and another one when the line is emptied).
        self._value_changing = True
        try:
            super()._watch_value(value)
        finally:
            self._value_changing = False

    def refresh(self, *regions, repaint: bool = True, layout: bool = False, recompose: bool = False):
        if layout and self._value_changing:
            overflow = self.styles.overflow_x
            scrolls = overflow == "scroll" or (
                overflow == "auto" and self.virtual_size.width > self.container_size.width
            )
            if self.container_size.width and scrolls == self.show_horizontal_scrollbar:
                layout = False
            else:
                # Input scrolls to the cursor when the cursor moves, which was before this
                # layout allowed scrolling: do it again once the layout is done.
                self.call_after_refresh(self._show_cursor)
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def _show_cursor(self) -> None:
        x = cell_len(self.value[: self.cursor_position]) + (1 if self.cursor_at_end else 0)
        self.scroll_to_region(Region(x, 0, 1, 1), force=True, animate=False)

    @property
    def pending_text(self) -> str:
        """Keys typed but not yet in `value` (for at most SHOW_AFTER seconds)."""
        return "".join(self._typed)

    def put_in_typed(self) -> None:
        """Insert the typed keys at the cursor (replacing a selection), as one edit."""
        self._put_in_scheduled = False
        if not self._typed:
            return
        text = "".join(self._typed)
        self._typed.clear()
        self._typed_len = 0
        selection = self.selection
        if selection.is_empty:
            self.insert_text_at_cursor(text)
        else:
            self.replace(text, *selection)
        # Input does not scroll on the very first change of its value: a long first burst
        # would leave its end out of view.
        self._show_cursor()

    async def _on_key(self, event: events.Key) -> None:
        if event.key in TERMINATORS:
            # Stop it here: Tab must not move the focus, Enter must not reach a binding.
            event.stop()
            event.prevent_default()
            self.put_in_typed()
            text = self.value
            self.value = ""
            self.post_message(self.Scanned(self, text, event.key))
            return
        if event.is_printable and event.character is not None:
            event.stop()
            event.prevent_default()
            char = unicodedata.normalize("NFKC", event.character)
            if len(self.value) + self._typed_len + len(char) > MAX_SCAN_CHARS:
                return
            self._typed.append(char)
            self._typed_len += len(char)
            if not self._put_in_scheduled:
                self._put_in_scheduled = True
                self.set_timer(SHOW_AFTER, self.put_in_typed)
            return
        if event.key == "backspace":
            # Handled here, in key order: as Input's binding it would run only after the key
            # went round the app, so "3655, Backspace, Enter" from a fast keypad saved 3655.
            event.stop()
            event.prevent_default()
            if self._typed:
                self._typed_len -= len(self._typed.pop())
            else:
                self.action_delete_left()
            return
        # Arrows, home...: they act on what was typed before them. (Textual calls Input's own
        # handlers after these ones, unless prevented, so no super() calls here.)
        self.put_in_typed()

    def _on_paste(self, event: events.Paste) -> None:
        # A paste (or a terminal that delivers a scan as a bracketed paste) may hold several
        # lines: each line is one scan, the last one without a terminator stays typed.
        # prevent_default: Input's own paste handler would insert the text a second time.
        event.stop()
        event.prevent_default()
        self.put_in_typed()
        text = unicodedata.normalize("NFKC", event.text.replace("\r\n", "\n").replace("\r", "\n"))
        parts = text.split("\n")
        for i, part in enumerate(parts):
            if i < len(parts) - 1:
                self.post_message(self.Scanned(self, self.value + part, "paste"))
                self.value = ""
            elif part:
                self.insert_text_at_cursor(part)
                self._show_cursor()

    def _on_mouse_down(self, event: events.MouseDown) -> None:
        self.put_in_typed()  # before the click moves the cursor

    def _on_blur(self, event: events.Blur) -> None:
        self.put_in_typed()
