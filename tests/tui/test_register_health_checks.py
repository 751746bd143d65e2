"""The checks beside the pass on the registration form (F2): asked of a person registered
without a pass when the policy requires them of that kind, one key each, what they mean applied
(issue 15)."""

from __future__ import annotations

import json

from tests.tui.conftest import db_rows, log_in, on_screen, screen_text, settle, type_keys, wait_for
from tui.app import DutyApp

# visitor, no name, phone, no ID, from, unit, reason, temperature
VISITOR = ["1", "", "13800138000", "", "上海", "3-2-501", "探亲", "365"]


def _set_policy(data_dir, **values) -> None:
    from models.store import KioskStore

    store = KioskStore.open(data_dir)
    try:
        store.set_policy(**values)
    finally:
        store.close()


async def _open_form(pilot):
    await pilot.press("f2")
    await wait_for(pilot, on_screen(pilot, "RegisterScreen"))
    await wait_for(pilot, lambda: getattr(pilot.app.focused, "id", "") == "input-kind")
    return pilot.app.screen


async def _fill(pilot, values):
    for v in values:
        await type_keys(pilot, v + "\r")
        await pilot.pause(0.02)


async def _visitor_filled_in(pilot):
    """Logged in, F2, a visitor's fields filled down to the temperature (Enter on each)."""
    await log_in(pilot)
    form = await _open_form(pilot)
    await _fill(pilot, VISITOR)
    return form


def _registrations(data_dir):
    return db_rows(data_dir, "SELECT kind, to_unit FROM registration")


def _passages(data_dir):
    return db_rows(data_dir, "SELECT verdict, reasons, checks, subject FROM passage WHERE subject = 'registration'")


async def test_a_required_check_is_one_key_after_the_temperature_and_is_kept(desk_dir):
    _set_policy(desk_dir, health_checks={"in.visitor": ["health_code"]})
    app = DutyApp(desk_dir, lang="zh")
    async with app.run_test(size=(100, 30)) as pilot:
        form = await _visitor_filled_in(pilot)
        # Enter on the temperature moved on to the check: it is asked, its answers numbered
        assert form.is_attached and getattr(app.focused, "id", "") == "input-check_health_code"
        field = form.query_one("#field-check_health_code")
        assert field.display and field.label == "健康码 [1]绿码 [2]黄码 [3]红码 [4]灰码/打不开"
        await wait_for(pilot, lambda: "健康码 [1]绿码" in screen_text(app))  # on the screen, in view
        assert _registrations(desk_dir) == []
        await type_keys(pilot, "1")  # one key, no Enter: saved
        await wait_for(pilot, on_screen(pilot, "DutyScreen"))
        await settle(pilot)
        assert _registrations(desk_dir) == [("visitor", "3-2-501")]
        ((verdict, reasons, checks, _s),) = _passages(desk_dir)
        assert verdict == "allow" and json.loads(reasons) == [] and json.loads(checks) == {"health_code": "green"}
        # what was seen is counted at the handover
        await pilot.press("f9")
        await wait_for(pilot, lambda: "查验：健康码 绿码 1" in screen_text(app))


async def test_nothing_is_asked_of_a_kind_the_policy_does_not_name(desk_dir):
    _set_policy(desk_dir, health_checks={"in.courier": ["health_code"]})
    app = DutyApp(desk_dir, lang="zh")
    async with app.run_test(size=(100, 30)) as pilot:
        await log_in(pilot)
        await _open_form(pilot)
        assert "健康码 [1]绿码" not in screen_text(app)
        await _fill(pilot, VISITOR)  # a visitor: the last Enter saves
        await wait_for(pilot, on_screen(pilot, "DutyScreen"))
        await settle(pilot)
        assert _registrations(desk_dir) == [("visitor", "3-2-501")] and _passages(desk_dir) == []


async def test_the_check_appears_when_the_kind_is_changed_to_one_that_needs_it(desk_dir):
    _set_policy(desk_dir, health_checks={"in.courier": ["health_code"]})
    app = DutyApp(desk_dir, lang="en")
    async with app.run_test(size=(100, 30)) as pilot:
        await log_in(pilot)
        form = await _open_form(pilot)
        field = form.query_one("#field-check_health_code")
        assert not field.display
        await _fill(pilot, ["3"])  # courier
        await wait_for(pilot, lambda: field.display)
        assert field.label == "health code [1]green [2]yellow [3]red [4]grey / won't load"
        form.query_one("#input-kind").value = "1"  # back to a visitor: not asked
        await wait_for(pilot, lambda: not field.display)


async def test_a_red_code_refuses_the_registration_and_records_what_was_seen(desk_dir):
    _set_policy(desk_dir, health_checks={"in.visitor": ["health_code", "nucleic_test"]})
    app = DutyApp(desk_dir, lang="zh")
    async with app.run_test(size=(100, 30)) as pilot:
        await _visitor_filled_in(pilot)
        await type_keys(pilot, "3")  # red: on to the next check
        await pilot.pause(0.05)
        await type_keys(pilot, "1")  # test within 24 h: the last field, saved
        await wait_for(pilot, on_screen(pilot, "DutyScreen"))
        await settle(pilot)
        assert _registrations(desk_dir) == [], "refused: not registered in"
        ((verdict, reasons, checks, _s),) = _passages(desk_dir)
        assert verdict == "deny" and json.loads(reasons) == ["health_code_deny"]
        assert json.loads(checks) == {"health_code": "red", "nucleic_test": "24h"}
        assert "不予通行" in screen_text(app) or "健康码红码" in screen_text(app)


async def test_a_yellow_code_asks_for_a_check_by_hand_then_enter_saves(desk_dir):
    _set_policy(desk_dir, health_checks={"in.visitor": ["health_code"]})
    app = DutyApp(desk_dir, lang="zh")
    async with app.run_test(size=(100, 30)) as pilot:
        await _visitor_filled_in(pilot)
        await type_keys(pilot, "2")
        await wait_for(pilot, lambda: "核查后再按回车保存" in screen_text(app))
        assert _registrations(desk_dir) == []
        await type_keys(pilot, "\r")
        await wait_for(pilot, on_screen(pilot, "DutyScreen"))
        await settle(pilot)
        assert _registrations(desk_dir) == [("visitor", "3-2-501")]
        ((verdict, reasons, checks, _s),) = _passages(desk_dir)
        assert verdict == "allow" and json.loads(reasons) == ["health_code_refer", "checked_by_hand"]
        assert json.loads(checks) == {"health_code": "yellow"}


async def test_a_wrong_key_on_a_check_says_which_keys_and_saves_nothing(desk_dir):
    _set_policy(desk_dir, health_checks={"in.visitor": ["health_code"]})
    app = DutyApp(desk_dir, lang="zh")
    async with app.run_test(size=(100, 30)) as pilot:
        form = await _visitor_filled_in(pilot)
        await type_keys(pilot, "7")
        await pilot.pause(0.05)
        field = form.query_one("#field-check_health_code")
        assert "请按 1-4 中的一个数字键" in str(field.query_one("#error-check_health_code").render())
        await type_keys(pilot, "\r")
        await pilot.pause(0.05)
        assert form.is_attached and _registrations(desk_dir) == [] and _passages(desk_dir) == []
