"""Fixtures for the duty desk tests: a seeded demo checkpoint, copied per test, and helpers
that drive the app the way a volunteer and a USB scanner do."""

from __future__ import annotations

import asyncio
import difflib
import io
import os
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from rich.console import Console
from textual import events

SIZES = [(80, 24), (100, 30)]


@pytest.fixture(scope="session")
def seeded_demo(tmp_path_factory) -> Path:
    from tui.demo import seed_demo

    path = tmp_path_factory.mktemp("demo-seed") / "kiosk"
    seed_demo(path)
    return path


@pytest.fixture
def desk_dir(seeded_demo, tmp_path) -> Path:
    target = tmp_path / "kiosk"
    shutil.copytree(seeded_demo, target)
    return target


@pytest.fixture(autouse=True)
def no_cursor_blink(monkeypatch):
    # A blinking cursor makes screen text differ from one frame to the next.
    from textual.widgets import Input

    monkeypatch.setattr(Input, "cursor_blink", False)


@pytest.fixture(autouse=True)
def keys_by_hand_wait_out_the_scan_line_hold(monkeypatch):
    """`pilot.press` is a hand on the keyboard: after a key that is not text, wait as a hand
    would, longer than the scan line holds a binding's key on an empty line (ScanInput.HOLD_S)
    to see whether a scan follows. The desk runs in the tests exactly as it does at the gate."""
    from textual.pilot import Pilot

    from tui.widgets.scan_input import TERMINATORS, ScanInput

    original = Pilot.press

    async def press(self, *keys: str) -> None:
        for key in keys:
            await original(self, key)
            if not (len(key) == 1 or key in TERMINATORS or key in ("space", "backspace")):
                await self.pause(ScanInput.HOLD_S + 0.05)

    monkeypatch.setattr(Pilot, "press", press)


def token_of(data_dir: Path, unit: str) -> str:
    return (data_dir / "demo-passes" / f"{unit}.txt").read_text().strip()


def db_rows(data_dir: Path, sql: str, *params):
    conn = sqlite3.connect(data_dir / "kakou.db")
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def volunteer_id(data_dir: Path, name: str) -> int:
    return db_rows(data_dir, "SELECT id FROM volunteer WHERE name = ?", name)[0][0]


def screen_text(app) -> str:
    """The screen as plain text, as a volunteer would read it."""
    console = Console(
        width=app.size.width,
        height=app.size.height,
        record=True,
        color_system=None,
        file=io.StringIO(),
        legacy_windows=False,
    )
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def mask_volatile(text: str) -> str:
    """Clock, dates and ages change from run to run; the layout and words must not."""
    text = re.sub(r"\d{4}-\d{2}-\d{2}", "YYYY-MM-DD", text)
    text = re.sub(r"\d{2}:\d{2}(:\d{2})?", lambda m: "HH:MM" + (":SS" if m.group(1) else ""), text)
    text = re.sub(r"\d+ ?(小时|分钟|天|h|min|d)\b", r"N\1", text)
    text = re.sub(r"\d+(小时|分钟|天)", r"N\1", text)
    # Records kept or waiting: the shift's own audit records land a moment before or after the frame.
    text = re.sub(r"本机存\d+条", "本机存N条", text)
    text = re.sub(r"\d+ (kept here|unsent)", r"N \1", text)
    return "\n".join(line.rstrip() for line in text.splitlines())


UPDATE_GOLDENS = "KAKOU_UPDATE_GOLDENS"


def check_golden(golden: Path, text: str) -> None:
    """`text` must equal the committed golden file. A missing or different golden fails; only
    KAKOU_UPDATE_GOLDENS=1 writes it (then review the diff and commit it), so a golden never
    writes itself and a test never passes against what it just wrote without being asked."""
    if os.environ.get(UPDATE_GOLDENS) == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text + "\n", encoding="utf-8")
        return
    if not golden.exists():
        pytest.fail(
            f"golden {golden.name} is missing; to write it on purpose run the test with {UPDATE_GOLDENS}=1,"
            " then review the file and commit it",
            pytrace=False,
        )
    expected = golden.read_text(encoding="utf-8").rstrip("\n")
    if text != expected:
        diff = "\n".join(difflib.unified_diff(expected.splitlines(), text.splitlines(), "golden", "now", lineterm=""))
        pytest.fail(
            f"screen differs from golden {golden.name} (if the change is meant, re-run with"
            f" {UPDATE_GOLDENS}=1 and commit the file):\n{diff}",
            pytrace=False,
        )


async def wait_for(pilot, condition, timeout: float = 15.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError(
                f"timed out waiting; screen is {type(pilot.app.screen).__name__}:\n" + screen_text(pilot.app)
            )
        await pilot.pause(0.02)


def on_screen(pilot, name: str):
    """The screen is `name` and has been drawn: a screen just pushed is laid out a frame later,
    and read before that it is blank (it was, once in a CI run, right after the handover)."""
    return lambda: type(pilot.app.screen).__name__ == name and screen_text(pilot.app).strip() != ""


async def type_keys(pilot, text: str, gap: float = 0.0):
    """Keys as the terminal driver delivers them (straight to the app), `gap` seconds apart:
    a USB scanner types 5-15 ms apart, faster than pilot.press."""
    app = pilot.app
    names = {"\r": ("enter", "\r"), "\n": ("ctrl+j", "\n"), "\t": ("tab", "\t")}
    for ch in text:
        key, char = names.get(ch, (ch, ch))
        app.post_message(events.Key(key, char))
        if gap:
            await asyncio.sleep(gap)
    await pilot.pause()


async def settle(pilot):
    """Every entry handled and every write committed, then one more frame."""
    from tui.screens.duty import DutyScreen
    from tui.widgets.scan_input import ScanInput

    app = pilot.app
    # A key held back on the scan line (an answer key, a binding's key: ScanInput.HOLD_S) is
    # handed on a moment later, as an entry or to the bindings: wait for it first.
    await wait_for(pilot, lambda: not any(line.holding for line in app.screen.query(ScanInput)))
    for screen in app.screen_stack:
        if isinstance(screen, DutyScreen) and hasattr(screen, "entries"):
            await screen.entries_done()
    await pilot.pause(0.05)


async def log_in(pilot, pin: str = "1234"):
    await wait_for(pilot, on_screen(pilot, "LoginScreen"))
    await type_keys(pilot, pin + "\r")
    await wait_for(
        pilot,
        lambda: (
            type(pilot.app.screen).__name__ == "DutyScreen"
            and pilot.app.volunteer is not None
            and getattr(pilot.app.screen, "policy", None) is not None
        ),
    )
    await pilot.pause(0.05)
    return pilot.app.screen


async def scan(pilot, text: str, terminator: str = "\r", gap: float = 0.0):
    await type_keys(pilot, text + terminator, gap)
    await settle(pilot)


def desk_on_a_terminal(data_dir: Path):
    """`kakou kiosk --lang en` started as a volunteer starts it, on a 100x30 pseudo-terminal
    (tests/bench/bench_kiosk.py Terminal); the caller closes it."""
    import sys

    from tests.bench.bench_kiosk import Terminal

    env = dict(os.environ, TERM="xterm-256color", COLUMNS="100", LINES="30", PYTHONUNBUFFERED="1")
    env.pop("TEXTUAL", None)
    code = "import sys; from tui.cli import main; sys.exit(main(sys.argv[1:]))"
    return Terminal([sys.executable, "-c", code, "kiosk", "--lang", "en", "--data-dir", str(data_dir)], env)
