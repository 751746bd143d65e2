"""The street office's security (issue 6): admin tokens, kiosks confined to their own records,
sealed numbers opened only at the office and always audited, office retention, key files."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import time
import uuid

import pytest
from sqlalchemy import text

from models import clock
from models.facts import RegistrationInput, record_passage, record_registration
from models.verdict import Verdict
from sync import signing
from sync.office import admin as office_admin
from sync.office import sealed
from tests.sync.helpers import office_records, sync_until_quiet, write_passages
from tests.sync.test_fault_matrix import signed_push

# Valid GB 11643 numbers (checksums right) and mobile phones, as returnees would give them.
PERSON_A = ("11010519491231002X", "13812345678")
PERSON_B = ("440524188001010014", "15987654321")
DAY_S = 86400


def _run(capsys, *argv) -> tuple[int, str, str]:
    from tui.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _office_args(office) -> list[str]:
    args = ["--office-dir", str(office.office_dir)]
    return args + (["--database-url", office.database_url] if office.database_url else [])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _assert_problem(response, status: int, code: str | None = None) -> dict:
    """A refusal is a JSON problem with words in both languages and nothing of the server's insides."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "zh", "en"} and body["zh"] and body["en"]
    if code:
        assert body["code"] == code
    for leak in ("Traceback", "sqlalchemy", 'File "', "psycopg", "sqlite3"):
        assert leak not in response.text
    return body


def files_holding(directory, needles: list[str]) -> dict[str, list[str]]:
    """Every file under `directory` holding one of `needles` (UTF-8, UTF-16 or lower case)."""
    found: dict[str, list[str]] = {}
    for path in directory.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        for needle in needles:
            forms = {needle.encode("utf-8"), needle.encode("utf-16-le"), needle.lower().encode("utf-8")}
            if any(form in data for form in forms):
                found.setdefault(str(path.relative_to(directory)), []).append(needle)
    return found


def _audit_rows(office, action: str | None = None) -> list[dict]:
    from sync.office import audit

    return audit.recent(office.engine, limit=1000, action=action)


def _payload(office, record_id: str) -> dict:
    with office.engine.execution_options(immediate=False).connect() as conn:
        payload = conn.execute(
            text("SELECT payload FROM office_record WHERE record_id = :r"), {"r": record_id}
        ).scalar()
        conn.rollback()
    return json.loads(payload)


