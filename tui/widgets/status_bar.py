"""The status bar: checkpoint, volunteer on duty, clock, and the sync state.

It follows the app's reactive state: `sync_status` (what the sync loop last said, put in
words by tui/sync_words.py) and `clock_warning` (DutyApp.check_clock)."""

from __future__ import annotations

import time

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

PARTS = ("checkpoint", "volunteer", "direction", "clock", "sync")
PART_PADDING = 2  # `#status-bar Static { padding: 0 1 }` in app.tcss
# The sync words again, without a round: the ages in them ("最早5分钟前") move on.
SYNC_REPAINT_SECONDS = 15


class StatusBar(Horizontal):
    """One line at the top of the duty screen. Each part is its own Static so a tick of the
    clock repaints eight cells, not the whole line.

    When the kiosk's clock looks wrong the time is not shown (it would be wrong): the clock
    part says so instead, in the long words with what to do when the whole line still fits,
    else in the short words (the sync text is never pushed off the line for it)."""

    DEFAULT_CSS = """
    StatusBar #status-scanner {
        display: none;
        background: $error;
        color: $text;
        text-style: bold;
    }
    StatusBar #status-scanner.scanner-gone {
        display: block;
    }
    StatusBar #status-clock.clock-wrong {
        background: $error;
        color: $text;
        text-style: bold;
    }
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._texts = dict.fromkeys(PARTS, "")
        self._clock_warning: tuple[str, str] = ("", "")  # (short, long); ("", "") when the clock is fine

    def compose(self) -> ComposeResult:
        # The sync text is last and takes what is left: on a narrow screen it is the part cut.
        yield Static("", id="status-checkpoint", markup=False)
        yield Static("", id="status-volunteer", markup=False)
        yield Static("", id="status-direction", markup=False)
        yield Static("", id="status-clock", markup=False)
        yield Static("", id="status-scanner", markup=False)  # only while the serial scanner is gone
        yield Static("", id="status-sync", markup=False)

    def on_mount(self) -> None:
        self.tick()
        self.watch(self.app, "sync_status", self._sync_status_changed)
        self.watch(self.app, "clock_warning", self._clock_warning_changed)
        self.watch(self.app, "scanner_state", self._scanner_state_changed)
        self.set_interval(SYNC_REPAINT_SECONDS, self.paint_sync)

    def _sync_status_changed(self, _status) -> None:
        self.paint_sync()

    def _scanner_state_changed(self, state: str) -> None:
        """The serial scanner's word (tui/scanner.py): shown while it is gone, hidden when back."""
        from tui.strings import t

        part = self.query_one("#status-scanner", Static)
        part.update(t(getattr(self.app, "lang", "zh"), "duty.scanner.gone") if state == "gone" else "")
        part.set_class(state == "gone", "scanner-gone")

    def _clock_warning_changed(self, warning: tuple[str, str]) -> None:
        self.set_clock_warning(*warning)

    def paint_sync(self) -> None:
        """The sync part from the app's `sync_status`, in the app's language."""
        status = getattr(self.app, "sync_status", None)
        if status is None:
            return
        from tui.sync_words import short_words

        self.set_sync(*short_words(status, getattr(self.app, "lang", "zh"), width=self._sync_width()))

    def _sync_width(self) -> int | None:
        """The cells left for the sync text beside the other parts (None before the first layout)."""
        width = self.size.width
        if not width:
            return None
        others = sum(cell_len(text) + PART_PADDING for name, text in self._texts.items() if name != "sync")
        return max(0, width - others - PART_PADDING)

    def on_resize(self) -> None:
        if self._clock_warning[0]:
            self._paint_clock()
        self.paint_sync()

    def _set(self, name: str, text: str) -> Static:
        old = self._texts[name]
        self._texts[name] = text
        part = self.query_one(f"#status-{name}", Static)
        if text != old:
            # The same width (the clock's every second): repaint the part only. A layout of
            # the screen repaints every widget and showed up in the scan profile.
            part.update(text, layout=cell_len(text) != cell_len(old))
        return part

    def tick(self) -> None:
        if not self._clock_warning[0]:
            self._set("clock", time.strftime("%H:%M:%S"))

    def set_checkpoint(self, text: str) -> None:
        self._set("checkpoint", text)
        self._refit()
        self.paint_sync()  # the sync text gets the cells the others leave

    def set_volunteer(self, text: str) -> None:
        self._set("volunteer", text)
        self._refit()
        self.paint_sync()  # the sync text gets the cells the others leave

    def set_direction(self, text: str, direction: str) -> None:
        self._set("direction", text).set_class(direction == "out", "out")
        self._refit()
        self.paint_sync()  # the sync text gets the cells the others leave

    def set_sync(self, text: str, level: str = "ok") -> None:
        part = self._set("sync", text)
        for name in ("ok", "warn", "error"):
            part.set_class(level == name, f"sync-{name}")
        self._refit()

    # -- the clock warning ---------------------------------------------------------------------
    @property
    def clock_warning(self) -> str:
        """The words shown instead of the time ("" while the clock looks right)."""
        return self._texts["clock"] if self._clock_warning[0] else ""

    def set_clock_warning(self, short: str = "", long: str = "") -> None:
        """Show `long` (or `short` where `long` would not leave the sync text whole) instead
        of the time; empty: the clock is right again, show the time."""
        if (short, long) == self._clock_warning:
            return
        self._clock_warning = (short, long)
        self.query_one("#status-clock", Static).set_class(bool(short), "clock-wrong")
        if short:
            self._paint_clock()
        else:
            self.tick()

    def _refit(self) -> None:
        if self._clock_warning[0] and self._clock_warning[1]:
            self._paint_clock()

    def _paint_clock(self) -> None:
        short, long = self._clock_warning
        text = long if long and self._fits(long) else short
        if text != self._texts["clock"]:
            self._set("clock", text)

    def _fits(self, clock_text: str) -> bool:
        """Whether the line with `clock_text` in the clock part still shows every part whole.
        Measured from the texts (each part is `width: auto` plus its padding), not from the
        layout, which is only known after the next refresh."""
        width = self.size.width
        if not width:
            return False
        texts = dict(self._texts, clock=clock_text)
        return sum(cell_len(text) + PART_PADDING for text in texts.values()) <= width
