"""A thief copies a kiosk's data dir and tries the attack that used to work: read the look-up key
beside the database, take each stored masked number with its hash, try every number the mask
leaves open through HMAC-SHA256, and keep the one whose hash matches. The same against the
person lists the office sends an enrolled kiosk (their `masked_id` and `person_hash`).

Before this change the masks kept 6 + 4 characters of an ID number (the birth date alone hidden:
about 40,000 tries) and 3 + 4 of a phone (10,000 tries), and the stored hash WAS that HMAC: the
attack below recovered every number in well under a second. It must recover nothing now: the
masks show no digit (1.28e11 and 5e9 candidates, far over the thief's budget here) and a stored
hash is argon2id over the HMAC, so even the right number does not match by HMAC alone. What the
slow attack would cost is tests/test_recovery_cost.py's business.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import json
import shutil
import sqlite3
from pathlib import Path

from sqlalchemy import text

from models.facts import RegistrationInput, record_registration
from models.values import id_check_char
from tests.sync.helpers import sync_until_quiet

PERSON = ("11010519491231002X", "13812345678")
EARLY = ("440524188001010014", "15987654321")  # registered before enrolment
LISTED = "320106199001011239"  # on the office's quarantine list
BUDGET = 1_000_000  # HMAC tries per number: about a second of one core, what "under a second" bought


def _dates(visible: str) -> list[str]:
    """Birth dates YYYYMMDD matching the visible characters ('*' hidden), 1870 to today."""
    day, out = dt.date(1870, 1, 1), []
    while day <= dt.date.today():
        s = day.strftime("%Y%m%d")
        if all(v in ("*", c) for v, c in zip(visible, s, strict=True)):
            out.append(s)
        day += dt.timedelta(days=1)
    return out


def id_candidates(masked: str, budget: int = BUDGET):
    """Every ID number a masked form leaves open, or None when they are more than `budget`."""
    if len(masked) != 18:
        return None
    region, date, serial, check = masked[:6], masked[6:14], masked[14:17], masked[17]
    hidden_digits = (region + serial).count("*")
    dates = _dates(date) if "*" in date else [date]
    if 10**hidden_digits * len(dates) > budget:
        return None

    def fill(part: str, digits: tuple[str, ...]) -> str:
        it = iter(digits)
        return "".join(next(it) if c == "*" else c for c in part)

    out = []
    for digits in itertools.product("0123456789", repeat=hidden_digits):
        r, s = fill(region, digits[: region.count("*")]), fill(serial, digits[region.count("*") :])
        for d in dates:
            first17 = r + d + s
            c = id_check_char(first17)
            if check in ("*", c):
                out.append(first17 + c)
    return out


def phone_candidates(masked: str, budget: int = BUDGET):
    if len(masked) != 11 or 10 ** masked.count("*") > budget:
        return None
    out = []
    for digits in itertools.product("0123456789", repeat=masked.count("*")):
        it = iter(digits)
        out.append("".join(next(it) if c == "*" else c for c in masked))
    return out


def fast_attack(key: bytes, kind: str, masked: str, stored: str) -> str | None:
    """The number whose HMAC under the key at rest is the stored hash, among the mask's candidates."""
    candidates = id_candidates(masked) if kind == "id" else phone_candidates(masked)
    for number in candidates or []:
        if hmac.new(key, f"{kind}:{number}".encode(), hashlib.sha256).hexdigest() == stored:
            return number
    return None


def _loot(copy: Path) -> list[tuple[str, str, str]]:
    """(kind, masked, hash) of everything the copied file holds: registration rows and the
    outbox payloads (the same fields, kept until the office confirms them)."""
    db = sqlite3.connect(copy / "kakou.db")
    found = []
    for id_m, id_h, ph_m, ph_h in db.execute("SELECT id_masked, id_hash, phone_masked, phone_hash FROM registration"):
        found += [("id", id_m, id_h), ("phone", ph_m, ph_h)]
    for (payload,) in db.execute("SELECT payload FROM outbox WHERE kind = 'registration'"):
        body = json.loads(payload)
        found += [
            ("id", body.get("id_masked"), body.get("id_hash")),
            ("phone", body.get("phone_masked"), body.get("phone_hash")),
        ]
    db.close()
    return [(k, m, h) for k, m, h in found if m and h]


def test_a_copied_data_dir_and_the_lists_it_received_give_no_number_back_by_the_fast_attack(office, tmp_path):
    from models.store import KioskStore
    from sync.office import lists as office_lists

    store = KioskStore.open(tmp_path / "kiosk")
    store.set_up("卡口1", "幸福里社区")
    record_registration(store, RegistrationInput("visitor", name="李四", id_number=EARLY[0], phone=EARLY[1]))
    store.engine.dispose()
    store, service = office.add_kiosk(tmp_path / "kiosk")
    record_registration(store, RegistrationInput("returnee", name="王小明", id_number=PERSON[0], phone=PERSON[1]))
    with office.engine.begin() as conn:
        office_lists.add_entry(
            conn, "quarantine", id_number=LISTED, note="密接", lookup_key=office.app.state.office.keys.lookup
        )
    sync_until_quiet(service)
    lists = service._send("GET", "/v1/lists/quarantine", params={"since": 0}).json()
    record_registration(store, RegistrationInput("visitor", phone=PERSON[1]))  # one not yet sent
    store.close()

    copy = tmp_path / "stolen"
    shutil.copytree(tmp_path / "kiosk", copy)
    key = bytes.fromhex((copy / "keys" / "lookup.key").read_text().strip())
    loot = _loot(copy)
    assert {k for k, _, _ in loot} == {"id", "phone"} and len(loot) >= 6  # the thief has something to work on
    recovered = {fast_attack(key, kind, masked, digest) for kind, masked, digest in loot} - {None}
    [item] = [it["value"] for it in lists["items"]]
    listed = fast_attack(key, "id", item.get("masked_id", "*" * 18), item["person_hash"])

    assert recovered == set() and listed is None
    # Not only the mask: even the right number does not match by HMAC, the stored hash is the slow one.
    assert all(fast_attack(key, kind, number, digest) is None for kind, number, digest in _with_truth(loot))
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM registration")).scalar() == 3
        conn.rollback()


def _with_truth(loot: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The loot with the real number in place of the mask (a thief who guessed right)."""
    truth = {("id", 18): [PERSON[0], EARLY[0]], ("phone", 11): [PERSON[1], EARLY[1]]}
    return [(kind, number, digest) for kind, masked, digest in loot for number in truth[(kind, len(masked))]]
