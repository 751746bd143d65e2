"""Why a passage was allowed, denied or referred: every reason code, written once.

A reason has a level (which decides the verdict: any "deny" denies; otherwise any "refer" asks
the volunteer to check; "note" reasons are shown with an allow), the sentence the duty screen
shows (a template: `{date}`, `{hours}`, `{reason}`, `{note}`), and a short label without
parameters, which is what the counts use (the kiosk's day report, the handover, the office's
report). The codes are stored in every passage record and sent to the office: never rename one.
Adding a reason is one entry here plus the rule that gives it and its tests.
"""

from __future__ import annotations

from typing import NamedTuple

from models.words import Words

__all__ = [
    "ALERT_PASS_REASONS",
    "ALERT_QUARANTINE_REASONS",
    "ALLOW",
    "DENY",
    "NOTE",
    "OVERRIDE_REASONS",
    "REASONS",
    "REFER",
    "ReasonInfo",
    "alert_kind",
    "reason_label",
]

ALLOW, DENY, REFER, NOTE = "allow", "deny", "refer", "note"


class ReasonInfo(NamedTuple):
    level: str  # deny | refer | note
    sentence: Words  # what the duty screen says: a template
    label: Words  # what the counts say: no parameters


def _r(level: str, zh: str, en: str, label_zh: str, label_en: str) -> ReasonInfo:
    return ReasonInfo(level, Words(zh, en), Words(label_zh, label_en))


