"""The Alerts page (TestClient): the list, the stream with replay, acknowledge with CSRF, scoping."""

from __future__ import annotations

import re
import time

import pytest

from sync.office import alerts
from sync.office.console import pages
from sync.office.users import Account
from tests.console.helpers import logged_in
from tests.console.test_alerts import passage

STREET = Account("张敏", "street")


@pytest.fixture
def short_streams(monkeypatch):
    monkeypatch.setattr(pages, "STREAM_LIFETIME_S", 1.0)


def _events(text: str) -> list[tuple[int, str]]:
    found = []
    for block in text.split("\n\n"):
        lines = block.splitlines()
        ids = [int(x[4:]) for x in lines if x.startswith("id: ")]
        data = "\n".join(x[6:] for x in lines if x.startswith("data: "))
        if ids:
            found.append((ids[0], data))
    return found


def _pushed_alert(office, tmp_path, reasons=("quarantined",)):
    store, service = office.add_kiosk(tmp_path / "k1")
    passage(store, "out", "deny", list(reasons), unit_code="3-2-502")
    assert service.run_once().pushed == 1
    return store, service


def test_the_alerts_page_lists_a_quarantined_person_going_out_with_its_gate_and_words(console_office, tmp_path):
    _pushed_alert(console_office, tmp_path)
    c, _csrf = logged_in(console_office.app, "张敏")
    page = c.get("/alerts")
    assert page.status_code == 200
    assert "卡口1" in page.text and "居家隔离户外出" in page.text  # the reasons table's label
    assert 'action="/alerts/' in page.text  # a street clerk may acknowledge
    en = c.get("/alerts?lang=en")
    assert "home quarantine" in en.text
    viewer, _ = logged_in(console_office.app, "王看")
    seen = viewer.get("/alerts")
    assert "居家隔离户外出" in seen.text and 'action="/alerts/' not in seen.text  # reads, no form
    north, _ = logged_in(console_office.app, "赵北")
    assert "居家隔离户外出" not in north.get("/alerts").text  # another community's gate
    assert "居家隔离户外出" not in north.get("/alerts/rows").text


def test_the_stream_sends_what_the_page_has_not_got_and_replays_after_last_event_id(
    console_office, tmp_path, short_streams
):
    store, service = _pushed_alert(console_office, tmp_path)
    passage(store, "in", "deny", ["bad_signature"])
    service.run_once()
    ids = sorted(a["id"] for a in alerts.latest(console_office.engine, STREET))
    c, _ = logged_in(console_office.app, "张敏")
    answer = c.get("/alerts/stream?after=0")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
    events = _events(answer.text)
    assert [i for i, _ in events] == ids  # oldest first, each with its id
    assert "居家隔离户外出" in events[0][1] and "签名不符" in events[1][1]
    # a reconnecting page sends the last id it had: it gets only what came after
    again = _events(c.get("/alerts/stream", headers={"Last-Event-ID": str(ids[0])}).text)
    assert [i for i, _ in again] == ids[1:]
    assert _events(c.get(f"/alerts/stream?after={ids[1]}").text) == []
    north, _ = logged_in(console_office.app, "赵北")
    assert _events(north.get("/alerts/stream?after=0").text) == []  # not its community's
    # the polling fallback answers the same
    rows = c.get(f"/alerts/rows?after={ids[0]}").text
    assert f'id="alert-{ids[1]}"' in rows and f'id="alert-{ids[0]}"' not in rows


def test_the_stream_needs_a_login(console_office):
    from tests.console.helpers import client

    anonymous = client(console_office.app)
    answer = anonymous.get("/alerts/stream")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_acknowledge_needs_the_sessions_csrf_token_and_keeps_who_when_and_the_note(console_office, tmp_path):
    _pushed_alert(console_office, tmp_path)
    (alert,) = alerts.latest(console_office.engine, STREET)
    c, csrf = logged_in(console_office.app, "李社区")
    other, other_csrf = logged_in(console_office.app, "张敏")
    for headers, data in (
        ({}, {"note": "x"}),
        ({}, {"note": "x", "csrf": "forged"}),
        ({}, {"note": "x", "csrf": other_csrf}),  # another session's token
        ({"Origin": "https://evil.example"}, {"note": "x", "csrf": csrf}),
    ):
        assert c.post(f"/alerts/{alert['id']}/ack", data=data, headers=headers).status_code == 403
    assert alerts.open_count(console_office.engine, STREET) == 1  # nothing done
    done = c.post(
        f"/alerts/{alert['id']}/ack", data={"note": "已通知楼长", "csrf": csrf}, headers={"HX-Request": "true"}
    )
    assert done.status_code == 200 and "已通知楼长" in done.text and "李社区" in done.text
    assert "<html" not in done.text  # just the row, for htmx to swap in
    twice = other.post(f"/alerts/{alert['id']}/ack", data={"note": "again", "csrf": other_csrf})
    assert "这条警报已确认过" in twice.text
    (after,) = alerts.latest(console_office.engine, STREET)
    assert after["ack_by"] == "李社区" and after["ack_note"] == "已通知楼长"


