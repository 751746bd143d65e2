"""The clerk's and the kiosk's commands, end to end against a real office on loopback."""

from __future__ import annotations

import io
import json

from models.facts import FEVER_OUTCOMES
from tests.sync.helpers import ThreadedServer


def _run(capsys, *argv) -> tuple[int, str, str]:
    from tui.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_office_day_with_two_checkpoints_one_silent(tmp_path, capsys, monkeypatch):
    from openpyxl import load_workbook

    from models.facts import RegistrationInput, close_fever_case, open_fever_case, record_passage, record_registration
    from models.store import KioskStore
    from models.values import parse_temperature
    from models.verdict import Reason, Verdict
    from sync.office.app import create_app

    od = ["--office-dir", str(tmp_path / "office")]
    assert _run(capsys, "office", "init", *od)[0] == 0  # office commands never make an office
    code, out, _ = _run(capsys, "office", "add-checkpoint", "东门卡口", "--community", "幸福里社区", "--json", *od)
    east_code = json.loads(out)["code"]
    _run(capsys, "office", "add-checkpoint", "西门卡口", "--community", "幸福里社区", *od)
    kiosk = tmp_path / "east"
    store = KioskStore.open(kiosk)
    store.set_up("东门卡口", "幸福里社区")
    from models.volunteers import add_volunteer

    add_volunteer(store, "王秀英", "888888", "supervisor")  # enrolment needs a supervisor's PIN
    for _ in range(3):
        record_passage(store, "in", Verdict("allow", ()))
    record_passage(store, "out", Verdict("allow", ()))
    record_passage(store, "out", Verdict("deny", (Reason("quarantined"),)))
    case = open_fever_case(store, "in", parse_temperature("385"))
    close_fever_case(store, case.record_id, "clinic", parse_temperature("384"))
    record_registration(store, RegistrationInput("visitor", phone="13812345678", to_unit="3-2-501"))
    store.engine.dispose()
    app = create_app(tmp_path / "office")
    with ThreadedServer(app) as server:
        kd = ["--data-dir", str(kiosk)]
        monkeypatch.setattr("sys.stdin", io.StringIO("888888\n"))
        assert _run(capsys, "enroll", "--office", server.url, "--code", east_code, *kd)[0] == 0
        code, out, _ = _run(capsys, "sync", "--once", *kd)
        assert code == 0 and "sent 10" in out  # 8 facts + the audit records of the supervisor added and the enrolment
        assert _run(capsys, "office", "policy", "set", "fever_threshold=37.5", *od)[0] == 0
        code, _, err = _run(capsys, "office", "policy", "set", "fever=hot", *od)
        assert code == 2 and "unknown setting" in err
        assert _run(capsys, "office", "quarantine", "add", "--unit", "3-2-501", "--until", "2030-01-01", *od)[0] == 0
        code, out, _ = _run(capsys, "sync", "--once", *kd)
        assert code == 0 and "policy" in out and "quarantine" in out
        code, out, _ = _run(capsys, "office", "report", "--format", "json", *od)
        report = json.loads(out)
        east = next(r for r in report["checkpoints"] if r["checkpoint"] == "东门卡口")
        assert (east["in"], east["out"], east["turned_back"]) == (3, 1, 1)
        assert east["fevers"] == 1 and east["fever_clinic"] == 1 and east["registrations"] == 1
        assert east["registrations_by_kind"]["visitor"] == 1  # the registration's own kind survives the outbox
        assert east["denials"] == {"quarantined": 1} and east["reported"] and east["expected"] == 0
        assert [s["checkpoint"] for s in report["not_reported"]] == ["西门卡口"]
        code, out, _ = _run(capsys, "office", "report", "--lang", "en", *od)
        assert "NOT REPORTED (1)" in out and "西门卡口" in out
        xlsx = tmp_path / "day.xlsx"
        assert _run(capsys, "office", "report", "--format", "xlsx", "--out", str(xlsx), *od)[0] == 0
        sheet = load_workbook(xlsx).active
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][0].endswith("checkpoint") and any(r[0] == "东门卡口" and r[2] == 3 for r in rows)
        code, out, _ = _run(capsys, "office", "report", "--format", "csv", *od)
        assert out.splitlines()[1].startswith("东门卡口,幸福里社区,3,1,1,0,1")
        code, out, _ = _run(capsys, "office", "status", "--json", *od)
        status = {k["checkpoint"]: k for k in json.loads(out)["kiosks"]}
        assert status["东门卡口"]["backlog"] == 0 and status["东门卡口"]["lists_behind"] == []
        assert status["西门卡口"]["status"] == "pending"
    # The office is gone: records wait on the kiosk, exit 1, words not a traceback.
    reopened = KioskStore.open(kiosk)
    record_passage(reopened, "in", Verdict("allow", ()))
    reopened.engine.dispose()
    code, _out, err = _run(capsys, "sync", "--once", "--data-dir", str(kiosk))
    assert code == 1 and "cannot reach the office" in err and "Traceback" not in err
    assert set(FEVER_OUTCOMES) >= {"clinic"}
    app.state.office.engine.dispose()


