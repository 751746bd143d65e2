"""The registration form fits an 800x480 kiosk screen (80x24 cells) without scrolling: on a
short screen every input is one highlighted row; on a taller one they keep their box."""

from __future__ import annotations

import pytest

from tests.tui.conftest import log_in, on_screen, wait_for
from tui.app import DutyApp
from tui.widgets.form import fields_of


@pytest.mark.parametrize("size, compact", [((80, 24), True), ((100, 32), False)])
async def test_every_registration_field_is_on_screen_without_scrolling(desk_dir, size, compact):
    app = DutyApp(desk_dir, lang="zh")
    async with app.run_test(size=size) as pilot:
        await log_in(pilot)
        await pilot.press("f2")
        await wait_for(pilot, on_screen(pilot, "RegisterScreen"))
        await pilot.pause()
        screen = app.screen
        assert screen.has_class("-short") is compact
        fields = fields_of(screen)
        assert len(fields) == 8
        heights = {f.input.region.height for f in fields}
        assert heights == ({1} if compact else {3})
        if compact:
            bottom = size[1]
            for f in fields:  # the whole field, input included, is inside the screen
                assert f.input.region.y >= 0 and f.input.region.bottom <= bottom, f.field_name