def test_a_viewer_or_another_community_cannot_acknowledge(console_office, tmp_path):
    _pushed_alert(console_office, tmp_path)
    (alert,) = alerts.latest(console_office.engine, STREET)
    viewer, vcsrf = logged_in(console_office.app, "王看")
    assert viewer.post(f"/alerts/{alert['id']}/ack", data={"csrf": vcsrf}).status_code == 403
    north, ncsrf = logged_in(console_office.app, "赵北")
    answer = north.post(f"/alerts/{alert['id']}/ack", data={"csrf": ncsrf, "note": "mine?"})
    assert answer.status_code == 404 and "卡口1" not in answer.text
    assert alerts.open_count(console_office.engine, STREET) == 1


def test_the_page_has_no_inline_script(console_office):
    c, _ = logged_in(console_office.app, "张敏")
    page = c.get("/alerts").text
    from sync.office.console.pages import ASSET_VERSION

    assert re.findall(r"<script[^>]*>", page) == [
        f'<script src="/static/htmx.min.js?v={ASSET_VERSION}" defer>',
        f'<script src="/static/alerts.js?v={ASSET_VERSION}" defer>',
    ]


# Records of different gates a few milliseconds apart may swap order at the office: each gate's
# times are anchored to the office's clock at its push, to within the push's latency. Spaced.
SPACING_S = 0.3


def _withdrawn_pass_twice(office, tmp_path) -> dict:
    """A pass out at 卡口1 and 卡口2; then 卡口3's late push brings its in between: withdrawn."""
    east, east_sync = office.add_kiosk(tmp_path / "k1")
    west, west_sync = office.add_kiosk(tmp_path / "k2")
    south, south_sync = office.add_kiosk(tmp_path / "k3")
    passage(east, "out", "allow", [], pass_id="p" * 32)
    east_sync.run_once()
    time.sleep(SPACING_S)
    passage(south, "in", "allow", [], pass_id="p" * 32)
    time.sleep(SPACING_S)
    passage(west, "out", "allow", [], pass_id="p" * 32)
    west_sync.run_once()
    return {"sync": south_sync}


def test_the_alerts_page_shows_withdrawn_alerts_apart_with_the_reason(console_office, tmp_path):
    late = _withdrawn_pass_twice(console_office, tmp_path)
    c, _ = logged_in(console_office.app, "张敏")
    before = c.get("/alerts").text
    standing, _, _ = before.partition('<section id="withdrawn"')
    assert "同一通行证连续两次外出" in standing and 'class="alert open kind-pass_twice"' in standing
    since = re.search(r'data-since="([0-9.]+)"', before).group(1)
    late["sync"].run_once()
    page = c.get("/alerts").text
    standing, _, withdrawn = page.partition('<section id="withdrawn"')
    assert "kind-pass_twice" not in standing and "没有警报" in standing
    assert 'class="alert withdrawn kind-pass_twice"' in withdrawn and "已撤回的警报" in withdrawn
    assert "系统撤回" in withdrawn and "卡口3" in withdrawn and "两次外出之间进来过" in withdrawn
    assert 'action="/alerts/' not in withdrawn  # nothing to acknowledge
    assert "the pass came in between the two outs" in c.get("/alerts?lang=en").text
    # an open page polling since it was drawn gets the row again, withdrawn
    rows = c.get(f"/alerts/rows?after=10000&since={since}").text
    assert 'class="alert withdrawn kind-pass_twice"' in rows
    assert "kind-pass_twice" not in c.get("/alerts/rows?after=10000").text  # no since: new alerts only


def test_the_stream_sends_a_withdrawal_to_an_open_page_without_an_event_id(console_office, tmp_path, short_streams):
    late = _withdrawn_pass_twice(console_office, tmp_path)
    c, _ = logged_in(console_office.app, "张敏")
    page = c.get("/alerts").text
    since = re.search(r'data-since="([0-9.]+)"', page).group(1)
    newest = int(re.search(r'data-after="(\d+)"', page).group(1))
    assert newest and "data: " not in c.get(f"/alerts/stream?after={newest}&since={since}").text
    late["sync"].run_once()
    answer = c.get(f"/alerts/stream?after={newest}&since={since}").text
    blocks = [b for b in answer.split("\n\n") if "data: " in b]
    assert len(blocks) == 1 and "id: " not in blocks[0]  # Last-Event-ID stays the newest alert's
    assert 'class="alert withdrawn kind-pass_twice"' in blocks[0] and "系统撤回" in blocks[0]
    north, _ = logged_in(console_office.app, "赵北")
    assert "data: " not in north.get(f"/alerts/stream?after=0&since={since}").text  # not its community's
