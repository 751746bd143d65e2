"""Office benchmarks: ingest at 1 / 10 / 100 kiosks on SQLite and PostgreSQL, and the day report.

    python -m tests.bench.bench_office [--quick] [--only SUBSTRING] [--workers N]

- office.ingest.<backend>.k<N>: records/s end to end (HTTP, gzip, Ed25519 signature, JSON,
  insert, COMMIT before the answer) from N kiosks pushing at once into `kakou office serve`
  in its own process(es); each kiosk sends its 500-record batches in order, one at a time, as
  the real pusher does. Baseline: a raw bulk insert of the same rows into the same table in
  the same run (PostgreSQL: COPY; SQLite: one executemany in one transaction), so ratio =
  ingest / raw. PostgreSQL is measured with 1 and 2 uvicorn workers (this machine: 2 cores).
  (The ingest COPYs in binary, the baseline in text: the same work for PostgreSQL, which is
  what bounds the baseline, so the yardstick is what it was.) PostgreSQL also reports
  copy_per_push: the same rows COPYed in the pushes' shape (one COPY + COMMIT per batch, 16
  connections at once), and ratio_per_push = ingest / that: how much of the gap is the
  transaction count (each answered push is one durable COMMIT) rather than the ingest's code.
- office.report.pg (only with `--only office.report`; `python -m tests.bench` measures it once,
  as sync.office_report_pg in bench_sync, with this harness): the day report for 1,000
  checkpoints x 2,000 passages, target < 2 s.

PostgreSQL parts need KAKOU_TEST_DATABASE_URL (else reported as skipped). One JSON object per
line: name, value, unit, baseline, ratio, target, sizes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.bench.output import emit

BATCH = 500  # what the kiosk sends (sync.kiosk), well under the office's caps
FULL = {
    "ingest_records": 200_000,
    "sqlite_records": 100_000,
    "kiosks": (1, 10, 100),
    "workers": (1, 2),
    "report_kiosks": 1000,
    "report_passages": 2000,
}
QUICK = {
    "ingest_records": 10_000,
    "sqlite_records": 5_000,
    "kiosks": (1, 10, 100),
    "workers": (2,),
    "report_kiosks": 100,
    "report_passages": 2000,
}
INGEST_TARGET = ">20000"
# A gate's passages 10 ms apart, up to the anchor (today); each pass used twice (out, then in). One
# pass at one instant for every record (as this workload once was) is no street's day, and the
# pass-out-twice look-up (sync/office/alerts.py) then reads every passage of that pass and
# instant the office holds, for each one going out: each push slower than the one before.
PASSAGE_NS = 10_000_000


def pg_schema():
    from tests.sync.helpers import PgSchema

    base = os.environ.get("KAKOU_TEST_DATABASE_URL")
    return PgSchema(base) if base else None


class Workload:
    """Signed, gzipped push requests from `kiosks` enrolled checkpoints, plus the same rows as
    the office would store them (for the raw baseline, under other ids so they never collide)."""

    def __init__(self, engine, n_records: int, kiosks: int):
        from nacl.signing import SigningKey

        from models.outbox import canonical_json, payload_hash, uuid7
        from sync import signing
        from sync.office import lists as office_lists
        from sync.office.enrol import add_checkpoint, enrol
        from sync.office.ingest import RECORD_COLUMNS, build_row
        from sync.schemas import OutboxItem

        with engine.begin() as conn:
            office_lists.ensure_lists(conn)
        now = time.time()
        per = max(1, n_records // kiosks)
        self.by_kiosk: list[list[tuple[bytes, dict]]] = []
        self.raw_rows: list[tuple] = []
        self.columns = RECORD_COLUMNS
        for k in range(kiosks):
            key = SigningKey.generate()
            info = add_checkpoint(engine, f"卡口{k}", "幸福里社区")
            enrol(engine, info["code"], bytes(key.verify_key).hex())
            kid = info["kiosk_id"]
            requests = []
            for start in range(0, per, BATCH):
                records = []
                for seq in range(start + 1, min(per, start + BATCH) + 1):
                    rid = uuid7(int(now * 1000))
                    p = canonical_json(
                        {
                            "direction": "in" if seq % 2 else "out",
                            "verdict": "allow",
                            "reasons": "[]",
                            "subject": "pass",
                            "pass_id": f"{k:08x}{seq // 2:024x}",  # a resident's pass: out, then back in
                            "unit_code": "3-2-501",
                            "temp_raw": "365",
                            "temp_value": 36.5,
                            "volunteer_id": 1,
                            "record_id": rid,
                            "kind": "passage",
                        }
                    )
                    records.append(
                        {
                            "record_id": rid,
                            "seq": seq,
                            "kind": "passage",
                            "payload": p,
                            "payload_hash": payload_hash(p),
                            "wall_time": now,
                            "hlc": seq,
                            "boot_id": "boot",
                            "mono_ns": seq * PASSAGE_NS,
                            "clock_flag": "",
                            "versions": "{}",
                        }
                    )
                doc = {
                    "batch_id": uuid.uuid4().hex,
                    "epoch": 1,
                    "anchor": {"boot_id": "boot", "mono_ns": (per + 1) * PASSAGE_NS, "wall": now},
                    "records": records,
                }
                body = gzip.compress(json.dumps(doc).encode(), compresslevel=1)
                # A stamped request id, rising per kiosk, as the kiosk sends it (sync/office/replay.py).
                request_id = signing.request_id_for(int(now * 1000) + start)
                headers = signing.sign_request(key, kid, 1, request_id, body)
                headers.update({"Content-Encoding": "gzip", "Content-Type": "application/json"})
                requests.append((body, headers))
                for r in records:
                    row = build_row("raw-" + kid[:32], 1, OutboxItem(**r), None, now)
                    row["record_id"] = "r" + r["record_id"][1:]
                    self.raw_rows.append(tuple(row[c] for c in RECORD_COLUMNS))
            self.by_kiosk.append(requests)
        self.records = len(self.raw_rows)


def serve(office_dir: Path, database_url: str | None, workers: int):
    import httpx

    from tests.sync.helpers import free_port

    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "tui.cli",
        "office",
        "serve",
        "--office-dir",
        str(office_dir),
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    if database_url:
        cmd += ["--database-url", database_url]
    # 100 kiosks at once: let them all in rather than measure the 429 back-off.
    proc = subprocess.Popen(
        cmd,
        env=dict(os.environ, KAKOU_OFFICE_MAX_INFLIGHT="128"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/v1/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError("office server did not start")


def push_all(url: str, workload: Workload) -> float:
    """Seconds to push every kiosk's batches, the kiosks at once, each kiosk's in order."""
    import httpx

    def one_kiosk(batches):
        with httpx.Client(base_url=url, timeout=120) as http:
            for body, headers in batches:
                for _attempt in range(600):  # bounded: a stuck office fails the bench, never hangs it
                    r = http.post("/v1/push", content=body, headers=headers)
                    if r.status_code == 200:
                        break
                    time.sleep(0.05)
                else:
                    raise RuntimeError(f"push kept failing: {r.status_code} {r.text[:200]}")

    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(workload.by_kiosk)) as pool:
        list(pool.map(one_kiosk, workload.by_kiosk))
    return time.perf_counter() - t


def raw_insert(engine, workload: Workload) -> float:
    """The raw operation underneath: the same rows, same table, one bulk statement."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        t = time.perf_counter()
        if engine.dialect.name == "postgresql":
            with cur.copy(f"COPY office_record ({', '.join(workload.columns)}) FROM STDIN") as copy:
                for row in workload.raw_rows:
                    copy.write_row(row)
        else:
            cur.execute("BEGIN IMMEDIATE")
            cur.executemany(
                f"INSERT INTO office_record ({', '.join(workload.columns)}) VALUES "
                f"({', '.join('?' for _ in workload.columns)})",
                workload.raw_rows,
            )
        raw.commit()
        return time.perf_counter() - t
    finally:
        raw.close()


