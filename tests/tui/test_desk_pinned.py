"""Desk behaviours no other test pinned down (issue 11): the office's fever threshold rules the
very first reading, and a reading that rounds up to the threshold is a fever."""

from __future__ import annotations

import pytest

from tests.tui.conftest import db_rows, log_in, scan, screen_text, token_of
from tui.app import DutyApp


def _fever_cases(data_dir, raw: str) -> int:
    return db_rows(data_dir, "SELECT count(*) FROM fever_case WHERE first_raw = ?", raw)[0][0]


def _passages(data_dir) -> int:
    return db_rows(data_dir, "SELECT count(*) FROM passage")[0][0]


def _set_policy(data_dir, **values) -> None:
    from models.store import KioskStore

    store = KioskStore.open(data_dir)
    try:
        store.set_policy(**values)  # what a pull of the office's policy writes
    finally:
        store.close()


@pytest.mark.parametrize("threshold, fever", [(37.0, True), (37.3, False)])
async def test_the_first_reading_uses_the_offices_fever_threshold(desk_dir, threshold, fever):
    _set_policy(desk_dir, fever_threshold=threshold)
    app = DutyApp(desk_dir, lang="en")
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot)
        before = _passages(desk_dir)
        await scan(pilot, token_of(desk_dir, "3-2-501"))
        await scan(pilot, "371")  # 37.1: a fever only under the office's lower threshold
        text = screen_text(app)
        assert _fever_cases(desk_dir, "371") == (1 if fever else 0)
        assert ("FEVER" in text) is fever, text
        assert _passages(desk_dir) == before + (0 if fever else 1), "a fever waits; a normal reading passes"


async def test_37_25_is_a_fever_at_the_default_threshold(desk_dir):
    app = DutyApp(desk_dir, lang="en")
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot)
        await scan(pilot, token_of(desk_dir, "3-2-501"))
        await scan(pilot, "37.25")
        assert _fever_cases(desk_dir, "37.25") == 1
        assert "FEVER" in screen_text(app)
