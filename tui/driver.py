"""The terminal driver of the desk: Textual's own, made to outlive bytes that are not UTF-8.

Textual's Linux driver decodes the tty strictly as UTF-8 in its input thread; one byte that is
not UTF-8 (a raw 0xFF from line noise, a scanner in the wrong code page) raises there, the
thread dies and the app panics and exits with status 0, which systemd takes for a clean stop:
the desk is gone until someone restarts it. (Textual issue #6456, open at 8.2.)

The input thread is started again instead. What was read together with the bad byte (at most
one read of the tty, usually that byte alone) is lost; a scan that lost its end stays on the
line, where the volunteer sees it and clears it.

And a scanner's burst reaches the app as one message: Textual sends every key from the input
thread to the app on its own (a task on the event loop, the app's priority-binding check with a
copy of every bindings map on the focus chain, then the focused widget's queue), about half a
millisecond of CPU per key here and several times that on a Pi, so a 260-digit pass cost more
than a frame before the desk saw its Enter. `send_message` queues what the input thread sends and
the event loop takes the queue in one go (`_deliver`): printable keys that came together are one
`KeyBurst`, everything else goes on as it came, in the same order. While the loop is busy the
queue fills, so the busier the desk, the larger the bursts; keys typed by hand come one at a
time and stay plain `Key` events. The app hands a burst to the focused scan line in one piece
(tui/widgets/scan_input.py), or key by key to anything else (DutyApp.on_key_burst).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from textual import events
from textual.driver import Driver
from textual.message import Message

log = logging.getLogger("kakou." + __name__)


class KeyBurst(Message, bubble=False):
    """Printable keys the terminal sent together (a scanner's burst), in order: one message
    for the app instead of one per key."""

    def __init__(self, keys: list[events.Key]) -> None:
        super().__init__()
        self.keys = keys

    @property
    def text(self) -> str:
        return "".join(key.character or "" for key in self.keys)


def coalesce_keys(messages: list[Message]) -> list[Message]:
    """The same messages in the same order, with each run of two or more printable keys made
    one KeyBurst."""
    out: list[Message] = []
    run: list[events.Key] = []

    def end_run() -> None:
        if len(run) == 1:
            out.append(run[0])
        elif run:
            out.append(KeyBurst(list(run)))
        run.clear()

    for message in messages:
        if isinstance(message, events.Key) and message.is_printable:
            run.append(message)
            continue
        end_run()
        out.append(message)
    end_run()
    return out


def survive_bad_bytes(driver_class: type[Driver]) -> type[Driver]:
    """The driver to run the desk with: Linux's, made to survive bytes that are not UTF-8."""
    try:
        from textual.drivers.linux_driver import LinuxDriver
    except ImportError:  # not on Linux (termios missing)
        return driver_class
    if not issubclass(driver_class, LinuxDriver):
        return driver_class

    class SurvivingDriver(driver_class):  # type: ignore[valid-type,misc]
        def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
            super().__init__(app, *args, **kwargs)
            self.kakou_app = app
            self.kakou_loop = asyncio.get_running_loop()  # made on the app's loop (App._process_messages)
            self._kakou_lock = threading.Lock()
            self._kakou_queue: list[Message] = []

        def send_message(self, message: Message) -> None:
            # Any thread (mostly the input thread): queue it; the first message of an empty
            # queue asks the loop to take the queue.
            with self._kakou_lock:
                self._kakou_queue.append(message)
                if len(self._kakou_queue) > 1:
                    return
            try:
                self.kakou_loop.call_soon_threadsafe(self._deliver)
            except RuntimeError:  # the loop is closed: the app has ended
                pass

        def _deliver(self) -> None:
            with self._kakou_lock:
                batch, self._kakou_queue = self._kakou_queue, []
            for message in coalesce_keys(batch):
                if isinstance(message, KeyBurst):
                    message.set_sender(self.kakou_app)
                self.kakou_app.post_message(message)

        def run_input_thread(self) -> None:
            while True:
                try:
                    super().run_input_thread()
                    return
                except UnicodeDecodeError as exc:
                    log.warning("bytes on the terminal that are not UTF-8 were dropped: %s", exc)
                    exit_event = getattr(self, "exit_event", None)
                    if exit_event is not None and exit_event.is_set():
                        return

    SurvivingDriver.__name__ = SurvivingDriver.__qualname__ = f"Surviving{driver_class.__name__}"
    return SurvivingDriver