def raw_per_push(engine, workload: Workload, connections: int = 16) -> float:
    """The same rows COPYed in the pushes' shape: one COPY and one COMMIT per 500-record batch,
    each kiosk's batches in order, at most `connections` at once (the office's pool per worker
    is 8 + 8). What the database alone needs for the ingest's transactions: the floor under
    the ingest's fixed cost per push (its COMMIT's WAL flush), which one COPY of every row in
    one transaction (the baseline) pays once."""
    cols = ", ".join(workload.columns)
    # Each kiosk's rows (contiguous in raw_rows) in its batches, under other ids and kiosks again: the
    # baseline's own rows are in the table already.
    rows = [("p" + r[0][1:], "p" + r[1][1:], *r[2:]) for r in workload.raw_rows]  # record id, kiosk id
    each = len(rows) // len(workload.by_kiosk)
    by_kiosk = [
        [rows[i : min(i + BATCH, k + each)] for i in range(k, k + each, BATCH)] for k in range(0, len(rows), each)
    ]

    def one_kiosk(batches):
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            for batch in batches:
                with cur.copy(f"COPY office_record ({cols}) FROM STDIN") as copy:
                    for row in batch:
                        copy.write_row(row)
                raw.commit()
        finally:
            raw.close()

    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=min(connections, len(by_kiosk))) as pool:
        list(pool.map(one_kiosk, by_kiosk))
    return time.perf_counter() - t


