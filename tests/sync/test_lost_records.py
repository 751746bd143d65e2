"""Records a kiosk lost reach the office as lost, never as a silent gap (issue 13).

- a damaged -wal frame took committed records: the kiosk's mark outside the file says which, the
  push names the range, the office keeps it (office_lost_range) and its contiguous mark walks on;
- a record whose payload no longer matches its hash is not pushed as if it were fine: the office
  is told it is damaged, and the records after it flow;
- a kiosk cannot use "lost" to unsay records the office already holds."""

from __future__ import annotations

import gzip
import json
import sqlite3
import uuid

from sqlalchemy import text

from models import clock
from models.store import KioskStore
from sync import signing
from sync.kiosk import SyncService, read_status
from sync.office.status import format_status, kiosk_status
from tests.sync.helpers import office_records, sync_until_quiet
from tests.test_outbox_mark import damaged_wal_copy, fold_wal, held_seqs, record
from tui.sync_words import long_words


def office_mark(engine, kiosk_id: str, epoch: int) -> int:
    with engine.execution_options(immediate=False).connect() as conn:
        hwm = conn.execute(
            text("SELECT hwm FROM office_kiosk_epoch WHERE kiosk_id = :k AND epoch = :e"), {"k": kiosk_id, "e": epoch}
        ).scalar()
        conn.rollback()
    return int(hwm or 0)


def office_lost(engine, kiosk_id: str) -> list[tuple]:
    with engine.execution_options(immediate=False).connect() as conn:
        rows = conn.execute(
            text(
                "SELECT epoch, first_seq, last_seq, reason, status, held FROM office_lost_range WHERE kiosk_id = :k"
                " ORDER BY id"
            ),
            {"k": kiosk_id},
        ).all()
        conn.rollback()
    return [tuple(r) for r in rows]


def office_seqs(engine, kiosk_id: str) -> list[int]:
    with engine.execution_options(immediate=False).connect() as conn:
        seqs = conn.execute(
            text("SELECT seq FROM office_record WHERE kiosk_id = :k ORDER BY seq"), {"k": kiosk_id}
        ).scalars()
        out = [int(s) for s in seqs]
        conn.rollback()
    return out


def test_records_lost_with_a_damaged_wal_frame_are_marked_lost_at_the_office(office, tmp_path):
    store, service = office.add_kiosk(tmp_path / "k")
    record(store, 10)
    sync_until_quiet(service)
    kiosk_id = store.kiosk_state().kiosk_id
    fold_wal(store)
    record(store, 40)  # seqs 11-50, in the -wal file, not yet pushed
    copy = damaged_wal_copy(store, tmp_path / "copy")
    store.engine.dispose()
    office.kiosks.remove(store)
    kept = max(held_seqs(copy))
    assert 10 <= kept < 50

    restored = KioskStore.open(copy)
    office.kiosks.append(restored)
    assert record(restored, 3) == [51, 52, 53]  # after the last seq ever committed, not kept + 1
    result = sync_until_quiet(SyncService(restored, client=office.client))

    # The office holds every record the kiosk still has, marks the rest lost, and its mark walked on.
    assert office_seqs(office.engine, kiosk_id) == [*range(1, kept + 1), 51, 52, 53]
    assert result.lost_reported == 50 - kept
    assert office_lost(office.engine, kiosk_id) == [(1, kept + 1, 50, "missing", "lost", 0)]
    assert office_mark(office.engine, kiosk_id, 1) == 53
    # `kakou office status` says it for that kiosk.
    (row,) = kiosk_status(office.engine)["kiosks"]
    assert row["lost"] == 50 - kept and row["lost_ranges"] == [[1, kept + 1, 50, "missing"]]
    assert f"lost (epoch:seq 1:{kept + 1}-50)" in format_status(kiosk_status(office.engine))
    # The kiosk knows the office has been told; it keeps saying what was lost.
    words, level = long_words(read_status(restored), "en")
    assert level == "error" and "the office has been told" in words and f"lost {50 - kept} saved records" in words
    # Nothing is sent again for ever: the next round has nothing to do.
    again = SyncService(restored, client=office.client).run_once()
    assert again.ok and again.pushed == 0 and again.remaining == 0


def test_the_office_day_report_lists_the_lost_range(office, tmp_path):
    import datetime as dt

    from sync.office.report import day_report, format_table

    store, _service = office.add_kiosk(tmp_path / "k")
    fold_wal(store)
    record(store, 40)
    copy = damaged_wal_copy(store, tmp_path / "copy")
    store.engine.dispose()
    office.kiosks.remove(store)
    restored = KioskStore.open(copy)
    office.kiosks.append(restored)
    sync_until_quiet(SyncService(restored, client=office.client))
    kept = max(held_seqs(copy))
    report = day_report(office.engine, dt.date.today())
    (entry,) = report["lost"]
    assert entry["lost"] == 40 - kept and entry["ranges"] == [(1, kept + 1, 40, "missing")]
    assert f"1:{kept + 1}-40" in format_table(report, "en")


