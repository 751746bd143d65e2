"""The office's fast paths keep the slow paths' meaning.

- PostgreSQL stores a fresh batch with COPY, betting every record is new; a batch holding a
  retry, an altered copy or a taken slot must still get its exact per-record statuses, the
  quarantine and the mark, and a lost bet must leave nothing half-stored.
- The day report reads counts the ingest keeps (migration 0009), so after any push - fresh,
  retried, conflicting, poison - they must equal a fresh count of the records; an office
  that had records before the migration is counted by it; a change by hand is repaired by
  `recount_days`.
- Payloads are read with orjson, falling back to json: "unreadable" means what it meant.
- A record's office day is computed once per quarter hour, and must equal localtime's.
- Pushes check the signature with a key kept in memory; the kiosk's revocation is checked in
  the push's own transaction, so a revocation made by another process counts at once.
- `kakou office serve` sets TCP_NODELAY on every connection (with --workers, uvicorn's own
  listener left it off, and every answer waited ~40 ms for the client's delayed ACK).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from models import clock
from sync import signing
from sync.office.report import day_report, recount_days
from tests.postgres import postgres_url
from tests.sync.conftest import BACKENDS
from tests.sync.helpers import PgSchema, check_invariant, sync_until_quiet, write_passages

COUNT_KEY = (
    "day, kiosk_id, kind, coalesce(direction, ''), coalesce(verdict, ''),"
    " substr(coalesce(reasons, ''), 1, 256), coalesce(detail, '')"
)


def record(seq: int, payload: dict | str, *, kind: str = "passage", record_id: str | None = None) -> dict:
    reading = clock.now()
    text_ = payload if isinstance(payload, str) else json.dumps(payload, sort_keys=True)
    return {
        "record_id": record_id or str(uuid.uuid4()),
        "seq": seq,
        "kind": kind,
        "payload": text_,
        "payload_hash": hashlib.sha256(text_.encode()).hexdigest(),
        "wall_time": reading.wall,
        "hlc": seq,
        "boot_id": reading.boot_id,
        "mono_ns": reading.mono_ns,
        "clock_flag": "",
        "versions": "{}",
    }


def push(office, store, records: list[dict], epoch: int = 1) -> dict:
    """A push exactly as the kiosk sends it (signed, gzipped); the office's answer."""
    r = send(office, store, records, epoch)
    assert r.status_code == 200, r.text
    return r.json()


def send(office, store, records: list[dict], epoch: int = 1):
    state = store.kiosk_state()
    reading = clock.now()
    doc = {
        "batch_id": uuid.uuid4().hex,
        "epoch": epoch,
        "anchor": {"boot_id": reading.boot_id, "mono_ns": reading.mono_ns, "wall": reading.wall},
        "backlog": 0,
        "records": records,
    }
    body = gzip.compress(json.dumps(doc).encode())
    headers = signing.sign_request(store.signing_key, state.kiosk_id, epoch, uuid.uuid4().hex, body)
    headers.update({"Content-Encoding": "gzip", "Content-Type": "application/json"})
    return office.client.post("/v1/push", content=body, headers=headers)


def rows_of(office, kiosk_id: str) -> dict[str, tuple[int, str]]:
    with office.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT record_id, seq, payload_hash FROM office_record WHERE kiosk_id = :k"), {"k": kiosk_id}
        ).all()
        conn.rollback()
    return {rid: (seq, h) for rid, seq, h in rows}


def counts_match_records(engine) -> dict:
    """The kept counts and a fresh GROUP BY over the records: asserted equal, returned."""
    with engine.connect() as conn:
        kept = {
            tuple(r[:-1]): r[-1]
            for r in conn.execute(
                text(
                    "SELECT day, kiosk_id, kind, direction, verdict, reasons, detail, n FROM office_day_count WHERE n <> 0"
                )
            )
        }
        fresh = {
            tuple(r[:-1]): r[-1]
            for r in conn.execute(text(f"SELECT {COUNT_KEY}, count(*) FROM office_record GROUP BY {COUNT_KEY}"))
        }
        conn.rollback()
    assert kept == fresh
    return kept


