"""Personal data on the kiosk: masked for display, keyed hash for look-ups, sealed for the office.

The kiosk never keeps a full ID number or phone: it can write the sealed copy (to the office's
public key, PyNaCl sealed box) but never read it back. A kiosk that is not enrolled has no
office key, so it keeps no full value at all (minimum necessary).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from models.values import mask_id, mask_phone


def lookup_hash(key: bytes, kind: str, value: str) -> str:
    """A keyed hash ("has this person registered before?") that is useless without the key."""
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def seal(office_public_key: bytes | None, value: str) -> bytes | None:
    if not office_public_key:
        return None
    from nacl.public import PublicKey, SealedBox

    return SealedBox(PublicKey(office_public_key)).encrypt(value.encode("utf-8"))


@dataclass(frozen=True)
class Protected:
    """What the kiosk keeps of one ID number or phone."""

    masked: str
    hash: str
    sealed: bytes | None


def protect_id(key: bytes, office_public_key: bytes | None, id_number: str) -> Protected:
    return Protected(mask_id(id_number), lookup_hash(key, "id", id_number), seal(office_public_key, id_number))


def protect_phone(key: bytes, office_public_key: bytes | None, phone: str) -> Protected:
    return Protected(mask_phone(phone), lookup_hash(key, "phone", phone), seal(office_public_key, phone))
