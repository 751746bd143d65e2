"""The checks beside the pass at the desk: one key per required check after the temperature,
asked on the same line; nothing asked when nothing is required (issue 15)."""

from __future__ import annotations

import json

import pytest

from tests.tui.conftest import db_rows, log_in, screen_text, settle, token_of, type_keys, wait_for
from tui.app import DutyApp

UNIT = "3-2-501"


def _set_policy(data_dir, **values) -> None:
    from models.store import KioskStore

    store = KioskStore.open(data_dir)
    try:
        store.set_policy(**values)  # what a pull of the office's policy writes
    finally:
        store.close()


def _passages(data_dir):
    return db_rows(data_dir, "SELECT verdict, reasons, checks, temp_raw FROM passage WHERE unit_code = ?", UNIT)


def _outbox_checks(data_dir):
    rows = db_rows(data_dir, "SELECT payload FROM outbox WHERE kind = 'passage' ORDER BY seq")
    return [json.loads(p).get("checks") for (p,) in rows]


class KeyCounter:
    """Every key that reaches the app, counted from the scan on."""

    def __init__(self, app):
        self.n = 0
        original = app.post_message

        def post(message):
            from textual import events

            if isinstance(message, events.Key):
                self.n += 1
            return original(message)

        app.post_message = post


async def _scan_pass(pilot, data_dir):
    await type_keys(pilot, token_of(data_dir, UNIT) + "\r")
    await settle(pilot)


async def test_nothing_is_asked_when_the_policy_requires_nothing_four_keys_after_the_scan(desk_dir):
    # required of visitors going in and of residents going out: not of a resident going in
    _set_policy(desk_dir, health_checks={"in.visitor": ["health_code"], "out.resident": ["nucleic_test"]})
    app = DutyApp(desk_dir, lang="zh")
    async with app.run_test(size=(100, 30)) as pilot:
        await log_in(pilot)
        await _scan_pass(pilot, desk_dir)
        keys = KeyCounter(app)
        await type_keys(pilot, "365\r")
        await settle(pilot)
        assert keys.n == 4
        assert _passages(desk_dir) == [("allow", "[]", "", "365")]
        assert "健康码" not in screen_text(app)


@pytest.mark.parametrize(
    "key, word, verdict, reasons",
    [
        ("1", "绿码", "allow", []),
        ("3", "红码", "deny", ["health_code_deny"]),
    ],
)
async def test_one_key_answers_the_health_code_and_its_meaning_is_applied(desk_dir, key, word, verdict, reasons):
    _set_policy(desk_dir, health_checks={"in.resident": ["health_code"]})
    app = DutyApp(desk_dir, lang="zh")
    async with app.run_test(size=(100, 30)) as pilot:
        duty = await log_in(pilot)
        await _scan_pass(pilot, desk_dir)
        keys = KeyCounter(app)
        await type_keys(pilot, "365\r")
        await settle(pilot)
        text = screen_text(app)
        # asked on the scan line's prompt, in words, after the temperature; nothing saved yet
        assert "健康码：" in text and "1 绿码" in text and "2 黄码" in text and "3 红码" in text and "4 灰码" in text
        assert _passages(desk_dir) == []
        bells = app.bells
        await type_keys(pilot, key)  # one key, no Enter
        await settle(pilot)
        await wait_for(pilot, lambda: len(_passages(desk_dir)) == 1)
        assert keys.n == 5  # the routine four, and one for the check
        ((saved_verdict, saved_reasons, checks, temp),) = _passages(desk_dir)
        assert saved_verdict == verdict and json.loads(saved_reasons) == reasons
        assert json.loads(checks) == {"health_code": {"1": "green", "3": "red"}[key]}
        assert temp == "365"
        assert _outbox_checks(desk_dir)[-1] == checks  # the office gets what was seen
        text = screen_text(app)
        assert word in text
        if verdict == "deny":
            assert "健康码红码，不予通行" in text and app.bells > bells
        assert duty.waiting is None and duty.scan_line.value == ""


async def test_a_yellow_code_asks_for_a_check_by_hand_then_enter_lets_through_or_esc_turns_back(desk_dir):
    _set_policy(desk_dir, health_checks={"in.resident": ["health_code"]})
    app = DutyApp(desk_dir, lang="en")
    async with app.run_test(size=(100, 30)) as pilot:
        await log_in(pilot)
        await _scan_pass(pilot, desk_dir)
        await type_keys(pilot, "365\r2")
        await settle(pilot)
        text = screen_text(app)
        assert "health code yellow: check by hand" in text and "Enter lets through" in text
        assert _passages(desk_dir) == []
        await type_keys(pilot, "\r")
        await settle(pilot)
        await wait_for(pilot, lambda: len(_passages(desk_dir)) == 1)
        ((verdict, reasons, checks, _t),) = _passages(desk_dir)
        assert verdict == "allow" and json.loads(reasons) == ["health_code_refer", "checked_by_hand"]
        assert json.loads(checks) == {"health_code": "yellow"}


async def test_a_yellow_code_turned_back_with_esc_is_a_denial_with_what_was_seen(desk_dir):
    _set_policy(desk_dir, health_checks={"in.resident": ["health_code"]})
    app = DutyApp(desk_dir, lang="zh")
    async with app.run_test(size=(100, 30)) as pilot:
        await log_in(pilot)
        await _scan_pass(pilot, desk_dir)
        await type_keys(pilot, "365\r2")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        await wait_for(pilot, lambda: len(_passages(desk_dir)) == 1)
        ((verdict, reasons, checks, temp),) = _passages(desk_dir)
        assert verdict == "deny" and json.loads(reasons) == ["health_code_refer", "turned_back"]
        assert json.loads(checks) == {"health_code": "yellow"} and temp == "365"


