"""A stolen kiosk mints nothing: once the office revokes it, only the passes it issued and synced
before stay valid at the other gates; what it revoked after it was stolen is withdrawn.

The thief holds the kiosk's signing key and chooses every field of a pass, `valid_from` too:
a backdated pass must not open any gate. Office on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time

from sqlalchemy import text

from models.gate import check_token
from models.kinds import PassKind
from models.passes import issue_pass, revoke_pass
from tests.sync.helpers import sync_until_quiet

DAY = 86400


def _revoked_trust_item(office, store) -> dict:
    public = bytes(store.signing_key.verify_key).hex()
    with office.engine.connect() as conn:
        value = conn.execute(
            text("SELECT value FROM office_list_item WHERE list_name = 'trust' AND item_key = :k"), {"k": public}
        ).scalar()
        conn.rollback()
    return json.loads(value)


def test_a_stolen_kiosks_backdated_pass_is_denied_at_another_gate_while_its_synced_pass_stays_valid(office, tmp_path):
    from sync.office.enrol import revoke_kiosk

    east, east_sync = office.add_kiosk(tmp_path / "east", "东门卡口")
    north, north_sync = office.add_kiosk(tmp_path / "north", "北门卡口")
    honest = issue_pass(east, PassKind.RESIDENT, "3-2-501", name="王芳")
    sync_until_quiet(east_sync)  # the office holds its pass_issued record

    # Stolen: the thief mints a resident pass dated a month back, and never lets the kiosk sync.
    forged = issue_pass(
        east, PassKind.RESIDENT, "5-1-101", name="贼", valid_days=366, valid_from=time.time() - 30 * DAY
    )
    revoke_kiosk(office.engine, "东门卡口")
    sync_until_quiet(north_sync)

    stolen = check_token(north, forged.token, "in")
    assert stolen.outcome == "deny" and stolen.reason_codes() == ["issuer_revoked"]
    assert stolen.reason_text("zh") == "签发设备已注销，街道无此证的签发记录，请补办"
    assert "get it reissued" in stolen.reason_text("en")
    assert check_token(north, honest.token, "in").outcome == "allow"
    # The signed trust list says which passes the revoked key still vouches for: the synced one only.
    assert _revoked_trust_item(office, east)["vouched"] == [honest.pass_id]


def test_a_pass_synced_after_the_theft_is_not_vouched_for_and_its_revocations_are_withdrawn(office, tmp_path):
    from sync.office.enrol import revoke_kiosk

    east, east_sync = office.add_kiosk(tmp_path / "east", "东门卡口")
    north, north_sync = office.add_kiosk(tmp_path / "north", "北门卡口")
    resident = issue_pass(east, PassKind.RESIDENT, "3-2-501", name="王芳")
    neighbour = issue_pass(east, PassKind.RESIDENT, "3-2-502", name="李强")
    lost = issue_pass(east, PassKind.RESIDENT, "3-2-503", name="赵六")
    revoke_pass(east, lost.pass_id, "遗失 lost")  # a real revocation, before the theft
    sync_until_quiet(east_sync)
    stolen_at = time.time()

    # The thief revokes the neighbours' passes (their own community's: the office publishes
    # them), mints a pass and lets the kiosk sync it all before the clerk hears of the theft.
    revoke_pass(east, resident.pass_id, "thief")
    revoke_pass(east, neighbour.pass_id, "thief")
    minted = issue_pass(east, PassKind.RESIDENT, "9-9-909", name="贼")
    sync_until_quiet(east_sync)
    sync_until_quiet(north_sync)
    assert check_token(north, resident.token, "in").reason_codes() == ["revoked"]

    revoke_kiosk(office.engine, "东门卡口", since=stolen_at)
    sync_until_quiet(north_sync)
    assert check_token(north, resident.token, "in").outcome == "allow"  # the thief's revocations are withdrawn
    assert check_token(north, neighbour.token, "in").outcome == "allow"
    assert check_token(north, lost.token, "in").reason_codes() == ["revoked"]  # the real one stands
    assert check_token(north, minted.token, "in").reason_codes() == ["issuer_revoked"]  # synced after the theft
    assert _revoked_trust_item(office, east)["vouched"] == sorted([resident.pass_id, neighbour.pass_id, lost.pass_id])
    with office.engine.connect() as conn:
        statuses = dict(
            conn.execute(text("SELECT pass_id, status FROM office_revocation WHERE reason = 'thief'")).all()
        )
        conn.rollback()
    assert statuses == {resident.pass_id: "withdrawn", neighbour.pass_id: "withdrawn"}


def test_the_revoked_kiosk_itself_applies_the_list_it_vouches_for(office, tmp_path):
    """The trust item is applied on every kiosk alike, the revoked kiosk's own key included
    (its own row is kept, only the revocation and the vouched ids change)."""
    from sync.kiosk import _apply_documents
    from sync.office import lists as office_lists
    from sync.office.enrol import revoke_kiosk

    east, east_sync = office.add_kiosk(tmp_path / "east", "东门卡口")
    honest = issue_pass(east, PassKind.RESIDENT, "3-2-501")
    sync_until_quiet(east_sync)
    forged = issue_pass(east, PassKind.RESIDENT, "5-1-101", valid_days=366, valid_from=time.time() - 30 * DAY)
    revoke_kiosk(office.engine, "东门卡口")
    with office.engine.begin() as conn:
        doc = office_lists.document(conn, office.app.state.office.keys, "trust", 0)
    with east.writer.begin() as conn:
        _apply_documents(conn, east, [doc])
    east.invalidate()
    assert check_token(east, forged.token, "in").reason_codes() == ["issuer_revoked"]
    assert check_token(east, honest.token, "in").outcome == "allow"


def test_the_clerks_command_takes_the_theft_time_and_says_what_it_did(office, tmp_path, capsys):
    from tui.cli import main

    east, east_sync = office.add_kiosk(tmp_path / "east", "东门卡口")
    honest = issue_pass(east, PassKind.RESIDENT, "3-2-501")
    sync_until_quiet(east_sync)
    argv = ["office", "revoke-kiosk", "东门卡口", "--office-dir", str(office.office_dir)]
    if office.database_url:
        argv += ["--database-url", office.database_url]
    assert main([*argv, "--since", "tomorrow"]) == 2
    assert "YYYY-MM-DD HH:MM" in capsys.readouterr().err
    assert main([*argv, "--since", time.strftime("%Y-%m-%d %H:%M", time.localtime(time.time() + 120))]) == 0
    out = capsys.readouterr().out
    assert "1 张通行证仍有效" in out and "the supervisor reissues them" in out
    assert _revoked_trust_item(office, east)["vouched"] == [honest.pass_id]
    with office.engine.connect() as conn:
        detail = conn.execute(text("SELECT detail FROM office_audit WHERE action = 'revoke_kiosk'")).scalar()
        conn.rollback()
    assert json.loads(detail)["vouched"] == 1


def test_the_gate_rule_a_revoked_key_vouches_only_for_the_listed_pass_ids_whatever_their_dates():
    from nacl.signing import SigningKey

    from models.passtoken import PassBody, kid_for, new_pass_id, sign_pass
    from models.policy import Policy
    from models.verdict import GateState, TrustEntry, decide_token

    key = SigningKey(b"\x07" * 32)
    public = bytes(key.verify_key)
    now = time.time()

    def backdated() -> tuple[str, str]:
        body = PassBody(
            kid=kid_for(public),
            pass_id=new_pass_id(),
            kind=PassKind.RESIDENT,
            scope=0,
            valid_from=int(now - 30 * DAY),
            valid_to=int(now + 300 * DAY),
            unit="3-2-501",
            name="张三",
        )
        return sign_pass(body, key), body.pass_id_hex

    minted, _ = backdated()
    listed, listed_id = backdated()
    revoked = TrustEntry(public, "东门卡口", revoked_after=int(now - DAY), vouched=frozenset({listed_id}))
    state = GateState(trust={kid_for(public): [revoked]})
    assert decide_token(minted, "in", now, state, Policy()).reason_codes() == ["issuer_revoked"]
    assert decide_token(listed, "in", now, state, Policy()).outcome == "allow"
    # An empty list (a kiosk that never synced a pass) vouches for nothing.
    nothing = TrustEntry(public, revoked_after=int(now - DAY), vouched=frozenset())
    assert decide_token(listed, "in", now, GateState(trust={kid_for(public): [nothing]}), Policy()).reason_codes() == [
        "issuer_revoked"
    ]
