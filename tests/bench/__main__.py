"""One command measures everything: `python -m tests.bench [--quick] [--only NAME]`.

Runs every `tests/bench/bench_*.py` as its own process (`python -m tests.bench.bench_x
[--quick] [--only NAME]`), so one benchmark's imports, caches and memory never colour
another's, and streams their lines to stdout: one JSON object per line with name, value,
unit, baseline, ratio, target, sizes. Where a target is given this adds "met": true/false.
A target is a string with a comparison and a number in the line's unit - "<1" (ms), "<=5",
">20000" (records/s) - or a bare number meaning "at most". A line the script already marked
"met" (for targets like "<1.1x") keeps its own verdict. It ends with one summary line.

`--only NAME` runs only the scripts whose file name contains NAME (`--only kiosk`) or, when
no file matches, passes NAME on to every script, which then runs only the measurements whose
name contains it (`--only kiosk.verdict`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parents[1]
TARGET = re.compile(r"^\s*(<=|>=|<|>|=)?\s*([0-9.eE+-]+)\s*$")


def target_met(target, value) -> bool | None:
    if target is None or value is None:
        return None
    if isinstance(target, (int, float)):
        return value <= target
    m = TARGET.match(str(target))
    if not m:
        return None  # a target the script judges itself
    op, limit = m.group(1) or "<=", float(m.group(2))
    return {"<": value < limit, "<=": value <= limit, ">": value > limit, ">=": value >= limit, "=": value == limit}[op]


def scripts(only: str) -> tuple[list[Path], str]:
    found = sorted(BENCH_DIR.glob("bench_*.py"))
    if only:
        by_file = [p for p in found if only in p.stem]
        if by_file:
            return by_file, ""
    return found, only


def run_script(path: Path, quick: bool, only: str, timeout: float, summary: dict) -> None:
    cmd = [sys.executable, "-m", f"tests.bench.{path.stem}"]
    if quick:
        cmd.append("--quick")
    if only:
        cmd += ["--only", only]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, bufsize=1)
    try:
        for raw in proc.stdout:
            raw = raw.strip()
            if not raw:
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                print(f"# {path.stem}: {raw}", file=sys.stderr)
                continue
            if not isinstance(line, dict) or "name" not in line:
                continue
            line.setdefault("script", path.stem)
            if "met" not in line:
                met = target_met(line.get("target"), line.get("value"))
                if met is not None:
                    line["met"] = met
            if line.get("skipped"):
                summary["skipped"].append(line["name"])
            elif line.get("met") is False:
                summary["missed"].append(line["name"])
            elif line.get("met") is True:
                summary["met"] += 1
            summary["lines"] += 1
            print(json.dumps(line, ensure_ascii=False), flush=True)
            if time.perf_counter() - started > timeout:
                raise subprocess.TimeoutExpired(cmd, timeout)
        proc.wait(timeout=max(1.0, timeout - (time.perf_counter() - started)))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        summary["failed"].append(f"{path.stem}: over {timeout:.0f} s")
        return
    if proc.returncode != 0:
        summary["failed"].append(f"{path.stem}: exit {proc.returncode}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced sizes: everything in under two minutes")
    parser.add_argument("--only", default="", metavar="NAME", help="a script (bench_NAME) or a measurement name")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per script (default 600, quick 110)")
    args = parser.parse_args(argv)
    timeout = args.timeout or (110.0 if args.quick else 3600.0)
    selected, only = scripts(args.only)
    summary = {"lines": 0, "met": 0, "missed": [], "skipped": [], "failed": []}
    started = time.perf_counter()
    for path in selected:
        run_script(path, args.quick, only, timeout, summary)
    print(
        json.dumps(
            {
                "name": "summary",
                "value": round(time.perf_counter() - started, 1),
                "unit": "s",
                "quick": args.quick,
                "scripts": [p.stem for p in selected],
                "measurements": summary["lines"],
                "targets_met": summary["met"],
                "targets_missed": summary["missed"],
                "skipped": summary["skipped"],
                "failed": summary["failed"],
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()},
            },
            ensure_ascii=False,
        ),
        flush=True,
    )
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
