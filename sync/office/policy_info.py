"""The policy as a clerk reads it: every key with its type, what it may be set to and what it
means (Chinese and English), its value now, its history, and which gates already apply it.

The values are the office's (`admin.office_policy`, what it publishes to the kiosks); a change is
made by `admin.set_policy` only (as `kakou office policy set`), which writes the audit row
"policy_set" (who, when, what, the new version) that the history here is read from. Which gates
have it: the list versions each kiosk reported at its last push (`status.kiosk_status`).
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from sqlalchemy.engine import Engine

from models.health_checks import CHECKS, kind_codes
from models.policy import MAX_DAYS_CEILING, RANGES, Policy
from models.words import Words
from sync.office import audit
from sync.office.users import Account

__all__ = ["MEANINGS", "TYPES", "describe", "gates", "history", "key_range", "key_type", "shown"]

MEANINGS: dict[str, Words] = {
    "fever_threshold": Words("体温达到或超过此值即为发热", "a temperature at or above this is a fever"),
    "recheck_minutes": Words("发热后等待多久复测", "how long to wait before the second reading of a fever"),
    "temp_required_out": Words("外出时是否必须测体温", "take a temperature when someone goes out"),
    "temp_required_in": Words("进入时是否必须测体温", "take a temperature when someone comes in"),
    "outing_quota": Words(
        "每户在一个周期内可外出的次数（0：不限）", "outings per household in each window (0: no quota)"
    ),
    "outing_window_days": Words("外出次数的计算周期（天）", "the window the outing quota counts over, in days"),
    "list_stale_hours": Words(
        "名单超过这么久未更新，通行结果变黄（人工核对）", "lists older than this turn verdicts amber (check by hand)"
    ),
    "retention_days": Words(
        "同步后的个人信息保存天数，到期清除", "days personal data of synced records is kept before it is purged"
    ),
    "show_full_name": Words("核验结果显示全名（否：张*明）", "the verdict shows the full name (false: 张*明)"),
    "max_days": Words(
        "各类通行证最长有效天数；超过的通行证一律拒绝",
        "the longest validity of each pass kind, in days; a pass valid for longer is refused",
    ),
    "revocations_per_day": Words(
        "每台卡口每天最多发布多少条作废", "at most this many of one kiosk's revocations are published a day"
    ),
    "lookup_time_cost": Words(
        "身份证号、电话查找哈希的计算轮数（越大越难破解，越慢）",
        "passes of the ID number and phone look-up hash (higher: harder to recover, slower)",
    ),
    "lookup_memory_mib": Words("查找哈希每次使用的内存（MiB）", "memory each look-up hash uses, in MiB"),
    "deny_repeat_direction": Words(
        "同一通行证在同一卡口连续同方向通过：是=拒绝，否=黄（人工核对）",
        "a pass going the same way twice at one gate: true refuses it, false is amber (check by hand)",
    ),
    "pass_out_twice_hours": Words(
        "同一通行证在本街道任一卡口再次外出而中间没有进入，间隔在此小时数内即报警（0：不报警）",
        "a pass going out again at any gate with no way in between, within these hours, is an alert (0: none)",
    ),
    "refuse_quarantine_visits": Words(
        "访客、快递前往居家隔离户：是=拒绝，否=黄（人工核对）",
        "a visitor or courier to a home-quarantined household: true refuses, false is amber",
    ),
    "visiting_until_hour": Words(
        "访客须在此时前离开；交班和日报列出超时未离开的访客（0 或 24：不限）",
        "visitors leave by this hour; the handover and the report name those still inside (0 or 24: no limit)",
    ),
    "curfew_hour": Words(
        "宵禁时刻；交班和日报列出宵禁后仍有人在外的住户（0 或 24：无宵禁）",
        "curfew hour; the handover and the report name households with someone still out (0 or 24: none)",
    ),
    "health_checks": Words(
        "通行证之外还要查验什么，按“方向.通行证种类”（如 in.visitor=health_code,nucleic_test）",
        'the checks beside the pass, by "direction.kind" (e.g. in.visitor=health_code,nucleic_test)',
    ),
    "health_rules": Words(
        "每种查验结果的处理：allow 放行、refer 人工核对、deny 拒绝（如 health_code.yellow=deny）",
        "what each check's answer means: allow, refer (check by hand) or deny (e.g. health_code.yellow=deny)",
    ),
}

TYPES: dict[str, Words] = {
    "number": Words("数值", "number"),
    "whole": Words("整数", "whole number"),
    "yes_no": Words("是/否", "true/false"),
    "by_kind": Words("按通行证种类的天数", "days by pass kind"),
    "checks": Words("查验清单", "checks by direction.kind"),
    "rules": Words("查验结果规则", "rules by check.answer"),
}

_STRUCTURED_TYPES = {"max_days": "by_kind", "health_checks": "checks", "health_rules": "rules"}
_STRUCTURED_RANGES = {
    "max_days": Words(
        f"每种 1–{MAX_DAYS_CEILING} 天，可单设一种：max_days.visitor=2",
        f"1–{MAX_DAYS_CEILING} days each; set one with max_days.visitor=2",
    ),
    # Named from the one table of checks and kinds (models/health_checks.py), never retyped.
    "health_checks": Words(
        f"方向 in/out；种类 {', '.join(kind_codes())}；查验 {'、'.join(CHECKS)}；"
        "可单设：health_checks.in.visitor=health_code",
        f"direction in/out; kinds {', '.join(kind_codes())}; checks {', '.join(CHECKS)}; "
        "one entry: health_checks.in.visitor=health_code",
    ),
    "health_rules": Words(
        "allow / refer / deny；可单设：health_rules.health_code.yellow=deny",
        "allow / refer / deny; one entry: health_rules.health_code.yellow=deny",
    ),
}


def key_type(key: str) -> Words:
    """The kind of value a key takes, in words."""
    if key in _STRUCTURED_TYPES:
        return TYPES[_STRUCTURED_TYPES[key]]
    default = getattr(Policy(), key)
    if isinstance(default, bool):
        return TYPES["yes_no"]
    return TYPES["whole"] if isinstance(default, int) else TYPES["number"]


def key_range(key: str) -> Words:
    """What a clerk may set a key to (the same ranges `admin.set_policy` enforces)."""
    if key in _STRUCTURED_RANGES:
        return _STRUCTURED_RANGES[key]
    if key in RANGES:
        low, high, unit = RANGES[key]
        text = f"{low:g}–{high:g} {unit}"
        return Words(text, text)
    if isinstance(getattr(Policy(), key), bool):
        return Words("true（是）/ false（否）", "true / false")
    return Words("-", "-")


def shown(value: Any) -> str:
    """A value as a clerk types it back into `set_policy` (true, 37.3, {"visitor": 1})."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, (dict, list, tuple)) or hasattr(value, "items"):
        return json.dumps(dict(value) if hasattr(value, "items") else list(value), ensure_ascii=False, sort_keys=True)
    return str(value)


