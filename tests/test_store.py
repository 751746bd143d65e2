"""The kiosk store end to end: recording facts, passes, PINs and the day report."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from models import facts, volunteers
from models.errors import KeyFileError
from models.gate import check_token
from models.passes import PassError, issue_pass, list_passes, reissue_pass, revoke_pass
from models.passtoken import PassKind
from models.report import day_report
from models.values import parse_temperature


def test_recorded_passage_is_in_the_table_and_the_outbox(store):
    p = issue_pass(store, PassKind.RESIDENT, "3-2-501", "张三")
    v = check_token(store, p.token, "in")
    fact = facts.record_passage(store, "in", v, parse_temperature("365"), volunteer_id=None)
    with store.engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT direction, pass_id, unit_code, temp_raw, temp_value, verdict FROM passage"
        ).one()
        out = conn.exec_driver_sql("SELECT kind, seq, payload FROM outbox WHERE record_id = ?", (fact.record_id,)).one()
    assert tuple(row) == ("in", p.pass_id, "3-2-501", "365", 36.5, "allow")
    assert out.kind == "passage" and out.seq == fact.seq
    payload = json.loads(out.payload)
    assert payload["record_id"] == fact.record_id and payload["temp_raw"] == "365"


def test_revoke_denies_at_once_and_reissue_replaces_in_one_step(store):
    p = issue_pass(store, PassKind.RESIDENT, "1-1-101")
    revoke_pass(store, p.pass_id[:10], "丢失")  # a unique prefix is enough
    assert check_token(store, p.token, "in").reason_codes() == ["revoked"]
    with pytest.raises(PassError) as e:
        revoke_pass(store, p.pass_id, "again")
    assert e.value.code == "already_revoked"

    q = issue_pass(store, PassKind.RESIDENT, "1-1-102")
    new = reissue_pass(store, q.pass_id)
    assert check_token(store, q.token, "in").reason_codes() == ["revoked"]
    assert check_token(store, new.token, "in").allowed
    assert [x.replaces for x in list_passes(store, "1-1-102")] == [None, q.pass_id]


def test_vehicle_pass_needs_a_plate_and_kinds_are_checked(store):
    with pytest.raises(PassError) as e:
        issue_pass(store, PassKind.VEHICLE, "1-1-101")
    assert e.value.code == "plate"
    with pytest.raises(PassError) as e:
        issue_pass(store, PassKind.RESIDENT, "not a unit")
    assert e.value.code == "unit_format"


def test_pin_login_and_growing_lockout(store):
    volunteers.add_volunteer(store, "王秀英", "888888", "supervisor")
    assert volunteers.login(store, "888888", now=1000).is_supervisor
    for _attempt in range(volunteers.FREE_ATTEMPTS - 1):
        with pytest.raises(volunteers.PinError) as e:
            volunteers.login(store, "0000", now=1000)
        assert e.value.code == "pin_wrong"
    with pytest.raises(volunteers.PinError) as e:
        volunteers.login(store, "0000", now=1000)
    assert e.value.code == "pin_locked"
    # Even the right PIN waits out the lockout, and the lockout survives reopening the file.
    from models.store import KioskStore

    reopened = KioskStore.open(store.data_dir)
    with pytest.raises(volunteers.PinError) as e:
        volunteers.login(reopened, "888888", now=1010)
    assert e.value.code == "pin_locked"
    assert volunteers.login(reopened, "888888", now=1000 + volunteers.BASE_LOCK_SECONDS + 1).name == "王秀英"
    # The next failure streak starts from zero after a good login.
    with pytest.raises(volunteers.PinError) as e:
        volunteers.login(reopened, "0000", now=2000)
    assert e.value.code == "pin_wrong"


def test_lockout_grows_and_is_capped():
    waits = [volunteers.lock_seconds(n) for n in range(volunteers.FREE_ATTEMPTS, volunteers.FREE_ATTEMPTS + 10)]
    assert waits[0] == volunteers.BASE_LOCK_SECONDS and waits[1] == 2 * waits[0]
    assert max(waits) == volunteers.MAX_LOCK_SECONDS


def test_duplicate_pin_and_bad_pin_refused(store):
    volunteers.add_volunteer(store, "A", "1234")
    with pytest.raises(volunteers.PinError) as e:
        volunteers.add_volunteer(store, "B", "1234")
    assert e.value.code == "pin_taken"
    with pytest.raises(volunteers.PinError) as e:
        volunteers.add_volunteer(store, "C", "12a4")
    assert e.value.code == "pin_format"


def test_registration_keeps_no_full_id_or_phone(store):
    reg = facts.RegistrationInput(
        kind="returnee",
        name="李四",
        id_number="11010519491231002X",
        phone="13812345678",
        from_place="武汉",
        to_unit="3-2-501",
        reason="返乡",
    )
    facts.record_registration(store, reg, parse_temperature("36.6"))
    store.engine.dispose()
    for path in store.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"11010519491231002X" not in data, path
            assert b"13812345678" not in data, path
    with store.engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT id_masked, phone_masked, id_hash FROM registration").one()
    # No digit shown (each would divide a thief's work), and the look-up hash is the slow one.
    from models.privacy import LookupCost, cost_of

    assert row[0] == "*" * 18 and row[1] == "*" * 11
    assert cost_of(row[2]) == LookupCost.from_policy(store.policy())


def test_day_report_counts_match_the_records_and_zero_is_explicit(store):
    empty = day_report(store, dt.date.today())
    assert empty["zero_report"] is True and empty["passages"] == {"in": 0, "out": 0}
    p = issue_pass(store, PassKind.RESIDENT, "3-2-501")
    for direction in ("in", "out", "in"):  # one gate: in twice without going out would be CHECK
        facts.record_passage(store, direction, check_token(store, p.token, direction), parse_temperature("365"))
    store.add_list_entry("quarantine", unit_code="3-2-501")
    facts.record_passage(store, "out", check_token(store, p.token, "out"))
    case = facts.open_fever_case(store, "in", parse_temperature("381"), pass_id=p.pass_id, unit_code="3-2-501")
    facts.close_fever_case(store, case.record_id, "clinic", parse_temperature("380"))
    facts.open_fever_case(store, "in", parse_temperature("HI"))
    facts.record_registration(store, facts.RegistrationInput(kind="courier", phone="13912345678"))
    r = day_report(store, dt.date.today())
    assert r["zero_report"] is False
    assert r["passages"] == {"in": 2, "out": 1}
    assert r["turned_back"] == 1 and r["denials_by_reason"] == {"quarantined": 1}
    assert r["fevers"]["cases"] == 2 and r["fevers"]["outcomes"]["clinic"] == 1 and r["fevers"]["pending"] == 1
    assert r["registrations"]["courier"] == 1
    # passes issued + passages + fevers + registration, none synced yet
    assert r["unsynced"] == 1 + 4 + 3 + 1
    yesterday = day_report(store, dt.date.today() - dt.timedelta(days=1))
    assert yesterday["zero_report"] is True


def test_key_file_readable_by_others_is_refused(tmp_path):
    from models.store import KioskStore

    s = KioskStore.open(tmp_path / "k")
    key = tmp_path / "k" / "keys" / "kiosk-signing.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    key.chmod(0o644)
    with pytest.raises(KeyFileError) as e:
        KioskStore.open(tmp_path / "k")
    assert "chmod 600" in str(e.value)
    s.engine.dispose()


def test_trusted_now_never_goes_below_the_newest_record(store, monkeypatch):
    import time as time_mod

    p = issue_pass(store, PassKind.RESIDENT, "3-2-501")
    real = time_mod.time()
    monkeypatch.setattr(time_mod, "time", lambda: 0.0)  # clock reads 1970 after a power cut
    assert store.trusted_now() >= real - 1
    assert check_token(store, p.token, "in").allowed


def test_outbox_payload_keeps_the_registrations_and_passes_own_kind(store):
    """The office groups registrations by kind and knows pass kinds from these payloads."""
    reg = facts.record_registration(store, facts.RegistrationInput(kind="returnee", phone="13912345678"))
    issued = issue_pass(store, PassKind.VEHICLE, "3-2-501", plate="京A12345")
    with store.engine.connect() as conn:
        payloads = {r[0]: json.loads(r[1]) for r in conn.exec_driver_sql("SELECT record_id, payload FROM outbox")}
    assert payloads[reg.record_id]["kind"] == "returnee" and payloads[reg.record_id]["fact"] == "registration"
    assert payloads[issued.record_id]["kind"] == int(PassKind.VEHICLE)
    assert payloads[issued.record_id]["fact"] == "pass_issued"


def test_nul_characters_never_reach_the_outbox(store):
    reg = facts.RegistrationInput(kind="visitor", phone="13912345678", from_place="武\x00汉", reason="探\x00亲")
    fact = facts.record_registration(store, reg)
    with store.engine.connect() as conn:
        payload = conn.exec_driver_sql("SELECT payload FROM outbox WHERE record_id = ?", (fact.record_id,)).scalar()
        row = conn.exec_driver_sql("SELECT from_place, reason FROM registration").one()
    assert "\\u0000" not in payload and tuple(row) == ("武汉", "探亲")


def test_a_deleted_signing_key_is_refused_in_words_never_replaced(tmp_path):
    """Issue 13: a new key would issue passes no gate trusts, and sync would blame tampering."""
    from models.store import KioskStore

    s = KioskStore.open(tmp_path / "k")
    issue_pass(s, PassKind.RESIDENT, "3-2-501")
    s.close()
    key = tmp_path / "k" / "keys" / "kiosk-signing.key"
    key.unlink()
    with pytest.raises(KeyFileError) as e:
        KioskStore.open(tmp_path / "k")
    assert e.value.code == "key_missing"
    assert "备份" in e.value.zh and "backup" in e.value.en and "re" in e.value.en
    assert not key.exists()  # nothing was made in its place


def test_an_unreadable_signing_key_is_refused_in_words(tmp_path, monkeypatch):
    from pathlib import Path

    from models.store import KioskStore

    KioskStore.open(tmp_path / "k").close()
    real = Path.read_bytes

    def denied(self):
        if self.name == "kiosk-signing.key":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(KeyFileError) as e:
        KioskStore.open(tmp_path / "k")
    assert e.value.code == "key_unreadable" and "Permission denied" in e.value.en


def test_the_kakou_command_says_the_key_is_missing_and_exits_with_an_error(tmp_path, capsys):
    from models.store import KioskStore
    from tui.cli import main

    KioskStore.open(tmp_path / "k").close()
    (tmp_path / "k" / "keys" / "kiosk-signing.key").unlink()
    assert main(["report", "--data-dir", str(tmp_path / "k")]) == 2  # EXIT_ERROR, never 70
    err = capsys.readouterr().err
    assert "签发密钥" in err and "Traceback" not in err


def test_a_lockout_set_before_the_clock_fell_to_1970_is_never_longer_than_the_maximum(store):
    """Issue 14: a kiosk locked out, then its clock at 1970 after a power cut, said "try again in
    1795999305 s" (56 years)."""
    volunteers.add_volunteer(store, "王秀英", "888888", "supervisor")
    now = 1_764_000_000.0  # 2025
    for _ in range(volunteers.FREE_ATTEMPTS):
        with pytest.raises(volunteers.PinError):
            volunteers.login(store, "0000", now=now)
    assert 0 < volunteers.locked_for(store, now=now) <= volunteers.BASE_LOCK_SECONDS
    assert volunteers.locked_for(store, now=0.0) <= volunteers.MAX_LOCK_SECONDS  # the clock reads 1970
    with pytest.raises(volunteers.PinError) as e:
        volunteers.login(store, "888888", now=0.0)
    seconds = int("".join(ch for ch in e.value.en if ch.isdigit()))
    assert seconds <= volunteers.MAX_LOCK_SECONDS + 1
