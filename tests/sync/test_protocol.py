"""What the office refuses, and says so: each bad request gets a clear 4xx and stores nothing."""

from __future__ import annotations

import gzip
import json
import uuid

import pytest
from nacl.signing import SigningKey
from sqlalchemy import text

from sync import signing
from sync.kiosk import SyncError, enroll
from sync.office.enrol import add_checkpoint
from tests.sync.helpers import office_records, sync_until_quiet, write_passages
from tests.sync.test_fault_matrix import signed_push


def _stored(office) -> int:
    with office.engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM office_record")).scalar()
        conn.rollback()
    return int(n)


def _assert_problem(response, status: int, code: str | None = None):
    assert response.status_code == status
    body = response.json()
    assert body["zh"] and body["en"]
    if code:
        assert body["code"] == code


def test_unsigned_forged_unknown_oversized_malformed_are_refused(office, tmp_path):
    store, service = office.add_kiosk(tmp_path / "k")
    write_passages(store, 20)
    body, headers = signed_push(service, service._batch(store.kiosk_state().epoch, 0, 20))
    http = office.client
    unsigned = {k: v for k, v in headers.items() if not k.startswith("X-Kakou")}
    _assert_problem(http.post("/v1/push", content=body, headers=unsigned), 401, "unsigned")
    # Signed by a key that is not the kiosk's.
    forged = dict(headers, **signing.sign_request(SigningKey.generate(), store.kiosk_state().kiosk_id, 1, "r1", body))
    _assert_problem(http.post("/v1/push", content=body, headers=forged), 401, "bad_signature")
    stranger = dict(headers, **signing.sign_request(SigningKey.generate(), str(uuid.uuid4()), 1, "r2", body))
    _assert_problem(http.post("/v1/push", content=body, headers=stranger), 403, "unknown_kiosk")
    huge = gzip.compress(b" " * 10) + b"\0" * (1 << 20)
    big_headers = dict(headers, **signing.sign_request(store.signing_key, store.kiosk_state().kiosk_id, 1, "r3", huge))
    _assert_problem(http.post("/v1/push", content=huge, headers=big_headers), 413, "too_large")
    bomb = gzip.compress(b"[" * (40 << 20))
    bomb_headers = dict(headers, **signing.sign_request(store.signing_key, store.kiosk_state().kiosk_id, 1, "r4", bomb))
    _assert_problem(http.post("/v1/push", content=bomb, headers=bomb_headers), 413)
    for junk in (gzip.compress(b"{not json"), gzip.compress(json.dumps({"records": "x"}).encode()), b"plain garbage"):
        h = dict(
            headers, **signing.sign_request(store.signing_key, store.kiosk_state().kiosk_id, 1, uuid.uuid4().hex, junk)
        )
        response = http.post("/v1/push", content=junk, headers=h)
        assert response.status_code in (400, 422) and response.json()["en"]
    # The signed epoch must be the batch's epoch.
    h = dict(headers, **signing.sign_request(store.signing_key, store.kiosk_state().kiosk_id, 7, "r5", body))
    _assert_problem(http.post("/v1/push", content=body, headers=h), 400, "epoch_mismatch")
    assert _stored(office) == 0
    # A GET signed for another path cannot be reused.
    sig = signing.sign_request(
        store.signing_key, store.kiosk_state().kiosk_id, 1, "r6", signing.get_body("GET", "/v1/lists/trust?since=0")
    )
    _assert_problem(http.get("/v1/sync-state", headers=sig), 401, "bad_signature")
    # And the real kiosk still gets through.
    sync_until_quiet(service)
    assert len(office_records(office.engine, store.kiosk_state().kiosk_id)) == 20


def test_enrolment_code_works_once_and_expires(office, tmp_path):
    from models.store import KioskStore

    info = add_checkpoint(office.engine, "北门卡口", "幸福里社区")
    expired = add_checkpoint(office.engine, "南门卡口", "幸福里社区", ttl_s=-1)
    a = KioskStore.open(tmp_path / "a")
    b = KioskStore.open(tmp_path / "b")
    office.kiosks += [a, b]
    with pytest.raises(SyncError) as exc:
        enroll(a, "http://office.test", expired["code"], client=office.client)
    assert exc.value.code == "bad_code" and "新的登记码" in exc.value.zh
    with pytest.raises(SyncError):
        enroll(a, "http://office.test", "AAAA-BBBB", client=office.client)
    # Typed in lower case with a space instead of the dash still works.
    answer = enroll(a, "http://office.test", info["code"].lower().replace("-", " "), client=office.client)
    assert answer["kiosk_id"] == info["kiosk_id"] == a.kiosk_state().kiosk_id
    with pytest.raises(SyncError) as again:
        enroll(b, "http://office.test", info["code"], client=office.client)
    assert again.value.code == "bad_code"
    assert a.office_sealing_key() is not None and b.office_sealing_key() is None
    # The office's key is pinned and the kiosk's own key is on the office's trust list.
    trust = {k.label for entries in a.gate_state().trust.values() for k in entries}
    assert "街道办 street office" in trust
    assert a.gate_state().lists_updated_at is not None


def test_list_with_bad_signature_or_older_version_is_refused(office, tmp_path):
    from sync.kiosk import _apply_documents, _check_document, office_root_key
    from sync.office import lists as office_lists

    store, service = office.add_kiosk(tmp_path / "k")
    with office.engine.begin() as conn:
        office_lists.revoke_pass(conn, "cd" * 16, "test")
        doc = office_lists.document(conn, office.app.state.office.keys, "revoked", 0)
    sync_until_quiet(service)
    assert "cd" * 16 in store.gate_state().revoked
    forged = dict(doc, items=[{"key": "ef" * 16, "value": {"reason": "x"}, "deleted": False}])
    forged["items_hash"] = signing.items_hash(forged["items"])
    with pytest.raises(SyncError) as bad:
        _check_document(forged, office_root_key(store))
    assert bad.value.code == "list_signature"
    with office.engine.begin() as conn:
        office_lists.revoke_pass(conn, "ef" * 16, "newer")
    sync_until_quiet(service)
    with pytest.raises(SyncError) as old:
        with store.writer.begin() as conn:
            _apply_documents(conn, store, [doc])  # version 1 after version 2: no rollback
    assert old.value.code == "list_older"
    assert {"cd" * 16, "ef" * 16} <= set(store.gate_state().revoked)


