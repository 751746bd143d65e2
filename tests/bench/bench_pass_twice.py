"""What the "same pass out twice" alert costs the ingest (sync/office/alerts.py, migration 0025).

- office.pass_twice.<backend>.<shape>: records/s stored by `ingest.ingest` (in-process, no HTTP)
  with the alert on (policy pass_out_twice_hours=24), against the same batches with it off
  (pass_out_twice_hours=0) on a fresh office in the same run (baseline). PASSES passes going
  out and in in turn at GATES gates, one batch per gate a round (two index seeks per pass going
  out: the passage before it and the one after it, at any gate). `online`: records arrive
  within the round they were made; `late`: every record an hour old on arrival. `met`: the
  alert keeps at least 70% of the ingest rate without it.

One JSON object per line: `python -m tests.bench.bench_pass_twice [--quick] [--only NAME]`.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import uuid
from pathlib import Path

from tests.bench.output import emit

BATCH = 200
GATES = 10
PASSES = 20_000
MIN_RATIO = 0.7


def _batches(kiosks: list[str], n: int, late: bool) -> list[tuple[str, object]]:
    """Rounds of one batch per gate (a kiosk online pushes about once a minute), each gate's
    passages spread over the round; PASSES passes, each going out and in in turn, one out in
    two hundred with no in before it. `late`: every record an hour old when it arrives."""
    from models.outbox import canonical_json, payload_hash, uuid7
    from sync.schemas import PushBatch

    rnd = random.Random(7)
    now = time.time()
    direction: dict[str, str] = {}
    out: list[tuple[str, object]] = []
    seqs = dict.fromkeys(kiosks, 0)
    per_round = BATCH * len(kiosks)
    rounds = max(1, n // per_round)
    age = 3600.0 if late else 0.0
    for r in range(rounds):
        records: dict[str, list[dict]] = {k: [] for k in kiosks}
        for i in range(per_round):
            kiosk = kiosks[i % len(kiosks)]
            pass_id = f"{rnd.randrange(PASSES):032x}"
            going = "in" if direction.get(pass_id) == "out" else "out"
            if rnd.random() < 0.005:
                going = "out"
            direction[pass_id] = going
            p = canonical_json(
                {"direction": going, "verdict": "allow", "reasons": "[]", "subject": "pass", "pass_id": pass_id}
            )
            seqs[kiosk] += 1
            at_ns = (r * per_round + i) * 10**7  # 10 ms apart
            records[kiosk].append(
                {
                    "record_id": uuid7(int(now * 1000) + r * per_round + i),
                    "seq": seqs[kiosk],
                    "kind": "passage",
                    "payload": p,
                    "payload_hash": payload_hash(p),
                    "wall_time": now,
                    "hlc": seqs[kiosk],
                    "boot_id": "boot",
                    "mono_ns": at_ns,
                    "clock_flag": "",
                    "versions": "{}",
                }
            )
        # The anchor says the kiosk's clock now: its records are as old as their place in the round (plus `age`).
        anchor_ns = (r + 1) * per_round * 10**7 + int(age * 10**9)
        for kiosk, recs in records.items():
            doc = {
                "batch_id": uuid.uuid4().hex,
                "epoch": 1,
                "anchor": {"boot_id": "boot", "mono_ns": anchor_ns, "wall": now},
                "records": recs,
            }
            out.append((kiosk, PushBatch(**doc)))
    return out


def _office(url: str | None):
    from sync.office import lists as office_lists
    from sync.office.db import open_office_engine
    from sync.office.enrol import add_checkpoint, enrol

    engine = open_office_engine(Path(tempfile.mkdtemp(prefix="kakou-bench-twice-")) / "office", url)
    with engine.begin() as conn:
        office_lists.ensure_lists(conn)
    kiosks = []
    from nacl.signing import SigningKey

    for g in range(GATES):
        info = add_checkpoint(engine, f"卡口{g}", "幸福里社区")
        enrol(engine, info["code"], bytes(SigningKey.generate().verify_key).hex())
        kiosks.append(info["kiosk_id"])
    return engine, kiosks


def _rate(pg: bool, n: int, late: bool, hours: int) -> tuple[float, int]:
    from sqlalchemy import text

    from sync.office.admin import set_policy
    from sync.office.ingest import ingest

    schema = None
    if pg:
        from tests.sync.helpers import PgSchema

        schema = PgSchema(os.environ["KAKOU_TEST_DATABASE_URL"])
    engine, kiosks = _office(schema.url if schema else None)
    try:
        set_policy(engine, {"pass_out_twice_hours": str(hours)})
        batches = _batches(kiosks, n, late)
        started = time.perf_counter()
        for kiosk, batch in batches:
            ingest(engine, kiosk, batch)
        took = time.perf_counter() - started
        with engine.connect() as conn:
            stored = int(conn.execute(text("SELECT count(*) FROM office_record")).scalar_one())
            alerts = int(conn.execute(text("SELECT count(*) FROM office_alert WHERE kind = 'pass_twice'")).scalar_one())
        return stored / took, alerts
    finally:
        engine.dispose()
        if schema is not None:
            schema.drop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    n = 8000 if args.quick else 40_000
    for backend in ("sqlite", "pg"):
        for shape in ("online", "late"):
            name = f"office.pass_twice.{backend}.{shape}"
            if args.only and args.only not in name:
                continue
            if backend == "pg" and not os.environ.get("KAKOU_TEST_DATABASE_URL"):
                emit(name, None, "records/s", skipped="KAKOU_TEST_DATABASE_URL not set")
                continue
            # Off and on in turn, three times, the best of each: the box is shared.
            offs, ons = [], []
            for _ in range(3):
                offs.append(_rate(backend == "pg", n, shape == "late", 0)[0])
                on, alerts = _rate(backend == "pg", n, shape == "late", 24)
                ons.append(on)
            emit(
                name,
                max(ons),
                "records/s",
                baseline=max(offs),
                sizes={"records": n, "gates": GATES, "batch": BATCH, "passes": PASSES},
                baseline_is="the same batches with the alert off (pass_out_twice_hours=0), best of 3 each",
                alerts=alerts,
                met=max(ons) >= MIN_RATIO * max(offs),
            )


if __name__ == "__main__":
    main()
