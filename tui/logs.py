"""The kiosk's log: one rotating file, `DATA_DIR/logs/kakou.log`, owner-only.

Every module logs to its own logger under `kakou.` (`logging.getLogger("kakou." + __name__)`);
`configure(data_dir)` is called once where the data dir is known (the duty desk when it starts,
the `kakou` command after it has read `--data-dir`) and sends the whole `kakou` tree to that
file. Nothing goes to the terminal: the duty desk owns the screen, and the commands print their
own one-line errors.

The file holds tracebacks and error codes, never what a volunteer typed: the domain's error
words are written in English, and they do not repeat ID numbers or phones (a test keeps every
file of the data dir free of them). Others on the machine may not read it, so the directory is
0700 and every file, rotated ones included, is created 0600.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
from pathlib import Path

LOG_DIR = "logs"
LOG_FILE = "kakou.log"
MAX_BYTES = 1 << 20  # 1 MiB per file, 5 old files: a year of a kiosk's errors fits an SD card easily
BACKUPS = 5
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

ROOT = "kakou"
log = logging.getLogger("kakou." + __name__)


class OwnerOnlyRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler whose directory (0700) and files (0600) only the owner can read.

    The file is opened on the first record (`delay=True`), so a command that logs nothing
    creates nothing: `kakou report --data-dir /wrong/place` does not make that directory."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True)

    def emit(self, record: logging.LogRecord) -> None:
        if self.stream is None and not Path(self.baseFilename).parent.parent.is_dir():
            return  # no data dir there (a mistyped --data-dir): a log is no reason to make one
        super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        # A log that cannot be written (read-only or full disk) must not print a traceback
        # over the duty desk, nor stop what was being done: the record is dropped.
        pass

    def _open(self) -> io.TextIOWrapper:
        path = Path(self.baseFilename)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)  # made earlier (or by hand) with wider permissions
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)  # a rotating log only appends


def log_path(data_dir: Path) -> Path:
    return Path(data_dir) / LOG_DIR / LOG_FILE


def configure(data_dir: Path, level: int = logging.INFO) -> Path:
    """Send the `kakou` loggers to `DATA_DIR/logs/kakou.log`; returns that path.

    Calling it again with another data dir moves the log there (tests open many kiosks in one
    process; each kiosk's errors belong in its own data dir). With the same dir it does nothing."""
    path = log_path(data_dir).absolute()
    root = logging.getLogger(ROOT)
    for handler in list(root.handlers):
        if isinstance(handler, OwnerOnlyRotatingFileHandler):
            if Path(handler.baseFilename) == path:
                return path
            root.removeHandler(handler)
            handler.close()
    handler = OwnerOnlyRotatingFileHandler(path)
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    # Not up to the root logger: a library that calls logging.basicConfig() (python-escpos does)
    # would otherwise copy kakou's records onto the terminal under the duty desk.
    root.propagate = False
    return path


def shown_error(logger: logging.Logger, exc: BaseException, where: str) -> None:
    """An error the user was shown in words: log what it was (code and English words, or the
    traceback of an unexpected one)."""
    en = getattr(exc, "en", None)
    if en and getattr(exc, "zh", None):
        logger.warning("%s: %s [%s] %s", where, type(exc).__name__, getattr(exc, "code", "-"), en)
    else:
        logger.error("%s: unexpected %s", where, type(exc).__name__, exc_info=exc)
