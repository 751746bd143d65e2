"""The outbox: gapless, unique `seq`, an HLC that never goes down, UUIDv7 record ids.

The office trusts `(kiosk, epoch, seq)` to find gaps ("kiosk 7 is missing 1041-1060"), so a
seq may never be skipped or handed out twice, whatever writes at the same time: the duty
desk, the sync worker, a supervisor's command in another process.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from models import clock
from models.facts import record_passage
from models.outbox import append_fact, uuid7
from models.store import KioskStore
from models.verdict import ALLOW, Verdict

ROOT = Path(__file__).resolve().parent.parent
PERSON_ALLOWED = Verdict(ALLOW, ())


def _record(store, n: int = 1) -> list:
    return [record_passage(store, "in", PERSON_ALLOWED, subject="person", unit_code="3-2-501") for _ in range(n)]


def _outbox(store) -> list:
    with store.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT seq, epoch, hlc, record_id, kind, payload, payload_hash, clock_flag FROM outbox ORDER BY seq")
        ).all()
        conn.rollback()
    return rows


def _assert_gapless(store, expected: int) -> None:
    rows = _outbox(store)
    assert [r.seq for r in rows] == list(range(1, expected + 1))
    assert len({r.record_id for r in rows}) == expected
    hlcs = [r.hlc for r in rows]
    assert all(b > a for a, b in itertools.pairwise(hlcs)), "HLC went down or repeated"
    state = store.kiosk_state()
    assert state.last_seq == expected
    # Every outbox record has its fact row, and no fact row lacks its outbox record.
    with store.engine.connect() as conn:
        orphans = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM passage p LEFT JOIN outbox o ON o.record_id = p.record_id"
                "        WHERE o.record_id IS NULL),"
                "       (SELECT count(*) FROM outbox o LEFT JOIN passage p ON o.record_id = p.record_id"
                "        WHERE o.kind = 'passage' AND p.record_id IS NULL)"
            )
        ).one()
        conn.rollback()
    assert tuple(orphans) == (0, 0)


@pytest.fixture
def store(tmp_path):
    s = KioskStore.open(tmp_path)
    yield s
    s.close()


class TestRecordIds:
    def test_record_ids_are_version_7_uuids_carrying_the_hlc_milliseconds(self, store):
        facts = _record(store, 20)
        for fact in facts:
            parsed = uuid.UUID(fact.record_id)
            assert parsed.version == 7
            assert parsed.variant == uuid.RFC_4122
            assert str(parsed) == fact.record_id  # canonical lower-case spelling
            assert parsed.int >> 80 == fact.hlc >> clock.HLC_COUNTER_BITS

    def test_uuid7_orders_by_time_and_is_random_within_a_millisecond(self):
        ids = [uuid7(1_700_000_000_000 + i) for i in range(50)]
        assert ids == sorted(ids)
        same_ms = {uuid7(1_700_000_000_000) for _ in range(200)}
        assert len(same_ms) == 200

    def test_record_ids_follow_seq_order_even_after_the_clock_steps_back(self, store):
        boot = clock.boot_id()
        walls = [1_700_000_000.0, 1_700_000_100.0, 0.5, 1_699_999_000.0, 1_700_000_050.0]
        for wall in walls:
            record_passage(
                store, "in", PERSON_ALLOWED, subject="person", unit_code="1-1-101", reading=clock.Reading(wall, 0, boot)
            )
        rows = _outbox(store)
        assert [r.record_id for r in rows] == sorted(r.record_id for r in rows)


class TestPayload:
    def test_payload_is_canonical_json_and_its_hash_matches(self, store):
        (fact,) = _record(store)
        (row,) = _outbox(store)
        body = json.loads(row.payload)
        assert body["record_id"] == fact.record_id and body["fact"] == "passage"
        assert body["unit_code"] == "3-2-501" and body["direction"] == "in"
        assert row.payload == json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        assert row.payload_hash == hashlib.sha256(row.payload.encode()).hexdigest() == fact.payload_hash

    def test_pending_counts_what_the_office_has_not_confirmed(self, store):
        _record(store, 7)
        assert store.pending()[0] == 7
        store.set_acked(5)
        assert store.pending()[0] == 2


class TestGapless:
    def test_a_failed_transaction_does_not_consume_a_seq(self, store):
        _record(store, 3)
        with pytest.raises(RuntimeError):
            with store.writer.begin() as conn:
                fact = append_fact(conn, "passage", {"x": 1}, clock.now())
                assert fact.seq == 4
                raise RuntimeError("the fact's own insert failed")
        (after,) = _record(store)
        assert after.seq == 4
        _assert_gapless(store, 4)

    def test_threads_sharing_one_store(self, store):
        per_thread, threads = 40, 4
        errors: list[BaseException] = []

        def work():
            try:
                _record(store, per_thread)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        pool = [threading.Thread(target=work) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join(60)
        assert errors == []
        _assert_gapless(store, per_thread * threads)

    def test_threads_with_their_own_stores_on_one_file(self, tmp_path, store):
        """Like the duty desk and the sync worker: separate engines, one file."""
        per_thread, threads = 30, 3
        others = [KioskStore.open(tmp_path) for _ in range(threads)]
        try:
            pool = [threading.Thread(target=_record, args=(s, per_thread)) for s in others]
            for t in pool:
                t.start()
            _record(store, per_thread)
            for t in pool:
                t.join(60)
        finally:
            for s in others:
                s.close()
        _assert_gapless(store, per_thread * (threads + 1))

    def test_processes_writing_at_once(self, tmp_path, store):
        per_process, processes = 40, 3
        script = textwrap.dedent(
            f"""
            import sys
            from models.facts import record_passage
            from models.store import KioskStore
            from models.verdict import ALLOW, Verdict
            store = KioskStore.open(sys.argv[1])
            print("ready", flush=True)
            sys.stdin.readline()  # start together, so the writes really overlap
            for _ in range({per_process}):
                record_passage(store, "out", Verdict(ALLOW, ()), subject="person", unit_code="5-2-504")
            store.close()
            """
        )
        children = [
            subprocess.Popen(
                [sys.executable, "-c", script, str(tmp_path)],
                cwd=ROOT,
                text=True,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(processes)
        ]
        try:
            for child in children:
                assert child.stdout.readline().strip() == "ready", child.stderr.read()
            for child in children:
                child.stdin.write("go\n")
                child.stdin.flush()
            _record(store, per_process)
            for child in children:
                _, err = child.communicate(timeout=60)
                assert child.returncode == 0, err
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
                    child.wait()
        _assert_gapless(store, per_process * (processes + 1))
