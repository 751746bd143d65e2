"""Who may do what: the one table of actions that need a role, and the one check of it.

Every path to one of these actions, at the desk (a function key, a screen that offers it, the
quit key) and on the command line, proves the role by calling `authorize` with the PIN just
typed. Nothing else decides it: a screen never trusts who is logged in, because the person at
the desk may be a volunteer whose supervisor stepped away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from models.errors import KakouError
from models.words import Words

if TYPE_CHECKING:
    from models.store import KioskStore
    from models.volunteers import VolunteerInfo

SUPERVISOR = "supervisor"

# action -> (the role it needs, what it is). The action names are the ones audit records carry.
ACTIONS: dict[str, tuple[str, Words]] = {
    "issue_pass": (SUPERVISOR, Words("签发通行证", "issue a pass")),
    "revoke_pass": (SUPERVISOR, Words("吊销通行证", "revoke a pass")),
    "reissue_pass": (SUPERVISOR, Words("补办通行证", "reissue a pass")),
    "batch_issue": (SUPERVISOR, Words("批量签发通行证", "issue passes in a batch")),
    "enroll": (SUPERVISOR, Words("登记到街道办", "enrol with the street office")),
    "purge": (SUPERVISOR, Words("清除个人信息", "purge personal data")),
    "settings": (SUPERVISOR, Words("修改设置", "change the settings")),
    "quit": (SUPERVISOR, Words("退出值守台", "quit the duty desk")),
    "manage_volunteers": (SUPERVISOR, Words("管理值守人员", "manage volunteers")),
    "volunteer_add": (SUPERVISOR, Words("添加值守人员", "add a volunteer")),
    "volunteer_pin": (SUPERVISOR, Words("设置 PIN", "set a PIN")),
    "volunteer_disable": (SUPERVISOR, Words("停用值守人员", "disable a volunteer")),
    "volunteer_enable": (SUPERVISOR, Words("启用值守人员", "enable a volunteer")),
    "override": (SUPERVISOR, Words("规则以外放行", "let someone through past the rules")),
}


def required_role(action: str) -> str:
    """The role `action` needs. An action missing from the table is a mistake in the code, and
    fails closed (it is refused, never let through)."""
    try:
        return ACTIONS[action][0]
    except KeyError:
        raise KakouError(
            f"未知的操作 {action}：已拒绝", f"unknown action {action}: refused", code="unknown_action"
        ) from None


def needs_supervisor(action: str) -> bool:
    return required_role(action) == SUPERVISOR


def check_has_supervisor(store: KioskStore) -> None:
    from models.volunteers import list_volunteers

    if not any(v.is_supervisor for v in list_volunteers(store)):
        raise KakouError(
            "本机还没有管理员：请先运行 kakou kiosk 完成设置",
            "this kiosk has no supervisor yet: run kakou kiosk to set it up",
            code="no_supervisor",
        )


def weak_pin_error(who: VolunteerInfo) -> KakouError:
    from models.volunteers import MIN_SUPERVISOR_PIN

    return KakouError(
        f"{who.name} 的管理员 PIN 不足 {MIN_SUPERVISOR_PIN} 位，请先改成新的 PIN（kakou volunteer pin {who.name}，"
        "或在值守台的人员管理里改）",
        f"{who.name}'s supervisor PIN is shorter than {MIN_SUPERVISOR_PIN} digits: set a new one first "
        f"(kakou volunteer pin {who.name}, or in the desk's volunteer screen)",
        code="pin_too_short",
    )


def authorize(store: KioskStore, action: str, pin: str, *, via: str, target_id: int | None = None) -> VolunteerInfo:
    """The volunteer whose `pin` this is, if their role may do `action`; else KakouError
    (wrong PIN or lockout: PinError, counted like any login; wrong role: code "role").

    A supervisor whose PIN is shorter than today's rule (set before it) is refused everything
    but setting their own new PIN (`action` "volunteer_pin" with `target_id` their own id).
    Failures are audit records, with where (`via`: "desk" or "cli") and what was asked."""
    from models.facts import record_audit
    from models.volunteers import PinError, login

    role = required_role(action)
    if role == SUPERVISOR:
        check_has_supervisor(store)
    try:
        who = login(store, pin)
    except PinError:
        record_audit(store, "login_failed", None, via=via, command=action)
        raise
    if role == SUPERVISOR and not who.is_supervisor:
        record_audit(store, "supervisor_refused", who.id, via=via, command=action)
        what = ACTIONS[action][1]
        raise KakouError(
            f"{who.name} 不是管理员：{what.zh}需要管理员 PIN",
            f"{who.name} is not a supervisor: only a supervisor's PIN may {what.en}",
            code="role",
        )
    if who.weak_pin and not (action == "volunteer_pin" and target_id == who.id):
        record_audit(store, "supervisor_refused", who.id, via=via, command=action, why="pin_too_short")
        raise weak_pin_error(who)
    return who


def change_own_pin(store: KioskStore, old_pin: str, new_pin: str, *, via: str) -> VolunteerInfo:
    """Whoever knows a PIN may replace it with a new one (the rules of their role): the way a
    supervisor with a PIN from before the 6-digit rule gets a valid one. A wrong old PIN counts
    like any wrong PIN."""
    from models.facts import record_audit
    from models.volunteers import PinError, login, set_pin

    try:
        who = login(store, old_pin)
    except PinError:
        record_audit(store, "login_failed", None, via=via, command="volunteer_pin")
        raise
    return set_pin(store, who.name, new_pin, by=who.id, via=via)
