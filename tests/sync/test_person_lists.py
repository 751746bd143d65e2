"""Quarantine and watch lists by person carry a keyed hash, never the full ID number.

The office hands its community lookup key to each kiosk at enrolment; a person listed by ID
number travels as `lookup_hash(key, "id", number)` alone (argon2id over the keyed HMAC, no masked
number), so the list a stolen kiosk holds (and the tombstones the office keeps forever) leak no
number short of a CPU-year's work per person (tests/test_recovery_cost.py).
"""

from __future__ import annotations

import json
import stat

from sqlalchemy import select, text

from models import keys as key_files
from models.facts import RegistrationInput, record_registration
from models.gate import check_person
from models.store import KioskStore
from tests.sync.helpers import OFFICE_BASE, sync_until_quiet
from tests.sync.test_security import _bearer, _office_args, _run, files_holding

LISTED = "11010519491231002X"
NOT_LISTED = "440524188001010014"


def _office_rows_text(office) -> str:
    """Every row of every office table as text (SQLite or PostgreSQL alike)."""
    from sync.office import tables as t

    parts = []
    with office.engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                parts.append(repr(tuple(row)))
        conn.rollback()
    return "\n".join(parts)


def _person_verdict(store, id_number: str, direction: str = "out"):
    # The duty desk's look-up: the kiosk hashes the scanned number with its lookup key.
    from models.lookup import person_hashes

    return check_person(store, None, person_hashes(store, "id", id_number)[0], direction)


def test_enrolment_hands_the_kiosk_the_community_lookup_key(sqlite_office, tmp_path):
    from sync.kiosk import enroll
    from sync.office.enrol import add_checkpoint

    office_key = sqlite_office.app.state.office.keys.lookup
    store = KioskStore.open(tmp_path / "k")
    store.set_up("北门", "幸福里社区")
    own_key = store.lookup_key  # a standalone kiosk makes its own
    assert own_key != office_key
    try:
        enroll(
            store,
            OFFICE_BASE,
            add_checkpoint(sqlite_office.engine, "北门", "幸福里社区")["code"],
            client=sqlite_office.client,
        )
        assert store.lookup_key == office_key  # the cached own key is not used any more
        path = tmp_path / "k" / key_files.KEY_DIR / key_files.LOOKUP_KEY
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        reopened = KioskStore.open(tmp_path / "k")
        try:
            assert reopened.lookup_key == office_key
        finally:
            reopened.engine.dispose()
    finally:
        store.engine.dispose()
    # The office's own copy is owner-only too.
    office_files = list((sqlite_office.office_dir / key_files.KEY_DIR).glob("*lookup*"))
    assert office_files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in office_files)


def test_quarantine_by_id_number_reaches_the_kiosk_as_a_hash_only(office, tmp_path, capsys):
    from sync.office import admin as office_admin

    store, service = office.add_kiosk(tmp_path / "k")
    sync_until_quiet(service)
    assert _person_verdict(store, LISTED).allowed

    # The person registers at the kiosk before the office lists them.
    record_registration(store, RegistrationInput("returnee", name="王小明", id_number=LISTED, to_unit="3-2-501"))

    token = office_admin.add_admin(office.engine, "张主任")
    response = office.client.post(
        "/v1/admin/quarantine/add", json={"id_number": LISTED, "note": "密接"}, headers=_bearer(token)
    )
    assert response.status_code == 200, response.text
    assert LISTED not in response.text
    assert "quarantine" in sync_until_quiet(service).lists_updated

    # Going out is denied; coming home is allowed with the quarantine reason; others pass.
    out = _person_verdict(store, LISTED, "out")
    assert not out.allowed and "quarantined" in out.reason_codes()
    assert "quarantined_home" in _person_verdict(store, LISTED, "in").reason_codes()
    assert _person_verdict(store, NOT_LISTED, "out").allowed
    # The registration made earlier carries the very hash the office listed.
    with store.engine.connect() as conn:
        registered = set(conn.execute(text("SELECT id_hash FROM registration WHERE id_hash IS NOT NULL")).scalars())
        listed = set(conn.execute(text("SELECT person_hash FROM list_entry WHERE list_name = 'quarantine'")).scalars())
        conn.rollback()
    assert listed and listed <= registered

    # What the office sends: the slow hash only, no full number and no masked one (a masked
    # number beside the hash and the kiosk's key once gave the number back in under a second).
    document = service._send("GET", "/v1/lists/quarantine", params={"since": 0})
    assert document.status_code == 200
    assert LISTED not in document.text and LISTED.lower() not in document.text
    [item] = document.json()["items"]
    assert "masked_id" not in item["value"] and LISTED[:6] not in document.text and LISTED[-4:] not in document.text
    assert item["value"]["person_hash"] in listed

    # Removed by the office's command line, by the same ID number: out again.
    code, out_text, err = _run(capsys, "office", "quarantine", "remove", "--id-number", LISTED, *_office_args(office))
    assert code == 0, err
    assert LISTED not in out_text + err
    version = document.json()["version"]
    assert "quarantine" in sync_until_quiet(service).lists_updated
    assert _person_verdict(store, LISTED, "out").allowed
    # A second removal says plainly that the person is not on the list.
    code, _, err = _run(capsys, "office", "quarantine", "remove", "--id-number", LISTED, *_office_args(office))
    assert code != 0 and "not on the list" in err and "Traceback" not in err

    # The tombstone a delta carries names the hash, not the number.
    delta = service._send("GET", "/v1/lists/quarantine", params={"since": version})
    assert delta.json()["mode"] == "delta" and LISTED not in delta.text
    assert [it["deleted"] for it in delta.json()["items"]] == [True]

    # Nowhere in the office's database (lists, tombstones, audit, records) or its files.
    rows = _office_rows_text(office)
    assert LISTED not in rows and LISTED.lower() not in rows
    office.engine.dispose()  # SQLite: fold the WAL into the file before reading bytes
    assert files_holding(office.office_dir, [LISTED]) == {}
    store.checkpoint()
    assert files_holding(tmp_path / "k", [LISTED]) == {}


def test_watch_list_by_person_and_delta_semantics(office, tmp_path):
    """Adding, re-adding and removing keep one item per person, versions counting up."""
    from sync.office import lists as office_lists

    key = office.app.state.office.keys.lookup
    store, service = office.add_kiosk(tmp_path / "k")
    with office.engine.begin() as conn:
        v1 = office_lists.add_entry(conn, "watch", id_number=LISTED, note="发热史", lookup_key=key)
        v2 = office_lists.add_entry(conn, "watch", id_number=LISTED, note="复查", lookup_key=key)
    assert v2 == v1 + 1
    sync_until_quiet(service)
    verdict = _person_verdict(store, LISTED, "in")
    assert verdict.allowed and "watch" in verdict.reason_codes()
    assert "复查" in verdict.reason_text("zh")
    with office.engine.begin() as conn:
        items = conn.execute(text("SELECT item_key, value FROM office_list_item WHERE list_name = 'watch'")).all()
    assert len(items) == 1
    assert items[0][0] == "person:" + json.loads(items[0][1])["person_hash"]
    with office.engine.begin() as conn:
        office_lists.remove_entry(conn, "watch", id_number=LISTED, lookup_key=key)
    sync_until_quiet(service)
    assert "watch" not in _person_verdict(store, LISTED, "in").reason_codes()
