"""Replays (issue 12): a captured signed request played back later is answered without effect.

A man in the middle who recorded a kiosk's handshake or push can send it again as often as he
likes; the office takes each request once (sync/office/replay.py: a stamp that rises per kiosk,
kept in the database), so the replay moves neither the kiosk's last_seen, its clock skew, its
list versions nor anything else at the office - on SQLite and PostgreSQL, and whichever office
worker process it reaches. An honest kiosk is never locked out: not with its clock in 1970 or a
year ahead, not after a restart, not when an older request of its own arrives late.
"""

from __future__ import annotations

import gzip
import json
import types

import httpx
import pytest
from sqlalchemy import text

from sync import signing
from sync.kiosk import SyncService
from sync.office.app import create_app
from tests.sync.helpers import OFFICE_BASE, new_client, office_records, write_passages


class Recorder(httpx.BaseTransport):
    """Forwards everything, and keeps each request as sent (what a man in the middle captures)."""

    def __init__(self, inner: httpx.BaseTransport):
        self.inner = inner
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        self.requests.append((request.method, str(request.url), dict(request.headers), body))
        answer = self.inner.handle_request(request)
        answer.read()
        return answer

    def last(self, path: str) -> tuple[str, str, dict[str, str], bytes]:
        return next(r for r in reversed(self.requests) if httpx.URL(r[1]).path == path)


@pytest.fixture
def recorded(office, tmp_path):
    recorder = Recorder(office.transport)
    client = httpx.Client(base_url=OFFICE_BASE, transport=recorder, timeout=30)
    store, service = office.add_kiosk(tmp_path / "k", client=client)
    yield store, service, recorder
    client.close()


KIOSK_COLUMNS = "last_seen, last_push, clock_skew, list_versions, backlog, oldest_pending, max_epoch"


def _kiosk_row(office, kiosk_id: str) -> tuple:
    with office.engine.execution_options(immediate=False).connect() as conn:
        row = conn.execute(text(f"SELECT {KIOSK_COLUMNS} FROM office_kiosk WHERE kiosk_id = :k"), {"k": kiosk_id}).one()
        conn.rollback()
    return tuple(row)


def _mark_row(office, kiosk_id: str) -> None:
    """Values no request of this test sends, so any write by a replay shows."""
    with office.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE office_kiosk SET last_seen = 1000.0, last_push = 1000.0, clock_skew = 4242.0,"
                " list_versions = '{\"marked\": 1}', backlog = 77 WHERE kiosk_id = :k"
            ),
            {"k": kiosk_id},
        )


def _anchors(office, kiosk_id: str) -> list[tuple]:
    with office.engine.execution_options(immediate=False).connect() as conn:
        rows = conn.execute(
            text("SELECT boot_id, mono_ns, server_time, wall FROM office_boot_anchor WHERE kiosk_id = :k ORDER BY 1"),
            {"k": kiosk_id},
        ).all()
        conn.rollback()
    return [tuple(r) for r in rows]


def _replay(client: httpx.Client, captured) -> httpx.Response:
    method, url, headers, body = captured
    headers = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "host")}
    return client.request(method, url, headers=headers, content=body)


def test_a_replayed_handshake_changes_nothing_at_the_office(office, recorded):
    store, service, recorder = recorded
    assert service.run_once().ok
    captured = recorder.last("/v1/sync-state")
    kiosk_id = store.kiosk_state().kiosk_id
    _mark_row(office, kiosk_id)
    before = _kiosk_row(office, kiosk_id)

    answer = _replay(office.client, captured)

    assert _kiosk_row(office, kiosk_id) == before  # last_seen, clock skew, list versions untouched
    assert answer.status_code == 409 and answer.json()["code"] == "stale_request"
    assert answer.json()["zh"] and answer.json()["en"]
    assert signing.H_ANSWER in answer.headers  # the refusal is the office's, signed


def test_a_replayed_push_changes_nothing_at_the_office(office, recorded):
    store, service, recorder = recorded
    write_passages(store, 40)
    assert service.run_once().ok
    captured = recorder.last("/v1/push")
    assert len(json.loads(gzip.decompress(captured[3]))["records"]) == 40
    kiosk_id = store.kiosk_state().kiosk_id
    _mark_row(office, kiosk_id)
    before = (_kiosk_row(office, kiosk_id), _anchors(office, kiosk_id), office_records(office.engine, kiosk_id))

    answer = _replay(office.client, captured)

    after = (_kiosk_row(office, kiosk_id), _anchors(office, kiosk_id), office_records(office.engine, kiosk_id))
    assert after == before
    assert answer.status_code == 409 and answer.json()["code"] == "stale_request"
    # The kiosk itself carries on as before.
    write_passages(store, 5)
    result = service.run_once()
    assert result.ok and result.pushed == 5