def describe(engine: Engine) -> dict[str, Any]:
    """Every policy key (in the order of `Policy`): its type, range and meaning, its value now
    (`set`: not the default), and the version the office publishes."""
    from sync.office import lists as office_lists
    from sync.office.admin import office_policy

    with engine.execution_options(immediate=False).connect() as conn:
        policy = office_policy(conn)
        version = office_lists.versions(conn).get("policy", 0)
        conn.rollback()
    default = Policy()
    rows = []
    for f in fields(Policy):
        value, base = getattr(policy, f.name), getattr(default, f.name)
        rows.append(
            {
                "key": f.name,
                "type": key_type(f.name),
                "range": key_range(f.name),
                "meaning": MEANINGS.get(f.name, Words(f.name, f.name)),
                "value": shown(value),
                "default": shown(base),
                "set": shown(value) != shown(base),
            }
        )
    return {"keys": rows, "version": version}


def history(engine: Engine, *, limit: int = 100) -> list[dict[str, Any]]:
    """The policy's changes, newest first: who, when, by which way, the values set, the version
    they made (the audit rows of `admin.set_policy`)."""
    rows = audit.recent(engine, limit=limit, action="policy_set")
    return [
        {
            "at": r["at"],
            "by": r["admin"],
            "via": r["via"],
            "version": r["detail"].get("version"),
            "values": {k: shown(v) for k, v in (r["detail"].get("values") or {}).items()},
        }
        for r in rows
    ]


def gates(engine: Engine, account: Account) -> dict[str, Any]:
    """The enrolled gates the account may see, split by whether the policy version each reported
    at its last push is the office's current one (they take a new one at their next pull)."""
    from sync.office.status import kiosk_status

    status = kiosk_status(engine, counts=False)
    current = status["office_list_versions"].get("policy", 0)
    have: list[dict[str, Any]] = []
    behind: list[dict[str, Any]] = []
    for k in status["kiosks"]:
        if k["status"] != "active" or not account.sees(k["community"]):
            continue
        reported = int(k["list_versions"].get("policy", 0) or 0)
        entry = {
            "checkpoint": k["checkpoint"],
            "community": k["community"],
            "version": reported,
            "last_seen": k["last_seen"],
        }
        (have if reported >= current else behind).append(entry)
    return {"version": current, "have": have, "behind": behind}
