"""0014_vouched_revocations: an office that already holds kiosks' pass records learns from them
which kiosk issued each pass and which revocations it published (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

from sqlalchemy import text

from sync.office.db import VERSION_TABLE, open_office_engine
from tests.conftest import office_at_revision
from tests.test_migrations import OFFICE_HEAD

ROWS = [  # kind, record id, kiosk, pass id, received_at, payload
    ("pass_issued", "r1", "k1", "a" * 32, 10.0, {"pass_id": "a" * 32, "valid_to": 2000000000}),
    ("pass_issued", "r2", "k2", "a" * 32, 11.0, {"pass_id": "a" * 32, "valid_to": 1}),  # a second claim
    ("pass_issued", "r3", "k1", "b" * 32, 12.0, "not json"),
    ("pass_revoked", "r4", "k1", "b" * 32, 13.0, {"pass_id": "b" * 32, "reason": "遗失", "expires": 5}),
    ("passage", "r5", "k1", None, 14.0, {}),
]


def test_an_office_with_pass_records_fills_what_it_vouches_for(tmp_path, office_url):
    engine = office_at_revision(tmp_path / "office", office_url, "0010_office_count_triggers")
    with engine.begin() as conn:
        for seq, (kind, record_id, kiosk, ref, received, payload) in enumerate(ROWS, 1):
            conn.execute(
                text(
                    "INSERT INTO office_record (record_id, kiosk_id, epoch, seq, kind, payload, payload_hash,"
                    " device_time, corrected_time, received_at, time_quality, day, hlc, boot_id, mono_ns, ref)"
                    " VALUES (:r, :k, 1, :s, :kind, :p, 'h', 0, 0, :t, 'device', '2026-12-01', 1, 'b', 1, :ref)"
                ),
                {
                    "r": record_id,
                    "k": kiosk,
                    "s": seq,
                    "kind": kind,
                    "p": payload if isinstance(payload, str) else json.dumps(payload),
                    "t": received,
                    "ref": ref,
                },
            )
    engine.dispose()
    engine = open_office_engine(tmp_path / "office", office_url)  # migrates to the head
    try:
        with engine.connect() as conn:
            assert conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar() == OFFICE_HEAD
            passes = conn.execute(
                text("SELECT pass_id, kiosk_id, record_id, valid_to, received_at FROM office_pass ORDER BY pass_id")
            ).all()
            revocations = conn.execute(
                text("SELECT record_id, kiosk_id, pass_id, reason, expires, status FROM office_revocation")
            ).all()
            conn.rollback()
    finally:
        engine.dispose()
    assert [tuple(p) for p in passes] == [("a" * 32, "k1", "r1", 2000000000, 10.0), ("b" * 32, "k1", "r3", None, 12.0)]
    assert [tuple(r) for r in revocations] == [("r4", "k1", "b" * 32, "遗失", 5, "published")]
