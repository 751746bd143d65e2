"""The first start of a new kiosk: the setup form (checkpoint, community, street, the first
supervisor and their PIN twice), refusing what is missing or mismatched on its own field, then
the login screen where that supervisor's PIN works."""

from __future__ import annotations

import asyncio

from tests.tui.conftest import db_rows, on_screen, screen_text, type_keys, wait_for
from tui.app import DutyApp


async def test_a_new_kiosk_is_set_up_from_the_first_screen(tmp_path):
    data_dir = tmp_path / "kiosk"
    app = DutyApp(data_dir, lang="zh")
    async with app.run_test(size=(80, 24)) as pilot:
        # Bounded as a whole: when the login screen never came, an await here used to hang.
        await asyncio.wait_for(_set_up_and_log_in(app, pilot, data_dir), timeout=90)
    assert db_rows(data_dir, "SELECT name, community FROM checkpoint") == [("幸福里东门卡口", "幸福里社区")]
    assert db_rows(data_dir, "SELECT name, role FROM volunteer") == [("王秀英", "supervisor")]


async def _set_up_and_log_in(app, pilot, data_dir):
    await wait_for(pilot, on_screen(pilot, "SetupScreen"), timeout=30)
    await wait_for(pilot, lambda: "首次使用" in screen_text(app))
    await type_keys(pilot, "\r")  # the checkpoint's name is required
    await pilot.pause(0.1)
    assert app.screen.focused.id == "input-checkpoint"
    for value in ("幸福里东门卡口", "幸福里社区", "", "王秀英", "888888"):
        await type_keys(pilot, value + "\r")
        await pilot.pause(0.05)
    await type_keys(pilot, "8889\r")  # the PIN typed again, wrong
    await pilot.pause(0.1)
    assert app.screen.focused.id == "input-pin2" and on_screen(pilot, "SetupScreen")()
    assert db_rows(data_dir, "SELECT count(*) FROM checkpoint")[0][0] == 0  # nothing saved yet
    app.screen.focused.value = ""
    await type_keys(pilot, "888888\r")
    await wait_for(pilot, on_screen(pilot, "LoginScreen"), timeout=30)
    await type_keys(pilot, "888888\r")  # the new supervisor logs in
    await wait_for(pilot, on_screen(pilot, "DutyScreen"), timeout=30)
    assert "幸福里东门卡口" in screen_text(app).splitlines()[0]
    assert "王秀英" in screen_text(app).splitlines()[0]  # logged in, not "未登录"
