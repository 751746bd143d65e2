"""The verdict rules: one test per reason a volunteer may see, as pure functions."""

from __future__ import annotations

import time

import pytest
from nacl.signing import SigningKey

from models.passtoken import PassBody, PassKind, decode_token, kid_for, new_pass_id, sign_pass
from models.policy import Policy
from models.verdict import ALLOW, DENY, REFER, GateState, TrustEntry, decide_person, decide_token

NOW = 1_650_000_000.0  # 2022-04-15
DAY = 86400


@pytest.fixture(scope="module")
def key():
    return SigningKey(b"\x01" * 32)


def make_token(key, **fields) -> str:
    public = bytes(key.verify_key)
    values = dict(
        kid=kid_for(public),
        pass_id=new_pass_id(),
        kind=PassKind.RESIDENT,
        scope=0,
        valid_from=int(NOW - DAY),
        valid_to=int(NOW + 30 * DAY),
        unit="3-2-501",
        name="张三",
    )
    values.update(fields)
    return sign_pass(PassBody(**values), key)


def state_for(key, **kw) -> GateState:
    public = bytes(key.verify_key)
    return GateState(trust={kid_for(public): [TrustEntry(public, "kiosk")]}, **kw)


def codes(v):
    return [r.code for r in v.reasons]


def test_valid_pass_is_allowed_with_no_reason(key):
    v = decide_token(make_token(key), "in", NOW, state_for(key), Policy())
    assert v.outcome == ALLOW and codes(v) == []
    assert v.body.unit == "3-2-501" and v.body.name == "张三"


@pytest.mark.parametrize("text,code", [("", "empty"), ("hello", "not_kakou"), ("12345", "not_kakou")])
def test_garbage_is_denied_as_not_a_pass(key, text, code):
    v = decide_token(text, "in", NOW, state_for(key), Policy())
    assert v.outcome == DENY and codes(v) == [code]


def test_truncated_scan_is_denied_as_damaged(key):
    token = make_token(key)
    v = decide_token(token[:-5], "in", NOW, state_for(key), Policy())
    assert v.outcome == DENY and codes(v) == ["damaged"]


def test_pass_from_unknown_issuer(key):
    other = SigningKey(b"\x02" * 32)
    v = decide_token(make_token(other), "in", NOW, state_for(key), Policy())
    assert v.outcome == DENY and codes(v) == ["unknown_issuer"]


def test_forged_pass_with_colliding_kid_has_bad_signature(key):
    # A forger picks a key whose kid collides with a trusted one: the signature still fails.
    target = kid_for(bytes(key.verify_key))
    i = 3
    while True:
        forger = SigningKey(i.to_bytes(32, "big"))
        if kid_for(bytes(forger.verify_key)) == target:
            break
        i += 1
    v = decide_token(make_token(forger), "in", NOW, state_for(key), Policy())
    assert v.outcome == DENY and codes(v) == ["bad_signature"]


def test_expired_and_not_yet_valid(key):
    expired = make_token(key, valid_from=int(NOW - 10 * DAY), valid_to=int(NOW - DAY))
    future = make_token(key, valid_from=int(NOW + DAY), valid_to=int(NOW + 10 * DAY))
    v1 = decide_token(expired, "in", NOW, state_for(key), Policy())
    v2 = decide_token(future, "in", NOW, state_for(key), Policy())
    assert (v1.outcome, codes(v1)) == (DENY, ["expired"])
    assert (v2.outcome, codes(v2)) == (DENY, ["not_yet_valid"])
    assert time.strftime("%Y-%m-%d", time.localtime(NOW - DAY)) in v1.reason_text("en")


def test_revoked_pass_shows_the_reason(key):
    token = make_token(key)
    pid = decode_token(token).body.pass_id_hex
    v = decide_token(token, "in", NOW, state_for(key, revoked={pid: "丢失"}), Policy())
    assert v.outcome == DENY and codes(v) == ["revoked"]
    assert "丢失" in v.reason_text("zh")


def test_wrong_checkpoint(key):
    token = make_token(key, scope=7)
    assert codes(decide_token(token, "in", NOW, state_for(key, checkpoint_number=2), Policy())) == ["wrong_checkpoint"]
    assert decide_token(token, "in", NOW, state_for(key, checkpoint_number=7), Policy()).outcome == ALLOW


