"""A man in the middle between the kiosk and the office, on plain http (issue 12, "every answer
from the office is signed").

`Mitm` is an httpx transport between a kiosk and a real in-process office: it forwards (or not)
every request and may rewrite the office's answer. What the kiosk relies on: it acts on no
answer the office did not sign for that very request - a forged "304" refreshes no list and
clears no "lists stale" warning, a forged push acknowledgement moves no mark (so `kakou purge`
deletes nothing the office never received), a forged handshake bumps no epoch - and the status
says trouble, never "synced".
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import text

from models import facts
from models.retention import purge
from models.values import parse_temperature
from sync.kiosk import SYNCED, TROUBLE
from sync.office import admin as office_admin
from tests.sync.helpers import OFFICE_BASE, write_passages

Rewrite = Callable[[httpx.Request, httpx.Response | None], httpx.Response | None]


def _revoke(office, pass_id: str) -> None:
    """Put a pass on the office's revoked list (the admin commands revoke only passes the office
    knows; these tests are about the list reaching the kiosk, whatever pass it names)."""
    from sync.office import lists as office_lists

    with office.engine.begin() as conn:
        office_lists.revoke_pass(conn, pass_id, "lost")


class Mitm(httpx.BaseTransport):
    """Forwards to the office; `rewrite(request, answer)` for requests whose path starts with one
    of `paths` may return another answer (its `forward=False` requests never reach the office:
    `answer` is then None)."""

    def __init__(self, inner: httpx.BaseTransport):
        self.inner = inner
        self.rules: list[tuple[str, bool, Rewrite]] = []
        self.seen: list[tuple[httpx.Request, httpx.Response]] = []  # the office's own answers

    def on(self, path: str, rewrite: Rewrite, *, forward: bool = True) -> None:
        self.rules.append((path, forward, rewrite))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        rule = next((r for r in self.rules if request.url.path.startswith(r[0])), None)
        answer = None
        if rule is None or rule[1]:
            answer = self.inner.handle_request(request)
            answer.read()
            self.seen.append((request, answer))
        if rule is not None:
            forged = rule[2](request, answer)
            if forged is not None:
                return forged
        assert answer is not None
        return answer


def _json(request: httpx.Request, status: int, doc: dict, headers: dict | None = None) -> httpx.Response:
    return httpx.Response(status, json=doc, headers=headers or {}, request=request)


@pytest.fixture
def mitm(office):
    transport = Mitm(office.transport)
    client = httpx.Client(base_url=OFFICE_BASE, transport=transport, timeout=30)
    yield transport, client
    client.close()


def _list_ages(store) -> dict[str, float]:
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT name, updated_at FROM list_version")).all()
        conn.rollback()
    return {name: float(at) for name, at in rows}


def _age_lists(store, hours: float) -> None:
    """The lists were last confirmed `hours` ago (the kiosk was offline, say)."""
    with store.writer.begin() as conn:
        conn.execute(text("UPDATE list_version SET updated_at = :t"), {"t": time.time() - hours * 3600})
    store.invalidate()


def _office_entries(store) -> tuple[int, int]:
    """(office revocations, office quarantine entries) the kiosk holds."""
    with store.engine.connect() as conn:
        revoked = conn.execute(text("SELECT count(*) FROM revocation WHERE source = 'office'")).scalar()
        quarantined = conn.execute(
            text("SELECT count(*) FROM list_entry WHERE list_name = 'quarantine' AND source = 'office'")
        ).scalar()
        conn.rollback()
    return int(revoked or 0), int(quarantined or 0)


def _register(store, name: str):
    reg = facts.RegistrationInput(
        kind="visitor", name=name, id_number="11010519491231002X", phone="13812345678", from_place="武汉",
        to_unit="3-2-501", reason="探亲",
    )  # fmt: skip
    return facts.record_registration(store, reg, parse_temperature("365"))


def _assert_refused_as_unsigned(result, service) -> None:
    assert result.error is not None and result.error.code == "unsigned_answer" and result.error.retryable
    assert "签名" in result.error.zh and "not signed" in result.error.en
    status = service.status()
    assert status.state == TROUBLE and status.state != SYNCED and status.trouble == "unsigned_answer"


# -- lists: a forged "not modified" ------------------------------------------------------------------


def test_a_forged_304_to_every_list_pull_is_refused_and_the_lists_stay_stale(office, mitm, tmp_path):
    transport, client = mitm
    store, service = office.add_kiosk(tmp_path / "k", client=client)
    assert service.run_once().ok
    revoked_before = dict(_list_ages(store))
    # The office revokes a pass and quarantines a unit; the kiosk has not heard from it for two days.
    _revoke(office, "ab" * 16)
    office_admin.list_entry(office.engine, "quarantine", "add", unit="3-2-501")
    _age_lists(store, 48)
    ages = _list_ages(store)
    assert service.status().lists_stale
    transport.on("/v1/lists/", lambda req, _answer: httpx.Response(304, request=req))

    result = service.run_once()

    assert _list_ages(store) == ages  # no list looks fresh
    assert service.status().lists_stale  # the warning stays
    assert set(revoked_before) == set(ages)
    assert _office_entries(store) == (0, 0)  # the revoked pass stays allowed, the unit may go out
    _assert_refused_as_unsigned(result, service)
    # Through an honest network the revocation arrives and the lists are fresh again.
    transport.rules.clear()
    assert service.run_once().ok
    assert not service.status().lists_stale
    assert _office_entries(store) == (1, 1)


def test_a_forged_handshake_naming_the_held_versions_refreshes_no_list(office, mitm, tmp_path):
    """The kiosk skips the pull of a list the handshake says is current: a forged handshake
    could keep every revocation away and make every list look fresh."""
    transport, client = mitm
    store, service = office.add_kiosk(tmp_path / "k", client=client)
    assert service.run_once().ok
    _revoke(office, "cd" * 16)
    _age_lists(store, 48)
    ages = _list_ages(store)
    held = store.gate_state().versions

    def same_versions(req, answer):
        doc = answer.json()
        doc["list_versions"] = dict(held)
        return _json(req, 200, doc)

    transport.on("/v1/sync-state", same_versions)
    result = service.run_once()
    assert _list_ages(store) == ages and service.status().lists_stale
    _assert_refused_as_unsigned(result, service)


def test_a_signed_304_for_another_request_is_refused(office, mitm, tmp_path):
    """The office's signature binds an answer to its request: a genuine signed 304, captured and
    played back to a later pull, is no answer to it."""
    transport, client = mitm
    store, service = office.add_kiosk(tmp_path / "k", client=client)
    _revoke(office, "12" * 16)
    assert service.run_once().ok
    # A genuine signed 304 for the revoked list, as a man in the middle would capture it.
    held = store.gate_state().versions
    service._send("GET", "/v1/lists/revoked", params={"since": held["revoked"]})
    captured = next(a for r, a in reversed(transport.seen) if r.url.path == "/v1/lists/revoked")
    assert captured.status_code == 304
    _revoke(office, "ef" * 16)
    _age_lists(store, 48)
    ages = _list_ages(store)
    transport.on("/v1/lists/revoked", lambda req, _a: httpx.Response(304, headers=dict(captured.headers), request=req))
    result = service.run_once()
    assert _list_ages(store) == ages
    _assert_refused_as_unsigned(result, service)


# -- push: a forged acknowledgement --------------------------------------------------------------------


def test_a_forged_push_acknowledgement_moves_no_mark_and_purge_keeps_the_registrations(office, mitm, tmp_path):
    transport, client = mitm
    store, service = office.add_kiosk(tmp_path / "k", client=client)
    assert service.run_once().ok
    regs = [_register(store, name) for name in ("欧阳娜娜", "钱小姐", "赵老汉")]
    state = store.kiosk_state()
    acked = state.acked_seq

    def ack_everything(req, _answer):
        doc = json.loads(__import__("gzip").decompress(req.content))
        return _json(
            req,
            200,
            {
                "batch_id": doc["batch_id"],
                "epoch": doc["epoch"],
                "hwm": max(r["seq"] for r in doc["records"]),
                "statuses": ["stored"] * len(doc["records"]),
                "flagged": 0,
                "list_versions": store.gate_state().versions,
                "server_time": time.time(),
            },
        )

    transport.on("/v1/push", ack_everything, forward=False)  # the office never sees the batch
    result = service.run_once()
    assert store.kiosk_state().acked_seq == acked < regs[-1].seq
    assert result.remaining == 3
    # The supervisor ends the emergency: purge everything synced. Nothing unsynced goes.
    purged = purge(store, everything=True)
    assert purged.registrations == 0 and purged.kept_unsynced == 3
    with store.engine.connect() as conn:
        names = {n for (n,) in conn.execute(text("SELECT name FROM registration"))}
        conn.rollback()
    assert names == {"欧阳娜娜", "钱小姐", "赵老汉"}
    _assert_refused_as_unsigned(result, service)


def test_a_signed_acknowledgement_of_another_push_with_its_mark_raised_is_refused(office, mitm, tmp_path):
    """The office's own signed answer to an earlier push, played back (its mark raised to
    cover the new records) instead of forwarding the new push."""
    transport, client = mitm
    store, service = office.add_kiosk(tmp_path / "k", client=client)
    write_passages(store, 5)
    assert service.run_once().ok
    genuine = next(a for r, a in reversed(transport.seen) if r.url.path == "/v1/push")
    write_passages(store, 30)
    acked = store.kiosk_state().acked_seq

    def played_back(req, _answer):
        doc = genuine.json()
        doc["hwm"] = store.kiosk_state().last_seq
        doc["statuses"] = ["stored"] * 30
        return _json(req, 200, doc, {"X-Kakou-Answer": genuine.headers.get("X-Kakou-Answer", "")})

    transport.on("/v1/push", played_back, forward=False)
    result = service.run_once()
    assert store.kiosk_state().acked_seq == acked == 5
    assert result.remaining == 30
    _assert_refused_as_unsigned(result, service)


# -- the handshake -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("forgery", ["max_epoch", "tip_ok"])
def test_a_forged_handshake_bumps_no_epoch(office, mitm, tmp_path, forgery):
    transport, client = mitm
    store, service = office.add_kiosk(tmp_path / "k", client=client)
    write_passages(store, 20)
    assert service.run_once().ok
    write_passages(store, 5)
    before = store.kiosk_state()

    def forge(req, answer):
        doc = answer.json()
        if forgery == "max_epoch":
            doc["max_epoch"] = 99
        else:
            doc["tip_ok"] = False
        return _json(req, 200, doc)

    transport.on("/v1/sync-state", forge)
    result = service.run_once()
    after = store.kiosk_state()
    assert not result.epoch_bumped
    assert (after.epoch, after.last_seq, after.acked_seq) == (before.epoch, before.last_seq, before.acked_seq)
    _assert_refused_as_unsigned(result, service)


def test_a_forged_revocation_of_the_kiosk_is_not_believed(office, mitm, tmp_path):
    """An unsigned 403 "kiosk revoked" is no reason to stop for good (and show "call the office")."""
    transport, client = mitm
    _store, service = office.add_kiosk(tmp_path / "k", client=client)
    assert service.run_once().ok
    transport.on(
        "/v1/sync-state",
        lambda req, _a: _json(req, 403, {"code": "kiosk_revoked", "zh": "已注销", "en": "revoked"}),
        forward=False,
    )
    result = service.run_once()
    assert service.status().state != "refused"  # not stopped for good on a stranger's word
    _assert_refused_as_unsigned(result, service)
    transport.rules.clear()
    assert service.run_once().ok


def test_the_office_signs_its_problems_too(office, mitm, tmp_path):
    """A real refusal (a batch whose epoch differs from the signed one) is the office's, signed:
    the kiosk reads its words."""
    _transport, client = mitm
    store, service = office.add_kiosk(tmp_path / "k", client=client)
    assert service.run_once().ok
    from sync.kiosk import SyncError

    body = json.dumps(
        {"batch_id": "x", "epoch": 5, "anchor": {"boot_id": "b", "mono_ns": 1, "wall": 1.0}, "records": []}
    )
    with pytest.raises(SyncError) as caught:
        service._send("POST", "/v1/push", body=body.encode(), epoch=store.kiosk_state().epoch)
    assert caught.value.code == "epoch_mismatch"


# -- the signature itself ------------------------------------------------------------------------------------

ANSWER = {
    "request_signature": "ab" * 64,
    "method": "GET",
    "target": "/v1/lists/revoked?since=4",
    "status": 304,
    "retry_after": "",
    "body": b"",
}


@pytest.mark.parametrize(
    "change",
    [
        {"request_signature": "ac" * 64},  # another request
        {"method": "POST"},
        {"target": "/v1/lists/quarantine?since=4"},
        {"status": 200},
        {"retry_after": "300"},
        {"body": b'{"hwm": 9}'},
    ],
    ids=lambda c: next(iter(c)),
)
def test_an_answer_signature_covers_every_part_of_the_answer_and_its_request(change):
    from nacl.signing import SigningKey

    from sync import signing

    key = SigningKey.generate()
    header = signing.sign_answer(key, office_ms=1_796_000_000_000, **ANSWER)
    public = bytes(key.verify_key)
    assert signing.verify_answer(public, header, **ANSWER) == 1_796_000_000_000
    assert signing.verify_answer(public, header, **(ANSWER | change)) is None
    later = header.replace("1796000000000.", "1796000000001.", 1)  # the office's time is signed too
    assert signing.verify_answer(public, later, **ANSWER) is None
    assert signing.verify_answer(bytes(SigningKey.generate().verify_key), header, **ANSWER) is None
