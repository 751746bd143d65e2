"""models.lookup and models.shift: the look-ups and the shift summary the desk shows."""

from __future__ import annotations

import time

from models.facts import RegistrationInput, record_passage, record_registration
from models.gate import check_token
from models.lookup import by_id_number, by_name, by_phone, household, open_fever_cases, recent_passages
from models.shift import shift_summary
from models.store import KioskStore
from models.values import parse_temperature
from tests.tui.conftest import token_of


def test_lookups_find_what_was_registered_and_nothing_else(desk_dir):
    store = KioskStore.open(desk_dir)
    record_registration(
        store,
        RegistrationInput("visitor", "王五", "11010519491231002X", "13800138000", "上海", "3-2-501", "探亲"),
        parse_temperature("365"),
    )
    assert [h.name for h in by_id_number(store, "11010519491231002X")] == ["王五"]
    assert by_id_number(store, "110105194912310048") == []
    hits = by_phone(store, "13800138000")
    assert len(hits) == 1 and hits[0].phone_masked == "*" * 11 and hits[0].to_unit == "3-2-501"
    found = by_name(store, "王五")
    assert [r.name for r in found.registrations] == ["王五"]
    assert by_name(store, "%").passes == [] and by_name(store, "").registrations == []
    store.close()


def test_household_shows_passes_who_is_out_and_quarantine(desk_dir):
    store = KioskStore.open(desk_dir)
    token = token_of(desk_dir, "3-2-501")
    record_passage(store, "out", check_token(store, token, "out"), None, 2)
    h = household(store, "3-2-501")
    assert h.known and len(h.passes) == 1 and [p.pass_id for p in h.out_now] == [h.passes[0].pass_id]
    assert not h.quarantined
    record_passage(store, "in", check_token(store, token, "in"), parse_temperature("365"), 2)
    assert household(store, "3-2-501").out_now == []
    q = household(store, "2-1-302")
    assert q.quarantined
    revoked = household(store, "4-2-201")
    assert revoked.passes[0].revoked and revoked.passes[0].status(time.time()) == "revoked"
    assert not household(store, "9-9-909").known
    assert [line.direction for line in recent_passages(store, 2)] == ["in", "out"]
    store.close()


def test_shift_summary_counts_only_the_shift(desk_dir):
    from models.facts import open_fever_case

    store = KioskStore.open(desk_dir)
    token = token_of(desk_dir, "1-1-102")
    record_passage(store, "in", check_token(store, token, "in"), parse_temperature("365"), 2)
    start = time.time() + 0.001
    time.sleep(0.01)
    record_passage(store, "out", check_token(store, token, "out"), None, 2)
    record_passage(store, "in", check_token(store, token_of(desk_dir, "4-2-201"), "in"), None, 2)
    open_fever_case(store, "in", parse_temperature("381"), 2, unit_code="1-1-102")
    s = shift_summary(store, start)
    assert s["passages"] == {"in": 0, "out": 1}
    assert s["turned_back"] == 1 and s["denials_by_reason"] == {"revoked": 1}
    assert s["fevers"]["cases"] == 1 and s["fevers"]["pending"] == 1
    assert s["unsynced"] == store.pending()[0]
    assert [c[1] for c in open_fever_cases(store)] == ["1-1-102"]
    store.close()