def test_fresh_batch_then_retry_altered_copy_and_taken_slot_get_exact_statuses(office, tmp_path):
    store, _service = office.add_kiosk(tmp_path / "k")
    kiosk_id = store.kiosk_state().kiosk_id
    first = [record(s, {"direction": "in", "verdict": "allow", "reasons": "[]", "n": s}) for s in range(1, 6)]
    answer = push(office, store, first)
    assert answer["statuses"] == ["stored"] * 5 and answer["hwm"] == 5

    # A retry overlapping new records: the COPY bet is lost, every record still sorted out.
    second = first[3:] + [record(s, {"direction": "out", "verdict": "allow", "reasons": "[]"}) for s in range(6, 9)]
    answer = push(office, store, second)
    assert answer["statuses"] == ["duplicate", "duplicate", "stored", "stored", "stored"]
    assert answer["hwm"] == 8

    # An altered copy of record 1 and a different record claiming seq 2, next to a fresh one.
    altered = dict(first[0], payload='{"direction": "in", "verdict": "allow", "reasons": "[]", "n": 999}')
    altered["payload_hash"] = hashlib.sha256(altered["payload"].encode()).hexdigest()
    usurper = record(2, {"direction": "in", "verdict": "deny", "reasons": '["revoked"]'})
    fresh = record(9, {"direction": "in", "verdict": "allow", "reasons": "[]"})
    answer = push(office, store, [altered, usurper, fresh])
    assert answer["statuses"] == ["conflict", "seq_taken", "stored"] and answer["hwm"] == 9

    held = rows_of(office, kiosk_id)
    assert set(held) == {r["record_id"] for r in first + second + [fresh]}  # nothing half-stored, no copy
    assert held[first[0]["record_id"]] == (1, first[0]["payload_hash"])  # the original stays
    with office.engine.connect() as conn:
        quarantined = conn.execute(text("SELECT record_id, reason FROM office_conflict ORDER BY reason")).all()
        conn.rollback()
    assert [tuple(q) for q in quarantined] == [(first[0]["record_id"], "conflict"), (usurper["record_id"], "seq_taken")]
    counts_match_records(office.engine)


def test_a_batch_naming_one_record_twice_answers_for_each_and_counts_it_once(office, tmp_path):
    """A batch with the same record id twice (a kiosk bug, or a forger) got a status list shorter
    than its records (the kiosk cannot tell which were stored) and counted the record twice."""
    store, _service = office.add_kiosk(tmp_path / "k")
    one = record(1, {"direction": "in", "verdict": "allow", "reasons": "[]"})
    again = dict(one, seq=2)  # the same record, a second slot
    altered = dict(one, seq=3, payload='{"direction": "out"}')
    altered["payload_hash"] = hashlib.sha256(altered["payload"].encode()).hexdigest()
    answer = push(office, store, [one, again, altered, record(4, {"direction": "in", "verdict": "allow"})])
    assert answer["statuses"] == ["stored", "duplicate", "conflict", "stored"]
    kept = counts_match_records(office.engine)
    assert sum(kept.values()) == 2
    with office.engine.connect() as conn:
        quarantined = conn.execute(text("SELECT record_id, payload_hash FROM office_conflict")).all()
        conn.rollback()
    assert [tuple(q) for q in quarantined] == [(one["record_id"], altered["payload_hash"])]  # nothing lost


def test_out_of_order_batches_move_the_mark_only_when_contiguous(office, tmp_path):
    store, _service = office.add_kiosk(tmp_path / "k")
    batch = [record(s, {"direction": "in", "verdict": "allow", "reasons": "[]"}) for s in range(1, 31)]
    assert push(office, store, batch[20:])["hwm"] == 0
    assert push(office, store, batch[10:20])["hwm"] == 0
    # The gap closes: the mark walks through this batch and on through the two held above it.
    assert push(office, store, batch[:10])["hwm"] == 30


def test_real_kiosk_sync_keeps_the_invariant_and_the_counts(office, tmp_path):
    store, service = office.add_kiosk(tmp_path / "k")
    write_passages(store, 1300)
    sync_until_quiet(service)
    check_invariant(store, office.engine)
    kept = counts_match_records(office.engine)
    assert sum(kept.values()) == 1300


