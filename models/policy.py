"""Policy: the office's rules the kiosk applies (the office can change each value)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from models.health_checks import DEFAULT_RULES, coerce_health_checks, coerce_health_rules
from models.kinds import PassKind, pass_kind_by_code

# The office may allow up to ten years for a kind; past that a pass is a key that never expires.
MAX_DAYS_CEILING = 3660
MAX_DAYS = "max_days"
HEALTH_CHECKS = "health_checks"
HEALTH_RULES = "health_rules"
# The structured keys a clerk sets one entry of at a time: max_days.visitor=2,
# health_checks.in.visitor=health_code,nucleic_test, health_rules.health_code.yellow=deny.
STRUCTURED = (MAX_DAYS, HEALTH_CHECKS, HEALTH_RULES)


def default_max_days() -> dict[str, int]:
    """The longest validity of each pass kind by default (models/kinds.py, `max_days`)."""
    return {kind.code: kind.info.max_days for kind in PassKind}


@dataclass(frozen=True)
class Policy:
    fever_threshold: float = 37.3  # degrees C; at or above is a fever
    recheck_minutes: int = 3  # wait before the second reading (复测)
    temp_required_out: bool = False  # take a temperature when someone goes out
    temp_required_in: bool = True
    outing_quota: int = 0  # outings per household per window (0: no quota)
    outing_window_days: int = 2  # e.g. one outing per household every two days
    list_stale_hours: float = 24.0  # lists older than this turn verdicts amber
    retention_days: int = 28  # personal data of synced records is purged after this
    show_full_name: bool = False  # verdict shows 张*明 unless the site wants the full name
    # The longest validity per pass kind, in days, by kind code ({"resident": 366, "visitor": 1,
    # ...}); every verifier denies a pass valid for longer. Set one kind with max_days.visitor=2.
    max_days: Mapping[str, int] = field(default_factory=default_max_days)
    revocations_per_day: int = 100  # the office publishes at most this many of one kiosk's revocations a day
    # The look-up hash of ID numbers and phones (argon2id, models/privacy.py): passes and MiB of
    # memory per hash. The smallest allowed still make recovering a phone from a stolen kiosk cost
    # more than a CPU-year; the largest keep a scan's look-up well under a second on a Pi.
    lookup_time_cost: int = 2
    lookup_memory_mib: int = 16
    # One gate per compound: a pass that goes the same way twice is amber (check by hand); true
    # turns it red (a site whose gate is the only way in or out).
    deny_repeat_direction: bool = False
    # Across the street: a pass that goes out again, at any gate, with no way in between is an
    # alert at the office when the two outs are this many hours apart or less (0: no alert).
    pass_out_twice_hours: int = 24
    # A visitor or courier to a home-quarantined household: amber (check by hand), or refused.
    refuse_quarantine_visits: bool = False
    # The handover and the report name visitors still inside after this hour and households
    # with someone out after the curfew (0: no curfew). Local hours, 0..24.
    visiting_until_hour: int = 22
    curfew_hour: int = 22
    # The checks beside the pass (models/health_checks.py): which are required, by
    # "direction.kind" ({"in.visitor": ["health_code", "nucleic_test"]}; none by default), and
    # what each answer means, by "check.answer" ({"health_code.red": "deny", ...}).
    health_checks: Mapping[str, Sequence[str]] = field(default_factory=dict)
    health_rules: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_RULES))

    @classmethod
    def from_settings(cls, values: Mapping[str, Any]) -> Policy:
        known = {f.name: f.type for f in fields(cls)}
        clean = {}
        for key, value in values.items():
            if key in known:
                clean[key] = coerce(key, value)
        return replace(cls(), **clean)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def max_days_for(self, kind: PassKind) -> int:
        """The longest validity, in days, a pass of this kind may have under this policy."""
        return int(self.max_days.get(PassKind(kind).code, PassKind(kind).info.max_days))


def coerce_structured(head: str, entries: Mapping[str, Any], base: Any) -> Any:
    """One structured key's entries as typed (`visitor` -> "2" for max_days.visitor=2), over `base`
    (what is set now): ValueError with the words of what is wrong."""
    if head == MAX_DAYS:
        return coerce_max_days(entries, base)
    if head == HEALTH_CHECKS:
        return coerce_health_checks(entries, base)
    if head == HEALTH_RULES:
        return coerce_health_rules(entries, base)
    raise ValueError(f"{head}: not a structured setting")


def coerce_max_days(value: Any, base: Mapping[str, int] | None = None) -> dict[str, int]:
    """{kind code: whole days} over `base` (the defaults): each kind known, each 1..MAX_DAYS_CEILING."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{MAX_DAYS}: expected {{kind: days}}, got {value!r}")
    clean = dict(default_max_days() if base is None else base)
    for word, days in value.items():
        kind = pass_kind_by_code(str(word))
        if kind is None:
            raise ValueError(f"{MAX_DAYS}: unknown pass kind {word!r} (one of: {', '.join(k.code for k in PassKind)})")
        if isinstance(days, str):
            try:
                days = json.loads(days.strip())
            except ValueError:
                pass
        if isinstance(days, bool) or not isinstance(days, (int, float)) or int(days) != days:
            raise ValueError(f"{MAX_DAYS}.{kind.code}: expected a whole number of days, got {days!r}")
        if not 1 <= days <= MAX_DAYS_CEILING:
            raise ValueError(f"{MAX_DAYS}.{kind.code}: expected 1..{MAX_DAYS_CEILING} days, got {days!r}")
        clean[kind.code] = int(days)
    return clean


