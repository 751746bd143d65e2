"""Look-up hashes across a change of the office's parameters: old registrations keep matching."""

from __future__ import annotations

from models.facts import RegistrationInput, record_registration
from models.lookup import by_id_number, by_phone
from models.privacy import LookupCost, cost_of

PHONE = "13812345678"
ID_NUMBER = "11010519491231002X"


def _costs(store) -> list[LookupCost | None]:
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT phone_hash FROM registration ORDER BY device_time").scalars().all()
    return [cost_of(h) for h in rows]


def test_a_registration_made_before_the_office_changed_the_parameters_still_matches(store):
    record_registration(store, RegistrationInput("visitor", name="甲", phone=PHONE, id_number=ID_NUMBER))
    store.set_policy(lookup_memory_mib=32)
    record_registration(store, RegistrationInput("visitor", name="乙", phone=PHONE))
    assert _costs(store) == [LookupCost(2, 16 * 1024), LookupCost(2, 32 * 1024)]
    assert sorted(h.name for h in by_phone(store, PHONE)) == ["乙", "甲"]
    assert [h.name for h in by_id_number(store, ID_NUMBER)] == ["甲"]
    assert by_phone(store, "13812345679") == []


def test_a_policy_below_the_floor_does_not_weaken_new_hashes(store):
    """A policy row cheaper than the kiosk's floor (an older office, a hand-edited file)."""
    with store.writer.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO policy (key, value) VALUES ('lookup_time_cost', '1'), ('lookup_memory_mib', '1')"
        )
    store.invalidate()
    record_registration(store, RegistrationInput("visitor", phone=PHONE))
    assert _costs(store) == [LookupCost(2, 16 * 1024)]
