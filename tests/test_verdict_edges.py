"""The verdict at its edges: list boundaries, the quota window, words in both languages.

Written against the mutation run (tests/mutation/README.md): each test states a rule a
volunteer or the office relies on, at the exact point where an off-by-one would change it.
"""

from __future__ import annotations

import time

import pytest
from nacl.signing import SigningKey

from models.passtoken import PassBody, PassKind, decode_token, kid_for, new_pass_id, sign_pass
from models.policy import Policy
from models.verdict import (
    ALLOW,
    DENY,
    REFER,
    GateState,
    Reason,
    TrustEntry,
    Verdict,
    decide_pass,
    decide_person,
    quota_reason,
)

NOW = 1_650_000_000.0  # 2022-04-15
DAY = 86400
KEY = SigningKey(b"\x02" * 32)


def _body(**fields) -> PassBody:
    values = dict(
        kid=kid_for(bytes(KEY.verify_key)),
        pass_id=new_pass_id(),
        kind=PassKind.RESIDENT,
        scope=0,
        valid_from=int(NOW - DAY),
        valid_to=int(NOW + 30 * DAY),
        unit="3-2-501",
    )
    values.update(fields)
    return PassBody(**values)


def _state(**kw) -> GateState:
    public = bytes(KEY.verify_key)
    return GateState(trust={kid_for(public): [TrustEntry(public, "本机")]}, **kw)


def _decide(body: PassBody, direction="in", now=NOW, state=None, policy=None, outings=()):
    decoded = decode_token(sign_pass(body, KEY))
    return decide_pass(decoded, direction, now, state or _state(), policy or Policy(), outings)


# -- lists ------------------------------------------------------------------------------------


def test_a_quarantine_ends_at_its_until_time():
    state = GateState(quarantine_units={"3-2-501": NOW + 60})
    assert decide_person("3-2-501", None, "out", NOW + 59, state, Policy()).reason_codes() == ["quarantined"]
    assert decide_person("3-2-501", None, "out", NOW + 60, state, Policy()).reason_codes() == []


def test_a_quarantined_person_with_an_end_date_is_stopped_going_out():
    state = GateState(quarantine_persons={"h-person": NOW + DAY})
    v = decide_person(None, "h-person", "out", NOW, state, Policy())
    assert v.outcome == DENY and v.reason_codes() == ["quarantined"]
    assert decide_person(None, "h-person", "in", NOW, state, Policy()).reason_codes() == ["quarantined_home"]
    assert decide_person(None, "h-other", "out", NOW, state, Policy()).reason_codes() == []


def test_a_person_looked_up_by_unit_gets_the_units_lists():
    state = GateState(quarantine_units={"3-2-501": None}, watch_units={"3-2-501": "独居老人"})
    v = decide_person("3-2-501", None, "out", NOW, state, Policy())
    assert v.outcome == DENY and v.reason_codes() == ["quarantined", "watch"]
    assert v.reasons[1].text("zh") == "重点关注：独居老人"


def test_someone_not_on_the_watch_list_gets_no_watch_note():
    state = GateState(watch_units={"1-1-101": "x"}, watch_persons={"h-watched": "y"})
    assert decide_person("3-2-501", "h-someone-else", "in", NOW, state, Policy()).reason_codes() == []


@pytest.mark.parametrize("who", ["unit", "person"])
def test_a_watch_entry_without_a_note_is_still_shown(who):
    """`kakou office watch add --unit 3-2-501` has no note by default: the kiosk must still
    show that the unit is watched (with "-" for the note)."""
    state = GateState(watch_units={"3-2-501": ""}, watch_persons={"h-watched": ""})
    unit, person = ("3-2-501", None) if who == "unit" else (None, "h-watched")
    v = decide_person(unit, person, "in", NOW, state, Policy())
    assert v.reason_codes() == ["watch"] and v.outcome == ALLOW
    assert v.reasons[0].text("en") == "watch list: -"


def test_a_watch_note_is_taken_from_the_person_when_the_unit_has_none():
    state = GateState(watch_units={"3-2-501": ""}, watch_persons={"h-watched": "需陪同"})
    v = decide_person("3-2-501", "h-watched", "in", NOW, state, Policy())
    assert [r.text("zh") for r in v.reasons] == ["重点关注：需陪同"]


def test_stale_lists_say_their_age_in_whole_hours():
    state = GateState(lists_updated_at=NOW - 48 * 3600)
    v = decide_person("3-2-501", None, "in", NOW, state, Policy(list_stale_hours=24))
    assert v.outcome == REFER and v.reasons[0].params == {"hours": 48}
    assert v.reason_text("en") == "lists 48 h old, check by hand"
    fresh = GateState(lists_updated_at=NOW - 24 * 3600)
    assert decide_person("3-2-501", None, "in", NOW, fresh, Policy(list_stale_hours=24)).reason_codes() == []


# -- the outing quota -----------------------------------------------------------------------------


QUOTA = Policy(outing_quota=1, outing_window_days=2)


def test_an_outing_exactly_one_window_ago_no_longer_counts():
    body = _body(kind=PassKind.OUTING)
    assert quota_reason(body, "out", NOW, [NOW - 2 * DAY], QUOTA) is None
    assert quota_reason(body, "out", NOW, [NOW - 2 * DAY + 1], QUOTA) is not None


