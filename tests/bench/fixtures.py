"""Big kiosk files for the benchmarks, built fast and cached.

A kiosk that ran a busy gate for months holds about a million passages, 100k passes and 10k
revocations. Recording those one by one (one fsync each) would take an hour, so this writes
the same rows straight into the tables with `executemany` in big transactions, with
synchronous=OFF while building (durability does not matter for a file we can rebuild). The
rows look like what `models.facts` and `models.passes` write: real signed passes, outbox
records with UUIDv7 ids, canonical JSON payloads and their hashes, a growing HLC, a gapless
seq - so the benchmarks measure the real code against a realistic file.

Built files are cached under /tmp/kakou-bench-cache (or $KAKOU_BENCH_CACHE), one directory
per size and FIXTURE_VERSION, so reruns start at once.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE_DIR = Path(os.environ.get("KAKOU_BENCH_CACHE", "/tmp/kakou-bench-cache"))
FIXTURE_VERSION = 1  # bump when the rows written here change shape
BATCH = 50_000
OUTING_SHARE = 0.2  # household outing passes (the only verdict that reads passages)
DAY = 86400


@dataclass(frozen=True)
class KioskFixture:
    data_dir: Path
    passages: int
    passes: int
    revocations: int
    build_seconds: float  # 0.0 when it came from the cache

    def sample_tokens(self) -> list[dict]:
        """Tokens to scan: {"token", "kind", "revoked"} for a random sample of the passes."""
        return json.loads((self.data_dir / "bench-tokens.json").read_text())


def _key(passages: int, passes: int, revocations: int) -> str:
    return f"kiosk-v{FIXTURE_VERSION}-p{passages}-k{passes}-r{revocations}"


def kiosk_file(
    passages: int, passes: int = 100_000, revocations: int = 10_000, *, sample: int = 3000, log=None
) -> KioskFixture:
    """A kiosk data directory with this many passages, passes and revocations (cached)."""
    target = CACHE_DIR / _key(passages, passes, revocations)
    if (target / "bench-ready").exists():
        return KioskFixture(target, passages, passes, revocations, 0.0)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    work = CACHE_DIR / f"{target.name}.building-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    started = time.perf_counter()
    _build(work, passages, passes, revocations, sample, log or (lambda msg: None))
    (work / "bench-ready").write_text(f"built in {time.perf_counter() - started:.1f} s\n")
    if target.exists():  # a half-built leftover of a killed run
        shutil.rmtree(target)
    work.rename(target)
    return KioskFixture(target, passages, passes, revocations, time.perf_counter() - started)


def copy_of(fixture: KioskFixture, into: Path) -> Path:
    """A private copy to write into (the commit benchmark must not grow the cached file)."""
    dest = into / fixture.data_dir.name
    shutil.copytree(fixture.data_dir, dest)
    return dest


def ensure_volunteer(data_dir: Path, name: str, pin: str, role: str = "volunteer") -> None:
    """A volunteer who can log in to the duty desk (argon2id hashing is slow: added on demand)."""
    from models.store import KioskStore
    from models.volunteers import add_volunteer, list_volunteers

    store = KioskStore.open(data_dir)
    try:
        if not any(v.name == name for v in list_volunteers(store)):
            add_volunteer(store, name, pin, role=role)
    finally:
        store.close()


def _unit_codes(count: int) -> list[str]:
    codes = []
    building = 1
    while len(codes) < count:
        for entrance in (1, 2, 3):
            for floor in range(1, 19):
                for room in range(1, 5):
                    codes.append(f"{building}-{entrance}-{floor}{room:02d}")
        building += 1
    return codes[:count]


class _Outbox:
    """Hands out seq, HLC and record ids the way models.outbox.append_fact does."""

    def __init__(self, epoch: int, last_seq: int, hlc_last: int, boot_id: str):
        from models.clock import hlc_next, hlc_wall_ms
        from models.outbox import canonical_json, payload_hash, uuid7

        self._next, self._wall_ms, self._uuid7 = hlc_next, hlc_wall_ms, uuid7
        self._json, self._hash = canonical_json, payload_hash
        self.epoch, self.seq, self.hlc, self.boot_id = epoch, last_seq, hlc_last, boot_id
        self._versions = canonical_json({})

    def record(self, kind: str, payload: dict, wall: float) -> tuple:
        self.hlc, _ = self._next(self.hlc, int(wall * 1000))
        self.seq += 1
        record_id = self._uuid7(self._wall_ms(self.hlc), self.hlc & 0xFFFF)
        body = dict(payload, record_id=record_id, kind=kind)
        text = self._json(body)
        return (
            record_id,
            self.epoch,
            self.seq,
            kind,
            text,
            self._hash(text),
            wall,
            self.hlc,
            self.boot_id,
            0,
            "",
            self._versions,
        )


OUTBOX_INSERT = (
    "INSERT INTO outbox (record_id, epoch, seq, kind, payload, payload_hash, wall_time, hlc, boot_id, mono_ns,"
    " clock_flag, versions) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)


def _build(work: Path, n_passages: int, n_passes: int, n_revocations: int, sample: int, log) -> None:
    from models.clock import boot_id
    from models.passtoken import PassBody, PassKind, kid_for, sign_pass
    from models.store import DB_FILE, KioskStore

    rng = random.Random(20220401 + n_passages)
    store = KioskStore.open(work)
    store.set_up("幸福里东门卡口", "幸福里社区", "新华街道", number=1)
    # One outing per household every two days, as many compounds ran it: this is the verdict
    # that reads the passage table, so the file size can show in it.
    store.set_policy(outing_quota=1, outing_window_days=2)
    signing_key = store.signing_key
    kid = kid_for(bytes(signing_key.verify_key))
    state = store.kiosk_state()
    store.close()

    db = sqlite3.connect(work / DB_FILE, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")  # a rebuildable file: speed over durability here
    db.execute("PRAGMA cache_size=-262144")
    outbox = _Outbox(state.epoch, state.last_seq, state.hlc_last, boot_id())

    now = time.time()
    history_days = 120
    start = now - history_days * DAY

    # Units and passes: about four passes per household.
    units = _unit_codes(max(1, n_passes // 4))
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO unit (code, building, entrance, room) VALUES (?,?,?,?)", [(u, *u.split("-")) for u in units]
    )
    passes = []  # (pass_id_hex, unit, kind, valid_to, token)
    rows, facts = [], []
    t = start
    for i in range(n_passes):
        unit = units[i % len(units)]
        kind = PassKind.OUTING if rng.random() < OUTING_SHARE else PassKind.RESIDENT
        valid_from = int(now - rng.uniform(1, 25) * DAY)
        body = PassBody(
            kid=kid,
            pass_id=rng.randbytes(16),
            kind=kind,
            scope=0,
            valid_from=valid_from,
            valid_to=valid_from + 60 * DAY,
            unit=unit,
            name="",
        )
        token = sign_pass(body, signing_key)
        t += (now - 30 * DAY - start) / n_passes  # issued before most of the traffic
        payload = {
            "pass_id": body.pass_id_hex,
            "kind": int(kind),
            "unit_code": unit,
            "name": "",
            "plate": "",
            "scope": 0,
            "valid_from": body.valid_from,
            "valid_to": body.valid_to,
            "hour_from": 0,
            "hour_to": 24,
            "kid": kid,
            "replaces": None,
        }
        fact = outbox.record("pass_issued", payload, t)
        facts.append(fact)
        rows.append(
            (
                body.pass_id_hex,
                fact[0],
                int(kind),
                unit,
                "",
                "",
                0,
                body.valid_from,
                body.valid_to,
                0,
                24,
                kid,
                token,
                t,
                None,
            )
        )
        passes.append((body.pass_id_hex, unit, int(kind), body.valid_to, token))
        if len(rows) >= BATCH:
            _flush_passes(db, rows, facts)
    _flush_passes(db, rows, facts)
    db.execute("COMMIT")
    log(f"{n_passes} passes signed and stored")

    # Revocations: lost passes and people who moved away, spread over the history.
    revoked = set()
    db.execute("BEGIN")
    rows, facts = [], []
    for pass_id, _unit, _kind, valid_to, _token in rng.sample(passes, min(n_revocations, len(passes))):
        t += 1.0
        payload = {"pass_id": pass_id, "reason": "丢失补办 lost", "expires": valid_to}
        fact = outbox.record("pass_revoked", payload, t)
        facts.append(fact)
        rows.append((pass_id, "丢失补办 lost", "local", t, valid_to, fact[0]))
        revoked.add(pass_id)
    db.executemany(OUTBOX_INSERT, facts)
    db.executemany(
        "INSERT INTO revocation (pass_id, reason, source, revoked_at, expires, record_id) VALUES (?,?,?,?,?,?)", rows
    )
    db.execute("COMMIT")

    # Passages: the gate's traffic over the last 120 days, in time order.
    step = (now - 60 - start) / max(1, n_passages)
    t = start
    db.execute("BEGIN")
    rows, facts = [], []
    temps = [f"{x}" for x in range(358, 371)]
    for i in range(n_passages):
        t += step
        pass_id, unit, kind, _valid_to, _token = passes[rng.randrange(len(passes))]
        direction = "in" if i % 2 else "out"
        verdict = "deny" if pass_id in revoked else "allow"
        reasons = '["revoked"]' if verdict == "deny" else "[]"
        temp_raw = rng.choice(temps) if direction == "in" and verdict == "allow" else ""
        temp_value = int(temp_raw) / 10 if temp_raw else None
        payload = {
            "direction": direction,
            "subject": "pass",
            "pass_id": pass_id,
            "pass_kind": kind,
            "unit_code": unit,
            "person_id": None,
            "verdict": verdict,
            "reasons": reasons,
            "volunteer_id": 2,
            "temp_raw": temp_raw,
            "temp_value": temp_value,
        }
        fact = outbox.record("passage", payload, t)
        facts.append(fact)
        rows.append(
            (fact[0], direction, "pass", pass_id, kind, unit, None, temp_raw, temp_value, verdict, reasons, 2, t)
        )
        if len(rows) >= BATCH:
            _flush_passages(db, rows, facts)
            if (i + 1) % (BATCH * 4) == 0:
                log(f"{i + 1} passages")
    _flush_passages(db, rows, facts)
    # Synced up to a small backlog, as a kiosk with a network mostly is.
    db.execute(
        "UPDATE kiosk_state SET last_seq = ?, hlc_last = ?, acked_seq = ? WHERE id = 1",
        (outbox.seq, outbox.hlc, max(0, outbox.seq - 500)),
    )
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()

    picks = rng.sample(passes, min(sample, len(passes)))
    tokens = [
        {"token": token, "kind": kind, "revoked": pass_id in revoked}
        for pass_id, _unit, kind, _valid_to, token in picks
    ]
    (work / "bench-tokens.json").write_text(json.dumps(tokens))
    log(f"{n_passages} passages stored")


def _flush_passes(db, rows: list, facts: list) -> None:
    db.executemany(OUTBOX_INSERT, facts)
    db.executemany(
        "INSERT INTO pass_issued (pass_id, record_id, kind, unit_code, name, plate, scope, valid_from, valid_to,"
        " hour_from, hour_to, kid, token, issued_at, replaces) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    rows.clear()
    facts.clear()


def _flush_passages(db, rows: list, facts: list) -> None:
    db.executemany(OUTBOX_INSERT, facts)
    db.executemany(
        "INSERT INTO passage (record_id, direction, subject, pass_id, pass_kind, unit_code, person_id, temp_raw,"
        " temp_value, verdict, reasons, volunteer_id, device_time) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    rows.clear()
    facts.clear()


# Office records at street and city scale (bench_records, bench_console, bench_city).
def day_starts(days: int, first_back: int = 0) -> tuple[list[float], list[str]]:
    """The local midnights and YYYY-MM-DD of `days` days, newest first, from `first_back` days ago."""
    today = dt.date.today()
    dates = [today - dt.timedelta(days=first_back + d) for d in range(days)]
    return [time.mktime(dt.datetime.combine(d, dt.time.min).timetuple()) for d in dates], [d.isoformat() for d in dates]


# One gate's records, made by the server. n = 1..per_day*days; d = its day back from today;
# i = its place in that day (06:00 to 22:00).
PG_FILL = """
INSERT INTO office_record (record_id, kiosk_id, epoch, seq, kind, payload, payload_hash, device_time,
    corrected_time, received_at, time_quality, day, hlc, boot_id, mono_ns, direction, verdict, reasons, detail, unit,
    ref, pass_kind)
