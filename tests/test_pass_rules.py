"""Quota, hours and scope deny at the right moment and allow again after; revoke denies at
once; reissue denies the old pass and allows the new one. Driven through the store
(issue_pass, record_passage, check_token) at controlled times."""

from __future__ import annotations

import time

import pytest

from models import clock
from models.facts import record_passage
from models.gate import check_token
from models.passes import issue_pass, reissue_pass, revoke_pass
from models.passtoken import PassKind

DAY = 86400


def local(y, mo, d, h, mi=0) -> float:
    return time.mktime((y, mo, d, h, mi, 0, 0, 0, -1))


def at(t: float) -> clock.Reading:
    return clock.Reading(wall=t, mono_ns=int(t * 1e9), boot_id="test")


T0 = local(2030, 3, 2, 9)  # a Saturday morning, after every pass below starts


class TestOutingQuota:
    @pytest.fixture
    def outing(self, store):
        store.set_policy(outing_quota=1, outing_window_days=2)
        return issue_pass(store, PassKind.OUTING, "3-2-501", valid_days=30, valid_from=T0 - DAY)

    def go_out(self, store, token, t):
        """Out, and (when let out) back in a little later: one gate, so an outing comes back."""
        verdict = check_token(store, token, "out", now=t)
        record_passage(store, "out", verdict, reading=at(t))
        if verdict.allowed:
            record_passage(store, "in", check_token(store, token, "in", now=t + 30), reading=at(t + 30))
        return verdict

    def test_one_outing_per_two_days(self, store, outing):
        assert self.go_out(store, outing.token, T0).allowed
        second = check_token(store, outing.token, "out", now=T0 + 3600)
        assert second.reason_codes() == ["outing_quota"]
        assert "2030-03-04" in second.reason_text("en")  # the date of the next allowed outing
        assert not check_token(store, outing.token, "out", now=T0 + 2 * DAY - 1).allowed
        assert check_token(store, outing.token, "out", now=T0 + 2 * DAY).allowed

    def test_coming_back_in_is_never_limited(self, store, outing):
        record_passage(store, "out", check_token(store, outing.token, "out", now=T0), reading=at(T0))
        assert check_token(store, outing.token, "in", now=T0 + 600).allowed

    def test_denied_attempts_do_not_use_the_quota(self, store, outing):
        self.go_out(store, outing.token, T0)
        for k in range(3):
            assert not self.go_out(store, outing.token, T0 + 3600 * (k + 1)).allowed
        assert check_token(store, outing.token, "out", now=T0 + 2 * DAY).allowed

    def test_quota_is_per_household(self, store, outing):
        neighbour = issue_pass(store, PassKind.OUTING, "3-2-502", valid_days=30, valid_from=T0 - DAY)
        self.go_out(store, outing.token, T0)
        assert check_token(store, neighbour.token, "out", now=T0 + 60).allowed

    def test_two_outings_per_window(self, store):
        store.set_policy(outing_quota=2, outing_window_days=2)
        p = issue_pass(store, PassKind.OUTING, "1-1-101", valid_days=30, valid_from=T0 - DAY)
        self.go_out(store, p.token, T0)
        self.go_out(store, p.token, T0 + 3600)
        denied = check_token(store, p.token, "out", now=T0 + 7200)
        assert denied.reason_codes() == ["outing_quota"]
        # the oldest of the two leaves the window first
        assert check_token(store, p.token, "out", now=T0 + 2 * DAY).allowed

    def test_no_quota_policy_means_no_limit(self, store):
        p = issue_pass(store, PassKind.OUTING, "1-1-102", valid_days=30, valid_from=T0 - DAY)
        for k in range(3):
            assert self.go_out(store, p.token, T0 + k * 60).allowed