def stored_count(engine) -> int:
    from sqlalchemy import text

    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM office_record")).scalar()
        conn.rollback()
    return int(n)


def ingest_once(backend: str, n_records: int, kiosks: int, workers: int) -> dict | None:
    from sync.office.db import open_office_engine
    from sync.office.keys import OfficeKeys

    schema = None
    url = None
    if backend == "pg":
        schema = pg_schema()
        if schema is None:
            return None
        url = schema.url
    tmp = Path(tempfile.mkdtemp(prefix="kakou-bench-office-"))
    engine = open_office_engine(tmp / "office", url)
    # The office's keys before its kiosks enrol, as `kakou office init` makes them: `serve` refuses
    # a database of enrolled kiosks beside a directory without keys (a mistyped --office-dir).
    OfficeKeys(tmp / "office")
    proc = None
    try:
        workload = Workload(engine, n_records, kiosks)
        proc, base = serve(tmp / "office", url, workers)
        ingest_s = push_all(base, workload)
        stored = stored_count(engine)
        assert stored == workload.records, (stored, workload.records)
        raw_s = raw_insert(engine, workload)
        got = {"value": workload.records / ingest_s, "baseline": workload.records / raw_s, "records": workload.records}
        if backend == "pg":
            got["per_push"] = workload.records / raw_per_push(engine, workload)
        return got
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        engine.dispose()
        if schema is not None:
            schema.drop()


def bench_ingest(sizes, only: str, workers_override: int | None, quick: bool = False):
    for backend in ("sqlite", "pg"):
        workers_list = (1,) if backend == "sqlite" else ((workers_override,) if workers_override else sizes["workers"])
        n = sizes["sqlite_records"] if backend == "sqlite" else sizes["ingest_records"]
        for workers in workers_list:
            for kiosks in sizes["kiosks"]:
                name = f"office.ingest.{backend}.k{kiosks}" + (f".w{workers}" if backend == "pg" else "")
                if only and only not in name:
                    continue
                got = ingest_once(backend, n, kiosks, workers)
                if got is None:
                    emit(name, None, "records/s", target=INGEST_TARGET, skipped="KAKOU_TEST_DATABASE_URL not set")
                    continue
                emit(
                    name,
                    got["value"],
                    "records/s",
                    baseline=got["baseline"],
                    # At --quick sizes a kiosk sends one small batch: a smoke figure, not the target's.
                    target=INGEST_TARGET if backend == "pg" and not quick else None,
                    sizes={"records": got["records"], "kiosks": kiosks, "batch": BATCH, "workers": workers},
                    **(
                        {
                            "copy_per_push": round(got["per_push"], 1),
                            "ratio_per_push": round(got["value"] / got["per_push"], 3),
                        }
                        if "per_push" in got
                        else {}
                    ),
                    baseline_is="COPY of the same rows into office_record"
                    if backend == "pg"
                    else "executemany of the same rows into office_record, one transaction",
                )