REASONS: dict[str, ReasonInfo] = {
    # -- the scan is not a pass (passtoken.TokenError uses these words too)
    "empty": _r(DENY, "没有扫到内容，请重新扫描", "nothing scanned, scan again", "没有扫到内容", "nothing scanned"),
    "not_kakou": _r(DENY, "不是卡口通行证", "not a kakou pass", "不是卡口通行证", "not a kakou pass"),
    "damaged": _r(
        DENY, "通行证不完整或已损坏，请重新扫描", "pass damaged or incomplete, scan again", "通行证损坏", "pass damaged"
    ),
    "too_long": _r(
        DENY, "扫到的内容过长，不是卡口通行证", "scan too long, not a kakou pass", "扫到的内容过长", "scan too long"
    ),
    "version": _r(
        DENY,
        "通行证版本本机不认识，请升级本机",
        "pass version unknown to this kiosk, update it",
        "通行证版本不认识",
        "pass version unknown",
    ),
    # -- the signature and its issuer
    # Red, and its words say so: changing one digit of a real pass's key id turns any forgery
    # into "unknown issuer" (tests/test_forged_passes.py), so it cannot be a softer amber. A
    # pass of a checkpoint enrolled since the last pull is let in once the lists are pulled.
    "unknown_issuer": _r(
        DENY,
        "签发单位不在信任名单，不予通行（新卡口的证请先同步名单）",
        "issuer not trusted here: refused (a new checkpoint's pass? sync the lists)",
        "签发单位不在信任名单",
        "issuer not trusted",
    ),
    "bad_signature": _r(
        DENY, "签名不符，疑似伪造或被改动", "signature does not match: forged or altered", "签名不符", "bad signature"
    ),
    "issuer_revoked": _r(
        DENY,
        "签发设备已注销，街道无此证的签发记录，请补办",
        "issuing kiosk revoked, the office has no record of this pass: get it reissued",
        "签发设备已注销",
        "issuing kiosk revoked",
    ),
    "other_community": _r(
        DENY,
        "本小区以外的通行证（{community}签发）",
        "pass of another community (issued by {community})",
        "本小区以外的通行证",
        "pass of another community",
    ),
    "issuer_expired": _r(
        DENY, "签发密钥已过期", "the issuing key has expired", "签发密钥已过期", "issuing key expired"
    ),
    # -- the pass itself
    "revoked": _r(DENY, "通行证已作废：{reason}", "pass revoked: {reason}", "通行证已作废", "pass revoked"),
    "expired": _r(DENY, "通行证已于 {date} 过期", "pass expired on {date}", "通行证已过期", "pass expired"),
    "not_yet_valid": _r(DENY, "通行证 {date} 起生效", "pass valid from {date}", "通行证未生效", "pass not yet valid"),
    "too_long_valid": _r(
        DENY,
        "有效期超过此类通行证的上限 {days} 天",
        "valid for longer than this kind's maximum of {days} days",
        "有效期超过上限",
        "valid for too long",
    ),
    "wrong_checkpoint": _r(
        DENY, "此证不能在本卡口使用", "pass is not for this checkpoint", "非本卡口通行证", "not for this checkpoint"
    ),
    "outside_hours": _r(
        DENY, "不在允许时段 {hours}", "outside the allowed hours {hours}", "不在允许时段", "outside the allowed hours"
    ),
    # -- going out: nobody is kept inside by a pass that lapsed (only the quarantine list stops
    # someone going out); the exit is allowed and recorded with what was wrong
    "left_after_hours": _r(
        NOTE, "超时离开（允许时段 {hours}）", "left after hours (allowed {hours})", "超时离开", "left after hours"
    ),
    "left_expired": _r(
        NOTE,
        "通行证已过期（{date}），准予离开",
        "pass expired ({date}): let out",
        "通行证已过期（离开）",
        "pass expired (let out)",
    ),
    # A revoked pass is often a lost one: whoever holds it may not be its owner. Going out it is
    # checked by hand (who is it? is their household quarantined?), not a red wall.
    "revoked_exit": _r(
        REFER,
        "通行证已作废：{reason}，请核对身份后放行",
        "pass revoked: {reason}; check who it is by hand",
        "已作废通行证外出",
        "revoked pass going out",
    ),
    # -- one gate per compound: the same pass twice the same way is two people or a copy
    "already_out": _r(
        REFER,
        "已在外：此证上次已外出未返回，疑似一证多用，请核查",
        "already out: this pass went out and has not come back, check by hand",
        "已在外",
        "already out",
    ),
    "already_in": _r(
        REFER,
        "已在内：此证上次已进入未外出，疑似一证多用，请核查",
        "already in: this pass came in and has not gone out, check by hand",
        "已在内",
        "already in",
    ),
    "twice_out": _r(
        DENY,
        "已在外：此证上次已外出未返回，不能再次外出",
        "already out: this pass went out and has not come back",
        "已在外（拒绝）",
        "already out (refused)",
    ),
    "twice_in": _r(
        DENY,
        "已在内：此证上次已进入未外出，不能再次进入",
        "already in: this pass came in and has not gone out",
        "已在内（拒绝）",
        "already in (refused)",
    ),
    "outing_quota": _r(
        DENY,
        "本户外出次数已用完，下次可外出：{date}",
        "household outing quota used, next outing {date}",
        "本户外出次数已用完",
        "household outing quota used",
    ),
    # -- the office's lists
    "quarantined": _r(
        DENY, "居家隔离户，不得外出", "home quarantine: may not go out", "居家隔离户外出", "home quarantine"
    ),
    "list_stale": _r(
        REFER,
        "名单已 {hours} 小时未更新，请人工核查",
        "lists {hours} h old, check by hand",
        "名单过久未更新",
        "lists out of date",
    ),
    "quarantined_home": _r(
        NOTE,
        "居家隔离户，进入后不得外出",
        "home-quarantined household: in only",
        "居家隔离户进入",
        "home-quarantined household in",
    ),
    # -- a registration (visitor, courier, ...) to a household on the lists
    "quarantine_visit": _r(
        REFER,
        "探访居家隔离户，请核查",
        "visiting a home-quarantined household, check by hand",
        "探访居家隔离户",
        "visit to a home-quarantined household",
    ),
    "quarantine_visit_refused": _r(
        DENY,
        "居家隔离户，谢绝探访",
        "home-quarantined household: no visitors",
        "居家隔离户谢绝探访",
        "home-quarantined household, no visitors",
    ),
    "quarantined_person": _r(
        REFER,
        "登记人在居家隔离名单上，请核查",
        "this person is on the home-quarantine list, check by hand",
        "登记人在隔离名单",
        "person on the quarantine list",
    ),
    "watch": _r(NOTE, "重点关注：{note}", "watch list: {note}", "重点关注", "watch list"),
    # -- what the volunteer saw on the person's phone (models/health_checks.py); the office's
    # policy says which answer denies and which asks for a check by hand
    "health_code_deny": _r(
        DENY,
        "健康码{answer_zh}，不予通行",
        "health code {answer_en}: refused",
        "健康码（拒绝）",
        "health code (refused)",
    ),
    "health_code_refer": _r(
        REFER,
        "健康码{answer_zh}，请人工核查",
        "health code {answer_en}: check by hand",
        "健康码（核查）",
        "health code (check)",
    ),
    "nucleic_test_deny": _r(
        DENY,
        "核酸{answer_zh}，不予通行",
        "nucleic-acid test {answer_en}: refused",
        "核酸（拒绝）",
        "nucleic-acid test (refused)",
    ),
    "nucleic_test_refer": _r(
        REFER,
        "核酸{answer_zh}，请人工核查",
        "nucleic-acid test {answer_en}: check by hand",
        "核酸（核查）",
        "nucleic-acid test (check)",
    ),
    "itinerary_deny": _r(
        DENY,
        "行程卡{answer_zh}，不予通行",
        "itinerary card {answer_en}: refused",
        "行程卡（拒绝）",
        "itinerary (refused)",
    ),
    "itinerary_refer": _r(
        REFER,
        "行程卡{answer_zh}，请人工核查",
        "itinerary card {answer_en}: check by hand",
        "行程卡（核查）",
        "itinerary (check)",
    ),
    # -- added by the volunteer at the desk (recorded with the verdict's own reasons)
    "checked_by_hand": _r(
        NOTE,
        "人工核查后放行",
        "let through after a check by hand",
        "人工核查后放行",
        "let through after a check by hand",
    ),
    "overridden": _r(
        NOTE,
        "值班主管人工放行",
        "let through by the supervisor's override",
        "主管人工放行",
        "supervisor override",
    ),
    "signed_out": _r(
        NOTE, "已签退（从在内访客名单）", "signed out (from the list of visitors inside)", "签退", "signed out"
    ),
    "turned_back": _r(NOTE, "人工劝返", "turned back by the volunteer", "人工劝返", "turned back by the volunteer"),
    # -- counted by the reports for a record that carries no reason
    "unknown": _r(NOTE, "原因未记录", "no reason recorded", "原因未记录", "no reason recorded"),
}


