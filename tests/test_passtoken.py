"""Pass tokens: round trips, strict decoding, tamper resistance, QR fit."""

from __future__ import annotations

import dataclasses
import hashlib

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.passtoken import (
    MAX_TOKEN_DIGITS,
    PASS_CONTEXT,
    TOKEN_PREFIX,
    DecodedPass,
    PassBody,
    PassKind,
    TokenError,
    bytes_to_digits,
    decode_token,
    digits_to_bytes,
    kid_for,
    new_pass_id,
    sign_pass,
    verify_pass,
)

SIGNER = nacl.signing.SigningKey(hashlib.sha256(b"kakou test issuer").digest())
SIGNER_PUB = bytes(SIGNER.verify_key)
OTHER = nacl.signing.SigningKey(hashlib.sha256(b"kakou other issuer").digest())
OTHER_PUB = bytes(OTHER.verify_key)

T0 = 1_580_515_200  # 2020-02-01 00:00 +08:00-ish; any u32 will do
DAY = 86_400


def make_body(**overrides) -> PassBody:
    fields = dict(
        kid=kid_for(SIGNER_PUB),
        pass_id=bytes(range(16)),
        kind=PassKind.RESIDENT,
        scope=0,
        valid_from=T0,
        valid_to=T0 + 30 * DAY,
        unit="3-2-501",
        name="张三丰",
    )
    fields.update(overrides)
    return PassBody(**fields)


def raw_token(body_bytes: bytes, signature: bytes) -> str:
    """A well-encoded token for arbitrary bytes, bypassing sign_pass's checks."""
    return TOKEN_PREFIX + bytes_to_digits(body_bytes + signature)


def error_code(text: str) -> str:
    with pytest.raises(TokenError) as info:
        decode_token(text)
    return info.value.code


@pytest.fixture(scope="module")
def typical_token() -> str:
    return sign_pass(make_body(), SIGNER)


# --- round trips -------------------------------------------------------------------


VARIANTS = [
    dict(),
    dict(name=""),
    dict(name="张三"),
    dict(name="王喆"),
    dict(name="Zhang San Feng"),
    dict(plate="京A·12345"),
    dict(name="李四", plate="沪B7788", scope=3),
    dict(hour_from=8, hour_to=18),
    dict(hour_from=22, hour_to=6, name="夜班"),
    dict(valid_from=0, valid_to=0xFFFFFFFF, scope=0xFFFF, kid=kid_for(SIGNER_PUB)),
]


@pytest.mark.parametrize("kind", list(PassKind))
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: ",".join(v) or "default")
def test_round_trip_every_kind(kind, variant):
    body = make_body(kind=kind, pass_id=new_pass_id(), **variant)
    token = sign_pass(body, SIGNER)

    assert token.isascii() and token.isdigit()
    assert token.startswith("88")
    assert len(token) <= MAX_TOKEN_DIGITS

    decoded = decode_token(token)
    assert isinstance(decoded, DecodedPass)
    assert decoded.body == body
    assert decoded.body.kind is kind
    assert decoded.token == token
    assert len(decoded.signature) == 64
    assert decoded.signed_message == PASS_CONTEXT + body.to_bytes()
    assert verify_pass(decoded, [SIGNER_PUB]) == SIGNER_PUB
    assert verify_pass(decoded, [OTHER_PUB]) is None
    assert verify_pass(decoded, []) is None


def test_chinese_names_survive_exactly():
    for name in ("张三", "喆", "王喆", "𠮷野家"):  # 𠮷 is outside the BMP (4 bytes in UTF-8)
        decoded = decode_token(sign_pass(make_body(name=name), SIGNER))
        assert decoded.body.name == name
        assert decoded.body.unit == "3-2-501"


