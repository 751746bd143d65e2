"""The sync part of the duty desk's status bar says which kind of trouble the last round had,
in a few cells, and never a nonsense age for records made while the clock read 1970."""

from __future__ import annotations

import pytest

from models import clock
from models.facts import record_passage
from models.verdict import ALLOW, Verdict
from sync.kiosk import SyncError, SyncResult, SyncService
from tui.sync_words import short_words


def _service(store, error: SyncError | None, offline_since: float | None = None) -> SyncService:
    from sqlalchemy import text

    with store.writer.begin() as conn:  # what enrolment leaves behind, without an office
        conn.execute(text("UPDATE kiosk_state SET office_url = 'http://office.test', enrolled_at = 1"))
    service = SyncService(store)
    service.last_result = SyncResult(error=error)
    service.offline_since = offline_since
    return service


def sync_status_text(service: SyncService, lang: str) -> tuple[str, str]:
    """The status bar's words for what the service's last round left."""
    return short_words(service.status(), lang)


@pytest.mark.parametrize(
    "code, words_zh, words_en, level",
    [
        ("busy", "服务器忙", "office busy", "warn"),
        ("bad_answer", "上报出错", "sync error", "warn"),
        ("http_502", "上报出错", "sync error", "warn"),
        ("local_busy", "上报出错", "sync error", "warn"),
        ("tls_untrusted", "证书不可信", "cert untrusted", "error"),
    ],
)
def test_a_failed_round_says_which_trouble(store, code, words_zh, words_en, level):
    record_passage(store, "in", Verdict(ALLOW, ()))
    service = _service(store, SyncError("x", "x", code=code))
    text_zh, level_zh = sync_status_text(service, "zh")
    text_en, _ = sync_status_text(service, "en")
    assert words_zh in text_zh and words_en in text_en
    assert "待上报1" in text_zh  # the waiting count stays in view
    assert level_zh == level


def test_offline_says_since_when_not_an_error_word(store):
    service = _service(store, SyncError("x", "x", code="offline"), offline_since=1_800_000_000)
    text, level = sync_status_text(service, "zh")
    assert "离线" in text and "上报出错" not in text and level == "warn"


def test_a_good_round_says_synced(store):
    text, _ = sync_status_text(_service(store, None), "zh")
    assert "已同步" in text and "上报出错" not in text


def test_records_made_while_the_clock_read_1970_give_no_nonsense_age(store, monkeypatch):
    import time
    import types

    # A power cut, no RTC: the wall clock reads 1970-01-04 (what models/clock.py reads).
    monkeypatch.setattr(clock, "time", types.SimpleNamespace(time=lambda: 86400.0 * 3, monotonic_ns=time.monotonic_ns))
    record_passage(store, "in", Verdict(ALLOW, ()))
    monkeypatch.setattr(clock, "time", time)
    count, oldest = store.pending()
    assert count == 1 and oldest is None
    text, _ = sync_status_text(_service(store, SyncError("x", "x", code="bad_answer")), "zh")
    assert "待上报1" in text and "最早" not in text and "天" not in text
    record_passage(store, "in", Verdict(ALLOW, ()))  # clock right again: that one's age counts
    count, oldest = store.pending()
    assert count == 2 and oldest is not None


@pytest.mark.parametrize("words", ["short", "long"])
def test_offline_alone_is_yellow_even_with_nothing_waiting_and_fresh_lists(words):
    """A kiosk that lost the office, with nothing waiting and lists just pulled, is still not
    green: the volunteer should know new revocations cannot arrive."""
    from sync.kiosk import OFFLINE, SyncStatus
    from tui.sync_words import long_words

    now = 1_800_000_000.0
    status = SyncStatus(state=OFFLINE, trouble="offline", offline_since=now - 600, lists_updated_at=now - 60, at=now)
    say = short_words if words == "short" else long_words
    text, level = say(status, "en", now=now)
    assert "offline" in text and level == "warn"


def test_a_kiosk_not_enrolled_promises_no_upload(store):
    """Issue 14: before enrolment nothing is sent, so the bar does not say 待上报 / unsent (to be
    sent): the records are kept here."""
    from sync.kiosk import NOT_ENROLLED, SyncService

    record_passage(store, "in", Verdict(ALLOW, ()))
    status = SyncService(store).status()
    assert status.state == NOT_ENROLLED
    zh, _ = short_words(status, "zh")
    en, _ = short_words(status, "en")
    assert "未登记 本机存1条" in zh and "待上报" not in zh and "上报" not in zh
    assert "not enrolled, 1 kept here" in en and "unsent" not in en
