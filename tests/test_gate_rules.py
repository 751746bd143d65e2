"""Rules that hold on every path (issue 14): going out, the same pass twice, registrations
checked against the lists, and a verdict's colour always agreeing with its words."""

from __future__ import annotations

import io
import time

import pytest

from models import clock
from models.facts import record_passage
from models.gate import check_token
from models.passes import issue_pass, revoke_pass
from models.passtoken import PassBody, PassKind, decode_token
from models.privacy import lookup_hash
from models.reasons import REASONS, REFER

DAY = 86400


def at(t: float) -> clock.Reading:
    return clock.Reading(wall=t, mono_ns=int(t * 1e9), boot_id="test")


def asks_for_check(zh: str, en: str) -> bool:
    """Words that send the volunteer to check by hand ("……，请核查" / "…, check by hand")."""
    last = zh.replace("；", "，").split("，")[-1]
    return en.endswith("by hand") and last.startswith("请") and "核" in last


class TestLevelsAgreeWithWords:
    @pytest.mark.parametrize("code", sorted(REASONS))
    def test_check_by_hand_is_amber_and_only_it(self, code):
        info = REASONS[code]
        says_check = asks_for_check(info.sentence.zh, info.sentence.en)
        assert says_check == (info.level == REFER), (code, info.level, info.sentence)

    def test_unknown_issuer_is_red_and_says_refused(self):
        # One digit of a real pass's key id makes any forgery "unknown issuer": it stays red,
        # and its words no longer send the volunteer to check by hand.
        info = REASONS["unknown_issuer"]
        assert info.level == "deny" and "check by hand" not in info.sentence.en and "核查" not in info.sentence.zh


class TestNobodyKeptInside:
    def test_expired_pass_goes_out_with_a_note_and_is_recorded_as_an_exit(self, store):
        now = store.trusted_now()
        old = issue_pass(store, PassKind.VISITOR, "3-2-501", valid_days=1, valid_from=now - 3 * DAY)
        assert check_token(store, old.token, "in").reason_codes() == ["expired"]
        out = check_token(store, old.token, "out")
        assert out.outcome == "allow" and out.reason_codes() == ["left_expired"]
        assert "通行证已过期" in out.reason_text("zh") and "pass expired" in out.reason_text("en")
        record_passage(store, "out", out)
        with store.engine.connect() as conn:
            row = conn.exec_driver_sql("SELECT direction, verdict, reasons FROM passage").one()
        assert tuple(row) == ("out", "allow", '["left_expired"]')

    def test_visitor_after_its_hours_is_let_out_not_in(self, store):
        day = time.mktime((2030, 3, 3, 0, 0, 0, 0, 0, -1))
        p = issue_pass(store, PassKind.VISITOR, "4-1-101", valid_days=1, hours=(9, 17), valid_from=day)
        late = day + 19 * 3600
        assert check_token(store, p.token, "in", now=late).reason_codes() == ["outside_hours"]
        out = check_token(store, p.token, "out", now=late)
        assert out.allowed and out.reason_codes() == ["left_after_hours"]
        assert "超时离开" in out.reason_text("zh") and "left after hours" in out.reason_text("en")

    def test_quarantine_still_stops_an_expired_pass_going_out(self, store):
        now = store.trusted_now()
        store.add_list_entry("quarantine", unit_code="2-1-302")
        old = issue_pass(store, PassKind.RESIDENT, "2-1-302", valid_days=1, valid_from=now - 3 * DAY)
        v = check_token(store, old.token, "out")
        assert v.outcome == "deny" and "quarantined" in v.reason_codes()

    def test_a_forged_pass_going_out_is_still_refused(self, store):
        # A forged pass names whatever unit its maker wants: a quarantined resident could walk
        # out as a neighbour. Letting it out would make the quarantine list optional.
        token = issue_pass(store, PassKind.RESIDENT, "3-2-501").token
        d = decode_token(token)
        from models.passtoken import TOKEN_PREFIX, bytes_to_digits

        edited = PassBody(**{**d.body.__dict__, "unit": "1-1-101"})
        forged = TOKEN_PREFIX + bytes_to_digits(edited.to_bytes() + d.signature)
        assert check_token(store, forged, "out").reason_codes() == ["bad_signature"]
        assert check_token(store, forged, "out").outcome == "deny"

    def test_a_revoked_pass_going_out_is_checked_by_hand(self, store):
        # Revoked passes are mostly lost ones: whoever holds it may not be its owner, so the
        # volunteer looks (amber); the person is not kept in by a red wall.
        p = issue_pass(store, PassKind.RESIDENT, "3-2-501")
        revoke_pass(store, p.pass_id, "遗失 lost")
        assert check_token(store, p.token, "in").outcome == "deny"
        out = check_token(store, p.token, "out")
        assert out.outcome == "refer" and out.reason_codes() == ["revoked_exit"] and "遗失" in out.reason_text()

    def test_verify_exit_code_follows_the_level(self, store, capsys, monkeypatch):
        from models.volunteers import add_volunteer
        from tui.cli import main

        add_volunteer(store, "王秀英", "888888", "supervisor")
        monkeypatch.setattr("sys.stdin", io.StringIO("888888\n" * 10))
        p = issue_pass(store, PassKind.RESIDENT, "3-2-501")
        revoke_pass(store, p.pass_id, "遗失 lost")
        data = str(store.data_dir)
        assert main(["pass", "verify", "--data-dir", data, p.token]) == 1
        assert main(["pass", "verify", "--data-dir", data, "--direction", "out", p.token]) == 3
        out = capsys.readouterr().out
        assert "check who it is by hand" in out and "遗失" in out