def test_verify_tries_every_key_and_returns_the_signer():
    decoded = decode_token(sign_pass(make_body(), SIGNER))
    keys = [OTHER_PUB, b"too short", 12345, SIGNER.verify_key, SIGNER_PUB]
    # A VerifyKey object is accepted too; the answer is always raw bytes.
    assert verify_pass(decoded, keys) == SIGNER_PUB
    assert verify_pass(decoded, iter([OTHER_PUB, SIGNER_PUB])) == SIGNER_PUB
    assert verify_pass(decoded, [OTHER_PUB, b"\x00" * 32]) is None


def test_kid_is_first_byte_of_sha256_of_the_public_key():
    assert kid_for(SIGNER_PUB) == hashlib.sha256(SIGNER_PUB).digest()[0]
    with pytest.raises(ValueError):
        kid_for(b"short")


def test_sign_pass_refuses_a_body_naming_another_key():
    body = make_body(kid=(kid_for(SIGNER_PUB) + 1) % 256)
    with pytest.raises(ValueError, match="kid"):
        sign_pass(body, SIGNER)


def test_pass_id_hex_and_new_pass_id():
    body = make_body()
    assert body.pass_id_hex == bytes(range(16)).hex()
    assert len(body.pass_id_hex) == 32
    ids = {new_pass_id() for _ in range(50)}
    assert len(ids) == 50 and all(len(i) == 16 for i in ids)


def test_kind_names_cover_every_kind():
    assert all(k.label("zh") and k.label("en") for k in PassKind)
    assert (PassKind.RETURNEE.label("zh"), PassKind.RETURNEE.label("en")) == ("入住条", "Returnee entry slip")
    assert (PassKind.WORK.label("zh"), PassKind.WORK.label("en")) == ("复工证明", "Work pass")


def test_kind_numbers_on_the_wire_never_change():
    # Printed passes carry these numbers in their kind byte: a renumbered table would read
    # every resident pass in circulation as some other kind.
    assert {k.code: int(k) for k in PassKind} == {
        "resident": 1,
        "outing": 2,
        "work": 3,
        "vehicle": 4,
        "visitor": 5,
        "returnee": 6,
    }
    for kind in PassKind:
        token = sign_pass(make_body(kind=kind), SIGNER)
        assert decode_token(token).body.kind is kind


def test_typical_token_length(typical_token):
    # Typical pass: kind + unit "3-2-501" + a 3-character Chinese name, no plate:
    # 50 body bytes + 64 signature bytes = 114 bytes -> 16 chunks of 17 digits + 5 digits
    # for the last 2 bytes = 277 digits, plus the "88" prefix = 279 digits.
    print(f"typical token: {len(typical_token)} digits")
    assert len(typical_token) == 279


def test_max_size_pass_is_exactly_max_token_digits():
    body = make_body(unit="单" * 8, name="名" * 16, plate="牌" * 5 + "A", kind=PassKind.VEHICLE)
    token = sign_pass(body, SIGNER)
    assert len(token) == MAX_TOKEN_DIGITS
    assert decode_token(token).body == body


def test_hour_window_semantics():
    day = make_body(hour_from=8, hour_to=18)
    assert [h for h in range(24) if day.hour_allowed(h)] == list(range(8, 18))
    night = make_body(hour_from=22, hour_to=6)
    assert [h for h in range(24) if night.hour_allowed(h)] == [0, 1, 2, 3, 4, 5, 22, 23]
    for all_day in (make_body(), make_body(hour_from=0, hour_to=0)):
        assert all_day.all_day
        assert all(all_day.hour_allowed(h) for h in range(24))
    assert not day.all_day
    evening = make_body(hour_from=18, hour_to=0)  # until midnight
    assert [h for h in range(24) if evening.hour_allowed(h)] == list(range(18, 24))


