"""Sync benchmarks: backlog drain, office ingest on PostgreSQL, office day report on PostgreSQL.

    python -m tests.bench.bench_sync [--quick] [--only SUBSTRING]

- sync.drain_100k: a kiosk with 100k unsynced records drains to an office (SQLite, its own
  process, loopback) - target < 20 s; plus the duty desk's passage commit latency (p50, p99)
  measured while the drain runs, with the same measurement on an idle kiosk as baseline.
- sync.office_ingest_pg: records/s end to end (HTTP, gzip, signature, insert) from several
  kiosks at once into `kakou office serve --workers 2` on PostgreSQL; baseline: COPY of the
  same rows into the same table in the same run (ratio = ingest / raw; aim above 0.5).
- sync.office_report_pg: the day report for 1,000 checkpoints x 2,000 passages - target < 2 s.

PostgreSQL parts need KAKOU_TEST_DATABASE_URL (else reported as skipped). One JSON object per line.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

FULL = {"backlog": 100_000, "ingest_records": 200_000, "ingest_kiosks": 8, "report_kiosks": 1000, "report_passages": 2000}
QUICK = {"backlog": 20_000, "ingest_records": 40_000, "ingest_kiosks": 4, "report_kiosks": 200, "report_passages": 2000}


def emit(name, value, unit, *, baseline=None, target=None, sizes=None, **extra):
    ratio = round(value / baseline, 3) if value is not None and baseline else None
    line = {"name": name, "value": None if value is None else round(value, 3), "unit": unit,
            "baseline": None if baseline is None else round(baseline, 3), "ratio": ratio, "target": target,
            "sizes": sizes or {}}
    line.update(extra)
    print(json.dumps(line, ensure_ascii=False), flush=True)


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def commit_latencies(store, stop: threading.Event, out: list, limit: int = 2000):
    from models.facts import record_passage
    from models.verdict import Verdict

    while not stop.is_set() and len(out) < limit:
        t = time.perf_counter()
        record_passage(store, "in", Verdict("allow", ()), subject="unknown")
        out.append(time.perf_counter() - t)
        time.sleep(0.02)  # a busy gate: 50 passages a second


def bench_drain(sizes):
    import httpx

    from models.store import KioskStore
    from sync.kiosk import SyncService
    from sync.office.db import open_office_engine
    from sync.office.enrol import add_checkpoint
    from sync.kiosk import enroll
    from tests.sync.helpers import bulk_passages, free_port, serve_office

    n = sizes["backlog"]
    tmp = Path(tempfile.mkdtemp(prefix="kakou-bench-"))
    engine = open_office_engine(tmp / "office")
    code = add_checkpoint(engine, "东门卡口", "幸福里社区")["code"]
    port = free_port()
    proc = serve_office(tmp / "office", port)
    try:
        store = KioskStore.open(tmp / "k")
        enroll(store, f"http://127.0.0.1:{port}", code)
        idle: list[float] = []
        commit_latencies(store, threading.Event(), idle, limit=150)
        service = SyncService(store, client=httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60))
        service.run_once()  # the idle passages
        bulk_passages(store, n)
        stop = threading.Event()
        during: list[float] = []
        desk = threading.Thread(target=commit_latencies, args=(store, stop, during))
        desk.start()
        t = time.perf_counter()
        rounds = 0
        while rounds < 20:
            rounds += 1
            r = service.run_once()
            if r.ok and r.remaining <= len(during) and r.pushed >= n:
                break
        elapsed = time.perf_counter() - t
        stop.set()
        desk.join()
        emit("sync.drain_100k", elapsed, "s", target="<20", sizes={"records": n},
             records_per_s=round(n / elapsed))
        emit("sync.passage_commit_p50_during_drain", pct(during, 0.5), "ms", baseline=pct(idle, 0.5),
             sizes={"commits": len(during)})
        emit("sync.passage_commit_p99_during_drain", pct(during, 0.99), "ms", baseline=pct(idle, 0.99),
             sizes={"commits": len(during)})
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        engine.dispose()


def _pg_schema():
    from tests.sync.helpers import PgSchema

    base = os.environ.get("KAKOU_TEST_DATABASE_URL")
    return PgSchema(base) if base else None


def bench_ingest(sizes):
    import httpx
    from nacl.signing import SigningKey

    from models.outbox import canonical_json, payload_hash, uuid7
    from sync import signing
    from sync.office.db import open_office_engine
    from sync.office.enrol import add_checkpoint, enrol
    from sync.office.ingest import RECORD_COLUMNS, build_row
    from sync.schemas import OutboxItem
    from tests.sync.helpers import free_port

    schema = _pg_schema()
    if schema is None:
        emit("sync.office_ingest_pg", None, "records/s", target=">20000", skipped="KAKOU_TEST_DATABASE_URL not set")
        return
    tmp = Path(tempfile.mkdtemp(prefix="kakou-bench-"))
    engine = open_office_engine(tmp / "office", schema.url)
    from sync.office import lists as office_lists

    with engine.begin() as conn:
        office_lists.ensure_lists(conn)
    n, kiosks = sizes["ingest_records"], sizes["ingest_kiosks"]
    per = n // kiosks
    now = time.time()
    requests, raw_rows = [], []
    for k in range(kiosks):
        key = SigningKey.generate()
        info = add_checkpoint(engine, f"卡口{k}", "幸福里社区")
        enrol(engine, info["code"], bytes(key.verify_key).hex())
        kid = info["kiosk_id"]
        for start in range(0, per, 500):
            records = []
            for seq in range(start + 1, min(per, start + 500) + 1):
                rid = uuid7(int(now * 1000))
                p = canonical_json({"direction": "in", "verdict": "allow", "reasons": "[]", "subject": "pass",
                                    "pass_id": "ab" * 16, "unit_code": "3-2-501", "temp_raw": "365", "temp_value": 36.5,
                                    "volunteer_id": 1, "record_id": rid, "kind": "passage"})
                records.append({"record_id": rid, "seq": seq, "kind": "passage", "payload": p, "payload_hash": payload_hash(p),
                                "wall_time": now, "hlc": seq, "boot_id": "boot", "mono_ns": seq, "clock_flag": "",
                                "versions": "{}"})
            doc = {"batch_id": uuid.uuid4().hex, "epoch": 1, "anchor": {"boot_id": "boot", "mono_ns": 10**12, "wall": now},
                   "records": records}
            body = gzip.compress(json.dumps(doc).encode(), compresslevel=1)
            headers = signing.sign_request(key, kid, 1, uuid.uuid4().hex, body)
            headers.update({"Content-Encoding": "gzip", "Content-Type": "application/json"})
            requests.append((kid, body, headers))
            # The same rows for the raw baseline, under another kiosk id so they do not collide.
            for r in records:
                row = build_row("raw-" + kid[:32], 1, OutboxItem(**r), None, now)
                row["record_id"] = "r" + r["record_id"][1:]
                raw_rows.append(tuple(row[c] for c in RECORD_COLUMNS))
    port = free_port()
    import subprocess

    proc = subprocess.Popen([sys.executable, "-m", "tui.cli", "office", "serve", "--office-dir", str(tmp / "office"),
                             "--database-url", schema.url, "--port", str(port), "--workers", "2"],
                            env=dict(os.environ, KAKOU_OFFICE_MAX_INFLIGHT="64"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(url + "/v1/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    try:
        by_kiosk: dict[str, list] = {}
        for kid, body, headers in requests:
            by_kiosk.setdefault(kid, []).append((body, headers))

        def push_all(batches):
            with httpx.Client(base_url=url, timeout=120) as http:
                for body, headers in batches:  # each kiosk sends its batches in order, one at a time
                    for _attempt in range(100):
                        r = http.post("/v1/push", content=body, headers=headers)
                        if r.status_code == 200:
                            break
                        time.sleep(0.05)
                    else:
                        raise RuntimeError(r.text)

        t = time.perf_counter()
        with ThreadPoolExecutor(max_workers=kiosks) as pool:
            list(pool.map(push_all, by_kiosk.values()))
        ingest_s = time.perf_counter() - t
        with engine.connect() as conn:
            from sqlalchemy import text

            stored = conn.execute(text("SELECT count(*) FROM office_record")).scalar()
            conn.rollback()
        assert stored == len(raw_rows), (stored, len(raw_rows))
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            t = time.perf_counter()
            with cur.copy(f"COPY office_record ({', '.join(RECORD_COLUMNS)}) FROM STDIN") as copy:
                for row in raw_rows:
                    copy.write_row(row)
            raw.commit()
            raw_s = time.perf_counter() - t
        finally:
            raw.close()
        emit("sync.office_ingest_pg", len(raw_rows) / ingest_s, "records/s", baseline=len(raw_rows) / raw_s,
             target=">20000", sizes={"records": len(raw_rows), "kiosks": kiosks, "batch": 500, "workers": 2},
             baseline_is="COPY of the same rows into office_record")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        engine.dispose()
        schema.drop()


def bench_report(sizes):
    import datetime as dt

    from sync.office.db import open_office_engine
    from sync.office.ingest import RECORD_COLUMNS
    from sync.office.report import day_report

    schema = _pg_schema()
    if schema is None:
        emit("sync.office_report_pg", None, "s", target="<2", skipped="KAKOU_TEST_DATABASE_URL not set")
        return
    tmp = Path(tempfile.mkdtemp(prefix="kakou-bench-"))
    engine = open_office_engine(tmp / "office", schema.url)
    kiosks, per = sizes["report_kiosks"], sizes["report_passages"]
    day = dt.date.today()
    now = time.time()
    try:
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            with cur.copy("COPY office_kiosk (kiosk_id, name, community, status, created_at, last_seen, last_push,"
                          " backlog, list_versions, max_epoch) FROM STDIN") as copy:
                for k in range(kiosks):
                    if k % 50:  # one checkpoint in fifty stays silent
                        copy.write_row((f"k{k:05d}", f"卡口{k}", f"社区{k // 10}", "active", now, now, now, 0, "{}", 1))
                    else:
                        copy.write_row((f"k{k:05d}", f"卡口{k}", f"社区{k // 10}", "active", now, None, None, 0, "{}", 1))
            reasons = ['[]', '[]', '[]', '[]', '["quarantined"]', '["revoked"]', '["expired","outside_hours"]']
            with cur.copy(f"COPY office_record ({', '.join(RECORD_COLUMNS)}) FROM STDIN") as copy:
                for k in range(kiosks):
                    if not k % 50:
                        continue
                    for s in range(1, per + 1):
                        rs = reasons[s % len(reasons)]
                        copy.write_row((f"{k:06d}-{s:07d}", f"k{k:05d}", 1, s, "passage", "{}", "h", now, now, now,
                                        "anchored", day.isoformat(), s, "b", s, "", "{}", "",
                                        "in" if s % 2 else "out", "allow" if rs == "[]" else "deny", rs, None, None))
            raw.commit()
            cur.execute("ANALYZE office_record")
            raw.commit()
        finally:
            raw.close()
        day_report(engine, day)  # warm the cache once, as an office that runs all day would be
        times = []
        for _ in range(3):
            t = time.perf_counter()
            rep = day_report(engine, day)
            times.append(time.perf_counter() - t)
        assert len(rep["not_reported"]) == (kiosks + 49) // 50
        emit("sync.office_report_pg", statistics.median(times), "s", target="<2",
             sizes={"checkpoints": kiosks, "passages_each": per, "rows": (kiosks - (kiosks + 49) // 50) * per})
    finally:
        engine.dispose()
        schema.drop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    for name, fn in (("sync.drain", bench_drain), ("sync.office_ingest", bench_ingest), ("sync.office_report", bench_report)):
        if args.only and args.only not in name:
            continue
        fn(sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
