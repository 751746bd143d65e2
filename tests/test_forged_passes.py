"""Hostile passes at a real kiosk store: every forgery is denied with the right reason."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from models.gate import check_token
from models.passes import issue_pass
from models.passtoken import PassBody, PassKind, decode_token, kid_for, sign_pass
from models.tables import TrustedKey


def test_random_digit_strings_are_never_allowed(store):
    rng = random.Random(7)
    for _ in range(300):
        n = rng.choice((18, 40, 100, 279, 300, 454, 600))
        token = "88" + "".join(rng.choice("0123456789") for _ in range(n))
        v = check_token(store, token, "in")
        assert v.outcome == "deny" and v.reason_codes()[0] in (
            "damaged",
            "too_long",
            "unknown_issuer",
            "bad_signature",
            "version",
        )


def test_every_single_digit_change_of_a_real_pass_is_denied(store):
    token = issue_pass(store, PassKind.RESIDENT, "3-2-501", "张三").token
    assert check_token(store, token, "in").allowed
    for i in range(len(token)):
        for delta in (1, 5):
            forged = token[:i] + str((int(token[i]) + delta) % 10) + token[i + 1 :]
            v = check_token(store, forged, "in")
            assert v.outcome == "deny", (i, delta, v.reason_codes())


def test_edited_field_with_the_old_signature_is_denied(store):
    token = issue_pass(store, PassKind.RESIDENT, "3-2-501").token
    d = decode_token(token)
    edited = PassBody(**{**d.body.__dict__, "valid_to": d.body.valid_to + 365 * 86400})
    from models.passtoken import TOKEN_PREFIX, bytes_to_digits

    forged = TOKEN_PREFIX + bytes_to_digits(edited.to_bytes() + d.signature)
    assert check_token(store, forged, "in").reason_codes() == ["bad_signature"]


def _stranger(store, *, same_kid: bool) -> SigningKey:
    """A key this kiosk does not trust, whose one-byte kid is (or is not) the kiosk's own."""
    own_kid = kid_for(bytes(store.signing_key.verify_key))
    while True:  # one key in 256 shares the kid: a few hundred tries at most
        key = SigningKey.generate()
        if (kid_for(bytes(key.verify_key)) == own_kid) == same_kid:
            return key


def _stranger_pass(stranger: SigningKey) -> str:
    body = PassBody(
        kid=kid_for(bytes(stranger.verify_key)),
        pass_id=b"\x01" * 16,
        kind=PassKind.RESIDENT,
        scope=0,
        valid_from=0,
        valid_to=2**32 - 1,
        unit="3-2-501",
    )
    return sign_pass(body, stranger)


def test_pass_from_a_key_this_kiosk_does_not_trust(store):
    v = check_token(store, _stranger_pass(_stranger(store, same_kid=False)), "in")
    assert v.reason_codes() == ["unknown_issuer"]


def test_pass_from_an_untrusted_key_that_shares_our_kid_is_a_bad_signature(store):
    # The kid is only a hint: a stranger's key with our kid is tried against our key and fails.
    v = check_token(store, _stranger_pass(_stranger(store, same_kid=True)), "in")
    assert v.reason_codes() == ["bad_signature"]


def test_pass_from_a_revoked_kiosk_key_is_denied_once_the_list_says_so(store):
    p = issue_pass(store, PassKind.RESIDENT, "3-2-501")
    with store.writer.begin() as conn:
        from sqlalchemy import update

        conn.execute(update(TrustedKey).values(revoked_after=p.body.valid_from - 1))
    store.invalidate()
    assert "issuer_revoked" in check_token(store, p.token, "in").reason_codes()


def test_expired_and_wrong_checkpoint_passes(store):
    old = issue_pass(store, PassKind.VISITOR, "3-2-501", valid_days=1, valid_from=store.trusted_now() - 3 * 86400)
    assert check_token(store, old.token, "in").reason_codes() == ["expired"]
    elsewhere = issue_pass(store, PassKind.RESIDENT, "3-2-501", scope=9)
    assert check_token(store, elsewhere.token, "in").reason_codes() == ["wrong_checkpoint"]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=600))
def test_any_text_gets_a_verdict_never_an_exception(tmp_path_factory, text):
    from models.policy import Policy
    from models.verdict import GateState, decide_token

    v = decide_token(text, "in", 1_650_000_000.0, GateState(), Policy())
    assert v.outcome == "deny" and v.reasons
