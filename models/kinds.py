"""The domain's lists, each written once: pass kinds, registration kinds, fever outcomes.

Everything that names, numbers, offers or counts one of these reads it from here: the pass
token (the kind byte), the verdict (what a kind allows), the issue-pass and registration
forms (their numbered choices and help), the command line's help, the printed pass, the
kiosk's day report, the handover and the street office's report. Adding a kind is one entry
here plus its tests; tests/test_kinds.py checks that every entry shows up in all of those
places and that no other module spells a kind out.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

from models.words import Words

__all__ = [
    "FEVER_OUTCOMES",
    "REGISTRATION_KINDS",
    "FeverOutcomeInfo",
    "PassKind",
    "PassKindInfo",
    "RegistrationKindInfo",
    "pass_kind_by_code",
    "registration_kind_by_number",
    "registration_label",
]


class PassKindInfo(NamedTuple):
    """What a pass kind is called and what it allows (the verdict and the forms read these)."""

    name: Words  # on the printed pass, the duty screen and in reports
    choice: Words  # the short word of the issue form's numbered choice
    default_days: int  # validity when the issuer gives none
    needs_plate: bool = False  # refused without a number plate
    outing_quota: bool = False  # going out counts against the household's outing quota (policy)
    daily_hours: bool = False  # usually issued with daily hours (the help says so; any kind may carry them)
    # The longest validity (valid_to - valid_from) a pass of this kind may have unless the office's
    # policy says otherwise (Policy.max_days): the issuing form refuses more and every verifier
    # denies more, so a pass signed "valid until 2106" opens no gate.
    max_days: int = 366
    guest: bool = False  # not of the household: expected to leave by the visiting hours (the handover names them)


class PassKind(IntEnum):
    """The kinds of pass. The number is the kind byte of every pass ever printed (and the issue
    form's choice): never renumber or reuse one, only add. `code` (the member's name in lower
    case) is the word the command line takes and the audit records."""

    info: PassKindInfo

    # `info` has a default only so that the type checker reads `PassKind(3)`, the look-up by
    # number, as a call; every member below gives it.
    def __new__(cls, number: int, info: PassKindInfo | None = None) -> PassKind:
        member = int.__new__(cls, number)
        member._value_ = number
        if info is not None:
            member.info = info
        return member

    RESIDENT = 1, PassKindInfo(Words("住户通行证", "Resident pass"), Words("住户", "resident"), 30)
    OUTING = 2, PassKindInfo(Words("出入证", "Household outing pass"), Words("出入", "outing"), 30, outing_quota=True)
    WORK = 3, PassKindInfo(Words("复工证明", "Work pass"), Words("复工", "work"), 30, daily_hours=True)
    VEHICLE = 4, PassKindInfo(Words("车辆通行证", "Vehicle pass"), Words("车辆", "vehicle"), 30, needs_plate=True)
    VISITOR = (
        5,
        PassKindInfo(
            Words("临时访客证", "Visitor pass"), Words("访客", "visitor"), 1, daily_hours=True, max_days=1, guest=True
        ),
    )
    RETURNEE = 6, PassKindInfo(Words("入住条", "Returnee entry slip"), Words("入住条", "returnee"), 14, max_days=30)

    @property
    def code(self) -> str:
        return self.name.lower()

    def label(self, lang: str = "zh") -> str:
        return self.info.name.text(lang)


def pass_kind_by_code(word: str) -> PassKind | None:
    """The kind a command-line word names ("resident", any case), or None."""
    return PassKind.__members__.get(word.strip().upper())


class RegistrationKindInfo(NamedTuple):
    """Someone registered without a pass. Stored by `code`; numbered on the form in table order."""

    code: str
    name: Words  # in the log, the look-up, the handover and the reports
    choice: Words  # the short word of the registration form's numbered choice
    needs_unit: bool = False  # says which household they visit
    needs_id: bool = False  # refused without an ID number
    offers_pass: PassKind | None = None  # the desk offers to issue this pass right after
    # Not of a household here: inside until signed out (their exit scanned or picked from the desk's
    # list of visitors inside), named in the handover and the reports after the visiting hours.
    guest: bool = True


_REGISTRATION_KINDS = (
    RegistrationKindInfo("visitor", Words("访客", "visitor"), Words("访客", "visitor"), needs_unit=True),
    RegistrationKindInfo(
        "returnee",
        Words("返乡人员", "returnee"),
        Words("返乡", "returnee"),
        needs_unit=True,
        needs_id=True,
        offers_pass=PassKind.RETURNEE,
        guest=False,  # comes home: their entry slip is a pass of the household
    ),
    # Couriers are left at the gate and escorts take someone out: no unit to visit.
    RegistrationKindInfo("courier", Words("快递外卖", "courier"), Words("快递外卖", "courier")),
    RegistrationKindInfo("medical", Words("送医", "medical escort"), Words("送医", "medical")),
    RegistrationKindInfo("worker", Words("复工人员", "worker"), Words("复工", "worker"), needs_unit=True),
)
REGISTRATION_KINDS: dict[str, RegistrationKindInfo] = {k.code: k for k in _REGISTRATION_KINDS}
_REGISTRATION_BY_NUMBER = {str(n): k for n, k in enumerate(_REGISTRATION_KINDS, 1)}


def registration_label(code: str, lang: str = "zh") -> str:
    """A stored registration kind's name; a code this version does not know is shown as it is."""
    info = REGISTRATION_KINDS.get(code)
    return info.name.text(lang) if info is not None else code


def registration_kind_by_number(number: str) -> RegistrationKindInfo | None:
    """The kind chosen on the registration form by its number ("1" is the first), or None."""
    return _REGISTRATION_BY_NUMBER.get((number or "").strip())


class FeverOutcomeInfo(NamedTuple):
    """How a fever case ended (the recheck). Stored by its code; every report counts each."""

    name: Words  # in the log and the kiosk's report
    column: Words  # the office report's column heading (short)


FEVER_OUTCOMES: dict[str, FeverOutcomeInfo] = {
    "allowed": FeverOutcomeInfo(Words("复测正常放行", "allowed after recheck"), Words("复测放行", "fever: allowed")),
    "clinic": FeverOutcomeInfo(Words("转发热门诊", "referred to fever clinic"), Words("转诊", "fever: clinic")),
    "home": FeverOutcomeInfo(Words("劝返回家", "sent home"), Words("劝返回家", "fever: home")),
}