# Why a supervisor let someone through that the rules would not (the override's short list;
# anything else is typed). Stored by code with the words, in the override's audit record.
OVERRIDE_REASONS: dict[str, Words] = {
    "forgot_pass": Words("住户忘带通行证", "resident forgot the pass"),
    "cold_reading": Words("额温偏低（34 度左右）无法测准", "forehead reads too low (about 34) to measure"),
}


def reason_label(code: str, lang: str = "zh") -> str:
    """The short label of a reason code for counts; a code this version does not know (a newer
    kiosk's) is shown as it is, never dropped."""
    info = REASONS.get(code)
    return info.label.text(lang) if info is not None else code


# The passages the street office must hear of at once (its alerts, sync/office/alerts.py; the
# desk sends such a record without waiting for the rest of a burst, sync/kiosk.py SyncLoop.wake):
# someone of a quarantined household, or on the person list, trying to go out, and a pass this
# street does not honour (revoked, forged, another community's, an untrusted issuer's).
ALERT_QUARANTINE_REASONS = frozenset({"quarantined"})
ALERT_PASS_REASONS = frozenset({"revoked", "bad_signature", "other_community", "issuer_revoked", "unknown_issuer"})


def alert_kind(direction: str | None, codes: list[str]) -> tuple[str, str] | None:
    """The alert a passage makes, as (kind, reason code), or None: `quarantined_out` for a
    quarantined person going out, `bad_pass` for a pass the street does not honour."""
    if direction == "out":
        for code in codes:
            if code in ALERT_QUARANTINE_REASONS:
                return "quarantined_out", code
    for code in codes:
        if code in ALERT_PASS_REASONS:
            return "bad_pass", code
    return None
