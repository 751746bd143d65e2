"""The duty desk, driven as a volunteer at the gate drives it (Textual pilot, real store)."""

from __future__ import annotations

import json

import pytest

from tests.tui.conftest import (
    SIZES,
    db_rows,
    log_in,
    scan,
    screen_text,
    settle,
    token_of,
    type_keys,
    volunteer_id,
)
from tui.app import DutyApp


def passages(data_dir):
    return db_rows(
        data_dir,
        "SELECT direction, unit_code, verdict, temp_raw, temp_value, volunteer_id, reasons,"
        " pass_id FROM passage ORDER BY device_time",
    )


class TestRoutinePassage:
    @pytest.mark.parametrize("size", SIZES)
    async def test_scan_then_temperature_saves_one_passage(self, desk_dir, size):
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=size) as pilot:
            await log_in(pilot, "1234")
            before = passages(desk_dir)
            await scan(pilot, token_of(desk_dir, "3-2-501"))
            text = screen_text(app)
            assert "通行" in text and "3-2-501" in text and "请测体温" in text
            assert passages(desk_dir) == before, "nothing is saved before the temperature"
            await scan(pilot, "365")
            after = passages(desk_dir)
            assert len(after) == len(before) + 1
            direction, unit, verdict, raw, value, vid, reasons, pass_id = after[-1]
            assert (direction, unit, verdict, raw, value) == ("in", "3-2-501", "allow", "365", 36.5)
            assert vid == volunteer_id(desk_dir, "李建国")
            assert json.loads(reasons) == []
            assert pass_id and len(pass_id) == 32
            assert "已保存" in screen_text(app)
            assert app.screen.query_one("#scan-line").has_focus

    async def test_going_out_without_temperature_rule_saves_on_scan(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await pilot.press("f4")
            assert app.screen.direction == "out"
            before = len(passages(desk_dir))
            await scan(pilot, token_of(desk_dir, "1-2-101"))
            rows = passages(desk_dir)
            assert len(rows) == before + 1
            assert rows[-1][:3] == ("out", "1-2-101", "allow") and rows[-1][3] == ""
            assert "Saved" in screen_text(app)

    async def test_a_new_scan_before_the_temperature_saves_nothing_for_the_first(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            before = len(passages(desk_dir))
            await scan(pilot, token_of(desk_dir, "3-2-501"))
            await scan(pilot, token_of(desk_dir, "3-2-502"))
            await scan(pilot, "366")
            rows = passages(desk_dir)
            assert len(rows) == before + 1 and rows[-1][1] == "3-2-502"
            assert "Previous person (3-2-501) had no temperature" in screen_text(app)

    async def test_low_reading_asks_to_measure_again_and_records_nothing(self, desk_dir):
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            before = len(passages(desk_dir))
            await scan(pilot, token_of(desk_dir, "3-2-501"))
            await scan(pilot, "345")
            assert "请重新测量" in screen_text(app)
            assert len(passages(desk_dir)) == before
            await scan(pilot, "36,6")
            assert passages(desk_dir)[-1][3:5] == ("36,6", 36.6)


class ScansSeen(list):
    """The texts of the scans the scan line posted (a message is seen once per hop as it
    bubbles, so each one is counted once)."""

    def __init__(self):
        super().__init__()
        self._ids: set[int] = set()

    def __call__(self, message) -> None:
        from tui.widgets.scan_input import ScanInput

        if isinstance(message, ScanInput.Scanned) and id(message) not in self._ids:
            self._ids.add(id(message))
            self.append(message.text)


class TestScannerBursts:
    @pytest.mark.parametrize("terminator", ["\r", "\n", "\t"], ids=["CR", "LF", "Tab"])
    async def test_each_terminator_ends_exactly_one_scan(self, desk_dir, terminator):
        seen = ScansSeen()
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24), message_hook=seen) as pilot:
            await log_in(pilot)
            token = token_of(desk_dir, "3-2-501")
            await type_keys(pilot, token + terminator, gap=0.008)
            await settle(pilot)
            assert seen == [token]
            assert app.screen.query_one("#scan-line").has_focus, "Tab must not move the focus away"
            assert app.screen.waiting is not None and app.screen.waiting.unit == "3-2-501"

    async def test_two_scans_back_to_back_stay_two_scans_in_order(self, desk_dir):
        seen = ScansSeen()
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(100, 30), message_hook=seen) as pilot:
            await log_in(pilot)
            first, second = token_of(desk_dir, "3-2-501"), token_of(desk_dir, "5-1-204")
            # No pause at all between the two bursts: the second starts right after CR.
            await type_keys(pilot, first + "\r" + second + "\n", gap=0.005)
            await settle(pilot)
            assert seen == [first, second]
            assert app.screen.waiting.unit == "5-1-204"

    async def test_full_width_digits_from_an_ime_are_normalised(self, desk_dir):
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await scan(pilot, token_of(desk_dir, "3-2-501"))
            await scan(pilot, "３６５")
            assert passages(desk_dir)[-1][2:5] == ("allow", "365", 36.5)

    async def test_keys_of_a_scan_never_trigger_a_binding(self, desk_dir):
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            duty = app.screen
            await type_keys(pilot, "3-2-501 abc XYZ?\t", gap=0.005)
            await settle(pilot)
            assert duty.direction == "in"
            # a look-up may open; no binding fired:
            assert not any(
                type(s).__name__ in ("HelpScreen", "RegisterScreen", "HandoverScreen") for s in app.screen_stack
            )


