"""Policy: the office's rules the kiosk applies (the office can change each value)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any


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


def coerce(key: str, value: Any) -> Any:
    """Turn a value typed by an office clerk (`37.5`, `true`, `3`) into the field's type."""
    default = getattr(Policy(), key)
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text)
        except ValueError:
            value = text
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