def test_day_counts_follow_every_kind_of_write(office, tmp_path):
    store, _service = office.add_kiosk(tmp_path / "k")
    kiosk_id = store.kiosk_state().kiosk_id
    case = str(uuid.uuid4())
    batch = [
        record(1, {"direction": "in", "verdict": "allow", "reasons": "[]"}),
        record(2, {"direction": "out", "verdict": "allow", "reasons": "[]"}),
        record(3, {"direction": "in", "verdict": "deny", "reasons": ["revoked", "expired"]}),
        record(4, {"direction": "in", "temp": 38.2}, kind="fever_case"),
        record(5, {"case_id": case, "outcome": "clinic"}, kind="fever_outcome"),
        record(6, {"kind": "visitor"}, kind="registration"),
        record(7, "{not json", kind="passage"),  # poison: stored, flagged, counted
        record(8, {"direction": "in", "verdict": "deny", "reasons": json.dumps(["x" * 40] * 200)}),  # huge key
    ]
    assert push(office, store, batch)["statuses"] == ["stored"] * 8
    counts_match_records(office.engine)

    report = day_report(office.engine, dt.date.today())
    row = next(r for r in report["checkpoints"] if r["kiosk_id"] == kiosk_id)
    assert (row["in"], row["out"], row["fevers"], row["fever_clinic"], row["registrations"]) == (1, 1, 1, 1, 1)
    assert row["records"] == 8 and row["reported"]
    assert row["denials"]["revoked"] == 1 and row["denials"]["expired"] == 1

    # A retry of the whole batch counts nothing twice.
    assert push(office, store, batch)["statuses"] == ["duplicate"] * 8
    counts_match_records(office.engine)

    # A fix by hand (one record moved to another day, two deleted), then the repair.
    with office.engine.begin() as conn:
        conn.execute(
            text("UPDATE office_record SET day = '2020-01-02' WHERE seq = 1 AND kiosk_id = :k"), {"k": kiosk_id}
        )
        conn.execute(text("DELETE FROM office_record WHERE seq IN (2, 3) AND kiosk_id = :k"), {"k": kiosk_id})
    assert recount_days(office.engine) == 6
    counts_match_records(office.engine)
    row = next(r for r in day_report(office.engine, dt.date.today())["checkpoints"] if r["kiosk_id"] == kiosk_id)
    assert (row["in"], row["out"], row["records"], row["denials"].get("revoked", 0)) == (0, 0, 5, 0)
    assert day_report(office.engine, dt.date(2020, 1, 2))["totals"]["in"] == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_migration_counts_the_records_an_office_already_held(tmp_path, backend):
    from alembic import command
    from alembic.config import Config

    from sync.office.db import MIGRATIONS_DIR, open_office_engine, upgrade

    schema = None
    url = None
    if backend == "postgres":
        schema = PgSchema(postgres_url())
        url = schema.url
    engine = open_office_engine(tmp_path / "office", url, migrate=False)
    try:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        with engine.begin() as conn:  # an office from before the day counts
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0001")
        day = dt.date.today().isoformat()
        with engine.begin() as conn:
            for s in range(1, 11):
                conn.execute(
                    text(
                        "INSERT INTO office_record (record_id, kiosk_id, epoch, seq, kind, payload, payload_hash,"
                        " device_time, corrected_time, received_at, time_quality, day, hlc, boot_id, mono_ns,"
                        " clock_flag, versions, flags, direction, verdict, reasons)"
                        " VALUES (:r, 'k1', 1, :s, 'passage', '{}', 'h', 0, 0, 0, 'device', :d, :s, 'b', :s, '', '{}', '',"
                        " :dir, 'allow', '[]')"
                    ),
                    {"r": f"r{s}", "s": s, "d": day, "dir": "in" if s % 2 else "out"},
                )
        upgrade(engine)
        kept = counts_match_records(engine)
        assert sorted(kept.values()) == [5, 5]
    finally:
        engine.dispose()
        if schema is not None:
            schema.drop()


