"""sync.kiosk.SyncLoop, the one loop the desk, `kakou sync` and the reliability test run: when
rounds happen (timer, wake, backoff), when it ends, and the SyncStatus it hands out."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from models.facts import record_passage
from models.verdict import ALLOW, Verdict
from sync.kiosk import (
    NOT_ENROLLED,
    NOT_SYNCED,
    OFFLINE,
    REFUSED,
    SYNCED,
    TROUBLE,
    WAITING,
    Backoff,
    SyncError,
    SyncLoop,
    SyncResult,
)


def enrol_locally(store) -> None:
    with store.writer.begin() as conn:  # what enrolment leaves behind, without an office
        conn.execute(text("UPDATE kiosk_state SET office_url = 'http://office.test', enrolled_at = 1"))


class ScriptedService:
    """Stands in for SyncService: each round returns the next scripted result (the last one
    again once the script is used up) and notes when it ran."""

    def __init__(self, store, script):
        self.store = store
        self.script = list(script)
        self.times: list[float] = []
        self.last_result = None
        self.offline_since = None
        self.clock_skew = None
        self.ran = threading.Event()

    def run_once(self):
        self.times.append(time.monotonic())
        result = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if result.error is not None and result.error.code == "offline":
            self.offline_since = self.offline_since or time.time()
        elif result.ok:
            self.offline_since = None
        self.last_result = result
        self.ran.set()
        return result


def offline() -> SyncResult:
    return SyncResult(error=SyncError("连不上", "cannot reach", code="offline"), remaining=1)


def refused() -> SyncResult:
    return SyncResult(error=SyncError("已吊销", "revoked", code="kiosk_revoked", retryable=False), remaining=1)


def test_a_kiosk_that_is_not_enrolled_runs_no_round_and_says_so(store):
    made = []
    statuses = []
    loop = SyncLoop(store, make_service=made.append, on_status=statuses.append)
    result = loop.run(until_sent=True)
    assert made == [] and loop.rounds == 0
    assert result.error.code == "not_enrolled" and not result.error.retryable
    assert [s.state for s in statuses] == [NOT_ENROLLED, NOT_ENROLLED]  # at the start, after the "round"


def test_until_sent_retries_with_backoff_and_stops_once_drained(store):
    enrol_locally(store)
    services = []

    def make(s):
        services.append(ScriptedService(s, [offline(), offline(), SyncResult(remaining=3), SyncResult()]))
        return services[-1]

    retries = []
    loop = SyncLoop(store, make_service=make, interval=0.01, backoff=Backoff(0.01, 0.01))
    result = loop.run(until_sent=True, on_retry=lambda r, delay: retries.append((r.error.code, delay)))
    assert result.ok and result.remaining == 0
    assert len(services) == 1 and loop.rounds == 4  # records left after a good round: again at once
    assert [code for code, _d in retries] == ["offline", "offline"]
    assert all(0 <= delay <= 0.05 for _c, delay in retries)  # at most interval * 5
    assert loop.status.state == SYNCED and loop.backoff.attempt == 0


def test_a_failure_that_needs_a_person_ends_until_sent_and_once_is_one_round(store):
    enrol_locally(store)
    loop = SyncLoop(store, make_service=lambda s: ScriptedService(s, [refused()]))
    assert loop.run(until_sent=True).error.code == "kiosk_revoked" and loop.rounds == 1
    assert loop.status.state == REFUSED and loop.status.trouble == "kiosk_revoked"
    again = SyncLoop(store, make_service=lambda s: ScriptedService(s, [offline()]), backoff=Backoff(0.01, 0.01))
    assert again.run(until_sent=True, once=True).error.code == "offline" and again.rounds == 1


def test_the_deadline_ends_the_retrying(store):
    enrol_locally(store)
    loop = SyncLoop(store, make_service=lambda s: ScriptedService(s, [offline()]), interval=0.02)
    result = loop.run(until_sent=True, deadline=time.monotonic() + 0.3)
    assert result.error.code == "offline" and loop.rounds >= 2


def test_wake_brings_the_round_forward_after_the_gather_wait_and_stop_ends_it(store):
    enrol_locally(store)
    services = []

    def make(s):
        services.append(ScriptedService(s, [SyncResult()]))
        return services[-1]

    statuses = []
    loop = SyncLoop(store, make_service=make, interval=3600, gather=0.05, on_status=statuses.append)
    thread = loop.start()
    try:
        deadline = time.monotonic() + 10
        while not services and time.monotonic() < deadline:
            time.sleep(0.01)
        assert services and services[0].ran.wait(10)
        time.sleep(0.2)
        assert loop.rounds == 1, "the timer is an hour away"
        assert thread.name == "kakou-sync"
        woken = time.monotonic()
        loop.wake()
        deadline = time.monotonic() + 10
        while loop.rounds < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert loop.rounds == 2
        assert services[0].times[1] - woken >= 0.05, "the round waited for the rest of a burst"
    finally:
        loop.stop()
        loop.join(10)
    assert not thread.is_alive()
    assert statuses[0].state == NOT_SYNCED and statuses[-1].state == SYNCED and statuses[-1].rounds == 2


def test_a_service_that_raises_does_not_end_the_loop(store, caplog):
    enrol_locally(store)

    class Broken:
        last_result = None

        def __init__(self):
            self.calls = 0

        def run_once(self):
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("boom")
            self.last_result = SyncResult()
            return self.last_result

    broken = Broken()
    loop = SyncLoop(store, make_service=lambda _s: broken, interval=0.01, backoff=Backoff(0.01, 0.01))
    result = loop.run(until_sent=True)
    assert broken.calls == 2 and result.ok
    assert "boom" in caplog.text


@pytest.mark.parametrize(
    "result, state, trouble",
    [
        (SyncResult(), SYNCED, ""),
        (offline(), OFFLINE, "offline"),
        (SyncResult(error=SyncError("忙", "busy", code="busy")), TROUBLE, "busy"),
        (refused(), REFUSED, "kiosk_revoked"),
    ],
)
def test_the_status_says_the_state_and_the_kiosks_own_count(store, result, state, trouble):
    enrol_locally(store)
    loop = SyncLoop(store, make_service=lambda s: ScriptedService(s, [result]))
    loop.run(once=True)
    status = loop.status
    assert (status.state, status.trouble, status.waiting) == (state, trouble, 0)
    record_passage(store, "in", Verdict(ALLOW, ()))
    status = loop.publish()
    assert status.waiting == 1 and status.oldest is not None
    assert status.state == (WAITING if state == SYNCED else state)


def test_an_urgent_wake_does_not_wait_for_the_rest_of_a_burst(store):
    """An alert-worthy record (models.reasons.alert_kind) is sent at once: an urgent wake skips
    the gather wait, also when it comes during the wait of an ordinary wake."""
    enrol_locally(store)
    services = []

    def make(s):
        services.append(ScriptedService(s, [SyncResult()]))
        return services[-1]

    loop = SyncLoop(store, make_service=make, interval=3600, gather=3600)
    thread = loop.start()
    try:
        deadline = time.monotonic() + 10
        while loop.rounds < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert loop.rounds == 1
        loop.wake()  # an ordinary record: the round waits (an hour here) for more
        time.sleep(0.3)
        assert loop.rounds == 1
        loop.wake(urgent=True)  # a quarantined person going out: now
        deadline = time.monotonic() + 10
        while loop.rounds < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert loop.rounds == 2
        loop.wake(urgent=True)
        deadline = time.monotonic() + 10
        while loop.rounds < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert loop.rounds == 3
    finally:
        loop.stop()
        loop.join(10)
    assert not thread.is_alive()
