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


async def test_saved_is_on_screen_at_80x24_when_a_reason_wraps(desk_dir):
    """Issue 14: at 80x24 a reason that wraps pushed "已保存" (saved) off the verdict panel, so the
    volunteer could not see that the turned-back passage was recorded."""
    from models.passes import revoke_pass
    from models.passtoken import decode_token
    from models.store import KioskStore
    from tests.tui.conftest import scan, screen_text, token_of

    reason = "遗失：持证人十二月一日报告在菜市场附近丢失，捡到者请交社区居委会"
    token = token_of(desk_dir, "3-2-501")
    store = KioskStore.open(desk_dir)
    revoke_pass(store, decode_token(token).body.pass_id_hex, reason)
    store.engine.dispose()
    app = DutyApp(desk_dir, lang="zh")
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot)
        await scan(pilot, token)
        await wait_for(pilot, lambda: app.screen.verdict_panel.status_line == "已保存")
        await pilot.pause()
        text = screen_text(app)
        panel = "\n".join(text.splitlines()[1:11])  # the direction badge and the verdict, 9 rows
        assert "已保存" in panel, text
        assert "通行证已作废：遗失" in panel and "3-2-501" in panel  # the reason and the holder stay
        assert reason in app.screen.verdict_panel.text  # the whole reason is still the panel's text


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_the_status_bar_fits_80_columns_when_offline(desk_dir, lang):
    """Issue 14: offline, at 80 columns, the sync words ran off the end of the status bar ("离线
    16:42起  待上报5 最早2分钟前  名…"). What matters least gives way; offline and the waiting
    count stay whole."""
    import time

    from sync.kiosk import OFFLINE, SyncStatus
    from tests.tui.conftest import screen_text
    from tui.strings import short_age, t

    app = DutyApp(desk_dir, lang=lang)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot)
        now = time.time()
        app.sync_status = SyncStatus(
            OFFLINE,
            waiting=5,
            oldest=now - 120,
            trouble="offline",
            offline_since=now - 600,
            lists_updated_at=now - 1800,
        )
        await pilot.pause()
        await pilot.pause()
        bar = screen_text(app).splitlines()[0].rstrip()
        offline = t(lang, "duty.sync.offline", since=time.strftime("%H:%M", time.localtime(now - 600)))
        pending = t(lang, "duty.sync.pending_count", count=5)
        assert offline in bar and pending in bar, bar
        # The line ends with a whole part, not cut in the middle of the lists' age ("名…").
        whole = (
            pending,
            t(lang, "duty.sync.pending", count=5, age=short_age(lang, 120)),
            t(lang, "duty.sync.lists_age", age=short_age(lang, 1800)),
        )
        assert bar.endswith(whole), bar
        assert app.screen.status_bar.query_one("#status-checkpoint").render().plain.strip() in bar
        # With room to spare (100 columns) the whole of it is shown, the oldest record's age included.
        await pilot.resize_terminal(120, 30)
        await pilot.pause()
        await pilot.pause()
        wide = screen_text(app).splitlines()[0]
        from tui.sync_words import short_words

        full = short_words(app.sync_status, lang)[0]
        assert full in wide and full not in bar, (wide, bar)  # at 80 columns some of it gave way