# What a clerk may set each number to, with its unit: a value outside is refused where it is typed
# (`fever_threshold=375` switched fever detection off: 39.5 became a green ALLOW).
RANGES: dict[str, tuple[float, float, str]] = {
    "fever_threshold": (37.0, 38.5, "°C"),
    "recheck_minutes": (1, 60, "min"),
    "outing_quota": (0, 50, "outings"),
    "outing_window_days": (1, 60, "days"),
    "list_stale_hours": (1, 24 * 30, "h"),
    "retention_days": (1, 3650, "days"),
    "revocations_per_day": (0, 100_000, "a day"),
    # models/privacy.py MIN_/MAX_TIME_COST and MIN_/MAX_MEMORY_MIB: the kiosk clamps to the same
    "lookup_time_cost": (2, 4, "passes"),
    "lookup_memory_mib": (16, 64, "MiB"),
    "visiting_until_hour": (0, 24, "h"),
    "curfew_hour": (0, 24, "h"),
    "pass_out_twice_hours": (0, 168, "h"),
}


def in_range(key: str, value: Any) -> Any:
    """A value a clerk typed, checked against its range (ValueError with the range and unit).
    Only where values are typed: a kiosk applies what its office sent, whatever an older office
    once accepted, rather than refuse the whole policy."""
    if key not in RANGES:
        return value
    low, high, unit = RANGES[key]
    if key == "fever_threshold" and not low <= value <= high and float(value).is_integer() and 100 <= value <= 999:
        value = value / 10  # "375" read the way the desk reads a thermometer: 37.5
    if not low <= value <= high:
        raise ValueError(f"{key} must be {low:g}-{high:g} {unit}, got {value:g}")
    return value


def coerce(key: str, value: Any) -> Any:
    """Turn a value typed by an office clerk (`37.5`, `true`, `3`) into the field's type."""
    default = getattr(Policy(), key)
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text)
        except ValueError:
            value = text
    if key == MAX_DAYS:
        return coerce_max_days(value)
    if key == HEALTH_CHECKS:
        return coerce_health_checks(value)
    if key == HEALTH_RULES:
        return coerce_health_rules(value)
    if isinstance(default, bool):
        if isinstance(value, str):
            lowered = value.lower()
            if lowered in ("yes", "on", "是"):
                return True
            if lowered in ("no", "off", "否"):
                return False
            raise ValueError(f"{key}: expected true/false, got {value!r}")
        return bool(value)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise ValueError(f"{key}: expected a whole number, got {value!r}")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{key}: expected a number, got {value!r}")
        return float(value)
    return value
