"""Mutation score per module from mutmut's runs: killed / total, and the survivors.

Usage: python tests/mutation/score.py WORKDIR [BASEDIR] (tests/mutation/run.sh calls it).
With BASEDIR (a full run), mutants that WORKDIR did not check keep BASEDIR's result: a recheck
runs only the earlier survivors, and a mutant the old tests killed stays killed by them.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter, defaultdict

# mutmut's words for a mutant the tests caught (a timeout is caught too: the mutant hung them)
KILLED = {"killed", "timeout", "caught by type check"}


def statuses(workdir: str) -> dict[str, str]:
    out = subprocess.run(
        ["mutmut", "results", "--all", "true"], cwd=workdir, capture_output=True, text=True, check=True
    ).stdout
    found = {}
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            found[name] = status
    return found


def main(workdir: str, basedir: str | None = None) -> int:
    now = statuses(workdir)
    if basedir:
        base = statuses(basedir)
        # the mutants of the current source are WORKDIR's; unchecked ones keep the full run's result
        now = {name: (base.get(name, s) if s == "not checked" else s) for name, s in now.items()}
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    survivors: list[str] = []
    for name, status in sorted(now.items()):
        module = ".".join(name.split(".")[:2])
        by_module[module][status] += 1
        if status not in KILLED:
            survivors.append(f"{status:12} {name}")
    total_killed = total = 0
    for module in sorted(by_module):
        counts = by_module[module]
        n = sum(counts.values())
        killed = sum(counts[s] for s in KILLED)
        total_killed, total = total_killed + killed, total + n
        checked = n - counts["not checked"]
        detail = ", ".join(f"{s} {c}" for s, c in sorted(counts.items()))
        print(
            f"{module:20} {killed:4}/{n:<4} killed  {100 * killed / n:5.1f} %"
            f"   of those checked {killed}/{checked} = {100 * killed / max(checked, 1):5.1f} %   ({detail})"
        )
    if total:
        print(f"{'all':20} {total_killed:4}/{total:<4} killed  {100 * total_killed / total:5.1f} %")
    for line in survivors:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