def test_bad_input_to_office_commands_is_explained(tmp_path, capsys):
    od = ["--office-dir", str(tmp_path / "office")]
    assert _run(capsys, "office", "init", *od)[0] == 0  # office commands never make an office
    code, _, err = _run(capsys, "office", "revoke", "xyz", "--reason", "lost", *od)
    assert code == 2 and "32 hex" in err
    code, _, err = _run(capsys, "office", "quarantine", "add", "--unit", "not a unit!", *od)
    assert code == 2 and "/" in err
    code, _, err = _run(capsys, "office", "report", "--format", "xlsx", *od)
    assert code == 2 and "--out" in err
    code, _, err = _run(capsys, "office", "report", "--database-url", "mysql://x", *od)
    assert code == 2 and "postgresql://" in err


def test_add_checkpoint_refuses_a_name_its_community_already_has(tmp_path, capsys):
    """Issue 14: a clerk who typed add-checkpoint twice got two 东门卡口 the report cannot tell apart."""
    od = ["--office-dir", str(tmp_path / "office")]
    assert _run(capsys, "office", "init", *od)[0] == 0  # office commands never make an office
    code, out, _ = _run(capsys, "office", "add-checkpoint", "东门卡口", "--community", "幸福里社区", "--json", *od)
    assert code == 0
    first = json.loads(out)
    code, _, err = _run(capsys, "office", "add-checkpoint", " 东门卡口 ", "--community", "幸福里社区", *od)
    assert code == 2 and "已有卡口「东门卡口」" in err and "already has a checkpoint" in err
    # Another community may have its own 东门卡口; and once the old one is revoked, its replacement.
    assert _run(capsys, "office", "add-checkpoint", "东门卡口", "--community", "光明社区", *od)[0] == 0
    assert _run(capsys, "office", "revoke-kiosk", first["kiosk_id"], *od)[0] == 0
    assert _run(capsys, "office", "add-checkpoint", "东门卡口", "--community", "幸福里社区", *od)[0] == 0


def test_policy_values_are_range_checked_where_they_are_typed(tmp_path, capsys):
    """Issue 14: fever_threshold=375 was accepted and switched fever detection off (39.5 a green
    ALLOW); so were -5 and recheck_minutes=0."""
    from sync.office.admin import office_policy
    from sync.office.db import open_office_engine

    od = ["--office-dir", str(tmp_path / "office")]
    assert _run(capsys, "office", "init", *od)[0] == 0  # office commands never make an office
    for bad in ("fever_threshold=39.5", "fever_threshold=-5", "fever_threshold=395", "recheck_minutes=0"):
        code, _, err = _run(capsys, "office", "policy", "set", bad, *od)
        assert code == 2 and "must be" in err, (bad, err)
    # "375" is read as the desk reads a thermometer, 37.5: in range, so taken.
    assert _run(capsys, "office", "policy", "set", "fever_threshold=375", "recheck_minutes=5", *od)[0] == 0
    engine = open_office_engine(tmp_path / "office")
    with engine.begin() as conn:
        policy = office_policy(conn)
    engine.dispose()
    assert (policy.fever_threshold, policy.recheck_minutes) == (37.5, 5)


