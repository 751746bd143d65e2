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
    "normalise",
    "parse_id_number",
    "parse_name",
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
TEMP_MAX = Decimal("42.5")  # highest accepted reading
FAHRENHEIT_MIN = Decimal("93.0")  # 93.0-108.0 is almost surely a Fahrenheit reading
FAHRENHEIT_MAX = Decimal("108.0")
DEFAULT_FEVER_THRESHOLD = 37.3

_TENTH = Decimal("0.1")
# digits, optionally one decimal separator with at least one digit after it
_TEMP_NUMBER = re.compile(r"([0-9]{1,4})(?:\.([0-9]{1,12}))?")
# a trailing unit the volunteer may have typed along ("36.5度", "36.5C", "36.5 °C")
_TEMP_CELSIUS_SUFFIX = re.compile(r"\s*(?:°\s*C|°|C|度|摄氏度)$", re.IGNORECASE)
_TEMP_FAHRENHEIT_SUFFIX = re.compile(r"\s*(?:°\s*F|F|华氏度)$", re.IGNORECASE)
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


def _temp_fahrenheit(shown: str) -> ValueRejected:
    return ValueRejected(
        "fahrenheit",
        f"读数 {shown} 像是华氏度 (F)，请把体温计切换到摄氏度 (C) 后重新测量",
        f"The reading {shown} looks like Fahrenheit (F): please switch the thermometer "
        "to Celsius (C) and measure again",
    )


def parse_temperature(raw: str) -> Temperature:
    """Parse a typed thermometer reading.

    "365" -> 36.5 (three digits, no separator = tenths); "36.5", "36,5", "36。5",
    full-width "３６５" -> 36.5; "37" -> 37.0; LO / HI (any case) are readings.
    More than one decimal is rounded half-up to one. Accepted: 34.0-42.5 inclusive
    (34.0-34.9 flagged ``needs_remeasure``). A trailing "度" / "C" is tolerated.

    Refusals: "empty", "not_a_number", "too_low" (below 34.0), "fahrenheit"
    (93.0-108.0), "out_of_range" (above 42.5 and not Fahrenheit).
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

    upper = text.upper()
    if upper == "LO":
        return Temperature(raw=raw, value=None, reading="LO", needs_remeasure=True)
    if upper == "HI":
        return Temperature(raw=raw, value=None, reading="HI", needs_remeasure=False)

    said_fahrenheit = False
    m_suffix = _TEMP_FAHRENHEIT_SUFFIX.search(text)
    if m_suffix:
        said_fahrenheit = True
        text = text[: m_suffix.start()]
    else:
        m_suffix = _TEMP_CELSIUS_SUFFIX.search(text)
        if m_suffix:
            text = text[: m_suffix.start()]

    # the IME full stop and the (NFKC'd) full-width comma both mean the decimal point
    text = text.replace("。", ".").replace(",", ".")
    m = _TEMP_NUMBER.fullmatch(text)
    if not m:
        raise _temp_not_a_number()
    whole, frac = m.group(1), m.group(2)
    if frac is None and len(whole) == 3:
        number = Decimal(whole) / 10  # "365" -> 36.5
    elif frac is None:
        number = Decimal(whole)
    else:
        number = Decimal(f"{whole}.{frac}")
    number = number.quantize(_TENTH, rounding=ROUND_HALF_UP)
    shown = f"{number:.1f}"

    if said_fahrenheit or FAHRENHEIT_MIN <= number <= FAHRENHEIT_MAX:
        raise _temp_fahrenheit(shown)
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
            f"读数 {shown} 度超出体温范围 (34.0 到 42.5 度)，请核对后重新测量",
            f"The reading {shown} C is outside the body range 34.0 to 42.5 C: please check and measure again",
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


def parse_id_number(raw: str, *, today: date | None = None) -> str:
    """Validate an 18-character resident ID number; return it with an uppercase X.

    NFKC, spaces removed. 17 digits + check character (digit or X/x), the check
    character must match (ISO 7064 MOD 11-2), the birth date (characters 7-14)
    must be a real date from 1880-01-01 to today, and the first digit 1-9. The
    region code is not checked against a list (retired codes are still valid).

    ``today`` is for tests; by default the kiosk's date (never earlier than a
    fixed floor, because a kiosk without a clock battery may boot in 1970).

    Refusals: "empty", "id_length", "id_chars", "id_checksum", "id_birthdate".
    """
    text = "".join(normalise(raw).split())
    if not text:
        raise ValueRejected(
            "empty",
            "没有输入身份证号，请输入 18 位身份证号",
            "No ID number typed: please type the 18-character ID number",
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

_PHONE_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212]+")
_PHONE = re.compile(r"1[3-9][0-9]{9}")


def _strip_phone(text: str) -> str:
    """Separators removed and a +86 / 0086 / 86 country prefix dropped."""
    digits = _PHONE_SEPARATORS.sub("", text)
    if digits.startswith("+86"):
        return digits[3:]
    if digits.startswith("0086"):
        return digits[4:]
    if digits.startswith("86") and len(digits) == 13:
        return digits[2:]
    return digits


def parse_phone(raw: str) -> str:
    """A mainland mobile number as 11 digits.

    Spaces and dashes are ignored, a leading +86 / 0086 / 86 is dropped; the rest
    must be 1, then 3-9, then 9 digits. Refusals: "empty", "phone_format".
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
    if _PHONE_SHAPE.fullmatch(text):
        return Scan(ScanKind.PHONE, text)
    if _UNIT_DASHED.fullmatch(text) or _UNIT_CHINESE.fullmatch(text):
        return Scan(ScanKind.UNIT, text)
    return Scan(ScanKind.NAME, text)