def test_quarantined_household_may_come_in_but_not_go_out(key):
    state = state_for(key, quarantine_units={"3-2-501": None})
    out = decide_token(make_token(key), "out", NOW, state, Policy())
    inside = decide_token(make_token(key), "in", NOW, state, Policy())
    assert (out.outcome, codes(out)) == (DENY, ["quarantined"])
    assert (inside.outcome, codes(inside)) == (ALLOW, ["quarantined_home"])


def test_quarantine_ends_at_its_until(key):
    state = state_for(key, quarantine_units={"3-2-501": NOW - 1})
    assert decide_token(make_token(key), "out", NOW, state, Policy()).outcome == ALLOW


def test_watch_list_allows_with_a_note(key):
    v = decide_token(make_token(key), "out", NOW, state_for(key, watch_units={"3-2-501": "独居老人"}), Policy())
    assert v.outcome == ALLOW and codes(v) == ["watch"] and "独居老人" in v.reason_text()


def test_stale_lists_turn_allow_into_check_not_deny(key):
    state = state_for(key, lists_updated_at=NOW - 30 * 3600)
    v = decide_token(make_token(key), "in", NOW, state, Policy(list_stale_hours=24))
    assert v.outcome == REFER and codes(v) == ["list_stale"]
    fresh = state_for(key, lists_updated_at=NOW - 3600)
    assert decide_token(make_token(key), "in", NOW, fresh, Policy()).outcome == ALLOW


def test_revoked_issuing_kiosk_denies_passes_issued_after_the_cutoff(key):
    public = bytes(key.verify_key)
    state = GateState(trust={kid_for(public): [TrustEntry(public, "stolen", revoked_after=int(NOW - 2 * DAY))]})
    v = decide_token(make_token(key), "in", NOW, state, Policy())
    assert v.outcome == DENY and "issuer_revoked" in codes(v)
    older = make_token(key, valid_from=int(NOW - 5 * DAY))
    assert decide_token(older, "in", NOW, state, Policy()).outcome == ALLOW


def test_work_pass_outside_its_hours(key):
    lt = time.localtime(NOW)
    token = make_token(key, kind=PassKind.WORK, hour_from=(lt.tm_hour + 1) % 24, hour_to=(lt.tm_hour + 2) % 24 or 24)
    v = decide_token(token, "in", NOW, state_for(key), Policy())
    assert v.outcome == DENY and codes(v) == ["outside_hours"]
    out = decide_token(token, "out", NOW, state_for(key), Policy())
    assert out.outcome == ALLOW and codes(out) == ["left_after_hours"]
    inside = make_token(key, kind=PassKind.WORK, hour_from=lt.tm_hour, hour_to=lt.tm_hour + 1)
    assert decide_token(inside, "out", NOW, state_for(key), Policy()).outcome == ALLOW


def test_outing_quota_counts_this_households_outings(key):
    token = make_token(key, kind=PassKind.OUTING)
    policy = Policy(outing_quota=1, outing_window_days=2)
    v = decide_token(token, "out", NOW, state_for(key), policy, outings=[NOW - DAY])
    assert v.outcome == DENY and codes(v) == ["outing_quota"]
    next_day = time.strftime("%Y-%m-%d", time.localtime(NOW + DAY))
    assert next_day in v.reason_text("en")
    assert decide_token(token, "out", NOW, state_for(key), policy, outings=[NOW - 3 * DAY]).outcome == ALLOW
    assert decide_token(token, "in", NOW, state_for(key), policy, outings=[NOW - DAY]).outcome == ALLOW


def test_person_without_pass_checked_against_lists():
    state = GateState(quarantine_persons={"h1": None}, watch_persons={"h2": "复工"})
    assert decide_person(None, "h1", "out", NOW, state, Policy()).outcome == DENY
    v = decide_person(None, "h2", "out", NOW, state, Policy())
    assert v.outcome == ALLOW and codes(v) == ["watch"]
    assert decide_person(None, "h3", "out", NOW, state, Policy()).outcome == ALLOW


def test_every_reason_has_both_languages():
    from models.verdict import REASONS, Reason

    for code, info in REASONS.items():
        params = {
            "reason": "x",
            "date": "2022-01-01",
            "hours": "8",
            "note": "n",
            "community": "c",
            "days": 1,
            "answer_zh": "红码",
            "answer_en": "red",
        }
        r = Reason(code, params)
        assert r.text("zh") and r.text("en") and r.text("zh") != r.text("en")
        assert r.label("zh") and r.label("en") and "{" not in r.label("zh") + r.label("en")
        assert info.level in (ALLOW, DENY, REFER, "note")
