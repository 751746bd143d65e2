"""Files the kiosk writes, readable by their owner only.

Everything in the data dir is personal data or a secret: the database (names, masked numbers),
the keys, the log, the settings (which printer, which keys end a shift), and the demo's passes
(each file is a bearer token: whoever holds it walks through the gate). So the data dir and every
folder in it are 0700 and every file 0600, whatever the umask, and a folder made earlier with
wider permissions is narrowed when the kiosk opens it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DIR_MODE", "FILE_MODE", "private_dir", "write_private"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path | str) -> Path:
    """Make `path` (and its missing parents) and narrow it to the owner. Raises OSError when it
    cannot be made; a folder that cannot be narrowed (a foreign file system) is left as it is."""
    path = Path(path)
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    try:
        if path.stat().st_mode & 0o077:
            os.chmod(path, DIR_MODE)
    except OSError:
        pass
    return path


def write_private(path: Path | str, data: str | bytes, encoding: str = "utf-8") -> Path:
    """Write `data` to `path` atomically (a power cut leaves the old file or the new one, never
    half of it), created 0600: the bytes are never readable by others, not even for a moment."""
    path = Path(path)
    raw = data.encode(encoding) if isinstance(data, str) else data
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an old .tmp left with wider permissions
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    tmp.replace(path)
    return path