# --- encoder refuses out-of-range fields ---------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        dict(unit="三号楼二单元五零一室多余"),  # 11 CJK chars = 33 bytes > 24
        dict(name="名" * 17),  # 51 bytes > 48
        dict(plate="京A1234567890123"),  # 17 bytes > 16
        dict(hour_from=24),
        dict(hour_from=-1),
        dict(hour_to=25),
        dict(hour_from=8, hour_to=8),
        dict(valid_from=T0, valid_to=T0 - 1),
        dict(valid_to=2**32),
        dict(valid_from=-1),
        dict(scope=0x10000),
        dict(kid=256),
        dict(pass_id=bytes(15)),
        dict(pass_id="00" * 16),
        dict(kind=7),
        dict(kind=0),
        dict(version=2),
        dict(unit="3-2\n501"),
        dict(name="\x1b[31m红"),
        dict(name="\ud800"),
        dict(unit=None),
    ],
)
def test_to_bytes_rejects_out_of_range_fields(overrides):
    body = make_body(**overrides)
    with pytest.raises(ValueError):
        body.to_bytes()


def test_field_limits_are_bytes_not_characters():
    make_body(unit="单" * 8).to_bytes()  # 24 bytes
    with pytest.raises(ValueError):
        make_body(unit="单" * 8 + "1").to_bytes()
    make_body(name="名" * 16).to_bytes()  # 48 bytes
    make_body(name="n" * 48).to_bytes()
    with pytest.raises(ValueError):
        make_body(name="n" * 49).to_bytes()
    make_body(plate="京A123456789012").to_bytes()  # 3 + 13 = 16 bytes


# --- tampering -------------------------------------------------------------------------


def _rejected(text: str) -> bool:
    try:
        decoded = decode_token(text)
    except TokenError:
        return True
    return verify_pass(decoded, [SIGNER_PUB, OTHER_PUB]) is None


def test_every_single_digit_change_is_rejected(typical_token):
    token = typical_token
    assert not _rejected(token)
    changed = 0
    for i, ch in enumerate(token):
        for step in (1, 5):
            mutated = token[:i] + str((int(ch) + step) % 10) + token[i + 1 :]
            assert mutated != token
            assert _rejected(mutated), f"digit {i} +{step} accepted"
            changed += 1
    assert changed == 2 * len(token)


def test_every_truncation_is_a_token_error(typical_token):
    for n in range(len(typical_token)):
        with pytest.raises(TokenError):
            decode_token(typical_token[:n])
    assert error_code("") == "empty"
    assert error_code(typical_token[:1]) == "not_kakou"
    assert error_code(typical_token[:-1]) == "damaged"
    assert error_code(typical_token[:-17]) == "damaged"


@pytest.mark.parametrize("extra", ["0", "00", "0000000", "1", "00000000000000000", "123"])
def test_appended_digits_are_rejected(typical_token, extra):
    assert error_code(typical_token + extra) == "damaged"


def test_doubled_token_is_rejected(typical_token):
    # Two scans run together without a terminator.
    assert error_code(typical_token + typical_token) == "too_long"


def test_edited_body_with_old_signature_fails_verification(typical_token):
    decoded = decode_token(typical_token)
    for edit in (
        dict(unit="3-2-502"),
        dict(valid_to=decoded.body.valid_to + 365 * DAY),
        dict(kind=PassKind.VEHICLE),
        dict(scope=7),
        dict(name="李四"),
        dict(hour_from=1),
    ):
        forged_body = dataclasses.replace(decoded.body, **edit)
        forged = decode_token(raw_token(forged_body.to_bytes(), decoded.signature))
        assert forged.body == forged_body  # structurally a perfect pass ...
        assert verify_pass(forged, [SIGNER_PUB]) is None  # ... but not signed