class TestSamePassTwice:
    def pass_(self, store):
        return issue_pass(store, PassKind.RESIDENT, "3-2-501", valid_from=store.trusted_now() - DAY)

    def test_out_twice_without_coming_back_is_checked(self, store):
        p = self.pass_(store)
        now = store.trusted_now()
        first = check_token(store, p.token, "out", now=now)
        assert first.allowed
        record_passage(store, "out", first, reading=at(now))
        second = check_token(store, p.token, "out", now=now + 60)
        assert second.outcome == "refer" and second.reason_codes() == ["already_out"]
        assert "已在外" in second.reason_text("zh") and "already out" in second.reason_text("en")
        back = check_token(store, p.token, "in", now=now + 120)
        assert back.allowed and back.reason_codes() == []

    def test_in_twice_is_checked(self, store):
        p = self.pass_(store)
        now = store.trusted_now()
        record_passage(store, "in", check_token(store, p.token, "in", now=now), reading=at(now))
        again = check_token(store, p.token, "in", now=now + 60)
        assert again.outcome == "refer" and again.reason_codes() == ["already_in"]
        assert "已在内" in again.reason_text("zh")

    def test_policy_can_make_it_red(self, store):
        store.set_policy(deny_repeat_direction="true")
        p = self.pass_(store)
        now = store.trusted_now()
        record_passage(store, "out", check_token(store, p.token, "out", now=now), reading=at(now))
        second = check_token(store, p.token, "out", now=now + 60)
        assert second.outcome == "deny" and second.reason_codes() == ["twice_out"]

    def test_a_turned_back_scan_does_not_change_where_the_pass_is(self, store):
        # A denied or turned-back passage did not go through: it must not flip the state (an
        # attacker cannot "reset" a card by getting it refused once).
        p = self.pass_(store)
        now = store.trusted_now()
        record_passage(store, "out", check_token(store, p.token, "out", now=now), reading=at(now))
        refused = check_token(store, p.token, "in", now=now + 10)
        record_passage(store, "in", refused, outcome="deny", extra_reasons=["turned_back"], reading=at(now + 10))
        assert check_token(store, p.token, "out", now=now + 20).reason_codes() == ["already_out"]

    def test_another_pass_of_the_same_household_is_not_confused(self, store):
        a = self.pass_(store)
        b = self.pass_(store)
        now = store.trusted_now()
        record_passage(store, "out", check_token(store, a.token, "out", now=now), reading=at(now))
        assert check_token(store, b.token, "out", now=now + 60).allowed


def check_registration(store, unit, id_number, direction):
    from models.gate import check_registration as check

    return check(store, unit, id_number, direction)


