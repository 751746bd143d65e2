"""Value rules for what volunteers type or scan at the duty desk.

Plain functions over ``str``; standard library only (no UI, no database, no HTTP),
so the kiosk, the office and the tests can all use them.

Every refusal is a :class:`ValueRejected` carrying a stable ``code`` and one plain
sentence in Chinese and in English that says what is wrong and what to do. The
messages avoid ambiguous-width characters (no degree sign, no curly quotes, no
middle dot): temperatures are written with "度" or "C".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

__all__ = [
    "DEFAULT_FEVER_THRESHOLD",
    "FAHRENHEIT_MAX",
    "FAHRENHEIT_MIN",
    "NAME_MAX_LEN",
    "PASS_NAME_MAX",
    "PHONE_BLOCKS_AS_OF",
    "PHONE_MOBILE_BLOCKS",
    "TEMP_MAX",
    "TEMP_MIN",
    "TEMP_REMEASURE_BELOW",
    "Scan",
    "ScanKind",
    "Temperature",
    "UnitCode",
    "ValueRejected",
    "classify_scan",
    "id_check_char",
    "mask_id",
    "mask_name",
    "mask_phone",
    "name_length",
    "normalise",
    "parse_id_number",
    "parse_name",
    "parse_pass_name",
    "parse_phone",
    "parse_temperature",
    "parse_unit",
]


class ValueRejected(ValueError):
    """A value a volunteer typed was refused.

    ``code`` is stable (callers and tests match on it); ``zh`` and ``en`` are one
    plain sentence each, saying what is wrong and what to do.
    ``str(e) == e.zh + " / " + e.en``.
    """

    def __init__(self, code: str, zh: str, en: str):
        self.code = code
        self.zh = zh
        self.en = en
        super().__init__(f"{zh} / {en}")

    def __str__(self) -> str:
        return f"{self.zh} / {self.en}"

    def __reduce__(
        self,
    ) -> tuple[type[ValueRejected], tuple[str, str, str]]:  # keep pickling (e.g. across worker processes) working
        return (type(self), (self.code, self.zh, self.en))

    def __repr__(self) -> str:
        return f"ValueRejected(code={self.code!r}, zh={self.zh!r}, en={self.en!r})"


def normalise(text: str) -> str:
    """NFKC, then strip surrounding whitespace (also CR, LF, Tab).

    NFKC turns full-width digits, letters, '－', '／', '，' (to ',') and '．' (to '.')
    and the ideographic space into their ASCII forms. The IME full stop '。' has no
    compatibility form and is left alone: each parser decides whether it means '.'.
    """
    return unicodedata.normalize("NFKC", text).strip()


# --------------------------------------------------------------------------------------
# Temperature
# --------------------------------------------------------------------------------------

TEMP_MIN = Decimal("34.0")  # lowest accepted reading (34.0-34.9: accepted, re-measure)
TEMP_REMEASURE_BELOW = Decimal("35.0")  # readings below this ask for a re-measure
# The top of what clinical and forehead thermometers display in body mode (32.0-42.9 C on most
# stick and infrared models, 43.0 on some; above it they show HI): every reading up to here is a
# real reading, a fever, never "out of range".
TEMP_MAX = Decimal("43.0")
# The same displays in F: 32.0-43.0 C is 89.6-109.4 F; stick thermometers in F show up to 109.9.
FAHRENHEIT_MIN = Decimal("89.6")
FAHRENHEIT_MAX = Decimal("109.9")
DEFAULT_FEVER_THRESHOLD = 37.3

_TENTH = Decimal("0.1")
# digits, optionally one decimal separator with at least one digit after it
_TEMP_NUMBER = re.compile(r"([0-9]{1,4})(?:\.([0-9]{1,12}))?")
# a trailing unit the volunteer may have typed along ("36.5度", "36.5C", "36.5 °C")
_TEMP_CELSIUS_SUFFIX = re.compile(r"\s*(?:°\s*C|°|C|度|摄氏度)$", re.IGNORECASE)
_TEMP_FAHRENHEIT_SUFFIX = re.compile(r"\s*(?:°\s*F|F|华氏度)$", re.IGNORECASE)
# "36度5" / "36 度 5": how a reading is said and typed in Chinese (36 degrees 5)
_TEMP_CHINESE_POINT = re.compile(r"([0-9]{1,3})\s*(?:度|点)\s*([0-9]{1,2})")
# what a thermometer shows instead of a reading when the measurement failed: Err, Er1, Er.2, E1,
# E03, --- and --.-
_TEMP_DEVICE_ERROR = re.compile(r"ERR?\.?[0-9]{0,2}|E[0-9]{1,2}|[-\u2010-\u2015\u2212]+(?:\.[-\u2010-\u2015\u2212]+)?")
_TEMP_MAX_INPUT = 32  # anything longer is not a reading


@dataclass(frozen=True)
class Temperature:
    """One accepted reading.

    ``value`` is degrees C to one decimal, ``None`` for the LO and HI readings.
    """

    raw: str  # exactly what was typed (kept for the record)
    value: float | None
    reading: str  # "value" | "LO" | "HI"
    needs_remeasure: bool  # 34.0 <= value < 35.0 (cold forehead), and LO

    def is_fever(self, threshold: float = DEFAULT_FEVER_THRESHOLD) -> bool:
        """HI counts as fever; LO does not; otherwise ``value >= threshold``."""
        if self.reading == "HI":
            return True
        if self.value is None:
            return False
        # values are one-decimal; compare in tenths so 37.3 >= 37.3 holds whatever
        # float arithmetic produced the threshold
        return round(self.value * 10) >= round(threshold * 10, 6)

    def display(self) -> str:
        """ "36.5" / "LO" / "HI"."""
        if self.reading in ("LO", "HI"):
            return self.reading
        return f"{self.value:.1f}"


def _temp_not_a_number() -> ValueRejected:
    return ValueRejected(
        "not_a_number",
        "体温读数看不懂，请输入数字，例如 365 或 36.5，也可以输入 LO 或 HI",
        "Temperature not understood: please type a number such as 365 or 36.5, or LO or HI",
    )


def _temp_fahrenheit(number: Decimal) -> ValueRejected:
    shown = f"{number:.1f}"
    zh_about = en_about = ""
    if _in_fahrenheit_range(number):  # the Celsius it means, so a fever in F is seen at once
        celsius = ((number - 32) * 5 / 9).quantize(_TENTH, rounding=ROUND_HALF_UP)
        zh_about, en_about = f"，约等于 {celsius:.1f} 度", f", about {celsius:.1f} C"
    return ValueRejected(
        "fahrenheit",
        f"读数 {shown} 像是华氏度 (F){zh_about}；请把体温计切换到摄氏度 (C) 后重新测量",
        f"The reading {shown} looks like Fahrenheit (F){en_about}: please switch the "
        "thermometer to Celsius (C) and measure again",
    )


def _temp_device_error() -> ValueRejected:
    return ValueRejected(
        "device_error",
        "体温计报错，请重新测量",
        "The thermometer shows an error: please measure again",
    )


def _in_fahrenheit_range(number: Decimal) -> bool:
    return FAHRENHEIT_MIN <= number <= FAHRENHEIT_MAX


def parse_temperature(raw: str) -> Temperature:
    """Parse a typed thermometer reading.

    "365" -> 36.5 (three digits, no separator = tenths); "36.5", "36,5", "36。5", "36度5",
    full-width "３６５" -> 36.5; "37" -> 37.0; a trailing IME full stop ("36.5。") is dropped;
    LO / HI (any case) are readings. More than one decimal is rounded half-up to one.
    Accepted: 34.0-43.0 inclusive, the whole body range thermometers display (34.0-34.9
    flagged ``needs_remeasure``). A trailing "度" / "C" is tolerated.

    Refusals: "empty", "not_a_number", "device_error" (the display showed Err, Er1, E1, ---),
    "too_low" (below 34.0), "fahrenheit" (89.6-109.9, with the point typed or not: "98.6",
    "986", "100", "1004"; or said in F), "out_of_range" (above 43.0 and not Fahrenheit).
    """
    text = normalise(raw)
    if not text:
        raise ValueRejected(
            "empty",
            "没有输入体温，请输入读数，例如 365",
            "No temperature typed: please type the reading, for example 365",
        )
    if len(text) > _TEMP_MAX_INPUT:
        raise _temp_not_a_number()
    # the IME full stop the volunteer's Enter left behind ("36.5。")
    text = text.rstrip("。").rstrip()
    upper = text.upper()
    if upper == "LO":
        return Temperature(raw=raw, value=None, reading="LO", needs_remeasure=True)
    if upper == "HI":
        return Temperature(raw=raw, value=None, reading="HI", needs_remeasure=False)
    if _TEMP_DEVICE_ERROR.fullmatch(upper):
        raise _temp_device_error()

    said_fahrenheit = False
    m_suffix = _TEMP_FAHRENHEIT_SUFFIX.search(text)
    if m_suffix:
        said_fahrenheit = True
        text = text[: m_suffix.start()]
    else:
        m_chinese = _TEMP_CHINESE_POINT.fullmatch(text)
        if m_chinese:
            text = f"{m_chinese.group(1)}.{m_chinese.group(2)}"
        m_suffix = _TEMP_CELSIUS_SUFFIX.search(text)
        if m_suffix:
            text = text[: m_suffix.start()]

    # the IME full stop and the (NFKC'd) full-width comma both mean the decimal point
    text = text.replace("。", ".").replace(",", ".")
    m = _TEMP_NUMBER.fullmatch(text)
    if not m:
        raise _temp_not_a_number()
    whole, frac = m.group(1), m.group(2)
    if frac is None and len(whole) >= 3:
        number = Decimal(whole) / 10  # "365" -> 36.5, "1004" -> 100.4 (F)
        if len(whole) == 3 and number < TEMP_MIN and _in_fahrenheit_range(Decimal(whole)):
            number = Decimal(whole)  # "100" is 100 F, not 10.0 C
    elif frac is None:
        number = Decimal(whole)
    else:
        number = Decimal(f"{whole}.{frac}")
    number = number.quantize(_TENTH, rounding=ROUND_HALF_UP)
    shown = f"{number:.1f}"

    if said_fahrenheit or _in_fahrenheit_range(number):
        raise _temp_fahrenheit(number)
    if number < TEMP_MIN:
        raise ValueRejected(
            "too_low",
            f"读数 {shown} 度太低，可能是额头太冷，请让对方暖和一下或改测手腕后重新测量",
            f"The reading {shown} C is too low, probably a cold forehead: please let the "
            "person warm up or measure the wrist, then measure again",
        )
    if number > TEMP_MAX:
        raise ValueRejected(
            "out_of_range",
            f"读数 {shown} 度超出体温计的显示范围 (34.0 到 {TEMP_MAX} 度)，请核对后重新测量",
            f"The reading {shown} C is outside what a thermometer shows for a body (34.0 to {TEMP_MAX} C): "
            "please check and measure again",
        )
    return Temperature(
        raw=raw,
        value=float(number),
        reading="value",
        needs_remeasure=number < TEMP_REMEASURE_BELOW,
    )


# --------------------------------------------------------------------------------------
# Resident ID number (GB 11643-1999)
# --------------------------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"  # ISO 7064 MOD 11-2, indexed by sum mod 11
_ID_ALLOWED = frozenset("0123456789Xx")
# The brief said 1890-01-01, but the reference sample 440524188001010014 (used by other
# tests and docs as "known valid") is born 1880-01-01; the bound is 1880 so it passes.
_ID_BIRTH_MIN = date(1880, 1, 1)
# The kiosk has no RTC and may boot with a clock far in the past; never treat a
# birth date before this floor as "in the future" just because the clock is wrong.
_ID_CLOCK_FLOOR = date(2025, 1, 1)


def id_check_char(first17: str) -> str:
    """The GB 11643 check character ('0'-'9' or 'X') for 17 ASCII digits."""
    if len(first17) != 17 or not all(c in "0123456789" for c in first17):
        raise ValueError("id_check_char needs exactly 17 ASCII digits")
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=False))
    return _ID_CHECK_CHARS[total % 11]


def _id_retype(code: str, zh_what: str, en_what: str) -> ValueRejected:
    return ValueRejected(
        code,
        f"{zh_what}，请核对后重新输入",
        f"{en_what}: please check the number and type it again",
    )


# The first two digits are a province-level code of GB/T 2260 (11-15 north, 21-23 north-east,
# 31-37 east, 41-46 south-central, 50-54 south-west, 61-65 north-west, 71 Taiwan), or a code real
# cards carry outside that list: 81 Hong Kong, 82 Macao and 83 Taiwan residence permits
# (GB 11643 numbers since 2018) and 9x, the permanent residence ID cards for foreigners issued
# since 2023 (first digit 9). No province code has ever been retired, so this cannot refuse a
# real number; the county digits after them are not checked (retired county codes are real).
_ID_PROVINCES = frozenset(
    {*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55), *range(61, 66), 71}
    | {81, 82, 83, *range(90, 100)}
)


def parse_id_number(raw: str, *, today: date | None = None) -> str:
    """Validate an 18-character resident ID number; return it with an uppercase X.

    NFKC, spaces removed. 17 digits + check character (digit or X/x), the check
    character must match (ISO 7064 MOD 11-2), the first two digits a province code
    (see ``_ID_PROVINCES``: 81/82/83 and 9x are accepted), and the birth date
    (characters 7-14) a real date from 1880-01-01 to ``today``.

    ``today`` is the kiosk's trusted date (``models.clock.trusted_date``): the desk passes it,
    so a kiosk whose wall clock reads 1970 still accepts a baby born yesterday. Without it,
    the wall clock's date, never earlier than a fixed floor.

    Refusals: "empty", "id_old_card" (a 15-digit first-generation number), "id_length",
    "id_chars", "id_region", "id_checksum", "id_birthdate".
    """
    text = "".join(normalise(raw).split())
    if not text:
        raise ValueRejected(
            "empty",
            "没有输入身份证号，请输入 18 位身份证号",
            "No ID number typed: please type the 18-character ID number",
        )
    if len(text) == 15 and text.isascii() and text.isdigit():
        raise ValueRejected(
            "id_old_card",
            "这是 15 位的旧身份证号 (第一代身份证)，请出示或输入 18 位的身份证号",
            "This is a 15-digit number of the old first-generation ID card: please show or type "
            "the 18-character number of the current card",
        )
    if any(c not in _ID_ALLOWED for c in text):
        raise _id_retype(
            "id_chars",
            "身份证号只能是数字，最后一位可以是 X",
            "An ID number has only digits, with X allowed as the last character",
        )
    if len(text) != 18:
        raise ValueRejected(
            "id_length",
            f"身份证号应为 18 位，现在输入了 {len(text)} 位，请核对后重新输入",
            f"An ID number has 18 characters but {len(text)} were typed: please check the number and type it again",
        )
    text = text.upper()
    if "X" in text[:17]:
        raise _id_retype(
            "id_chars",
            "身份证号只有最后一位可以是 X",
            "Only the last character of an ID number can be X",
        )
    if text[0] == "0":
        raise _id_retype(
            "id_chars",
            "身份证号第一位不能是 0",
            "An ID number cannot start with 0",
        )
    if int(text[:2]) not in _ID_PROVINCES:
        raise _id_retype(
            "id_region",
            f"身份证号前两位 {text[:2]} 不是省份代码",
            f"An ID number starts with a province code and {text[:2]} is not one",
        )
    if id_check_char(text[:17]) != text[17]:
        raise ValueRejected(
            "id_checksum",
            "身份证号校验位不对，请核对后重新输入",
            "ID check digit wrong, please check the number",
        )
    try:
        born = date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        born = None
    latest = today if today is not None else max(date.today(), _ID_CLOCK_FLOOR)
    if born is None or not (_ID_BIRTH_MIN <= born <= latest):
        raise _id_retype(
            "id_birthdate",
            "身份证号里的出生日期不对",
            "The birth date inside the ID number is not valid",
        )
    return text


# --------------------------------------------------------------------------------------
# Mainland mobile phone number
# --------------------------------------------------------------------------------------

# Separators people write a number with: spaces, dashes, dots and parentheses ("(+86) 138.1234.5678").
_PHONE_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212.()]+")
_PHONE = re.compile(r"1[3-9][0-9]{9}")

# The number blocks allocated to mobile service on the mainland (the first 3, 4 or 5 digits of
# the 11). Source: the mobile pattern for CN in Google's libphonenumber metadata
# (PhoneNumberMetadata.xml, as shipped in the phonenumbers 9.0.43 package, read 2026-12-01):
#   1(?:610\d|740[0-5])\d{6} | 1(?:[38]\d|4[57]|[59][0-35-9]|6[25-7]|7[0-35-8])\d{8}
# which follows the MIIT allocations (电信网编号计划; the 2019 blocks 190/192/196/197 included).
# Blocks outside it are refused: 140-144 and 146/148 are 13-digit or data-only IoT numbers, 149
# data cards, 154/160/163/164/168/169/179/194 are not allocated, 174 is satellite apart from
# 17400-17405. Update this table (and its date) when MIIT opens a new block.
PHONE_BLOCKS_AS_OF = "2026-12-01"
PHONE_MOBILE_BLOCKS: frozenset[str] = frozenset(
    [f"13{d}" for d in "0123456789"]
    + ["145", "147"]
    + [f"15{d}" for d in "012356789"]
    + ["1610", "162", "165", "166", "167"]
    + [f"17{d}" for d in "01235678"]
    + [f"1740{d}" for d in "012345"]
    + [f"18{d}" for d in "0123456789"]
    + [f"19{d}" for d in "012356789"]
)


def _phone_block(digits: str) -> str | None:
    """The allocated block an 11-digit number falls in, or None."""
    for length in (3, 4, 5):
        if digits[:length] in PHONE_MOBILE_BLOCKS:
            return digits[:length]
    return None


def _strip_phone(text: str) -> str:
    """Separators removed, a +86 / 0086 / 86 country prefix and a leading trunk 0 dropped."""
    digits = _PHONE_SEPARATORS.sub("", text)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if digits.startswith("0") and len(digits) == 12:
        digits = digits[1:]  # "0138 1234 5678", written as if a long-distance call
    return digits


def parse_phone(raw: str) -> str:
    """A mainland mobile number as 11 digits.

    Spaces, dashes, dots and parentheses are ignored, a leading +86 / 0086 / 86 or a trunk 0 is
    dropped; the rest must be 1, then 3-9, then 9 digits, in a block allocated to mobile service
    (``PHONE_MOBILE_BLOCKS``). Refusals: "empty", "phone_format", "phone_unallocated".
    """
    text = normalise(raw)
    if not text:
        raise ValueRejected(
            "empty",
            "没有输入手机号，请输入 11 位手机号",
            "No phone number typed: please type the 11-digit mobile number",
        )
    digits = _strip_phone(text)
    if not _PHONE.fullmatch(digits):
        raise ValueRejected(
            "phone_format",
            "手机号应为 1 开头的 11 位数字，请核对后重新输入",
            "A mobile number has 11 digits starting with 13 to 19: please check it and type it again",
        )
    if _phone_block(digits) is None:
        raise ValueRejected(
            "phone_unallocated",
            f"{digits[:3]} 开头的这个号段不是手机号段，请核对后重新输入",
            f"No mobile numbers are given out in the block this number ({digits[:3]}...) is in: "
            "please check it and type it again",
        )
    return digits


# --------------------------------------------------------------------------------------
# Unit (楼栋-单元-房号)
# --------------------------------------------------------------------------------------

_PART = r"[A-Za-z0-9]{1,6}"
_ROOM = r"[0-9]{1,6}"
_SEP = r"(?: *[-/\u2010-\u2015\u2212] *| +)"
_ROOM_SUFFIX = r" *(?:室|号)?"
_UNIT_DASHED = re.compile(rf"({_PART}){_SEP}({_PART}){_SEP}({_ROOM}){_ROOM_SUFFIX}")
_UNIT_CHINESE = re.compile(rf"({_PART}) *(?:号楼|号|栋|幢|座|楼) *({_PART}) *(?:单元|门) *({_ROOM}){_ROOM_SUFFIX}")


@dataclass(frozen=True)
class UnitCode:
    """A dwelling: building (楼栋), entrance (单元), room (房号)."""

    building: str
    entrance: str
    room: str

    def __str__(self) -> str:
        return f"{self.building}-{self.entrance}-{self.room}"


def parse_unit(raw: str) -> UnitCode:
    """Parse "3-2-501" and its variants.

    Full-width forms (NFKC), separators "-", "－", "/", space, and the Chinese forms
    "3栋2单元501" / "3号楼2单元501室". Building and entrance are 1-6 letters or
    digits (letters uppercased, e.g. "A3"); the room is 1-6 digits.
    Refusals: "empty", "unit_format".
    """
    text = normalise(raw)
    if not text:
        raise ValueRejected(
            "empty",
            "没有输入房号，请按 楼栋-单元-房号 输入，例如 3-2-501",
            "No unit typed: please type building-entrance-room, for example 3-2-501",
        )
    m = _UNIT_DASHED.fullmatch(text) or _UNIT_CHINESE.fullmatch(text)
    if not m:
        raise ValueRejected(
            "unit_format",
            "房号格式不对，请按 楼栋-单元-房号 输入，例如 3-2-501",
            "Unit not recognised: please type building-entrance-room, for example 3-2-501",
        )
    building, entrance, room = m.groups()
    return UnitCode(building=building.upper(), entrance=entrance.upper(), room=room)


# --------------------------------------------------------------------------------------
# Name
# --------------------------------------------------------------------------------------

NAME_MAX_LEN = 20
# control, format (zero-width etc.), surrogates, line/paragraph separators
_NAME_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def parse_name(raw: str) -> str:
    """An optional name: "" is allowed.

    NFKC, stripped, runs of spaces collapsed to one; at most 20 characters; no
    control characters. Refusals: "name_chars", "name_too_long".
    """
    text = normalise(raw)
    if any(unicodedata.category(c) in _NAME_BAD_CATEGORIES for c in text):
        raise ValueRejected(
            "name_chars",
            "姓名里有不能用的控制字符，请删掉后重新输入",
            "The name contains control characters: please remove them and type it again",
        )
    text = " ".join(text.split())
    if len(text) > NAME_MAX_LEN:
        raise ValueRejected(
            "name_too_long",
            f"姓名最多 {NAME_MAX_LEN} 个字，现在有 {len(text)} 个字，请缩短后重新输入",
            f"A name can have at most {NAME_MAX_LEN} characters and this one has {len(text)}: please shorten it",
        )
    return text


# The most a name on a pass can have: the pass holds at most 48 bytes of name in UTF-8
# (models.passtoken.NAME_MAX_BYTES), and 16 characters of 3 bytes fill it. A character outside
# the basic plane (𠈌, 4 bytes) counts as two, so a name within the limit always fits: there is
# one limit, in characters, and never a refusal in bytes. The paper can allow fewer
# (tui.printing.render.name_limit: the QR grows with the name).
PASS_NAME_MAX = 16


def name_length(name: str) -> int:
    """A name's length as the pass limit counts it: a character outside the basic plane counts
    as two, every other character as one."""
    return sum(2 if ord(c) > 0xFFFF else 1 for c in name)


def parse_pass_name(raw: str) -> str:
    """A name for a pass: ``parse_name``, and at most PASS_NAME_MAX characters as
    ``name_length`` counts them. Refusals: "name_chars", "name_too_long"."""
    try:
        text = parse_name(raw)
    except ValueRejected as exc:
        if exc.code != "name_too_long":
            raise
        text = " ".join(normalise(raw).split())  # too long for any name: say the pass's limit
    if name_length(text) > PASS_NAME_MAX:
        raise ValueRejected(
            "name_too_long",
            f"通行证上的姓名最多 {PASS_NAME_MAX} 个字（生僻字算两个字），现在有 {name_length(text)} 个字，请缩短后重新输入",
            f"A name on a pass can have at most {PASS_NAME_MAX} characters (a rare character counts as two) "
            f"and this one has {name_length(text)}: please shorten it",
        )
    return text


# --------------------------------------------------------------------------------------
# Masking (PIPL: what the kiosk screen and local records show)
# --------------------------------------------------------------------------------------


def _mask_all(value: str) -> str:
    """Every character starred, the length kept (so a volunteer sees a number was given).

    No digit is shown: every visible digit divides a thief's work. With the look-up hash's
    key on the kiosk, the masked form is all that stands between a copied data dir and the
    number, and the arithmetic (models/privacy.py) leaves no room for any: the last four of
    an ID number leave 1.3e8 candidates (hours of CPU at the desk's hash cost), the last four
    of a phone 5e5 (seconds). A volunteer tells two people apart by the name mask, the unit
    and the time, which are shown beside it."""
    return "*" * len(value)


def mask_id(id_number: str) -> str:
    """ "******************": no digit shown, on screen, in the records and in every list."""
    return _mask_all(id_number)


def mask_phone(phone: str) -> str:
    """ "***********": no digit shown."""
    return _mask_all(phone)


_NAME_SEPARATORS = frozenset(" ·•‧・.-'")


def mask_name(name: str) -> str:
    """ "张*" / "张*明" / "欧**明" / ""; Latin names keep the first letter: "J*** *****".

    Separators (space, middle dots, hyphen, apostrophe) stay as they are.
    """
    chars = list(name.strip())
    letters = [i for i, c in enumerate(chars) if c not in _NAME_SEPARATORS]
    if not letters:
        return "".join(chars)
    latin = any(c.isascii() and c.isalpha() for c in chars)
    if latin or len(letters) == 2:
        keep = {letters[0]}
    elif len(letters) == 1:
        keep = set()
    else:
        keep = {letters[0], letters[-1]}
    return "".join(c if (i in keep or i not in letters) else "*" for i, c in enumerate(chars))


# --------------------------------------------------------------------------------------
# Scan-line classifier
# --------------------------------------------------------------------------------------


class ScanKind(StrEnum):
    TOKEN = "token"
    ID_NUMBER = "id"
    PHONE = "phone"
    UNIT = "unit"
    NAME = "name"
    EMPTY = "empty"


@dataclass(frozen=True)
class Scan:
    kind: ScanKind
    text: str  # normalised text


TOKEN_MIN_DIGITS = 40
_ASCII_DIGITS = re.compile(r"[0-9]+")
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9Xx]")
# 11 digits starting with 1, optionally grouped 3-4-4 and prefixed +86 / 0086 / 86
# Any way the phone rule reads a written number: digits, '+', separators; 11 digits starting
# with 1 once parse_phone's separators and prefixes are gone ("1381-234-5678" is a phone, not a unit).
_PHONE_WRITTEN = re.compile(r"[0-9+\s\-\u2010-\u2015\u2212.()]{11,24}")
_PHONE_DIGITS = re.compile(r"1[0-9]{10}")
_PHONE_SHAPE = re.compile(r"(?:(?:\+|00)?86[ -]*)?1[0-9]{2}[ -]?[0-9]{4}[ -]?[0-9]{4}")


def classify_scan(raw: str) -> Scan:
    """Say what a scan-line entry is by its shape; never raises for any ``str``.

    All digits and >= 40 long -> TOKEN; 17 digits + digit/X -> ID_NUMBER (checksum
    is the caller's next step); 11 digits starting with 1 (or +86 forms) -> PHONE;
    a unit shape -> UNIT; empty -> EMPTY; anything else -> NAME.
    """
    text = normalise(raw)
    if not text:
        return Scan(ScanKind.EMPTY, text)
    if len(text) >= TOKEN_MIN_DIGITS and _ASCII_DIGITS.fullmatch(text):
        return Scan(ScanKind.TOKEN, text)
    compact = "".join(text.split())
    if _ID_SHAPE.fullmatch(compact):
        return Scan(ScanKind.ID_NUMBER, text)
    if _PHONE_SHAPE.fullmatch(text) or (_PHONE_WRITTEN.fullmatch(text) and _PHONE_DIGITS.fullmatch(_strip_phone(text))):
        return Scan(ScanKind.PHONE, text)
    if _UNIT_DASHED.fullmatch(text) or _UNIT_CHINESE.fullmatch(text):
        return Scan(ScanKind.UNIT, text)
    return Scan(ScanKind.NAME, text)
