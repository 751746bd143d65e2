"""One duty desk per data dir: a second one on the same kiosk file is refused in words.

Two desks on one file would each keep their own cached lists, PIN lockout and shift, and two
volunteers would think they were the only one on duty. The lock is `flock` on DATA_DIR/desk.lock,
held for the life of the desk process: the kernel drops it when the process ends, however it
ends (a power cut, kill -9), so a stale lock file never keeps the desk from starting.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from models.errors import KakouError
from models.files import FILE_MODE, private_dir

LOCK_FILE = "desk.lock"


class DeskBusy(KakouError):
    code = "desk_running"


def hold_desk_lock(data_dir: Path) -> IO[str]:
    """Take the desk's lock on `data_dir` (keep the returned file open while the desk runs).
    Raises DeskBusy, with the other desk's process id, when another desk holds it."""
    private_dir(data_dir)
    path = Path(data_dir) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    handle = os.fdopen(fd, "r+", encoding="ascii")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        other = handle.read().strip() or "?"
        handle.close()
        raise DeskBusy(
            f"这台设备上已经有一个值守台在用这个数据目录（进程 {other}）。请回到那个窗口继续值守，"
            f"或先关掉它（Ctrl+Q）。数据目录：{data_dir}",
            f"a duty desk is already open on this data dir (process {other}). Go back to that window, or close"
            f" it first (Ctrl+Q). Data dir: {data_dir}",
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
