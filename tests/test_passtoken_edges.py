"""Pass token edges: the length limit agrees with the encoder; refusals name the field."""

from __future__ import annotations

import pytest

from models.passtoken import MAX_BODY_BYTES, MAX_TOKEN_DIGITS, SIGNATURE_BYTES, TOKEN_PREFIX, bytes_to_digits, kid_for


def test_the_digit_count_of_n_bytes_is_what_the_encoder_writes():
    from models.passtoken import _digit_count

    for n in range(0, 3 * (MAX_BODY_BYTES + SIGNATURE_BYTES)):
        assert _digit_count(n) == len(bytes_to_digits(b"\xff" * n)) == len(bytes_to_digits(bytes(n))), n


def test_the_longest_token_fits_the_limit_exactly():
    longest = TOKEN_PREFIX + bytes_to_digits(b"\xff" * (MAX_BODY_BYTES + SIGNATURE_BYTES))
    assert len(longest) == MAX_TOKEN_DIGITS


def _body(**fields):
    from models.passtoken import PassBody, PassKind

    values = dict(
        kid=7, pass_id=b"\x01" * 16, kind=PassKind.RESIDENT, scope=0, valid_from=0, valid_to=10, unit="3-2-501"
    )
    values.update(fields)
    return PassBody(**values)


@pytest.mark.parametrize(
    "fields, says",
    [
        ({"kid": 256}, "kid=256 out of range 0..255"),
        ({"kid": -1}, "kid=-1 out of range 0..255"),
        ({"kid": "7"}, "kid must be int"),
        ({"kid": True}, "kid must be int"),
        ({"scope": 70000}, "scope=70000 out of range 0..65535"),
        ({"hour_to": 25}, "hour_to=25 out of range 0..24"),
        ({"version": 9}, "cannot encode pass version 9"),
        ({"unit": 501}, "unit must be str"),
        ({"name": "王\n芳"}, "name contains control characters"),
        ({"name": "\ud800"}, "name is not encodable as UTF-8"),
        ({"unit": "楼" * 40}, "unit is 120 bytes in UTF-8, at most"),
        ({"pass_id": b"\x01" * 15}, "pass_id must be 16 bytes"),
        ({"kind": True}, "unknown pass kind True"),
        ({"kind": 99}, "unknown pass kind 99"),
        ({"valid_from": 2**32, "valid_to": 2**32}, "valid_from=4294967296 out of range 0..4294967295"),
        ({"valid_to": 2**32}, "valid_to=4294967296 out of range 0..4294967295"),
        ({"valid_from": 11}, "valid_to is before valid_from"),
        ({"hour_from": 24}, "hour_from=24 out of range 0..23"),
        ({"hour_from": 8, "hour_to": 8}, "empty daily window (hour_from == hour_to)"),
    ],
)
def test_a_body_that_cannot_be_a_pass_says_which_field_and_why(fields, says):
    # the issuing screen and `kakou pass issue` pass these words on to the log
    with pytest.raises(ValueError) as caught:
        _body(**fields).to_bytes()
    assert str(caught.value).startswith(says), str(caught.value)


def test_signing_with_a_key_the_body_does_not_name_is_refused_plainly():
    from nacl.signing import SigningKey

    from models.passtoken import sign_pass

    key = SigningKey(b"\x05" * 32)
    with pytest.raises(ValueError) as caught:
        sign_pass(_body(kid=(kid_for(bytes(key.verify_key)) + 1) % 256), key)
    assert str(caught.value) == "body.kid must be kid_for(signing_key.verify_key)"


def test_a_malformed_key_in_the_trust_list_does_not_hide_the_good_one():
    from nacl.signing import SigningKey

    from models.passtoken import decode_token, sign_pass, verify_pass

    key = SigningKey(b"\x06" * 32)
    public = bytes(key.verify_key)
    decoded = decode_token(sign_pass(_body(kid=kid_for(public)), key))
    assert verify_pass(decoded, [b"short", "not bytes", public]) == public


def test_a_token_error_keeps_its_detail_for_the_log():
    from models.passtoken import TokenError

    assert TokenError("damaged").detail == ""
    err = TokenError("damaged", "length 12")
    assert err.detail == "length 12" and repr(err) == "TokenError('damaged', 'length 12')"
    with pytest.raises(KeyError, match="unknown TokenError code 'nonsense'"):
        TokenError("nonsense")


def test_of_two_keys_that_share_a_kid_the_one_that_signed_is_found():
    # kids are one byte: two kiosks' keys may share one, and both are tried
    from nacl.signing import SigningKey

    from models.passtoken import decode_token, sign_pass, verify_pass

    key = SigningKey(b"\x06" * 32)
    public = bytes(key.verify_key)
    seed = 0
    while True:
        seed += 1
        other = bytes(SigningKey(seed.to_bytes(32, "big")).verify_key)
        if kid_for(other) == kid_for(public):
            break
    decoded = decode_token(sign_pass(_body(kid=kid_for(public)), key))
    assert verify_pass(decoded, [other, public]) == public
    assert verify_pass(decoded, [other]) is None


def test_an_int_is_no_public_key():
    from models.passtoken import _public_key_bytes

    with pytest.raises(TypeError, match=r"^public key must be bytes$"):
        _public_key_bytes(32)