def test_a_replay_to_another_office_worker_is_refused_too(office, recorded, tmp_path):
    """Several `kakou office serve --workers N` processes share the database: what one took, the
    others know."""
    store, service, recorder = recorded
    write_passages(store, 3)
    assert service.run_once().ok
    captured = recorder.last("/v1/push")
    other = create_app(office.office_dir, office.database_url, migrate=False)
    client, _transport = new_client(other)
    try:
        kiosk_id = store.kiosk_state().kiosk_id
        _mark_row(office, kiosk_id)
        before = _kiosk_row(office, kiosk_id)
        answer = _replay(client, captured)
        assert _kiosk_row(office, kiosk_id) == before
        assert answer.status_code == 409 and answer.json()["code"] == "stale_request"
    finally:
        client.close()
        other.state.office.close()


def test_an_older_request_arriving_after_a_newer_one_is_refused(office, recorded):
    store, service, _recorder = recorded
    assert service.run_once().ok
    state = store.kiosk_state()
    older, newer = service.new_request_id(), service.new_request_id()
    target = "/v1/sync-state?wall=5.000"
    body = signing.get_body("GET", target)

    def send(request_id):
        headers = signing.sign_request(store.signing_key, state.kiosk_id, state.epoch, request_id, body)
        return office.client.get(target, headers=headers)

    assert send(newer).status_code == 200
    _mark_row(office, state.kiosk_id)
    before = _kiosk_row(office, state.kiosk_id)
    late = send(older)
    assert _kiosk_row(office, state.kiosk_id) == before
    assert late.status_code == 409 and late.json()["next_stamp"] == signing.stamp_of(newer) + 1


def test_a_request_without_a_stamp_is_refused_once_the_kiosk_sends_stamps(office, recorded):
    """A kiosk older than stamps is served as before; once it sent a stamp, an id without one (a
    request captured before it was updated) is a replay."""
    store, service, _recorder = recorded
    state = store.kiosk_state()
    target = "/v1/sync-state?wall=5.000"
    body = signing.get_body("GET", target)
    legacy = signing.sign_request(store.signing_key, state.kiosk_id, state.epoch, "0123456789abcdef", body)
    # Enrolled, but no signed request yet: the old kind of id is taken.
    assert office.client.get(target, headers=legacy).status_code == 200
    assert service.run_once().ok  # stamped from now on
    _mark_row(office, state.kiosk_id)
    before = _kiosk_row(office, state.kiosk_id)
    again = signing.sign_request(store.signing_key, state.kiosk_id, state.epoch, "fedcba9876543210", body)
    answer = office.client.get(target, headers=again)
    assert _kiosk_row(office, state.kiosk_id) == before
    assert answer.status_code == 409 and answer.json()["code"] == "stale_request"


@pytest.mark.parametrize("offset", [-1.8e9, 365 * 86400.0], ids=["1970", "year_ahead"])
def test_a_kiosk_with_a_wrong_clock_and_no_estimate_still_pushes(office, recorded, monkeypatch, offset):
    """A restarted kiosk (no estimate of the office's time yet) whose clock is far off: the
    office's signed refusal names the stamp it would take, and the kiosk goes on with it."""
    import time as real_time

    store, service, _recorder = recorded
    write_passages(store, 10)
    assert service.run_once().ok  # the office took stamps at today's time
    fake = types.SimpleNamespace(
        time=lambda: real_time.time() + offset, monotonic=real_time.monotonic, sleep=real_time.sleep
    )
    monkeypatch.setattr("sync.kiosk.time", fake)
    restarted = SyncService(store, client=service._client)
    write_passages(store, 10)
    result = restarted.run_once()
    assert result.ok and result.pushed == 10
    assert store.kiosk_state().acked_seq == 20


def test_a_kiosk_restored_from_an_old_backup_still_syncs(office, tmp_path):
    """The stamps are not kept on the kiosk's disk: an old copy of its file has none to go back to."""
    import shutil

    store, service = office.add_kiosk(tmp_path / "k")
    write_passages(store, 5)
    assert service.run_once().ok
    backup = tmp_path / "backup"
    store.engine.dispose()
    shutil.copytree(store.data_dir, backup)
    write_passages(store, 5)
    assert service.run_once().ok
    store.engine.dispose()
    shutil.rmtree(store.data_dir)
    shutil.copytree(backup, store.data_dir)
    from models.store import KioskStore

    restored = KioskStore.open(store.data_dir)
    office.kiosks.append(restored)
    result = SyncService(restored, client=office.client).run_once()
    assert result.ok
