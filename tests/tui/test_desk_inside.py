"""The list of visitors inside (在内访客, issue 14): a registration is inside until signed out,
picked with a number key or the arrows + Enter; nothing is signed out by a stray scan."""

from __future__ import annotations

import json

from tests.tui.conftest import db_rows, log_in, on_screen, screen_text, settle, token_of, type_keys, wait_for
from tui.app import DutyApp


def exits(data_dir) -> list[tuple]:
    return db_rows(
        data_dir,
        "SELECT p.registration_id, p.direction, p.verdict, p.reasons, r.to_unit FROM passage p"
        " JOIN registration r ON r.record_id = p.registration_id ORDER BY p.rowid",
    )


async def register_visitor(pilot, unit: str, name: str):
    await pilot.press("f2")
    await wait_for(pilot, on_screen(pilot, "RegisterScreen"))
    await wait_for(pilot, lambda: getattr(pilot.app.focused, "id", "") == "input-kind")
    for v in ["1", name, "13800138000", "", "上海", unit, "探亲", "365"]:
        await type_keys(pilot, v + "\r")
        await pilot.pause(0.02)
    await wait_for(pilot, on_screen(pilot, "DutyScreen"))
    await settle(pilot)


async def open_list(pilot):
    await pilot.press("f3")
    await wait_for(pilot, on_screen(pilot, "InsideScreen"))
    screen = pilot.app.screen
    words = ("自", "since", "没有在内", "Nobody inside")
    await wait_for(pilot, lambda: any(w in screen_text(pilot.app) for w in words))
    return screen


def number_of(screen, unit: str) -> int:
    return next(i + 1 for i, p in enumerate(screen.people) if p.unit == unit and p.subject == "registration")


class TestVisitorsInside:
    async def test_pick_by_number_signs_out_and_the_list_fits_80x24(self, desk_dir):
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await register_visitor(pilot, "4-1-101", "张三丰")
            screen = await open_list(pilot)
            n = number_of(screen, "4-1-101")
            text = screen_text(app)
            assert f"{n}. 访客 4-1-101 张*丰" in text and "在内访客" in text
            assert "张三丰" not in text  # the name is masked
            await type_keys(pilot, f"{n}\r")
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))
            await settle(pilot)
            [(rid, direction, verdict, reasons, unit)] = exits(desk_dir)
            assert (direction, verdict, unit) == ("out", "allow", "4-1-101")
            assert json.loads(reasons) == ["signed_out"]
            assert "已签退：访客 4-1-101 张*丰" in screen_text(app)
            # It is a record for the office: in the outbox, naming the registration.
            payloads = [json.loads(p) for (p,) in db_rows(desk_dir, "SELECT payload FROM outbox WHERE kind='passage'")]
            assert any(p.get("registration_id") == rid for p in payloads)
            screen = await open_list(pilot)
            assert all(p.unit != "4-1-101" or p.subject != "registration" for p in screen.people)

    async def test_arrows_and_enter_pick_and_a_stray_scan_picks_nobody(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await register_visitor(pilot, "4-1-101", "张三丰")
            screen = await open_list(pilot)
            # Enter with nothing marked picks nobody.
            await type_keys(pilot, "\r")
            await pilot.pause(0.1)
            assert exits(desk_dir) == [] and "pick with the arrows" in screen_text(app)
            # A scanned pass (digits, CR, CR) is not a number on the list, even with a mark set.
            await pilot.press("down")
            await type_keys(pilot, token_of(desk_dir, "3-2-501") + "\r\r", gap=0.005)
            await pilot.pause(0.2)
            assert type(app.screen).__name__ == "InsideScreen"
            assert exits(desk_dir) == [] and "Not a number on the list" in screen_text(app)
            await pilot.press("escape")
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))
            screen = await open_list(pilot)
            n = number_of(screen, "4-1-101")
            for _ in range(n):
                await pilot.press("down")
            assert screen.mark == n - 1
            await type_keys(pilot, "\r")
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))
            await settle(pilot)
            assert [e[4] for e in exits(desk_dir)] == ["4-1-101"]

    async def test_the_key_is_in_the_help(self, desk_dir):
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await pilot.press("f1")
            await wait_for(pilot, on_screen(pilot, "HelpScreen"))
            assert "F3" in screen_text(app) and "在内访客" in screen_text(app)
