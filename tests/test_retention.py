"""Retention purge: synced old personal data goes, unsynced stays, counts in reports stay."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from models import facts
from models.errors import StoreError
from models.report import day_report
from models.retention import purge
from models.values import parse_temperature

ID = "11010519491231002X"
PHONE = "13812345678"


def register(store, name):
    reg = facts.RegistrationInput(
        kind="visitor", name=name, id_number=ID, phone=PHONE, from_place="武汉", to_unit="3-2-501", reason="探亲"
    )
    return facts.record_registration(store, reg, parse_temperature("365"))


def file_bytes(store) -> bytes:
    return b"".join(p.read_bytes() for p in store.data_dir.rglob("*") if p.is_file() and "kakou.db" in p.name)


def test_purge_removes_synced_old_personal_data_and_keeps_unsynced(store):
    old = register(store, "欧阳娜娜")
    store.set_acked(old.seq)  # the office confirmed the first record
    unsynced = register(store, "司马光明")
    before = day_report(store, dt.date.today())

    # Not old enough yet: nothing is purged.
    assert purge(store, now=time.time()).registrations == 0

    later = time.time() + (store.policy().retention_days + 1) * 86400
    result = purge(store, now=later)
    assert result.registrations == 1 and result.payloads == 1 and result.kept_unsynced == 1

    with store.engine.connect() as conn:
        rows = dict(conn.exec_driver_sql("SELECT record_id, name || id_masked || phone_masked FROM registration").all())
    assert rows[old.record_id] == "" and "司马光明" in rows[unsynced.record_id]
    store.engine.dispose()
    data = file_bytes(store)
    assert "欧阳娜娜".encode() not in data  # overwritten (secure_delete) and vacuumed
    assert "司马光明".encode() in data  # the only copy of an unsynced record stays

    after = day_report(store, dt.date.today())
    assert after["registrations"] == before["registrations"]  # counts, not people


def test_purge_all_at_the_end_of_the_emergency_still_keeps_unsynced(store):
    first = register(store, "张三")
    store.set_acked(first.seq)
    register(store, "李四")
    result = purge(store, everything=True)
    assert result.registrations == 1 and result.kept_unsynced == 1
    with store.engine.connect() as conn:
        names = sorted(r[0] for r in conn.exec_driver_sql("SELECT name FROM registration"))
        audit = conn.exec_driver_sql("SELECT action FROM audit_event").all()
    assert names == ["", "李四"]
    assert [a[0] for a in audit] == ["purge"]


def test_purge_command_needs_a_supervisor_and_typed_confirmation(store, monkeypatch, capsys):
    import io

    from models.volunteers import add_volunteer
    from tui.cli import main

    add_volunteer(store, "王秀英", "888888", "supervisor")
    add_volunteer(store, "李建国", "1234")
    first = register(store, "张三")
    store.set_acked(first.seq)

    monkeypatch.setattr("sys.stdin", io.StringIO("1234\n"))
    assert main(["purge", "--all", "--pin-stdin", "--data-dir", str(store.data_dir)]) == 2
    assert "supervisor" in capsys.readouterr().err

    monkeypatch.setattr("sys.stdin", io.StringIO("888888\nyes\n"))
    assert main(["purge", "--all", "--pin-stdin", "--data-dir", str(store.data_dir)]) == 1
    assert "nothing purged" in capsys.readouterr().err

    monkeypatch.setattr("sys.stdin", io.StringIO("888888\nPURGE ALL\n"))
    assert main(["purge", "--all", "--pin-stdin", "--data-dir", str(store.data_dir)]) == 0
    assert "registrations 1" in capsys.readouterr().out


def test_purge_all_without_its_confirmation_line_says_so(store, monkeypatch, capsys):
    """Issue 14: `echo 888888 | kakou purge --all` (no confirmation line) was an internal error."""
    import io

    from models.volunteers import add_volunteer
    from tui.cli import main

    add_volunteer(store, "王秀英", "888888", "supervisor")
    first = register(store, "张三")
    store.set_acked(first.seq)
    monkeypatch.setattr("sys.stdin", io.StringIO("888888\n"))
    assert main(["purge", "--all", "--data-dir", str(store.data_dir)]) == 1
    captured = capsys.readouterr()
    assert "not confirmed, nothing purged" in captured.err and "internal error" not in captured.err


def test_an_empty_standard_input_is_no_wrong_pin(store, monkeypatch, capsys):
    """Issue 14: a supervisor command run with nothing on standard input counted a wrong PIN."""
    import io

    from models.volunteers import add_volunteer
    from tui.cli import main

    add_volunteer(store, "王秀英", "888888", "supervisor")
    for argv in (
        ["purge"],
        ["pass", "issue", "--kind", "resident", "--unit", "3-2-501"],
        ["enroll", "--office", "https://office.example.cn", "--code", "N6WS-MDRE"],
    ):
        monkeypatch.setattr("sys.stdin", io.StringIO(""))
        assert main([*argv, "--data-dir", str(store.data_dir)]) == 2
        assert "no PIN was given" in capsys.readouterr().err
    assert store.kiosk_state().pin_failures == 0


def test_a_purged_record_is_not_taken_for_damage(store):
    """The purge keeps the hash the office holds (a re-sent record is then no conflict), so the
    payload no longer matches it: the background check must not call the file damaged for that,
    and must still find a real change in a purged record."""
    old = register(store, "欧阳娜娜")
    store.set_acked(old.seq)
    purge(store, now=time.time() + (store.policy().retention_days + 1) * 86400)
    store.check_integrity()  # no StoreError: the purge is no damage

    with store.writer.begin() as conn:
        conn.exec_driver_sql(
            'UPDATE outbox SET payload = replace(payload, \'"purged":true\', \'"purged":true,"x":1\')'
            " WHERE record_id = ?",
            (old.record_id,),
        )
    with pytest.raises(StoreError):
        store.check_integrity()
