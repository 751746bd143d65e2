"""Privacy and hostile input at the duty desk (issue 6): a stolen kiosk leaks no full ID number
or phone typed at the desk, no input escapes the scan line or the register form as a crash,
and every sensitive action leaves an audit record."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.tui.conftest import db_rows, log_in, on_screen, scan, screen_text, settle, token_of, type_keys, wait_for
from tui.app import DutyApp

# Valid GB 11643 numbers (checksums right) and mobile phones, as a returnee would give them.
PEOPLE = [
    ("11010519491231002X", "13812345678"),
    ("440524188001010014", "15987654321"),
]


def files_holding(data_dir, needles: list[str]) -> dict[str, list[str]]:
    """Every file under the data dir that holds one of `needles`, in any of the encodings a
    database, a log or a settings file might use."""
    found: dict[str, list[str]] = {}
    for path in data_dir.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        for needle in needles:
            forms = {needle.encode("utf-8"), needle.encode("utf-16-le"), needle.lower().encode()}
            if any(form in data for form in forms):
                found.setdefault(str(path.relative_to(data_dir)), []).append(needle)
    return found


async def register_returnee(pilot, id_number: str, phone: str, unit: str = "3-2-501"):
    app = pilot.app
    await pilot.press("f2")
    await wait_for(pilot, on_screen(pilot, "RegisterScreen"))
    # kind, name, phone, ID, from, unit, reason, temperature: Enter after each
    for value in ("2", "", phone, id_number, "武汉", unit, "返乡", "365"):
        await type_keys(pilot, value + "\r")
        await pilot.pause(0.05)
    await wait_for(pilot, lambda: type(app.screen).__name__ != "RegisterScreen")
    await settle(pilot)


class TestSealedPersonalData:
    async def test_full_id_numbers_and_phones_are_in_no_file_of_the_data_dir(self, desk_dir):
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            for id_number, phone in PEOPLE:
                await register_returnee(pilot, id_number, phone)
                while type(app.screen).__name__ != "DutyScreen":  # the entry slip offered after a returnee
                    await pilot.press("escape")
                    await pilot.pause(0.1)
            # and the same people looked up at the scan line (ID and phone typed there)
            await scan(pilot, PEOPLE[0][0])
            await pilot.press("escape")
            await scan(pilot, PEOPLE[1][1])
            await pilot.press("escape")
            await settle(pilot)
            rows = db_rows(desk_dir, "SELECT id_masked, phone_masked FROM registration ORDER BY rowid DESC LIMIT 2")
            assert rows == [("*" * 18, "*" * 11)] * 2  # no digit of either shown
        # The app has closed (WAL checkpointed or not): search everything it left behind.
        needles = [n for person in PEOPLE for n in person]
        assert files_holding(desk_dir, needles) == {}
        # the search itself works: the same words written to a file are found
        (desk_dir / "logs").mkdir(exist_ok=True)
        (desk_dir / "logs" / "probe.txt").write_text(PEOPLE[0][0])
        assert files_holding(desk_dir, needles) == {"logs/probe.txt": [PEOPLE[0][0]]}


class TestHostileInput:
    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(text=st.text(max_size=300), waiting=st.booleans())
    def test_the_scan_line_dispatcher_places_every_input(self, text, waiting):
        from tui.screens.duty import ROUTES, route_scan

        route = route_scan(text, waiting)
        assert route.action in ROUTES
        if route.action == "look_up":
            assert route.look_up in ("id", "phone", "unit", "name")
        if route.action == "temperature":
            assert waiting, "a reading is only a temperature while someone waits for one"

    @settings(max_examples=300, deadline=None)
    @given(
        text=st.one_of(st.text(max_size=80), st.from_regex(r"[0-9Xx \-+]{0,24}", fullmatch=True)),
        name=st.sampled_from(["kind", "name", "phone", "id_number", "from_place", "to_unit", "reason", "temperature"]),
        kind=st.sampled_from(["1", "2", "3", "4", "5", "", "9", "二"]),
        lang=st.sampled_from(["zh", "en"]),
    )
    def test_every_form_value_is_clean_or_refused_in_words(self, text, name, kind, lang):
        from tui.screens.register import FieldRefused, clean_field

        try:
            clean_field(name, text, kind, lang)
        except FieldRefused as refused:
            words = str(refused)
            assert words.strip() and "Traceback" not in words

    async def test_hostile_scans_leave_the_desk_working(self, desk_dir):
        hostile = [
            "'; DROP TABLE passage; --",
            "\x00\x01\x1b[31m",
            "A" * 500,
            "9" * 400,
            "https://evil.example/?q=" + "%00" * 20,
            "\u202eLTR override 3-2-501",
            "１２３４５６７８９０" * 5,
            "𝟘𝟙𝟚𝟛" * 20,
            "3-2-501-1-1-1-1",
            "999999999999999999",
        ]
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            for text in hostile:
                await scan(pilot, text)
                while type(app.screen).__name__ != "DutyScreen":
                    await pilot.press("escape")
                    await pilot.pause(0.05)
                assert "Traceback" not in screen_text(app)
            # still a working desk: a real pass goes through and is saved
            await scan(pilot, token_of(desk_dir, "3-2-501"))
            await scan(pilot, "365")
            assert "Saved" in screen_text(app)
            assert db_rows(desk_dir, "SELECT count(*) FROM passage WHERE temp_raw = '365'")[0][0] == 1


def audit_actions(data_dir) -> list[tuple[str, int | None, dict]]:
    return [
        (a, v, json.loads(d))
        for a, v, d in db_rows(data_dir, "SELECT action, volunteer_id, detail FROM audit_event ORDER BY rowid")
    ]


class TestAudit:
    async def test_login_failed_login_lock_and_quit_are_audited(self, desk_dir):
        from tests.tui.conftest import volunteer_id

        before = len(audit_actions(desk_dir))
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, on_screen(pilot, "LoginScreen"))
            await type_keys(pilot, "0000\r")
            await pilot.pause(0.3)
            await log_in(pilot, "1234")
            await pilot.press("ctrl+q")
            await wait_for(pilot, on_screen(pilot, "SupervisorPinScreen"))
            await type_keys(pilot, "1234\r")  # not a supervisor
            await pilot.pause(0.3)
            await type_keys(pilot, "888888\r")
            await pilot.pause(0.5)
        actions = audit_actions(desk_dir)[before:]
        names = [a for a, _v, _d in actions]
        li, wang = volunteer_id(desk_dir, "李建国"), volunteer_id(desk_dir, "王秀英")
        assert names[0] == "login_failed"
        assert ("login", li) in [(a, v) for a, v, _d in actions]
        assert ("supervisor_refused", li) in [(a, v) for a, v, _d in actions]
        assert ("quit", wang) in [(a, v) for a, v, _d in actions]


class TestNotEnrolledNotice:
    async def test_the_duty_screen_says_full_numbers_are_not_sealed_to_the_office_until_enrolment(self, desk_dir):
        """Before enrolment a registration's full numbers are sealed to a key still on the
        kiosk (models/privacy.py HANDOVER_KEY): the volunteer is told, until the kiosk enrols."""
        from sync.kiosk import SYNCED, SyncStatus
        from tui.app import SyncStatusChanged
        from tui.demo import DEMO_MARKER

        # A real checkpoint, not yet enrolled (in the demo, where its passes are comes first and
        # this notice is the line an 80x24 panel cuts).
        (desk_dir / DEMO_MARKER).unlink()
        # The loop's own status (not enrolled) comes once at start; no timer round overwrites ours.
        app = DutyApp(desk_dir, lang="zh", sync_interval=3600, sync_after_records=3600)
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await wait_for(pilot, lambda: "完整号码暂存本机，尚未交街道办封存" in screen_text(app))
            app.post_message(SyncStatusChanged(SyncStatus(SYNCED)))  # as after enrolment and a round
            await wait_for(pilot, lambda: "尚未交街道办封存" not in screen_text(app))
            assert "请扫码" in screen_text(app)
