"""The fault matrix of sync-anchors.md: each case ends with the same invariant, checked after
the system went quiet (the office holds exactly the kiosk's records, equal hashes, no
duplicate rows, the office's mark equals the kiosk's last seq)."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import sqlite3
import threading
import time
import uuid

import httpx
import pytest
from sqlalchemy import text

from models import clock
from models.store import KioskStore
from sync import signing
from sync.kiosk import Backoff, SyncLoop, SyncService
from tests.sync.helpers import (
    ThreadedServer,
    check_invariant,
    kiosk_records,
    office_records,
    sync_until_quiet,
    write_passages,
)


class PowerCut(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


def office_count(office, store) -> int:
    return len(office_records(office.engine, store.kiosk_state().kiosk_id))


def signed_push(service: SyncService, records: list[dict], epoch: int | None = None) -> tuple[bytes, dict]:
    """A push request exactly as the kiosk builds it (for replays and hand-made batches)."""
    state = service.store.kiosk_state()
    reading = clock.now()
    doc = {
        "batch_id": uuid.uuid4().hex,
        "epoch": epoch or state.epoch,
        "anchor": {"boot_id": reading.boot_id, "mono_ns": reading.mono_ns, "wall": reading.wall},
        "backlog": 0,
        "records": records,
    }
    body = gzip.compress(json.dumps(doc).encode())
    headers = signing.sign_request(
        service.store.signing_key, state.kiosk_id, epoch or state.epoch, service.new_request_id(), body
    )
    headers.update({"Content-Encoding": "gzip", "Content-Type": "application/json"})
    return body, headers


def _who(store) -> tuple[str, int]:
    state = store.kiosk_state()
    return state.kiosk_id, state.epoch


def test_response_lost_after_commit(office, tmp_path):
    store, service = office.add_kiosk(tmp_path / "k")
    write_passages(store, 1200)
    office.transport.add("/v1/push", "drop_response")
    first = service.run_once()
    assert first.error is not None and first.error.code == "offline"
    assert office_count(office, store) == 500  # the office committed the batch whose answer was lost
    result = sync_until_quiet(service)
    assert result.pushed == 700 and result.duplicates == 0  # resumed from the office's mark
    check_invariant(store, office.engine)


def test_connection_cut_mid_body(office, tmp_path):
    store, service = office.add_kiosk(tmp_path / "k")
    write_passages(store, 800)
    office.transport.add("/v1/push", "cut_body")
    assert service.run_once().error.code == "offline"
    path, _body, _headers, status = office.transport.log[-1]
    assert path == "/v1/push" and 400 <= status < 500  # half a body is refused whole
    assert office_count(office, store) == 0
    sync_until_quiet(service)
    check_invariant(store, office.engine)


def test_kiosk_killed_while_building_a_batch(office, tmp_path, monkeypatch):
    store, service = office.add_kiosk(tmp_path / "k")
    write_passages(store, 1100)
    calls = {"n": 0}
    real_batch = SyncService._read_batch

    def dying_batch(self, *args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise PowerCut()
        return real_batch(self, *args)

    monkeypatch.setattr(SyncService, "_read_batch", dying_batch)
    with pytest.raises(PowerCut):
        service.run_once()
    monkeypatch.setattr(SyncService, "_read_batch", real_batch)
    store.engine.dispose()
    reopened = KioskStore.open(store.data_dir)
    office.kiosks.append(reopened)
    sync_until_quiet(SyncService(reopened, client=office.client))
    check_invariant(reopened, office.engine)


def test_power_cut_after_office_ack_before_kiosk_ack(office, tmp_path, monkeypatch):
    store, service = office.add_kiosk(tmp_path / "k")
    write_passages(store, 900)

    def cut(self, epoch, hwm):
        raise PowerCut()

    monkeypatch.setattr(SyncService, "_set_acked", cut)
    with pytest.raises(PowerCut):
        service.run_once()
    monkeypatch.undo()
    assert store.kiosk_state().acked_seq == 0 and office_count(office, store) == 500
    store.engine.dispose()
    reopened = KioskStore.open(store.data_dir)
    office.kiosks.append(reopened)
    result = sync_until_quiet(SyncService(reopened, client=office.client))
    assert result.duplicates == 0 and result.pushed == 400
    check_invariant(reopened, office.engine)


def _backup(store, dest):
    with sqlite3.connect(store.data_dir / "kakou.db") as src, sqlite3.connect(dest) as dst:
        src.backup(dst)


def _restore(store, backup) -> KioskStore:
    store.engine.dispose()
    for suffix in ("-wal", "-shm"):
        (store.data_dir / f"kakou.db{suffix}").unlink(missing_ok=True)
    # The whole data dir goes back, the outbox's mark with it (models/hwm.py): the mark cannot
    # tell, and the office's word must move the kiosk to a new epoch. (With the mark kept, the
    # kiosk itself knows what it lost and numbers on after it: tests/sync/test_lost_records.py.)
    (store.data_dir / "outbox.mark").unlink(missing_ok=True)
    shutil.copy(backup, store.data_dir / "kakou.db")
    return KioskStore.open(store.data_dir)


@pytest.mark.parametrize("new_after_restore", [30, 50, 0])
def test_kiosk_database_rolled_back(office, tmp_path, new_after_restore):
    """The kiosk's file goes back to a backup (or the power cut took its last commits): the
    office holds seqs the kiosk will hand out again. 50 new records reuse exactly the lost seq
    numbers, so only the record ids tell them apart."""
    store, service = office.add_kiosk(tmp_path / "k")
    write_passages(store, 100)
    sync_until_quiet(service)
    _backup(store, tmp_path / "backup.db")
    lost = set(write_passages(store, 50))
    sync_until_quiet(service)
    store = _restore(store, tmp_path / "backup.db")
    office.kiosks.append(store)
    write_passages(store, new_after_restore)
    service = SyncService(store, client=office.client)
    sync_until_quiet(service)
    state = store.kiosk_state()
    if new_after_restore:
        assert state.epoch == 2
    check_invariant(store, office.engine, lost_on_kiosk=lost)
    # Later records keep flowing in the new epoch.
    write_passages(store, 10)
    sync_until_quiet(service)
    check_invariant(store, office.engine, lost_on_kiosk=lost)


def test_week_old_batch_replayed_and_altered(office, tmp_path):
    store, service = office.add_kiosk(tmp_path / "k")
    write_passages(store, 300)
    sync_until_quiet(service)
    _path, body, headers, status = next(e for e in office.transport.log if e[0] == "/v1/push")
    assert status == 200
    write_passages(store, 200)
    sync_until_quiet(service)
    before = office_count(office, store)
    replay = office.client.post("/v1/push", content=body, headers=headers)
    # A request is taken once (sync/office/replay.py): the replay is refused with nothing done.
    assert replay.status_code == 409 and replay.json()["code"] == "stale_request"
    doc = json.loads(gzip.decompress(body))
    doc["records"][0]["payload"] = doc["records"][0]["payload"].replace('"in"', '"out"')
    altered = office.client.post("/v1/push", content=gzip.compress(json.dumps(doc).encode()), headers=headers)
    assert altered.status_code == 401 and altered.json()["code"] == "bad_signature"
    assert office_count(office, store) == before
    check_invariant(store, office.engine)


def test_altered_copy_of_a_record_is_quarantined_original_kept(office, tmp_path):
    store, service = office.add_kiosk(tmp_path / "k")
    write_passages(store, 5)
    sync_until_quiet(service)
    record = service._batch(store.kiosk_state().epoch, 0, 1)[0]
    original = dict(record)
    record["payload"] = record["payload"].replace('"allow"', '"deny"')
    record["payload_hash"] = signing.sha256_hex(record["payload"].encode())
    body, headers = signed_push(service, [record])
    answer = office.client.post("/v1/push", content=body, headers=headers)
    assert answer.status_code == 200 and answer.json()["statuses"] == ["conflict"]
    assert (
        office_records(office.engine, store.kiosk_state().kiosk_id)[original["record_id"]] == original["payload_hash"]
    )
    with office.engine.connect() as conn:
        copy = conn.execute(
            text("SELECT payload_hash, reason FROM office_conflict WHERE record_id = :r"), {"r": original["record_id"]}
        ).one()
        conn.rollback()
    assert copy == (record["payload_hash"], "conflict")
    check_invariant(store, office.engine)


def test_two_concurrent_pushes_of_the_same_records(office, tmp_path):
    with ThreadedServer(office.app) as server:
        http = httpx.Client(base_url=server.url, timeout=30)
        store, service = office.add_kiosk(tmp_path / "k", client=http)
        write_passages(store, 2000)
        epoch = store.kiosk_state().epoch
        stored_total = 0
        for start in range(0, 2000, 250):
            body, headers = signed_push(service, service._batch(epoch, start, 250))
            barrier = threading.Barrier(2)
            answers = []

            # Two requests of the same records (each with its own request id, as two processes
            # of the kiosk would send them).
            again = dict(
                headers, **signing.sign_request(store.signing_key, *_who(store), service.new_request_id(), body)
            )

            def send(barrier=barrier, answers=answers, body=body, headers=headers):
                barrier.wait()
                answer = httpx.post(server.url + "/v1/push", content=body, headers=headers, timeout=30)
                if answer.status_code == 409 and answer.json()["code"] == "stale_request":
                    # The later stamp was taken first: the kiosk sends once more with a new one.
                    fresh = signing.request_id_for(answer.json()["next_stamp"] + 10)
                    headers = dict(headers, **signing.sign_request(store.signing_key, *_who(store), fresh, body))
                    answer = httpx.post(server.url + "/v1/push", content=body, headers=headers, timeout=30)
                answers.append(answer)

            threads = [threading.Thread(target=send), threading.Thread(target=send, kwargs={"headers": again})]
            for th in threads:
                th.start()
            for th in threads:
                th.join(timeout=30)
            assert [a.status_code for a in answers] == [200, 200]
            statuses = [a.json()["statuses"] for a in answers]
            for pair in zip(*statuses, strict=False):
                assert sorted(pair) == ["duplicate", "stored"]  # each record stored exactly once
            stored_total += sum(s.count("stored") for s in statuses)
        assert stored_total == 2000
        sync_until_quiet(service)
        check_invariant(store, office.engine)
        http.close()


def test_batches_out_of_order(office, tmp_path):
    store, service = office.add_kiosk(tmp_path / "k")
    write_passages(store, 1000)
    epoch = store.kiosk_state().epoch
    late, early = service._batch(epoch, 500, 500), service._batch(epoch, 0, 500)
    body, headers = signed_push(service, late)
    assert office.client.post("/v1/push", content=body, headers=headers).json()["hwm"] == 0
    body, headers = signed_push(service, early)
    assert office.client.post("/v1/push", content=body, headers=headers).json()["hwm"] == 1000
    result = sync_until_quiet(service)
    assert result.pushed == 0
    check_invariant(store, office.engine)


@pytest.mark.parametrize(
    "offset", [-time.time() + 1.0, -3600.0, 365 * 86400.0], ids=["1970", "hour_back", "year_ahead"]
)
def test_wrong_kiosk_clock(office, tmp_path, offset):
    store, service = office.add_kiosk(tmp_path / "k")
    write_passages(store, 20)
    now = clock.now()
    wrong = clock.Reading(wall=now.wall + offset, mono_ns=now.mono_ns, boot_id=now.boot_id)
    wrong_ids = write_passages(store, 20, reading=wrong, in_one_txn=False)
    # A record from an earlier boot the office never saw an anchor for.
    orphan = write_passages(store, 1, reading=clock.Reading(wall=now.wall + offset, mono_ns=5, boot_id="earlier-boot"))
    sync_until_quiet(service)
    check_invariant(store, office.engine)
    with office.engine.connect() as conn:
        rows = {
            r.record_id: r
            for r in conn.execute(
                text("SELECT record_id, device_time, corrected_time, time_quality, flags FROM office_record")
            ).all()
        }
        conn.rollback()
    received = time.time()
    for rid in wrong_ids:
        r = rows[rid]
        assert r.device_time == pytest.approx(now.wall + offset, abs=5)
        assert r.time_quality == "anchored" and abs(r.corrected_time - received) < 60
    o = rows[orphan[0]]
    if offset < 0 and now.wall + offset > 1577836800:  # one hour back is still believable on its own
        assert o.time_quality == "device"
    else:
        assert o.time_quality == "received" and "clock" in o.flags
    # The kiosk's own order never went backwards: ids still sort by record order.
    assert sorted(kiosk_records(store)) == sorted(kiosk_records(store))


def test_backlog_of_100k_records(sqlite_office, tmp_path):
    """A week offline: 100k records drain over real HTTP on loopback (the speed is measured
    in tests/bench/bench_sync.py, not here)."""
    import os
    import signal

    from tests.sync.helpers import free_port, serve_office

    office = sqlite_office
    port = free_port()
    proc = serve_office(office.office_dir, port)  # its own process, as the office is in real life
    try:
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        store, service = office.add_kiosk(tmp_path / "k", client=http)
        write_passages(store, 100_000)
        result = sync_until_quiet(service, rounds=3)
        assert result.pushed == 100_000
        check_invariant(store, office.engine)
        http.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def test_many_kiosks_at_once_with_429(tmp_path):
    from sync.office.app import create_app

    app = create_app(tmp_path / "office", max_inflight=1, retry_after=0)
    engine = app.state.office.engine
    from tests.sync.helpers import OfficeHandle

    with ThreadedServer(app) as server:
        office = OfficeHandle(app, engine, tmp_path / "office", None, None, httpx.Client(base_url=server.url))
        kiosks = []
        for i in range(10):
            http = httpx.Client(base_url=server.url, timeout=30)
            store, service = office.add_kiosk(tmp_path / f"k{i}", client=http)
            service.batch_records = 200
            write_passages(store, 1000)
            kiosks.append((store, service))
        busy = []

        def drain(store, service):
            # The kiosk's own loop, as `kakou sync` runs it: backoff 0.02 s .. 0.2 s between tries.
            loop = SyncLoop(store, make_service=lambda _s: service, interval=0.04, backoff=Backoff(base=0.02, cap=0.2))
            loop.run(until_sent=True, deadline=time.monotonic() + 110, on_retry=lambda r, _d: busy.append(r.error.code))

        threads = [threading.Thread(target=drain, args=(st, s)) for st, s in kiosks]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)
        assert "busy" in busy  # the office did push back
        for store, _service in kiosks:
            check_invariant(store, engine)
    engine.dispose()


def test_office_restored_from_older_backup(tmp_path):
    from sync.office.app import create_app
    from tests.sync.helpers import new_client

    app = create_app(tmp_path / "office")
    client, transport = new_client(app)
    from tests.sync.helpers import OfficeHandle

    office = OfficeHandle(app, app.state.office.engine, tmp_path / "office", None, transport, client)
    store, service = office.add_kiosk(tmp_path / "k")
    write_passages(store, 300)
    sync_until_quiet(service)
    with (
        sqlite3.connect(tmp_path / "office" / "office.db") as src,
        sqlite3.connect(tmp_path / "office-backup.db") as dst,
    ):
        src.backup(dst)
    write_passages(store, 400)
    sync_until_quiet(service)
    office.engine.dispose()
    with (
        sqlite3.connect(tmp_path / "office-backup.db") as src,
        sqlite3.connect(tmp_path / "office" / "office.db") as dst,
    ):
        src.backup(dst)
    restored = create_app(tmp_path / "office")
    client2, _ = new_client(restored)
    service = SyncService(store, client=client2)
    assert service.store.pending()[0] == 0
    result = sync_until_quiet(service)
    assert result.pushed == 400  # resent from the restored office's mark
    check_invariant(store, restored.state.office.engine)
    restored.state.office.engine.dispose()


def test_revoked_kiosk_key_mid_backlog(office, tmp_path):
    from sync.office.enrol import revoke_kiosk

    store, service = office.add_kiosk(tmp_path / "k")
    write_passages(store, 500)
    sync_until_quiet(service)
    revoke_kiosk(office.engine, store.kiosk_state().kiosk_id)
    write_passages(store, 300)
    result = service.run_once()
    assert result.error.code == "kiosk_revoked" and not result.error.retryable
    assert result.remaining == 300  # kept on the kiosk, nothing lost
    assert office_count(office, store) == 500
    from sync.kiosk import REFUSED
    from tui.sync_words import long_words, short_words

    status = service.status()
    assert status.state == REFUSED and status.trouble == "kiosk_revoked" and status.waiting == 300
    text_, level = long_words(status, "en")
    assert level == "error" and "revoked" in text_
    assert short_words(status, "en") == (text_, "error")  # the desk says it in the same words


def test_tampered_body_stores_nothing(office, tmp_path):
    store, service = office.add_kiosk(tmp_path / "k")
    write_passages(store, 50)
    body, headers = signed_push(service, service._batch(store.kiosk_state().epoch, 0, 50))
    tampered = bytearray(body)
    tampered[len(tampered) // 2] ^= 0x01
    answer = office.client.post("/v1/push", content=bytes(tampered), headers=headers)
    assert answer.status_code == 401 and answer.json()["en"]
    assert office_count(office, store) == 0
    sync_until_quiet(service)
    check_invariant(store, office.engine)


def _office_lists_changed(office):
    from sync.office import lists as office_lists

    with office.engine.begin() as conn:
        office_lists.revoke_pass(conn, "ab" * 16, "丢失 lost")
        office_lists.add_entry(conn, "quarantine", unit="3-2-501")
        office_lists.set_items(conn, "policy", {"fever_threshold": 37.5})


def _kiosk_lists(store):
    with store.engine.connect() as conn:
        out = (
            conn.execute(text("SELECT count(*) FROM revocation WHERE source = 'office'")).scalar(),
            conn.execute(text("SELECT count(*) FROM list_entry WHERE source = 'office'")).scalar(),
            dict(conn.execute(text("SELECT name, version FROM list_version")).all()),
        )
        conn.rollback()
    return out


def test_list_pull_cut_mid_apply(office, tmp_path, monkeypatch):
    import sync.kiosk as kiosk_mod

    store, service = office.add_kiosk(tmp_path / "k")
    _office_lists_changed(office)
    before = _kiosk_lists(store)
    real_apply = kiosk_mod._apply_documents

    def apply_then_die(conn, store_, docs):
        real_apply(conn, store_, docs[:1])
        raise PowerCut()

    monkeypatch.setattr(kiosk_mod, "_apply_documents", apply_then_die)
    with pytest.raises(PowerCut):
        service.run_once()
    monkeypatch.undo()
    assert _kiosk_lists(store) == before  # all or nothing
    office.transport.add("/v1/lists/", "drop_response")
    assert service.run_once().error.code == "offline"
    assert _kiosk_lists(store) == before
    sync_until_quiet(service)
    revoked, entries, versions = _kiosk_lists(store)
    assert revoked == 1 and entries == 1 and versions["policy"] == 1
    assert store.policy().fever_threshold == 37.5
    assert store.gate_state().quarantine_units == {"3-2-501": None}


def test_poison_record_is_stored_flagged_and_does_not_block(office, tmp_path):
    store, service = office.add_kiosk(tmp_path / "k")
    write_passages(store, 10)
    with store.writer.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO outbox (record_id, epoch, seq, kind, payload, payload_hash, wall_time, hlc, boot_id, mono_ns,"
                " clock_flag, versions) SELECT :r, epoch, last_seq + 1, 'passage', '{not json', :h, 0, hlc_last, 'b', 0, '', '{}'"
                " FROM kiosk_state"
            ),
            # Its hash is its own: a record whose payload no longer matches its hash is not sent at
            # all (the office is told it is damaged: tests/sync/test_lost_records.py).
            {"r": str(uuid.uuid4()), "h": hashlib.sha256(b"{not json").hexdigest()},
        )
        conn.execute(text("UPDATE kiosk_state SET last_seq = last_seq + 1"))
    write_passages(store, 10)
    sync_until_quiet(service)
    check_invariant(store, office.engine)
    with office.engine.connect() as conn:
        flags = conn.execute(text("SELECT flags FROM office_record WHERE flags <> ''")).scalars().all()
        conn.rollback()
    assert flags == ["unreadable,clock"]


def test_oversized_batch_is_halved_after_413(office, tmp_path):
    import os

    store, service = office.add_kiosk(tmp_path / "k")
    from models.outbox import append_fact

    with store.writer.begin() as conn:
        for _ in range(400):  # incompressible payloads: 400 x 6 KiB is well over the 1 MiB cap
            append_fact(conn, "audit", {"blob": os.urandom(3072).hex()}, clock.now())
    sync_until_quiet(service)
    assert 413 in [e[3] for e in office.transport.log]
    check_invariant(store, office.engine)
