"""Office security costs: the audited sealed-number lookup and the retention purge.

- office_security.lookup: one `sealed.lookup` (read the record, open two sealed boxes, write
  the audit row, commit) against the bare cost of opening the same two sealed boxes; p50 ms.
- office_security.purge: records/s cleared by `sealed.purge` (chunked transactions, secure
  delete, VACUUM) against a bare `UPDATE office_record SET payload = ...` of the same rows.

SQLite office in a temp dir. One JSON object per line: `python -m tests.bench.bench_office_security [--quick]`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from tests.bench.bench_sync import emit


def _office(root: Path, n: int):
    from models.privacy import protect_id, protect_phone
    from sync.office.app import create_app

    app = create_app(root)
    office = app.state.office
    key = b"k" * 32
    rows = []
    old = time.time() - 60 * 86400
    id_p = protect_id(key, office.keys.sealing_public, "11010519491231002X")
    phone_p = protect_phone(key, office.keys.sealing_public, "13812345678")
    for i in range(n):
        record_id = str(uuid.uuid4())
        payload = json.dumps(
            {
                "kind": "registration",
                "record_id": record_id,
                "name": f"居民{i}",
                "id_masked": id_p.masked,
                "id_hash": id_p.hash,
                "phone_masked": phone_p.masked,
                "phone_hash": phone_p.hash,
                "id_sealed": id_p.sealed.hex(),
                "phone_sealed": phone_p.sealed.hex(),
                "from_place": "武汉",
                "reason": "返乡",
                "to_unit": "3-2-501",
            },
            ensure_ascii=False,
        )
        rows.append(
            {
                "record_id": record_id,
                "kiosk_id": "k1",
                "epoch": 1,
                "seq": i + 1,
                "kind": "registration",
                "payload": payload,
                "payload_hash": hashlib.sha256(payload.encode()).hexdigest(),
                "device_time": old,
                "corrected_time": old,
                "received_at": old,
                "time_quality": "device",
                "day": time.strftime("%Y-%m-%d", time.localtime(old)),
                "hlc": i,
                "boot_id": "b",
                "mono_ns": i,
                "clock_flag": "",
                "versions": "{}",
                "flags": "",
                "direction": None,
                "verdict": None,
                "reasons": None,
                "detail": "registration",
                "ref": None,
            }
        )
    from sync.office import tables as t

    with office.engine.begin() as conn:
        conn.execute(t.record.insert(), rows)
    return app, office, [r["record_id"] for r in rows], id_p.sealed.hex(), phone_p.sealed.hex()


def bench_lookup(quick: bool) -> None:
    from sync.office import sealed

    rounds = 50 if quick else 300
    with tempfile.TemporaryDirectory() as d:
        _app, office, ids, id_sealed, phone_sealed = _office(Path(d), rounds)
        times, bare = [], []
        for record_id in ids:
            t0 = time.perf_counter()
            sealed.lookup(office.engine, office.keys, record_id, admin="bench", reason="bench")
            times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            office.keys.unseal(id_sealed)
            office.keys.unseal(phone_sealed)
            bare.append(time.perf_counter() - t0)
        office.engine.dispose()
    emit(
        "office_security.lookup_p50",
        statistics.median(times) * 1000,
        "ms",
        baseline=statistics.median(bare) * 1000,
        target="<20",
        sizes={"lookups": rounds},
    )


def bench_purge(quick: bool) -> None:
    from sqlalchemy import text

    from sync.office import sealed

    n = 5000 if quick else 50000
    with tempfile.TemporaryDirectory() as d:
        _app, office, _ids, _a, _b = _office(Path(d) / "a", n)
        t0 = time.perf_counter()
        result = sealed.purge(office.engine, older_than_days=28)
        elapsed = time.perf_counter() - t0
        assert result.records == n
        office.engine.dispose()
        _app2, office2, _ids, _a, _b = _office(Path(d) / "b", n)
        t0 = time.perf_counter()
        with office2.engine.begin() as conn:
            conn.execute(
                text("UPDATE office_record SET payload = :p WHERE kind = 'registration'"), {"p": '{"purged":true}'}
            )
        bare = time.perf_counter() - t0
        office2.engine.dispose()
    emit("office_security.purge", n / elapsed, "records/s", baseline=n / bare, target=">2000", sizes={"records": n})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    for name, fn in (("office_security.lookup", bench_lookup), ("office_security.purge", bench_purge)):
        if args.only and args.only not in name:
            continue
        fn(args.quick)


if __name__ == "__main__":
    main()
