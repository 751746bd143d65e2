"""Volunteers and their PINs (issue 14): `kakou volunteer add / pin / disable / enable / list`,
the rules they keep (PIN length by role, one PIN per person, unique names, the last supervisor),
the audit records, and the one permission check (models/permissions.py)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from tui.cli import main


def run(capsys, monkeypatch, *argv, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def kiosk(store) -> str:
    from models.volunteers import add_volunteer

    add_volunteer(store, "王秀英", "888888", "supervisor")
    add_volunteer(store, "李建国", "1234")
    return str(store.data_dir)


def audits(store, action: str) -> list[tuple[int | None, dict]]:
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT volunteer_id, detail FROM audit_event WHERE action = ? ORDER BY rowid", (action,)
        ).all()
    return [(r[0], json.loads(r[1])) for r in rows]


def outbox_audits(store, action: str) -> int:
    """Audit records waiting to be synced to the office (the outbox holds what is pushed)."""
    with store.engine.connect() as conn:
        payloads = [r[0] for r in conn.exec_driver_sql("SELECT payload FROM outbox WHERE kind = 'audit'").all()]
    return sum(1 for p in payloads if json.loads(p)["action"] == action)


def volunteer_named(store, name: str) -> int:
    from models.volunteers import find_volunteer

    return find_volunteer(store, name).id


def names(capsys, monkeypatch, kiosk) -> dict[str, tuple[str, bool]]:
    code, out, _ = run(capsys, monkeypatch, "volunteer", "list", "--json", "--data-dir", kiosk)
    assert code == 0
    return {v["name"]: (v["role"], v["active"]) for v in json.loads(out)}


class TestAdd:
    def test_a_supervisor_adds_a_volunteer_who_can_log_in_and_it_is_audited(self, capsys, monkeypatch, kiosk, store):
        from models.volunteers import login

        code, out, err = run(
            capsys, monkeypatch, "volunteer", "add", "张三", "--data-dir", kiosk, stdin="888888\n2468\n2468\n"
        )
        assert code == 0, err
        assert "张三" in out
        assert login(store, "2468").name == "张三"
        assert names(capsys, monkeypatch, kiosk)["张三"] == ("volunteer", True)
        supervisor_id = login(store, "888888").id
        [(by, detail)] = [a for a in audits(store, "volunteer_added") if a[1]["name"] == "张三"]
        assert by == supervisor_id and detail["role"] == "volunteer" and detail["via"] == "cli"
        assert outbox_audits(store, "volunteer_added") == 3  # the fixture's two and 张三: all synced
        assert "2468" not in json.dumps(audits(store, "volunteer_added"))

    def test_a_second_supervisor_needs_six_digits(self, capsys, monkeypatch, kiosk, store):
        from models.volunteers import login

        code, _, err = run(
            capsys,
            monkeypatch,
            "volunteer",
            "add",
            "赵六",
            "--role",
            "supervisor",
            "--data-dir",
            kiosk,
            stdin="888888\n13579\n13579\n",
        )
        assert code == 2 and "6-8" in err and "Traceback" not in err
        assert "赵六" not in names(capsys, monkeypatch, kiosk)
        code, _, err = run(
            capsys,
            monkeypatch,
            "volunteer",
            "add",
            "赵六",
            "--role",
            "supervisor",
            "--data-dir",
            kiosk,
            stdin="888888\n135790\n135790\n",
        )
        assert code == 0, err
        assert login(store, "135790").is_supervisor

    @pytest.mark.parametrize("pin", ["123", "12a4", "123456789", "１２３４"])
    def test_a_short_or_odd_pin_is_refused_in_words(self, capsys, monkeypatch, kiosk, pin):
        code, out, err = run(
            capsys, monkeypatch, "volunteer", "add", "张三", "--data-dir", kiosk, stdin=f"888888\n{pin}\n{pin}\n"
        )
        assert code == 2 and "4-8" in err and "Traceback" not in err and out == ""
        assert "张三" not in names(capsys, monkeypatch, kiosk)

    def test_someone_elses_pin_is_refused(self, capsys, monkeypatch, kiosk, store):
        code, _, err = run(
            capsys, monkeypatch, "volunteer", "add", "张三", "--data-dir", kiosk, stdin="888888\n1234\n1234\n"
        )
        assert code == 2 and "已被他人使用" in err and "already used" in err
        assert "张三" not in names(capsys, monkeypatch, kiosk)
        # Trying PINs to learn someone else's shows in the audit, under the supervisor who tried.
        [(by, detail)] = audits(store, "pin_taken_refused")
        assert by == volunteer_named(store, "王秀英") and detail["name"] == "张三"

    def test_a_disabled_volunteers_pin_is_not_given_to_someone_else(self, capsys, monkeypatch, kiosk, store):
        """Else enabling them again would give two people one PIN."""
        from models.volunteers import set_active

        set_active(store, "李建国", False, by=None)
        code, _, err = run(
            capsys, monkeypatch, "volunteer", "add", "张三", "--data-dir", kiosk, stdin="888888\n1234\n1234\n"
        )
        assert code == 2 and "已被他人使用" in err

    def test_two_different_new_pins_change_nothing(self, capsys, monkeypatch, kiosk):
        code, _, err = run(
            capsys, monkeypatch, "volunteer", "add", "张三", "--data-dir", kiosk, stdin="888888\n2468\n2469\n"
        )
        assert code == 2 and "不一样" in err
        assert "张三" not in names(capsys, monkeypatch, kiosk)

    @pytest.mark.parametrize("name", ["李建国", " 李建国 ", "李 建国"])
    def test_a_name_already_used_is_refused_before_any_pin(self, capsys, monkeypatch, kiosk, store, name):
        code, _, err = run(capsys, monkeypatch, "volunteer", "add", name, "--data-dir", kiosk, stdin="888888\n")
        assert code == 2 and "已有名叫" in err
        assert audits(store, "login_failed") == [] and store.kiosk_state().pin_failures == 0

    def test_the_domain_refuses_a_duplicate_name_too(self, store):
        """The check runs in the writing transaction, not only in the command."""
        from models.volunteers import PinError, add_volunteer

        add_volunteer(store, "Li Jianguo", "1234")
        with pytest.raises(PinError) as refused:
            add_volunteer(store, "li jianguo", "5678")
        assert refused.value.code == "name_taken"

    def test_a_pin_taken_meanwhile_by_another_process_is_still_refused(self, store, monkeypatch):
        """Two adds at once (the desk and a shell): the slow argon2 check runs before the write
        lock, so the rows that changed meanwhile are checked again inside the transaction."""
        from models import volunteers

        real = volunteers._all_hashes
        calls = []

        def snapshot_then_someone_adds(conn):
            seen = real(conn)
            if not calls:
                calls.append(1)
                # Another process adds 李四 with the same PIN after this add took its snapshot.
                monkeypatch.setattr(volunteers, "_all_hashes", real)
                volunteers.add_volunteer(store, "李四", "2468")
                monkeypatch.setattr(volunteers, "_all_hashes", snapshot_then_someone_adds)
            return seen

        monkeypatch.setattr(volunteers, "_all_hashes", snapshot_then_someone_adds)
        with pytest.raises(volunteers.PinError) as refused:
            volunteers.add_volunteer(store, "张三", "2468")
        assert refused.value.code == "pin_taken"
        assert [v.name for v in volunteers.list_volunteers(store)] == ["李四"]


class TestSupervisorPin:
    def test_a_volunteer_cannot_add_anyone(self, capsys, monkeypatch, kiosk, store):
        code, _, err = run(
            capsys, monkeypatch, "volunteer", "add", "张三", "--data-dir", kiosk, stdin="1234\n2468\n2468\n"
        )
        assert code == 2 and "不是管理员" in err and "not a supervisor" in err
        assert "张三" not in names(capsys, monkeypatch, kiosk)
        [(by, detail)] = audits(store, "supervisor_refused")
        assert detail["command"] == "volunteer_add" and detail["via"] == "cli" and by is not None

    def test_a_wrong_pin_counts_towards_the_lockout(self, capsys, monkeypatch, kiosk, store):
        code, _, err = run(capsys, monkeypatch, "volunteer", "disable", "李建国", "--data-dir", kiosk, stdin="999999\n")
        assert code == 2 and "PIN" in err
        assert store.kiosk_state().pin_failures == 1
        assert names(capsys, monkeypatch, kiosk)["李建国"] == ("volunteer", True)

    def test_no_pin_at_all_is_no_try(self, capsys, monkeypatch, kiosk, store):
        code, _, err = run(capsys, monkeypatch, "volunteer", "disable", "李建国", "--data-dir", kiosk, stdin="")
        assert code == 2 and "没有读到 PIN" in err
        assert store.kiosk_state().pin_failures == 0

    def test_an_unknown_name_is_said_in_words(self, capsys, monkeypatch, kiosk):
        code, _, err = run(capsys, monkeypatch, "volunteer", "pin", "无名氏", "--data-dir", kiosk, stdin="888888\n")
        assert code == 2 and "没有名叫「无名氏」" in err and "Traceback" not in err


class TestPin:
    def test_a_new_pin_replaces_the_old_one(self, capsys, monkeypatch, kiosk, store):
        from models.volunteers import PinError, login

        code, _, err = run(
            capsys, monkeypatch, "volunteer", "pin", "李建国", "--data-dir", kiosk, stdin="888888\n97531\n97531\n"
        )
        assert code == 0, err
        assert login(store, "97531").name == "李建国"
        with pytest.raises(PinError):
            login(store, "1234")
        [(by, detail)] = audits(store, "volunteer_pin")
        assert detail["name"] == "李建国" and by == login(store, "888888").id

    def test_a_supervisor_keeps_six_digits_when_the_pin_changes(self, capsys, monkeypatch, kiosk, store):
        code, _, err = run(
            capsys, monkeypatch, "volunteer", "pin", "王秀英", "--data-dir", kiosk, stdin="888888\n4321\n4321\n"
        )
        assert code == 2 and "6-8" in err

    def test_an_old_short_supervisor_pin_may_only_replace_itself(self, capsys, monkeypatch, store):
        """A kiosk set up before the 6-digit rule has a 4-digit supervisor PIN: it still logs
        in, but authorises nothing until its owner sets a new one."""
        from models.volunteers import add_volunteer, login

        kiosk = str(store.data_dir)
        add_volunteer(store, "王秀英", "888888", "supervisor")
        # A PIN from before the rule, as the old setup stored it.
        _store_short_pin(store, "王秀英", "8888")
        add_volunteer(store, "李建国", "1234")
        assert login(store, "8888").weak_pin

        code, _, err = run(capsys, monkeypatch, "volunteer", "disable", "李建国", "--data-dir", kiosk, stdin="8888\n")
        assert code == 2 and "不足 6 位" in err and "kakou volunteer pin 王秀英" in err
        code, _, err = run(
            capsys, monkeypatch, "volunteer", "pin", "李建国", "--data-dir", kiosk, stdin="8888\n2222\n2222\n"
        )
        assert code == 2 and "不足 6 位" in err, "a short supervisor PIN sets no one else's PIN"
        code, _, err = run(
            capsys,
            monkeypatch,
            "pass",
            "issue",
            "--kind",
            "resident",
            "--unit",
            "3-2-501",
            "--data-dir",
            kiosk,
            stdin="8888\n",
        )
        assert code == 2 and "不足 6 位" in err
        code, _, err = run(
            capsys, monkeypatch, "volunteer", "pin", "王秀英", "--data-dir", kiosk, stdin="8888\n246810\n246810\n"
        )
        assert code == 0, err
        code, _, err = run(capsys, monkeypatch, "volunteer", "disable", "李建国", "--data-dir", kiosk, stdin="246810\n")
        assert code == 0, err


def _store_short_pin(store, name: str, pin: str) -> None:
    """What an old kiosk holds: a supervisor PIN hashed before the 6-digit rule."""
    from sqlalchemy import update

    from models.tables import Volunteer
    from models.volunteers import _hasher

    with store.writer.begin() as conn:
        conn.execute(update(Volunteer).where(Volunteer.name == name).values(pin_hash=_hasher().hash(pin)))


class TestDisable:
    def test_a_disabled_volunteer_cannot_log_in_and_enabled_can_again(self, capsys, monkeypatch, kiosk, store):
        from models.volunteers import PinError, login

        code, out, err = run(
            capsys, monkeypatch, "volunteer", "disable", "李建国", "--data-dir", kiosk, stdin="888888\n"
        )
        assert code == 0, err
        assert "已停用" in out and "can no longer log in" in out
        assert names(capsys, monkeypatch, kiosk)["李建国"] == ("volunteer", False)
        with pytest.raises(PinError):
            login(store, "1234")
        code, _, err = run(capsys, monkeypatch, "volunteer", "enable", "李建国", "--data-dir", kiosk, stdin="888888\n")
        assert code == 0, err
        assert login(store, "1234").name == "李建国"
        assert [d["name"] for _, d in audits(store, "volunteer_disabled")] == ["李建国"]
        assert [d["name"] for _, d in audits(store, "volunteer_enabled")] == ["李建国"]
        assert outbox_audits(store, "volunteer_disabled") == outbox_audits(store, "volunteer_enabled") == 1

    def test_a_disabled_supervisor_cannot_authorise_on_the_command_line(self, capsys, monkeypatch, kiosk, store):
        from models.volunteers import add_volunteer, set_active

        add_volunteer(store, "赵六", "135790", "supervisor")
        set_active(store, "赵六", False, by=None)
        code, _, err = run(capsys, monkeypatch, "volunteer", "disable", "李建国", "--data-dir", kiosk, stdin="135790\n")
        assert code == 2 and "PIN" in err
        assert names(capsys, monkeypatch, kiosk)["李建国"] == ("volunteer", True)

    def test_the_last_supervisor_cannot_be_disabled(self, capsys, monkeypatch, kiosk, store):
        from models.volunteers import add_volunteer

        code, _, err = run(capsys, monkeypatch, "volunteer", "disable", "王秀英", "--data-dir", kiosk, stdin="888888\n")
        assert code == 2 and "最后一位管理员" in err and "last supervisor" in err
        assert names(capsys, monkeypatch, kiosk)["王秀英"] == ("supervisor", True)
        assert audits(store, "volunteer_disabled") == []
        # With a second supervisor, the first may be disabled (by the second), and then not the second.
        add_volunteer(store, "赵六", "135790", "supervisor")
        code, _, err = run(capsys, monkeypatch, "volunteer", "disable", "王秀英", "--data-dir", kiosk, stdin="135790\n")
        assert code == 0, err
        code, _, err = run(capsys, monkeypatch, "volunteer", "disable", "赵六", "--data-dir", kiosk, stdin="135790\n")
        assert code == 2 and "最后一位管理员" in err

    def test_the_list_shows_disabled_volunteers_as_such(self, capsys, monkeypatch, kiosk, store):
        from models.volunteers import set_active

        set_active(store, "李建国", False, by=None)
        code, out, _ = run(capsys, monkeypatch, "volunteer", "list", "--data-dir", kiosk)
        assert code == 0
        lines = out.splitlines()
        assert any("王秀英" in line and "supervisor" in line and "active" in line for line in lines)
        assert any("李建国" in line and "disabled" in line for line in lines)


class TestPermissionTable:
    def test_every_supervisor_action_in_the_code_is_in_the_one_table(self):
        """The CLI's require_supervisor and the desk's SupervisorPinScreen name their action;
        each must be in models.permissions.ACTIONS (an unknown one is refused, see below)."""
        from models.permissions import ACTIONS

        root = Path(__file__).resolve().parent.parent / "tui"
        found = set()
        for path in root.rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            found |= set(re.findall(r'require_supervisor\(store, "([a-z_]+)"', text))
            found |= set(re.findall(r'SupervisorPinScreen\("([a-z_]+)"\)', text))
        assert {"issue_pass", "settings", "quit", "manage_volunteers", "volunteer_add", "purge"} <= found
        assert found <= set(ACTIONS), found - set(ACTIONS)

    def test_an_action_the_table_does_not_know_is_refused_not_allowed(self, store):
        from models.errors import KakouError
        from models.permissions import authorize
        from models.volunteers import add_volunteer

        add_volunteer(store, "王秀英", "888888", "supervisor")
        with pytest.raises(KakouError) as refused:
            authorize(store, "issue_passes_typo", "888888", via="desk")
        assert refused.value.code == "unknown_action"


class TestLoginCost:
    """A PIN is typed without a name: a login must not try every volunteer's hash in turn (issue
    17: PIN to duty screen on a Pi-class kiosk). One argon2 call, however many volunteers."""

    @staticmethod
    def _count_argon2(monkeypatch) -> list[str]:
        import argon2
        import argon2.low_level

        calls: list[str] = []
        real_hash, real_verify = argon2.low_level.hash_secret, argon2.PasswordHasher.verify

        def counted_hash(*args, **kwargs):
            calls.append("hash")
            return real_hash(*args, **kwargs)

        def counted_verify(self, *args, **kwargs):
            calls.append("verify")
            return real_verify(self, *args, **kwargs)

        monkeypatch.setattr(argon2.low_level, "hash_secret", counted_hash)
        monkeypatch.setattr(argon2.PasswordHasher, "verify", counted_verify)
        return calls

    def test_a_login_among_eight_volunteers_is_one_argon2_call(self, store, monkeypatch):
        from models.volunteers import PinError, add_volunteer, login

        add_volunteer(store, "王秀英", "888888", "supervisor")
        for n in range(7):
            add_volunteer(store, f"值守{n}", f"{5000 + n}")
        calls = self._count_argon2(monkeypatch)
        assert login(store, "5006").name == "值守6"
        assert calls == ["hash"], calls
        calls.clear()
        with pytest.raises(PinError):
            login(store, "4321")  # a wrong PIN costs the same one call
        assert calls == ["hash"], calls

    def test_a_pin_hashed_the_old_way_still_logs_in_and_is_made_anew(self, store, monkeypatch):
        from models.volunteers import add_volunteer, login

        add_volunteer(store, "王秀英", "888888", "supervisor")
        add_volunteer(store, "李建国", "1234")
        _store_short_pin(store, "李建国", "2468")  # a hash with its own random salt, as before
        old = self._hash_of(store, "李建国")
        calls = self._count_argon2(monkeypatch)
        assert login(store, "2468").name == "李建国"
        assert "verify" in calls  # the old hash is verified on its own, once
        new = self._hash_of(store, "李建国")
        assert new != old and new.startswith("$argon2id$")
        calls.clear()
        assert login(store, "2468").name == "李建国" and calls == ["hash"]
        calls.clear()
        assert login(store, "888888").name == "王秀英" and calls == ["hash"]

    def test_a_pin_stays_one_persons_across_old_and_new_hashes(self, store):
        from models.volunteers import PinError, add_volunteer

        add_volunteer(store, "王秀英", "888888", "supervisor")
        add_volunteer(store, "李建国", "1234")
        _store_short_pin(store, "李建国", "2468")
        with pytest.raises(PinError) as err:
            add_volunteer(store, "陈晓", "2468")
        assert err.value.code == "pin_taken"
        with pytest.raises(PinError) as err:
            add_volunteer(store, "陈晓", "888888")
        assert err.value.code == "pin_taken"

    @staticmethod
    def _hash_of(store, name: str) -> str:
        with store.engine.connect() as conn:
            return conn.exec_driver_sql("SELECT pin_hash FROM volunteer WHERE name = ?", (name,)).scalar_one()