def test_signature_without_the_pass_context_fails():
    body = make_body()
    for message in (body.to_bytes(), b"kakou/list/v1\x00" + body.to_bytes(), b"kakou/pass/v1" + body.to_bytes()):
        signature = SIGNER.sign(message).signature
        decoded = decode_token(raw_token(body.to_bytes(), signature))
        assert decoded.body == body
        assert verify_pass(decoded, [SIGNER_PUB]) is None
    # Control: the same construction with the context verifies.
    good = SIGNER.sign(PASS_CONTEXT + body.to_bytes()).signature
    assert verify_pass(decode_token(raw_token(body.to_bytes(), good)), [SIGNER_PUB]) == SIGNER_PUB


# --- what the scanner / keyboard may deliver --------------------------------------------


FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def test_full_width_digits_from_an_ime_are_accepted(typical_token):
    decoded = decode_token(typical_token.translate(FULL_WIDTH))
    assert decoded.token == typical_token
    assert decoded == decode_token(typical_token)
    # Mixed widths (IME toggled mid-scan) too.
    half = len(typical_token) // 2
    mixed = typical_token[:half].translate(FULL_WIDTH) + typical_token[half:]
    assert decode_token(mixed).token == typical_token


@pytest.mark.parametrize("wrap", ["{}\r\n", "{}\n", "{}\r", "{}\t", "  {}  ", "\r\n{}\r\n", "\u3000{}\u3000"])
def test_surrounding_whitespace_and_terminators_are_accepted(typical_token, wrap):
    assert decode_token(wrap.format(typical_token)).token == typical_token


@pytest.mark.parametrize(
    "text, code",
    [
        ("", "empty"),
        ("   \r\n\t", "empty"),
        ("hello", "not_kakou"),
        ("110105194912310021", "not_kakou"),  # an ID number
        ("13812345678", "not_kakou"),  # a phone number
        ("3-2-501", "not_kakou"),
        ("88 123", "not_kakou"),  # inner whitespace
        ("88-123", "not_kakou"),
        ("٨٨١٢٣", "not_kakou"),  # Arabic-Indic digits are digits, but not ours
        ("88", "damaged"),
        ("881234", "damaged"),  # 4 digits is no valid chunk
        ("88" + "9" * 17, "damaged"),  # chunk value >= 256**7
        ("88" + "9" * (MAX_TOKEN_DIGITS - 1), "too_long"),
        ("88" + "0" * 100_000, "too_long"),
    ],
)
def test_error_codes(text, code):
    assert error_code(text) == code


def test_token_error_message_is_bilingual():
    with pytest.raises(TokenError) as info:
        decode_token("hello")
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.code, err.zh, err.en) == ("not_kakou", "不是卡口通行证", "not a kakou pass")
    assert str(err) == "不是卡口通行证 / not a kakou pass"
    damaged = TokenError("damaged")
    assert str(damaged) == "通行证不完整或已损坏，请重新扫描 / pass damaged or incomplete, scan again"
    for code in ("empty", "too_long", "version"):
        e = TokenError(code)
        assert str(e) == f"{e.zh} / {e.en}" and e.zh and e.en


# --- structurally bad records that are perfectly encoded --------------------------------


def _good_parts():
    body = make_body(plate="A1")
    body_bytes = body.to_bytes()
    return body, body_bytes, SIGNER.sign(PASS_CONTEXT + body_bytes).signature


def test_unknown_version_is_reported_as_version():
    _, body_bytes, sig = _good_parts()
    assert error_code(raw_token(b"\x02" + body_bytes[1:], sig)) == "version"
    assert error_code(raw_token(b"\x00" + body_bytes[1:], sig)) == "version"


def test_unknown_kind_is_damaged():
    _, body_bytes, sig = _good_parts()
    kind_offset = 1 + 1 + 16
    for bad_kind in (0, 7, 255):
        edited = body_bytes[:kind_offset] + bytes([bad_kind]) + body_bytes[kind_offset + 1 :]
        assert error_code(raw_token(edited, sig)) == "damaged"


