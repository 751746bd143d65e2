"""Records partitioned by day on PostgreSQL (migration 0023), against the plain table of 0022.

    python -m tests.bench.bench_partition [--quick] [--only SUBSTRING] [--per-day N]

Two offices in the same run, each with `days` days past retention of `per_day` records plus the
days kept: one at the head (office_record partitioned by day), one at 0022_where_people_are (the
plain table), both driven by the same code.

- partition.purge.pg: seconds for `sealed.purge` to take the days past retention away (detaches
  their partitions: their rows are out of office_record when it returns), target <= 2 s at 30
  days x 1M records (full). Baseline: the plain table's DELETE of the same days' rows, one
  statement. background_drop_s: the DROP of the detached tables that follows, in a thread (no
  lock on office_record: pushes and reads go on).
- partition.ingest.pg: records/s of `ingest.ingest` (in process: the database's share of a push)
  from 10 kiosks' 500-record batches into today, after the purge (the days kept in place: an
  office's steady state, 28 days + the week ahead + the default partition). Baseline: the same
  into the plain table. Target: no slower (ratio >= 0.9, the run-to-run noise of this machine).
- partition.batch_cost.pg: ms of a 1-record push (in process, warm): the fixed cost every push
  pays, whatever its size (its round trips, its COMMIT's WAL flush), and per_record_ms from a
  500-record push: why few records a push are far from COPY (bench_office's quick k100: one
  100-record push per kiosk). Baseline: the plain table's.
- partition.report.pg: seconds of the day report for today (what the console's Today page and
  the report read). Baseline: the plain table's. Target: no slower (ratio <= 1.1).

Needs KAKOU_TEST_DATABASE_URL (else reported as skipped). One JSON object per line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tests.bench.output import emit

FULL = {"days": 30, "per_day": 1_000_000, "kiosks": 10, "batches": 20}
QUICK = {"days": 30, "per_day": 20_000, "kiosks": 10, "batches": 4}
RETENTION = 28
BATCH = 500
DAY_S = 86400.0
COLUMNS = (
    "record_id, kiosk_id, epoch, seq, kind, payload, payload_hash, device_time, corrected_time, received_at,"
    " time_quality, day, hlc, boot_id, mono_ns, clock_flag, versions, flags, direction, verdict, reasons, detail, ref"
)


PLAIN_TABLE = [
    "ALTER TABLE office_record RENAME TO office_record_partitioned",
    "ALTER INDEX ix_office_record_day_kiosk RENAME TO ix_office_record_day_kiosk_p",
    "ALTER INDEX ix_office_record_people RENAME TO ix_office_record_people_p",
    "ALTER TABLE office_record_partitioned RENAME CONSTRAINT office_record_pkey TO office_record_p_pkey",
    "ALTER TABLE office_record_partitioned RENAME CONSTRAINT uq_office_record_slot TO uq_office_record_slot_p",
    "CREATE TABLE office_record (LIKE office_record_partitioned INCLUDING DEFAULTS)",
    "DROP TABLE office_record_partitioned",
    "ALTER TABLE office_record ADD CONSTRAINT office_record_pkey PRIMARY KEY (record_id)",
    "ALTER TABLE office_record ADD CONSTRAINT uq_office_record_slot UNIQUE (kiosk_id, epoch, seq)",
    "CREATE INDEX ix_office_record_day_kiosk ON office_record (day, kiosk_id)",
    "CREATE INDEX ix_office_record_people ON office_record (kiosk_id, corrected_time)"
    " WHERE kind = 'registration' OR (kind = 'passage' AND ref IS NOT NULL)",
]


def _office(schema_url: str, partitioned: bool):
    """An office at the head; `partitioned=False`: its office_record made the plain table of 0022
    again (as the downgrade of 0023 makes it), so the same code runs against both."""
    from sync.office import lists as office_lists
    from sync.office.db import open_office_engine

    office_dir = Path(tempfile.mkdtemp(prefix="kakou-bench-partition-")) / "office"
    engine = open_office_engine(office_dir, schema_url)
    with engine.begin() as conn:
        office_lists.ensure_lists(conn)
        if not partitioned:
            for statement in PLAIN_TABLE:
                conn.exec_driver_sql(statement)
    return engine


def history_days(now: float, days: int) -> list[str]:
    """`days` days wholly past retention (the oldest first), then the kept ones up to yesterday."""
    first = dt.date.fromtimestamp(now - RETENTION * DAY_S) - dt.timedelta(days=days)
    return [(first + dt.timedelta(days=i)).isoformat() for i in range(days + RETENTION)]


def fill(engine, days: list[str], past: int, per_day: int) -> None:
    """`per_day` passages on each of the first `past` days (past retention) and a hundredth of
    that on each kept day, made by the server (generate_series); counted as the ingest would."""
    from sync.office import partitions

    partitions.ensure_days(engine, days)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for i, day in enumerate(days):
            n = per_day if i < past else max(1, per_day // 100)
            ts = time.mktime(dt.date.fromisoformat(day).timetuple()) + 43200
            cur.execute(
                f"INSERT INTO office_record ({COLUMNS}) SELECT 'h{i}-' || g, 'k' || (g %% 100), 1, %(base)s + g,"
                " 'passage', '{}', 'h', %(ts)s, %(ts)s, %(ts)s, 'anchored', %(day)s, g, 'b', g, '', '{}', '',"
                " CASE WHEN g %% 2 = 0 THEN 'in' ELSE 'out' END, 'allow', '[]', NULL, NULL"
                " FROM generate_series(1, %(n)s) AS g",
                {"base": i * 10_000_000, "ts": ts, "day": day, "n": n},
            )
            cur.execute(
                "INSERT INTO office_day_count (day, kiosk_id, kind, direction, verdict, reasons, detail, n)"
                " VALUES (%(day)s, 'k0', 'passage', 'in', 'allow', '[]', '', %(n)s)",
                {"day": day, "n": n},
            )
            raw.commit()
        cur.execute("ANALYZE office_record, office_day_count")  # this office's tables, not the whole database
        raw.commit()
    finally:
        raw.close()


def kiosks(engine, n: int, prefix: str = "卡口") -> list[str]:
    from nacl.signing import SigningKey

    from sync.office.enrol import add_checkpoint, enrol

    out = []
    for k in range(n):
        info = add_checkpoint(engine, f"{prefix}{k}", "幸福里社区")
        enrol(engine, info["code"], bytes(SigningKey.generate().verify_key).hex())
        out.append(info["kiosk_id"])
    return out


def batches(kiosk_ids: list[str], per_kiosk: int, now: float) -> list[tuple[str, object]]:
    from sync.schemas import PushBatch

    out = []
    for b in range(per_kiosk):
        for kid in kiosk_ids:
            records = []
            for s in range(b * BATCH + 1, (b + 1) * BATCH + 1):
                payload = json.dumps({"direction": "in" if s % 2 else "out", "verdict": "allow", "reasons": "[]"})
                records.append(
                    {
                        "record_id": str(uuid.uuid4()),
                        "seq": s,
                        "kind": "passage",
                        "payload": payload,
                        "payload_hash": hashlib.sha256(payload.encode()).hexdigest(),
                        "wall_time": now,
                        "hlc": s,
                        "boot_id": "boot",
                        "mono_ns": s,
                        "clock_flag": "",
                        "versions": "{}",
                    }
                )
            doc = {
                "batch_id": uuid.uuid4().hex,
                "epoch": 1,
                "anchor": {"boot_id": "boot", "mono_ns": 10**12, "wall": now},
            }
            out.append((kid, PushBatch(**doc, records=records)))
    return out


def ingest_rate(engine, work: list[tuple[str, object]]) -> float:
    from sync.office.ingest import ingest

    t = time.perf_counter()
    for kid, batch in work:
        ingest(engine, kid, batch)  # type: ignore[arg-type]
    return len(work) * BATCH / (time.perf_counter() - t)


def batch_costs(engine, kiosk_id: str, now: float, first_seq: int, rounds: int = 15) -> tuple[float, float]:
    """Median ms of a 1-record and of a 500-record push (in process, warm): a push's fixed cost
    (its round trips and its COMMIT's WAL flush) and, from the two, its cost per record."""
    from sync.office.ingest import ingest
    from sync.schemas import PushBatch

    seq = first_seq
    medians = []
    for n in (1, BATCH):
        times = []
        for _ in range(rounds):
            records = []
            for _ in range(n):
                seq += 1
                payload = json.dumps({"direction": "in", "verdict": "allow", "reasons": "[]"})
                records.append(
                    {
                        "record_id": str(uuid.uuid4()),
                        "seq": seq,
                        "kind": "passage",
                        "payload": payload,
                        "payload_hash": hashlib.sha256(payload.encode()).hexdigest(),
                        "wall_time": now,
                        "hlc": seq,
                        "boot_id": "boot",
                        "mono_ns": seq,
                        "clock_flag": "",
                        "versions": "{}",
                    }
                )
            batch = PushBatch(
                batch_id=uuid.uuid4().hex,
                epoch=1,
                anchor={"boot_id": "boot", "mono_ns": 10**12, "wall": now},
                records=records,
            )
            t = time.perf_counter()
            ingest(engine, kiosk_id, batch)
            times.append(time.perf_counter() - t)
        medians.append(statistics.median(times) * 1000)
    fixed, full = medians
    return fixed, (full - fixed) / (BATCH - 1)


def report_s(engine, day: dt.date) -> float:
    from sync.office.report import day_report

    day_report(engine, day)  # warm, as an office that runs all day would be
    times = []
    for _ in range(5):
        t = time.perf_counter()
        day_report(engine, day)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def count(engine, where: str = "") -> int:
    from sqlalchemy import text

    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM office_record {where}")).scalar() or 0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    parser.add_argument("--per-day", type=int, default=None, help="records on each day past retention")
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else FULL)
    if args.per_day:
        sizes["per_day"] = args.per_day
    names = ("partition.purge.pg", "partition.ingest.pg", "partition.batch_cost.pg", "partition.report.pg")
    wanted = [n for n in names if not args.only or args.only in n]
    if not wanted:
        return 0
    from tests.bench.bench_office import pg_schema

    schemas = [pg_schema(), pg_schema()]
    if schemas[0] is None:
        for name in wanted:
            emit(name, None, "s", skipped="KAKOU_TEST_DATABASE_URL not set")
        return 0
    from sync.office import partitions, sealed

    engines = []
    try:
        now = time.time()
        days = history_days(now, sizes["days"])
        past, per_day = sizes["days"], sizes["per_day"]
        engines = [_office(schemas[0].url, True), _office(schemas[1].url, False)]
        for engine in engines:
            fill(engine, days, past, per_day)
        sized = {"days_past": past, "per_day": per_day, "days_kept": RETENTION}
        if "partition.purge.pg" in wanted:
            first_kept = days[past]
            before = count(engines[0])
            t = time.perf_counter()
            result = sealed.purge(engines[0], older_than_days=RETENTION, now=now)
            purge_s = time.perf_counter() - t
            # The detached days' files, dropped after the purge returned (sync/office/partitions.py).
            partitions.wait_for_drops()
            drop_s = time.perf_counter() - t - purge_s
            assert result.dropped_days == days[:past], result.dropped_days
            assert count(engines[0]) == before - past * per_day
            raw = engines[1].raw_connection()
            try:
                t = time.perf_counter()
                raw.cursor().execute("DELETE FROM office_record WHERE day < %(d)s", {"d": first_kept})
                raw.commit()
                delete_s = time.perf_counter() - t
            finally:
                raw.close()
            assert count(engines[1]) == count(engines[0])
            emit(
                "partition.purge.pg",
                purge_s,
                "s",
                baseline=delete_s,
                target="<=2" if not args.quick else None,
                met=purge_s <= 2.0,
                sizes=sized | {"records_purged": past * per_day},
                background_drop_s=round(drop_s, 3),
                baseline_is="DELETE of the same days' rows from the unpartitioned table",
            )
        if "partition.ingest.pg" in wanted:
            rates = []
            for engine in engines:
                ids = kiosks(engine, sizes["kiosks"])
                rates.append(ingest_rate(engine, batches(ids, sizes["batches"], now)))
            emit(
                "partition.ingest.pg",
                rates[0],
                "records/s",
                baseline=rates[1],
                target=None,
                met=rates[0] >= 0.9 * rates[1],
                sizes=sized
                | {"kiosks": sizes["kiosks"], "batch": BATCH, "records": sizes["kiosks"] * sizes["batches"] * BATCH},
                baseline_is="the same ingest into the unpartitioned table (0022)",
            )
        if "partition.batch_cost.pg" in wanted:
            # The same kiosks as the ingest above (their first seqs are taken): a fresh one each.
            costs = [batch_costs(engine, kiosks(engine, 1, "测速卡口")[0], now, 0) for engine in engines]
            emit(
                "partition.batch_cost.pg",
                costs[0][0],
                "ms",
                baseline=costs[1][0],
                per_record_ms=round(costs[0][1], 4),
                per_record_ms_baseline=round(costs[1][1], 4),
                sizes=sized | {"batch": BATCH},
                baseline_is="the same pushes into the unpartitioned table (0022)",
                note="value: a 1-record push (the fixed cost of any push); per_record_ms: from a 500-record push",
            )
        if "partition.report.pg" in wanted:
            got = [report_s(engine, dt.date.today()) for engine in engines]
            emit(
                "partition.report.pg",
                got[0],
                "s",
                baseline=got[1],
                met=got[0] <= 1.1 * got[1] or got[0] - got[1] < 0.002,
                sizes=sized,
                baseline_is="the day report over the unpartitioned table (0022)",
            )
    finally:
        for engine in engines:
            engine.dispose()
        for schema in schemas:
            if schema is not None:
                schema.drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