SELECT substr(ts, 1, 8) || '-' || substr(ts, 9, 4) || '-7' || substr(rnd, 1, 3) || '-8' || substr(rnd, 4, 3)
        || '-' || substr(rnd, 7, 12), %(k)s, 1, n, kind,
    '{"direction":"' || dir || '","pass_id":"' || pass_id || '","pass_kind":1,"reasons":' || reasons_json
        || ',"subject":"pass","temp_raw":"365","temp_value":36.5,"unit_code":"' || unit
        || '","verdict":"' || verdict || '"}',
    repeat('0', 64), at, at, at, 'anchored', (%(days)s::text[])[d + 1], n, 'b', 0,
    CASE WHEN kind = 'passage' THEN dir END, CASE WHEN kind = 'passage' THEN verdict END,
    CASE WHEN kind = 'passage' THEN reasons END, CASE WHEN kind = 'registration' THEN 'visitor' END, unit,
    CASE WHEN kind = 'passage' THEN pass_id END, CASE WHEN kind = 'passage' THEN 1 END  -- as the ingest reads them out
FROM (
    SELECT n, d, i,
        CASE WHEN n %% 40 = 0 THEN 'registration' ELSE 'passage' END AS kind,
        CASE WHEN n %% 2 = 0 THEN 'in' ELSE 'out' END AS dir,
        CASE WHEN i %% 7 = 0 THEN 'deny' ELSE 'allow' END AS verdict,
        CASE WHEN i %% 14 = 0 THEN '["revoked"]' WHEN i %% 7 = 0 THEN '["quarantined"]' ELSE '[]' END AS reasons,
        CASE WHEN i %% 14 = 0 THEN '"[\\"revoked\\"]"' WHEN i %% 7 = 0 THEN '"[\\"quarantined\\"]"' ELSE '"[]"' END
            AS reasons_json,
        ((n * 7) %% 30 + 1)::text || '-' || ((n * 3) %% 6 + 1)::text || '-' || (101 + (n * 11) %% 12 * 100)::text AS unit,
        -- A gate's residents: 600 passes, each in and out a few times a day (the ref column).
        md5(%(k)s || 'pass' || (n %% 600)::text) AS pass_id,
        at, lpad(to_hex((at * 1000)::int8), 12, '0') AS ts, md5(%(k)s || n::text) AS rnd
    FROM (SELECT n, d, i, (%(starts)s::float8[])[d + 1] + 21600 + i * (57600.0 / %(per_day)s) + %(jitter)s AS at
          FROM (SELECT n, (n - 1) / %(per_day)s AS d, (n - 1) %% %(per_day)s AS i
                FROM generate_series(1, %(total)s) AS n) AS g) AS timed
) AS r
"""
# A bulk load builds the table's indexes and keys once at the end (sorted), not row by row: the
# definitions are read from the catalogue, dropped, and made again exactly as they were.
PG_KEYS = """
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = 'office_record'::regclass AND contype IN ('p', 'u')
"""
PG_INDEXES = """
SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = 'office_record'::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)
"""

# Indexes of office_record or of any of its partitions that the planner may not use.
PG_INVALID_INDEXES = """
SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE NOT x.indisvalid AND (x.indrelid = 'office_record'::regclass
    OR x.indrelid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'office_record'::regclass))