def _damage_payload(store: KioskStore, seq: int) -> None:
    """One byte of a committed record changed, its hash not (quick_check cannot see it)."""
    conn = sqlite3.connect(store.data_dir / "kakou.db")
    conn.execute("UPDATE outbox SET payload = replace(payload, '\"in\"', '\"ix\"') WHERE seq = ?", (seq,))
    conn.commit()
    conn.close()


def test_a_record_that_no_longer_matches_its_hash_is_not_pushed_and_the_rest_flows(office, tmp_path):
    store, service = office.add_kiosk(tmp_path / "k")
    record(store, 10)
    _damage_payload(store, 4)
    with store.engine.connect() as conn:
        bad_id = conn.execute(text("SELECT record_id FROM outbox WHERE seq = 4")).scalar()
        conn.rollback()
    kiosk_id = store.kiosk_state().kiosk_id

    result = sync_until_quiet(service)
    held = office_records(office.engine, kiosk_id)
    assert bad_id not in held and len(held) == 9  # not sent as if it were fine
    assert result.damaged == 1 and result.lost_reported == 1
    assert office_lost(office.engine, kiosk_id) == [(1, 4, 4, "damaged", "lost", 0)]
    assert office_mark(office.engine, kiosk_id, 1) == 10  # the queue is not stalled behind it
    words, level = long_words(read_status(store, service), "en")
    assert level == "error" and "1 records are damaged" in words and "the office has been told" in words
    # And the records after it keep flowing.
    record(store, 3)
    sync_until_quiet(service)
    assert office_mark(office.engine, kiosk_id, 1) == 13 and len(office_records(office.engine, kiosk_id)) == 12


def _claim(service: SyncService, lost: list[dict], *, records: list | None = None, epoch: int = 1):
    """A push exactly as a kiosk signs it, with whatever lost claims it likes (a rogue kiosk)."""
    state = service.store.kiosk_state()
    reading = clock.now()
    doc = {
        "batch_id": uuid.uuid4().hex,
        "epoch": epoch,
        "anchor": {"boot_id": reading.boot_id, "mono_ns": reading.mono_ns, "wall": reading.wall},
        "records": records or [],
        "lost": lost,
    }
    body = gzip.compress(json.dumps(doc).encode())
    headers = signing.sign_request(service.store.signing_key, state.kiosk_id, epoch, service.new_request_id(), body)
    headers.update({"Content-Encoding": "gzip", "Content-Type": "application/json"})
    return service._http().post("/v1/push", content=body, headers=headers)


def test_a_rogue_kiosk_cannot_call_records_the_office_holds_lost(office, tmp_path):
    store, service = office.add_kiosk(tmp_path / "k")
    record(store, 10)
    sync_until_quiet(service)
    kiosk_id = store.kiosk_state().kiosk_id
    before = office_records(office.engine, kiosk_id)

    # Every record it sent, claimed lost: nothing is counted lost, every record stays, the claim
    # is kept as refused (how many the office holds) - the audit of what it tried.
    answer = _claim(service, [{"epoch": 1, "first": 1, "last": 10, "reason": "missing"}])
    assert answer.status_code == 200
    assert office_records(office.engine, kiosk_id) == before
    assert office_lost(office.engine, kiosk_id) == [(1, 1, 10, "missing", "refused", 10)]
    assert answer.json()["lost"] == 0
    # Sent again (a retry): kept once.
    _claim(service, [{"epoch": 1, "first": 1, "last": 10, "reason": "missing"}])
    assert len(office_lost(office.engine, kiosk_id)) == 1
    # Over held and missing seqs: only the missing ones count as lost.
    answer = _claim(service, [{"epoch": 1, "first": 8, "last": 14, "reason": "missing"}])
    assert answer.json()["lost"] == 4 and answer.json()["hwm"] == 14
    assert (1, 11, 14, "missing", "lost", 0) in office_lost(office.engine, kiosk_id)
    (row,) = kiosk_status(office.engine)["kiosks"]
    assert row["lost"] == 4 and [1, 1, 10, 10] in row["lost_refused"]
    assert "held by the office: they stay, not counted lost" in format_status(kiosk_status(office.engine))
    # Claims outside the rules are refused whole (422): a later epoch than the batch's, a reversed
    # or an endless range.
    for bad in (
        {"epoch": 2, "first": 1, "last": 3, "reason": "missing"},
        {"epoch": 1, "first": 9, "last": 3, "reason": "missing"},
        {"epoch": 1, "first": 20, "last": 10**12, "reason": "missing"},
        {"epoch": 1, "first": 20, "last": 21, "reason": "whatever"},
    ):
        assert _claim(service, [bad]).status_code == 422, bad
    # Many ranges that each fit but together would make the office read millions of seqs.
    many = [{"epoch": 1, "first": 1 + i * 90_000, "last": (i + 1) * 90_000, "reason": "missing"} for i in range(3)]
    assert _claim(service, many).status_code == 422
    assert office_records(office.engine, kiosk_id) == before
