"""A pass of another community, as a resident would try it: two communities under one office.

The office runs in-process (its real app, SQLite and PostgreSQL); a kiosk is enrolled in each
community (and a second one in the first), and the passes are checked at every gate exactly as
the duty desk checks a scan (`models.gate.check_token`, the kiosk's own lists after a pull).
On the main branch before this, every one of these passes was a green ALLOW at every gate.
"""

from __future__ import annotations

import time

import pytest

from models.gate import check_token
from models.kinds import PassKind
from models.passes import issue_pass
from models.passtoken import PassBody, kid_for, new_pass_id, sign_pass
from models.store import KioskStore
from sync.kiosk import SyncService, enroll
from tests.sync.helpers import OFFICE_BASE

A, B = "幸福里社区", "光明社区"


@pytest.fixture
def street(office):
    return office


def gate(street, tmp_path, name: str, community: str) -> tuple[KioskStore, SyncService]:
    """A kiosk set up as every new kiosk is (checkpoint number 1, the default), then enrolled."""
    from sync.office.enrol import add_checkpoint

    store = KioskStore.open(tmp_path / f"kiosk-{len(street.kiosks)}")
    store.set_up(name, community)
    assert store.gate_state().checkpoint_number == 1
    code = add_checkpoint(street.engine, name, community)["code"]
    enroll(store, OFFICE_BASE, code, client=street.client)
    street.kiosks.append(store)
    return store, SyncService(store, client=street.client)


@pytest.fixture
def gates(street, tmp_path):
    """East and west gate of community A, north gate of community B; every kiosk has pulled the
    trust list after the last one enrolled."""
    kiosks = {
        "a_east": gate(street, tmp_path, "东门卡口", A),
        "a_west": gate(street, tmp_path, "西门卡口", A),
        "b_north": gate(street, tmp_path, "北门卡口", B),
    }
    for _, service in kiosks.values():
        assert service.run_once().ok
    return {name: store for name, (store, _) in kiosks.items()}


def codes(verdict) -> list[str]:
    return verdict.reason_codes()


def test_a_pass_of_community_a_is_denied_at_b_with_the_reason_and_as_name(gates):
    issued = issue_pass(gates["a_east"], PassKind.RESIDENT, "3-2-501", "张三")
    at_b = check_token(gates["b_north"], issued.token, "in")
    assert at_b.outcome == "deny"
    assert codes(at_b) == ["other_community"]
    assert at_b.reason_text("zh") == f"本小区以外的通行证（{A}签发）"
    assert at_b.reason_text("en") == f"pass of another community (issued by {A})"
    # ... and it opens both gates of its own community.
    assert check_token(gates["a_east"], issued.token, "in").allowed
    assert check_token(gates["a_west"], issued.token, "in").allowed


def test_a_pass_of_community_b_is_denied_at_a(gates):
    issued = issue_pass(gates["b_north"], PassKind.OUTING, "1-1-101")
    for name in ("a_east", "a_west"):
        verdict = check_token(gates[name], issued.token, "out")
        assert verdict.outcome == "deny" and "other_community" in codes(verdict)
        assert B in verdict.reason_text("zh")


def test_each_gate_has_its_own_number_so_a_pass_for_as_gate_does_not_open_bs(gates):
    numbers = {name: store.gate_state().checkpoint_number for name, store in gates.items()}
    # Every kiosk was set up as number 1; the office numbered them, once each.
    assert len(set(numbers.values())) == 3 and all(0 < n <= 0xFFFF for n in numbers.values())
    assert {name: store.checkpoint().number for name, store in gates.items()} == numbers
    a_east = numbers["a_east"]
    issued = issue_pass(gates["a_east"], PassKind.WORK, "2-1-302", scope=a_east)
    assert check_token(gates["a_east"], issued.token, "in").allowed
    at_b = check_token(gates["b_north"], issued.token, "in")
    assert at_b.outcome == "deny" and set(codes(at_b)) == {"other_community", "wrong_checkpoint"}
    # The other gate of A is another checkpoint too: scoped means that one gate.
    assert codes(check_token(gates["a_west"], issued.token, "in")) == ["wrong_checkpoint"]


def test_the_kiosks_learn_their_community_and_number_from_the_office(street, gates):
    from sqlalchemy import text

    with street.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT k.name, k.checkpoint_number, c.name FROM office_kiosk k"
                " JOIN office_community c ON c.community_id = k.community_id"
            )
        ).all()
        conn.rollback()
    office = {name: (number, community) for name, number, community in rows}
    for store in gates.values():
        cp = store.checkpoint()
        assert office[cp.name] == (cp.number, cp.community)
    ids = {name: store.gate_state().community_id for name, store in gates.items()}
    assert ids["a_east"] == ids["a_west"] != ids["b_north"] and None not in ids.values()


def test_a_street_wide_office_pass_opens_every_gate(street, gates):
    from sync.office.keys import OfficeKeys
    from sync.office.passes import issue_office_pass

    issued = issue_office_pass(street.engine, OfficeKeys(street.office_dir), "resident", "5-1-204", street_wide=True)
    assert issued.body.scope == 0
    for name, store in gates.items():
        verdict = check_token(store, issued.token, "in")
        assert verdict.allowed, (name, codes(verdict))


