"""A rogue kiosk's revocations: it may revoke only its own community's passes, within a daily
rate, and ids the office never saw issued are held for the clerk - never published to every
gate. Every record is still stored (a poison record never blocks the queue). Office on SQLite
and PostgreSQL."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import text

from models import clock
from models.gate import check_token
from models.kinds import PassKind
from models.outbox import append_fact
from models.passes import issue_pass, revoke_pass
from models.store import KioskStore
from tests.sync.helpers import OFFICE_BASE, office_records, sync_until_quiet


def _kiosk(office, data_dir, name: str, community: str):
    from sync.kiosk import SyncService, enroll
    from sync.office.enrol import add_checkpoint

    store = KioskStore.open(data_dir)
    store.set_up(name, community)
    enroll(store, OFFICE_BASE, add_checkpoint(office.engine, name, community)["code"], client=office.client)
    office.kiosks.append(store)
    return store, SyncService(store, client=office.client)


def _revocations(office) -> dict[str, tuple[str, str]]:
    with office.engine.connect() as conn:
        rows = conn.execute(text("SELECT pass_id, status, why FROM office_revocation")).all()
        conn.rollback()
    return {p: (s, w) for p, s, w in rows}


def _snapshot(office, name: str = "revoked") -> dict:
    """What a new gate downloads: the whole signed list (GET /v1/lists/revoked?since=0 serves it)."""
    from sync.office import lists as office_lists

    with office.engine.begin() as conn:
        return office_lists.document(conn, office.app.state.office.keys, name, 0)


def _invent_revocations(store: KioskStore, n: int) -> list[str]:
    """A rogue kiosk writes revocation records of pass ids nobody issued (it holds its own key:
    it can push anything a kiosk may)."""
    ids = [uuid.uuid4().hex for _ in range(n)]
    with store.writer.begin() as conn:
        for pass_id in ids:
            append_fact(conn, "pass_revoked", {"pass_id": pass_id, "reason": "x", "expires": None}, clock.now(), {})
    return ids


def _run(capsys, office, *argv) -> tuple[int, str]:
    from tui.cli import main

    extra = ["--office-dir", str(office.office_dir)]
    if office.database_url:
        extra += ["--database-url", office.database_url]
    code = main([*argv, *extra])
    out, err = capsys.readouterr()
    return code, out + err


def test_a_rogue_kiosk_cannot_revoke_another_communitys_pass_and_the_attempt_is_recorded(office, tmp_path, capsys):
    east, east_sync = _kiosk(office, tmp_path / "east", "东门卡口", "幸福里社区")
    west, west_sync = _kiosk(office, tmp_path / "west", "西门卡口", "幸福里社区")
    rogue, rogue_sync = _kiosk(office, tmp_path / "rogue", "南门卡口", "光明社区")
    resident = issue_pass(east, PassKind.RESIDENT, "3-2-501", name="王芳")
    mine = issue_pass(rogue, PassKind.RESIDENT, "1-1-101")
    sync_until_quiet(east_sync)
    sync_until_quiet(rogue_sync)

    record_id = revoke_pass(rogue, resident.pass_id, "恶意 rogue")
    revoke_pass(rogue, mine.pass_id, "遗失 lost")  # its own community's: published
    sync_until_quiet(rogue_sync)
    sync_until_quiet(west_sync)

    assert check_token(west, resident.token, "in").outcome == "allow"
    assert [i["key"] for i in _snapshot(office)["items"]] == [mine.pass_id]
    assert record_id in office_records(office.engine, rogue.kiosk_state().kiosk_id)  # stored all the same
    assert _revocations(office)[resident.pass_id] == ("refused", "other_community")
    with office.engine.connect() as conn:
        outcome, admin = conn.execute(
            text("SELECT outcome, admin FROM office_audit WHERE action = 'revocation_refused'")
        ).one()
        conn.rollback()
    assert (outcome, admin) == ("refused", "kiosk:光明社区 南门卡口")
    code, out = _run(capsys, office, "office", "status")
    assert code == 0 and "refused (other community) 1" in out
    # The clerk cannot publish it, only acknowledge it (then status no longer calls it out).
    code, out = _run(capsys, office, "office", "revocations", "approve", resident.pass_id)
    assert code == 2 and "no held revocations match" in out
    code, out = _run(capsys, office, "office", "revocations", "reject", "--kiosk", "南门卡口")
    assert code == 0 and "rejected 1" in out
    assert "refused (other community)" not in _run(capsys, office, "office", "status")[1]
    assert check_token(west, resident.token, "in").outcome == "allow"


def test_a_supervisor_may_revoke_a_pass_another_kiosk_of_the_same_community_issued(office, tmp_path):
    east, east_sync = _kiosk(office, tmp_path / "east", "东门卡口", "幸福里社区")
    west, west_sync = _kiosk(office, tmp_path / "west", "西门卡口", "幸福里社区")
    resident = issue_pass(east, PassKind.RESIDENT, "3-2-501")
    sync_until_quiet(east_sync)
    revoke_pass(west, resident.pass_id, "遗失 lost")
    sync_until_quiet(west_sync)
    sync_until_quiet(east_sync)
    assert check_token(east, resident.token, "in").reason_codes() == ["revoked"]
    assert _revocations(office)[resident.pass_id] == ("published", "")


def test_a_thousand_invented_ids_are_held_and_never_reach_a_new_gate(office, tmp_path, capsys):
    rogue, rogue_sync = _kiosk(office, tmp_path / "rogue", "南门卡口", "幸福里社区")
    invented = _invent_revocations(rogue, 1000)
    sync_until_quiet(rogue_sync)
    assert len(office_records(office.engine, rogue.kiosk_state().kiosk_id)) >= 1000  # every record stored

    doc = _snapshot(office)
    assert doc["items"] == [] and doc["version"] == 0
    assert len(json.dumps(doc)) < 1000  # a new gate downloads a few hundred bytes, not 1000 revocations
    assert set(_revocations(office)) == set(invented)
    assert {v for v in _revocations(office).values()} == {("held", "unknown_pass")}

    code, out = _run(capsys, office, "office", "revocations", "list", "--json", "--limit", "5000")
    assert code == 0 and {r["pass_id"] for r in json.loads(out)} == set(invented)
    code, out = _run(capsys, office, "office", "status")
    assert "revocations held 1000" in out

    # The clerk releases one (e.g. a pass issued on paper the office knows of) and drops the rest.
    code, out = _run(capsys, office, "office", "revocations", "approve", invented[0])
    assert code == 0 and "published 1" in out
    code, out = _run(capsys, office, "office", "revocations", "reject", "--kiosk", "南门卡口")
    assert code == 0 and "rejected 999" in out
    assert [i["key"] for i in _snapshot(office)["items"]] == [invented[0]]
    code, out = _run(capsys, office, "office", "revocations", "list")
    assert code == 0 and "no revocations held" in out
    code, out = _run(capsys, office, "office", "revocations", "reject", invented[1])
    assert code == 2 and "no held revocations match" in out
    with office.engine.connect() as conn:
        audited = conn.execute(
            text("SELECT action, detail FROM office_audit WHERE action LIKE 'revocation_%' ORDER BY id")
        ).all()
        conn.rollback()
    # One row per push that held some (not one per invented id), then the clerk's two decisions.
    assert [a for a, _ in audited[-2:]] == ["revocation_approve", "revocation_reject"]
    assert {a for a, _ in audited[:-2]} == {"revocation_held"} and len(audited) - 2 <= 3
    assert sum(json.loads(d)["count"] for _, d in audited[:-2]) == 1000


def test_revocations_beyond_the_daily_rate_are_held_for_review(office, tmp_path, capsys):
    east, east_sync = _kiosk(office, tmp_path / "east", "东门卡口", "幸福里社区")
    code, _ = _run(capsys, office, "office", "policy", "set", "revocations_per_day=3")
    assert code == 0
    passes = [issue_pass(east, PassKind.RESIDENT, f"3-2-{501 + i}") for i in range(5)]
    sync_until_quiet(east_sync)
    for p in passes[:2]:
        revoke_pass(east, p.pass_id, "遗失 lost")
    sync_until_quiet(east_sync)
    for p in passes[2:]:  # a second push the same day: the count goes on
        revoke_pass(east, p.pass_id, "遗失 lost")
    sync_until_quiet(east_sync)

    statuses = _revocations(office)
    assert [statuses[p.pass_id] for p in passes] == [("published", "")] * 3 + [("held", "rate")] * 2
    assert sorted(i["key"] for i in _snapshot(office)["items"]) == sorted(p.pass_id for p in passes[:3])
    code, out = _run(capsys, office, "office", "revocations", "list")
    assert code == 0 and passes[3].pass_id in out and "daily revocation limit" in out