"""


def fill_records_pg(engine: Any, ids: list[str], per_day: int, days: int, *, first_back: int = 0) -> int:
    """`per_day` records a day for each gate of `ids` over `days` days (from `first_back` days ago,
    seq 1..per_day*days in epoch 1), made by the PostgreSQL server itself: the days' partitions
    first (as the office makes them ahead), the table's indexes dropped and built again once, then
    VACUUM ANALYZE. Records only: the day counts (`report.recount_days`) and the kiosks' marks are
    the caller's. Returns the number of records written."""
    from concurrent.futures import ThreadPoolExecutor

    from sync.office.partitions import ensure_days

    starts, day_texts = day_starts(days, first_back)
    ensure_days(engine, day_texts)

    def run(work: Any, autocommit: bool = False) -> Any:
        raw = engine.raw_connection()
        try:
            driver = raw.driver_connection
            driver.autocommit = autocommit
            with driver.cursor() as cur:
                cur.execute("SET maintenance_work_mem = '512MB'")
                out = work(cur)
            if not autocommit:
                driver.commit()
            driver.autocommit = False
            return out
        finally:
            raw.close()

    def drop(cur: Any) -> tuple[list[Any], list[Any]]:
        keys, indexes = cur.execute(PG_KEYS).fetchall(), cur.execute(PG_INDEXES).fetchall()
        for name, _sql in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        for name, _sql in keys:
            cur.execute(f'ALTER TABLE office_record DROP CONSTRAINT "{name}"')
        return keys, indexes

    def fill(part: int) -> Any:
        def work(cur: Any) -> None:
            for i, kiosk_id in enumerate(ids):
                if i % 2 != part:
                    continue
                params = {
                    "k": kiosk_id,
                    "days": day_texts,
                    "starts": starts,
                    "per_day": per_day,
                    "total": per_day * days,
                    "jitter": (i * 7.3) % 60,
                }
                cur.execute(PG_FILL, params)

        return run(work)

    def remake(cur: Any) -> None:
        for name, definition in keys:
            cur.execute(f'ALTER TABLE office_record ADD CONSTRAINT "{name}" {definition}')
        for _name, sql in indexes:
            # The definition of a partitioned table's index reads "ON ONLY office_record": run as
            # it is, it makes the parent's index alone (invalid) and no partition gets one.
            cur.execute(sql.replace(" ON ONLY ", " ON ", 1))
        made = cur.execute("SELECT count(*) FROM pg_index WHERE indrelid = 'office_record'::regclass").fetchone()
        assert made is not None and made[0] == len(keys) + len(indexes), (made, keys, indexes)
        invalid = cur.execute(PG_INVALID_INDEXES).fetchall()
        assert not invalid, invalid

    keys, indexes = run(drop)
    with ThreadPoolExecutor(2) as pool:  # two server processes: the generation is CPU-bound
        list(pool.map(fill, (0, 1)))
    run(remake)
    run(lambda cur: cur.execute("VACUUM ANALYZE office_record"), autocommit=True)
    return len(ids) * per_day * days


