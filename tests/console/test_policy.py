"""The Policy page: every key explained with its value and history; a street account changes a
value as `kakou office policy set` does; the page says which gates apply the current version."""

from __future__ import annotations

import html
from dataclasses import fields

from models.policy import Policy
from sync.office import audit, policy_info
from sync.office.admin import set_policy
from sync.office.users import Account
from tests.console.helpers import logged_in
from tests.sync.helpers import write_passages

STREET = Account("张敏", "street")
NORTH = Account("赵北", "community", "北苑社区")


def test_every_policy_key_has_its_meaning_type_and_range_in_both_languages():
    assert set(policy_info.MEANINGS) == {f.name for f in fields(Policy)}  # a new key needs its words
    for key, meaning in policy_info.MEANINGS.items():
        assert meaning.zh and meaning.en and meaning.zh != meaning.en, key
    assert policy_info.key_range("fever_threshold").en == "37–38.5 °C"
    assert policy_info.key_type("fever_threshold").en == "number"
    assert policy_info.key_type("recheck_minutes").en == "whole number"
    assert policy_info.key_type("show_full_name").zh == "是/否"
    assert "3660" in policy_info.key_range("max_days").en
    assert policy_info.shown(True) == "true" and policy_info.shown(37.5) == "37.5"
    assert policy_info.shown({"visitor": 2, "resident": 366}) == '{"resident": 366, "visitor": 2}'


def test_the_checks_range_names_the_checks_and_kinds_a_clerk_can_type():
    from models.health_checks import CHECKS, coerce_health_checks, kind_codes

    said = policy_info.key_range("health_checks").en
    for check in CHECKS:  # every name the page offers is one `policy set` takes
        assert check in said and coerce_health_checks({"in": [check]})
    for kind in kind_codes():
        assert kind in said and coerce_health_checks({f"in.{kind}": "health_code"})
    assert "travel_card" not in said  # the itinerary check is `itinerary`


def test_describe_and_history_follow_set_policy(console_office):
    engine = console_office.engine
    before = {k["key"]: k for k in policy_info.describe(engine)["keys"]}
    assert before["fever_threshold"]["value"] == "37.3" and not before["fever_threshold"]["set"]
    assert policy_info.history(engine) == []
    set_policy(engine, {"fever_threshold": "37.5"}, by="console:张敏", via="console")
    set_policy(engine, {"max_days.visitor": "2"}, by="张主任")
    now = policy_info.describe(engine)
    keys = {k["key"]: k for k in now["keys"]}
    assert keys["fever_threshold"]["value"] == "37.5" and keys["fever_threshold"]["set"]
    assert '"visitor": 2' in keys["max_days"]["value"]
    newest, older = policy_info.history(engine)
    assert (older["by"], older["via"], older["values"]) == ("console:张敏", "console", {"fever_threshold": "37.5"})
    assert newest["by"] == "张主任" and newest["version"] == now["version"] > older["version"]


def test_the_gates_that_have_the_current_policy_and_those_that_do_not(console_office, tmp_path):
    store, service = console_office.add_kiosk(tmp_path / "k1")  # 幸福里社区
    write_passages(store, 1)
    service.run_once()
    engine = console_office.engine
    assert [g["checkpoint"] for g in policy_info.gates(engine, STREET)["have"]] == ["卡口1"]
    set_policy(engine, {"curfew_hour": "21"})
    gates = policy_info.gates(engine, STREET)
    assert gates["have"] == [] and [g["checkpoint"] for g in gates["behind"]] == ["卡口1"]
    assert policy_info.gates(engine, NORTH) == {"version": gates["version"], "have": [], "behind": []}
    service.run_once()  # pulls the new policy, then reports its versions at the next push
    write_passages(store, 1)
    service.run_once()
    assert [g["checkpoint"] for g in policy_info.gates(engine, STREET)["have"]] == ["卡口1"]
    assert store.policy().curfew_hour == 21


def test_a_street_account_changes_a_value_audited_under_its_name(console_office):
    c, csrf = logged_in(console_office.app, "张敏")
    page = c.get("/policy")
    assert page.status_code == 200
    assert "体温达到或超过此值即为发热" in page.text and "37–38.5 °C" in page.text and 'action="/policy"' in page.text
    done = c.post("/policy", data={"csrf": csrf, "key": "fever_threshold", "value": "37.6"})
    assert done.status_code == 200 and "fever_threshold=37.6" in done.text
    row = audit.recent(console_office.engine, limit=1, action="policy_set")[0]
    assert (
        row["admin"] == "console:张敏"
        and row["via"] == "console"
        and row["detail"]["values"] == {"fever_threshold": 37.6}
    )
    assert "console:张敏" in c.get("/policy").text  # the history names who
    entry = c.post("/policy", data={"csrf": csrf, "key": "max_days.visitor", "value": "3"})
    assert entry.status_code == 200 and '"visitor": 3' in html.unescape(entry.text)


def test_a_bad_value_is_refused_in_words_and_nothing_changes(console_office):
    c, csrf = logged_in(console_office.app, "张敏")
    for key, value, words in (
        ("fever_threshold", "42", "37-38.5"),
        ("recheck_minutes", "soon", "whole number"),
        ("no_such_key", "1", "不认识的设置"),
        ("max_days.dragon", "2", "unknown pass kind"),
    ):
        answer = c.post("/policy", data={"csrf": csrf, "key": key, "value": value})
        assert answer.status_code == 400 and words in answer.text, (key, answer.text[:300])
    assert audit.recent(console_office.engine, action="policy_set") == []
    assert policy_info.describe(console_office.engine)["version"] == 0


def test_community_and_viewer_accounts_only_read_and_csrf_is_checked(console_office):
    for name, status in (("李社区", 403), ("王看", 403)):
        c, csrf = logged_in(console_office.app, name)
        page = c.get("/policy")
        assert page.status_code == 200 and "fever_threshold" in page.text and 'action="/policy"' not in page.text
        refused = c.post("/policy", data={"csrf": csrf, "key": "fever_threshold", "value": "37.5"})
        assert refused.status_code == status
    street, _csrf = logged_in(console_office.app, "张敏")
    assert street.post("/policy", data={"key": "fever_threshold", "value": "37.5"}).status_code == 403
    assert street.post("/policy", data={"csrf": "forged", "key": "fever_threshold", "value": "37.5"}).status_code == 403
    assert audit.recent(console_office.engine, action="policy_set") == []