async def test_two_checks_are_two_keys_and_a_wrong_key_is_words_not_an_answer(desk_dir):
    _set_policy(desk_dir, health_checks={"in.resident": ["health_code", "nucleic_test"]})
    app = DutyApp(desk_dir, lang="zh")
    async with app.run_test(size=(100, 30)) as pilot:
        await log_in(pilot)
        await _scan_pass(pilot, desk_dir)
        keys = KeyCounter(app)
        await type_keys(pilot, "365\r")
        await settle(pilot)
        await type_keys(pilot, "9")  # not an answer of the health code: typed on the line
        await settle(pilot)
        await type_keys(pilot, "\r")
        await settle(pilot)
        assert "请按 1-4 中的一个数字键" in screen_text(app)
        assert _passages(desk_dir) == []
        keys.n = 4  # the routine four; the wrong key and its Enter are not counted
        await type_keys(pilot, "1")
        await settle(pilot)
        text = screen_text(app)
        assert "核酸：" in text and "1 24小时内" in text and "5 超过7天/无" in text
        await type_keys(pilot, "2")
        await settle(pilot)
        await wait_for(pilot, lambda: len(_passages(desk_dir)) == 1)
        assert keys.n == 6  # four, and one per check
        ((verdict, _r, checks, _t),) = _passages(desk_dir)
        assert verdict == "allow" and json.loads(checks) == {"health_code": "green", "nucleic_test": "48h"}


async def test_with_no_temperature_required_the_check_is_asked_straight_after_the_scan(desk_dir):
    _set_policy(desk_dir, temp_required_in=False, health_checks={"in.resident": ["health_code"]})
    app = DutyApp(desk_dir, lang="zh")
    async with app.run_test(size=(100, 30)) as pilot:
        await log_in(pilot)
        await _scan_pass(pilot, desk_dir)
        assert "健康码：" in screen_text(app) and _passages(desk_dir) == []
        await type_keys(pilot, "1")
        await settle(pilot)
        await wait_for(pilot, lambda: len(_passages(desk_dir)) == 1)
        assert _passages(desk_dir)[0][:3] == ("allow", "[]", '{"health_code": "green"}')


async def test_a_red_code_ends_the_questions_one_key_and_refused(desk_dir):
    _set_policy(desk_dir, health_checks={"in.resident": ["health_code", "nucleic_test"]})
    app = DutyApp(desk_dir, lang="zh")
    async with app.run_test(size=(100, 30)) as pilot:
        duty = await log_in(pilot)
        await _scan_pass(pilot, desk_dir)
        await type_keys(pilot, "365\r3")
        await settle(pilot)
        await wait_for(pilot, lambda: len(_passages(desk_dir)) == 1)
        ((verdict, reasons, checks, _t),) = _passages(desk_dir)
        assert verdict == "deny" and json.loads(reasons) == ["health_code_deny"]
        assert json.loads(checks) == {"health_code": "red"}  # the test's age was not asked
        assert duty.waiting is None and "核酸：" not in screen_text(app)
        # the handover counts what was seen and the denial it caused
        await pilot.press("f9")
        await wait_for(pilot, lambda: "查验：健康码 红码 1" in screen_text(app))
        assert "健康码（拒绝） 1" in screen_text(app)


async def test_a_code_scanned_while_a_check_waits_is_that_scan_not_an_answer(desk_dir):
    # An ID number or a phone begins with 1: scanned key by key at a scanner's pace while the
    # health code is asked, its first digit must not answer "green" for the person in front.
    _set_policy(desk_dir, health_checks={"in.resident": ["health_code"]})
    app = DutyApp(desk_dir, lang="zh")
    async with app.run_test(size=(100, 30)) as pilot:
        duty = await log_in(pilot)
        await _scan_pass(pilot, desk_dir)
        await type_keys(pilot, "365\r")
        await settle(pilot)
        assert "健康码：" in screen_text(app)
        await type_keys(pilot, "13800138000\r", gap=0.01)
        await settle(pilot)
        assert _passages(desk_dir) == [], "no answer was given for the person in front"
        assert duty.waiting is None
        assert ("yellow", "上一位 (3-2-501) 未答完查验，未放行，没有记录") in duty.log_widget.entries
        # the phone was taken whole: the desk looked it up (a new person: the registration form)
        await wait_for(pilot, lambda: "138" in screen_text(app) and "登记" in screen_text(app))


async def test_an_answer_key_typed_by_hand_is_taken_alone_without_enter(desk_dir):
    _set_policy(desk_dir, health_checks={"in.resident": ["health_code"]})
    app = DutyApp(desk_dir, lang="zh")
    async with app.run_test(size=(100, 30)) as pilot:
        await log_in(pilot)
        await _scan_pass(pilot, desk_dir)
        await type_keys(pilot, "365\r")
        await settle(pilot)
        await type_keys(pilot, "2")
        await pilot.pause(0.3)  # a hand's pace: nothing follows the key
        await wait_for(pilot, lambda: "请人工核查后按回车放行" in screen_text(app))
        assert _passages(desk_dir) == []  # yellow asks for a check by hand first
