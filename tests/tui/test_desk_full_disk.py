"""A full disk at the gate: the duty screen says so in words, nothing saved is lost, and the
next passage saves once space is back (issue 7's full-disk case, seen by the volunteer)."""

from __future__ import annotations

from tests.tui.conftest import db_rows, log_in, scan, screen_text, token_of, wait_for
from tui.app import DutyApp


async def test_full_disk_is_explained_on_the_duty_screen_and_recording_resumes(desk_dir, monkeypatch):
    import models.facts as facts
    from models.errors import StoreError

    real_record = facts._record
    disk = {"full": True}

    def record_or_fail(*args, **kwargs):
        if disk["full"]:
            raise StoreError(
                "磁盘已满，无法写入。请清理空间后重试，已保存的记录不会丢失。",
                "disk full, cannot write. Free some space and retry; saved records are kept.",
                code="disk_full",
            )
        return real_record(*args, **kwargs)

    monkeypatch.setattr(facts, "_record", record_or_fail)
    before = db_rows(desk_dir, "SELECT count(*) FROM passage")[0][0]
    app = DutyApp(desk_dir, lang="en")
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot)
        await scan(pilot, token_of(desk_dir, "3-2-501"))
        await scan(pilot, "365")
        await wait_for(pilot, lambda: "disk full" in screen_text(app))
        assert "Saved" not in screen_text(app)  # never shown as saved when it was not
        assert db_rows(desk_dir, "SELECT count(*) FROM passage")[0][0] == before

        disk["full"] = False  # space freed
        await scan(pilot, token_of(desk_dir, "3-2-502"))
        await scan(pilot, "366")
        await wait_for(pilot, lambda: db_rows(desk_dir, "SELECT count(*) FROM passage")[0][0] == before + 1)
        await wait_for(pilot, lambda: "Saved" in screen_text(app))
    row = db_rows(desk_dir, "SELECT unit_code, temp_raw FROM passage ORDER BY device_time DESC LIMIT 1")[0]
    assert tuple(row) == ("3-2-502", "366")
