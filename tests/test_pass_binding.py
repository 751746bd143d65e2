"""Where a pass is valid, as plain rules: its issuer's community, the office's street-wide key,
and the longest validity each kind may have (policy). The office end to end is
tests/adversary/test_other_community.py; here the verdict, the policy, the issuing form and the
commands, and an office upgraded from before checkpoints had an identity."""

from __future__ import annotations

import io
import json
import time

import nacl.signing
import pytest
from sqlalchemy import text

from models.kinds import PassKind
from models.passes import PassError, issue_pass
from models.passtoken import PassBody, decode_token, kid_for, new_pass_id, sign_pass
from models.policy import Policy, coerce
from models.verdict import GateState, TrustEntry, decide_pass
from tests.conftest import office_at_revision

NOW = 1_700_000_000
A, B = 7, 9  # the office's ids of two communities


def signed(key: nacl.signing.SigningKey, kind=PassKind.RESIDENT, days: float = 30, scope: int = 0):
    body = PassBody(
        kid=kid_for(bytes(key.verify_key)),
        pass_id=new_pass_id(),
        kind=kind,
        scope=scope,
        valid_from=NOW - 3600,
        valid_to=NOW - 3600 + int(days * 86400),
        unit="3-2-501",
    )
    return decode_token(sign_pass(body, key))


def state(community_id: int | None, *entries: tuple[nacl.signing.SigningKey, TrustEntry]) -> GateState:
    trust: dict[int, list[TrustEntry]] = {}
    for key, entry in entries:
        trust.setdefault(kid_for(bytes(key.verify_key)), []).append(entry)
    return GateState(checkpoint_number=3, community_id=community_id, trust=trust)


def kiosk_entry(key, community_id, community="幸福里社区") -> TrustEntry:
    return TrustEntry(bytes(key.verify_key), f"{community} 东门", community_id=community_id, community=community)


class TestCommunity:
    def test_a_kiosk_pass_opens_its_own_communitys_gates(self):
        key = nacl.signing.SigningKey.generate()
        verdict = decide_pass(signed(key), "in", NOW, state(A, (key, kiosk_entry(key, A))), Policy())
        assert verdict.allowed

    def test_a_kiosk_pass_of_another_community_is_denied_naming_it(self):
        key = nacl.signing.SigningKey.generate()
        verdict = decide_pass(signed(key), "in", NOW, state(B, (key, kiosk_entry(key, A, "幸福里社区"))), Policy())
        assert verdict.outcome == "deny" and verdict.reason_codes() == ["other_community"]
        assert verdict.reason_text("zh") == "本小区以外的通行证（幸福里社区签发）"
        assert verdict.reasons[0].label("en") == "pass of another community"

    def test_a_key_the_office_names_no_community_for_is_not_this_communitys(self):
        key = nacl.signing.SigningKey.generate()
        entry = TrustEntry(bytes(key.verify_key), "旧卡口 old kiosk")  # an entry without a community
        verdict = decide_pass(signed(key), "in", NOW, state(A, (key, entry)), Policy())
        assert verdict.reason_codes() == ["other_community"] and "旧卡口" in verdict.reason_text("zh")

    def test_the_office_key_signs_for_every_community(self):
        office = nacl.signing.SigningKey.generate()
        entry = TrustEntry(bytes(office.verify_key), "街道办 street office", issuer="office")
        for community in (A, B):
            assert decide_pass(signed(office), "in", NOW, state(community, (office, entry)), Policy()).allowed

    def test_a_kiosk_that_is_not_enrolled_keeps_trusting_its_own_key(self):
        """The demo checkpoint: no office, no community; its own passes open its gate as before."""
        own = nacl.signing.SigningKey.generate()
        entry = TrustEntry(bytes(own.verify_key), "本机 this kiosk")
        assert decide_pass(signed(own), "in", NOW, state(None, (own, entry)), Policy()).allowed


