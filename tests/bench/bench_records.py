"""The console's Records pages at street scale (issue 16): server time of one page.

Fills GATES gates x PER_DAY passages a day x DAYS days (every 40th record a registration, one
in seven passages denied) straight into office_record - on PostgreSQL with one server-side
INSERT ... SELECT generate_series per gate when KAKOU_TEST_DATABASE_URL is set (the issue's
figures are PostgreSQL's), else on SQLite with executemany - then times GET of one page through
the whole route (session, filters, query, template), median of N requests:

- records.first_page_ms      /records/passages (the last week, every gate)
- records.filtered_page_ms   one gate, out, denied, 30 days
- records.deep_page_ms       a page half-way back through 30 days (keyset cursor); `offset_ms`
                             is what the same page costs with OFFSET, once, for contrast
- records.community_page_ms  a community account (its ten gates)
- records.unit_page_ms       one unit's records over 30 days (contact tracing)
- records.export_csv_ms      CSV of one gate's day (PER_DAY rows)

Baseline of each: the same page's plain SELECT (same WHERE, ORDER BY, LIMIT) on the same
connection pool, so the figure is the page's own cost over the database's. Target: <= 300 ms.

`python -m tests.bench.bench_records [--quick] [--only NAME] [--per-day N]`: full is 200 x 800 x 30
(4.8M records, loads in about three minutes); `--per-day 2000` is the issue's 12M (about 7.5).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from tests.bench.fixtures import day_starts, fill_records_pg, median_ms, plain_records_page, record_unit
from tests.bench.output import emit

TARGET = "<300"


def _fill_sqlite(engine: Any, ids: list[str], per_day: int, days: int) -> None:
    import json

    from sync.office import tables as t

    starts, day_texts = day_starts(days)
    with engine.begin() as conn:
        for g, kiosk_id in enumerate(ids):
            rows = []
            for n in range(1, per_day * days + 1):
                d, i = divmod(n - 1, per_day)
                kind = "registration" if n % 40 == 0 else "passage"
                direction = "in" if n % 2 == 0 else "out"
                verdict = "deny" if i % 7 == 0 else "allow"
                reasons = '["revoked"]' if i % 14 == 0 else '["quarantined"]' if i % 7 == 0 else "[]"
                unit = record_unit(n)
                at = starts[d] + 21600 + i * (57600.0 / per_day) + (g * 7.3) % 60
                payload = json.dumps(
                    {"direction": direction, "verdict": verdict, "reasons": reasons, "unit_code": unit, "pass_kind": 1},
                    separators=(",", ":"),
                )
                passage = kind == "passage"
                rows.append(
                    {
                        "record_id": f"{g:08x}-0000-4000-8000-{n:012x}",
                        "kiosk_id": kiosk_id,
                        "epoch": 1,
                        "seq": n,
                        "kind": kind,
                        "payload": payload,
                        "payload_hash": "0" * 64,
                        "device_time": at,
                        "corrected_time": at,
                        "received_at": at,
                        "time_quality": "anchored",
                        "day": day_texts[d],
                        "hlc": n,
                        "boot_id": "b",
                        "mono_ns": 0,
                        "direction": direction if passage else None,
                        "verdict": verdict if passage else None,
                        "reasons": reasons if passage else None,
                        "detail": None if passage else "visitor",
                        "unit": unit,
                    }
                )
            conn.execute(t.record.insert(), rows)
        conn.exec_driver_sql("ANALYZE")


def _log_in(client: Any, name: str, password: str) -> None:
    page = client.get("/login")
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    assert client.post("/login", data={"name": name, "password": password, "csrf": token}).status_code == 303


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    parser.add_argument("--per-day", type=int, default=None, help="passages per gate and day (full: 2000)")
    args = parser.parse_args()
    base_url = os.environ.get("KAKOU_TEST_DATABASE_URL")
    gates, days, n = 200, 30, 15
    # The size is 2,000 a day (12M records: --per-day 2000); its load took 7.5 minutes on
    # the 2-core test box, so the full run takes the largest that loads in about three.
    per_day = args.per_day or (20 if args.quick else 800 if base_url else 100)
    if args.quick:
        days, n = 7, 7
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from sqlalchemy import func, select

    from sync.office import records as rec
    from sync.office import tables as t
    from sync.office.app import create_app
    from sync.office.enrol import add_checkpoint
    from sync.office.users import Account, add_user

    schema = None
    if base_url:
        from tests.sync.helpers import PgSchema

        schema = PgSchema(base_url)
    try:
        with tempfile.TemporaryDirectory() as d:
            app = create_app(Path(d) / "office", schema.url if schema else None)
            engine = app.state.office.engine
            ids = [add_checkpoint(engine, f"卡口{i:03d}", f"社区{i % 20:02d}")["kiosk_id"] for i in range(gates)]
            t0 = time.perf_counter()
            (fill_records_pg if schema else _fill_sqlite)(engine, ids, per_day, days)
            load_s = time.perf_counter() - t0
            add_user(engine, "bench", "street", "bench-password")
            add_user(engine, "benchc", "community", "bench-password", community="社区00")
            street = TestClient(app, base_url="http://office.test", follow_redirects=False)
            community = TestClient(app, base_url="http://office.test", follow_redirects=False)
            _log_in(street, "bench", "bench-password")
            _log_in(community, "benchc", "bench-password")
            sizes = {
                "gates": gates,
                "passages_per_gate_day": per_day,
                "days": days,
                "records": gates * per_day * days,
                "backend": "postgresql" if schema else "sqlite",
                "load_s": round(load_s, 1),
            }
            today = dt.date.today()
            first, last = str(today - dt.timedelta(days=days - 1)), str(today)
            month = f"from={first}&to={last}"
            unit = record_unit(1)

            def baseline(account: Account, params: dict[str, str], after: rec.Cursor | None = None) -> float:
                """The same page as one plain SELECT (the records module's own query, no route, no template)."""
                with engine.connect() as conn:
                    gates_seen = rec.gates_seen(conn, account)
                f, errors = rec.parse_filters("passages", params, gates_seen)
                assert not errors, errors

                return median_ms(lambda: plain_records_page(engine, f, gates_seen, account, after), n)

            def page(client: Any, query: str) -> float:
                def get() -> None:
                    answer = client.get("/records/passages" + query)
                    assert answer.status_code == 200, answer.text[:500]

                return median_ms(get, n)

            street_account = Account("bench", "street")
            gate = ids[3]
            measurements: list[tuple[str, str, Account, dict[str, str], Any]] = [
                ("records.first_page_ms", "", street_account, {}, street),
                (
                    "records.filtered_page_ms",
                    f"?gate={gate}&direction=out&verdict=deny&{month}",
                    street_account,
                    {"gate": gate, "direction": "out", "verdict": "deny", "from": first, "to": last},
                    street,
                ),
                (
                    "records.community_page_ms",
                    "",
                    Account("benchc", "community", "社区00"),
                    {},
                    community,
                ),
                (
                    "records.unit_page_ms",
                    f"?unit={unit}&{month}",
                    street_account,
                    {"unit": unit, "from": first, "to": last},
                    street,
                ),
            ]
            for name, query, account, params, client in measurements:
                if args.only and args.only not in name:
                    continue
                base = baseline(account, params)
                emit(name, page(client, query), "ms", baseline=base, target=TARGET, sizes=sizes)
            if not args.only or args.only in "records.deep_page_ms":
                half = time.mktime(dt.datetime.combine(today - dt.timedelta(days=days // 2), dt.time(12)).timetuple())
                after = rec.Cursor(half, "ffffffff-ffff-ffff-ffff-ffffffffffff")
                params = {"from": first, "to": last}
                base = baseline(street_account, params, after)
                value = page(street, f"?{month}&after={after.text()}")
                with engine.connect() as conn:
                    f, _e = rec.parse_filters("passages", params, rec.gates_seen(conn, street_account))
                    r = t.record.c
                    ahead = conn.execute(
                        select(func.count()).where(*rec._where(f, {}, street_account), r.corrected_time >= half)
                    ).scalar_one()
                    q = (
                        select(*rec._ROW_COLUMNS)
                        .where(*rec._where(f, {}, street_account))
                        .order_by(r.corrected_time.desc(), r.record_id.desc())
                        .offset(ahead)
                        .limit(rec.PAGE + 1)
                    )
                    t0 = time.perf_counter()
                    conn.execute(q).all()
                    offset_ms = (time.perf_counter() - t0) * 1000
                    conn.rollback()
                emit(
                    "records.deep_page_ms",
                    value,
                    "ms",
                    baseline=base,
                    target=TARGET,
                    sizes=sizes,
                    offset_ms=round(offset_ms, 1),
                    rows_before=ahead,
                )
            if not args.only or args.only in "records.export_csv_ms":
                query = f"?gate={gate}&from={today}&to={today}"

                def export() -> None:
                    answer = street.get("/records/passages/export.csv" + query)
                    assert answer.status_code == 200

                base = baseline(street_account, {"gate": gate, "from": str(today), "to": str(today)})
                emit("records.export_csv_ms", median_ms(export, max(3, n // 3)), "ms", baseline=base, sizes=sizes)
            street.close()
            community.close()
            app.state.office.close()
    finally:
        if schema is not None:
            schema.drop()


if __name__ == "__main__":
    main()
