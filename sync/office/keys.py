"""The office's keys, kept in the office dir and readable by their owner only.

- the root signing key (Ed25519): signs every list the kiosks pull, and passes the office
  issues; kiosks pin its public half at enrolment;
- the sealing key (X25519): kiosks seal full ID numbers and phones to its public half, so only
  the office can read them;
- the community lookup key (32 random bytes, HMAC): handed to each kiosk at enrolment, so the
  office's quarantine and watch lists name a person by the same keyed hash the kiosks compute
  from a scanned ID number, and no full ID number ever leaves the office in a list.
"""

from __future__ import annotations

from pathlib import Path

from models import keys as key_files

ROOT_SIGNING_KEY = "office-root.key"
SEALING_KEY = "office-sealing.key"
LOOKUP_KEY = "office-lookup.key"


def load_lookup_key(office_dir: Path) -> bytes:
    """The community lookup key (made on first use, owner-only like every office key)."""
    return key_files.load_or_create_secret(Path(office_dir), LOOKUP_KEY)


class OfficeKeys:
    def __init__(self, office_dir: Path):
        from nacl.public import PrivateKey
        from nacl.signing import SigningKey

        office_dir = Path(office_dir)
        self.root = SigningKey(key_files.load_or_create_secret(office_dir, ROOT_SIGNING_KEY))
        self.sealing = PrivateKey(key_files.load_or_create_secret(office_dir, SEALING_KEY))
        self.lookup = load_lookup_key(office_dir)

    @property
    def root_public(self) -> bytes:
        return bytes(self.root.verify_key)

    @property
    def sealing_public(self) -> bytes:
        return bytes(self.sealing.public_key)

    def unseal(self, sealed_hex: str) -> str:
        """Read a value a kiosk sealed to the office (ID number, phone)."""
        from nacl.public import SealedBox

        return SealedBox(self.sealing).decrypt(bytes.fromhex(sealed_hex)).decode("utf-8")