class TestMaximumValidity:
    def test_a_pass_valid_until_2106_is_denied(self):
        key = nacl.signing.SigningKey.generate()
        body = PassBody(
            kid=kid_for(bytes(key.verify_key)),
            pass_id=new_pass_id(),
            kind=PassKind.RESIDENT,
            scope=0,
            valid_from=NOW - 60,
            valid_to=0xFFFFFFFF,
            unit="3-2-501",
        )
        verdict = decide_pass(
            decode_token(sign_pass(body, key)), "in", NOW, state(None, (key, kiosk_entry(key, None))), Policy()
        )
        assert verdict.outcome == "deny" and verdict.reason_codes() == ["too_long_valid"]
        assert verdict.reason_text("en") == "valid for longer than this kind's maximum of 366 days"

    @pytest.mark.parametrize(
        ("kind", "days", "allowed"),
        [
            (PassKind.RESIDENT, 366, True),
            (PassKind.RESIDENT, 367, False),
            (PassKind.VISITOR, 1, True),
            (PassKind.VISITOR, 2, False),
            (PassKind.RETURNEE, 31, False),
        ],
    )
    def test_each_kind_has_its_maximum(self, kind, days, allowed):
        key = nacl.signing.SigningKey.generate()
        verdict = decide_pass(
            signed(key, kind, days), "in", NOW + 3600, state(None, (key, kiosk_entry(key, None))), Policy()
        )
        assert ("too_long_valid" not in verdict.reason_codes()) is allowed

    def test_the_office_key_is_bound_by_the_maximum_too(self):
        office = nacl.signing.SigningKey.generate()
        entry = TrustEntry(bytes(office.verify_key), "街道办", issuer="office")
        verdict = decide_pass(signed(office, PassKind.VISITOR, 30), "in", NOW, state(A, (office, entry)), Policy())
        assert verdict.reason_codes() == ["too_long_valid"]

    def test_the_policy_sets_one_kind_and_keeps_the_others(self):
        policy = Policy.from_settings({"max_days": {"visitor": 3}})
        assert policy.max_days_for(PassKind.VISITOR) == 3
        assert policy.max_days_for(PassKind.RESIDENT) == PassKind.RESIDENT.info.max_days == 366
        assert coerce("max_days", '{"resident": 30}')["resident"] == 30

    @pytest.mark.parametrize(
        "value", ['{"spaceship": 3}', '{"visitor": 0}', '{"visitor": 1.5}', "[3]", '{"visitor": 99999}']
    )
    def test_a_bad_maximum_is_refused(self, value):
        with pytest.raises(ValueError):
            coerce("max_days", value)

    def test_the_issuing_code_refuses_more_than_the_maximum_in_words(self, store):
        with pytest.raises(PassError) as refused:
            issue_pass(store, PassKind.VISITOR, "3-2-501", valid_days=3)
        assert "1-1" in refused.value.zh and "policy" in refused.value.en
        store.set_policy(max_days={"visitor": 3})
        assert issue_pass(store, PassKind.VISITOR, "3-2-501", valid_days=3).body.kind is PassKind.VISITOR


def test_kakou_pass_issue_refuses_more_than_the_maximum(store, capsys, monkeypatch):
    from models.passes import list_passes
    from models.volunteers import add_volunteer
    from tui.cli import main

    add_volunteer(store, "王秀英", "888888", "supervisor")
    monkeypatch.setattr("sys.stdin", io.StringIO("888888\n"))
    argv = ["pass", "issue", "--data-dir", str(store.data_dir), "--kind", "visitor", "--unit", "3-2-501"]
    code = main([*argv, "--valid-days", "5"])
    out, err = capsys.readouterr()
    assert out == ""
    assert code == 2 and "有效天数须在 1-1 之间" in err and "valid 1-1 days" in err and "Traceback" not in err
    assert list_passes(store) == []


async def test_the_issue_form_refuses_more_than_the_maximum(store):
    from textual.widgets import Input

    from models.passes import list_passes
    from tests.test_issue_pass_screen import SUPERVISOR, Host, message, settle, type_into
    from tui.screens.issue_pass import IssuePassScreen

    screen = IssuePassScreen(store, SUPERVISOR, "en", unit="3-2-501", kind="visitor", printer="")
    app = Host(screen)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_into(pilot, screen, "name", "")
        await type_into(pilot, screen, "days", "7")
        for field in ("plate", "hours"):
            await type_into(pilot, screen, field, screen.query_one(f"#input-{field}", Input).value)
        await settle(pilot, app)
        assert screen.issued is None
        assert "valid 1-1 days" in message(screen)
    assert list_passes(store) == []