def record_unit(n: int) -> str:
    """The unit of record n (as PG_FILL writes it)."""
    return f"{(n * 7) % 30 + 1}-{(n * 3) % 6 + 1}-{101 + (n * 11) % 12 * 100}"


if __name__ == "__main__":  # build (or find) the files ahead of a benchmark run
    import argparse

    parser = argparse.ArgumentParser(description="build the cached benchmark kiosk files")
    parser.add_argument("passages", type=int, nargs="+")
    parser.add_argument("--passes", type=int, default=100_000)
    parser.add_argument("--revocations", type=int, default=10_000)
    args = parser.parse_args()
    for n in args.passages:
        fx = kiosk_file(n, args.passes, args.revocations, log=lambda m: print("  " + m, flush=True))
        print(f"{fx.data_dir}  ({f'built in {fx.build_seconds:.1f} s' if fx.build_seconds else 'cached'})")


def median_ms(fn: Any, n: int) -> float:
    """Median of `n` timed calls of `fn`, in ms, after one untimed call (templates compiled,
    caches filled)."""
    import statistics
    import time

    fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def plain_records_page(engine: Any, filters: Any, seen: Any, account: Any, after: Any = None) -> None:
    """One page of passages as the records module's own SELECT alone (no route, no template):
    the baseline of the console's page benchmarks."""
    from sqlalchemy import select

    from sync.office import records as rec
    from sync.office import tables as t

    with engine.connect() as conn:
        q = (
            select(*rec._ROW_COLUMNS)
            .where(*rec._where(filters, seen, account, after))
            .order_by(t.record.c.corrected_time.desc(), t.record.c.record_id.desc())
            .limit(rec.PAGE + 1)
        )
        conn.execute(q).all()
        conn.rollback()
