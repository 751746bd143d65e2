"""The checks beside the pass (健康码, 核酸, 行程卡): which the policy requires, what each answer
means, how a clerk sets them, and how the kiosk's report counts them (issue 15)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from models.health_checks import (
    CHECKS,
    DEFAULT_RULES,
    answer_by_key,
    apply_answers,
    checks_detail,
    count_checks,
    detail_checks,
    required_checks,
)
from models.kinds import PassKind
from models.policy import Policy, coerce
from models.verdict import Reason, Verdict

ALLOWED = Verdict("allow", ())


def policy(**values) -> Policy:
    return Policy.from_settings(values)


# -- what each answer means ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rules, answers, outcome, codes",
    [
        ({}, {"health_code": "green"}, "allow", []),
        ({}, {"health_code": "yellow"}, "refer", ["health_code_refer"]),
        ({}, {"health_code": "red"}, "deny", ["health_code_deny"]),
        ({}, {"health_code": "grey"}, "refer", ["health_code_refer"]),
        ({}, {"nucleic_test": "24h"}, "allow", []),
        ({}, {"nucleic_test": "48h"}, "allow", []),
        ({}, {"nucleic_test": "72h"}, "refer", ["nucleic_test_refer"]),  # older than 48 h: CHECK
        ({}, {"nucleic_test": "7d"}, "refer", ["nucleic_test_refer"]),
        ({}, {"nucleic_test": "none"}, "refer", ["nucleic_test_refer"]),
        ({}, {"itinerary": "starred"}, "refer", ["itinerary_refer"]),
        ({}, {"health_code": "red", "nucleic_test": "72h"}, "deny", ["health_code_deny", "nucleic_test_refer"]),
        # the office changes what an answer means week by week
        ({"health_code.yellow": "deny"}, {"health_code": "yellow"}, "deny", ["health_code_deny"]),
        ({"health_code.grey": "allow"}, {"health_code": "grey"}, "allow", []),
        ({"nucleic_test.72h": "deny"}, {"nucleic_test": "72h"}, "deny", ["nucleic_test_deny"]),
        ({"nucleic_test.48h": "refer"}, {"nucleic_test": "48h"}, "refer", ["nucleic_test_refer"]),
    ],
)
def test_each_answer_means_what_the_policy_says(rules, answers, outcome, codes):
    p = policy(health_rules=rules) if rules else Policy()
    v = apply_answers(p, ALLOWED, answers)
    assert v.outcome == outcome
    assert v.reason_codes() == codes


def test_a_red_code_turns_a_check_by_hand_into_a_denial_and_keeps_the_passes_own_reasons():
    stale = Verdict("refer", (Reason("list_stale", {"hours": 30}),))
    v = apply_answers(Policy(), stale, {"health_code": "red"})
    assert v.outcome == "deny" and v.reason_codes() == ["list_stale", "health_code_deny"]
    assert "健康码红码，不予通行" in v.reason_text("zh") and "health code red: refused" in v.reason_text("en")


def test_the_answer_keys_number_each_checks_answers_in_order():
    assert [answer_by_key("health_code", k).code for k in "1234"] == ["green", "yellow", "red", "grey"]
    assert [answer_by_key("nucleic_test", k).code for k in "12345"] == ["24h", "48h", "72h", "7d", "none"]
    for bad in ("0", "5", "12", "a", "", " "):
        assert answer_by_key("health_code", bad) is None, bad


# -- which checks are required ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "setting, direction, kind, wanted",
    [
        ({}, "in", PassKind.RESIDENT, []),  # nothing by default
        ({"in.visitor": "health_code,nucleic_test"}, "in", PassKind.VISITOR, ["health_code", "nucleic_test"]),
        ({"in.visitor": "health_code,nucleic_test"}, "out", PassKind.VISITOR, []),
        ({"in.visitor": "health_code,nucleic_test"}, "in", PassKind.RESIDENT, []),
        ({"in": "health_code"}, "in", PassKind.RETURNEE, ["health_code"]),  # every kind going in
        ({"in": "health_code"}, "in", PassKind.RESIDENT, ["health_code"]),
        ({"in.*": "nucleic_test", "in.resident": ""}, "in", PassKind.RESIDENT, []),
        ({"in.returnee": ["nucleic_test", "health_code", "itinerary"]}, "in", PassKind.RETURNEE, list(CHECKS)),
        ({"out.work": "health_code，nucleic_test"}, "out", PassKind.WORK, ["health_code", "nucleic_test"]),
        # people registered at the gate without a pass: their kind of registration
        ({"in.courier": "health_code"}, "in", "courier", ["health_code"]),
        ({"in.courier": "health_code"}, "in", "medical", []),
        ({"in": "itinerary"}, "in", "worker", ["itinerary"]),  # every kind: registrations too
        ({"in.visitor": "health_code"}, "in", "visitor", ["health_code"]),  # a pass's and a registration's
    ],
)
def test_required_checks_per_direction_and_kind(setting, direction, kind, wanted):
    p = policy(health_checks=setting)
    assert required_checks(p, direction, kind) == wanted


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("health_checks", {"sideways.visitor": "health_code"}, "direction must be in or out"),
        ("health_checks", {"in.spaceship": "health_code"}, "unknown kind 'spaceship'"),
        ("health_checks", {"in.visitor": "blood_type"}, "unknown check 'blood_type'"),
        ("health_checks", {"in.visitor": 3}, "expected a list of checks"),
        ("health_checks", "health_code", "expected {direction.kind: [checks]}"),
        ("health_rules", {"health_code.purple": "deny"}, "unknown answer 'purple'"),
        ("health_rules", {"blood.red": "deny"}, "unknown check 'blood'"),
        ("health_rules", {"health_code.red": "maybe"}, "expected allow, refer or deny"),
    ],
)
def test_bad_settings_are_refused_with_words(key, value, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        coerce(key, json.dumps(value) if not isinstance(value, str) else value)


def test_rules_set_one_at_a_time_keep_the_others():
    p = policy(health_rules={"health_code.yellow": "deny"})
    assert p.health_rules["health_code.yellow"] == "deny"
    assert p.health_rules["health_code.red"] == DEFAULT_RULES["health_code.red"] == "deny"


def _run(capsys, *argv) -> tuple[int, str, str]:
    from tui.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_kakou_office_policy_set_takes_and_checks_the_structured_keys(tmp_path, capsys):
    from sync.office.admin import office_policy
    from sync.office.db import open_office_engine

    od = ["--office-dir", str(tmp_path / "office")]
    assert _run(capsys, "office", "init", *od)[0] == 0
    code, _out, err = _run(capsys, "office", "policy", "set", "health_checks.in.visitor=health_code,nucleic_test", *od)
    assert code == 0, err
    assert _run(capsys, "office", "policy", "set", "health_checks.in.returnee=nucleic_test", *od)[0] == 0
    assert _run(capsys, "office", "policy", "set", "health_rules.health_code.yellow=deny", *od)[0] == 0
    for bad, words in (
        ("health_checks.in.spaceship=health_code", "spaceship"),
        ("health_checks.up.visitor=health_code", "in or out"),
        ("health_checks.in.visitor=blood_type", "blood_type"),
        ("health_rules.health_code.purple=deny", "purple"),
        ("health_rules.health_code.red=perhaps", "allow, refer or deny"),
    ):
        code, _out, err = _run(capsys, "office", "policy", "set", bad, *od)
        assert code == 2 and words in err and "Traceback" not in err, (bad, err)
    engine = open_office_engine(tmp_path / "office")
    try:
        with engine.connect() as conn:
            p = office_policy(conn)
    finally:
        engine.dispose()
    # each set kept the earlier ones; the refused ones changed nothing
    assert required_checks(p, "in", PassKind.VISITOR) == ["health_code", "nucleic_test"]
    assert required_checks(p, "in", PassKind.RETURNEE) == ["nucleic_test"]
    assert required_checks(p, "in", PassKind.RESIDENT) == []
    assert p.health_rules["health_code.yellow"] == "deny" and p.health_rules["health_code.red"] == "deny"


# -- the counts --------------------------------------------------------------------------------
def test_the_office_detail_round_trips_and_takes_only_known_answers():
    answers = {"health_code": "yellow", "nucleic_test": "none", "itinerary": "starred"}
    detail = checks_detail(answers)
    assert len(detail) <= 32 and detail_checks(detail) == answers
    # a kiosk's payload is its word: nothing unknown or long makes a counter of its own
    assert checks_detail({"health_code": "=HYPERLINK(x)" * 10, "nucleic_test": "48h"}) == "nt=48h"
    assert checks_detail("green") == "" and checks_detail(None) == ""
    assert count_checks([({"health_code": "red"}, 2), ({"health_code": "green"}, 3), ({"health_code": "red"}, 1)]) == {
        "health_code": {"green": 3, "red": 3}
    }


def test_the_kiosk_report_counts_what_was_seen_and_the_denials_it_caused(tmp_path):
    from models.facts import record_passage
    from models.report import day_report, format_report
    from models.store import KioskStore

    store = KioskStore.open(tmp_path / "k")
    try:
        store.set_up("东门", "幸福里社区")
        p = Policy()
        for answers in (
            {"health_code": "green"},
            {"health_code": "green", "nucleic_test": "48h"},
            {"health_code": "red"},
            {"health_code": "yellow", "nucleic_test": "72h"},
        ):
            v = apply_answers(p, ALLOWED, answers)
            outcome = "allow" if v.outcome == "refer" else None  # checked by hand and let through
            record_passage(store, "in", v, None, None, outcome=outcome, checks=answers)
        record_passage(store, "in", ALLOWED, None, None)  # nothing asked
        r = day_report(store, dt.date.today())
    finally:
        store.close()
    assert r["checks_seen"] == {
        "health_code": {"green": 2, "yellow": 1, "red": 1},
        "nucleic_test": {"48h": 1, "72h": 1},
    }
    assert r["denials_by_reason"] == {"health_code_deny": 1}
    assert r["passages"]["in"] == 4 and r["turned_back"] == 1
    zh = format_report(r, "zh")
    assert "查验：健康码 绿码 2，黄码 1，红码 1；核酸 48小时内 1，72小时内 1" in zh
    assert "健康码（拒绝） 1" in zh
    assert "Checks seen: health code green 2, yellow 1, red 1" in format_report(r, "en")