def test_trailing_and_missing_signature_bytes_are_damaged():
    _, body_bytes, sig = _good_parts()
    assert error_code(raw_token(body_bytes, sig + b"\x00")) == "damaged"
    assert error_code(raw_token(body_bytes, sig + bytes(7))) == "damaged"
    assert error_code(raw_token(body_bytes, sig[:-1])) == "damaged"
    assert error_code(raw_token(body_bytes, b"")) == "damaged"


def _with_strings(unit: bytes, name: bytes, plate: bytes) -> bytes:
    fixed = make_body().to_bytes()[:31]
    return fixed + bytes([len(unit)]) + unit + bytes([len(name)]) + name + bytes([len(plate)]) + plate


@pytest.mark.parametrize(
    "unit, name, plate",
    [
        (b"\xc0\xaf", b"", b""),  # overlong UTF-8
        (b"3-2-501", b"\xe5\xbc", b""),  # truncated UTF-8 sequence
        (b"3-2-501", b"", b"\xed\xa0\x80"),  # encoded surrogate
        (b"x" * 25, b"", b""),  # over the unit limit
        (b"3-2-501", b"n" * 49, b""),
        (b"3-2-501", b"", b"p" * 17),
        (b"3-2\x07501", b"", b""),  # control character
    ],
)
def test_bad_string_fields_are_damaged(unit, name, plate):
    body_bytes = _with_strings(unit, name, plate)
    sig = SIGNER.sign(PASS_CONTEXT + body_bytes).signature
    assert error_code(raw_token(body_bytes, sig)) == "damaged"


def test_length_byte_running_past_the_end_is_damaged():
    body_bytes = make_body().to_bytes()[:31] + bytes([24]) + b"3-2-501"
    assert error_code(raw_token(body_bytes, b"")) == "damaged"


def test_out_of_range_fixed_fields_are_damaged():
    _, body_bytes, sig = _good_parts()
    # valid_to (offset 25..29) before valid_from
    edited = body_bytes[:25] + (0).to_bytes(4, "big") + body_bytes[29:]
    assert error_code(raw_token(edited, sig)) == "damaged"
    # hour_to = 25
    edited = body_bytes[:30] + bytes([25]) + body_bytes[31:]
    assert error_code(raw_token(edited, sig)) == "damaged"


# --- digit encoding ----------------------------------------------------------------------


def test_digit_widths_per_chunk():
    assert bytes_to_digits(b"") == ""
    widths = {k: len(bytes_to_digits(b"\xff" * k)) for k in range(1, 8)}
    assert widths == {1: 3, 2: 5, 3: 8, 4: 10, 5: 13, 6: 15, 7: 17}
    assert bytes_to_digits(b"\x00") == "000"
    assert bytes_to_digits(b"\x00" * 7) == "0" * 17
    assert bytes_to_digits(b"\xff" * 7) == str(256**7 - 1)
    assert len(bytes_to_digits(b"\x01" * 15)) == 17 + 17 + 3


@pytest.mark.parametrize(
    "digits",
    [
        "1",
        "12",
        "1234",
        "123456",
        "1234567",
        "123456789",
        "12345678901",
        "123456789012",
        "12345678901234",
        "1234567890123456",  # remainders not in the table
        "256",
        "65536",
        "16777216",
        "4294967296",
        "1099511627776",
        "281474976710656",
        str(256**7),  # each one past the largest value of its width
        "12a",
        "１２３",
        "٣٤٥",
    ],
)
def test_digits_to_bytes_rejects_invalid(digits):
    with pytest.raises(TokenError) as info:
        digits_to_bytes(digits)
    assert info.value.code == "damaged"


@given(st.binary(max_size=400))
def test_digit_encoding_round_trips(data):
    digits = bytes_to_digits(data)
    assert digits.isascii() and (digits.isdigit() or digits == "")
    assert digits_to_bytes(digits) == data


# --- QR ----------------------------------------------------------------------------------


