"""The console's pages with TestClient: login, roles, community scoping, CSRF, rate limit, logout,
idle timeout, the Today and Gates pages."""

from __future__ import annotations

import re

from sqlalchemy import select

from sync.office import tables as t
from tests.console.conftest import PASSWORDS
from tests.console.helpers import client, logged_in, login, login_token
from tests.sync.helpers import OFFICE_BASE, write_passages


def _kiosks(engine) -> dict[str, tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(t.kiosk.c.name, t.kiosk.c.community, t.kiosk.c.status)).all()
    return {r.name: (r.community, r.status) for r in rows}


# -- login -------------------------------------------------------------------------------------


def test_pages_need_a_login_and_the_api_keeps_its_own(console_office):
    c = client(console_office.app)
    for path in ("/", "/gates", "/today/rows"):
        answer = c.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")
    assert c.get("/", headers={"HX-Request": "true"}).headers["HX-Redirect"].startswith("/login")
    c2, _ = logged_in(console_office.app, "张敏")
    # a console session is no admin token: the admin API still asks for its bearer token
    assert c2.get("/v1/admin/audit").status_code == 401


def test_login_sets_a_strict_httponly_session_cookie_and_goes_to_next(console_office):
    c = client(console_office.app)
    token = login_token(c)
    answer = c.post("/login", data={"name": "张敏", "password": PASSWORDS["张敏"], "csrf": token, "next": "/gates"})
    assert answer.status_code == 303 and answer.headers["location"] == "/gates"
    cookie = answer.headers["set-cookie"].lower()
    assert "kakou_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert "secure" not in cookie  # plain http on the LAN: a Secure cookie would never come back
    assert c.get("/gates").status_code == 200


def test_over_https_the_cookie_is_secure(console_office):
    c = client(console_office.app, "https://office.test")
    answer = login(c, "张敏")
    assert answer.status_code == 303 and "secure" in answer.headers["set-cookie"].lower()


def test_next_never_leaves_the_office(console_office):
    c = client(console_office.app)
    for away in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        token = login_token(c)
        answer = c.post("/login", data={"name": "张敏", "password": PASSWORDS["张敏"], "csrf": token, "next": away})
        assert answer.headers["location"] == "/"


def test_a_wrong_password_or_a_login_without_its_form_token_is_refused(console_office):
    c = client(console_office.app)
    token = login_token(c)
    wrong = c.post("/login", data={"name": "张敏", "password": "not-it-at-all", "csrf": token})
    assert (
        wrong.status_code == 401
        and "账号或密码不对" in wrong.text
        and "kakou_session" not in wrong.headers.get("set-cookie", "")
    )
    # login CSRF: a page elsewhere posting the clerk's browser into an account of its choosing
    forged = client(console_office.app).post(
        "/login", data={"name": "张敏", "password": PASSWORDS["张敏"], "csrf": "guessed"}
    )
    assert forged.status_code == 403 and "kakou_session" not in forged.headers.get("set-cookie", "")


def test_login_tries_are_limited_per_address(tmp_path):
    from tests.console.conftest import add_accounts
    from tests.sync.conftest import open_office

    for handle in open_office(tmp_path, "sqlite", tries_per_address=3):
        add_accounts(handle.engine)
        c = client(handle.app)
        for name in ("张敏", "李社区", "王看"):  # a different account each time: the address is what counts
            token = login_token(c)
            assert c.post("/login", data={"name": name, "password": "wrong-wrong", "csrf": token}).status_code == 401
        token = login_token(c)
        held = c.post("/login", data={"name": "赵北", "password": PASSWORDS["赵北"], "csrf": token})
        assert held.status_code == 429 and "Retry-After" in held.headers and "登录失败太多次" in held.text
        assert "kakou_session" not in held.headers.get("set-cookie", "")


