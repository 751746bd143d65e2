"""What a stolen kiosk costs its thief, and what the slow look-up hash costs the desk.

- privacy.recovery_id_cpu_years / privacy.recovery_phone_cpu_years: the candidates the kiosk's
  masked form leaves open (models.privacy.id_candidates / phone_candidates of mask_id /
  mask_phone) x the cost of one try, measured here: one look-up hash under the policy's default
  parameters (median of a few). Baseline: the same for the release before (6+4 / 3+4 masks, one
  HMAC-SHA256 a try, measured in the same run). Target: at least one CPU-year. `sizes` also gives
  the figure with the parameter-only floor the test uses (models.privacy.BLOCK_NS_FLOOR).
- privacy.id_lookup_p99: the duty desk, headless at 80x24: an ID number typed on the scan line
  -> the look-up window ("登记过 N 次") on screen, p99 ms, with earlier registrations in the
  file. Baseline: the same for a unit (房号) look-up, which hashes nothing: the desk's own cost.
- privacy.id_lookup_added_p50: the ID look-up's median minus the unit look-up's: what the slow
  hash adds at the desk.

One JSON object per line: `python -m tests.bench.bench_privacy [--quick] [--only NAME]`.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tests.bench.bench_sync import emit

ID_NUMBER = "11010519491231002X"
PHONE = "13812345678"


def _median_seconds(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_recovery(quick: bool) -> None:
    from models.policy import Policy
    from models.privacy import (
        CPU_YEAR_S,
        LookupCost,
        id_candidates,
        keyed_digest,
        phone_candidates,
        strengthen,
    )
    from models.values import mask_id, mask_phone

    cost = LookupCost.from_policy(Policy())
    key = b"k" * 32
    digest = keyed_digest(key, "id", ID_NUMBER)
    slow = _median_seconds(lambda: strengthen(digest, cost), 5 if quick else 20)
    fast = _median_seconds(lambda: hmac.new(key, f"id:{ID_NUMBER}".encode(), hashlib.sha256).hexdigest(), 2000)
    old_masks = {"id": ID_NUMBER[:6] + "*" * 8 + ID_NUMBER[-4:], "phone": PHONE[:3] + "****" + PHONE[-4:]}
    for kind, masked, count in (
        ("id", mask_id(ID_NUMBER), id_candidates),
        ("phone", mask_phone(PHONE), phone_candidates),
    ):
        candidates = count(masked)
        old = count(old_masks[kind])
        emit(
            f"privacy.recovery_{kind}_cpu_years",
            candidates * slow / CPU_YEAR_S,
            "CPU-years",
            baseline=old * fast / CPU_YEAR_S,
            target=">=1",
            sizes={
                "masked": masked,
                "candidates": candidates,
                "try_ms": round(slow * 1000, 2),
                "params": cost.tag,
                "floor_cpu_years": round(candidates * cost.guess_seconds_floor() / CPU_YEAR_S, 2),
                "before_masked": old_masks[kind],
                "before_candidates": old,
                "before_try_us": round(fast * 1e6, 3),
                "before_cpu_seconds": round(old * fast, 4),
            },
        )


CHILD = r"""
import asyncio, json, sys, time
from textual import events
from tui.app import DutyApp

async def main(data_dir, rounds, queries):
    app = DutyApp(data_dir, lang="zh", sync_interval=3600, sync_after_records=3600)
    out = {}
    async with app.run_test(size=(80, 24)) as pilot:
        while type(app.screen).__name__ != "LoginScreen" or app.store is None:
            await pilot.pause(0.01)
        for ch in "1234\r":
            app.post_message(events.Key("enter" if ch == "\r" else ch, ch))
        while type(app.screen).__name__ != "DutyScreen" or getattr(app.screen, "policy", None) is None:
            await pilot.pause(0.01)
        for name, text in queries:
            times = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                for ch in text + "\r":
                    app.post_message(events.Key("enter" if ch == "\r" else ch, ch))
                while type(app.screen).__name__ != "LookupScreen":
                    await asyncio.sleep(0.002)
                await pilot.pause()  # one frame: the window is on screen
                times.append(time.perf_counter() - t0)
                app.post_message(events.Key("escape", None))
                while type(app.screen).__name__ != "DutyScreen":
                    await asyncio.sleep(0.002)
                await pilot.pause()
            out[name] = times
    print(json.dumps(out))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])))
"""


def _seed(data_dir: Path, registrations: int) -> None:
    """A demo checkpoint with `registrations` earlier registrations (random hashes in the slow
    format, inserted directly: making each would cost two slow hashes) and one of ID_NUMBER."""
    from sqlalchemy import text

    from models.facts import RegistrationInput, record_registration
    from models.privacy import LookupCost
    from models.store import KioskStore
    from tui.demo import seed_demo

    seed_demo(data_dir)
    store = KioskStore.open(data_dir)
    record_registration(store, RegistrationInput("visitor", name="王小明", id_number=ID_NUMBER, phone=PHONE))
    tag = LookupCost.from_policy(store.policy()).tag
    now = time.time()
    rows = [
        {
            "r": str(uuid.uuid4()),
            "i": f"{tag}:{hashlib.sha256(b'i%d' % n).hexdigest()}",
            "p": f"{tag}:{hashlib.sha256(b'p%d' % n).hexdigest()}",
            "t": now - n,
        }
        for n in range(registrations)
    ]
    with store.writer.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO registration (record_id, kind, name, id_masked, id_hash, phone_masked, phone_hash,"
                " from_place, to_unit, reason, device_time, temp_raw)"
                " VALUES (:r, 'visitor', '', '******************', :i, '***********', :p, '', '', '', :t, '')"
            ),
            rows,
        )
    store.close()


def _p99(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def bench_desk_lookup(quick: bool) -> None:
    import subprocess

    registrations = 2_000 if quick else 50_000
    rounds = 20 if quick else 100
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "kiosk"
        _seed(data_dir, registrations)
        queries = [["id", ID_NUMBER], ["unit", "3-2-501"]]
        result = subprocess.run(
            [sys.executable, "-c", CHILD, str(data_dir), str(rounds), json.dumps(queries)],
            capture_output=True,
            text=True,
            check=True,
            timeout=900,
        )
        times = json.loads(result.stdout.strip().splitlines()[-1])
        shutil.rmtree(data_dir, ignore_errors=True)
    emit(
        "privacy.id_lookup_p99",
        _p99(times["id"]),
        "ms",
        baseline=_p99(times["unit"]),
        target="<500",
        sizes={
            "registrations": registrations + 1,
            "lookups": rounds,
            "id_p50_ms": round(statistics.median(times["id"]) * 1000, 1),
            "unit_p50_ms": round(statistics.median(times["unit"]) * 1000, 1),
        },
    )
    # What the slow hash adds to the desk's own work (the same window for a unit hashes nothing).
    emit(
        "privacy.id_lookup_added_p50",
        (statistics.median(times["id"]) - statistics.median(times["unit"])) * 1000,
        "ms",
        baseline=statistics.median(times["unit"]) * 1000,
        target="<250",
        sizes={"registrations": registrations + 1, "lookups": rounds},
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    for name, fn in (("privacy.recovery", bench_recovery), ("privacy.id_lookup", bench_desk_lookup)):
        if args.only and args.only not in name:
            continue
        fn(args.quick)


if __name__ == "__main__":
    main()
