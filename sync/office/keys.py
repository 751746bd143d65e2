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
from models.errors import KeyFileError

ROOT_SIGNING_KEY = "office-root.key"
SEALING_KEY = "office-sealing.key"
LOOKUP_KEY = "office-lookup.key"


def load_lookup_key(office_dir: Path) -> bytes:
    """The community lookup key (made on first use, owner-only like every office key)."""
    return key_files.load_or_create_secret(Path(office_dir), LOOKUP_KEY)


def has_keys(office_dir: Path) -> bool:
    """Whether the office dir holds the office's keys (its root signing key): made with a new
    office (`kakou office init` or `serve`), never by another command."""
    return (Path(office_dir) / key_files.KEY_DIR / ROOT_SIGNING_KEY).is_file()


def missing_office_key(path: Path) -> KeyFileError:
    return KeyFileError(
        f"街道办的密钥 {path} 不见了，不会自动生成新密钥（新密钥会让所有卡口拒收名单）。请从备份恢复这个文件。",
        f"the office's key {path} is missing; a new one is NOT made (every kiosk would refuse the lists as"
        " forged). Restore the file from a backup.",
        code="key_missing",
    )


class OfficeKeys:
    def __init__(self, office_dir: Path):
        from nacl.public import PrivateKey
        from nacl.signing import SigningKey

        office_dir = Path(office_dir)
        # The root and sealing keys are made together, with a new office. After that a missing one
        # is refused in words, never replaced: a new root key would make every kiosk refuse the
        # lists as forged, and a new sealing key could not open what kiosks sealed.
        folder = office_dir / key_files.KEY_DIR
        new = not (folder / ROOT_SIGNING_KEY).exists() and not (folder / SEALING_KEY).exists()
        for name in (ROOT_SIGNING_KEY, SEALING_KEY):
            if not new and not (folder / name).exists():
                raise missing_office_key(folder / name)
        self.root = SigningKey(key_files.load_or_create_secret(office_dir, ROOT_SIGNING_KEY, create=new))
        self.sealing = PrivateKey(key_files.load_or_create_secret(office_dir, SEALING_KEY, create=new))
        self.lookup = load_lookup_key(office_dir)

    @property
    def root_public(self) -> bytes:
        return bytes(self.root.verify_key)

    @property
    def sealing_public(self) -> bytes:
        return bytes(self.sealing.public_key)

    def seal_to_office(self, secret: bytes) -> bytes:
        """A secret kept at rest only sealed to the office's own key (a kiosk's hand-over key)."""
        from nacl.public import SealedBox

        return SealedBox(self.sealing.public_key).encrypt(secret)

    def unseal_bytes(self, sealed: bytes) -> bytes:
        from nacl.public import SealedBox

        return SealedBox(self.sealing).decrypt(sealed)

    def unseal(self, sealed_hex: str) -> str:
        """Read a value a kiosk sealed to the office (ID number, phone)."""
        from nacl.public import SealedBox

        return SealedBox(self.sealing).decrypt(bytes.fromhex(sealed_hex)).decode("utf-8")
