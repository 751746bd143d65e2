"""The console's Today page with many gates (issue 16): server time of one page.

On PostgreSQL when KAKOU_TEST_DATABASE_URL is set (the issue's figures are PostgreSQL's: full is
its 200 gates x 2,000 passages a day x 30 days, 12M records, filled by the server itself with
tests/bench/fixtures.py fill_records_pg; quick 200 x 100 x 7), else SQLite (200 x 100 x 30).

- console.today_page_ms: GET / (logged in; the route, the Today rows, the template) for
  GATES gates with PER_DAY passages a day each over DAYS days, median of N requests;
  baseline: `report.day_report` alone for the same day (the figures the page is built on).
- console.day_report_ms: `report.day_report` for today, target 2 s; baseline: its day-count
  SELECT alone.
- console.records_first_page_ms: GET /records/passages (the last week, every gate); baseline:
  the page's own SELECT (same WHERE, ORDER BY, LIMIT).
- console.today_rows_ms: `console.today.today()` alone (day report + kiosk status + states).
- console.reports_page_ms: GET /reports (the day report, passages per hour from the day's
  records, per gate, fevers per day over four weeks, three SVG charts), same baseline.
- console.policy_page_ms: GET /policy (every key, the history, which gates have it), same baseline.

One JSON object per line: `python -m tests.bench.bench_console [--quick] [--only NAME]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
import uuid
import warnings
from pathlib import Path

from tests.bench.fixtures import median_ms, plain_records_page
from tests.bench.output import emit


def _fill(engine, gates: int, per_day: int, days: int) -> None:
    from sync.office import tables as t
    from sync.office.enrol import add_checkpoint
    from sync.office.report import recount_days
    from tests.bench.fixtures import fill_records_pg

    now = time.time()
    ids = []
    for i in range(gates):
        info = add_checkpoint(engine, f"卡口{i:03d}", f"社区{i % 20:02d}")
        ids.append(info["kiosk_id"])
    with engine.begin() as conn:
        for i, kiosk_id in enumerate(ids):
            silent = i % 10 == 0  # every tenth gate has not been heard from
            conn.execute(
                t.kiosk.update()
                .where(t.kiosk.c.kiosk_id == kiosk_id)
                .values(
                    status="active",
                    public_key=f"{i:064x}",
                    last_seen=None if silent else now - 60,
                    last_push=None if silent else now - 60,
                    list_versions='{"policy": 0, "quarantine": 0, "revoked": 0, "trust": 1, "watch": 0}',
                    clock_skew=0.5,
                )
            )
            # every record below its mark: a kiosk whose records all arrived in order
            top = 0 if silent else days * per_day
            conn.execute(t.kiosk_epoch.insert().values(kiosk_id=kiosk_id, epoch=1, hwm=top, max_seq=top))
    if engine.dialect.name == "postgresql":
        fill_records_pg(engine, [k for i, k in enumerate(ids) if i % 10], per_day, days)
        recount_days(engine)
        return
    with engine.begin() as conn:
        for d in range(days):
            day = dt.date.today() - dt.timedelta(days=d)
            at = time.mktime(dt.datetime.combine(day, dt.time(12)).timetuple())
            rows = []
            for i, kiosk_id in enumerate(ids):
                if i % 10 == 0:
                    continue
                for n in range(per_day):
                    rows.append(
                        dict(
                            record_id=str(uuid.uuid4()),
                            kiosk_id=kiosk_id,
                            epoch=1,
                            seq=d * per_day + n + 1,
                            kind="passage",
                            payload="{}",
                            payload_hash="0" * 64,
                            device_time=at,
                            corrected_time=at,
                            received_at=at,
                            time_quality="anchored",
                            day=day.isoformat(),
                            hlc=0,
                            boot_id="b",
                            mono_ns=0,
                            direction="in" if n % 2 else "out",
                            verdict="allow" if n % 7 else "deny",
                            reasons="[]" if n % 7 else '["quarantine"]',
                        )
                    )
            if rows:
                conn.execute(t.record.insert(), rows)
    recount_days(engine)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    base_url = os.environ.get("KAKOU_TEST_DATABASE_URL")
    if base_url:
        gates, per_day, days, n = (200, 100, 7, 10) if args.quick else (200, 2000, 30, 20)
    else:
        gates, per_day, days, n = (200, 20, 7, 10) if args.quick else (200, 100, 30, 20)
    schema = None
    if base_url:
        from tests.sync.helpers import PgSchema

        schema = PgSchema(base_url)
    try:
        _run(args, gates, per_day, days, n, schema)
    finally:
        if schema is not None:
            schema.drop()


def _run(args, gates: int, per_day: int, days: int, n: int, schema) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from sqlalchemy import text

    from sync.office import records as rec
    from sync.office.app import create_app
    from sync.office.console.today import today
    from sync.office.report import day_report
    from sync.office.users import Account, add_user

    with tempfile.TemporaryDirectory() as d:
        app = create_app(Path(d) / "office", schema.url if schema else None)
        engine = app.state.office.engine
        t0 = time.perf_counter()
        _fill(engine, gates, per_day, days)
        load_s = time.perf_counter() - t0
        add_user(engine, "bench", "street", "bench-password")
        client = TestClient(app, base_url="http://office.test", follow_redirects=False)
        page = client.get("/login")
        token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        assert (
            client.post("/login", data={"name": "bench", "password": "bench-password", "csrf": token}).status_code
            == 303
        )
        day = dt.date.today()
        sizes = {
            "gates": gates,
            "passages_per_gate_day": per_day,
            "days": days,
            "records": (gates - (gates + 9) // 10) * per_day * days,  # every tenth gate silent
            "backend": engine.dialect.name,
            "load_s": round(load_s, 1),
        }
        base = median_ms(lambda: day_report(engine, day), n)
        if not args.only or args.only in "console.day_report_ms":

            def counts() -> None:
                with engine.connect() as conn:
                    conn.execute(text("SELECT * FROM office_day_count WHERE day = :d"), {"d": day.isoformat()}).all()
                    conn.rollback()

            emit("console.day_report_ms", base, "ms", baseline=median_ms(counts, n), target="<2000", sizes=sizes)
        if not args.only or args.only in "console.records_first_page_ms":
            account = Account("bench", "street")
            with engine.connect() as conn:
                seen = rec.gates_seen(conn, account)
                conn.rollback()
            filters, errors = rec.parse_filters("passages", {}, seen)
            assert not errors, errors

            def plain() -> None:
                plain_records_page(engine, filters, seen, account)

            def first_page() -> None:
                assert client.get("/records/passages").status_code == 200

            emit(
                "console.records_first_page_ms",
                median_ms(first_page, n),
                "ms",
                baseline=median_ms(plain, n),
                target="<300",
                sizes=sizes,
            )
        if not args.only or args.only in "console.today_page_ms":

            def get() -> None:
                assert client.get("/").status_code == 200

            emit("console.today_page_ms", median_ms(get, n), "ms", baseline=base, target="<300", sizes=sizes)
        if not args.only or args.only in "console.today_rows_ms":
            rows = median_ms(lambda: today(engine, day, Account("bench", "street")), n)
            emit("console.today_rows_ms", rows, "ms", baseline=base, sizes=sizes)
        if not args.only or args.only in "console.reports_page_ms":

            def reports() -> None:
                assert client.get("/reports").status_code == 200

            emit("console.reports_page_ms", median_ms(reports, n), "ms", baseline=base, target="<300", sizes=sizes)
        if not args.only or args.only in "console.policy_page_ms":

            def policy() -> None:
                assert client.get("/policy").status_code == 200

            emit("console.policy_page_ms", median_ms(policy, n), "ms", baseline=base, target="<300", sizes=sizes)
        client.close()
        app.state.office.close()


if __name__ == "__main__":
    main()
