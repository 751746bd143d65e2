"""The issue-pass screen, driven with Textual's pilot in a tiny host app."""

from __future__ import annotations

import pytest
from textual.app import App
from textual.widgets import Input, Static

from models.passtoken import PassKind
from models.volunteers import VolunteerInfo
from tests.qr import qr_texts
from tui.printing.escpos import raster_image
from tui.screens.issue_pass import IssuePassScreen, PassIssued

SUPERVISOR = VolunteerInfo(id=1, name="王秀英", role="supervisor")


class Host(App):
    def __init__(self, screen: IssuePassScreen):
        super().__init__()
        self.issue_screen = screen
        self.result = "not dismissed"

    def on_mount(self) -> None:
        def done(result) -> None:
            self.result = result

        self.push_screen(self.issue_screen, callback=done)


def message(screen) -> str:
    return str(screen.query_one("#issue-message", Static).render())


async def type_into(pilot, screen, field: str, text: str) -> None:
    box = screen.query_one(f"#input-{field}", Input)
    box.value = text
    box.focus()
    await pilot.pause()
    await pilot.press("enter")


async def settle(pilot, app) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def decode_all(image) -> list[str]:
    return qr_texts(image)  # tests/qr.py: QR codes only


class TestIssueAndPrint:
    async def test_outing_pass_from_the_form_is_saved_and_printed(self, store, tmp_path):
        from models.gate import check_token
        from models.passes import list_passes

        out = tmp_path / "lp0"
        screen = IssuePassScreen(store, SUPERVISOR, "zh", printer=f"escpos-file:{out}")
        app = Host(screen)
        async with app.run_test(size=(100, 30)) as pilot:
            await type_into(pilot, screen, "kind", "2")
            await type_into(pilot, screen, "unit", "3-2-501")
            await type_into(pilot, screen, "name", "王喆")
            await type_into(pilot, screen, "days", "7")
            await type_into(pilot, screen, "plate", "")
            await type_into(pilot, screen, "hours", "")
            await settle(pilot, app)
            assert screen.issued is not None
            assert screen.printed, message(screen)
            assert "已打印" in message(screen)
            # The preview shows the unit big and the token.
            assert "３－２－５０１" in str(screen.query_one("#preview-unit", Static).render())
            assert screen.issued.token in str(screen.query_one("#preview-token", Static).render())
            await pilot.press("escape")
            await pilot.pause()
        passes = list_passes(store, "3-2-501")
        assert [p.name for p in passes] == ["王喆"]
        assert app.result == PassIssued(
            pass_id=passes[0].pass_id, unit="3-2-501", kind=int(PassKind.OUTING), token=passes[0].token, printed=True
        )
        printed = decode_all(raster_image(out.read_bytes()))
        assert printed == [passes[0].token]
        assert check_token(store, printed[0], "out").allowed

    async def test_a_failed_print_says_why_keeps_the_pass_and_reprints(self, store, tmp_path):
        from models.passes import list_passes

        screen = IssuePassScreen(
            store, SUPERVISOR, "en", unit="1-1-101", kind="resident", printer=f"escpos-file:{tmp_path}/unplugged/lp0"
        )
        app = Host(screen)
        async with app.run_test(size=(80, 24)) as pilot:
            # unit and kind come prefilled (e.g. from the duty screen): focus starts at the name
            assert screen.focused is screen.query_one("#input-name", Input)
            for field in ("name", "days", "plate", "hours"):
                await type_into(pilot, screen, field, screen.query_one(f"#input-{field}", Input).value)
            await settle(pilot, app)
            assert screen.issued is not None and not screen.printed
            assert "not found" in message(screen) and "F5" in message(screen)
            assert len(list_passes(store, "1-1-101")) == 1  # saved although the print failed
            screen.printer = f"escpos-file:{tmp_path}/lp0"  # plugged in
            await pilot.press("f5")
            await settle(pilot, app)
            assert screen.printed
        assert decode_all(raster_image((tmp_path / "lp0").read_bytes())) == [screen.issued.token]

    async def test_a_returnee_slip_opened_from_the_registration_needs_only_enters(self, store):
        """Kind, unit and name come from the registration: the cursor starts after them, and
        Enter through the rest issues the slip in that name."""
        from models.passes import list_passes
        from models.passtoken import PassKind

        screen = IssuePassScreen(store, SUPERVISOR, "zh", unit="2-1-302", kind="returnee", name="张伟", printer="")
        app = Host(screen)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert screen.focused.id == "input-days"
            for _ in range(3):  # days (its default), plate, hours
                await pilot.press("enter")
                await pilot.pause()
            await settle(pilot, app)
            assert screen.issued is not None
        passes = list_passes(store, "2-1-302")
        assert [(p.name, p.kind) for p in passes] == [("张伟", int(PassKind.RETURNEE))]

    async def test_escape_before_issuing_issues_nothing(self, store):
        from models.passes import list_passes

        screen = IssuePassScreen(store, SUPERVISOR, "zh", unit="2-1-302", kind="returnee", printer="")
        app = Host(screen)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("escape")
            await pilot.pause()
        assert app.result is None
        assert list_passes(store) == []


class TestRefusals:
    async def test_vehicle_without_plate_is_refused_at_the_field(self, store):
        from models.passes import list_passes

        screen = IssuePassScreen(store, SUPERVISOR, "zh", printer="")
        app = Host(screen)
        async with app.run_test(size=(100, 30)) as pilot:
            await type_into(pilot, screen, "kind", "4")
            await type_into(pilot, screen, "unit", "5-1-101")
            await type_into(pilot, screen, "name", "")
            await type_into(pilot, screen, "days", "")
            await type_into(pilot, screen, "plate", "")
            await pilot.pause()
            assert screen.focused is screen.query_one("#input-plate", Input)
            assert "车牌" in str(screen.query_one("#error-plate", Static).render())
            assert screen.issued is None
        assert list_passes(store) == []

    @pytest.mark.parametrize("kind, unit, field", [("9", "3-2-501", "kind"), ("1", "not a unit", "unit")])
    async def test_bad_kind_or_unit_keeps_focus_with_a_reason(self, store, kind, unit, field):
        screen = IssuePassScreen(store, SUPERVISOR, "en", printer="")
        app = Host(screen)
        async with app.run_test(size=(100, 30)) as pilot:
            await type_into(pilot, screen, "kind", kind)
            if field == "unit":
                await type_into(pilot, screen, "unit", unit)
            await pilot.pause()
            assert screen.focused is screen.query_one(f"#input-{field}", Input)
            assert str(screen.query_one(f"#error-{field}", Static).render()).strip()

    async def test_no_printer_set_says_so_and_the_pass_is_kept(self, store, monkeypatch):
        monkeypatch.delenv("KAKOU_PRINTER", raising=False)
        screen = IssuePassScreen(store, SUPERVISOR, "en", unit="3-2-501", kind="visitor", printer="")
        app = Host(screen)
        async with app.run_test(size=(100, 30)) as pilot:
            for field in ("name", "days", "plate"):
                await type_into(pilot, screen, field, screen.query_one(f"#input-{field}", Input).value)
            await type_into(pilot, screen, "hours", "9-17")
            await settle(pilot, app)
            assert screen.issued is not None
            assert (screen.issued.body.hour_from, screen.issued.body.hour_to) == (9, 17)
            assert "No printer" in message(screen)