def test_payloads_json_reads_are_read_and_only_those():
    from sync.office.ingest import build_row
    from sync.schemas import OutboxItem

    def flags_and_direction(payload: str):
        item = OutboxItem(**record(1, payload))
        row = build_row("k", 1, item, None, time.time())
        return row["flags"], row["direction"]

    # NaN and a 30-digit integer: json reads them, orjson would not.
    assert flags_and_direction('{"direction": "in", "verdict": "allow", "t": NaN}') == ("", "in")
    assert flags_and_direction('{"direction": "out", "n": 123456789012345678901234567890}') == ("", "out")
    assert flags_and_direction('{"direction": "in"') == ("unreadable", None)
    assert flags_and_direction("[1, 2]") == ("unreadable", None)
    assert flags_and_direction("[" * 60_000)[0] == "unreadable"  # too deep for json: flagged, not a crash


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Asia/Kolkata", "America/St_Johns", "Australia/Lord_Howe"])
def test_office_day_equals_localtime_in_every_zone(zone):
    from sync.office import ingest

    before = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    ingest._bucket_day.cache_clear()
    try:
        start = 1_700_000_000.0
        # Around many midnights and DST changes: a step co-prime with the quarter hour.
        for ts in (start + i * 7919.37 for i in range(5000)):
            assert ingest._local_day(ts) == time.strftime("%Y-%m-%d", time.localtime(ts)), ts
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()
        ingest._bucket_day.cache_clear()


def test_a_nul_character_is_stored_flagged_and_never_blocks_the_queue(office, tmp_path):
    """PostgreSQL refuses NUL in text; the record must still be stored (flagged), not 503."""
    store, _service = office.add_kiosk(tmp_path / "k")
    # A NUL inside a payload string (JSON "\u0000") reaches the extracted columns as a real NUL.
    poison = record(1, {"direction": "in", "verdict": "deny", "reasons": "x\x00y", "name": "a\x00b"})
    after = record(2, {"direction": "in", "verdict": "allow", "reasons": "[]"})
    answer = push(office, store, [poison, after])
    assert answer["statuses"] == ["stored", "stored"]
    assert answer["hwm"] == 2
    with office.engine.connect() as conn:
        flags = conn.execute(
            text("SELECT flags FROM office_record WHERE record_id = :r"), {"r": poison["record_id"]}
        ).scalar()
    assert "nul" in flags.split(",")


def test_a_raw_nul_in_the_envelope_is_a_clean_422_and_stores_nothing(office, tmp_path):
    store, _service = office.add_kiosk(tmp_path / "k")
    bad = record(1, {"direction": "in", "verdict": "allow", "reasons": "[]"})
    bad["boot_id"] = "boot\x00id"
    state = store.kiosk_state()
    reading = clock.now()
    doc = {
        "batch_id": uuid.uuid4().hex,
        "epoch": 1,
        "anchor": {"boot_id": reading.boot_id, "mono_ns": reading.mono_ns, "wall": reading.wall},
        "backlog": 0,
        "records": [bad],
    }
    body = gzip.compress(json.dumps(doc).encode())
    headers = signing.sign_request(store.signing_key, state.kiosk_id, 1, uuid.uuid4().hex, body)
    headers.update({"Content-Encoding": "gzip", "Content-Type": "application/json"})
    r = office.client.post("/v1/push", content=body, headers=headers)
    assert r.status_code == 422 and "Traceback" not in r.text
    assert rows_of(office, state.kiosk_id) == {}


def test_a_copy_claiming_the_original_hash_over_another_payload_is_quarantined(office, tmp_path):
    store, _service = office.add_kiosk(tmp_path / "k")
    original = record(1, {"direction": "in", "verdict": "allow", "reasons": "[]"})
    assert push(office, store, [original])["statuses"] == ["stored"]
    tampered = dict(original, payload='{"direction": "out", "verdict": "allow", "reasons": "[]"}')  # old hash kept
    assert push(office, store, [tampered])["statuses"] == ["conflict"]
    assert push(office, store, [original])["statuses"] == ["duplicate"]  # an honest retry still is one
    with office.engine.connect() as conn:
        held = conn.execute(
            text("SELECT payload FROM office_record WHERE record_id = :r"), {"r": original["record_id"]}
        ).scalar()
        quarantined = conn.execute(
            text("SELECT count(*) FROM office_conflict WHERE record_id = :r"), {"r": original["record_id"]}
        ).scalar()
    assert held == original["payload"] and quarantined == 1


