"""The terminal driver of the desk: Textual's own, made to outlive bytes that are not UTF-8.

Textual's Linux driver decodes the tty strictly as UTF-8 in its input thread; one byte that is
not UTF-8 (a raw 0xFF from line noise, a scanner in the wrong code page) raises there, the
thread dies and the app panics and exits with status 0, which systemd takes for a clean stop:
the desk is gone until someone restarts it. (Textual issue #6456, open at 8.2.)

The input thread is started again instead. What was read together with the bad byte (at most
one read of the tty, usually that byte alone) is lost; a scan that lost its end stays on the
line, where the volunteer sees it and clears it. Everything else is Textual's, untouched.
"""

from __future__ import annotations

import logging

from textual.driver import Driver

log = logging.getLogger("kakou." + __name__)


def survive_bad_bytes(driver_class: type[Driver]) -> type[Driver]:
    """The driver to run the desk with: Linux's, made to survive bytes that are not UTF-8."""
    try:
        from textual.drivers.linux_driver import LinuxDriver
    except ImportError:  # not on Linux (termios missing)
        return driver_class
    if not issubclass(driver_class, LinuxDriver):
        return driver_class

    class SurvivingDriver(driver_class):  # type: ignore[valid-type,misc]
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