class TestAdminTokens:
    def test_admin_endpoints_need_a_current_token(self, office):
        token = office_admin.add_admin(office.engine, "张主任")
        http = office.client
        _assert_problem(http.get("/v1/admin/status"), 401, "admin_token")
        _assert_problem(http.get("/v1/admin/status", headers=_bearer("kakou-admin-" + "x" * 43)), 401, "admin_token")
        _assert_problem(http.get("/v1/admin/status", headers={"Authorization": f"Basic {token}"}), 401)
        _assert_problem(http.get("/v1/admin/status", headers=_bearer(token + "x")), 401)
        response = http.get("/v1/admin/status", headers=_bearer(token))
        assert response.status_code == 200 and "kiosks" in response.json()
        assert response.headers.get("www-authenticate") is None
        assert http.get("/v1/admin/status").headers["www-authenticate"] == "Bearer"
        # The token works until the admin is removed, then not at all.
        office_admin.remove_admin(office.engine, "张主任")
        _assert_problem(http.get("/v1/admin/status", headers=_bearer(token)), 401, "admin_token")
        # Re-added: a new token; the old one stays dead.
        new_token = office_admin.add_admin(office.engine, "张主任")
        assert new_token != token
        _assert_problem(http.get("/v1/admin/status", headers=_bearer(token)), 401)
        assert http.get("/v1/admin/status", headers=_bearer(new_token)).status_code == 200
        assert [r["action"] for r in _audit_rows(office)][:3] == ["add_admin", "remove_admin", "add_admin"]

    def test_the_database_holds_only_the_tokens_hash(self, office):
        token = office_admin.add_admin(office.engine, "王科长")
        with office.engine.execution_options(immediate=False).connect() as conn:
            stored = conn.execute(text("SELECT name, token_hash FROM office_admin")).all()
            conn.rollback()
        assert stored == [("王科长", office_admin.token_hash(token))]
        assert len(token) > 40 and token.startswith(office_admin.TOKEN_PREFIX)
        if office.database_url is None:
            assert files_holding(office.office_dir, [token.removeprefix(office_admin.TOKEN_PREFIX)]) == {}

    def test_cli_add_admin_prints_the_token_once_and_remove_admin_revokes_it(self, office, capsys):
        od = _office_args(office)
        code, out, err = _run(capsys, "office", "add-admin", "李干事", *od)
        assert code == 0 and "Shown only once" in err
        token = next(line.split()[-1] for line in out.splitlines() if line.startswith("令牌 token:"))
        assert office.client.get("/v1/admin/status", headers=_bearer(token)).status_code == 200
        code, _, err = _run(capsys, "office", "add-admin", "李干事", *od)
        assert code == 2 and "already exists" in err and "Traceback" not in err
        code, out, _ = _run(capsys, "office", "admins", *od)
        assert "李干事" in out and token not in out
        assert _run(capsys, "office", "remove-admin", "李干事", *od)[0] == 0
        _assert_problem(office.client.get("/v1/admin/status", headers=_bearer(token)), 401)
        code, _, err = _run(capsys, "office", "remove-admin", "李干事", *od)
        assert code == 2 and "no active admin" in err

    def test_admin_actions_over_http_change_the_lists_and_are_audited(self, office, tmp_path):
        token = office_admin.add_admin(office.engine, "张主任")
        auth = _bearer(token)
        http = office.client
        store, service = office.add_kiosk(tmp_path / "k")
        record_passage(store, "in", Verdict("allow", ()))
        sync_until_quiet(service)

        from sync.office.passes import issue_office_pass

        # Only a pass the office knows is revoked (issue 14): one it issued, named by its full id.
        pass_id = issue_office_pass(
            office.engine, office.app.state.office.keys, "resident", "3-2-501", street_wide=True
        ).pass_id
        response = http.post("/v1/admin/revoke", json={"pass_id": pass_id.upper(), "reason": "丢失"}, headers=auth)
        assert response.status_code == 200 and response.json()["list"] == "revoked"
        assert response.json()["who"] == pass_id
        response = http.post("/v1/admin/quarantine/add", json={"unit": "3-2-501", "until": "2030-01-01"}, headers=auth)
        assert (
            response.status_code == 200 and response.json()["who"] == "3-2-501（幸福里社区）"
        )  # the street's one community
        response = http.post("/v1/admin/quarantine/add", json={"id_number": PERSON_A[0]}, headers=auth)
        assert response.status_code == 200 and PERSON_A[0] not in response.text  # answered masked
        response = http.post("/v1/admin/policy", json={"settings": {"fever_threshold": "37.5"}}, headers=auth)
        assert response.status_code == 200 and response.json()["settings"] == {"fever_threshold": 37.5}
        # Refusals say what is wrong, in words.
        body = _assert_problem(http.post("/v1/admin/policy", json={"settings": {"fever": 1}}, headers=auth), 400)
        assert "unknown setting" in body["en"]
        # Range-checked on the admin API as on the command line (issue 14).
        body = _assert_problem(
            http.post("/v1/admin/policy", json={"settings": {"fever_threshold": 39.5}}, headers=auth), 400
        )
        assert "fever_threshold must be 37-38.5" in body["en"]
        _assert_problem(
            http.post("/v1/admin/policy", content=b'{"settings": {"fever_threshold": 1e400}}', headers=auth), 400
        )
        _assert_problem(http.post("/v1/admin/revoke", json={"pass_id": "xyz", "reason": "x"}, headers=auth), 400)
        _assert_problem(
            http.post("/v1/admin/quarantine/remove", json={"unit": "9-9-909"}, headers=auth), 404, "not_listed"
        )
        _assert_problem(http.post("/v1/admin/revoke", content=b"{not json", headers=auth), 422, "malformed")
        _assert_problem(http.get("/v1/admin/report", params={"date": "yesterday"}, headers=auth), 400, "date")
        _assert_problem(
            http.post("/v1/admin/quarantine/add", json={"unit": "3-2-501", "until": "9999-12-31"}, headers=auth),
            400,
            "date",
        )

        # The kiosk gets the office's changes on its next sync.
        result = sync_until_quiet(service)
        assert {"revoked", "quarantine", "policy"} <= set(result.lists_updated)
        assert store.policy().fever_threshold == 37.5
        assert pass_id in store.gate_state().revoked

        today = time.strftime("%Y-%m-%d")
        report = http.get("/v1/admin/report", params={"date": today}, headers=auth).json()
        assert report["totals"]["in"] == 1 and report["date"] == today
        actions = {(r["action"], r["admin"], r["via"]) for r in _audit_rows(office)}
        assert {
            ("revoke_pass", "张主任", "http"),
            ("quarantine_add", "张主任", "http"),
            ("policy_set", "张主任", "http"),
        } <= actions
        # No ID number in the audit trail, not even a part of it: the masked form shows no digit.
        audit_text = json.dumps(http.get("/v1/admin/audit", headers=auth).json(), ensure_ascii=False)
        assert PERSON_A[0] not in audit_text and PERSON_A[0][:6] not in audit_text and "*" * 18 in audit_text