def _run(capsys, *argv) -> tuple[int, str, str]:
    from tui.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_clerks_commands(tmp_path, capsys):
    """add-checkpoint numbers each gate once; issue-pass must be told where; policy sets one kind."""
    od = ["--office-dir", str(tmp_path / "office")]
    assert _run(capsys, "office", "init", *od)[0] == 0  # office commands never make an office
    numbers = []
    for name, community in (("东门", "幸福里社区"), ("西门", "幸福里社区"), ("北门", "光明社区")):
        code, out, _ = _run(capsys, "office", "add-checkpoint", name, "--community", community, "--json", *od)
        numbers.append(json.loads(out)["checkpoint_number"])
    assert len(set(numbers)) == 3
    code, out, _ = _run(capsys, "office", "add-checkpoint", "南门", "--community", "光明社区", *od)
    assert code == 0 and "卡口编号 checkpoint number: 4" in out and "新社区" not in out
    code, out, err = _run(capsys, "office", "issue-pass", "resident", "3-2-501", *od)
    assert code == 2 and "--street-wide" in err and "请说明通行证在哪里有效" in err
    code, out, _ = _run(capsys, "office", "issue-pass", "resident", "3-2-501", "--street-wide", "--json", *od)
    assert code == 0
    info = json.loads(out)
    decoded = decode_token(info["token"])
    from sync.office.keys import OfficeKeys

    assert decoded.body.kid == kid_for(OfficeKeys(tmp_path / "office").root_public) and info["scope"] == 0
    code, out, _ = _run(capsys, "office", "issue-pass", "visitor", "3-2-501", "--checkpoint", "北门", *od)
    assert code == 0 and "(#3)" in out
    code, _, err = _run(capsys, "office", "issue-pass", "visitor", "3-2-501", "--street-wide", "--valid-days", "2", *od)
    assert code == 2 and "1-1" in err
    assert _run(capsys, "office", "policy", "set", "max_days.visitor=2", *od)[0] == 0
    code, _, err = _run(capsys, "office", "policy", "set", "max_days.spaceship=2", *od)
    assert code == 2 and "spaceship" in err
    code, _, _ = _run(capsys, "office", "issue-pass", "visitor", "3-2-501", "--street-wide", "--valid-days", "2", *od)
    assert code == 0
    code, out, _ = _run(capsys, "office", "audit", "--action", "issue_pass", "--json", *od)
    assert len(json.loads(out)) == 3
    code, out, _ = _run(capsys, "office", "status", *od)
    assert code == 0 and "光明社区 北门 #3" in out and "光明社区 南门 #4" in out


# -- an office from before checkpoints had an identity ---------------------------------------------


def test_an_office_upgraded_numbers_its_checkpoints_and_republishes_their_communities(tmp_path, office_url):

    from sync.office.db import open_office_engine

    engine = office_at_revision(tmp_path / "office", office_url, "0010_office_count_triggers")
    keys = {}
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO office_list (name, version, updated_at) VALUES ('trust', 2, 0)"))
        for i, (name, community) in enumerate((("东门", "幸福里社区"), ("北门", "光明社区"), ("西门", "幸福里社区"))):
            key = bytes([i + 1]) * 32
            keys[name] = key.hex()
            conn.execute(
                text(
                    "INSERT INTO office_kiosk (kiosk_id, name, community, public_key, status, created_at)"
                    " VALUES (:k, :n, :c, :p, 'active', :t)"
                ),
                {"k": f"k{i}", "n": name, "c": community, "p": key.hex(), "t": 100 + i},
            )
            value = {"public_key": key.hex(), "kid": kid_for(key), "label": f"{community} {name}", "issuer": "kiosk"}
            conn.execute(
                text(
                    "INSERT INTO office_list_item (list_name, item_key, value, version, deleted) VALUES ('trust', :k, :v, 2, false)"
                ),
                {"k": key.hex(), "v": json.dumps(value)},
            )
    engine.dispose()
    engine = open_office_engine(tmp_path / "office", office_url)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version FROM office_list WHERE name = 'trust'")).scalar()
            items = {
                k: (json.loads(v), ver)
                for k, v, ver in conn.execute(text("SELECT item_key, value, version FROM office_list_item"))
            }
        assert version == 3  # one new version: kiosks enrolled before pull the change
        east, north, west = (items[keys[n]][0] for n in ("东门", "北门", "西门"))
        assert (east["checkpoint"], north["checkpoint"], west["checkpoint"]) == (1, 2, 3)
        assert east["community_id"] == west["community_id"] != north["community_id"]
        assert (east["community"], north["community"]) == ("幸福里社区", "光明社区")
        assert all(ver == 3 for _, ver in items.values())
        # A checkpoint added now takes the next number.
        from sync.office.enrol import add_checkpoint

        added = add_checkpoint(engine, "南门", "光明社区")
        assert added["checkpoint_number"] == 4 and added["community_id"] == north["community_id"]
        assert not added["new_community"]
    finally:
        engine.dispose()