def test_a_mistyped_office_dir_is_refused_and_makes_no_office(tmp_path, capsys, monkeypatch):
    """Issue 14: an office command with a mistyped (or missing) --office-dir made a new empty office
    and reported "every checkpoint reported"."""
    from sync.office.db import open_office_engine

    od = ["--office-dir", str(tmp_path / "office")]
    open_office_engine(tmp_path / "office").dispose()  # the real office (as serve or init leave it)
    assert _run(capsys, "office", "add-checkpoint", "东门卡口", "--community", "幸福里社区", *od)[0] == 0
    typo = tmp_path / "offcie"
    for argv in (
        ("report",),
        ("status",),
        ("add-checkpoint", "西门卡口", "--community", "幸福里社区"),
        ("revoke", "ab" * 16, "--reason", "lost"),
        ("issue-pass", "resident", "3-2-501", "--street-wide"),
        ("quarantine", "add", "--unit", "3-2-501"),
        ("policy", "show"),
        ("audit",),
        ("retention",),
    ):
        code, out, err = _run(capsys, "office", *argv, "--office-dir", str(typo))
        assert code == 2 and "every checkpoint reported" not in out, (argv, out)
        assert "没有街道办" in err and "no office in" in err and "kakou office init" in err, (argv, err)
        assert "Traceback" not in err
        assert not typo.exists(), argv  # nothing made: no directory, no database, no keys
    # No --office-dir at all: the default dir (here an empty one) is refused the same way.
    monkeypatch.setenv("KAKOU_OFFICE_DIR", str(tmp_path / "default"))
    code, _, err = _run(capsys, "office", "report")
    assert code == 2 and str(tmp_path / "default") in err and not (tmp_path / "default").exists()
    # An empty database file (a half-made office) is no office either, and is not made one.
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "office.db").write_bytes(b"")
    for _ in range(2):
        code, _, err = _run(capsys, "office", "status", "--office-dir", str(tmp_path / "empty"))
        assert code == 2 and "no office in" in err
    # The real office is untouched and still reports its checkpoint.
    code, out, _ = _run(capsys, "office", "report", *od)
    assert code == 0 and "东门卡口" in out


def test_office_init_makes_a_new_office_once(tmp_path, capsys):
    od = ["--office-dir", str(tmp_path / "office")]
    code, out, _ = _run(capsys, "office", "init", *od)
    assert code == 0 and "new office created" in out and "add-checkpoint" in out
    root = (tmp_path / "office" / "keys" / "office-root.key").read_bytes()
    assert _run(capsys, "office", "add-checkpoint", "东门卡口", "--community", "幸福里社区", *od)[0] == 0
    code, out, _ = _run(capsys, "office", "init", *od)  # again: the same office, keys and checkpoints kept
    assert code == 0 and "already here" in out
    assert (tmp_path / "office" / "keys" / "office-root.key").read_bytes() == root
    assert "东门卡口" in _run(capsys, "office", "status", *od)[1]


def test_an_office_with_no_checkpoints_says_so(tmp_path, capsys):
    """Issue 14: an office without a single checkpoint said "every checkpoint reported"."""
    from sync.office.db import open_office_engine

    od = ["--office-dir", str(tmp_path / "office")]
    open_office_engine(tmp_path / "office").dispose()  # a new office, as init or serve leave it
    for lang, words in (("zh", "还没有卡口"), ("en", "no checkpoints yet")):
        code, out, _ = _run(capsys, "office", "report", "--lang", lang, *od)
        assert code == 0 and words in out and "every checkpoint reported" not in out, out
    code, out, _ = _run(capsys, "office", "status", *od)
    assert code == 0 and "还没有卡口" in out and "no checkpoints yet" in out
    # With a checkpoint that reported nothing today, the report calls it silent instead.
    assert _run(capsys, "office", "add-checkpoint", "东门卡口", "--community", "幸福里社区", *od)[0] == 0
    code, out, _ = _run(capsys, "office", "report", *od)
    assert "NOT REPORTED (1)" in out and "no checkpoints yet" not in out