def test_an_outing_at_this_very_second_counts():
    body = _body(kind=PassKind.OUTING)
    reason = quota_reason(body, "out", NOW, [NOW], QUOTA)
    assert reason is not None and reason.code == "outing_quota"
    assert reason.params == {"date": time.strftime("%Y-%m-%d", time.localtime(NOW + 2 * DAY))}
    assert quota_reason(body, "out", NOW, [NOW + 1], QUOTA) is None  # a clock ahead: not yet


def test_the_quota_counts_only_outings_out_on_outing_passes():
    outing = _body(kind=PassKind.OUTING)
    assert quota_reason(outing, "in", NOW, [NOW], QUOTA) is None
    assert quota_reason(_body(), "out", NOW, [NOW], QUOTA) is None
    assert quota_reason(outing, "out", NOW, [NOW], Policy(outing_quota=0)) is None
    two = Policy(outing_quota=2, outing_window_days=2)
    assert quota_reason(outing, "out", NOW, [NOW - 10], two) is None
    late = quota_reason(outing, "out", NOW, [NOW - DAY, NOW - 10], two)
    assert late.params["date"] == time.strftime("%Y-%m-%d", time.localtime(NOW - DAY + 2 * DAY))


# -- hours and the words -------------------------------------------------------------------------


def test_a_window_to_midnight_is_written_24_00():
    body = _body(kind=PassKind.WORK, hour_from=22, hour_to=0)
    noon = time.mktime(time.strptime("2022-04-15 12:00", "%Y-%m-%d %H:%M"))
    v = _decide(body, now=noon)
    assert v.reason_codes() == ["outside_hours"]
    assert v.reason_text("en") == "outside the allowed hours 22:00-24:00"


def test_reasons_read_in_either_language():
    reasons = (Reason("revoked", {"reason": "丢失"}), Reason("wrong_checkpoint"))
    v = Verdict(DENY, reasons)
    assert v.reason_text("zh") == "通行证已作废：丢失；此证不能在本卡口使用"
    assert v.reason_text("en") == "pass revoked: 丢失; pass is not for this checkpoint"
    assert v.reason_text() == v.reason_text("zh")
    assert (
        Reason("unknown_issuer").text("en")
        == "issuer not trusted here: refused (a new checkpoint's pass? sync the lists)"
    )
    assert Reason("unknown_issuer").text() == "签发单位不在信任名单，不予通行（新卡口的证请先同步名单）"


def test_a_reason_recorded_without_its_details_still_has_words():
    # e.g. a reason code read back from an old record, with no parameters kept
    assert Reason("expired").text("en") == "pass expired on {date}"


# -- the pass itself -----------------------------------------------------------------------------


def test_a_pass_is_valid_from_its_first_second():
    body = _body(valid_from=int(NOW), valid_to=int(NOW + DAY))
    assert _decide(body, now=NOW).outcome == ALLOW
    early = _decide(body, now=NOW - 1)
    assert early.reason_codes() == ["not_yet_valid"]
    day = time.strftime("%Y-%m-%d", time.localtime(NOW))
    assert early.reason_text("en") == f"pass valid from {day}"
    assert early.reason_text("zh") == f"通行证 {day} 起生效"


def test_a_revoked_pass_without_a_reason_says_so_with_a_dash():
    body = _body()
    v = _decide(body, state=_state(revoked={body.pass_id_hex: ""}))
    assert v.reason_codes() == ["revoked"] and v.reason_text("en") == "pass revoked: -"


def _with_issuer(**entry) -> GateState:
    public = bytes(KEY.verify_key)
    return GateState(trust={kid_for(public): [TrustEntry(public, "东门卡口", **entry)]})


def test_passes_issued_from_the_moment_a_kiosk_was_revoked_are_refused():
    body = _body()
    assert _decide(body, state=_with_issuer(revoked_after=body.valid_from + 1)).outcome == ALLOW
    at = _decide(body, state=_with_issuer(revoked_after=body.valid_from))
    assert at.outcome == DENY and at.reason_codes() == ["issuer_revoked"]


def test_a_pass_running_past_its_keys_end_is_refused_in_words():
    body = _body()
    assert _decide(body, state=_with_issuer(not_after=body.valid_to)).outcome == ALLOW
    v = _decide(body, state=_with_issuer(not_after=body.valid_to - 1))
    assert v.outcome == DENY and v.reason_codes() == ["issuer_expired"]
    assert v.reason_text("en") == "the issuing key has expired"


def test_a_verdict_names_the_pass_and_its_issuer():
    body = _body(name="王芳")
    v = _decide(body)
    assert v.body == body and v.decoded is not None and v.decoded.body == body
    assert v.issuer == "本机"


def test_a_bad_signature_still_shows_what_the_pass_claims():
    # the volunteer sees whose pass was forged or altered
    body = _body(name="王芳")
    other = SigningKey(b"\x03" * 32)
    from models.passtoken import PASS_CONTEXT, TOKEN_PREFIX, bytes_to_digits

    raw = body.to_bytes()
    token = TOKEN_PREFIX + bytes_to_digits(raw + other.sign(PASS_CONTEXT + raw).signature)
    v = decide_pass(decode_token(token), "in", NOW, _state(), Policy())
    assert v.reason_codes() == ["bad_signature"]
    assert v.body == body and v.decoded is not None and v.decoded.token == token