def test_a_kiosk_revoked_by_another_process_is_refused_at_its_very_next_push(office, tmp_path):
    """The office remembers a kiosk's key after its first push (no database read per push);
    `kakou office revoke-kiosk`, run as its own process, cannot tell the server anything."""
    store, _service = office.add_kiosk(tmp_path / "k", "西门卡口")
    kiosk_id = store.kiosk_state().kiosk_id
    first = record(1, {"direction": "in", "verdict": "allow", "reasons": "[]"})
    assert push(office, store, [first])["statuses"] == ["stored"]  # the key is remembered now

    command = [sys.executable, "-m", "tui.cli", "office", "revoke-kiosk", "--office-dir", str(office.office_dir)]
    if office.database_url:
        command += ["--database-url", office.database_url]
    done = subprocess.run([*command, "西门卡口"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr

    for seq in (2, 3):  # the refusal is in the database's words, and stays
        answer = send(office, store, [record(seq, {"direction": "out", "verdict": "allow", "reasons": "[]"})])
        assert answer.status_code == 403 and answer.json()["code"] == "kiosk_revoked", answer.text
        assert answer.json()["zh"] and answer.json()["en"]
    assert set(rows_of(office, kiosk_id)) == {first["record_id"]}  # nothing of the refused batches
    with office.engine.connect() as conn:
        mark = conn.execute(text("SELECT hwm FROM office_kiosk_epoch WHERE kiosk_id = :k"), {"k": kiosk_id}).scalar()
        conn.rollback()
    assert mark == 1


def test_a_revocation_committed_during_a_push_refuses_that_push(office, tmp_path):
    """The key comes from memory and the row is read in the push's transaction: a revocation
    that commits after the signature was checked but before the batch is stored still wins."""
    from sync.office import ingest as office_ingest
    from sync.office.enrol import revoke_kiosk

    store, _service = office.add_kiosk(tmp_path / "k")
    kiosk_id = store.kiosk_state().kiosk_id
    assert push(office, store, [record(1, {"direction": "in"})])["statuses"] == ["stored"]
    real_ingest = office_ingest.ingest

    def revoked_meanwhile(*args, **kwargs):
        revoke_kiosk(office.engine, kiosk_id)
        return real_ingest(*args, **kwargs)

    office_ingest.ingest = revoked_meanwhile
    try:
        answer = send(office, store, [record(2, {"direction": "in"})])
    finally:
        office_ingest.ingest = real_ingest
    assert answer.status_code == 403 and answer.json()["code"] == "kiosk_revoked", answer.text
    assert len(rows_of(office, kiosk_id)) == 1


def test_office_serve_turns_nagle_off_on_every_connection(monkeypatch, tmp_path):
    import uvicorn

    from sync.office import cli as office_cmd
    from sync.office.app import NoDelayHTTP

    class Transport:
        def __init__(self, sock):
            self.sock = sock

        def get_extra_info(self, name, default=None):
            return self.sock if name == "socket" else default

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0, as uvicorn makes it for --workers
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    try:
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        protocol = NoDelayHTTP.__new__(NoDelayHTTP)
        monkeypatch.setattr(NoDelayHTTP.__mro__[1], "connection_made", lambda self, transport: None)
        protocol.connection_made(Transport(accepted))
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        for s in (client, accepted, listener):
            s.close()

    # ... and `kakou office serve` runs uvicorn with it.
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    for name in (
        "KAKOU_OFFICE_DIR",
        "KAKOU_OFFICE_DATABASE_URL",
        "KAKOU_OFFICE_MAX_INFLIGHT",
        "KAKOU_OFFICE_RETRY_AFTER",
    ):
        # run_serve sets them for its workers: set then delete, so that monkeypatch removes them
        # afterwards (a delenv of an unset name records nothing, and the value would leak into
        # every later test of this process).
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    args = SimpleNamespace(
        office_dir=tmp_path / "office",
        database_url=None,
        host="127.0.0.1",
        port=1,
        workers=2,
        tls_cert=None,
        tls_key=None,
    )
    office_cmd.run_serve(args)
    assert seen["http"] == "sync.office.app:NoDelayHTTP" and seen["workers"] == 2
    assert os.environ["KAKOU_OFFICE_DIR"] == str(tmp_path / "office")  # what the workers read