def _pass_token(store, **overrides):
    """A pass signed by this kiosk's key, with fields chosen by the test."""
    import time

    from models.passtoken import PassBody, PassKind, kid_for, new_pass_id, sign_pass

    now = int(time.time())
    fields = dict(
        kid=kid_for(bytes(store.signing_key.verify_key)),
        pass_id=new_pass_id(),
        kind=PassKind.RESIDENT,
        scope=0,
        valid_from=now - 86400,
        valid_to=now + 86400,
        unit="5-2-501",
        name="测试",
    )
    forged = overrides.pop("forged", False)
    fields.update(overrides)
    key = fields.pop("signing_key", store.signing_key)
    if forged:
        # Our kid, someone else's signature: what a forger without our key can make.
        from models.passtoken import PASS_CONTEXT, TOKEN_PREFIX, bytes_to_digits

        body = PassBody(**fields).to_bytes()
        return TOKEN_PREFIX + bytes_to_digits(body + key.sign(PASS_CONTEXT + body).signature)
    return sign_pass(PassBody(**fields), key)


def _denial_tokens(data_dir):
    import time

    import nacl.signing

    from models.passtoken import PassKind, kid_for
    from models.store import KioskStore

    store = KioskStore.open(data_dir)
    now = int(time.time())
    # A key this kiosk does not trust, with a key id no trusted key has: kids are one byte, so a
    # random key shares one with a trusted key once in 256 tries, and that pass is then judged
    # "bad signature" instead of "unknown issuer".
    trusted_kids = set(store.gate_state().trust)
    stranger = nacl.signing.SigningKey.generate()
    while kid_for(bytes(stranger.verify_key)) in trusted_kids:
        stranger = nacl.signing.SigningKey.generate()
    hour = time.localtime().tm_hour
    closed = ((hour + 2) % 24, (hour + 3) % 24 or 24)
    if closed[0] == closed[1] % 24:
        closed = ((hour + 2) % 24, (hour + 4) % 24)
    tokens = {
        "revoked": (token_of(data_dir, "4-2-201"), "in"),
        "quarantined": (token_of(data_dir, "2-1-302"), "out"),
        "expired": (_pass_token(store, valid_from=now - 10 * 86400, valid_to=now - 86400), "in"),
        "not_yet_valid": (_pass_token(store, valid_from=now + 86400, valid_to=now + 2 * 86400), "in"),
        "wrong_checkpoint": (_pass_token(store, scope=7), "in"),
        "unknown_issuer": (_pass_token(store, kid=kid_for(bytes(stranger.verify_key)), signing_key=stranger), "in"),
        "bad_signature": (_pass_token(store, signing_key=stranger, forged=True), "in"),
        "outside_hours": (_pass_token(store, kind=PassKind.WORK, hour_from=closed[0], hour_to=closed[1]), "in"),
        "damaged": (token_of(data_dir, "3-2-501")[:-7], "in"),
    }
    store.close()
    return tokens


class TestDenials:
    DENIAL_CODES = [
        "revoked",
        "quarantined",
        "expired",
        "not_yet_valid",
        "wrong_checkpoint",
        "unknown_issuer",
        "bad_signature",
        "outside_hours",
        "damaged",
    ]

    @pytest.mark.parametrize("lang", ["zh", "en"])
    async def test_each_denial_shows_its_words_and_rings(self, desk_dir, lang):
        from models.reasons import REASONS

        tokens = _denial_tokens(desk_dir)
        app = DutyApp(desk_dir, lang=lang)
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            duty = app.screen
            for code in self.DENIAL_CODES:
                token, direction = tokens[code]
                if duty.direction != direction:
                    await pilot.press("f4")
                bells = app.bells
                before = len(passages(desk_dir))
                await scan(pilot, token)
                text = screen_text(app)
                words = REASONS[code].sentence.text(lang).split("{")[0].strip()
                assert words in text, (code, text)
                assert ("DENY" if lang == "en" else "禁止") in text and "[X]" in text
                assert app.bells > bells, f"{code}: a denial rings the bell"
                rows = passages(desk_dir)
                if code == "damaged":
                    assert len(rows) == before, "a bad read is not a passage"
                else:
                    assert len(rows) == before + 1 and rows[-1][2] == "deny" and code in json.loads(rows[-1][6])
                assert duty.waiting is None

    async def test_outing_quota_denies_the_second_outing(self, desk_dir):
        from models.passes import issue_pass
        from models.passtoken import PassKind
        from models.store import KioskStore

        store = KioskStore.open(desk_dir)
        store.set_policy(outing_quota=1, outing_window_days=2)
        token = issue_pass(store, PassKind.OUTING, "5-2-402", "李四").token
        store.close()
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await pilot.press("f4")
            await scan(pilot, token)
            assert passages(desk_dir)[-1][2] == "allow"
            await scan(pilot, token)
            assert "household outing quota used" in screen_text(app)
            assert passages(desk_dir)[-1][2] == "deny"

    async def test_another_qr_code_says_not_a_kakou_pass(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await scan(pilot, "https://example.com/healthcode?id=12345")
            assert "Not a kakou pass" in screen_text(app)

    async def test_an_id_number_with_a_wrong_check_digit_says_so(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await scan(pilot, "110105194912310021")
            assert "ID check digit wrong" in screen_text(app)
            assert type(app.screen).__name__ == "DutyScreen"
