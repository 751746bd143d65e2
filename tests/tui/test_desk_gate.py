"""The desk applies the rules on every path (issue 14): lists changed by another process reach
the open desk, registrations are checked against the lists, nobody is kept inside, and the
supervisor's override is recorded with both names."""

from __future__ import annotations

import json

import pytest

from tests.tui.conftest import db_rows, log_in, on_screen, scan, screen_text, settle, token_of, type_keys, wait_for
from tui.app import DutyApp


def last_passage(data_dir):
    rows = db_rows(
        data_dir, "SELECT direction, verdict, reasons, unit_code, volunteer_id FROM passage ORDER BY rowid DESC LIMIT 1"
    )
    return rows[0] if rows else None


def passage_count(data_dir) -> int:
    return db_rows(data_dir, "SELECT count(*) FROM passage")[0][0]


@pytest.fixture
def quick_lists_check(monkeypatch):
    from tui.screens import duty

    monkeypatch.setattr(duty, "LISTS_CHECK_SECONDS", 0.2, raising=False)  # (raising: runs on main too)


class TestChangesFromAnotherProcess:
    async def test_a_pass_revoked_elsewhere_is_denied_at_the_open_desk(self, desk_dir, quick_lists_check):
        from models.passes import revoke_pass
        from models.passtoken import decode_token
        from models.store import KioskStore

        token = token_of(desk_dir, "3-2-501")
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            duty = app.screen
            await pilot.press("f4")  # out: no temperature, saved at once
            await scan(pilot, token)
            assert last_passage(desk_dir)[1] == "allow"  # the desk has the lists in memory now
            await pilot.press("f4")  # back to in
            # `kakou pass revoke` in another terminal: its own store, its own connection.
            other = KioskStore.open(desk_dir, check=False)
            revoke_pass(other, decode_token(token).body.pass_id_hex, "遗失 lost")
            other.close()
            await pilot.pause(1.0)  # five periods of the desk's look at the lists
            await scan(pilot, token)
            assert duty.waiting is None
            direction, verdict, reasons, _unit, _vol = last_passage(desk_dir)
            assert (direction, verdict) == ("in", "deny") and "revoked" in json.loads(reasons)
            assert "通行证已作废" in screen_text(app)

    async def test_a_policy_changed_elsewhere_is_used_by_the_open_desk(self, desk_dir, quick_lists_check):
        from models.store import KioskStore

        token = token_of(desk_dir, "3-2-501")
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            duty = app.screen
            await scan(pilot, token)
            assert duty.waiting is not None, "a temperature is needed coming in"
            await pilot.press("escape")
            other = KioskStore.open(desk_dir, check=False)
            other.set_policy(temp_required_in="false")
            other.close()
            await pilot.pause(1.0)
            before = passage_count(desk_dir)
            await scan(pilot, token)
            assert duty.waiting is None and passage_count(desk_dir) == before + 1


class TestRegistrationChecksTheLists:
    async def _register(self, pilot, values):
        await pilot.press("f2")
        await wait_for(pilot, on_screen(pilot, "RegisterScreen"))
        await wait_for(pilot, lambda: getattr(pilot.app.focused, "id", "") == "input-kind")
        for v in values:
            await type_keys(pilot, v + "\r")
            await pilot.pause(0.02)

    async def test_a_visit_to_a_quarantined_household_is_checked_then_recorded(self, desk_dir):
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            before = passage_count(desk_dir)
            await self._register(pilot, ["1", "张三", "13800138000", "", "上海", "2-1-302", "探亲", "365"])
            await pilot.pause(0.2)
            # Not saved with "OK": the form says why and waits for the volunteer's check.
            assert type(app.screen).__name__ == "RegisterScreen"
            assert "探访居家隔离户" in screen_text(app)
            assert db_rows(desk_dir, "SELECT count(*) FROM registration")[0][0] == 0
            await type_keys(pilot, "\r")  # checked by hand: Enter again saves
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))
            await settle(pilot)
            assert db_rows(desk_dir, "SELECT to_unit FROM registration") == [("2-1-302",)]
            assert passage_count(desk_dir) == before + 1
            direction, verdict, reasons, unit, _vol = last_passage(desk_dir)
            assert (direction, verdict, unit) == ("in", "allow", "2-1-302")
            assert json.loads(reasons) == ["quarantine_visit", "checked_by_hand"]
            assert "探访居家隔离户" in screen_text(app)

    async def test_policy_refuses_the_visit_and_records_it(self, desk_dir):
        from models.store import KioskStore

        other = KioskStore.open(desk_dir, check=False)
        other.set_policy(refuse_quarantine_visits="true")
        other.close()
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await self._register(pilot, ["1", "张三", "13800138000", "", "上海", "2-1-302", "探亲", "365"])
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))
            await settle(pilot)
            assert db_rows(desk_dir, "SELECT count(*) FROM registration")[0][0] == 0
            _direction, verdict, reasons, unit, _vol = last_passage(desk_dir)
            assert (verdict, unit) == ("deny", "2-1-302") and json.loads(reasons) == ["quarantine_visit_refused"]
            text = screen_text(app)
            assert "DENY" in text and "no visitors" in text