def test_typical_pass_fits_qr_version_9_q_and_reads_back(typical_token):
    qrcode = pytest.importorskip("qrcode")
    zxingcpp = pytest.importorskip("zxingcpp")
    from qrcode.util import MODE_NUMBER, QRData

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q, box_size=6, border=4)
    qr.add_data(QRData(typical_token, mode=MODE_NUMBER))
    qr.make(fit=True)
    assert [d.mode for d in qr.data_list] == [MODE_NUMBER]  # one numeric segment
    print(f"typical pass: {len(typical_token)} digits -> QR version {qr.version}-Q")
    assert qr.version <= 9

    image = qr.make_image(fill_color="black", back_color="white").get_image().convert("L")
    results = zxingcpp.read_barcodes(image)
    assert [r.text for r in results] == [typical_token]
    assert results[0].format == zxingcpp.BarcodeFormat.QRCode
    decoded = decode_token(results[0].text)
    assert verify_pass(decoded, [SIGNER_PUB]) == SIGNER_PUB
    assert decoded.body.name == "张三丰"


# --- property tests ------------------------------------------------------------------------


@settings(max_examples=300)
@given(st.text(max_size=600))
def test_decode_arbitrary_text_raises_only_token_error(text):
    try:
        decode_token(text)
    except TokenError as err:
        assert err.code in {"empty", "not_kakou", "damaged", "too_long", "version"}


@settings(max_examples=300)
@given(st.text(alphabet="0123456789", max_size=MAX_TOKEN_DIGITS + 20))
def test_decode_arbitrary_prefixed_digits_raises_only_token_error(digits):
    try:
        decoded = decode_token(TOKEN_PREFIX + digits)
    except TokenError:
        return
    assert decoded.token == TOKEN_PREFIX + digits
    assert verify_pass(decoded, [SIGNER_PUB]) is None


@settings(max_examples=300)
@given(st.binary(min_size=1, max_size=200))
def test_decode_well_encoded_arbitrary_bytes_raises_only_token_error(data):
    # Every digit chunk is valid here, so this exercises the record parser itself.
    token = TOKEN_PREFIX + bytes_to_digits(b"\x01" + data)
    try:
        decoded = decode_token(token)
    except TokenError:
        return
    assert decoded.token == token
    assert verify_pass(decoded, [SIGNER_PUB]) is None


def _bounded_text(limit: int):
    """Any text without control characters or surrogates, cut to `limit` UTF-8 bytes."""
    chars = st.characters(blacklist_categories=("Cc", "Cs"))
    return st.text(chars, max_size=limit).map(lambda s: s.encode("utf-8")[:limit].decode("utf-8", errors="ignore"))


@st.composite
def pass_bodies(draw):
    valid_from = draw(st.integers(0, 2**32 - 1))
    hour_from = draw(st.integers(0, 23))
    hour_to = draw(st.integers(0, 24).filter(lambda h: (h or 24) != hour_from))
    return PassBody(
        kid=kid_for(SIGNER_PUB),
        pass_id=draw(st.binary(min_size=16, max_size=16)),
        kind=draw(st.sampled_from(list(PassKind))),
        scope=draw(st.integers(0, 0xFFFF)),
        valid_from=valid_from,
        valid_to=draw(st.integers(valid_from, 2**32 - 1)),
        unit=draw(_bounded_text(24)),
        name=draw(_bounded_text(48)),
        plate=draw(_bounded_text(16)),
        hour_from=hour_from,
        hour_to=hour_to,
    )


@settings(max_examples=300)
@given(pass_bodies())
def test_generated_pass_bodies_round_trip(body):
    token = sign_pass(body, SIGNER)
    assert token.isascii() and token.isdigit() and token.startswith(TOKEN_PREFIX)
    assert len(token) <= MAX_TOKEN_DIGITS
    decoded = decode_token(token)
    assert decoded.body == body
    assert decoded.token == token
    assert verify_pass(decoded, [OTHER_PUB, SIGNER_PUB]) == SIGNER_PUB
