"""How soon the duty desk is usable: process start -> login screen shown (store opened),
headless, against a seeded demo checkpoint. Prints one JSON object per line.

    /work/venv/bin/python tests/bench/bench_desk_start.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import asyncio, sys, time
t0 = time.perf_counter()
from tui.app import DutyApp
async def main():
    app = DutyApp(sys.argv[1], lang="zh")
    shown = None
    async with app.run_test(size=(80, 24)) as pilot:
        while type(app.screen).__name__ != "LoginScreen" or app.store is None:
            if shown is None and type(app.screen).__name__ == "LoginScreen":
                shown = time.perf_counter() - t0
            await pilot.pause(0.005)
        ready = time.perf_counter() - t0
        print(shown if shown is not None else ready, ready)
asyncio.run(main())
"""


def main() -> None:
    from tui.demo import seed_demo

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "kiosk"
        seed_demo(data_dir)
        bare = []
        ready = []
        shown = []
        for _ in range(5):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import textual.app"], check=True)
            bare.append(time.perf_counter() - t)
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(data_dir)], check=True, capture_output=True, text=True
            )
            first, store_open = out.stdout.strip().splitlines()[-1].split()
            shown.append(float(first))
            ready.append(float(store_open))
        value, baseline = sorted(ready)[2], sorted(bare)[2]
        # The login screen with its PIN field live (the store may still be opening; a PIN
        # typed meanwhile waits for it).
        pin_live = sorted(shown)[2]
        print(
            json.dumps(
                {
                    "name": "desk_login_screen_shown",
                    "value": round(pin_live * 1000, 1),
                    "unit": "ms",
                    "baseline": round(baseline * 1000, 1),
                    "ratio": round(pin_live / baseline, 2),
                    "target": "about 1000 ms",
                    "sizes": {"households": 200},
                }
            )
        )
        print(
            json.dumps(
                {
                    "name": "desk_ready_login_shown",
                    "value": round(value * 1000, 1),
                    "unit": "ms",
                    "baseline": round(baseline * 1000, 1),
                    "ratio": round(value / baseline, 2),
                    "target": "about 1000 ms",
                    "sizes": {"households": 200},
                }
            )
        )


if __name__ == "__main__":
    main()
