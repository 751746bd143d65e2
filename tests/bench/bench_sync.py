"""Sync benchmarks: backlog drain, office ingest on PostgreSQL, office day report on PostgreSQL.

    python -m tests.bench.bench_sync [--quick] [--only SUBSTRING]

- sync.drain_100k: a kiosk with 100k unsynced records drains to an office (SQLite, its own
  process, loopback) - target < 20 s; plus the duty desk's passage commit latency (p50, p99)
  measured while the drain runs, with the same measurement on an idle kiosk as baseline.
- sync.office_ingest_pg: records/s end to end (HTTP, gzip, signature, insert) from several
  kiosks at once into `kakou office serve --workers 2` on PostgreSQL; baseline: COPY of the
  same rows into the same table in the same run (ratio = ingest / raw; aim above 0.5). The
  harness is bench_office's, which also sweeps 1 / 10 / 100 kiosks on SQLite and PostgreSQL.
- sync.answer_signature: what signing one answer at the office and checking it on the kiosk
  costs (a push acknowledgement of 500 records), in microseconds; compare with a batch's share
  of sync.drain_100k (the drain sends 500 records a batch).
- sync.office_report_pg: the day report for 1,000 checkpoints x 2,000 passages - target < 2 s.

PostgreSQL parts need KAKOU_TEST_DATABASE_URL (else reported as skipped). One JSON object per line.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.bench.output import emit

FULL = {
    "backlog": 100_000,
    "ingest_records": 200_000,
    "ingest_kiosks": 8,
    "report_kiosks": 1000,
    "report_passages": 2000,
}
QUICK = {"backlog": 20_000, "ingest_records": 40_000, "ingest_kiosks": 4, "report_kiosks": 200, "report_passages": 2000}


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
    from sync.kiosk import SyncService, enroll
    from sync.office.db import open_office_engine
    from sync.office.enrol import add_checkpoint
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
        emit("sync.drain_100k", elapsed, "s", target="<20", sizes={"records": n}, records_per_s=round(n / elapsed))
        emit(
            "sync.passage_commit_p50_during_drain",
            pct(during, 0.5),
            "ms",
            baseline=pct(idle, 0.5),
            sizes={"commits": len(during)},
        )
        emit(
            "sync.passage_commit_p99_during_drain",
            pct(during, 0.99),
            "ms",
            baseline=pct(idle, 0.99),
            sizes={"commits": len(during)},
        )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        engine.dispose()


def bench_ingest(sizes):
    """The headline figure: 8 kiosks at once into 2 workers (the machine's 2 cores). The same
    harness measures 1 / 10 / 100 kiosks and 1 / 2 workers in bench_office."""
    from tests.bench.bench_office import INGEST_TARGET, ingest_once

    workers = 2
    got = ingest_once("pg", sizes["ingest_records"], sizes["ingest_kiosks"], workers)
    if got is None:
        emit(
            "sync.office_ingest_pg", None, "records/s", target=INGEST_TARGET, skipped="KAKOU_TEST_DATABASE_URL not set"
        )
        return
    emit(
        "sync.office_ingest_pg",
        got["value"],
        "records/s",
        baseline=got["baseline"],
        target=INGEST_TARGET,
        sizes={"records": got["records"], "kiosks": sizes["ingest_kiosks"], "batch": 500, "workers": workers},
        baseline_is="COPY of the same rows into office_record",
    )


def bench_report(sizes):
    from tests.bench.bench_office import bench_report as office_report

    office_report(sizes, "", name="sync.office_report_pg")


def bench_answer_signature(sizes):
    import json

    from nacl.signing import SigningKey

    from sync import signing

    key = SigningKey.generate()
    public = bytes(key.verify_key)
    body = json.dumps(
        {
            "batch_id": "ab" * 16,
            "epoch": 1,
            "hwm": 100_000,
            "statuses": ["stored"] * 500,
            "flagged": 0,
            "list_versions": {"policy": 3, "quarantine": 12, "revoked": 40, "trust": 9, "watch": 2},
            "server_time": time.time(),
        }
    ).encode()
    request_signature = "cd" * 64
    n = 2000
    t = time.perf_counter()
    for i in range(n):
        header = signing.sign_answer(key, request_signature, "POST", "/v1/push", 200, 1_800_000_000_000 + i, "", body)
        assert signing.verify_answer(public, header, request_signature, "POST", "/v1/push", 200, "", body) is not None
    each = (time.perf_counter() - t) / n
    emit("sync.answer_signature", each * 1e6, "us", target="<1000", sizes={"answers": n, "body_bytes": len(body)})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    for name, fn in (
        ("sync.drain", bench_drain),
        ("sync.office_ingest", bench_ingest),
        ("sync.answer_signature", bench_answer_signature),
        ("sync.office_report", bench_report),
    ):
        if args.only and args.only not in name:
            continue
        fn(sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