def test_unknown_addresses_and_methods_are_refused_in_words(sqlite_office):
    _assert_problem(sqlite_office.client.get("/v1/admin/secrets"), 404, "not_found")
    response = sqlite_office.client.delete("/v1/admin/lookup")
    _assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


class TestKioskConfinement:
    def test_a_kiosk_cannot_push_records_as_another_kiosk(self, office, tmp_path):
        store_a, service_a = office.add_kiosk(tmp_path / "a", "东门卡口")
        store_b, service_b = office.add_kiosk(tmp_path / "b", "西门卡口")
        kiosk_a, kiosk_b = store_a.kiosk_state().kiosk_id, store_b.kiosk_state().kiosk_id
        b_ids = write_passages(store_b, 5)
        sync_until_quiet(service_b)
        b_before = office_records(office.engine, kiosk_b)
        assert set(b_before) == set(b_ids)

        # A signs with its own key but names B in the headers: the signature does not match B's key.
        write_passages(store_a, 3)
        body, headers = signed_push(service_a, service_a._batch(store_a.kiosk_state().epoch, 0, 3))
        as_b = dict(headers, **signing.sign_request(store_a.signing_key, kiosk_b, 1, uuid.uuid4().hex, body))
        _assert_problem(office.client.post("/v1/push", content=body, headers=as_b), 401, "bad_signature")

        # A's batch that claims B inside the body (extra fields, payloads, B's record ids) is
        # stored under A, and never replaces or joins B's records.
        stolen = service_b._batch(store_b.kiosk_state().epoch, 0, 5)
        forged = []
        for i, item in enumerate(stolen):
            payload = json.loads(item["payload"])
            payload["kiosk_id"] = kiosk_b
            text_ = json.dumps(payload)
            forged.append(
                dict(
                    item, payload=text_, payload_hash=signing.sha256_hex(text_.encode()), seq=100 + i, kiosk_id=kiosk_b
                )
            )
        own = service_a._batch(store_a.kiosk_state().epoch, 0, 3)
        doc_records = own + forged
        body, headers = signed_push(service_a, doc_records)
        response = office.client.post("/v1/push", content=body, headers=headers)
        assert response.status_code == 200
        statuses = response.json()["statuses"]
        assert statuses[:3] == ["stored"] * 3 and statuses[3:] == ["conflict"] * 5
        assert office_records(office.engine, kiosk_b) == b_before  # B's records untouched
        assert set(office_records(office.engine, kiosk_a)) == {r["record_id"] for r in own}
        with office.engine.execution_options(immediate=False).connect() as conn:
            quarantined = conn.execute(text("SELECT DISTINCT kiosk_id FROM office_conflict")).scalars().all()
            conn.rollback()
        assert quarantined == [kiosk_a]  # the copies are filed under the kiosk that sent them

        # B's exact records replayed by A are harmless duplicates: still B's, and A cannot even
        # learn which of B's ids the office holds.
        body, headers = signed_push(service_a, [dict(r, seq=200 + i) for i, r in enumerate(stolen)])
        assert office.client.post("/v1/push", content=body, headers=headers).json()["statuses"] == ["duplicate"] * 5
        assert office_records(office.engine, kiosk_b) == b_before
        query = json.dumps({"record_ids": b_ids}).encode()
        known = office.client.post(
            "/v1/known",
            content=query,
            headers=signing.sign_request(store_a.signing_key, kiosk_a, 1, uuid.uuid4().hex, query),
        )
        assert known.status_code == 200 and known.json() == {"known": {}}

    def test_a_revoked_kiosk_is_refused_with_words(self, office, tmp_path):
        from sync.office.enrol import revoke_kiosk

        store, service = office.add_kiosk(tmp_path / "k", "北门卡口")
        write_passages(store, 2)
        revoke_kiosk(office.engine, "北门卡口")
        body, headers = signed_push(service, service._batch(store.kiosk_state().epoch, 0, 2))
        _assert_problem(office.client.post("/v1/push", content=body, headers=headers), 403, "kiosk_revoked")
        assert office_records(office.engine, store.kiosk_state().kiosk_id) == {}