class TestRegistrationLists:
    def test_visiting_a_quarantined_household_is_checked_by_hand(self, store):
        store.add_list_entry("quarantine", unit_code="2-1-302")
        v = check_registration(store, "2-1-302", "", "in")
        assert v.outcome == "refer" and v.reason_codes() == ["quarantine_visit"]
        assert "居家隔离" in v.reason_text("zh") and "check by hand" in v.reason_text("en")
        assert check_registration(store, "3-2-501", "", "in").reason_codes() == []

    def test_policy_can_refuse_visits_to_quarantined_households(self, store):
        store.add_list_entry("quarantine", unit_code="2-1-302")
        store.set_policy(refuse_quarantine_visits="true")
        v = check_registration(store, "2-1-302", "", "in")
        assert v.outcome == "deny" and v.reason_codes() == ["quarantine_visit_refused"]

    def test_a_person_on_the_quarantine_list_by_id_hash(self, store):
        id_number = "11010519491231002X"
        store.add_list_entry("quarantine", person_hash=lookup_hash(store.lookup_key, "id", id_number))
        v = check_registration(store, "3-2-501", id_number, "in")
        assert v.outcome == "refer" and v.reason_codes() == ["quarantined_person"]
        assert check_registration(store, "3-2-501", "110105194912310037", "in").reason_codes() == []

    def test_a_person_listed_under_the_office_s_stronger_hash_is_still_found(self, store):
        """The office hashes its person lists with its policy's cost; a kiosk whose registrations
        were made at the default cost must still find the person (every cost in use is tried)."""
        from models.gate import person_list_reasons
        from models.privacy import LookupCost

        id_number = "11010519491231002X"
        store.set_policy(lookup_time_cost=3, lookup_memory_mib=32)
        strong = lookup_hash(store.lookup_key, "id", id_number, LookupCost(3, 32 * 1024))
        assert strong != lookup_hash(store.lookup_key, "id", id_number)
        store.add_list_entry("quarantine", person_hash=strong)
        v = check_registration(store, "3-2-501", id_number, "in")
        assert v.outcome == "refer" and v.reason_codes() == ["quarantined_person"]
        assert [r.code for r in person_list_reasons(store, id_number, "out")] == ["quarantined"]
        assert person_list_reasons(store, "110105198001010016", "out") == ()

    def test_watch_listed_unit_is_shown_with_its_note(self, store):
        store.add_list_entry("watch", unit_code="5-1-101", note="独居老人")
        v = check_registration(store, "5-1-101", "", "in")
        assert v.outcome == "allow" and v.reason_codes() == ["watch"] and "独居老人" in v.reason_text()

    def test_a_resident_pass_coming_home_is_still_only_a_note(self, store):
        store.add_list_entry("quarantine", unit_code="2-1-302")
        home = issue_pass(store, PassKind.RESIDENT, "2-1-302")
        v = check_token(store, home.token, "in")
        assert v.allowed and v.reason_codes() == ["quarantined_home"]


class TestWhoIsInside:
    def test_visitors_inside_after_hours_and_households_out_after_curfew(self, store):
        from models.report import day_report, format_report, who_is_out_of_place

        store.set_policy(visiting_until_hour=20, curfew_hour=22)
        day = time.mktime((2030, 3, 3, 0, 0, 0, 0, 0, -1))
        visitor = issue_pass(store, PassKind.VISITOR, "4-1-101", valid_days=1, valid_from=day)
        left = issue_pass(store, PassKind.VISITOR, "4-1-102", valid_days=1, valid_from=day)
        resident = issue_pass(store, PassKind.RESIDENT, "3-2-501", valid_from=day - DAY)
        home = issue_pass(store, PassKind.RESIDENT, "3-2-502", valid_from=day - DAY)
        for p, moves in ((visitor, ["in"]), (left, ["in", "out"]), (resident, ["out"]), (home, ["out", "in"])):
            for k, direction in enumerate(moves):
                t = day + 10 * 3600 + k * 3600
                record_passage(store, direction, check_token(store, p.token, direction, now=t), reading=at(t))
        assert who_is_out_of_place(store, day + 19 * 3600)["visitors_inside"] == []  # still visiting hours
        late = who_is_out_of_place(store, day + 23 * 3600)
        assert late["visitors_inside"] == ["4-1-101"] and late["out_past_curfew"] == ["3-2-501"]
        assert who_is_out_of_place(store, day + 21 * 3600)["out_past_curfew"] == []  # before the curfew
        import datetime as dt

        report = day_report(store, dt.date(2030, 3, 3))
        assert report["visitors_inside"] == ["4-1-101"] and report["out_past_curfew"] == ["3-2-501"]
        text = format_report(report)
        assert "访客超时未离开：4-1-101" in text and "宵禁后仍有人在外的住户：3-2-501" in text


