"""Office report and sync behaviours no other test pinned down (issue 11)."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import time

from sqlalchemy import text

from models.facts import REGISTRATION_KINDS
from models.store import KioskStore
from sync.kiosk import SyncService
from sync.office.report import day_report, format_table
from tests.sync.helpers import check_invariant, sync_until_quiet, write_passages


def _row(report, kiosk_id):
    return next(r for r in report["checkpoints"] if r["kiosk_id"] == kiosk_id)


def test_a_checkpoint_in_touch_that_recorded_nothing_is_a_zero_report_not_silence(office, tmp_path):
    quiet, quiet_sync = office.add_kiosk(tmp_path / "quiet", "东门卡口")
    gone, _ = office.add_kiosk(tmp_path / "gone", "西门卡口")
    result = quiet_sync.run_once()  # in touch today, with nothing to send
    assert result.ok and result.pushed == 0
    quiet_id, gone_id = quiet.kiosk_state().kiosk_id, gone.kiosk_state().kiosk_id
    with office.engine.begin() as conn:  # the other one was last heard of yesterday
        conn.execute(
            text("UPDATE office_kiosk SET last_seen = :t, last_push = :t WHERE kiosk_id = :k"),
            {"t": time.time() - 2 * 86400, "k": gone_id},
        )
    report = day_report(office.engine, dt.date.today())
    row = _row(report, quiet_id)
    assert row["records"] == 0 and (row["in"], row["out"], row["turned_back"], row["fevers"]) == (0, 0, 0, 0)
    assert row["reported"] is True
    assert [s["kiosk_id"] for s in report["not_reported"]] == [gone_id]
    assert _row(report, gone_id)["reported"] is False
    table = format_table(report, "en")
    assert "NOT REPORTED (1)" in table
    silent_lines = table.split("NOT REPORTED")[1]
    assert "西门卡口" in silent_lines and "东门卡口" not in silent_lines


def test_per_kind_registration_counts_are_there_when_zero(office, tmp_path):
    store, service = office.add_kiosk(tmp_path / "k")
    write_passages(store, 3)
    sync_until_quiet(service)
    report = day_report(office.engine, dt.date.today())
    row = _row(report, store.kiosk_state().kiosk_id)
    assert row["records"] == 3 and row["registrations"] == 0
    assert row["registrations_by_kind"] == dict.fromkeys(REGISTRATION_KINDS, 0)


def _backup(store, dest):
    with sqlite3.connect(store.data_dir / "kakou.db") as src, sqlite3.connect(dest) as dst:
        src.backup(dst)


def test_a_file_restored_from_before_its_last_ack_drains_to_zero_without_resending(office, tmp_path):
    """The backup holds records the office got after it was taken (their ack is not in the
    backup): the restored kiosk learns the office's mark and has nothing left to send; it
    must not keep offering those records round after round."""
    store, service = office.add_kiosk(tmp_path / "k")
    write_passages(store, 100)
    sync_until_quiet(service)
    write_passages(store, 40)  # written, not yet acknowledged...
    _backup(store, tmp_path / "backup.db")  # ...when the backup is taken
    sync_until_quiet(service)
    assert store.kiosk_state().acked_seq == 140
    store.engine.dispose()
    for suffix in ("-wal", "-shm"):
        (store.data_dir / f"kakou.db{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "backup.db", store.data_dir / "kakou.db")
    restored = KioskStore.open(store.data_dir)
    office.kiosks.append(restored)
    state = restored.kiosk_state()
    assert (state.last_seq, state.acked_seq) == (140, 100) and restored.pending()[0] == 40

    service = SyncService(restored, client=office.client)
    pushes_before = sum(1 for entry in office.transport.log if entry[0] == "/v1/push")
    first = service.run_once()
    assert first.ok and not first.epoch_bumped and first.remaining == 0
    assert restored.pending()[0] == 0 and restored.kiosk_state().acked_seq == 140
    for _ in range(3):  # and it stays drained: nothing is offered again
        again = service.run_once()
        assert again.ok and again.pushed == 0 and again.duplicates == 0 and again.remaining == 0
    assert sum(1 for entry in office.transport.log if entry[0] == "/v1/push") == pushes_before
    check_invariant(restored, office.engine)
    write_passages(restored, 5)  # and new records carry on after the office's mark
    assert sync_until_quiet(service).pushed == 5
    check_invariant(restored, office.engine)