class TestSealedLookup:
    def test_registration_sealed_at_the_kiosk_is_opened_only_at_the_office_and_audited(self, office, tmp_path, capsys):
        store, service = office.add_kiosk(tmp_path / "kiosk")
        assert store.office_sealing_key() == office.app.state.office.keys.sealing_public  # enrolled: sealing is on
        reg_a = record_registration(
            store,
            RegistrationInput(
                "returnee",
                name="王小明",
                id_number=PERSON_A[0],
                phone=PERSON_A[1],
                from_place="武汉",
                to_unit="3-2-501",
            ),
        )
        reg_b = record_registration(store, RegistrationInput("visitor", phone=PERSON_B[1], to_unit="5-1-101"))
        sync_until_quiet(service)
        store.engine.dispose()

        # A stolen kiosk: no full number in any file of its data dir (database, WAL, keys, logs).
        needles = [PERSON_A[0], PERSON_A[1], PERSON_B[1]]
        assert files_holding(tmp_path / "kiosk", needles) == {}
        # Nor at the office, until someone opens them on purpose.
        if office.database_url is None:
            assert files_holding(office.office_dir, needles) == {}
        payload = _payload(office, reg_a.record_id)
        assert payload["id_masked"] == "*" * 18 and payload["id_sealed"] and payload["phone_sealed"]

        # The clerk's command opens them, naming an admin and a reason.
        office_admin.add_admin(office.engine, "张主任")
        od = _office_args(office)
        code, out, err = _run(
            capsys,
            "office",
            "lookup",
            reg_a.record_id,
            "--admin",
            "张主任",
            "--reason",
            "流调：4月3日病例密接",
            "--json",
            *od,
        )
        assert code == 0, err
        opened = json.loads(out)
        assert (opened["id_number"], opened["phone"], opened["name"]) == (PERSON_A[0], PERSON_A[1], "王小明")
        assert opened["checkpoint"] == "卡口1" and opened["record_id"] == reg_a.record_id
        code, out, _ = _run(capsys, "office", "lookup", reg_b.record_id, "--admin", "张主任", "--reason", "回访", *od)
        assert code == 0 and PERSON_B[1] in out and "ID number: -" in out

        # Over HTTP with a token: the same numbers, never cached.
        token = office_admin.add_admin(office.engine, "李干事")
        response = office.client.post(
            "/v1/admin/lookup", json={"record_id": reg_a.record_id, "reason": "核实身份"}, headers=_bearer(token)
        )
        assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
        assert (response.json()["id_number"], response.json()["phone"]) == PERSON_A

        # Every opening is an audit row: who, when, which record, why.
        rows = [r for r in reversed(_audit_rows(office, "lookup"))]
        assert [(r["admin"], r["record_id"], r["reason"], r["outcome"], r["via"]) for r in rows] == [
            ("张主任", reg_a.record_id, "流调：4月3日病例密接", "ok", "cli"),
            ("张主任", reg_b.record_id, "回访", "ok", "cli"),
            ("李干事", reg_a.record_id, "核实身份", "ok", "http"),
        ]
        assert all(abs(r["at"] - time.time()) < 600 for r in rows)
        code, out, _ = _run(capsys, "office", "audit", "--action", "lookup", *od)
        assert code == 0 and out.count("lookup") == 3 and reg_a.record_id in out and "核实身份" in out
        assert PERSON_A[0] not in out  # the audit trail says what was opened, not what it said

    def test_lookups_that_open_nothing_are_refused_in_words_and_still_audited(self, office, tmp_path, capsys):
        store, service = office.add_kiosk(tmp_path / "kiosk")
        passage = record_passage(store, "in", Verdict("allow", ()))
        sync_until_quiet(service)
        token = office_admin.add_admin(office.engine, "张主任")
        auth = _bearer(token)
        http = office.client
        _assert_problem(
            http.post("/v1/admin/lookup", json={"record_id": "no-such-record", "reason": "核实"}, headers=auth),
            404,
            "not_found",
        )
        _assert_problem(
            http.post("/v1/admin/lookup", json={"record_id": passage.record_id, "reason": "核实"}, headers=auth),
            404,
            "not_registration",
        )
        body = _assert_problem(
            http.post("/v1/admin/lookup", json={"record_id": passage.record_id, "reason": "  "}, headers=auth),
            400,
            "usage",
        )
        assert "reason" in body["en"]
        _assert_problem(http.post("/v1/admin/lookup", json={"record_id": passage.record_id, "reason": "x"}), 401)
        outcomes = [r["outcome"] for r in _audit_rows(office, "lookup")]
        assert sorted(outcomes) == ["not_found", "not_registration"]  # no reason, no token: nothing was attempted

        od = _office_args(office)
        code, _, err = _run(capsys, "office", "lookup", passage.record_id, "--admin", "陌生人", "--reason", "x", *od)
        assert code == 2 and "no active admin" in err and "Traceback" not in err

    def test_a_registration_made_before_enrolment_is_sealed_then_opened_at_the_office_and_still_matches(
        self, office, tmp_path
    ):
        """A kiosk that starts offline seals its registrations to a hand-over key of its own,
        gives that key to the office at enrolment and destroys it; the hashes are remade under
        the community key in the same step, so the person is still "registered before"."""
        from models import lookup
        from models.store import KioskStore
        from sync.office.lists import person_hash

        store = KioskStore.open(tmp_path / "kiosk")
        store.set_up("卡口1", "幸福里社区")
        early = record_registration(
            store, RegistrationInput("visitor", name="王小明", id_number=PERSON_A[0], phone=PERSON_B[1])
        )
        assert len(lookup.by_id_number(store, PERSON_A[0])) == 1
        handover_files = set((tmp_path / "kiosk" / "keys").iterdir())
        store.engine.dispose()
        store, service = office.add_kiosk(tmp_path / "kiosk")
        # Still "registered before" under the community key, by ID number and by phone.
        assert [h.record_id for h in lookup.by_id_number(store, PERSON_A[0])] == [early.record_id]
        assert [h.record_id for h in lookup.by_phone(store, PERSON_B[1])] == [early.record_id]
        # The office's person hash of the same number is what the kiosk now holds for the early record.
        with store.engine.connect() as conn:
            id_hash = conn.exec_driver_sql(
                "SELECT id_hash FROM registration WHERE record_id = ?", (early.record_id,)
            ).scalar()
        assert id_hash == person_hash(office.app.state.office.keys.lookup, PERSON_A[0])
        # The hand-over key was given to the office and is gone from the kiosk.
        from models.privacy import HANDOVER_KEY

        assert tmp_path / "kiosk" / "keys" / HANDOVER_KEY in handover_files
        assert not (tmp_path / "kiosk" / "keys" / HANDOVER_KEY).exists()
        sync_until_quiet(service)
        assert _payload(office, early.record_id)["id_sealed"]
        opened = sealed.lookup(
            office.engine, office.app.state.office.keys, early.record_id, admin="张主任", reason="流调"
        )
        assert (opened.id_number, opened.phone) == (PERSON_A[0], PERSON_B[1])