def test_a_kiosk_enrolled_before_the_upgrade_learns_its_identity_from_the_trust_list(tmp_path):
    """The trust list entry of the kiosk's own key names its community and number."""
    from models.store import KioskStore
    from sync.kiosk import _apply_documents

    store = KioskStore.open(tmp_path / "k")
    store.set_up("东门", "幸福里")
    own = bytes(store.signing_key.verify_key).hex()
    other = nacl.signing.SigningKey.generate()
    with store.writer.begin() as conn:
        conn.execute(text("UPDATE kiosk_state SET enrolled_at = 1, office_url = 'http://o'"))
        item = {"public_key": own, "kid": kid_for(bytes.fromhex(own)), "label": "幸福里社区 东门", "issuer": "kiosk"}
        other_item = {
            "public_key": bytes(other.verify_key).hex(),
            "kid": kid_for(bytes(other.verify_key)),
            "label": "光明社区 北门",
            "issuer": "kiosk",
            "community_id": B,
            "community": "光明社区",
            "checkpoint": 2,
        }
        doc = {
            "name": "trust",
            "version": 1,
            "since": 0,
            "mode": "snapshot",
            "items_hash": "",
            "items": [
                {
                    "key": own,
                    "value": {**item, "community_id": A, "community": "幸福里社区", "checkpoint": 5},
                    "deleted": False,
                },
                {"key": other_item["public_key"], "value": other_item, "deleted": False},
            ],
        }
        _apply_documents(conn, store, [doc])
    store.invalidate()
    cp = store.checkpoint()
    assert (cp.number, cp.community) == (5, "幸福里社区")
    gate = store.gate_state()
    assert gate.checkpoint_number == 5 and gate.community_id == A
    now = int(time.time())
    own_pass = issue_pass(store, PassKind.RESIDENT, "3-2-501", scope=5)
    from models.gate import check_token

    assert check_token(store, own_pass.token, "in", now=now + 60).allowed
    body = PassBody(
        kid=kid_for(bytes(other.verify_key)),
        pass_id=new_pass_id(),
        kind=PassKind.RESIDENT,
        scope=0,
        valid_from=now,
        valid_to=now + 86400,
        unit="1-1-101",
    )
    verdict = check_token(store, sign_pass(body, other), "in", now=now + 60)
    assert verdict.reason_codes() == ["other_community"] and "光明社区" in verdict.reason_text("zh")
    store.engine.dispose()


def test_kakou_enroll_takes_the_offices_checkpoint_number(tmp_path, capsys, monkeypatch):
    from models.store import KioskStore
    from models.volunteers import add_volunteer
    from sync.office.app import create_app
    from tests.sync.helpers import ThreadedServer

    od = ["--office-dir", str(tmp_path / "office")]
    assert _run(capsys, "office", "init", *od)[0] == 0  # office commands never make an office
    for name in ("东门", "西门"):
        _run(capsys, "office", "add-checkpoint", name, "--community", "幸福里社区", *od)
    code, out, _ = _run(capsys, "office", "add-checkpoint", "北门", "--community", "光明社区", "--json", *od)
    north = json.loads(out)
    store = KioskStore.open(tmp_path / "kiosk")
    store.set_up("北门", "光明")  # number 1, like every kiosk set up by hand
    add_volunteer(store, "王秀英", "888888", "supervisor")
    store.engine.dispose()
    app = create_app(tmp_path / "office")
    with ThreadedServer(app) as server:
        monkeypatch.setattr("sys.stdin", io.StringIO("888888\n"))
        argv = ["enroll", "--office", server.url, "--code", north["code"], "--data-dir", str(tmp_path / "kiosk")]
        code, out, _ = _run(capsys, *argv)
    app.state.office.engine.dispose()
    assert code == 0 and "卡口编号 checkpoint number: 3" in out
    store = KioskStore.open(tmp_path / "kiosk")
    try:
        cp = store.checkpoint()
        assert (cp.number, cp.community) == (3, "光明社区")
        assert store.gate_state().community_id == north["community_id"]
    finally:
        store.engine.dispose()