def test_many_addresses_guessing_one_account_are_held_too(tmp_path):
    import pytest

    from sync.office.console import auth
    from sync.office.problems import ApiProblem
    from tests.sync.conftest import open_office

    for handle in open_office(tmp_path, "sqlite", tries_per_address=3):
        office = handle.app.state.office
        for i, spelling in enumerate(("zhang", "ｚｈａｎｇ", " zhang ")):  # one account as check_login reads it
            auth.take_login_try(office, f"10.0.0.{i}", spelling)
        with pytest.raises(ApiProblem):
            auth.take_login_try(office, "10.0.0.99", "zhang")
        auth.take_login_try(office, "10.0.0.99", "李社区")  # that address still has its own tries


def test_logout_ends_the_session_and_needs_its_token(console_office):
    c, csrf = logged_in(console_office.app, "张敏")
    assert c.post("/logout").status_code == 403  # no token: a page elsewhere cannot log the clerk out
    assert c.get("/").status_code == 200
    cookie = c.cookies.get("kakou_session")
    answer = c.post("/logout", data={"csrf": csrf})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert c.get("/").status_code == 303
    c.cookies.set("kakou_session", cookie)  # the old cookie, kept by someone: it opens nothing
    assert c.get("/").status_code == 303


def test_an_idle_session_times_out(console_office):
    c, _ = logged_in(console_office.app, "张敏")
    with console_office.engine.begin() as conn:
        conn.execute(t.session.update().values(last_seen=t.session.c.last_seen - 31 * 60))  # default: 30 minutes
    answer = c.get("/gates")
    assert answer.status_code == 303 and "timed_out=1" in answer.headers["location"]
    assert "过久" in c.get(answer.headers["location"]).text or "太久" in c.get(answer.headers["location"]).text


def test_disabling_an_account_logs_it_out_at_once(console_office):
    from sync.office.users import disable_user

    c, _ = logged_in(console_office.app, "王看")
    disable_user(console_office.engine, "王看")
    assert c.get("/").status_code == 303


# -- words -------------------------------------------------------------------------------------


def test_chinese_by_default_english_as_a_switch_that_stays(console_office):
    c, _ = logged_in(console_office.app, "张敏")
    assert "今日" in c.get("/").text
    english = c.get("/?lang=en")
    assert "Reporting rate" in english.text and "报告率" not in english.text
    assert "Reporting rate" in c.get("/").text  # the cookie keeps it
    assert "报告率" in c.get("/?lang=zh").text


def test_what_a_user_typed_is_shown_as_text_never_as_markup(console_office):
    c, csrf = logged_in(console_office.app, "张敏")
    bad_day = c.get("/?day=<script>alert(1)</script>")
    assert bad_day.status_code == 200 and "<script>alert(1)" not in bad_day.text and "&lt;script&gt;" in bad_day.text
    c.post("/gates/enrol", data={"csrf": csrf, "name": "<img src=x onerror=alert(1)>", "community": "幸福里社区"})
    gates = c.get("/gates").text
    assert "<img src=x" not in gates and "&lt;img src=x" in gates


