"""The serial scanner: scan -> verdict through a serial port, beside the keyboard path.

    python -m tests.bench.bench_scanner [--quick] [--only SUBSTRING] [--scans N]

The duty desk runs in a real pseudo-terminal (as in bench_kiosk) on a demo checkpoint, with
KAKOU_SCANNER naming the slave of a second pty pair, the "scanner". Passes are scanned
alternately both ways, in the same run: typed into the scan line through the terminal (~280
keys + CR, all written at once: faster than a real keyboard-wedge scanner, which needs 1.5-4 s at
5-15 ms a key, so the keyboard figure is its best case), and written to the serial port in one
go (+ CR LF, as a scanner in serial mode sends it). Each is timed from the first byte sent to the
temperature prompt on the screen (the verdict shown), then 365 + Enter saves the passage.
Prints the serial p50/p99 with the keyboard figure of the same run as its baseline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.bench_kiosk import KAKOU, Terminal, emit, log, percentile, skip


def bench_scan_paths(scans: int, work: Path) -> None:
    from tui.demo import seed_demo
    from tui.strings import STRINGS

    en = STRINGS["en"]
    data_dir = work / "kiosk"
    seed_demo(data_dir)
    tokens = [p.read_text().strip() for p in sorted((data_dir / "demo-passes").glob("*.txt"))]
    tokens = [t for t in tokens if t.isdigit()][:50]
    scanner_master, scanner_slave = os.openpty()
    env = dict(
        os.environ,
        TERM="xterm-256color",
        COLUMNS="100",
        LINES="30",
        PYTHONUNBUFFERED="1",
        KAKOU_SCANNER=f"serial:{os.ttyname(scanner_slave)}?baud=115200",
    )
    env.pop("TEXTUAL", None)
    term = Terminal([KAKOU, "kiosk", "--lang", "en", "--data-dir", str(data_dir)], env)
    sizes = {"scans_each_way": scans, "token_digits": max(len(t) for t in tokens)}
    try:
        term.wait_for(en["login.prompt"], timeout=60)
        mark = term.mark()
        term.type("1234\r")  # into the early PIN prompt: wait for the login itself, not the first frame
        term.wait_for(en["duty.volunteer"].format(name="李建国"), timeout=60, since=mark)
        time.sleep(0.5)
        prompt = en["duty.temp_prompt"][:20]
        saved = en["duty.saved"]
        times: dict[str, list[float]] = {"keyboard": [], "serial": []}
        for i in range(2 * scans + 4):
            path = "serial" if i % 2 else "keyboard"
            token = tokens[i % len(tokens)]
            mark = term.mark()
            t0 = time.perf_counter()
            if path == "serial":
                os.write(scanner_master, token.encode() + b"\r\n")
            else:
                term.type(token + "\r")
            term.wait_for(prompt, timeout=10, since=mark)
            took = time.perf_counter() - t0
            term.type("365\r")
            term.wait_for(saved, timeout=10, since=mark)
            if i >= 4:  # the first of each way warms the code paths
                times[path].append(took * 1000)
            if i % 100 == 99:
                term.forget()
        note = "first byte sent to the verdict (temperature prompt) on screen, desk in a pty"
        keyboard50, keyboard99 = percentile(times["keyboard"], 50), percentile(times["keyboard"], 99)
        emit("scanner.keyboard_scan_to_verdict.p50", keyboard50, "ms", sizes=sizes, note=note)
        emit("scanner.keyboard_scan_to_verdict.p99", keyboard99, "ms", sizes=sizes, note=note)
        emit(
            "scanner.serial_scan_to_verdict.p50",
            percentile(times["serial"], 50),
            "ms",
            baseline=keyboard50,
            sizes=sizes,
            note=note + "; baseline: the keyboard path, same run",
        )
        emit(
            "scanner.serial_scan_to_verdict.p99",
            percentile(times["serial"], 99),
            "ms",
            baseline=keyboard99,
            sizes=sizes,
            note=note + "; baseline: the keyboard path, same run",
        )
    except (TimeoutError, RuntimeError) as exc:
        skip("scanner.serial_scan_to_verdict", "ms", f"the duty desk did not behave as expected: {exc}", sizes=sizes)
    finally:
        term.close()
        os.close(scanner_master)
        os.close(scanner_slave)
        shutil.rmtree(data_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 scans each way instead of 300")
    parser.add_argument("--only", default="", help="run only measurements whose name contains this")
    parser.add_argument("--scans", type=int, metavar="N", help="scans each way")
    args = parser.parse_args(argv)
    if args.only and "scanner" not in args.only:
        return 0
    scans = args.scans or (30 if args.quick else 300)
    with tempfile.TemporaryDirectory(prefix="kakou-bench-scanner-", dir=os.environ.get("KAKOU_BENCH_TMP")) as tmp:
        started = time.perf_counter()
        bench_scan_paths(scans, Path(tmp))
        log(f"scanner: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
