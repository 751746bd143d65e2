"""Personal data on the kiosk: masked for display, a slow keyed hash for look-ups, sealed for the office.

The kiosk never keeps a full ID number or phone: it can write the sealed copy (to the office's
public key, PyNaCl sealed box) but never read it back. Before enrolment it seals to a key of its
own instead (`HANDOVER_KEY`), hands that key to the office at enrolment and destroys it.

What a thief with a copied data dir can do (the test is the cost, not "no number in the files"):
every look-up hash and the key it was made with sit on the kiosk, so the only protection left is
the work of trying every number the masked form leaves open. The masks show no digit at all
(`models.values.mask_id`, `mask_phone`): about 3,500 region codes x 36,500 birth dates x 1,000
serials = 1.28e11 ID numbers, and about 50 allocated mobile prefixes x 1e8 = 5e9 phones. Each
try costs one look-up hash:

    lookup = argon2id(secret = HMAC-SHA256(key, kind ":" value), salt = SALT, t, m)

- HMAC first, so whoever lacks the key (the office's lists travel to every kiosk) learns nothing,
  and the office, which has kept HMACs on its person lists, can strengthen them in place
  (office migration 0015) without ever seeing the numbers again;
- argon2id second, memory-hard (`m` MiB, `t` passes), so a try costs the same memory traffic on
  any hardware: at the floor this module assumes for an attacker (`BLOCK_NS_FLOOR`, several times
  faster than libargon2 runs here) the policy's smallest parameters cost more than a CPU-year for
  a phone and tens for an ID number; the desk computes one hash per scan (tens of ms here).

The parameters are the office's policy (`lookup_time_cost`, `lookup_memory_mib`) and are written
into every hash ("t2m16384:<hex>"), so a change in policy applies to new hashes while older ones
still match (a look-up tries each parameter set found in the store; retention purges the old).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from models.values import mask_id, mask_phone

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from models.policy import Policy

SALT = b"kakou.lookup.v1\x00"  # one constant: the HMAC key already makes every office's hashes its own
HASH_LEN = 32
HANDOVER_KEY = "kiosk-handover.key"  # X25519 private key: seals registrations made before enrolment

# The policy's lower bounds (models/policy.py RANGES) and the kiosk's own floor: a kiosk never
# hashes with less, whatever a policy says (an older office, a mistyped value).
MIN_TIME_COST = 2
MIN_MEMORY_MIB = 16
MAX_TIME_COST = 4
MAX_MEMORY_MIB = 64

# The fastest an attacker is assumed to fill one 1 KiB argon2 block on one core: 250 ns, i.e.
# 4 GB/s of memory-hard compression per core. libargon2 here takes about 600-1,200 ns a block
# (t=1, m=16 MiB: 10-20 ms for 16,384 blocks), so this floor credits the attacker with code
# several times faster than ours. It is the lower bound the recovery-cost test multiplies by.
BLOCK_NS_FLOOR = 250
CPU_YEAR_S = 365 * 86400

# Candidates a fully hidden part leaves (the arithmetic): region codes in use, birth dates
# of a hundred years, serials; mobile prefixes allocated (parse_phone accepts 70, ~50 are in use).
ID_REGIONS = 3_500
ID_BIRTH_DATES = 36_500
ID_SERIALS = 1_000
PHONE_PREFIXES = 50

_HASH = re.compile(r"t(\d{1,2})m(\d{1,7}):([0-9a-f]{64})")


@dataclass(frozen=True, order=True)
class LookupCost:
    """argon2id's parameters for look-up hashes: passes and memory (KiB)."""

    time_cost: int = MIN_TIME_COST
    memory_kib: int = MIN_MEMORY_MIB * 1024

    @classmethod
    def from_policy(cls, policy: Policy) -> LookupCost:
        """The policy's parameters, never below the floor nor above what the desk can afford."""
        t = min(max(int(policy.lookup_time_cost), MIN_TIME_COST), MAX_TIME_COST)
        m = min(max(int(policy.lookup_memory_mib), MIN_MEMORY_MIB), MAX_MEMORY_MIB)
        return cls(t, m * 1024)

    @property
    def tag(self) -> str:
        return f"t{self.time_cost}m{self.memory_kib}"

    def guess_seconds_floor(self) -> float:
        """The least one try can cost an attacker on one core (argon2 fills t x m blocks of 1 KiB)."""
        return self.time_cost * self.memory_kib * BLOCK_NS_FLOOR * 1e-9


def keyed_digest(key: bytes, kind: str, value: str) -> bytes:
    """The inner, fast step: HMAC-SHA256 under the look-up key. Never stored on its own."""
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).digest()


def strengthen(digest: bytes, cost: LookupCost) -> str:
    """The slow step over an HMAC digest, written with its parameters."""
    from argon2.low_level import Type, hash_secret_raw

    out = hash_secret_raw(digest, SALT, cost.time_cost, cost.memory_kib, 1, HASH_LEN, Type.ID)
    return f"{cost.tag}:{out.hex()}"


