"""The PIN prompt of `kakou kiosk`, drawn before the desk has loaded, and the keys typed into it.

Importing Textual and the desk and drawing the first frame costs about half a second of CPU;
on a Pi-class board that is two to five seconds of a blank terminal, with the volunteer not
knowing whether to type. So the command draws the login prompt itself, with a few escape
codes, before anything heavy is imported (`EarlyLogin.start`), shows a dot for each key typed
while the desk loads, and hands what was typed to the desk's login screen (`stop`), which takes
it as if it had been typed there: a PIN, a PIN and Enter, or a scan (which it refuses as a
scan). Nothing is decided here: the PIN is checked by the login screen, as always.

Written by hand because no library draws a terminal line without the import cost it avoids
(curses would also take the terminal over, and Textual must find it as it was).

Only when standard input and output are a terminal and the checkpoint is set up (the name read
with plain sqlite3): a first start opens the setup screen instead, and a script's pipe is left
alone.
"""

from __future__ import annotations

import os
import select
import sqlite3
import sys
import threading
from pathlib import Path

from tui.strings import t

MAX_DOTS = 16  # a scan is shown as this many dots, not hundreds
ENTER = "\r"
ERASE = ("\x7f", "\b")


def peek_checkpoint(data_dir: Path) -> tuple[str, str] | None:
    """(name, community) of a checkpoint that is set up, read read-only with plain sqlite3
    (milliseconds, no SQLAlchemy); None for a first start or anything unexpected, which
    then waits for the store as before."""
    path = data_dir / "kakou.db"
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=1)
        try:
            row = conn.execute("SELECT name, community FROM checkpoint ORDER BY id LIMIT 1").fetchone()
        finally:
            conn.close()
    except (sqlite3.Error, UnicodeDecodeError):  # a damaged file: opening the store says so in words
        return None
    return (str(row[0]), str(row[1])) if row else None


def typed(text: str, keys: str) -> tuple[str, bool]:
    """`text` with `keys` (as read from the terminal) applied: printable keys added, Backspace
    taking the last one off, an escape sequence (an arrow, a function key) dropped with the
    rest of its read. Returns the text and whether Enter ended it."""
    for ch in keys:
        if ch in (ENTER, "\n"):
            return text, True
        if ch in ERASE:
            text = text[:-1]
        elif ch == "\x1b":
            break  # the sequence's own letters would look like typing
        elif ch.isprintable():
            text += ch
    return text, False


class EarlyLogin:
    """The prompt on the terminal's alternate screen (where Textual draws next, so the switch
    shows no flicker and the shell's screen comes back clean at exit), and a thread reading the
    keys until `stop`."""

    def __init__(self, lines: list[str], prompt: str, fd_in: int, fd_out: int):
        self.lines = lines
        self.prompt = prompt
        self.fd_in, self.fd_out = fd_in, fd_out
        self.text = ""
        self.entered = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved: list | None = None
        self._dots_at = (0, 0)

    def start(self) -> None:
        import shutil
        import termios

        self._saved = termios.tcgetattr(self.fd_in)
        quiet = termios.tcgetattr(self.fd_in)
        quiet[3] &= ~(termios.ECHO | termios.ICANON)  # keys one by one, not echoed by the terminal
        quiet[6][termios.VMIN], quiet[6][termios.VTIME] = 1, 0
        termios.tcsetattr(self.fd_in, termios.TCSANOW, quiet)
        cols, rows = shutil.get_terminal_size((80, 24))
        shown = [*self.lines, self.prompt]
        top = max(1, (rows - len(shown) - 1) // 2)
        out = ["\x1b[?1049h\x1b[?25l\x1b[2J"]  # alternate screen, no cursor, cleared
        for n, line in enumerate(shown):
            out.append(f"\x1b[{top + n};{max(1, (cols - _cells(line)) // 2 + 1)}H\x1b[1m{line}\x1b[0m")
        self._dots_at = (top + len(shown) + 1, max(1, (cols - MAX_DOTS) // 2 + 1))
        self._write("".join(out))
        self._thread = threading.Thread(target=self._read, name="kakou-early-login", daemon=True)
        self._thread.start()

    def stop(self) -> str:
        """Stop reading, give the terminal back as it was (nothing typed is thrown away: what
        comes from now on waits in the terminal for the desk) and return what was typed, with
        a final Enter if one was pressed."""
        import termios

        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._saved is not None:
            termios.tcsetattr(self.fd_in, termios.TCSANOW, self._saved)  # TCSANOW: no flush
            self._saved = None
        return self.text + (ENTER if self.entered else "")

    def close(self) -> None:
        """At the command's end: the terminal as it was, the shell's screen back (Textual has
        left the alternate screen already when it ran; for a desk that never started, this does)."""
        self.stop()
        self._write("\x1b[?25h\x1b[?1049l")

    def _read(self) -> None:
        while not self._stop.is_set() and not self.entered:
            ready, _, _ = select.select([self.fd_in], [], [], 0.02)
            if not ready or self._stop.is_set():
                continue
            try:
                keys = os.read(self.fd_in, 1024).decode("utf-8", "replace")
            except OSError:
                return
            if not keys:
                return
            self.text, self.entered = typed(self.text, keys)
            row, col = self._dots_at
            self._write(f"\x1b[{row};{col}H\x1b[K" + "*" * min(len(self.text), MAX_DOTS))

    def _write(self, text: str) -> None:
        try:
            os.write(self.fd_out, text.encode("utf-8"))
        except OSError:
            pass


def _cells(text: str) -> int:
    """Terminal cells of a line: CJK characters take two."""
    return sum(2 if ord(ch) >= 0x1100 else 1 for ch in text)


def early_login(data_dir: Path, lang: str | None) -> EarlyLogin | None:
    """The prompt started, or None where it does not apply (not a terminal, not set up, not
    POSIX)."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return None
    peek = peek_checkpoint(data_dir)
    if peek is None:
        return None
    try:
        import termios  # noqa: F401
    except ImportError:
        return None
    if lang is None:
        from tui.settings import load_settings

        lang = load_settings(data_dir).lang
    lines = [t(lang, "login.title"), t(lang, "login.checkpoint", checkpoint=peek[0], community=peek[1])]
    prompt = EarlyLogin(lines, t(lang, "login.prompt"), sys.stdin.fileno(), sys.stdout.fileno())
    try:
        prompt.start()
    except OSError:
        return None
    return prompt
