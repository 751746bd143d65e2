"""models.values: what volunteers type and scan (temperature, ID, phone, unit, name)."""

from __future__ import annotations

import pickle
import re
import unicodedata
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.values import (
    Scan,
    ScanKind,
    Temperature,
    UnitCode,
    ValueRejected,
    classify_scan,
    mask_id,
    mask_name,
    mask_phone,
    normalise,
    parse_id_number,
    parse_name,
    parse_phone,
    parse_temperature,
    parse_unit,
)

VALID_IDS = ["11010519491231002X", "440524188001010014"]


def reference_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 from its definition (weights 2^(n-1) mod 11), written
    independently of the module under test."""
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    check = (12 - total % 11) % 11
    return "X" if check == 10 else str(check)


def make_id(region: str, born: date, seq: str) -> str:
    first17 = f"{region}{born:%Y%m%d}{seq}"
    return first17 + reference_check_char(first17)


def assert_rejected(exc: ValueRejected, code: str) -> None:
    """The code, and two plain messages that say what to do."""
    assert exc.code == code
    assert exc.zh.strip() and exc.en.strip()
    assert str(exc) == f"{exc.zh} / {exc.en}"
    assert "请" in exc.zh, exc.zh  # zh asks the volunteer to do something
    assert "please" in exc.en.lower(), exc.en
    # UI text must avoid ambiguous-width characters (degree sign, curly quotes, ...)
    for ch in exc.zh + exc.en:
        assert unicodedata.east_asian_width(ch) != "A", f"ambiguous-width {ch!r} in {exc}"
    assert "\n" not in exc.zh and "\n" not in exc.en


# --------------------------------------------------------------------------------------
# ValueRejected, normalise
# --------------------------------------------------------------------------------------


def test_value_rejected_shape_and_pickle():
    e = ValueRejected("empty", "没有输入", "Nothing typed")
    assert isinstance(e, ValueError)
    assert (e.code, e.zh, e.en) == ("empty", "没有输入", "Nothing typed")
    assert str(e) == "没有输入 / Nothing typed"
    back = pickle.loads(pickle.dumps(e))
    assert (back.code, back.zh, back.en, str(back)) == (e.code, e.zh, e.en, str(e))


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  ３６５\r\n", "365"),
        ("ＡＢＣ\t", "ABC"),
        ("\u3000张三\u3000", "张三"),  # ideographic spaces
        ("３－２－５０１", "3-2-501"),
        ("36，5", "36,5"),  # full-width comma becomes ','
        ("36。5", "36。5"),  # IME full stop is left to the callers
        ("", ""),
    ],
)
def test_normalise(raw, expected):
    assert normalise(raw) == expected


# --------------------------------------------------------------------------------------
# Temperature
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, value, reading, remeasure",
    [
        ("365", 36.5, "value", False),  # three digits, no separator = tenths
        ("36.5", 36.5, "value", False),
        ("36,5", 36.5, "value", False),
        ("36。5", 36.5, "value", False),  # IME full stop
        ("36，5", 36.5, "value", False),  # IME comma
        ("３６５", 36.5, "value", False),  # full-width
        ("３６．５", 36.5, "value", False),
        (" 36.5\r\n", 36.5, "value", False),
        ("37", 37.0, "value", False),
        ("37.0", 37.0, "value", False),
        ("373", 37.3, "value", False),
        ("36.55", 36.6, "value", False),  # rounded half-up to one decimal
        ("36.549", 36.5, "value", False),
        ("36.5度", 36.5, "value", False),
        ("36.5C", 36.5, "value", False),
        ("36.5 c", 36.5, "value", False),
        ("36.5℃", 36.5, "value", False),  # NFKC turns it into degree + C
        ("35.0", 35.0, "value", False),
        ("350", 35.0, "value", False),
        ("34.0", 34.0, "value", True),  # cold forehead band: accepted, re-measure
        ("34.9", 34.9, "value", True),
        ("349", 34.9, "value", True),
        ("33.96", 34.0, "value", True),
        ("42.5", 42.5, "value", False),
        ("425", 42.5, "value", False),
        ("LO", None, "LO", True),
        ("lo", None, "LO", True),
        ("Lo", None, "LO", True),
        ("ＬＯ", None, "LO", True),
        ("HI", None, "HI", False),
        ("hi", None, "HI", False),
        ("Hi", None, "HI", False),
    ],
)
def test_temperature_accepted(raw, value, reading, remeasure):
    t = parse_temperature(raw)
    assert t == Temperature(raw=raw, value=value, reading=reading, needs_remeasure=remeasure)
    assert t.raw == raw  # exactly what was typed, kept for the record


@pytest.mark.parametrize(
    "raw, code",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("\r\n\t", "empty"),
        ("986", "fahrenheit"),  # 98.6 after the three-digit rule
        ("98.6", "fahrenheit"),
        ("93.0", "fahrenheit"),
        ("930", "fahrenheit"),
        ("108.0", "fahrenheit"),
        ("100.4", "fahrenheit"),
        ("98.6F", "fahrenheit"),
        ("36.5 °F", "fahrenheit"),  # said F explicitly
        ("33.9", "too_low"),
        ("339", "too_low"),
        ("33", "too_low"),
        ("5", "too_low"),
        ("0", "too_low"),
        ("100", "fahrenheit"),  # 10.0 C is no reading; 100 F is (issue 15)
        ("43.1", "out_of_range"),
        ("431", "out_of_range"),
        ("50", "out_of_range"),
        ("89.5", "out_of_range"),
        ("110.0", "out_of_range"),
        ("3650", "out_of_range"),
        ("abc", "not_a_number"),
        ("-36.5", "not_a_number"),
        ("+36.5", "not_a_number"),
        ("3.65e1", "not_a_number"),
        ("36e0", "not_a_number"),
        ("nan", "not_a_number"),
        ("NaN", "not_a_number"),
        ("inf", "not_a_number"),
        ("Infinity", "not_a_number"),
        ("36..5", "not_a_number"),
        ("36.5.1", "not_a_number"),
        ("36.", "not_a_number"),
        (".5", "not_a_number"),
        ("36 5", "not_a_number"),
        ("LOW", "not_a_number"),
        ("H1", "not_a_number"),
        ("C", "not_a_number"),
        ("٣٦٥", "not_a_number"),  # Arabic-Indic digits are not thermometer digits
        ("3" * 200, "not_a_number"),
        ("36、5", "not_a_number"),
    ],
)
def test_temperature_rejected(raw, code):
    with pytest.raises(ValueRejected) as info:
        parse_temperature(raw)
    assert_rejected(info.value, code)


def test_temperature_fahrenheit_message_says_switch_to_celsius():
    with pytest.raises(ValueRejected) as info:
        parse_temperature("986")
    e = info.value
    assert "98.6" in e.zh and "98.6" in e.en
    assert "摄氏度" in e.zh and "(C)" in e.zh
    assert "Celsius (C)" in e.en and "Fahrenheit" in e.en
    assert "℃" not in str(e) and "°" not in str(e)


def test_temperature_too_low_message_says_remeasure():
    with pytest.raises(ValueRejected) as info:
        parse_temperature("33.5")
    e = info.value
    assert "33.5" in e.zh and "度" in e.zh and "手腕" in e.zh and "重新测量" in e.zh
    assert "33.5" in e.en and "wrist" in e.en and "measure again" in e.en


@pytest.mark.parametrize(
    "raw, threshold, fever",
    [
        ("36.5", 37.3, False),
        ("37.2", 37.3, False),
        ("37.3", 37.3, True),
        ("373", 37.3, True),
        ("39.0", 37.3, True),
        ("37.0", 37.0, True),
        ("36.9", 37.0, False),
        ("37.5", 38.0, False),
        ("37.3", 0.1 + 37.2, True),  # float noise in a policy value does not matter
        ("HI", 37.3, True),
        ("hi", 40.0, True),
        ("LO", 37.3, False),
        ("34.5", 37.3, False),
    ],
)
def test_is_fever(raw, threshold, fever):
    assert parse_temperature(raw).is_fever(threshold) is fever


def test_is_fever_default_threshold_is_37_3():
    assert parse_temperature("37.3").is_fever() is True
    assert parse_temperature("37.2").is_fever() is False


@pytest.mark.parametrize(
    "raw, shown",
    [("365", "36.5"), ("37", "37.0"), ("36.55", "36.6"), ("lo", "LO"), ("Hi", "HI"), ("３４０", "34.0")],
)
def test_temperature_display(raw, shown):
    assert parse_temperature(raw).display() == shown


TEMP_CODES = {"empty", "not_a_number", "too_low", "out_of_range", "fahrenheit", "device_error"}


@settings(deadline=None)
@given(
    st.one_of(
        st.text(),
        st.text(alphabet="0123456789.,。，-+eE LOHIlohiCF度°", max_size=12),
        st.from_regex(r"[0-9]{1,4}([.,。][0-9]{0,4})?", fullmatch=True),
    )
)
def test_temperature_any_text_accepts_or_rejects_cleanly(raw):
    try:
        t = parse_temperature(raw)
    except ValueRejected as e:
        assert e.code in TEMP_CODES
        assert e.zh and e.en and str(e) == f"{e.zh} / {e.en}"
        return
    assert t.raw == raw
    assert t.reading in {"value", "LO", "HI"}
    if t.reading == "value":
        assert 34.0 <= t.value <= 43.0
        assert round(t.value, 1) == t.value
        assert t.needs_remeasure is (t.value < 35.0)
        assert parse_temperature(t.display()).value == t.value  # display round-trips
    else:
        assert t.value is None and t.display() == t.reading


@given(st.integers(min_value=340, max_value=430))
def test_three_digit_tenths_cover_the_whole_range(tenths):
    t = parse_temperature(str(tenths))
    assert t.value == tenths / 10
    assert parse_temperature(f"{tenths // 10}.{tenths % 10}") == Temperature(
        raw=f"{tenths // 10}.{tenths % 10}",
        value=t.value,
        reading="value",
        needs_remeasure=t.needs_remeasure,
    )


# --------------------------------------------------------------------------------------
# ID number
# --------------------------------------------------------------------------------------


def test_reference_check_char_agrees_with_known_ids():
    for id_number in VALID_IDS:
        assert reference_check_char(id_number[:17]) == id_number[17]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("11010519491231002X", "11010519491231002X"),
        ("11010519491231002x", "11010519491231002X"),  # lowercase x (Caps Lock)
        ("440524188001010014", "440524188001010014"),
        (" 11010519491231002X\r\n", "11010519491231002X"),
        ("110105 19491231 002X", "11010519491231002X"),
        ("１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X"),
        ("11010519491231002ｘ", "11010519491231002X"),
        (make_id("110105", date(1880, 1, 1), "001"), make_id("110105", date(1880, 1, 1), "001")),
        (make_id("999999", date(2000, 2, 29), "123"), make_id("999999", date(2000, 2, 29), "123")),
    ],
)
def test_id_accepted(raw, expected):
    assert parse_id_number(raw) == expected


def test_id_birth_date_bounds_use_today():
    today = date(2024, 6, 1)
    assert parse_id_number(make_id("110105", today, "001"), today=today) == make_id("110105", today, "001")
    with pytest.raises(ValueRejected) as info:
        parse_id_number(make_id("110105", today + timedelta(days=1), "001"), today=today)
    assert_rejected(info.value, "id_birthdate")


def test_id_wrong_kiosk_clock_does_not_refuse_recent_births():
    # a kiosk without a clock battery may think it is 1970; a 2024 birth is still fine
    valid = make_id("110105", date(2024, 12, 31), "001")
    assert parse_id_number(valid) == valid


@pytest.mark.parametrize(
    "raw, code",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("1101051949123100", "id_length"),
        ("11010519491231002X1", "id_length"),
        ("1", "id_length"),
        ("1101051949123100ZX", "id_chars"),
        ("张三", "id_chars"),
        ("110105-19491231-002X", "id_chars"),
        ("11010519491231X02X", "id_chars"),  # X only as the last character
        ("X10105194912310021", "id_chars"),
        (make_id("010105", date(1949, 12, 31), "002"), "id_chars"),  # first digit 0
        ("110105194912310021", "id_checksum"),
        ("11010519491231002Y", "id_chars"),
        ("440524188001010015", "id_checksum"),
        ("11010519491231003X", "id_checksum"),
        ("440524188001010041", "id_checksum"),  # two digits swapped
    ],
)
def test_id_rejected(raw, code):
    with pytest.raises(ValueRejected) as info:
        parse_id_number(raw)
    assert_rejected(info.value, code)


def test_id_checksum_message_is_the_agreed_text():
    with pytest.raises(ValueRejected) as info:
        parse_id_number("110105194912310021")
    assert info.value.zh == "身份证号校验位不对，请核对后重新输入"
    assert info.value.en == "ID check digit wrong, please check the number"


@pytest.mark.parametrize("typed", [1, 16, 17, 19, 20])
def test_id_length_message_says_how_many_were_typed(typed):
    with pytest.raises(ValueRejected) as info:
        parse_id_number("1" * typed)
    e = info.value
    assert_rejected(e, "id_length")
    assert f"{typed} 位" in e.zh and "18 位" in e.zh
    assert f"{typed} were typed" in e.en and "18 characters" in e.en


@pytest.mark.parametrize(
    "birth",
    ["19490231", "19490001", "19491301", "18791231", "00000000", "19000229", "99991231"],
)
def test_id_bad_birth_date_with_valid_checksum(birth):
    first17 = "110105" + birth + "002"
    raw = first17 + reference_check_char(first17)
    with pytest.raises(ValueRejected) as info:
        parse_id_number(raw, today=date(2026, 1, 1))
    assert_rejected(info.value, "id_birthdate")


# the first two digits are a province code (models.values._ID_PROVINCES), the rest anything
PROVINCES = [*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55), *range(61, 66), 71]
PROVINCES += [81, 82, 83, *range(90, 100)]
ID_PARTS = st.tuples(
    st.builds(lambda p, rest: f"{p}{rest:04d}", st.sampled_from(PROVINCES), st.integers(0, 9999)),
    st.dates(min_value=date(1880, 1, 1), max_value=date(2024, 12, 31)),
    st.integers(min_value=0, max_value=999).map(lambda n: f"{n:03d}"),
)


@given(ID_PARTS)
def test_generated_valid_id_round_trips(parts):
    id_number = make_id(*parts)
    assert parse_id_number(id_number) == id_number
    assert parse_id_number(id_number.lower()) == id_number
    assert parse_id_number(f" {id_number}\n") == id_number
    assert mask_id(id_number) == "*" * 18  # no digit: each shown divides a thief's work


@given(ID_PARTS, st.data())
def test_changing_any_single_character_of_a_valid_id_is_rejected(parts, data):
    id_number = make_id(*parts)
    pos = data.draw(st.integers(min_value=0, max_value=17), label="position")
    alphabet = "0123456789X" if pos == 17 else "0123456789"
    new = data.draw(st.sampled_from([c for c in alphabet if c != id_number[pos]]), label="new")
    changed = id_number[:pos] + new + id_number[pos + 1 :]
    with pytest.raises(ValueRejected) as info:
        parse_id_number(changed)
    if pos == 0 and new == "0":
        expected = "id_chars"
    elif pos < 2 and int(changed[:2]) not in PROVINCES:
        expected = "id_region"
    else:
        expected = "id_checksum"
    assert_rejected(info.value, expected)


ID_CODES = {"empty", "id_length", "id_chars", "id_checksum", "id_birthdate", "id_region", "id_old_card"}


@given(
    st.one_of(
        st.text(),
        st.text(alphabet="0123456789Xx ", min_size=15, max_size=20),
        st.from_regex(r"[1-9][0-9]{16}[0-9Xx]", fullmatch=True),
    )
)
def test_id_any_text_accepts_or_rejects_cleanly(raw):
    try:
        result = parse_id_number(raw)
    except ValueRejected as e:
        assert e.code in ID_CODES
        assert e.zh and e.en
        return
    assert re.fullmatch(r"[1-9][0-9]{16}[0-9X]", result)
    assert reference_check_char(result[:17]) == result[17]
    assert parse_id_number(result) == result


# --------------------------------------------------------------------------------------
# Phone
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+86 138 1234 5678",
        "+8613812345678",
        "+86-138-1234-5678",
        "8613812345678",
        "86 138 1234 5678",
        "0086 13812345678",
        "008613812345678",
        "１３８１２３４５６７８",
        "＋８６ １３８－１２３４－５６７８",
        "\t13812345678\r\n",
    ],
)
def test_phone_accepted(raw):
    assert parse_phone(raw) == "13812345678"


@pytest.mark.parametrize("raw", ["13000000000", "14512345678", "19912345678", "16612345678"])
def test_phone_prefixes_13_to_19(raw):
    assert parse_phone(raw) == raw


@pytest.mark.parametrize(
    "raw, code",
    [
        ("", "empty"),
        ("  ", "empty"),
        ("12345678901", "phone_format"),  # 12 is not a mobile prefix
        ("10012345678", "phone_format"),
        ("23812345678", "phone_format"),
        ("1381234567", "phone_format"),
        ("138123456789", "phone_format"),
        ("1381234567a", "phone_format"),
        ("+85213812345678", "phone_format"),
        ("010-12345678", "phone_format"),  # landline
        ("+86 10 1234 5678", "phone_format"),
        ("张三", "phone_format"),
        ("٨١٣٨١٢٣٤٥٦٧", "phone_format"),
    ],
)
def test_phone_rejected(raw, code):
    with pytest.raises(ValueRejected) as info:
        parse_phone(raw)
    assert_rejected(info.value, code)


@given(
    st.one_of(
        st.text(),
        st.text(alphabet="+0123456789- ", max_size=20),
        st.from_regex(r"(\+86|0086|86)? ?1[0-9]{2}[ -]?[0-9]{4}[ -]?[0-9]{4}", fullmatch=True),
    )
)
def test_phone_any_text_accepts_or_rejects_cleanly(raw):
    try:
        result = parse_phone(raw)
    except ValueRejected as e:
        assert e.code in {"empty", "phone_format", "phone_unallocated"}
        assert e.zh and e.en
        return
    assert re.fullmatch(r"1[3-9][0-9]{9}", result)
    assert parse_phone(result) == result
    assert mask_phone(result) == "*" * 11


# --------------------------------------------------------------------------------------
# Unit
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("3-2-501", UnitCode("3", "2", "501")),
        ("３－２－５０１", UnitCode("3", "2", "501")),
        ("3/2/501", UnitCode("3", "2", "501")),
        ("３／２／５０１", UnitCode("3", "2", "501")),
        ("3 2 501", UnitCode("3", "2", "501")),
        ("3 - 2 - 501", UnitCode("3", "2", "501")),
        ("3栋2单元501", UnitCode("3", "2", "501")),
        ("３栋２单元５０１", UnitCode("3", "2", "501")),
        ("3号楼2单元501室", UnitCode("3", "2", "501")),
        ("3号楼2单元501", UnitCode("3", "2", "501")),
        ("3幢2单元501室", UnitCode("3", "2", "501")),
        ("3-2-501室", UnitCode("3", "2", "501")),
        ("A3-2-501", UnitCode("A3", "2", "501")),
        ("a3-2-501", UnitCode("A3", "2", "501")),
        ("ａ３－２－５０１", UnitCode("A3", "2", "501")),
        ("A座2单元501", UnitCode("A", "2", "501")),
        ("12-3-1201", UnitCode("12", "3", "1201")),
        ("123456-123456-123456", UnitCode("123456", "123456", "123456")),
        (" 3-2-501\r\n", UnitCode("3", "2", "501")),
    ],
)
def test_unit_accepted(raw, expected):
    u = parse_unit(raw)
    assert u == expected
    assert str(u) == f"{expected.building}-{expected.entrance}-{expected.room}"


def test_unit_str():
    assert str(UnitCode("3", "2", "501")) == "3-2-501"
    assert str(parse_unit("3号楼2单元501室")) == "3-2-501"


@pytest.mark.parametrize(
    "raw, code",
    [
        ("", "empty"),
        ("  ", "empty"),
        ("3-2", "unit_format"),
        ("3-2-501-1", "unit_format"),
        ("3-2-50a", "unit_format"),  # room is digits
        ("1234567-2-501", "unit_format"),  # 7 characters
        ("3-2-1234567", "unit_format"),
        ("3--2-501", "unit_format"),
        ("三栋二单元501", "unit_format"),
        ("3栋501", "unit_format"),
        ("张三", "unit_format"),
        ("3_2_501", "unit_format"),
    ],
)
def test_unit_rejected(raw, code):
    with pytest.raises(ValueRejected) as info:
        parse_unit(raw)
    assert_rejected(info.value, code)
    assert "3-2-501" in info.value.zh and "3-2-501" in info.value.en  # an example


@given(
    st.one_of(
        st.text(),
        st.text(alphabet="0123456789Aa-/ 栋号楼单元室－", max_size=16),
        st.from_regex(r"[A-Za-z0-9]{1,6}[-/ ][A-Za-z0-9]{1,6}[-/ ][0-9]{1,6}", fullmatch=True),
    )
)
def test_unit_any_text_accepts_or_rejects_cleanly(raw):
    try:
        u = parse_unit(raw)
    except ValueRejected as e:
        assert e.code in {"empty", "unit_format"}
        assert e.zh and e.en
        return
    assert re.fullmatch(r"[A-Z0-9]{1,6}", u.building)
    assert re.fullmatch(r"[A-Z0-9]{1,6}", u.entrance)
    assert re.fullmatch(r"[0-9]{1,6}", u.room)
    assert parse_unit(str(u)) == u


# --------------------------------------------------------------------------------------
# Name
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("", ""),
        ("   ", ""),
        ("张三", "张三"),
        (" 张三\r\n", "张三"),
        ("John  Smith", "John Smith"),
        ("ＪＯＨＮ", "JOHN"),
        ("阿依古丽·买买提", "阿依古丽·买买提"),
        ("喆", "喆"),
        ("𠈌", "𠈌"),  # outside the BMP
        ("一" * 20, "一" * 20),
    ],
)
def test_name_accepted(raw, expected):
    assert parse_name(raw) == expected


@pytest.mark.parametrize(
    "raw, code",
    [
        ("一" * 21, "name_too_long"),
        ("a" * 50, "name_too_long"),
        ("张\x00三", "name_chars"),
        ("张\n三", "name_chars"),
        ("张\t三", "name_chars"),
        ("张\x1b[31m三", "name_chars"),
        ("张\u200b三", "name_chars"),  # zero-width space
        ("张\u2028三", "name_chars"),
    ],
)
def test_name_rejected(raw, code):
    with pytest.raises(ValueRejected) as info:
        parse_name(raw)
    assert_rejected(info.value, code)


def test_name_too_long_message_gives_the_limit():
    with pytest.raises(ValueRejected) as info:
        parse_name("一" * 21)
    assert "20" in info.value.zh and "21" in info.value.zh
    assert "20" in info.value.en and "21" in info.value.en


@given(st.text())
def test_name_any_text_accepts_or_rejects_cleanly(raw):
    try:
        name = parse_name(raw)
    except ValueRejected as e:
        assert e.code in {"name_too_long", "name_chars"}
        assert e.zh and e.en
        return
    assert len(name) <= 20
    assert name == name.strip()
    assert not any(unicodedata.category(c) in {"Cc", "Cf", "Cs", "Zl", "Zp"} for c in name)
    assert parse_name(name) == name


# --------------------------------------------------------------------------------------
# Masking
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "id_number, masked",
    [
        # No digit at all (models/privacy.py: the arithmetic of a stolen kiosk); the length stays.
        ("11010519491231002X", "******************"),
        ("440524188001010014", "******************"),
        ("123456789012345", "***************"),  # old 15-digit numbers
        ("12345", "*****"),
        ("", ""),
    ],
)
def test_mask_id(id_number, masked):
    assert mask_id(id_number) == masked


@pytest.mark.parametrize(
    "phone, masked",
    [("13812345678", "***********"), ("19900001111", "***********"), ("1234567", "*******"), ("", "")],
)
def test_mask_phone(phone, masked):
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(
    "name, masked",
    [
        ("", ""),
        ("张", "*"),
        ("张三", "张*"),
        ("张小明", "张*明"),
        ("欧阳小明", "欧**明"),
        ("阿依古丽·买买提", "阿***·**提"),
        ("John", "J***"),
        ("John Smith", "J*** *****"),
        ("Li", "L*"),
    ],
)
def test_mask_name(name, masked):
    assert mask_name(name) == masked


@given(st.text(min_size=2, max_size=20, alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)))
def test_mask_name_never_shows_the_middle(name):
    masked = mask_name(name)
    assert len(masked) == len(name)
    assert masked[0] == name[0]
    assert set(masked[1:-1]) <= {"*"}
    assert masked != name


# --------------------------------------------------------------------------------------
# Scan-line classifier
# --------------------------------------------------------------------------------------

TOKEN_150 = "1234567890" * 15


@pytest.mark.parametrize(
    "raw, kind, text",
    [
        ("1" * 40, ScanKind.TOKEN, "1" * 40),
        (TOKEN_150 + "\r", ScanKind.TOKEN, TOKEN_150),
        (TOKEN_150 + "\n", ScanKind.TOKEN, TOKEN_150),
        (TOKEN_150 + "\t", ScanKind.TOKEN, TOKEN_150),
        ("９" * 45, ScanKind.TOKEN, "9" * 45),
        ("0" * 450, ScanKind.TOKEN, "0" * 450),
        ("1" * 39, ScanKind.NAME, "1" * 39),
        ("11010519491231002X", ScanKind.ID_NUMBER, "11010519491231002X"),
        ("11010519491231002x\r\n", ScanKind.ID_NUMBER, "11010519491231002x"),
        ("440524188001010014", ScanKind.ID_NUMBER, "440524188001010014"),
        ("110105194912310021", ScanKind.ID_NUMBER, "110105194912310021"),  # bad checksum
        ("１１０１０５１９４９１２３１００２Ｘ", ScanKind.ID_NUMBER, "11010519491231002X"),
        ("13812345678", ScanKind.PHONE, "13812345678"),
        ("12345678901", ScanKind.PHONE, "12345678901"),  # shape only; parse_phone refuses
        ("+8613812345678", ScanKind.PHONE, "+8613812345678"),
        ("+86 138 1234 5678", ScanKind.PHONE, "+86 138 1234 5678"),
        ("0086 13812345678", ScanKind.PHONE, "0086 13812345678"),
        ("138-1234-5678", ScanKind.PHONE, "138-1234-5678"),
        ("3-2-501", ScanKind.UNIT, "3-2-501"),
        ("３－２－５０１\r", ScanKind.UNIT, "3-2-501"),
        ("3栋2单元501", ScanKind.UNIT, "3栋2单元501"),
        ("A3/2/501", ScanKind.UNIT, "A3/2/501"),
        ("", ScanKind.EMPTY, ""),
        ("\r\n", ScanKind.EMPTY, ""),
        ("\t", ScanKind.EMPTY, ""),
        ("张三", ScanKind.NAME, "张三"),
        ("John Smith", ScanKind.NAME, "John Smith"),
        ("23812345678", ScanKind.NAME, "23812345678"),
        ("12345", ScanKind.NAME, "12345"),
        ("1101051949123100", ScanKind.NAME, "1101051949123100"),
        ("36.5", ScanKind.NAME, "36.5"),
        ("1" * 20, ScanKind.NAME, "1" * 20),
    ],
)
def test_classify_scan(raw, kind, text):
    assert classify_scan(raw) == Scan(kind, text)


def test_scan_kind_values_are_stable():
    assert {k.value for k in ScanKind} == {"token", "id", "phone", "unit", "name", "empty"}
    assert ScanKind.ID_NUMBER == "id"


def test_classify_then_parse_leads_to_the_right_error():
    scan = classify_scan("110105194912310021")
    assert scan.kind is ScanKind.ID_NUMBER
    with pytest.raises(ValueRejected) as info:
        parse_id_number(scan.text)
    assert_rejected(info.value, "id_checksum")
    scan = classify_scan("12345678901")
    assert scan.kind is ScanKind.PHONE
    with pytest.raises(ValueRejected) as info:
        parse_phone(scan.text)
    assert_rejected(info.value, "phone_format")


@settings(deadline=None)
@given(
    st.one_of(
        st.text(),
        st.text(alphabet=st.characters(codec=None, categories=None)),  # incl. surrogates
        st.text(alphabet="0123456789Xx+- 栋单元\r\n\t", max_size=60),
        st.from_regex(r"[0-9]{30,60}", fullmatch=True),
    )
)
def test_classify_scan_never_raises_and_is_consistent(raw):
    scan = classify_scan(raw)
    assert isinstance(scan.kind, ScanKind)
    assert scan.text == normalise(raw)
    assert classify_scan(scan.text) == scan  # classifying the normalised text is stable
    assert (scan.kind is ScanKind.EMPTY) == (scan.text == "")
    if scan.kind is ScanKind.TOKEN:
        assert re.fullmatch(r"[0-9]{40,}", scan.text)
    elif scan.kind is ScanKind.ID_NUMBER:
        assert re.fullmatch(r"[0-9]{17}[0-9Xx]", "".join(scan.text.split()))
    elif scan.kind is ScanKind.PHONE:
        try:
            assert re.fullmatch(r"1[3-9][0-9]{9}", parse_phone(scan.text))
        except ValueRejected as e:
            assert e.code in ("phone_format", "phone_unallocated")
    elif scan.kind is ScanKind.UNIT:
        assert isinstance(parse_unit(scan.text), UnitCode)
