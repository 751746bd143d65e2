"""The console's accounts (sync/office/users.py) and `kakou office user ...`."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from sqlalchemy import select

from sync.office import tables as t
from sync.office import users
from tests.console.conftest import PASSWORDS


def test_a_right_password_logs_in_and_a_wrong_one_or_unknown_name_does_not(console_office):
    engine = console_office.engine
    account = users.check_login(engine, "李社区", PASSWORDS["李社区"])
    assert account == users.Account("李社区", "community", "幸福里社区")
    assert users.check_login(engine, "李社区", PASSWORDS["张敏"]) is None
    assert users.check_login(engine, "nobody", PASSWORDS["张敏"]) is None
    assert users.check_login(engine, "", "") is None


def test_only_the_hash_of_the_password_is_stored(console_office):
    with console_office.engine.connect() as conn:
        stored = conn.execute(select(t.user.c.password_hash).where(t.user.c.name == "张敏")).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORDS["张敏"] not in stored


def test_roles_and_communities_are_checked(console_office):
    engine = console_office.engine
    with pytest.raises(users.UserError, match="no such community"):
        users.add_user(engine, "typo", "community", "long-enough", community="幸福理社区")
    with pytest.raises(users.UserError, match="needs its community"):
        users.add_user(engine, "nocomm", "community", "long-enough")
    with pytest.raises(users.UserError, match="only a community account"):
        users.add_user(engine, "st", "street", "long-enough", community="幸福里社区")
    with pytest.raises(users.UserError, match="the role is one of"):
        users.add_user(engine, "boss", "admin", "long-enough")
    with pytest.raises(users.UserError, match="8-256"):
        users.add_user(engine, "short", "viewer", "1234567")
    with pytest.raises(users.UserError, match="already exists"):
        users.add_user(engine, "张敏", "viewer", "long-enough")
    assert [u["name"] for u in users.list_users(engine)] == sorted(PASSWORDS)


def test_disabling_ends_logins_and_sessions_at_once(console_office):
    engine = console_office.engine
    account = users.check_login(engine, "王看", PASSWORDS["王看"])
    token, _ = users.start_session(engine, account)
    assert users.session_account(engine, token).account.name == "王看"
    users.disable_user(engine, "王看")
    assert users.session_account(engine, token) is None
    assert users.check_login(engine, "王看", PASSWORDS["王看"]) is None
    # the name may be given again, to a new account with a new password
    users.add_user(engine, "王看", "viewer", "another-pass")
    assert users.check_login(engine, "王看", "another-pass") is not None


def test_a_new_password_ends_the_old_sessions(console_office):
    engine = console_office.engine
    token, _ = users.start_session(engine, users.check_login(engine, "张敏", PASSWORDS["张敏"]))
    users.set_password(engine, "张敏", "a-new-password")
    assert users.session_account(engine, token) is None
    assert users.check_login(engine, "张敏", PASSWORDS["张敏"]) is None
    assert users.check_login(engine, "张敏", "a-new-password") is not None


def test_an_idle_session_is_over(console_office):
    engine = console_office.engine
    token, _ = users.start_session(engine, users.check_login(engine, "张敏", PASSWORDS["张敏"]))
    with engine.begin() as conn:
        conn.execute(t.session.update().values(last_seen=t.session.c.last_seen - 31 * 60))
    assert users.session_account(engine, token, idle_s=30 * 60) is None
    assert users.session_account(engine, token, idle_s=24 * 3600) is None  # it was ended, not just refused


def test_account_changes_are_audited(console_office):
    from sync.office import audit

    users.disable_user(console_office.engine, "王看")
    actions = [r["action"] for r in audit.recent(console_office.engine, limit=20)]
    assert actions.count("add_user") == 4 and "disable_user" in actions


def _kakou(office_dir, *args, stdin: str = ""):
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", "office", *args, "--office-dir", str(office_dir)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_user_commands_read_the_password_from_stdin_and_refuse_in_words(tmp_path):
    office = tmp_path / "office"
    assert _kakou(office, "init").returncode == 0  # only init and serve create an office
    made = _kakou(office, "add-checkpoint", "东门卡口", "--community", "幸福里社区")
    assert made.returncode == 0, made.stderr
    added = _kakou(office, "user", "add", "张敏", "--role", "street", stdin="street-pass-1\nignored\n")
    assert added.returncode == 0, added.stderr
    assert "张敏" in added.stdout
    bad = _kakou(office, "user", "add", "李", "--role", "community", "--community", "没有", stdin="long-enough\n")
    assert bad.returncode == 2 and "no such community" in bad.stderr and "Traceback" not in bad.stderr
    listed = _kakou(office, "user", "list")
    assert "张敏" in listed.stdout and "street-pass-1" not in listed.stdout
    from sync.office.db import open_office_engine

    engine = open_office_engine(office, None)
    try:
        assert users.check_login(engine, "张敏", "street-pass-1") is not None  # the first line only
        assert _kakou(office, "user", "password", "张敏", stdin="changed-pass\n").returncode == 0
        assert users.check_login(engine, "张敏", "changed-pass") is not None
        assert _kakou(office, "user", "disable", "张敏").returncode == 0
        assert users.check_login(engine, "张敏", "changed-pass") is None
    finally:
        engine.dispose()


def test_read_password_takes_the_first_line_of_a_pipe(monkeypatch):
    from sync.office.users_cli import read_password

    monkeypatch.setattr(sys, "stdin", io.StringIO("first-line-pass\r\nsecond\n"))
    assert read_password("x") == "first-line-pass"
