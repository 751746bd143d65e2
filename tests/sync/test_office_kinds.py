"""The office counts by the one table of kinds (models/kinds.py): every registration kind and
every fever outcome is counted through the ingest and the day report, zero included, so a kind
added to the table is counted without touching the office."""

from __future__ import annotations

import datetime as dt

from models.kinds import FEVER_OUTCOMES, REGISTRATION_KINDS
from sync.office.report import day_report, format_csv
from tests.sync.test_ingest_perf_paths import push, record


def test_every_registration_kind_and_fever_outcome_is_counted_and_labelled(sqlite_office, tmp_path):
    office = sqlite_office
    store, _service = office.add_kiosk(tmp_path / "k")
    kiosk_id = store.kiosk_state().kiosk_id
    batch = [record(n, {"kind": code}, kind="registration") for n, code in enumerate(REGISTRATION_KINDS, 1)]
    seq = len(batch)
    for outcome in FEVER_OUTCOMES:
        seq += 1
        batch.append(record(seq, {"case_id": f"c{seq}", "outcome": outcome}, kind="fever_outcome"))
    seq += 1
    batch.append(record(seq, {"direction": "in", "verdict": "deny", "reasons": ["bad_signature"]}))
    assert push(office, store, batch)["statuses"] == ["stored"] * len(batch)

    report = day_report(office.engine, dt.date.today())
    row = next(r for r in report["checkpoints"] if r["kiosk_id"] == kiosk_id)
    assert row["registrations_by_kind"] == dict.fromkeys(REGISTRATION_KINDS, 1)
    assert row["registrations"] == len(REGISTRATION_KINDS)
    assert all(row[f"fever_{k}"] == 1 for k in FEVER_OUTCOMES)
    assert all(report["totals"][f"fever_{k}"] == 1 for k in FEVER_OUTCOMES)
    assert row["denials"] == {"bad_signature": 1}  # the JSON keeps the codes

    # The clerk's sheet labels the reason from the table (issue 14: it said "bad_signature:1").
    sheet = format_csv(report, "zh")
    assert "签名不符 1" in sheet and "bad_signature" not in sheet
    assert "bad signature 1" in format_csv(report, "en")

    # A checkpoint with nothing today still has every kind, at zero.
    other, _ = office.add_kiosk(tmp_path / "k2")
    quiet = next(
        r
        for r in day_report(office.engine, dt.date.today())["checkpoints"]
        if r["kiosk_id"] == other.kiosk_state().kiosk_id
    )
    assert quiet["registrations_by_kind"] == dict.fromkeys(REGISTRATION_KINDS, 0)
