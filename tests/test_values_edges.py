"""Value rules at their edges, and the exact words of each refusal.

The sentences are what a volunteer reads at the gate (and what the manual quotes), so they are
pinned word for word here; a change to one is a change the reviewers should see.
"""

from __future__ import annotations

import pytest

from models.values import (
    ScanKind,
    ValueRejected,
    classify_scan,
    id_check_char,
    mask_name,
    parse_id_number,
    parse_name,
    parse_phone,
    parse_temperature,
    parse_unit,
)

REFUSALS = [
    (
        parse_temperature,
        "",
        "empty",
        "没有输入体温，请输入读数，例如 365",
        "No temperature typed: please type the reading, for example 365",
    ),
    (
        parse_temperature,
        "abc",
        "not_a_number",
        "体温读数看不懂，请输入数字，例如 365 或 36.5，也可以输入 LO 或 HI",
        "Temperature not understood: please type a number such as 365 or 36.5, or LO or HI",
    ),
    (
        parse_temperature,
        "98.6",
        "fahrenheit",
        "读数 98.6 像是华氏度 (F)，约等于 37.0 度；请把体温计切换到摄氏度 (C) 后重新测量",
        "The reading 98.6 looks like Fahrenheit (F), about 37.0 C: please switch the thermometer to Celsius (C)"
        " and measure again",
    ),
    (
        parse_temperature,
        "33.9",
        "too_low",
        "读数 33.9 度太低，可能是额头太冷，请让对方暖和一下或改测手腕后重新测量",
        "The reading 33.9 C is too low, probably a cold forehead: please let the person warm up or measure the wrist,"
        " then measure again",
    ),
    (
        parse_temperature,
        "43.1",
        "out_of_range",
        "读数 43.1 度超出体温计的显示范围 (34.0 到 43.0 度)，请核对后重新测量",
        "The reading 43.1 C is outside what a thermometer shows for a body (34.0 to 43.0 C): please check and"
        " measure again",
    ),
    (
        parse_id_number,
        "",
        "empty",
        "没有输入身份证号，请输入 18 位身份证号",
        "No ID number typed: please type the 18-character ID number",
    ),
    (
        parse_id_number,
        "11010519491231002A",
        "id_chars",
        "身份证号只能是数字，最后一位可以是 X，请核对后重新输入",
        "An ID number has only digits, with X allowed as the last character: please check the number and type it again",
    ),
    (
        parse_id_number,
        "1101051949123100X2",
        "id_chars",
        "身份证号只有最后一位可以是 X，请核对后重新输入",
        "Only the last character of an ID number can be X: please check the number and type it again",
    ),
    (
        parse_id_number,
        "010105194912310021",
        "id_chars",
        "身份证号第一位不能是 0，请核对后重新输入",
        "An ID number cannot start with 0: please check the number and type it again",
    ),
    (
        parse_id_number,
        "110105194902300012",  # 30 February, with a correct check digit
        "id_birthdate",
        "身份证号里的出生日期不对，请核对后重新输入",
        "The birth date inside the ID number is not valid: please check the number and type it again",
    ),
    (
        parse_phone,
        " ",
        "empty",
        "没有输入手机号，请输入 11 位手机号",
        "No phone number typed: please type the 11-digit mobile number",
    ),
    (
        parse_phone,
        "12812345678",
        "phone_format",
        "手机号应为 1 开头的 11 位数字，请核对后重新输入",
        "A mobile number has 11 digits starting with 13 to 19: please check it and type it again",
    ),
    (
        parse_unit,
        "",
        "empty",
        "没有输入房号，请按 楼栋-单元-房号 输入，例如 3-2-501",
        "No unit typed: please type building-entrance-room, for example 3-2-501",
    ),
    (
        parse_unit,
        "三栋",
        "unit_format",
        "房号格式不对，请按 楼栋-单元-房号 输入，例如 3-2-501",
        "Unit not recognised: please type building-entrance-room, for example 3-2-501",
    ),
    (
        parse_name,
        "张\x07三",
        "name_chars",
        "姓名里有不能用的控制字符，请删掉后重新输入",
        "The name contains control characters: please remove them and type it again",
    ),
]


@pytest.mark.parametrize(
    "parse, raw, code, zh, en", REFUSALS, ids=[f"{p.__name__}-{c}-{i}" for i, (p, _r, c, *_x) in enumerate(REFUSALS)]
)
def test_each_refusal_says_exactly_what_to_do(parse, raw, code, zh, en):
    with pytest.raises(ValueRejected) as caught:
        parse(raw)
    assert (caught.value.code, caught.value.zh, caught.value.en) == (code, zh, en)


def test_the_birth_date_check_digit_case_is_really_only_the_date():
    # the 30 February number above passes every other check: its check digit is right
    assert id_check_char("11010519490230001") == "2"


@pytest.mark.parametrize(
    "bad", ["1234", "1101051949123100", "110105194912310021", "11010519491231X02", "１１０１０５１９４９１２３１００２"]
)
def test_the_check_character_needs_exactly_17_ascii_digits(bad):
    with pytest.raises(ValueError, match=r"^id_check_char needs exactly 17 ASCII digits$"):
        id_check_char(bad)


def test_a_13_digit_number_is_stripped_of_86_only():
    assert parse_phone("8613812345678") == "13812345678"
    with pytest.raises(ValueRejected):
        parse_phone("0013812345678")  # "00" alone is no country code


def test_a_name_of_only_separators_stays_as_it_is():
    assert mask_name("·-") == "·-"
    assert mask_name(" - . ") == "- ."


def test_an_id_number_typed_with_spaces_is_seen_as_an_id_number():
    assert classify_scan("110105 19491231 002X").kind == ScanKind.ID_NUMBER


def test_a_threshold_with_hundredths_is_compared_exactly():
    # an office may set 37.25: 37.2 is below it, 37.3 above it
    assert not parse_temperature("37.2").is_fever(37.25)
    assert parse_temperature("37.3").is_fever(37.25)
    assert not parse_temperature("37.4").is_fever(37.45)
    assert parse_temperature("37.5").is_fever(37.45)


def test_a_reading_may_be_typed_in_up_to_32_characters():
    at_limit = "36.500000000000" + " " * 16 + "度"
    assert len(at_limit) == 32 and parse_temperature(at_limit).value == 36.5
    with pytest.raises(ValueRejected) as caught:
        parse_temperature("36.500000000000" + " " * 17 + "度")
    assert caught.value.code == "not_a_number"