def _old_reading(days: float) -> clock.Reading:
    """A moment `days` ago, in an earlier boot of the kiosk (a kiosk that was offline for weeks)."""
    return clock.Reading(wall=time.time() - days * DAY_S, mono_ns=1_000_000_000, boot_id="boot-weeks-ago")


class TestOfficeRetention:
    def test_purge_clears_old_personal_data_and_keeps_the_counts(self, office, tmp_path, capsys):
        from sync.office import report as office_report

        store, service = office.add_kiosk(tmp_path / "kiosk")
        old = record_registration(
            store,
            RegistrationInput(
                "returnee", name="赵老汉", id_number=PERSON_A[0], phone=PERSON_A[1], from_place="黄冈", reason="返乡"
            ),
            reading=_old_reading(40),
        )
        record_passage(store, "in", Verdict("allow", ()), reading=_old_reading(40))
        new = record_registration(store, RegistrationInput("visitor", name="钱小姐", phone=PERSON_B[1]))
        sync_until_quiet(service)
        days = [dt.date.fromtimestamp(time.time() - 40 * DAY_S), dt.date.today()]
        strip = lambda rep: {k: v for k, v in rep.items() if k != "generated_at"}  # noqa: E731
        before = [strip(office_report.day_report(office.engine, d)) for d in days]
        assert before[0]["totals"]["registrations"] == 1 and before[0]["totals"]["in"] == 1
        old_payload = _payload(office, old.record_id)
        old_sealed = old_payload["id_sealed"]

        od = _office_args(office)
        code, out, err = _run(capsys, "office", "purge", "--older-than-days", "28", "--json", *od)
        assert code == 0, err
        result = json.loads(out)
        assert result["days"] == 28
        # PostgreSQL keeps records by day (sync/office/partitions.py): a day wholly past retention
        # goes whole, the registration and the passage with it. SQLite clears the personal fields.
        partitioned = office.database_url is not None
        if partitioned:
            assert result["records"] == 0 and result["dropped_records"] == 2
            with office.engine.connect() as conn:
                left = conn.execute(
                    text("SELECT count(*) FROM office_record WHERE day = :d"), {"d": days[0].isoformat()}
                )
                assert left.scalar() == 0
        else:
            assert result["records"] == 1 and result["dropped_records"] == 0
            purged = _payload(office, old.record_id)
            assert purged["purged"] is True and purged["kind"] == old_payload["kind"]
            assert all(
                purged[k] is None
                for k in (
                    "name",
                    "id_masked",
                    "id_hash",
                    "phone_masked",
                    "id_sealed",
                    "phone_sealed",
                    "from_place",
                    "reason",
                )
            )
        kept = _payload(office, new.record_id)
        assert kept["name"] == "钱小姐" and kept["phone_sealed"]
        # Counts in the day reports are exactly what they were.
        assert [strip(office_report.day_report(office.engine, d)) for d in days] == before
        # The sealed copy and the name are gone from the office's files too (secure delete, VACUUM).
        if office.database_url is None:
            assert files_holding(office.office_dir, [old_sealed, "赵老汉"]) == {}
        # A lookup says the data is gone (and is audited); the new one still opens.
        keys = office.app.state.office.keys
        with pytest.raises(sealed.SealedLookupError) as exc:
            sealed.lookup(office.engine, keys, old.record_id, admin="张主任", reason="流调")
        assert (exc.value.code, exc.value.status) == (("not_found", 404) if partitioned else ("purged", 410))
        assert sealed.lookup(office.engine, keys, new.record_id, admin="张主任", reason="流调").phone == PERSON_B[1]
        # The kiosk's retries of the purged record are still duplicates (the hash was kept, or on
        # PostgreSQL the slots are below the kiosk's mark), not conflicts, and are not counted again.
        body, headers = signed_push(service, service._batch(store.kiosk_state().epoch, 0, 10))
        statuses = office.client.post("/v1/push", content=body, headers=headers).json()["statuses"]
        assert statuses == ["duplicate"] * 3
        assert [office_report.day_report(office.engine, d)["totals"] for d in days] == [b["totals"] for b in before]
        # A second purge finds nothing more, and each purge is in the audit trail.
        again = sealed.purge(office.engine, older_than_days=28)
        assert again.records == again.dropped_records == 0
        audited = [(r["detail"]["records"], r["detail"]["dropped_records"]) for r in _audit_rows(office, "purge")]
        assert audited == [(0, 0), (0, 2) if partitioned else (1, 0)]

    def test_retention_setting_drives_the_default_purge(self, office, tmp_path, capsys):
        store, service = office.add_kiosk(tmp_path / "kiosk")
        ten_days = record_registration(
            store, RegistrationInput("visitor", name="孙先生", phone=PERSON_B[1]), reading=_old_reading(10)
        )
        sync_until_quiet(service)
        od = _office_args(office)
        code, out, _ = _run(capsys, "office", "retention", *od)
        assert code == 0 and "28" in out  # the policy's default
        assert _run(capsys, "office", "purge", *od)[0] == 0
        assert _payload(office, ten_days.record_id)["name"] == "孙先生"  # 10 days < 28: kept
        assert _run(capsys, "office", "retention", "7", *od)[0] == 0
        code, out, _ = _run(capsys, "office", "purge", *od)
        if office.database_url is None:
            assert code == 0 and "1 records" in out
            assert _payload(office, ten_days.record_id)["name"] is None
        else:  # PostgreSQL: the day is past retention whole, so its records go (sync/office/partitions.py)
            assert code == 0 and "deleted 1 records of the days before" in out
            with office.engine.connect() as conn:
                held = conn.execute(
                    text("SELECT count(*) FROM office_record WHERE record_id = :r"), {"r": ten_days.record_id}
                )
                assert held.scalar() == 0
        code, _, err = _run(capsys, "office", "retention", "0", *od)
        assert code == 2 and "1-3650" in err