def lookup_hash(key: bytes, kind: str, value: str, cost: LookupCost | None = None) -> str:
    """A keyed, deliberately slow hash ("has this person registered before?")."""
    return strengthen(keyed_digest(key, kind, value), cost or LookupCost())


def cost_of(stored: str | None) -> LookupCost | None:
    """The parameters a stored look-up hash was made with; None for anything else (an old HMAC)."""
    m = _HASH.fullmatch(stored or "")
    if m is None:
        return None
    return LookupCost(int(m.group(1)), int(m.group(2)))


def costs_in(stored: Iterable[str | None]) -> set[LookupCost]:
    """The parameter sets among stored hashes that a look-up may need (the desk's bounds only)."""
    found = set()
    for s in stored:
        c = cost_of(s)
        if (
            c
            and MIN_TIME_COST <= c.time_cost <= MAX_TIME_COST
            and MIN_MEMORY_MIB * 1024 <= c.memory_kib <= MAX_MEMORY_MIB * 1024
        ):
            found.add(c)
    return found


def lookup_hashes(key: bytes, kind: str, value: str, costs: Iterable[LookupCost]) -> list[str]:
    """The value's hash under each parameter set (the current one first, by the caller)."""
    digest = keyed_digest(key, kind, value)
    return [strengthen(digest, c) for c in dict.fromkeys(costs)]


# -- the arithmetic of a stolen kiosk ------------------------------------------------------------


def _hidden(masked: str, start: int, end: int) -> bool:
    return all(c == "*" for c in masked[start:end])


def id_candidates(masked: str) -> int:
    """How many ID numbers a masked form leaves open (a lower bound: a part with any character
    shown counts as known)."""
    if len(masked) != 18:
        return 1
    n = ID_REGIONS if _hidden(masked, 0, 6) else 1
    n *= ID_BIRTH_DATES if _hidden(masked, 6, 14) else 1
    n *= ID_SERIALS if _hidden(masked, 14, 17) else 1
    if not _hidden(masked, 17, 18):
        n = max(1, n // 11)  # the check character filters one in eleven
    return n


def phone_candidates(masked: str) -> int:
    """How many mobile numbers a masked form leaves open (lower bound, as for ID numbers)."""
    if len(masked) != 11:
        return 1
    n = PHONE_PREFIXES if _hidden(masked, 0, 3) else 1
    hidden: int = masked[3:].count("*")
    return n * int(10**hidden)


def recovery_cpu_years(candidates: int, guess_seconds: float) -> float:
    """The whole search over `candidates` (what a thief budgets for one person; half of it on
    average), in CPU-years."""
    return candidates * guess_seconds / CPU_YEAR_S


# -- sealing ---------------------------------------------------------------------------------------


def seal(office_public_key: bytes | None, value: str) -> bytes | None:
    if not office_public_key:
        return None
    from nacl.public import PublicKey, SealedBox

    return SealedBox(PublicKey(office_public_key)).encrypt(value.encode("utf-8"))


def unseal(private_key: bytes, sealed: bytes) -> str:
    from nacl.public import PrivateKey, SealedBox

    return SealedBox(PrivateKey(private_key)).decrypt(sealed).decode("utf-8")


def handover_public(private_key: bytes) -> bytes:
    from nacl.public import PrivateKey

    return bytes(PrivateKey(private_key).public_key)


def destroy_key_file(path: Path) -> None:
    """Overwrite a key file, flush it and unlink it. (On flash with wear levelling the old bytes
    may survive in a spare block: the overwrite is a best effort, the unlink is what counts.)"""
    import os

    try:
        size = path.stat().st_size
        with open(path, "r+b") as f:
            f.write(b"\0" * size)
            f.flush()
            os.fsync(f.fileno())
    except OSError:
        pass
    path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Protected:
    """What the kiosk keeps of one ID number or phone."""

    masked: str
    hash: str
    sealed: bytes | None


def protect_id(
    key: bytes, sealing_public_key: bytes | None, id_number: str, cost: LookupCost | None = None
) -> Protected:
    return Protected(mask_id(id_number), lookup_hash(key, "id", id_number, cost), seal(sealing_public_key, id_number))


def protect_phone(
    key: bytes, sealing_public_key: bytes | None, phone: str, cost: LookupCost | None = None
) -> Protected:
    return Protected(mask_phone(phone), lookup_hash(key, "phone", phone, cost), seal(sealing_public_key, phone))


def payload_sealed(payload: dict[str, Any]) -> dict[str, bytes]:
    """The sealed copies in an outbox payload, by kind ("id", "phone")."""
    out = {}
    for kind in ("id", "phone"):
        value = payload.get(f"{kind}_sealed")
        if value:
            try:
                out[kind] = bytes.fromhex(str(value))
            except ValueError:
                continue
    return out