class TestHours:
    def test_work_pass_hours(self, store):
        p = issue_pass(store, PassKind.WORK, "2-2-201", valid_days=30, hours=(8, 18), valid_from=T0 - DAY)
        day = local(2030, 3, 3, 0)
        assert check_token(store, p.token, "in", now=day + 7 * 3600 + 3599).reason_codes() == ["outside_hours"]
        # Going out after the hours is let out with a note: the hours keep nobody inside.
        early = check_token(store, p.token, "out", now=day + 7 * 3600 + 3599)
        assert early.allowed and early.reason_codes() == ["left_after_hours"]
        assert check_token(store, p.token, "out", now=day + 8 * 3600).allowed
        assert check_token(store, p.token, "in", now=day + 17 * 3600 + 3599).allowed
        late = check_token(store, p.token, "in", now=day + 18 * 3600)
        assert late.reason_codes() == ["outside_hours"] and "08:00-18:00" in late.reason_text("en")

    def test_night_shift_wraps_past_midnight(self, store):
        p = issue_pass(store, PassKind.WORK, "2-2-202", valid_days=30, hours=(22, 6), valid_from=T0 - DAY)
        day = local(2030, 3, 3, 0)
        assert check_token(store, p.token, "out", now=day + 23 * 3600).allowed
        assert check_token(store, p.token, "in", now=day + 5 * 3600 + 3599).allowed
        assert not check_token(store, p.token, "in", now=day + 6 * 3600).allowed
        assert not check_token(store, p.token, "in", now=day + 21 * 3600 + 3599).allowed
        assert check_token(store, p.token, "out", now=day + 21 * 3600 + 3599).reason_codes() == ["left_after_hours"]

    def test_visitor_pass_expires_after_its_day(self, store):
        p = issue_pass(store, PassKind.VISITOR, "4-1-101", valid_days=1, hours=(9, 17), valid_from=T0)
        assert check_token(store, p.token, "in", now=T0 + 3600).allowed
        assert check_token(store, p.token, "in", now=T0 + DAY).reason_codes() == ["expired"]
        assert check_token(store, p.token, "in", now=T0 + 3600 - DAY).reason_codes() == ["not_yet_valid"]


class TestScope:
    def test_pass_for_another_checkpoint_is_denied_here(self, store):
        elsewhere = issue_pass(store, PassKind.RESIDENT, "1-1-101", scope=2, valid_from=T0 - DAY)
        here = issue_pass(store, PassKind.RESIDENT, "1-1-101", scope=1, valid_from=T0 - DAY)
        anywhere = issue_pass(store, PassKind.RESIDENT, "1-1-101", scope=0, valid_from=T0 - DAY)
        assert check_token(store, elsewhere.token, "in", now=T0).reason_codes() == ["wrong_checkpoint"]
        assert check_token(store, here.token, "in", now=T0).allowed
        assert check_token(store, anywhere.token, "in", now=T0).allowed


class TestRevokeAndReissue:
    def test_revoke_denies_at_once(self, store):
        p = issue_pass(store, PassKind.RESIDENT, "3-2-501")
        assert check_token(store, p.token, "in").allowed
        revoke_pass(store, p.pass_id[:8], "遗失 lost")
        verdict = check_token(store, p.token, "in")
        assert verdict.reason_codes() == ["revoked"] and "遗失" in verdict.reason_text("zh")

    def test_reissue_denies_old_allows_new_in_one_transaction(self, store):
        from sqlalchemy import text

        old = issue_pass(store, PassKind.VEHICLE, "3-2-501", plate="京A12345", name="王喆")
        new = reissue_pass(store, old.pass_id, "损坏 damaged")
        assert check_token(store, old.token, "in").reason_codes() == ["revoked"]
        assert check_token(store, new.token, "in").allowed
        assert (new.body.unit, new.body.plate, new.body.name) == ("3-2-501", "京A12345", "王喆")
        with store.engine.connect() as conn:
            kinds = [r[0] for r in conn.execute(text("SELECT kind FROM outbox ORDER BY seq"))]
        assert kinds[-2:] == ["pass_revoked", "pass_issued"]

    def test_a_failed_reissue_leaves_the_old_pass_valid(self, store, monkeypatch):
        import models.passes as passes

        old = issue_pass(store, PassKind.RESIDENT, "3-2-501")

        def disk_full(*args, **kwargs):
            raise OSError("disk full")

        monkeypatch.setattr(passes, "_insert_pass", disk_full)
        with pytest.raises(OSError):
            reissue_pass(store, old.pass_id)
        store.invalidate()
        assert check_token(store, old.token, "in").allowed  # the revocation rolled back with it
