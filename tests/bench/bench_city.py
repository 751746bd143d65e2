"""The office at city scale (issue 17), on PostgreSQL: a day of every gate of a city pushed
through the real API, on top of a month of history, and the console's pages on the result.

GATES enrolled checkpoints (ten to a community), HISTORY_DAYS days of PER_DAY records each
bulk-loaded by the server (tests/bench/fixtures.py fill_records_pg, days 1..HISTORY_DAYS back,
counted with `report.recount_days`), then today's PER_DAY records of every gate ingested the way
kiosks send them: signed, gzipped 500-record pushes over HTTP to a real `kakou office serve`
(uvicorn, WORKERS processes), AT_ONCE kiosks pushing concurrently (threads), each kiosk's
batches in order, one at a time. Then, on the filled office (after an ANALYZE, as autovacuum
would do within a minute):

- city.ingest_records_per_s   today's records / seconds from the first push to the last answer;
                              baseline: COPY of the same rows (a sample of the gates', under
                              other ids) into office_record in the same run
- city.day_report_ms          `report.day_report` for today, judged at its last second (who is still
                              inside computed), target 2 s; baseline: its day-count SELECT
- city.today_page_ms          GET /?day=today, logged in as the street, target 300 ms; baseline: the day report
- city.filtered_page_ms       GET /records/passages for one gate, out, denied, the whole month,
                              target 300 ms; baseline: the page's own SELECT (same WHERE, ORDER BY, LIMIT)
- city.first_page_ms          GET /records/passages (the last week, every gate), same baseline kind

Server times (TestClient in-process), median of N. Full: 1,000 gates x 2,000 a day, 30 days of
history (62M records: the history alone would load for most of an hour on a 2-core box, estimated);
`--quick`: 50 x 200, 3 days. `--history-days`, `--gates`, `--per-day`, `--at-once` override.
Needs KAKOU_TEST_DATABASE_URL (else every line is reported as skipped).

`python -m tests.bench.bench_city [--quick] [--only NAME]`
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import signal
import tempfile
import time
import uuid
import warnings
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.bench.fixtures import median_ms, plain_records_page
from tests.bench.output import emit

BATCH = 500  # what the kiosk sends (sync.kiosk)
ANCHOR_MONO_NS = 10**15  # the boot's monotonic clock at the anchor: records are before it
NAMES = (
    "city.ingest_records_per_s",
    "city.day_report_ms",
    "city.today_page_ms",
    "city.filtered_page_ms",
    "city.first_page_ms",
)
TARGETS = {
    "city.ingest_records_per_s": ">20000",
    "city.day_report_ms": "<2000",
    "city.today_page_ms": "<300",
    "city.filtered_page_ms": "<300",
    "city.first_page_ms": "<300",
}


def _record(seq: int, n: int, at: float, now: float) -> dict[str, Any]:
    """Record n (1-based) of a gate's day: one in forty a registration, one in seven passages
    denied (quarantined, or every other one a revoked pass), in and out by turns."""
    from models.outbox import canonical_json, payload_hash, uuid7

    rid = uuid7(int(at * 1000), n & 0xFFFF)
    unit = f"{n % 30 + 1}-{n % 6 + 1}-{101 + n % 12 * 100}"
    if n % 40 == 0:
        kind = "registration"
        body: dict[str, Any] = {"kind": "courier", "direction": "in", "to_unit": unit, "name": "", "phone": ""}
    else:
        kind = "passage"
        deny = n % 7 == 0
        reasons = ('["revoked"]' if n % 14 == 0 else '["quarantined"]') if deny else "[]"
        body = {
            "direction": "in" if n % 2 else "out",
            "verdict": "deny" if deny else "allow",
            "reasons": reasons,
            "subject": "pass",
            "pass_id": f"{n % 600:032x}",  # 600 residents, in and out a few times a day
            "pass_kind": 1,
            "unit_code": unit,
            "temp_raw": "365",
            "temp_value": 36.5,
            "volunteer_id": 1,
        }
    text = canonical_json(dict(body, record_id=rid, kind=kind))
    return {
        "record_id": rid,
        "seq": seq,
        "kind": kind,
        "payload": text,
        "payload_hash": payload_hash(text),
        "wall_time": at,
        "hlc": seq,
        "boot_id": "boot",
        "mono_ns": ANCHOR_MONO_NS - int((now - at) * 1e9),
        "clock_flag": "",
        "versions": "{}",
    }


def _gate_pushes(job: tuple[str, bytes, int, int, float, float, float, bool]) -> tuple[list[Any], list[Any]]:
    """One gate's day as signed, gzipped push requests (body, headers), and, when asked, its
    records as the office stores them (for the COPY baseline). Runs in a worker process."""
    from nacl.signing import SigningKey

    from sync import signing
    from sync.office.ingest import RECORD_COLUMNS, build_row
    from sync.schemas import OutboxItem

    kiosk_id, seed, first_seq, per_day, start, end, now, keep_rows = job
    key = SigningKey(seed)
    step = (end - start) / per_day
    requests, rows = [], []
    for b in range(0, per_day, BATCH):
        records = [_record(first_seq + n, n + 1, start + n * step, now) for n in range(b, min(per_day, b + BATCH))]
        doc = {
            "batch_id": uuid.uuid4().hex,
            "epoch": 1,
            "anchor": {"boot_id": "boot", "mono_ns": ANCHOR_MONO_NS, "wall": now},
            "records": records,
        }
        body = gzip.compress(json.dumps(doc).encode(), compresslevel=1)
        headers = signing.sign_request(key, kiosk_id, 1, signing.request_id_for(int(now * 1000) + b), body)
        headers.update({"Content-Encoding": "gzip", "Content-Type": "application/json"})
        requests.append((body, headers))
        if keep_rows:
            for r in records:
                row = build_row("raw-" + kiosk_id[:32], 1, OutboxItem(**r), None, now)
                row["record_id"] = "r" + r["record_id"][1:]
                rows.append(tuple(row[c] for c in RECORD_COLUMNS))
    return requests, rows


def _push(url: str, gates: list[list[Any]], at_once: int) -> tuple[float, dict[str, int]]:
    """Seconds to push every gate's batches, `at_once` gates at a time, each gate's in order, and
    how many pushes were sent again (refused for load, or their connection lost)."""
    import httpx

    retries = {"status": 0, "transport": 0}

    def one_gate(batches: list[Any]) -> None:
        with httpx.Client(base_url=url, timeout=300) as http:
            for body, headers in batches:
                for _attempt in range(2400):  # bounded: a stuck office fails the bench, never hangs it
                    try:
                        r = http.post("/v1/push", content=body, headers=headers)
                    except httpx.TransportError:
                        # A kept-alive connection the server closed meanwhile: the kiosk sends the
                        # same batch again (a push is idempotent), as sync.kiosk does.
                        retries["transport"] += 1
                        time.sleep(0.05)
                        continue
                    if r.status_code == 200:
                        break
                    retries["status"] += 1
                    time.sleep(0.05)  # 429/503: the office asked to come back (its in-flight cap)
                else:
                    raise RuntimeError("push kept failing")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        list(pool.map(one_gate, gates))
    return time.perf_counter() - t0, retries


def _sql(engine: Any, sql: str) -> None:
    raw = engine.raw_connection()
    try:
        raw.driver_connection.autocommit = True
        raw.driver_connection.execute(sql)
    finally:
        raw.driver_connection.autocommit = False
        raw.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    parser.add_argument("--gates", type=int, default=None)
    parser.add_argument("--per-day", type=int, default=None)
    parser.add_argument("--history-days", type=int, default=None)
    parser.add_argument("--at-once", type=int, default=None, help="kiosks pushing at the same time")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    args = parser.parse_args()
    if args.only and not any(args.only in name for name in NAMES):
        return
    gates = args.gates or (50 if args.quick else 1000)
    per_day = args.per_day or (200 if args.quick else 2000)
    history = args.history_days if args.history_days is not None else (3 if args.quick else 30)
    at_once = args.at_once or min(gates, 200)
    n = 7 if args.quick else 15
    base_url = os.environ.get("KAKOU_TEST_DATABASE_URL")
    if not base_url:
        for name in NAMES:
            emit(name, None, "ms", target=TARGETS[name], skipped="KAKOU_TEST_DATABASE_URL not set")
        return

    from tests.sync.helpers import PgSchema

    schema = PgSchema(base_url)
    try:
        with tempfile.TemporaryDirectory(prefix="kakou-bench-city-") as d:
            _run(args, Path(d) / "office", schema.url, gates, per_day, history, at_once, n)
    finally:
        schema.drop()


def _run(args: Any, office_dir: Path, url: str, gates: int, per_day: int, history: int, at_once: int, n: int) -> None:
    from nacl.signing import SigningKey
    from sqlalchemy import text

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from sync.office import lists as office_lists
    from sync.office import records as rec
    from sync.office import tables as t
    from sync.office.app import create_app
    from sync.office.db import open_office_engine
    from sync.office.enrol import add_checkpoint, enrol
    from sync.office.ingest import RECORD_COLUMNS
    from sync.office.keys import OfficeKeys
    from sync.office.partitions import days_ahead, ensure_days
    from sync.office.report import day_report, recount_days
    from sync.office.users import Account, add_user
    from tests.bench.bench_office import serve
    from tests.bench.fixtures import fill_records_pg

    engine = open_office_engine(office_dir, url)
    OfficeKeys(office_dir)  # the office's keys before its kiosks enrol, as `kakou office init` makes them
    with engine.begin() as conn:
        office_lists.ensure_lists(conn)
    day = dt.date.today()
    ensure_days(engine, days_ahead(day))  # what the serving office makes ahead at start
    t0 = time.perf_counter()
    seeds, ids = [], []
    for i in range(gates):
        seed = os.urandom(32)
        info = add_checkpoint(engine, f"卡口{i:04d}", f"社区{i // 10:03d}")
        enrol(engine, info["code"], bytes(SigningKey(seed).verify_key).hex())
        seeds.append(seed)
        ids.append(info["kiosk_id"])
    enrol_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    history_records = fill_records_pg(engine, ids, per_day, history, first_back=1) if history else 0
    top = per_day * history
    with engine.begin() as conn:  # every gate's history is in, in order: its mark is at the top
        conn.execute(t.kiosk_epoch.insert(), [{"kiosk_id": k, "epoch": 1, "hwm": top, "max_seq": top} for k in ids])
    recount_days(engine)
    history_s = time.perf_counter() - t0

    # Today's records, from 06:00 (or the day's start) to a minute ago, built ahead in two processes.
    now = time.time()
    midnight = time.mktime(dt.datetime.combine(day, dt.time.min).timetuple())
    start = max(midnight + 60, min(midnight + 6 * 3600, now - 3600))
    sample = max(1, gates // 10)  # the gates whose rows the COPY baseline writes again
    jobs = [
        (k, s, top + 1, per_day, start, now - 60, now, i < sample)
        for i, (k, s) in enumerate(zip(ids, seeds, strict=True))
    ]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        built = list(pool.map(_gate_pushes, jobs, chunksize=max(1, gates // 20)))
    build_s = time.perf_counter() - t0
    pushes = [b[0] for b in built]
    raw_rows = [row for b in built for row in b[1]]
    del built

    proc, base = serve(office_dir, url, args.workers)
    try:
        push_s, retries = _push(base, pushes, at_once)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    del pushes
    today_records = gates * per_day
    with engine.connect() as conn:
        counted = conn.execute(
            text("SELECT coalesce(sum(n), 0) FROM office_day_count WHERE day = :d"), {"d": day.isoformat()}
        ).scalar_one()
        conn.rollback()
    assert counted == today_records, (counted, today_records)
    _sql(engine, "ANALYZE office_record")
    _sql(engine, "ANALYZE office_last_passage")
    sizes = {
        "gates": gates,
        "passages_per_gate_day": per_day,
        "history_days": history,
        "records": history_records + today_records,
        "ingested_today": today_records,
        "at_once": at_once,
        "workers": args.workers,
        "enrol_s": round(enrol_s, 1),
        "history_load_s": round(history_s, 1),
        "build_s": round(build_s, 1),
        "push_s": round(push_s, 1),
        "pushes_sent_again": retries,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }

    def wanted(name: str) -> bool:
        return not args.only or args.only in name

    app = create_app(office_dir, url)
    client = TestClient(app, base_url="http://office.test", follow_redirects=False)
    try:
        add_user(engine, "bench", "street", "bench-password")
        page = client.get("/login")
        token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        login = {"name": "bench", "password": "bench-password", "csrf": token}
        assert client.post("/login", data=login).status_code == 303
        account = Account("bench", "street")
        with engine.connect() as conn:
            seen = rec.gates_seen(conn, account)
            conn.rollback()

        def plain(params: dict[str, str]) -> float:
            filters, errors = rec.parse_filters("passages", params, seen)
            assert not errors, errors

            return median_ms(lambda: plain_records_page(engine, filters, seen, account), n)

        def get_ms(path: str) -> float:
            def run() -> None:
                answer = client.get(path)
                assert answer.status_code == 200, answer.text[:300]

            return median_ms(run, n)

        # Who is still inside is judged at the day's last second, past the visiting hours and the
        # curfew (the policy's defaults), so the report computes it whatever the hour the benchmark runs.
        late = time.mktime(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min).timetuple()) - 1
        report_ms = median_ms(lambda: day_report(engine, day, now=late), max(1, n // 5))
        if wanted("city.day_report_ms"):

            def counts() -> None:
                with engine.connect() as conn:
                    conn.execute(text("SELECT * FROM office_day_count WHERE day = :d"), {"d": day.isoformat()}).all()
                    conn.rollback()

            rep = day_report(engine, day, now=late)
            assert rep["totals"]["records"] == today_records and not rep["not_reported"], rep["totals"]["records"]
            sizes["places_rows"] = sum(
                len(r[k])
                for r in rep["checkpoints"]
                for k in ("visitors_inside", "registrations_inside", "out_past_curfew")
            )
            emit("city.day_report_ms", report_ms, "ms", baseline=median_ms(counts, n), target="<2000", sizes=sizes)
        if wanted("city.today_page_ms"):
            emit("city.today_page_ms", get_ms(f"/?day={day}"), "ms", baseline=report_ms, target="<300", sizes=sizes)
        first = str(day - dt.timedelta(days=history))
        if wanted("city.filtered_page_ms"):
            gate = ids[gates // 2]
            params = {"gate": gate, "direction": "out", "verdict": "deny", "from": first, "to": str(day)}
            query = "&".join(f"{k}={v}" for k, v in params.items())
            emit(
                "city.filtered_page_ms",
                get_ms(f"/records/passages?{query}"),
                "ms",
                baseline=plain(params),
                target="<300",
                sizes=sizes,
            )
        if wanted("city.first_page_ms"):
            emit(
                "city.first_page_ms",
                get_ms("/records/passages"),
                "ms",
                baseline=plain({}),
                target="<300",
                sizes=sizes,
            )
    finally:
        client.close()
        app.state.office.close()
    if wanted("city.ingest_records_per_s"):
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            t0 = time.perf_counter()
            with cur.copy(f"COPY office_record ({', '.join(RECORD_COLUMNS)}) FROM STDIN") as copy:
                for row in raw_rows:
                    copy.write_row(row)
            raw.commit()
            copy_s = time.perf_counter() - t0
        finally:
            raw.close()
        emit(
            "city.ingest_records_per_s",
            today_records / push_s,
            "records/s",
            baseline=len(raw_rows) / copy_s,
            # At --quick sizes a gate sends one small batch: a smoke figure, not the target's (as bench_office).
            target=None if args.quick else ">20000",
            sizes=sizes,
            baseline_is=f"COPY of {len(raw_rows)} of the same rows ({sample} gates') into office_record",
        )
    engine.dispose()


if __name__ == "__main__":
    main()
