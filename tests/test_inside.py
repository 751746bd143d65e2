"""Who is inside (issue 14): registrations are inside until signed out, the list of visitors
inside and its sign-out, and the handover / `kakou report` naming registrations still inside
after the visiting hours."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from models import clock
from models.errors import KakouError
from models.facts import RegistrationInput, record_passage, record_registration
from models.gate import check_token
from models.inside import sign_out, visitors_inside
from models.passes import issue_pass
from models.passtoken import PassKind

DAY = 86400
T0 = time.mktime((2030, 3, 3, 0, 0, 0, 0, 0, -1))


def at(t: float) -> clock.Reading:
    return clock.Reading(wall=t, mono_ns=int(t * 1e9), boot_id="test")


def register(store, kind: str, unit: str, t: float, name: str = "张三丰", direction: str = "in"):
    reg = RegistrationInput(kind=kind, name=name, to_unit=unit, phone="13800138000")
    return record_registration(store, reg, reading=at(t), direction=direction)


def outbox_payloads(store, kind: str) -> list[dict]:
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT payload FROM outbox WHERE kind = ? ORDER BY seq", (kind,)).all()
    return [json.loads(r[0]) for r in rows]


class TestRegistrationsInside:
    def test_a_registered_visitor_is_inside_until_signed_out(self, store):
        fact = register(store, "visitor", "4-1-101", T0 + 10 * 3600)
        inside = visitors_inside(store, T0 + 11 * 3600)
        assert [(p.key, p.kind, p.unit, p.name_masked) for p in inside] == [
            (f"reg:{fact.record_id}", "visitor", "4-1-101", "张*丰")
        ]
        sign_out(store, inside[0].key, volunteer_id=None, now=T0 + 11 * 3600)
        assert visitors_inside(store, T0 + 12 * 3600) == []
        # The exit is a passage out naming the registration, in the outbox (it reaches the office).
        exits = [p for p in outbox_payloads(store, "passage") if p.get("registration_id") == fact.record_id]
        assert len(exits) == 1
        assert exits[0]["direction"] == "out" and exits[0]["verdict"] == "allow"
        assert exits[0]["reasons"] == '["signed_out"]' and exits[0]["unit_code"] == "4-1-101"

    def test_signed_out_twice_or_a_made_up_key_is_refused_in_words(self, store):
        fact = register(store, "courier", "", T0 + 10 * 3600)
        key = f"reg:{fact.record_id}"
        sign_out(store, key, now=T0 + 11 * 3600)
        for bad in (key, "reg:not-a-record", f"pass:{'0' * 32}", "garbage"):
            with pytest.raises(KakouError) as err:
                sign_out(store, bad, now=T0 + 11 * 3600)
            assert err.value.code == "not_inside" and "不在院内" in str(err.value.zh)
        # Nothing more was recorded by the refused tries: one exit only.
        assert sum(1 for p in outbox_payloads(store, "passage") if p.get("registration_id")) == 1

    def test_the_record_refuses_a_second_exit_even_past_the_list(self, store):
        from models.facts import record_sign_out

        fact = register(store, "visitor", "4-1-101", T0 + 10 * 3600)
        record_sign_out(store, "4-1-101", registration_id=fact.record_id)
        with pytest.raises(KakouError):
            record_sign_out(store, "4-1-101", registration_id=fact.record_id)

    def test_returnees_and_people_registered_going_out_are_not_inside(self, store):
        reg = RegistrationInput(kind="returnee", name="李四", id_number="", to_unit="3-2-501")
        record_registration(store, reg, reading=at(T0 + 10 * 3600))
        register(store, "medical", "", T0 + 10 * 3600, direction="out")
        assert visitors_inside(store, T0 + 11 * 3600) == []

    def test_a_visitor_pass_inside_is_listed_and_its_sign_out_is_its_exit(self, store):
        # On the kiosk's own clock: the exit is recorded at the time it is picked.
        p = issue_pass(store, PassKind.VISITOR, "4-1-102", valid_days=1, name="王小明")
        record_passage(store, "in", check_token(store, p.token, "in"))
        [person] = visitors_inside(store)
        assert person.subject == "pass" and person.unit == "4-1-102" and person.name_masked == "王*明"
        sign_out(store, person.key)
        assert visitors_inside(store) == []
        # The pass now last went out: scanned in again it is not "already inside".
        assert check_token(store, p.token, "in").reason_codes() == []


class TestReportsNameThem:
    def test_handover_and_report_count_registrations_inside_after_visiting_hours(self, store):
        from models.report import day_report, format_report, who_is_out_of_place

        store.set_policy(visiting_until_hour=20, curfew_hour=22)
        stays = register(store, "visitor", "4-1-101", T0 + 10 * 3600)
        register(store, "courier", "", T0 + 10 * 3600)
        left = register(store, "worker", "5-1-201", T0 + 11 * 3600)
        sign_out(store, f"reg:{left.record_id}", now=T0 + 12 * 3600)
        assert who_is_out_of_place(store, T0 + 19 * 3600)["registrations_inside"] == []  # still visiting hours
        late = who_is_out_of_place(store, T0 + 21 * 3600)
        assert late["registrations_inside"] == [["visitor", "4-1-101"], ["courier", ""]]
        report = day_report(store, dt.date(2030, 3, 3))
        assert report["registrations_inside"] == [["visitor", "4-1-101"], ["courier", ""]]
        assert "登记人员超时未离开 2 人：访客 4-1-101，快递外卖 1" in format_report(report)
        assert "(2): visitor 4-1-101, courier 1" in format_report(report, "en")
        sign_out(store, f"reg:{stays.record_id}", now=T0 + 22 * 3600)
        assert who_is_out_of_place(store, T0 + 23 * 3600)["registrations_inside"] == [["courier", ""]]

    def test_the_handover_lines_name_them(self, store, monkeypatch):
        from models.shift import shift_summary

        store.set_policy(visiting_until_hour=20)
        register(store, "visitor", "4-1-101", T0 + 10 * 3600)
        monkeypatch.setattr(store, "trusted_now", lambda: T0 + 21 * 3600)
        summary = shift_summary(store, T0 + 8 * 3600, T0 + 21 * 3600)
        assert summary["registrations_inside"] == [["visitor", "4-1-101"]]
        from tui.screens.handover import summary_lines
        from tui.strings import t

        class App:
            lang = "zh"

            def t(self, key, **params):
                return t("zh", key, **params)

        text = "\n".join(summary_lines(App(), summary, "李建国"))
        assert "登记人员超过 20 点未签退 1 人：访客 4-1-101" in text
