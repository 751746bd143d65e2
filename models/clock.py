"""Time as the kiosk can know it.

Kiosk wall time is never trusted for identity, order or authentication (no RTC: after a
power cut the clock may read 1970 until NTP answers). Each record therefore carries the wall
time, a persisted hybrid logical clock (HLC), the boot id and the monotonic time; the office
corrects wall times later from the anchors of each sync.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

# An HLC value packs wall milliseconds in the high bits and a 16-bit counter in the low bits,
# so it is one integer that always grows, even when the wall clock steps back.
HLC_COUNTER_BITS = 16
HLC_COUNTER_MASK = (1 << HLC_COUNTER_BITS) - 1
# A wall clock more than this far behind the last HLC is reported as having gone backwards.
BACKWARDS_TOLERANCE_MS = 2_000
# No clock reading before this is real for a kakou kiosk (2025-01-01T00:00:00Z).
PLAUSIBLE_SINCE = 1_735_689_600


@lru_cache(maxsize=1)
def boot_id() -> str:
    """The kernel's id of this boot (monotonic time is only comparable within one boot)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        # Not Linux: a per-process id still separates monotonic readings of different runs.
        return "proc-" + uuid.uuid4().hex


@dataclass(frozen=True)
class Reading:
    """One moment as seen by this kiosk."""

    wall: float  # seconds since the epoch, as the (possibly wrong) wall clock says
    mono_ns: int
    boot_id: str

    @property
    def wall_ms(self) -> int:
        return int(self.wall * 1000)


def now() -> Reading:
    return Reading(wall=time.time(), mono_ns=time.monotonic_ns(), boot_id=boot_id())


def hlc_next(last: int, wall_ms: int) -> tuple[int, bool]:
    """Advance the hybrid logical clock from its last persisted value.

    Returns the new value and whether the wall clock has gone backwards (a flag on the
    record, never an error).
    """
    last_ms = last >> HLC_COUNTER_BITS
    backwards = wall_ms + BACKWARDS_TOLERANCE_MS < last_ms
    if wall_ms > last_ms:
        return wall_ms << HLC_COUNTER_BITS, backwards
    counter = (last & HLC_COUNTER_MASK) + 1
    if counter > HLC_COUNTER_MASK:
        # 65,536 records within one millisecond: borrow the next millisecond.
        return (last_ms + 1) << HLC_COUNTER_BITS, backwards
    return (last_ms << HLC_COUNTER_BITS) | counter, backwards


def hlc_wall_ms(hlc: int) -> int:
    return hlc >> HLC_COUNTER_BITS


def trusted_date(trusted_now: float) -> date:
    """The kiosk's local date at a trusted time (``KioskStore.trusted_now()``), never before
    PLAUSIBLE_SINCE: what "today" means for a rule such as an ID number's birth date, on a kiosk
    whose wall clock may read 1970 after a power cut."""
    return date.fromtimestamp(max(trusted_now, PLAUSIBLE_SINCE))