def test_new_keys_are_never_made_for_a_database_with_enrolled_kiosks(office, tmp_path, capsys):
    """A wrong --office-dir beside the right --database-url: the kiosks pinned the office's root
    key, so new keys in the wrong dir would sign lists and passes every gate refuses."""
    from tests.sync.helpers import sync_until_quiet

    _store, service = office.add_kiosk(tmp_path / "k")
    sync_until_quiet(service)
    url = office.database_url or f"sqlite:///{office.office_dir / 'office.db'}"
    wrong = ["--office-dir", str(tmp_path / "wrong"), "--database-url", url]
    code, _, err = _run(capsys, "office", "init", *wrong)
    assert code == 2 and "enrolled kiosks" in err and "No new keys" in err
    assert not (tmp_path / "wrong" / "keys" / "office-root.key").exists()
    code, _, err = _run(capsys, "office", "issue-pass", "resident", "3-2-501", "--street-wide", *wrong)
    assert code == 2 and "holds no office keys" in err
    assert not (tmp_path / "wrong" / "keys" / "office-root.key").exists()
    # The report needs no keys: the right database reports from anywhere.
    assert _run(capsys, "office", "report", *wrong)[0] == 0


def test_office_revoke_takes_the_printed_number_and_refuses_passes_it_never_saw(office, tmp_path, capsys):
    """Issue 14: `kakou office revoke` said "revoked" for an id it never saw, and refused the
    short 编号 printed on the pass."""
    from sqlalchemy import insert

    from models.kinds import PassKind
    from models.passes import issue_pass
    from sync.office import tables as t
    from sync.office.lists import versions
    from tests.sync.helpers import sync_until_quiet
    from tui.printing.render import PassPrint

    store, service = office.add_kiosk(tmp_path / "k", name="东门卡口")
    lost = issue_pass(store, PassKind.RESIDENT, "3-2-501", name="王芳")
    scanned = issue_pass(store, PassKind.RESIDENT, "3-2-502")
    unsynced = issue_pass(store, PassKind.RESIDENT, "3-2-503")
    sync_until_quiet(service)
    with office.engine.begin() as conn:  # as if the last one had not reached the office yet
        conn.execute(t.office_pass.delete().where(t.office_pass.c.pass_id == unsynced.pass_id))
    od = ["--office-dir", str(office.office_dir)]
    if office.database_url:
        od += ["--database-url", office.database_url]

    def revoked_version() -> int:
        with office.engine.connect() as conn:
            return versions(conn)["revoked"]

    before = revoked_version()
    # Unknown: a full id it never saw, a kiosk's pass not synced yet, a made-up 编号. Nothing published.
    for unknown in ("ab" * 16, unsynced.pass_id, unsynced.pass_id[:8], "0badc0de"):
        code, out, err = _run(capsys, "office", "revoke", unknown, "--reason", "遗失 lost", *od)
        assert code == 2 and "已作废" not in out and "knows no pass" in err and "kakou pass revoke" in err, unknown
    code, _, err = _run(capsys, "office", "revoke", "abc", "--reason", "lost", *od)
    assert code == 2 and "at least the 8 characters" in err
    assert revoked_version() == before

    # The 编号 printed on the pass is enough.
    printed = PassPrint.from_body(lost.body, lost.token).short_id
    assert f"编号 {printed}" in PassPrint.from_body(lost.body, lost.token).detail_lines()
    code, out, _ = _run(capsys, "office", "revoke", printed.upper(), "--reason", "遗失 lost", *od)
    assert code == 0 and f"已作废 revoked {lost.pass_id}" in out
    assert revoked_version() == before + 1
    code, _, err = _run(capsys, "office", "revoke", lost.pass_id, "--reason", "again", *od)
    assert code == 2 and "already revoked (遗失 lost)" in err
    # So is the pass itself, scanned into the terminal.
    code, out, _ = _run(capsys, "office", "revoke", scanned.token, "--reason", "补办", *od)
    assert code == 0 and scanned.pass_id in out

    # A pass the office issued itself, by its printed number.
    code, out, _ = _run(capsys, "office", "issue-pass", "resident", "9-9-909", "--street-wide", "--json", *od)
    own = json.loads(out)["pass_id"]
    code, out, _ = _run(capsys, "office", "revoke", f"编号 {own[:8]}", "--reason", "迁出 moved", *od)
    assert code == 0 and own in out

    # Two known passes share the first 8 characters: the prefix is refused, the candidates named.
    twins = ["feedface" + "0" * 24, "feedface" + "1" * 24]
    with office.engine.begin() as conn:
        kiosk_id = store.kiosk_state().kiosk_id
        for n, pid in enumerate(twins):
            conn.execute(
                insert(t.office_pass).values(pass_id=pid, kiosk_id=kiosk_id, record_id=f"r{n}", received_at=1.0)
            )
    version = revoked_version()
    code, _, err = _run(capsys, "office", "revoke", "feedface", "--reason", "lost", *od)
    assert code == 2 and "more than one pass" in err and all(pid in err for pid in twins) and "东门卡口" in err
    assert revoked_version() == version
    assert _run(capsys, "office", "revoke", "feedface1", "--reason", "lost", *od)[0] == 0

    # The admin API refuses the same way.
    from sync.office import admin as office_admin

    token = office_admin.add_admin(office.engine, "张主任")
    answer = office.client.post(
        "/v1/admin/revoke",
        json={"pass_id": "cd" * 16, "reason": "lost"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 400 and answer.json()["code"] == "unknown_pass"


def test_enrolment_that_cannot_reach_the_office_promises_no_upload(tmp_path, capsys, monkeypatch):
    """Issue 14: with the office out of reach, `kakou enroll` said "records are kept here and sent
    when online" (联网后自动上传): nothing is ever sent by a kiosk that is not enrolled."""
    from models.store import KioskStore
    from models.volunteers import add_volunteer
    from sync.kiosk import is_enrolled
    from tests.sync.helpers import free_port

    store = KioskStore.open(tmp_path / "kiosk")
    store.set_up("东门卡口", "幸福里社区")
    add_volunteer(store, "王秀英", "888888", "supervisor")
    store.engine.dispose()
    monkeypatch.setattr("sys.stdin", io.StringIO("888888\n"))
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    code, _out, err = _run(
        capsys, "enroll", "--office", nobody, "--code", "K7QX-M3PA", "--data-dir", str(tmp_path / "kiosk")
    )
    assert code != 0 and "Traceback" not in err
    assert "没有登记" in err and "NOT enrolled" in err and "enrol again" in err
    for promise in ("联网后自动上传", "稍后自动重试", "sent when online", "sent later", "retrying"):
        assert promise not in err, promise
    reopened = KioskStore.open(tmp_path / "kiosk")
    assert not is_enrolled(reopened)
    reopened.engine.dispose()


def test_reasons_are_labelled_in_every_report_and_their_codes_kept_in_json(office, tmp_path, capsys):
    """Issue 14: "通行证已于 1", "名单已 1", turned_back, bad_signature:1 in the kiosk's and the office's
    reports. Real records, through the sync: every reason is its label from models/reasons.py in the
    report's language (text, CSV, XLSX), and the JSON keeps the codes."""
    from openpyxl import load_workbook

    from models.facts import record_passage
    from models.reasons import reason_label
    from models.verdict import Reason, Verdict
    from tests.sync.helpers import sync_until_quiet

    store, service = office.add_kiosk(tmp_path / "k")
    given = {
        "expired": Reason("expired", {"date": "2022-03-15"}),
        "list_stale": Reason("list_stale", {"hours": 30}),
        "bad_signature": Reason("bad_signature"),
        "revoked": Reason("revoked", {"reason": "遗失 lost"}),
    }
    for reason in given.values():
        record_passage(store, "in", Verdict("deny", (reason,)))
    record_passage(store, "out", Verdict("refer", (given["list_stale"],)), extra_reasons=["turned_back"])
    sync_until_quiet(service)
    codes = {*given, "turned_back"}
    kd = ["--data-dir", str(store.data_dir)]
    od = ["--office-dir", str(office.office_dir)] + (
        ["--database-url", office.database_url] if office.database_url else []
    )
    xlsx = tmp_path / "day.xlsx"
    for lang in ("zh", "en"):
        code, kiosk_text, _ = _run(capsys, "report", "--lang", lang, *kd)
        assert code == 0
        code, table, _ = _run(capsys, "office", "report", "--lang", lang, *od)
        assert code == 0
        code, sheet, _ = _run(capsys, "office", "report", "--format", "csv", "--lang", lang, *od)
        assert code == 0
        assert _run(capsys, "office", "report", "--format", "xlsx", "--out", str(xlsx), "--lang", lang, *od)[0] == 0
        cells = " | ".join(str(c) for row in load_workbook(xlsx).active.iter_rows(values_only=True) for c in row)
        for text in (kiosk_text, table, sheet, cells):
            for code_ in codes:
                n = 2 if code_ == "list_stale" else 1
                assert f"{reason_label(code_, lang)} {n}" in text, (lang, code_, text)
                assert f"{code_}:" not in text
                # No raw code: in Chinese none at all; in English labels are words ("pass expired").
                assert (code_ not in text) if lang == "zh" else ("_" not in code_ or code_ not in text), code_
            assert "{" not in text and "通行证已于" not in text and "名单已 " not in text
    code, out, _ = _run(capsys, "report", "--json", *kd)
    assert code == 0 and set(json.loads(out)["denials_by_reason"]) == codes
    code, out, _ = _run(capsys, "office", "report", "--format", "json", *od)
    assert code == 0 and set(json.loads(out)["totals"]["denials"]) == codes


def test_a_unit_entry_names_its_community_when_the_street_has_several(tmp_path, capsys):
    """Unit codes are unique inside a community only: with two communities, a unit entry without
    --community, or with one the street does not have, is refused in words and lists nothing."""
    od = ["--office-dir", str(tmp_path / "office")]
    assert _run(capsys, "office", "init", *od)[0] == 0
    assert _run(capsys, "office", "add-checkpoint", "东门卡口", "--community", "幸福里社区", *od)[0] == 0
    code, out, _ = _run(capsys, "office", "quarantine", "add", "--unit", "3-2-501", *od)
    assert code == 0 and "3-2-501（幸福里社区）" in out  # one community: the unit is its
    assert _run(capsys, "office", "add-checkpoint", "北门卡口", "--community", "北苑社区", *od)[0] == 0
    code, _, err = _run(capsys, "office", "quarantine", "add", "--unit", "5-1-302", *od)
    assert code == 2 and "请指明单元 5-1-302 所属的社区" in err and "--community" in err
    assert "北苑社区、幸福里社区" in err and "Traceback" not in err
    code, _, err = _run(capsys, "office", "quarantine", "add", "--unit", "5-1-302", "--community", "南苑社区", *od)
    assert code == 2 and "没有这个社区：南苑社区" in err and "no such community" in err
    code, _, err = _run(capsys, "office", "quarantine", "remove", "--unit", "3-2-501", "--community", "北苑社区", *od)
    assert code == 2 and "名单里没有这一项" in err  # 北苑's 3-2-501 is another household, not listed
    code, out, _ = _run(capsys, "office", "quarantine", "add", "--unit", "5-1-302", "--community", "北苑社区", *od)
    assert code == 0 and "5-1-302（北苑社区）" in out
    code, out, _ = _run(capsys, "office", "quarantine", "remove", "--unit", "3-2-501", "--community", "幸福里社区", *od)
    assert code == 0 and "已移出" in out
