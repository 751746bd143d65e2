"""Behaviours users rely on that no other test pinned down (issue 11): each test here fails
when its behaviour breaks."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time

from sqlalchemy import update

from models import facts
from models.gate import check_token
from models.passes import issue_pass
from models.passtoken import PassKind
from models.report import day_report, format_report
from models.tables import TrustedKey
from models.values import parse_temperature

ID_NUMBER = "11010519491231002X"


# -- temperatures -----------------------------------------------------------------------------


def test_37_25_rounds_half_up_to_37_3_which_is_a_fever():
    reading = parse_temperature("37.25")
    assert reading.value == 37.3 and reading.display() == "37.3"
    assert reading.is_fever()  # the default threshold, 37.3: at the threshold is a fever
    assert reading.is_fever(37.3)
    below = parse_temperature("37.249")
    assert below.value == 37.2 and not below.is_fever()


def test_the_threshold_decides_not_the_default():
    reading = parse_temperature("371")
    assert not reading.is_fever()  # 37.1 < 37.3
    assert reading.is_fever(37.0) and reading.is_fever(37.1)
    assert not reading.is_fever(37.2)


# -- trust list ---------------------------------------------------------------------------------


def _set_not_after(store, not_after: int | None) -> None:
    with store.writer.begin() as conn:
        conn.execute(update(TrustedKey).values(not_after=not_after))
    store.invalidate()


def test_a_trusted_key_past_its_expiry_is_refused(store):
    p = issue_pass(store, PassKind.RESIDENT, "3-2-501", valid_days=30)
    assert check_token(store, p.token, "in").outcome == "allow"
    _set_not_after(store, int(time.time()) - 86400)  # the trust list says: this key ended yesterday
    verdict = check_token(store, p.token, "in")
    assert verdict.outcome == "deny" and verdict.reason_codes() == ["issuer_expired"]


def test_a_key_is_good_for_passes_that_end_by_its_expiry(store):
    p = issue_pass(store, PassKind.RESIDENT, "3-2-501", valid_days=30)
    _set_not_after(store, p.body.valid_to)  # exactly at the end of the pass: still fine
    assert check_token(store, p.token, "in").outcome == "allow"
    _set_not_after(store, p.body.valid_to - 1)
    assert check_token(store, p.token, "in").reason_codes() == ["issuer_expired"]


# -- the kiosk's day report ---------------------------------------------------------------------


def test_a_day_with_only_registrations_is_not_a_zero_report(store):
    facts.record_registration(store, facts.RegistrationInput(kind="visitor", phone="13912345678"))
    r = day_report(store, dt.date.today())
    assert r["passages"] == {"in": 0, "out": 0} and r["fevers"]["cases"] == 0
    assert r["registrations"]["visitor"] == 1
    assert r["zero_report"] is False
    assert "零报告" not in format_report(r, "zh")
    assert "Zero report" not in format_report(r, "en")


def test_a_day_with_only_fevers_is_not_a_zero_report(store):
    facts.open_fever_case(store, "in", parse_temperature("385"))
    assert day_report(store, dt.date.today())["zero_report"] is False


def test_registration_counts_by_kind_are_there_when_zero(store):
    from models.facts import REGISTRATION_KINDS

    r = day_report(store, dt.date.today())
    assert r["zero_report"] is True
    assert r["registrations"] == dict.fromkeys(REGISTRATION_KINDS, 0)
    text = format_report(r, "en")
    for kind in REGISTRATION_KINDS.values():
        assert f"{kind.name.en} 0" in text
    text = format_report(r, "zh")
    for kind in REGISTRATION_KINDS.values():
        assert f"{kind.name.zh} 0" in text


# -- the person hash ----------------------------------------------------------------------------


def test_the_person_hash_is_keyed_not_a_plain_hash_of_the_number(store):
    from models.lookup import by_id_number

    facts.record_registration(store, facts.RegistrationInput(kind="visitor", id_number=ID_NUMBER))
    with store.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT id_hash FROM registration").scalar()
        payload = conn.exec_driver_sql("SELECT payload FROM outbox WHERE kind = 'registration'").scalar()
    plain = {
        hashlib.new(algo, text.encode()).hexdigest()
        for algo in ("sha256", "sha1", "md5", "sha512", "blake2b", "sha3_256")
        for text in (ID_NUMBER, f"id:{ID_NUMBER}", ID_NUMBER.lower())
    }
    assert stored not in plain, "anyone could recompute this hash from a guessed ID number"
    inner = hmac.new(store.lookup_key, f"id:{ID_NUMBER}".encode(), hashlib.sha256)
    assert stored != inner.hexdigest(), "the bare HMAC with the key at rest costs a thief a microsecond a guess"
    from models.privacy import strengthen

    assert stored == strengthen(inner.digest(), store.lookup_cost())  # argon2id over the keyed HMAC
    assert len(by_id_number(store, ID_NUMBER)) == 1  # the desk finds the person by it
    # What goes to the office carries the keyed hash too, never the number or a plain hash.
    assert ID_NUMBER not in payload and not any(h in payload for h in plain)
    assert json.loads(payload)["id_hash"] == stored


def test_another_key_gives_another_person_hash(tmp_path):
    from models.privacy import lookup_hash
    from models.store import KioskStore

    a, b = KioskStore.open(tmp_path / "a"), KioskStore.open(tmp_path / "b")
    try:
        assert a.lookup_key != b.lookup_key
        assert lookup_hash(a.lookup_key, "id", ID_NUMBER) != lookup_hash(b.lookup_key, "id", ID_NUMBER)
    finally:
        a.close()
        b.close()


def test_a_unit_on_the_watch_list_without_a_note_is_flagged_at_the_gate(store):
    # `kakou office watch add --unit 3-2-501` gives no note unless asked; the unit is watched all the same.
    p = issue_pass(store, PassKind.RESIDENT, "3-2-501")
    store.add_list_entry("watch", unit_code="3-2-501")
    v = check_token(store, p.token, "in")
    assert v.reason_codes() == ["watch"] and v.reason_text("en") == "watch list: -"
