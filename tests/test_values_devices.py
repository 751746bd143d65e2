"""models.values against what thermometers, phones and ID cards really produce (issue 15).

Each form is accepted with its value or refused with its code and its words."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.clock import PLAUSIBLE_SINCE, trusted_date
from models.values import (
    ScanKind,
    ValueRejected,
    classify_scan,
    parse_id_number,
    parse_phone,
    parse_temperature,
)
from tests.test_values import assert_rejected, make_id

# --------------------------------------------------------------------------------------
# Temperature
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("tenths", range(340, 431))
def test_every_celsius_reading_a_thermometer_displays_is_recorded(tenths):
    """34.0 to 43.0, typed "365" or "36.5": recorded; 37.3 and up are fevers, not "out of range"."""
    for raw in (str(tenths), f"{tenths // 10}.{tenths % 10}"):
        t = parse_temperature(raw)
        assert t.value == tenths / 10
        assert t.is_fever() is (tenths >= 373)


@pytest.mark.parametrize("raw", ["42.6", "426", "42.9", "429", "43.0", "430", "43"])
def test_readings_up_to_the_top_of_the_display_are_fevers(raw):
    t = parse_temperature(raw)
    assert t.reading == "value" and t.is_fever()


@pytest.mark.parametrize("tenths", range(896, 1100))
def test_every_fahrenheit_reading_gets_the_fahrenheit_sentence(tenths):
    """89.6 F (32.0 C) to 109.9 F, with the point typed or not ("98.6" / "986", "100.4" / "1004")."""
    shown = f"{tenths // 10}.{tenths % 10}"
    celsius = f"{round((tenths / 10 - 32) * 5 / 9 + 1e-9, 1):.1f}"
    for raw in (shown, str(tenths)):
        with pytest.raises(ValueRejected) as info:
            parse_temperature(raw)
        e = info.value
        assert_rejected(e, "fahrenheit")
        assert shown in e.zh and shown in e.en
        assert f"约等于 {celsius} 度" in e.zh and f"about {celsius} C" in e.en
        assert "摄氏度 (C)" in e.zh and "Celsius (C)" in e.en


@pytest.mark.parametrize("whole", range(90, 110))
def test_whole_fahrenheit_readings_without_a_point(whole):
    # "100" used to be read as 10.0 C and refused as too cold
    with pytest.raises(ValueRejected) as info:
        parse_temperature(str(whole))
    assert_rejected(info.value, "fahrenheit")
    assert f"{whole}.0" in info.value.zh


@pytest.mark.parametrize(
    "raw, value",
    [
        ("36度5", 36.5),
        ("36 度 5", 36.5),
        ("37度2", 37.2),
        ("36点5", 36.5),
        ("３６度５", 36.5),
        ("36度", 36.0),
        ("36.5。", 36.5),  # the IME full stop left behind by Enter
        ("365。", 36.5),
        ("36度5。", 36.5),
        ("36.5度。", 36.5),
        ("38。", 38.0),
    ],
)
def test_readings_typed_the_chinese_way(raw, value):
    assert parse_temperature(raw).value == value


@pytest.mark.parametrize(
    "raw",
    ["Err", "ERR", "err", "Er", "Er1", "Er2", "Er.3", "E1", "E2", "E03", "---", "--.-", "－－－", "——", "Err。"],
)
def test_thermometer_error_displays_ask_to_measure_again(raw):
    with pytest.raises(ValueRejected) as info:
        parse_temperature(raw)
    e = info.value
    assert_rejected(e, "device_error")
    assert e.zh == "体温计报错，请重新测量"


@pytest.mark.parametrize(
    "raw, code",
    [
        ("43.1", "out_of_range"),
        ("89.5", "out_of_range"),
        ("110.0", "out_of_range"),
        ("33.9", "too_low"),
        ("36.5 F", "fahrenheit"),  # said F: no Celsius equivalent is guessed
        ("36度5度", "not_a_number"),
        ("E", "not_a_number"),
        ("-36.5", "not_a_number"),
        ("36.", "not_a_number"),
    ],
)
def test_temperature_still_refused(raw, code):
    with pytest.raises(ValueRejected) as info:
        parse_temperature(raw)
    assert_rejected(info.value, code)
    if raw == "36.5 F":
        assert "约等于" not in info.value.zh


@pytest.mark.parametrize("raw", ["36度5", "36.5。", "Err", "---", "E1", "430", "1004"])
def test_the_desk_takes_these_as_a_temperature_while_someone_waits(raw):
    from tui.screens.duty import route_scan

    assert route_scan(raw, waiting=True).action == "temperature"


# --------------------------------------------------------------------------------------
# Phone
# --------------------------------------------------------------------------------------

PHONE_FORMS = [
    "13812345678",
    "+86 138 1234 5678",
    "+86-138-1234-5678",
    "(+86) 138 1234 5678",
    "+86 (138) 1234-5678",
    "0086 138 1234 5678",
    "0086-13812345678",
    "86 13812345678",
    "013812345678",  # a leading trunk 0
    "0138 1234 5678",
    "138 1234 5678",
    "138-1234-5678",
    "138.1234.5678",
    "(138) 1234 5678",
    "1381 234 5678",  # 4-3-4 groups
    "1381-234-5678",
    "138-123-45678",
    "（１３８）１２３４－５６７８",  # full-width, NFKC
]


@pytest.mark.parametrize("raw", PHONE_FORMS)
def test_phone_written_every_way_is_one_number(raw):
    assert parse_phone(raw) == "13812345678"


@pytest.mark.parametrize("raw", PHONE_FORMS)
def test_the_scan_line_agrees_with_the_phone_rule(raw):
    assert classify_scan(raw).kind is ScanKind.PHONE


def test_a_phone_in_4_3_4_groups_is_not_a_unit():
    from tui.screens.duty import route_scan

    route = route_scan("1381-234-5678", waiting=False)
    assert (route.action, route.look_up) == ("look_up", "phone")
    assert classify_scan("3-2-501").kind is ScanKind.UNIT  # a real unit stays a unit


# Blocks allocated to mobile service, listed here from the libphonenumber pattern independently
# of the module's table: every one is accepted.
ALLOCATED = (
    [f"13{d}" for d in range(10)]
    + ["145", "147"]
    + [f"15{d}" for d in (0, 1, 2, 3, 5, 6, 7, 8, 9)]
    + ["1610", "162", "165", "166", "167"]
    + [f"17{d}" for d in (0, 1, 2, 3, 5, 6, 7, 8)]
    + [f"1740{d}" for d in range(6)]
    + [f"18{d}" for d in range(10)]
    + [f"19{d}" for d in (0, 1, 2, 3, 5, 6, 7, 8, 9)]
)


@pytest.mark.parametrize("block", ALLOCATED)
def test_allocated_mobile_blocks_are_accepted(block):
    number = (block + "12345678901")[:11]
    assert parse_phone(number) == number


UNALLOCATED = ["140", "141", "142", "143", "144", "146", "148", "149", "154", "160", "1611", "163", "164", "168"]
UNALLOCATED += ["169", "1746", "17406", "179", "194"]


@pytest.mark.parametrize("block", UNALLOCATED)
def test_unallocated_blocks_are_refused_with_words(block):
    number = (block + "98765432109")[:11]
    with pytest.raises(ValueRejected) as info:
        parse_phone(number)
    e = info.value
    assert_rejected(e, "phone_unallocated")
    assert number[:3] in e.zh and "号段" in e.zh and "block" in e.en


@given(st.text(alphabet="0123456789+-. ()", max_size=24))
def test_whatever_the_phone_rule_accepts_the_scan_line_calls_a_phone(raw):
    try:
        parse_phone(raw)
    except ValueRejected:
        return
    assert classify_scan(raw).kind is ScanKind.PHONE


# --------------------------------------------------------------------------------------
# ID number
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["110105491231002", "440524800101001", "１１０１０５４９１２３１００２"])
def test_a_15_digit_number_is_the_old_card(raw):
    with pytest.raises(ValueRejected) as info:
        parse_id_number(raw)
    e = info.value
    assert_rejected(e, "id_old_card")
    assert "15 位" in e.zh and "旧身份证" in e.zh and "18 位" in e.zh
    assert "old" in e.en and "18-character" in e.en


@pytest.mark.parametrize("region", ["810000", "820000", "830000", "710000", "910101", "933201", "990000", "650102"])
def test_real_prefixes_stay_accepted(region):
    # 81/82/83: Hong Kong, Macao, Taiwan residence permits; 9x: foreigners' permanent residence cards
    number = make_id(region, date(1990, 5, 17), "123")
    assert parse_id_number(number) == number


@pytest.mark.parametrize(
    "prefix", ["10", "16", "20", "24", "30", "38", "40", "47", "55", "60", "66", "70", "72", "80", "84", "89"]
)
def test_an_unknown_province_prefix_is_refused(prefix):
    number = make_id(prefix + "0101", date(1990, 5, 17), "123")
    with pytest.raises(ValueRejected) as info:
        parse_id_number(number)
    assert_rejected(info.value, "id_region")
    assert prefix in info.value.zh


class _Clock1970(date):
    """The wall clock of a kiosk without a clock battery after a power cut."""

    @classmethod
    def today(cls):
        return date(1970, 1, 2)


def test_the_desk_bounds_birth_dates_by_the_kiosks_trusted_time(store, monkeypatch):
    """A kiosk whose clock reads 1970 still accepts a baby born yesterday: the desk's look-up
    passes the trusted date (the newest record's time) down to the ID rule."""
    import time

    import models.values
    from tui.screens.lookup import run_lookup

    newest = PLAUSIBLE_SINCE + 700 * 86400  # the kiosk's newest record, late 2026
    store.note_hlc(int(newest * 1000) << 16)
    monkeypatch.setattr(time, "time", lambda: 86400.0 * 2)
    monkeypatch.setattr(models.values, "date", _Clock1970)
    baby = make_id("110105", date.fromtimestamp(newest) - timedelta(days=1), "001")
    result = run_lookup(store, "id", baby)
    assert result.register_with is not None and result.register_with.id_number == baby
    with pytest.raises(ValueRejected) as info:  # and tomorrow's is still no birth date
        run_lookup(store, "id", make_id("110105", date.fromtimestamp(newest) + timedelta(days=2), "001"))
    assert_rejected(info.value, "id_birthdate")


def test_the_registration_form_uses_the_date_it_is_given():
    from tui.screens.register import FieldRefused, clean_field

    born = date(2026, 11, 30)
    baby = make_id("110105", born, "001")
    assert clean_field("id_number", baby, "1", "zh", today=born) == baby
    with pytest.raises(FieldRefused):
        clean_field("id_number", baby, "1", "zh", today=born - timedelta(days=1))


def test_trusted_date_never_reads_before_the_plausible_floor():
    assert trusted_date(0.0) == date.fromtimestamp(PLAUSIBLE_SINCE)
    late = PLAUSIBLE_SINCE + 400 * 86400
    assert trusted_date(late) == date.fromtimestamp(late)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", trusted_date(late).isoformat())
