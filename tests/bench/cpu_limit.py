"""A Pi-class CPU for one benchmarked process: a cgroup whose CPU quota is a fraction of one core.

The kiosk in the field is a Raspberry Pi or a cheap box several times slower than this machine.
The desk benchmarks run the desk twice in one run, once as it is and once inside a cgroup
limited to 30 % of one core with a 10 ms period (short, so the limit is smooth: a 100 ms period
would let a burst run at full speed for 30 ms and then stall for 70 ms).

cgroup v2 (`cpu.max`) where the unified hierarchy has the cpu controller, else v1
(`cpu.cfs_quota_us` / `cpu.cfs_period_us`). Needs root; without it the caller gets the reason
and skips the Pi-class lines. Written by hand: the two files per hierarchy are the whole API,
and no maintained library wraps both versions for a short-lived benchmark group.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PI_FRACTION = 0.30
PERIOD_US = 10_000


class CpuLimitUnavailable(RuntimeError):
    pass


class CpuLimit:
    """A cgroup with `fraction` of one core; `preexec` puts a child process into it."""

    def __init__(self, name: str, fraction: float = PI_FRACTION, period_us: int = PERIOD_US):
        self.fraction = fraction
        self.period_us = period_us
        quota = max(1000, int(period_us * fraction))
        if (ROOT / "cgroup.controllers").exists():
            if "cpu" not in (ROOT / "cgroup.controllers").read_text().split():
                raise CpuLimitUnavailable("cgroup v2 without the cpu controller")
            self.path = ROOT / name
            self._make()
            self._write("cpu.max", f"{quota} {period_us}")
        elif (ROOT / "cpu" / "cpu.cfs_quota_us").exists():
            self.path = ROOT / "cpu" / name
            self._make()
            self._write("cpu.cfs_period_us", str(period_us))
            self._write("cpu.cfs_quota_us", str(quota))
        else:
            raise CpuLimitUnavailable("no cgroup cpu controller under /sys/fs/cgroup")

    def _make(self) -> None:
        try:
            self.path.mkdir(exist_ok=True)
        except OSError as exc:
            raise CpuLimitUnavailable(f"cannot make a cgroup ({exc.strerror}; run as root)") from None

    def _write(self, name: str, value: str) -> None:
        try:
            (self.path / name).write_text(value)
        except OSError as exc:
            self.close()
            raise CpuLimitUnavailable(f"cannot set {name} ({exc.strerror})") from None

    @property
    def label(self) -> str:
        return f"{round(self.fraction * 100)}% of one core, {self.period_us // 1000} ms period"

    def preexec(self) -> None:
        """For subprocess.Popen(preexec_fn=...): the child joins the group before it runs anything."""
        with open(self.path / "cgroup.procs", "w") as f:
            f.write(str(os.getpid()))

    def close(self) -> None:
        """Remove the group (its processes must have ended; they return to the parent group)."""
        try:
            self.path.rmdir()
        except OSError:
            pass