def test_pages_are_never_framed_cached_or_given_outside_scripts(console_office):
    c, _ = logged_in(console_office.app, "张敏")
    page = c.get("/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    scripts = re.findall(r'<script src="([^"]+)"', page.text)
    assert scripts and all(s.startswith("/static/") for s in scripts)


def test_the_pages_own_javascript_and_css_stay_under_100_kb(console_office):
    c, _ = logged_in(console_office.app, "张敏")
    page = c.get("/").text
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    sizes = {a: len(c.get(a).content) for a in assets}
    assert any(a.startswith("/static/htmx.min.js") for a in sizes) and any("console.css" in a for a in sizes)
    assert all(n > 0 for n in sizes.values()) and sum(sizes.values()) < 100 * 1024, sizes


# -- Today -------------------------------------------------------------------------------------


def _gate_that_reported(handle, tmp_path, n: int = 6):
    """A kiosk of 幸福里社区 (卡口1) that pushed `n` passages just now."""
    store, service = handle.add_kiosk(tmp_path / "k1")
    write_passages(store, n)
    assert service.run_once().pushed == n
    return store


def _rows(html: str) -> list[tuple[str, str]]:
    """(checkpoint, state) per Today row, in page order."""
    return re.findall(r'<tr class="s-(\w+)".*?<b>([^<]+)</b>', html, flags=re.S)


def test_today_shows_who_reported_and_puts_the_silent_on_top(console_office, tmp_path):
    _gate_that_reported(console_office, tmp_path)
    c, _ = logged_in(console_office.app, "张敏")
    page = c.get("/").text
    rows = [(name, state) for state, name in _rows(page)]
    assert ("卡口1", "reported") in rows and ("东门卡口", "silent") in rows and ("北门卡口", "silent") in rows
    assert [s for _n, s in rows] == sorted((s for _n, s in rows), key=["silent", "late", "zero", "reported"].index)
    assert "未报告" in page
    # 1 of 3 checkpoints reported (the two pending ones are silent)
    assert re.search(r"报告率</span><b>33%</b>", page)
    partial = c.get("/today/rows", headers={"HX-Request": "true"}).text
    assert "<html" not in partial and "卡口1" in partial


def test_another_day_is_its_own(console_office, tmp_path):
    _gate_that_reported(console_office, tmp_path)
    c, _ = logged_in(console_office.app, "张敏")
    page = c.get("/?day=2020-01-01").text
    rows = dict((name, state) for state, name in _rows(page))
    # its passages are today's: on that day it recorded nothing (report.day_report calls a kiosk
    # seen since then a zero report), and the two gates never seen are silent
    assert rows == {"卡口1": "zero", "东门卡口": "silent", "北门卡口": "silent"}
    assert 'value="2020-01-01"' in page


def test_a_community_account_sees_only_its_community(console_office, tmp_path):
    _gate_that_reported(console_office, tmp_path)
    north, _ = logged_in(console_office.app, "赵北")
    names = {name for _s, name in _rows(north.get("/").text)}
    assert names == {"北门卡口"}
    gates = north.get("/gates").text
    assert "北门卡口" in gates and "东门卡口" not in gates and "卡口1" not in gates and "幸福里社区" not in gates
    mine, _ = logged_in(console_office.app, "李社区")
    assert {name for _s, name in _rows(mine.get("/").text)} == {"东门卡口", "卡口1"}


# -- Gates -------------------------------------------------------------------------------------


def test_enrol_a_gate_whose_code_then_enrols_a_kiosk(console_office, tmp_path):
    from models.store import KioskStore
    from sync.kiosk import enroll

    c, csrf = logged_in(console_office.app, "张敏")
    answer = c.post("/gates/enrol", data={"csrf": csrf, "name": "南门卡口", "community": "幸福里社区"})
    assert answer.status_code == 200 and "<svg" in answer.text
    code = re.search(r'class="enrol-code">([A-Z0-9-]+)<', answer.text).group(1)
    assert _kiosks(console_office.engine)["南门卡口"] == ("幸福里社区", "pending")
    store = KioskStore.open(tmp_path / "south")
    store.set_up("南门卡口", "幸福里社区")
    try:
        enroll(store, OFFICE_BASE, code, client=console_office.client)
    finally:
        store.engine.dispose()
    assert _kiosks(console_office.engine)["南门卡口"][1] == "active"
    again = c.post("/gates/enrol", data={"csrf": csrf, "name": "南门卡口", "community": "幸福里社区"})
    assert again.status_code == 400 and "已有卡口" in again.text  # the domain's own words


def test_changes_need_the_sessions_csrf_token(console_office):
    c, csrf = logged_in(console_office.app, "张敏")
    form = {"name": "西门卡口", "community": "幸福里社区"}
    assert c.post("/gates/enrol", data=form).status_code == 403
    assert (
        c.post("/gates/enrol", data={**form, "csrf": csrf[:-1] + ("A" if csrf[-1] != "A" else "B")}).status_code == 403
    )
    _other, other_csrf = logged_in(console_office.app, "李社区")  # another session's token is not this one's
    assert c.post("/gates/enrol", data={**form, "csrf": other_csrf}).status_code == 403
    cross = c.post("/gates/enrol", data={**form, "csrf": csrf}, headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403
    assert "西门卡口" not in _kiosks(console_office.engine)
    ok = c.post("/gates/enrol", data=form, headers={"X-CSRF-Token": csrf, "HX-Request": "true"})  # htmx's way
    assert ok.status_code == 200 and "<html" not in ok.text
    assert "西门卡口" in _kiosks(console_office.engine)


def test_a_viewer_reads_but_cannot_change_anything(console_office):
    c, csrf = logged_in(console_office.app, "王看")
    gates = c.get("/gates")
    assert gates.status_code == 200 and "东门卡口" in gates.text and "北门卡口" in gates.text
    assert "/gates/enrol" not in gates.text and "/revoke" not in gates.text
    refused = c.post("/gates/enrol", data={"csrf": csrf, "name": "看门", "community": "幸福里社区"})
    assert refused.status_code == 403 and "只读账号不能修改" in refused.text
    kiosk_id = _kiosk_id(console_office.engine, "东门卡口")
    assert c.post(f"/gates/{kiosk_id}/revoke", data={"csrf": csrf}).status_code == 403
    assert _kiosks(console_office.engine)["东门卡口"][1] == "pending" and "看门" not in _kiosks(console_office.engine)


def _kiosk_id(engine, name: str) -> str:
    with engine.connect() as conn:
        return conn.execute(select(t.kiosk.c.kiosk_id).where(t.kiosk.c.name == name)).scalar_one()


def test_a_community_account_enrols_and_revokes_in_its_own_community_only(console_office):
    c, csrf = logged_in(console_office.app, "赵北")
    c.post("/gates/enrol", data={"csrf": csrf, "name": "北二门", "community": "幸福里社区"})
    assert _kiosks(console_office.engine)["北二门"][0] == "北苑社区"  # the form cannot name another community
    other = _kiosk_id(console_office.engine, "东门卡口")
    refused = c.post(f"/gates/{other}/revoke", data={"csrf": csrf})
    assert refused.status_code == 404 and "东门卡口" not in refused.text
    assert _kiosks(console_office.engine)["东门卡口"][1] == "pending"
    own = _kiosk_id(console_office.engine, "北门卡口")
    assert c.post(f"/gates/{own}/revoke", data={"csrf": csrf}).status_code == 200
    assert _kiosks(console_office.engine)["北门卡口"][1] == "revoked"


def test_a_revoked_kiosk_is_refused_at_its_next_push_and_the_revocation_is_audited(console_office, tmp_path):
    from sync.office import audit

    store = _gate_that_reported(console_office, tmp_path)
    c, csrf = logged_in(console_office.app, "张敏")
    kiosk_id = _kiosk_id(console_office.engine, "卡口1")
    answer = c.post(f"/gates/{kiosk_id}/revoke", data={"csrf": csrf}, headers={"HX-Request": "true"})
    assert answer.status_code == 200 and "已注销设备" in answer.text
    from sync.kiosk import SyncService

    write_passages(store, 2)
    result = SyncService(store, client=console_office.client).run_once()
    assert result.pushed == 0
    rows = audit.recent(console_office.engine, limit=5, action="revoke_kiosk")
    assert rows and rows[0]["admin"] == "console:张敏" and rows[0]["via"] == "console"


def test_a_bad_form_or_a_missing_page_gets_words_on_a_page_and_the_api_keeps_its_json(console_office):
    c, csrf = logged_in(console_office.app, "张敏")
    long = c.post("/gates/enrol", data={"csrf": csrf, "name": "门" * 500, "community": "幸福里社区"})
    assert long.status_code == 422 and "text/html" in long.headers["content-type"] and "太长" in long.text
    missing = c.get("/no-such-page")
    assert missing.status_code == 404 and "没有这个页面" in missing.text
    api = c.get("/v1/no-such-thing")
    assert api.status_code == 404 and api.headers["content-type"].startswith("application/json")
    assert c.post("/v1/enroll", content=b"{").headers["content-type"].startswith("application/json")
