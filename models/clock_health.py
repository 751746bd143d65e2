"""Does the kiosk's wall clock look wrong, and why? (For the words on the duty screen.)

A wrong clock never stops the gate: records are numbered and ordered by the hybrid logical
clock (models.clock), flagged "backwards" when the wall clock stepped back, and verdicts use
`KioskStore.trusted_now()`. But the times a volunteer reads, and the office's reports before
it corrects them, come from the wall clock, so someone should set it. This module says when.

The judgement, in order:

1. before 2025 (`models.clock.PLAUSIBLE_SINCE`): the clock was never set (no RTC after a
   power cut, NTP not answered yet) - "unset";
2. the office's time is known: the office is the reference; more than `CLOCK_WARN_S` apart
   is "office" (and a clock that agrees with the office is right, even if an earlier record
   was stamped while it ran ahead);
3. otherwise (a standalone kiosk, or not synced in this boot): the clock is more than
   `CLOCK_WARN_S` behind the newest record this kiosk made - it went back - "behind".

A clock that runs ahead cannot be told from the right time without the office.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from models import clock
from models.clock import PLAUSIBLE_SINCE

if TYPE_CHECKING:
    from models.store import KioskStore

# More than this apart (seconds) is worth a person's attention; NTP steps and a drifting
# clock without an RTC stay well under it. Same as the office's skew warning in sync.kiosk.
CLOCK_WARN_S = 300.0


@dataclass(frozen=True)
class ClockHealth:
    problem: str = ""  # "" (fine), "unset", "behind" or "office"
    off_by: float = 0.0  # seconds: behind the newest record ("behind"), kiosk minus office ("office")
    wall: float = 0.0  # what the wall clock read

    @property
    def ok(self) -> bool:
        return not self.problem


def judge_clock(
    wall: float,
    newest_record: float | None = None,
    office_skew: float | None = None,
    *,
    plausible_since: float = PLAUSIBLE_SINCE,
    tolerance: float = CLOCK_WARN_S,
) -> ClockHealth:
    """`wall`: the wall clock now; `newest_record`: wall seconds of the newest record's HLC
    (None: no record yet); `office_skew`: kiosk minus office now, seconds (None: unknown)."""
    if wall < plausible_since:
        return ClockHealth("unset", 0.0, wall)
    if office_skew is not None:
        if abs(office_skew) > tolerance:
            return ClockHealth("office", office_skew, wall)
        return ClockHealth("", office_skew, wall)
    if newest_record is not None and newest_record - wall > tolerance:
        return ClockHealth("behind", newest_record - wall, wall)
    return ClockHealth("", 0.0, wall)


@dataclass(frozen=True)
class OfficeTime:
    """The office's clock as measured at one sync, carried forward on this boot's monotonic
    clock: a wall clock that jumps after the sync is still compared with the office's time,
    not with the skew measured before the jump."""

    office_wall: float
    mono_ns: int
    boot_id: str

    @classmethod
    def from_skew(cls, skew: float, reading: clock.Reading) -> OfficeTime:
        """`skew`: kiosk minus office, measured at about `reading`."""
        return cls(reading.wall - skew, reading.mono_ns, reading.boot_id)

    def skew_at(self, reading: clock.Reading) -> float | None:
        """Kiosk minus office at `reading`; None after a reboot (monotonic time restarted)."""
        if reading.boot_id != self.boot_id:
            return None
        return reading.wall - (self.office_wall + (reading.mono_ns - self.mono_ns) / 1e9)


def store_clock_health(
    store: KioskStore, office: OfficeTime | None = None, reading: clock.Reading | None = None
) -> ClockHealth:
    """The kiosk's clock now, judged against its newest record and the office's time if known.

    Reads only memory (the store keeps its newest HLC), so the desk can ask every second."""
    reading = reading or clock.now()
    skew = office.skew_at(reading) if office is not None else None
    return judge_clock(reading.wall, store.newest_record_time(), skew)