def test_an_office_pass_for_one_checkpoint_opens_that_gate_only(street, gates):
    from sync.office.keys import OfficeKeys
    from sync.office.passes import issue_office_pass

    north = gates["b_north"].checkpoint().number
    issued = issue_office_pass(
        street.engine, OfficeKeys(street.office_dir), "visitor", "5-1-204", checkpoint=str(north)
    )
    assert issued.body.scope == north
    assert check_token(gates["b_north"], issued.token, "in").allowed
    assert codes(check_token(gates["a_east"], issued.token, "in")) == ["wrong_checkpoint"]


def _self_signed(store: KioskStore, kind: PassKind, valid_from: int, valid_to: int) -> str:
    """A pass signed with the kiosk's own key, fields chosen by whoever holds it (the issuing
    form refuses these; the verifier must too)."""
    key = store.signing_key
    body = PassBody(
        kid=kid_for(bytes(key.verify_key)),
        pass_id=new_pass_id(),
        kind=kind,
        scope=0,
        valid_from=valid_from,
        valid_to=valid_to,
        unit="3-2-501",
    )
    return sign_pass(body, key)


def test_a_pass_valid_until_2106_is_denied_everywhere_it_would_open(gates):
    now = int(time.time())
    forever = _self_signed(gates["a_east"], PassKind.RESIDENT, now - 60, 0xFFFFFFFF)  # 2106-02-07
    for name in ("a_east", "a_west"):
        verdict = check_token(gates[name], forever, "in")
        assert verdict.outcome == "deny" and codes(verdict) == ["too_long_valid"], name
        assert "366" in verdict.reason_text("zh") and "366" in verdict.reason_text("en")
    visitor_week = _self_signed(gates["a_east"], PassKind.VISITOR, now - 60, now + 7 * 86400)
    assert codes(check_token(gates["a_west"], visitor_week, "in")) == ["too_long_valid"]


def test_the_office_sets_the_maximum_and_every_kiosk_applies_it(street, gates):
    from sync.kiosk import SyncService
    from sync.office.admin import set_policy

    now = int(time.time())
    three_days = _self_signed(gates["a_east"], PassKind.VISITOR, now - 60, now - 60 + 3 * 86400)
    assert codes(check_token(gates["a_west"], three_days, "in")) == ["too_long_valid"]
    set_policy(street.engine, {"max_days.visitor": "3", "max_days.resident": "30"})
    for store in gates.values():
        assert SyncService(store, client=street.client).run_once().ok
        assert store.policy().max_days_for(PassKind.VISITOR) == 3
    assert check_token(gates["a_west"], three_days, "in").allowed
    # A resident pass longer than the new maximum: refused by the form, denied at the gate.
    sixty = _self_signed(gates["a_east"], PassKind.RESIDENT, now - 60, now + 60 * 86400)
    assert codes(check_token(gates["a_west"], sixty, "in")) == ["too_long_valid"]
    from models.passes import PassError

    with pytest.raises(PassError) as refused:
        issue_pass(gates["a_east"], PassKind.RESIDENT, "3-2-501", valid_days=60)
    assert "1-30" in refused.value.zh and "1-30" in refused.value.en


def test_a_kiosk_scopes_passes_to_its_own_communitys_gates_only(gates):
    from models.passes import PassError

    west = gates["a_west"].checkpoint().number
    north = gates["b_north"].checkpoint().number
    issued = issue_pass(gates["a_east"], PassKind.RESIDENT, "3-2-501", scope=west)  # a gate of A: fine
    assert check_token(gates["a_west"], issued.token, "in").allowed
    with pytest.raises(PassError) as refused:
        issue_pass(gates["a_east"], PassKind.RESIDENT, "3-2-501", scope=north)  # B's gate: would open nothing
    assert f"卡口编号 {north} 不是本社区的卡口" in refused.value.zh and f"checkpoint {north}" in refused.value.en


def test_a_revoked_kiosks_trust_entry_still_names_its_community(street, gates):
    """Revoking a kiosk rewrites its trust entry: where its passes were valid must stay in it (an
    entry without a community would be "another community" everywhere, and its name lost)."""
    import json

    from sqlalchemy import text

    from sync.office.enrol import revoke_kiosk

    key = bytes(gates["a_east"].signing_key.verify_key).hex()
    revoke_kiosk(street.engine, "东门卡口")
    with street.engine.connect() as conn:
        value = json.loads(
            conn.execute(
                text("SELECT value FROM office_list_item WHERE list_name = 'trust' AND item_key = :k"), {"k": key}
            ).scalar_one()
        )
        conn.rollback()
    assert value["revoked_after"] is not None
    assert (value["community"], value["checkpoint"]) == (A, gates["a_east"].checkpoint().number)
    assert value["community_id"] == gates["a_west"].gate_state().community_id