def fill_report_day(engine, kiosks: int, per: int, day: dt.date) -> None:
    """A day of `kiosks` checkpoints x `per` passages, one in fifty checkpoints silent, COPYed
    into office_record, then counted once as the ingest would have counted them."""
    from sync.office.ingest import RECORD_COLUMNS

    now = time.time()
    reasons = ["[]", "[]", "[]", "[]", '["quarantined"]', '["revoked"]', '["expired","outside_hours"]']
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy(
            "COPY office_kiosk (kiosk_id, name, community, status, created_at, last_seen, last_push,"
            " backlog, list_versions, max_epoch) FROM STDIN"
        ) as copy:
            for k in range(kiosks):
                seen = None if k % 50 == 0 else now
                copy.write_row((f"k{k:05d}", f"卡口{k}", f"社区{k // 10}", "active", now, seen, seen, 0, "{}", 1))
        with cur.copy(f"COPY office_record ({', '.join(RECORD_COLUMNS)}) FROM STDIN") as copy:
            for k in range(kiosks):
                if k % 50 == 0:
                    continue
                for s in range(1, per + 1):
                    rs = reasons[s % len(reasons)]
                    copy.write_row(
                        (
                            f"{k:06d}-{s:07d}",
                            f"k{k:05d}",
                            1,
                            s,
                            "passage",
                            "{}",
                            "h",
                            now,
                            now,
                            now,
                            "anchored",
                            day.isoformat(),
                            s,
                            "b",
                            s,
                            "",
                            "{}",
                            "",
                            "in" if s % 2 else "out",
                            "allow" if rs == "[]" else "deny",
                            rs,
                            None,
                            None,
                        )
                    )
        raw.commit()
    finally:
        raw.close()
    from sync.office.report import recount_days

    recount_days(engine, day)
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def bench_report(sizes, only: str, name: str = "office.report.pg"):
    from sync.office.db import open_office_engine
    from sync.office.report import day_report

    if only and only not in name:
        return
    schema = pg_schema()
    if schema is None:
        emit(name, None, "s", target="<2", skipped="KAKOU_TEST_DATABASE_URL not set")
        return
    tmp = Path(tempfile.mkdtemp(prefix="kakou-bench-office-"))
    engine = open_office_engine(tmp / "office", schema.url)
    kiosks, per = sizes["report_kiosks"], sizes["report_passages"]
    day = dt.date.today()
    try:
        fill_report_day(engine, kiosks, per, day)
        day_report(engine, day)  # warm, as an office that runs all day would be
        times = []
        for _ in range(3):
            t = time.perf_counter()
            rep = day_report(engine, day)
            times.append(time.perf_counter() - t)
        silent = (kiosks + 49) // 50
        assert len(rep["not_reported"]) == silent, len(rep["not_reported"])
        assert rep["totals"]["records"] == (kiosks - silent) * per, rep["totals"]["records"]
        emit(
            name,
            statistics.median(times),
            "s",
            target="<2",
            sizes={"checkpoints": kiosks, "passages_each": per, "rows": (kiosks - silent) * per},
        )
    finally:
        engine.dispose()
        schema.drop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    parser.add_argument("--workers", type=int, default=None, help="PostgreSQL: only this many uvicorn workers")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    bench_ingest(sizes, args.only, args.workers, args.quick)
    if args.only and args.only in "office.report.pg":  # the report runs in bench_sync; here on request
        bench_report(sizes, "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
