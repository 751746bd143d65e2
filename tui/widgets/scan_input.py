"""The scan line: one line of text that a USB scanner can type into at full speed.

A scanner is a keyboard that types a whole token in a burst (5-15 ms a key) and ends it with
CR ("enter"), LF ("ctrl+j") or Tab. Every key is applied here, in `on_key`, in the order it
came: a terminator takes the text so far out and posts it as one `Scanned` message before the
next key is looked at, so two scans back to back never merge, and a Backspace right before an
Enter is applied before that Enter (3655, Backspace, Enter from a fast keypad saves 365). No
key of a scan goes round the app to a binding: printable keys, terminators and the editing
keys are stopped here. Printable keys that came from the terminal together (a scanner's burst)
arrive as one `KeyBurst` (tui/driver.py, handed on by DutyApp.on_key_burst) and are taken in one
go, exactly as `on_key` takes each of them.

This is a plain `Widget` on Textual's public API (render, on_key, on_paste, refresh), not a
subclass of `Input`: the line needs none of Input's selection, suggestions or validation, and
Input's speed-ups had to override its private methods. Speed comes from doing little per key:
a key edits a string and marks the line for repainting; Textual paints dirty widgets at most
once a frame, so a 280-key burst is a few paints, and the line's size never depends on its
text (fixed in CSS), so no key ever lays the screen out.

Inside a burst, a key that is neither text nor a terminator nor Backspace (a scanner set up to
send control characters turns `ESC [ 2 0 ~` in a QR code into "f9") is dropped: it must not
press a function key, end the shift or cancel the person in front. "Inside a burst" means the
previous key came less than BURST_GAP ago, faster than any hand (arrow keys and F-keys typed by
hand work as usual). A code can also START with such a sequence, before any text: so a key that
would press a binding on an empty line is held for HOLD_S first, and dropped if any other key
follows within that time (the rest of a scan); alone, it goes on to the bindings, HOLD_S late.
Ctrl+Q too (the app's quit binding is not a priority binding, so it comes here first).

Printable keys are inserted NFKC-normalised (full-width digits from an active Chinese IME
become ASCII digits).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.geometry import Offset
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from tui.driver import KeyBurst

TERMINATORS = frozenset({"enter", "ctrl+j", "ctrl+m", "tab"})
MAX_SCAN_CHARS = 400  # longer than any pass token; a stuck key must not grow forever
# A scanner types 5-15 ms a key; an escape sequence is up to 5 keys (ESC [ 2 0 ~), so its
# function key arrives up to ~75 ms after the key before it. A hand needs well over 150 ms
# to go from a digit to a function key.
BURST_GAP = 0.15
# Keys that move in or edit the text (applied in key order, never passed on to a binding).
_EDITING = frozenset({"backspace", "delete", "left", "right", "home", "end"})


class ScanInput(Widget, can_focus=True):
    """One line of text whose every terminator ends exactly one scan."""

    DEFAULT_CSS = """
    ScanInput {
        background: $surface;
        color: $foreground;
        padding: 0 2;
        border: tall $border-blurred;
        width: 100%;
        height: 3;
        text-wrap: nowrap;
        text-overflow: clip;
        pointer: text;

        &:focus {
            border: tall $border;
            background-tint: $foreground 5%;
        }
        & > .scan-input--cursor {
            background: $input-cursor-background;
            color: $input-cursor-foreground;
            text-style: $input-cursor-text-style;
        }
        & > .scan-input--placeholder {
            color: $text-disabled;
        }
        &:ansi {
            background: ansi_default;
            color: ansi_default;
            & > .scan-input--cursor {
                background: ansi_white;
                color: ansi_black;
            }
            & > .scan-input--placeholder {
                text-style: dim;
                color: ansi_default;
            }
        }
    }
    """
    COMPONENT_CLASSES = {"scan-input--cursor", "scan-input--placeholder"}

    # A scanner's next key comes 5-15 ms after the last key of an escape sequence (slow ones are
    # set to 30-50 ms); a hand goes from a function key to another key in 150 ms or more. 80 ms
    # tells the two apart and is not felt as a delay.
    HOLD_S: ClassVar[float] = 0.08
    """How long a key that would press a binding waits on an empty line (0: not at all)."""

    placeholder: reactive[str] = reactive("", init=False)
    """Shown, dimmed, while the line is empty."""

    @dataclass
    class Scanned(Message):
        """One finished entry (a scan or something typed), with its terminator key."""

        scan_input: ScanInput
        text: str
        terminator: str

        @property
        def control(self) -> ScanInput:
            return self.scan_input

    def __init__(
        self,
        value: str = "",
        *,
        placeholder: str = "",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.set_reactive(ScanInput.placeholder, placeholder)
        # Plain attributes, not reactives: a reactive costs more per key than all the rest of
        # the line's work, and the only thing a change needs is one repaint (see `_put`).
        self._value = value[:MAX_SCAN_CHARS]
        self._cursor = len(self._value)
        self._repaint_asked = False  # refresh() called and render() not run since
        self._scroll = 0  # cells of the text left of the view (long text scrolls sideways)
        self._burst_at = -1.0  # time of the last key of a burst (a scan coming in)
        self._held: events.Key | None = None  # a binding's key on an empty line, waiting (HOLD_S)
        self._replaying: str | None = None  # the held key, sent on to the bindings
        self._answer_keys = ""  # keys that are a whole entry on an empty line (expect_answer)
        self._answer_held = ""  # an answer key on an empty line, waiting HOLD_S for a scan behind it

    # -- the text ------------------------------------------------------------------------------
    @property
    def value(self) -> str:
        """The text on the line."""
        return self._value

    @value.setter
    def value(self, value: str) -> None:
        self._put(value, len(value))

    @property
    def cursor_position(self) -> int:
        """Where the next key goes: an index into `value`."""
        return self._cursor

    @cursor_position.setter
    def cursor_position(self, position: int) -> None:
        self._put(self._value, position)

    def _put(self, value: str, cursor: int) -> None:
        self._value = value
        self._cursor = max(0, min(cursor, len(value)))
        if not self._repaint_asked:
            # One repaint for any number of keys before it: Textual paints once a frame.
            self._repaint_asked = True
            self.refresh()

    def insert(self, text: str) -> None:
        """Insert text at the cursor, up to MAX_SCAN_CHARS on the line."""
        value = self._value
        text = text[: max(0, MAX_SCAN_CHARS - len(value))]
        if text:
            cursor = self._cursor
            self._put(value[:cursor] + text + value[cursor:], cursor + len(text))

    def _take(self) -> str:
        """The text on the line, which is left empty."""
        text = self.value
        self._put("", 0)
        self._burst_at = -1.0
        return text

    def _edit(self, key: str) -> None:
        value, cursor = self._value, self._cursor
        if key == "backspace":
            if cursor:
                self._put(value[: cursor - 1] + value[cursor:], cursor - 1)
        elif key == "delete":
            self._put(value[:cursor] + value[cursor + 1 :], cursor)
        elif key == "left":
            self.cursor_position = cursor - 1
        elif key == "right":
            self.cursor_position = cursor + 1
        elif key == "home":
            self.cursor_position = 0
        elif key == "end":
            self.cursor_position = len(value)

    def expect_answer(self, keys: str = "") -> None:
        """While `keys` is set, one of them typed on an empty line is a whole entry at once (a
        check's answer: `1` green, `2` yellow, ...), posted as `Scanned` with the terminator
        "key", no Enter needed. Any other key is text as usual. "" ends it. A key typed ahead,
        before the question came (`365` Enter `1` in one go), is taken as the answer too."""
        self._answer_keys = keys
        if not keys:
            self._unhold_answer()
        if keys and len(self._value) == 1 and self._value in keys:
            self.post_message(self.Scanned(self, self._take(), "key"))

    @property
    def holding(self) -> bool:
        """A key is held back for HOLD_S (a binding's key or an answer key on an empty line)."""
        return self._held is not None or bool(self._answer_held)

    def _hold_answer(self, character: str) -> None:
        """An answer key on an empty line waits HOLD_S: a pass scanned while a check waits
        (a code whose first digit is `1`) must be the scan it is, not the answer `1` and a
        code cut by a digit. Alone, the key is the answer, HOLD_S late (unnoticed by hand)."""
        self._answer_held = character

        def release() -> None:
            if self._answer_held == character and not self._value:
                self._answer_held = ""
                self.post_message(self.Scanned(self, character, "key"))

        self.set_timer(self.HOLD_S, release)

    def _unhold_answer(self) -> None:
        """A key came right after a held answer key: that key began text (a scan). Put it back."""
        if self._answer_held:
            held, self._answer_held = self._answer_held, ""
            self.insert(held)

    # -- keys ----------------------------------------------------------------------------------
    def check_consume_key(self, key: str, character: str | None) -> bool:
        # Printable keys are text here (the key bar and bindings must not count on them).
        return character is not None and character.isprintable()

    def _hold(self, event: events.Key) -> None:
        self._held = event
        self.set_timer(self.HOLD_S, lambda: self._release(event))

    def _release(self, event: events.Key) -> None:
        """Nothing came after the held key: it was pressed by hand. Send it on, once."""
        if self._held is not event:
            return  # dropped meanwhile (another key followed: it was part of a scan)
        self._held = None
        self._replaying = event.key
        self.app.post_message(events.Key(event.key, event.character))

    def on_key(self, event: events.Key) -> None:
        key = event.key
        if self._replaying is not None and key == self._replaying:
            self._replaying = None
            return  # a held key, released: on to the screen's and the app's bindings
        self._unhold_answer()
        if self._held is not None:
            # A key right after the held one: that one began a scan (an escape sequence at the
            # start of a code). Drop it, and treat what follows as the burst it is.
            self._held = None
            self._burst_at = event.time
        if key in TERMINATORS:
            # Stopped here: Tab must not move the focus, Enter must not reach a binding.
            event.stop()
            event.prevent_default()
            self.post_message(self.Scanned(self, self._take(), key))
            return
        if event.is_printable and event.character is not None:
            event.stop()
            event.prevent_default()
            character = unicodedata.normalize("NFKC", event.character)
            if self._answer_keys and not self._value and character in self._answer_keys:
                if self.HOLD_S > 0:
                    self._hold_answer(character)  # a scan may follow: wait for it (expect_answer)
                else:
                    self.post_message(self.Scanned(self, character, "key"))
                return
            self.insert(character)
            self._burst_at = event.time
            return
        if key == "backspace":
            # In key order, even inside a burst (a fast keypad's correction).
            event.stop()
            event.prevent_default()
            self._edit(key)
            return
        if event.time - self._burst_at < BURST_GAP:
            # Part of a scan that is still coming in (an escape sequence in the code): drop it.
            event.stop()
            event.prevent_default()
            self._burst_at = event.time
            return
        if key in _EDITING:
            event.stop()
            event.prevent_default()
            self._edit(key)
            return
        if not self.value and self.HOLD_S > 0:
            # Maybe the start of a scan: wait HOLD_S for what follows (see the module's words).
            event.stop()
            event.prevent_default()
            self._hold(event)
        # Anything else (F-keys, Escape, ...) goes on to the screen's bindings.

    def on_key_burst(self, burst: KeyBurst) -> None:
        """Printable keys that came together (tui/driver.py): what `on_key` does with each, in one go."""
        burst.stop()
        self._held = None  # a held key followed by more keys began a scan: dropped
        self._unhold_answer()
        self.insert("".join(unicodedata.normalize("NFKC", key.character or "") for key in burst.keys))
        self._burst_at = burst.keys[-1].time

    def on_paste(self, event: events.Paste) -> None:
        # A paste (or a terminal that delivers a scan as a bracketed paste) may hold several
        # lines: each line is one scan, the last one without a terminator stays on the line.
        event.stop()
        event.prevent_default()
        self._unhold_answer()
        text = unicodedata.normalize("NFKC", event.text.replace("\r\n", "\n").replace("\r", "\n"))
        *lines, rest = text.split("\n")
        for line in lines:
            cursor, value = self.cursor_position, self.value
            self._put("", 0)
            self.post_message(self.Scanned(self, value[:cursor] + line + value[cursor:], "paste"))
        self.insert(rest)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None:
            self.cursor_position = self._index_at_cell(self._scroll + offset.x)

    def on_focus(self) -> None:
        self.refresh()  # the cursor shows only while the line has the focus

    def on_blur(self) -> None:
        self.refresh()

    # -- painting ------------------------------------------------------------------------------
    def _index_at_cell(self, cell: int) -> int:
        """Index of the character that covers this cell of the whole text."""
        value = self.value
        if value.isascii():
            return min(cell, len(value))
        cells = 0
        for index, char in enumerate(value):
            cells += cell_len(char)
            if cells > cell:
                return index
        return len(value)

    def render(self) -> Text:
        self._repaint_asked = False
        focused = self.has_focus
        value = self.value
        if not value:
            self._scroll = 0
            text = Text(self.placeholder or " ", style=self.get_component_rich_style("scan-input--placeholder"), end="")
            if focused:
                text.stylize(self.get_component_rich_style("scan-input--cursor"), 0, 1)
                self._place_terminal_cursor(0)
            return text
        width = max(1, self.content_size.width)
        cursor = self.cursor_position
        before = cursor if value.isascii() else cell_len(value[:cursor])
        # Scroll just enough to keep the cursor in view, as a text field does.
        if before < self._scroll:
            self._scroll = before
        elif before >= self._scroll + width:
            self._scroll = before - width + 1
        start = self._index_at_cell(self._scroll)
        text = Text(value[start:], end="")
        if focused:
            if cursor == len(value):
                text.append(" ")
            text.stylize(self.get_component_rich_style("scan-input--cursor"), cursor - start, cursor - start + 1)
            self._place_terminal_cursor(before - self._scroll)
        return text

    def _place_terminal_cursor(self, x: int) -> None:
        # Where an input method (IME) opens its window: at the line's cursor.
        region = self.content_region
        self.app.cursor_position = Offset(region.x + x, region.y)