def test_office_revocation_and_quarantine_reach_the_gate(office, tmp_path):
    from models.gate import check_token
    from models.passes import issue_pass, parse_kind
    from sync.office import lists as office_lists

    store, service = office.add_kiosk(tmp_path / "k")
    issued = issue_pass(store, parse_kind("resident"), "3-2-501", "张三")
    assert check_token(store, issued.token, "out").outcome == "allow"
    sync_until_quiet(service)
    with office.engine.begin() as conn:
        office_lists.revoke_pass(conn, issued.pass_id, "丢失 lost")
    sync_until_quiet(service)
    verdict = check_token(store, issued.token, "in")
    assert verdict.outcome == "deny" and "revoked" in verdict.reason_codes()
    other = issue_pass(store, parse_kind("resident"), "5-1-101", "李四")
    with office.engine.begin() as conn:
        office_lists.add_entry(conn, "quarantine", unit="5-1-101")
    sync_until_quiet(service)
    assert "quarantined" in check_token(store, other.token, "out").reason_codes()
    with office.engine.begin() as conn:
        office_lists.remove_entry(conn, "quarantine", unit="5-1-101")
    sync_until_quiet(service)
    assert check_token(store, other.token, "out").outcome == "allow"


def test_pass_issued_at_one_kiosk_is_trusted_at_another(office, tmp_path):
    from models.gate import check_token
    from models.passes import issue_pass, parse_kind, revoke_pass

    east, east_sync = office.add_kiosk(tmp_path / "east", "东门")
    west, west_sync = office.add_kiosk(tmp_path / "west", "西门")
    token = issue_pass(east, parse_kind("resident"), "3-2-501", "王五").token
    sync_until_quiet(east_sync)
    sync_until_quiet(west_sync)
    assert check_token(west, token, "in").outcome == "allow"
    from models.passtoken import decode_token

    revoke_pass(east, decode_token(token).body.pass_id_hex, "补办")
    sync_until_quiet(east_sync)
    sync_until_quiet(west_sync)
    assert "revoked" in check_token(west, token, "in").reason_codes()


def test_status_tells_waiting_offline_and_synced(office, tmp_path):
    from sync.kiosk import OFFLINE, SYNCED
    from tui.sync_words import long_words

    store, service = office.add_kiosk(tmp_path / "k")
    write_passages(store, 7)
    office.transport.add("/v1/sync-state", "refuse")
    result = service.run_once()
    assert result.error.code == "offline" and result.remaining == 7
    status = service.status()
    assert status.state == OFFLINE and status.waiting == 7 and status.trouble == "offline"
    words, level = long_words(status, "en")
    assert level == "warn" and "offline since" in words and "7 waiting" in words
    zh, _ = long_words(status, "zh")
    assert "7 条待上传" in zh
    sync_until_quiet(service)
    assert service.status().state == SYNCED
    assert long_words(service.status(), "en") == ("synced", "ok")


def test_not_enrolled_kiosk_keeps_working_offline(tmp_path):
    from models.store import KioskStore
    from sync.kiosk import SyncService

    store = KioskStore.open(tmp_path / "k")
    write_passages(store, 3)
    service = SyncService(store)
    result = service.run_once()
    assert result.error.code == "not_enrolled" and result.remaining == 3
    from tui.sync_words import long_words

    assert long_words(service.status(), "en")[0] == "not enrolled, working offline"
    store.engine.dispose()


def test_backoff_is_full_jitter_capped_and_honours_retry_after():
    import random

    from sync.kiosk import Backoff, parse_retry_after

    b = Backoff(base=2, cap=300, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(20)]
    assert all(0 <= d <= 300 for d in delays) and max(delays[-5:]) > 30
    assert Backoff(rng=random.Random(2)).next_delay(retry_after=42) >= 42
    assert parse_retry_after("7") == 7 and parse_retry_after("junk") is None


def test_openapi_schema_lists_the_v1_routes(sqlite_office):
    schema = sqlite_office.client.get("/v1/openapi.json").json()
    assert {"/v1/push", "/v1/sync-state", "/v1/enroll", "/v1/lists/{name}", "/v1/known"} <= set(schema["paths"])
    assert "records" in json.dumps(schema["paths"]["/v1/push"])


def test_a_list_changed_by_the_push_itself_is_pulled_in_the_same_round(office, tmp_path):
    """A pass revoked at this kiosk joins the office's list when its record arrives; the pull
    after that push must fetch the new version at once, not a round later (the status page
    would say the kiosk's list is behind until the next timer)."""
    from models.passes import issue_pass, parse_kind, revoke_pass
    from sync.office import lists as office_lists

    store, service = office.add_kiosk(tmp_path / "k")
    issued = issue_pass(store, parse_kind("resident"), "3-2-501", "张三")
    sync_until_quiet(service)
    revoke_pass(store, issued.pass_id, "丢失 lost")
    result = service.run_once()  # one round: push the revocation, then pull
    assert result.ok and "revoked" in result.lists_updated
    with office.engine.connect() as conn:
        office_version = office_lists.current_version(conn, "revoked")
    assert store.gate_state().versions["revoked"] == office_version
