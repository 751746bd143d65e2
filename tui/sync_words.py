"""The one place a sync.kiosk.SyncStatus becomes words: the status bar's short ones (they
fit 80 columns beside the checkpoint, volunteer and clock) and `kakou sync`'s long ones.

Each returns (text, level); level is "ok", "warn" or "error" (the status bar's colour)."""

from __future__ import annotations

import time

from rich.cells import cell_len

from models.hwm import lost_words
from sync.kiosk import NOT_ENROLLED, NOT_SYNCED, OFFLINE, REFUSED, TROUBLE, SyncStatus
from tui.strings import short_age, t

# Old waiting records turn the bar's sync part yellow before the first round (after a round
# any waiting record does): a kiosk that is offline by design says so only when it matters.
LOCAL_WARN_AFTER_S = 3600
# The trouble of a failed round, in a few cells; codes not named here say "sync error".
TROUBLE_WORDS = {
    "busy": "duty.sync.busy",
    "tls_untrusted": "duty.sync.tls",
    "crashed": "sync.failed",
    "unsigned_answer": "duty.sync.unsigned",
}
# A person should look: red, not yellow (an unsigned answer: someone may be posing as the office).
TROUBLE_ERRORS = ("tls_untrusted", "crashed", "unsigned_answer")


def _clock_hm(ts: float) -> str:
    return time.strftime("%H:%M", time.localtime(ts))


def _problem_words(status: SyncStatus, lang: str) -> str:
    if status.problem is not None:
        return status.problem.text(lang)
    return t(lang, "duty.sync.trouble")


def _round_part(status: SyncStatus, lang: str, offline_key: str) -> tuple[str, str] | None:
    """What the last round ran into (offline since, or the kind of trouble) and its level; None
    when it ran into nothing. Shared by the short and the long words."""
    if status.state == OFFLINE and status.offline_since is not None:
        return t(lang, offline_key, since=_clock_hm(status.offline_since)), "warn"
    if status.state == TROUBLE:
        level = "error" if status.trouble in TROUBLE_ERRORS else "warn"
        return t(lang, TROUBLE_WORDS.get(status.trouble, "duty.sync.trouble")), level
    return None


def short_words(
    status: SyncStatus | None, lang: str, now: float | None = None, width: int | None = None
) -> tuple[str, str]:
    """The sync part of the duty desk's status bar.

    A failure that needs a person is said in sync's own words; otherwise: offline since, or
    which kind of trouble the last round had; records waiting and the oldest's age; how old
    the lists are. The clock skew is not repeated here: the clock part of the bar says it.

    `width`: the cells the bar has left for it (80 columns, offline, beside a long checkpoint
    name). What matters least gives way first: the oldest record's age, then the lists' age
    while they are fresh; the first part (offline, trouble, or the waiting count) stays."""
    variants, level = _short_variants(status, lang, now)
    if width is not None:
        return next((text for text in variants if cell_len(text) <= width), variants[-1]), level
    return variants[0], level


def _short_variants(status: SyncStatus | None, lang: str, now: float | None) -> tuple[list[str], str]:
    """The status bar's sync words, longest first (see `short_words`), and their level."""
    if status is None:
        return [""], "ok"
    now = time.time() if now is None else now
    if status.state == REFUSED:
        return [_problem_words(status, lang)], "error"
    first: list[str] = []
    level = "ok"
    local = status.state in (NOT_ENROLLED, NOT_SYNCED)  # no round to speak of: the kiosk's own count
    round_part = _round_part(status, lang, "duty.sync.offline")
    if round_part is not None:
        first.append(round_part[0])
        level = round_part[1]
    waiting_long = waiting_short = ""
    if status.state == NOT_ENROLLED and status.waiting > 0:
        # Nothing is sent before an enrolment: the records are kept here, not "waiting to be sent".
        waiting_long = t(lang, "duty.sync.kept_here", count=status.waiting)
        waiting_short = t(lang, "duty.sync.kept_here_short", count=status.waiting)
        if status.oldest and now - status.oldest > LOCAL_WARN_AFTER_S:
            level = "warn"
    elif status.waiting > 0:
        waiting_short = t(lang, "duty.sync.pending_count", count=status.waiting)
        # Only records made while the clock was not set: their age is unknown.
        waiting_long = (
            t(lang, "duty.sync.pending", count=status.waiting, age=short_age(lang, now - status.oldest))
            if status.oldest
            else waiting_short
        )
        if level == "ok" and (not local or (status.oldest and now - status.oldest > LOCAL_WARN_AFTER_S)):
            level = "warn"
    elif status.waiting == 0 and (local or status.problem is None):
        waiting_long = waiting_short = t(lang, "duty.sync.synced")
    if not local and level == "ok" and (status.clock_wrong or status.lists_stale):
        level = "warn"
    if status.lost:  # records lost or damaged: a person must look (models/hwm.py has the sentence)
        first.insert(0, t(lang, "duty.sync.lost", count=sum(r.count for r in status.lost)))
        level = "error"
    lists = (
        t(lang, "duty.sync.lists_local")
        if status.lists_updated_at is None
        else t(lang, "duty.sync.lists_age", age=short_age(lang, now - status.lists_updated_at))
    )
    keep_lists = bool(status.lists_stale)  # stale lists are news; fresh ones give way

    def join(*parts: str) -> str:
        return "  ".join(p for p in parts if p)

    variants = [
        join(*first, waiting_long, lists),
        join(*first, waiting_short, lists),
        join(*first, waiting_short, lists if keep_lists else ""),
        join(*first) or waiting_short or lists,
    ]
    return variants, level


def long_words(status: SyncStatus, lang: str, now: float | None = None) -> tuple[str, str]:
    """The sync state in a sentence (`kakou sync` prints it)."""
    now = time.time() if now is None else now
    if status.state == NOT_ENROLLED:
        return t(lang, "sync.long.not_enrolled"), "warn"
    if status.state == REFUSED:
        return _problem_words(status, lang), "error"
    parts: list[str] = []
    level = "ok"
    round_part = _round_part(status, lang, "sync.long.offline")
    if round_part is not None:
        parts.append(round_part[0])
        level = round_part[1]
    if status.waiting > 0:
        if status.oldest:
            minutes = int(max(0, now - status.oldest) // 60)
            parts.append(t(lang, "sync.long.pending", count=status.waiting, minutes=minutes))
        else:
            parts.append(t(lang, "sync.long.pending_count", count=status.waiting))
        level = level if level == "error" else "warn"
    elif status.state != NOT_SYNCED and status.problem is None and status.waiting == 0:
        parts.append(t(lang, "sync.long.synced"))
    for wrong, key in ((status.clock_wrong, "sync.long.clock"), (status.lists_stale, "sync.long.stale")):
        if wrong:
            parts.append(t(lang, key))
            level = level if level == "error" else "warn"
    if not parts:
        parts.append(t(lang, "sync.long.never"))
    lost = lost_words(list(status.lost))
    if lost is not None:
        return t(lang, "sync.long.sep").join(parts) + "\n" + lost.text(lang), "error"
    return t(lang, "sync.long.sep").join(parts), level


def clock_off_words(status: SyncStatus, lang: str) -> str:
    """One line when the kiosk's clock is far from the office's ("" when it is not)."""
    if not status.clock_wrong or status.clock_skew is None:
        return ""
    return t(lang, "sync.long.clock_off", skew=status.clock_skew)