class TestOverrideRecord:
    def test_both_names_an_audit_record_and_the_count(self, store):
        from models.facts import record_override
        from models.report import day_report, format_report
        from models.volunteers import add_volunteer

        add_volunteer(store, "王秀英", "888888", "supervisor")
        add_volunteer(store, "李建国", "1234")
        ids = {name: vid for vid, name in store.engine.connect().exec_driver_sql("SELECT id, name FROM volunteer")}
        p = issue_pass(store, PassKind.RESIDENT, "3-2-501")
        revoke_pass(store, p.pass_id, "遗失 lost")
        denied = check_token(store, p.token, "in")
        fact = record_override(
            store, "in", denied, ids["李建国"], ids["王秀英"], "  住户忘带通行证 ", reason_code="forgot_pass"
        )
        with store.engine.connect() as conn:
            row = conn.exec_driver_sql("SELECT verdict, reasons, volunteer_id FROM passage").one()
            audit = conn.exec_driver_sql("SELECT volunteer_id, detail FROM audit_event WHERE action='override'").one()
            payload = conn.exec_driver_sql("SELECT payload FROM outbox WHERE record_id = ?", (fact.record_id,)).one()
        assert tuple(row) == ("allow", '["revoked", "overridden"]', ids["李建国"])
        import json

        detail = json.loads(audit[1])
        assert audit[0] == ids["王秀英"] and detail["on_duty"] == ids["李建国"] and detail["passage"] == fact.record_id
        assert detail["reason"] == "住户忘带通行证" and detail["was"] == "deny"
        sent = json.loads(payload[0])["override"]
        assert sent["supervisor_id"] == ids["王秀英"] and sent["volunteer_id"] == ids["李建国"]
        report = day_report(store)
        assert report["overridden"] == 1 and report["passages"]["in"] == 1
        assert "主管人工放行 1 人次" in format_report(report)

    def test_an_override_needs_a_reason(self, store):
        from models.errors import KakouError
        from models.facts import record_override

        with pytest.raises(KakouError) as err:
            record_override(store, "in", None, 1, 2, "   ", unit_code="3-2-501")
        assert "原因" in err.value.zh
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM passage").scalar() == 0


class TestChangesUnderTheDesk:
    def test_a_revocation_by_another_store_is_seen_by_reload_if_changed(self, store):
        from models.store import KioskStore

        p = issue_pass(store, PassKind.RESIDENT, "3-2-501")
        assert check_token(store, p.token, "in").allowed  # the lists are in memory now
        assert store.reload_if_changed() is False
        other = KioskStore.open(store.data_dir, check=False)
        revoke_pass(other, p.pass_id, "遗失 lost")
        other.add_list_entry("quarantine", unit_code="2-1-302")
        other.engine.dispose()
        assert store.reload_if_changed() is True
        assert check_token(store, p.token, "in").reason_codes() == ["revoked"]
        assert store.reload_if_changed() is False

    def test_a_policy_set_by_another_store_is_seen(self, store):
        from models.store import KioskStore

        assert store.policy().fever_threshold == 37.3
        other = KioskStore.open(store.data_dir, check=False)
        other.set_policy(fever_threshold="37.8")
        other.engine.dispose()
        assert store.reload_if_changed() is True and store.policy().fever_threshold == 37.8


def test_where_a_pass_is_follows_the_order_written_not_a_clock_that_fell_back(store):
    # A kiosk without an RTC reads 1970 after a power cut: its next passage has an older device
    # time than the one before, but it is still the last one.
    p = issue_pass(store, PassKind.RESIDENT, "3-2-501", valid_from=store.trusted_now() - DAY)
    now = store.trusted_now()
    record_passage(store, "out", check_token(store, p.token, "out", now=now), reading=at(now))
    record_passage(store, "in", check_token(store, p.token, "in", now=now), reading=at(5.0))
    assert check_token(store, p.token, "out", now=now + 60).reason_codes() == []
    assert check_token(store, p.token, "in", now=now + 60).reason_codes() == ["already_in"]