class TestKeyFiles:
    def test_office_key_files_are_owner_only(self, sqlite_office):
        key_dir = sqlite_office.office_dir / "keys"
        assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
        names = sorted(p.name for p in key_dir.iterdir())
        assert names == ["office-lookup.key", "office-root.key", "office-sealing.key"]
        for path in key_dir.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path

    def test_a_key_file_others_can_read_is_refused_with_the_fix(self, sqlite_office, tmp_path, capsys):
        from models.errors import KeyFileError
        from sync.office.app import create_app
        from sync.office.keys import OfficeKeys

        office_dir = sqlite_office.office_dir
        sealing = office_dir / "keys" / "office-sealing.key"
        office_admin.add_admin(sqlite_office.engine, "张主任")
        os.chmod(sealing, 0o644)
        with pytest.raises(KeyFileError) as exc:
            OfficeKeys(office_dir)
        assert f"chmod 600 {sealing}" in exc.value.en and "chmod 600" in exc.value.zh
        with pytest.raises(KeyFileError):
            create_app(office_dir)
        code, _, err = _run(
            capsys,
            "office",
            "lookup",
            "some-record",
            "--admin",
            "张主任",
            "--reason",
            "x",
            "--office-dir",
            str(office_dir),
        )
        assert code == 2 and f"chmod 600 {sealing}" in err and "Traceback" not in err
        os.chmod(sealing, 0o600)
        assert OfficeKeys(office_dir).sealing_public == sqlite_office.app.state.office.keys.sealing_public


def test_a_deleted_office_root_key_is_refused_never_replaced(sqlite_office):
    """Issue 13: a new root key would make every enrolled kiosk refuse the lists as forged."""
    from models.errors import KeyFileError
    from sync.office.keys import OfficeKeys

    root = sqlite_office.office_dir / "keys" / "office-root.key"
    before = root.read_bytes()
    root.unlink()
    with pytest.raises(KeyFileError) as exc:
        OfficeKeys(sqlite_office.office_dir)
    assert exc.value.code == "key_missing" and "备份" in exc.value.zh and "backup" in exc.value.en
    assert not root.exists()
    root.write_bytes(before)
    os.chmod(root, 0o600)
    assert bytes(OfficeKeys(sqlite_office.office_dir).root.verify_key)  # restored from the backup: works
