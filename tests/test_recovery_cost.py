"""What recovering one full number from a stolen kiosk costs: candidates x cost of one try.

A thief holds everything the kiosk holds: the look-up key, each stored hash and its masked form.
The only work left is to try every number the masked form leaves open, one slow hash each. The
candidates are counted from the mask the kiosk really writes (models.values.mask_id / mask_phone);
the cost of a try is a lower bound from the hash's parameters alone (argon2id fills t x m blocks
of 1 KiB, and models.privacy.BLOCK_NS_FLOOR is the fastest an attacker is credited with filling
one, several times faster than this machine does): no clock is read, so the test says what the
parameters guarantee on any machine, and the benchmark (`python -m tests.bench --only privacy`)
prints the same figure with the cost measured here.

The test fails when the estimate drops below one CPU-year: a mask that shows digits, a policy
that allows cheaper parameters, a kiosk that hashes with less than its floor.
"""

from __future__ import annotations

import itertools

import pytest

from models.policy import RANGES, Policy, in_range
from models.privacy import (
    CPU_YEAR_S,
    LookupCost,
    id_candidates,
    phone_candidates,
    recovery_cpu_years,
)
from models.values import mask_id, mask_phone

IDS = ["11010519491231002X", "440524188001010014", "320106199001011239"]
PHONES = ["13812345678", "19900001111", "15987654321"]


def _allowed_costs() -> list[LookupCost]:
    """Every corner of what an office clerk may set (RANGES), as the kiosk applies it."""
    t_low, t_high, _ = RANGES["lookup_time_cost"]
    m_low, m_high, _ = RANGES["lookup_memory_mib"]
    corners = itertools.product((int(t_low), int(t_high)), (int(m_low), int(m_high)))
    return [LookupCost.from_policy(Policy(lookup_time_cost=t, lookup_memory_mib=m)) for t, m in corners]


@pytest.mark.parametrize("cost", [LookupCost.from_policy(Policy()), *_allowed_costs()], ids=lambda c: c.tag)
def test_recovering_one_id_number_or_phone_costs_at_least_a_cpu_year(cost):
    for id_number in IDS:
        years = recovery_cpu_years(id_candidates(mask_id(id_number)), cost.guess_seconds_floor())
        assert years >= 1, f"ID {mask_id(id_number)}: {years:.3g} CPU-years under {cost.tag}"
    for phone in PHONES:
        years = recovery_cpu_years(phone_candidates(mask_phone(phone)), cost.guess_seconds_floor())
        assert years >= 1, f"phone {mask_phone(phone)}: {years:.3g} CPU-years under {cost.tag}"


def test_the_arithmetic_the_issue_gives():
    """The counts are the issue's: 3,500 regions x 36,500 dates (x 1,000 serials when hidden);
    5e9 phones, 5e5 once the last four show. Showing any digit would break the year."""
    assert id_candidates("*" * 18) == 3_500 * 36_500 * 1_000
    assert id_candidates("*" * 14 + "002X") == 3_500 * 36_500 // 11  # the check character filters too
    assert id_candidates("110105********002X") == 36_500 // 11  # the old mask: the birth date alone
    assert phone_candidates("*" * 11) == 5 * 10**9
    assert phone_candidates("*******5678") == 5 * 10**5
    floor = LookupCost.from_policy(Policy()).guess_seconds_floor()
    assert recovery_cpu_years(id_candidates("*" * 14 + "002X"), floor) < 1
    assert recovery_cpu_years(phone_candidates("*******5678"), floor) < 1


def test_a_policy_cannot_make_the_hash_cheaper_than_the_floor():
    """Typed at the office, a cheaper value is refused where it is typed; arriving at a kiosk
    anyway (an older office, a hand-edited database), the kiosk hashes with its floor."""
    with pytest.raises(ValueError, match="lookup_time_cost"):
        in_range("lookup_time_cost", 1)
    with pytest.raises(ValueError, match="lookup_memory_mib"):
        in_range("lookup_memory_mib", 4)
    cheap = LookupCost.from_policy(Policy(lookup_time_cost=1, lookup_memory_mib=1))
    assert cheap == LookupCost.from_policy(Policy())
    assert cheap.guess_seconds_floor() * phone_candidates("*" * 11) >= CPU_YEAR_S


def test_the_floor_is_what_argon2_must_do_for_the_parameters():
    """t passes over m blocks of 1 KiB at BLOCK_NS_FLOOR each (no clock read)."""
    cost = LookupCost(2, 16 * 1024)
    assert cost.guess_seconds_floor() == pytest.approx(2 * 16 * 1024 * 250e-9)