class TestNobodyKeptInside:
    async def test_an_expired_visitor_pass_goes_out_with_a_note(self, desk_dir):
        from models.passes import issue_pass
        from models.passtoken import PassKind
        from models.store import KioskStore

        other = KioskStore.open(desk_dir, check=False)
        old = issue_pass(other, PassKind.VISITOR, "3-2-501", valid_days=1, valid_from=other.trusted_now() - 3 * 86400)
        other.close()
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await pilot.press("f4")
            await scan(pilot, old.token)
            text = screen_text(app)
            assert "通行" in text and "通行证已过期" in text and "禁止" not in text
            direction, verdict, reasons, _unit, _vol = last_passage(desk_dir)
            assert (direction, verdict, json.loads(reasons)) == ("out", "allow", ["left_expired"])


class TestOverride:
    async def test_a_refused_pass_let_through_by_the_supervisor(self, desk_dir):
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)  # 李建国, a volunteer
            await scan(pilot, token_of(desk_dir, "4-2-201"))  # revoked: red
            assert last_passage(desk_dir)[1] == "deny"
            await pilot.press("f6")
            await wait_for(pilot, on_screen(pilot, "SupervisorPinScreen"))
            await type_keys(pilot, "888888\r")
            await wait_for(pilot, on_screen(pilot, "OverrideScreen"))
            await wait_for(pilot, lambda: "4-2-201" in screen_text(app))  # drawn a frame after it opens
            await type_keys(pilot, "1\r")
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))
            # The override is saved on the database thread: wait for it, not for a fixed moment.
            await wait_for(pilot, lambda: last_passage(desk_dir)[1] == "allow")
            await settle(pilot)
            direction, verdict, reasons, unit, volunteer = last_passage(desk_dir)
            assert (direction, verdict, unit) == ("in", "allow", "4-2-201")
            assert json.loads(reasons)[-1] == "overridden" and "revoked" in json.loads(reasons)
            ids = dict(db_rows(desk_dir, "SELECT name, id FROM volunteer"))
            assert volunteer == ids["李建国"]
            audit = db_rows(desk_dir, "SELECT volunteer_id, detail FROM audit_event WHERE action = 'override'")
            assert len(audit) == 1 and audit[0][0] == ids["王秀英"]
            detail = json.loads(audit[0][1])
            assert detail["on_duty"] == ids["李建国"] and detail["reason"] == "住户忘带通行证"
            assert "王秀英" in screen_text(app)

    async def test_a_volunteer_pin_does_not_override(self, desk_dir):
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await scan(pilot, token_of(desk_dir, "4-2-201"))
            before = passage_count(desk_dir)
            await pilot.press("f6")
            await wait_for(pilot, on_screen(pilot, "SupervisorPinScreen"))
            await type_keys(pilot, "1234\r")  # the volunteer's own PIN
            await pilot.pause(0.5)
            assert type(app.screen).__name__ == "SupervisorPinScreen"
            await pilot.press("escape")
            await settle(pilot)
            assert passage_count(desk_dir) == before
            assert db_rows(desk_dir, "SELECT count(*) FROM audit_event WHERE action = 'override'")[0][0] == 0

    async def test_someone_without_a_pass_and_a_typed_reason(self, desk_dir):
        from models.report import day_report
        from models.store import KioskStore

        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await pilot.press("f6")
            await wait_for(pilot, on_screen(pilot, "SupervisorPinScreen"))
            await type_keys(pilot, "888888\r")
            await wait_for(pilot, on_screen(pilot, "OverrideScreen"))
            await type_keys(pilot, "3-2-501\r")
            await type_keys(pilot, "3\r")  # a lone number is no reason
            await pilot.pause(0.2)
            assert type(app.screen).__name__ == "OverrideScreen" and "请选择" in screen_text(app)
            await type_keys(pilot, "救护车接送\r")
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))
            await settle(pilot)
        _d, verdict, reasons, unit, _v = last_passage(desk_dir)
        assert (verdict, unit, json.loads(reasons)) == ("allow", "3-2-501", ["overridden"])
        store = KioskStore.open(desk_dir, check=False)
        try:
            assert day_report(store)["overridden"] == 1
        finally:
            store.close()
