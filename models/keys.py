"""Key files: created owner-only, and refused when others can read them.

A kiosk that is carried away must not hand its signing key to whoever has a shell on it with
another user, so a key file readable by group or others is an error with the fix in words.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from models.errors import KeyFileError

if TYPE_CHECKING:
    from nacl.signing import SigningKey

KEY_DIR = "keys"
KIOSK_SIGNING_KEY = "kiosk-signing.key"  # Ed25519 seed, hex: signs passes and sync batches
LOOKUP_KEY = "lookup.key"  # HMAC key for look-up hashes of ID numbers and phones
OFFICE_SEALING_PUBLIC = "office-sealing.pub"  # the office's X25519 public key (hex), from enrolment


def check_private(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"密钥文件 {path} 其他用户也能读取，已拒绝使用。请执行：chmod 600 {path}",
            f"key file {path} is readable by other users, refusing to use it. Fix: chmod 600 {path}",
        )


def write_private(path: Path, data: bytes) -> None:
    """Create a file readable by its owner only (mode 0600 from the start, no window)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_private(path: Path) -> bytes:
    try:
        check_private(path)
        return path.read_bytes()
    except OSError as exc:
        raise KeyFileError(
            f"密钥文件 {path} 无法读取（{exc.strerror}）。请从备份恢复这个文件，或联系管理员重新登记本机。",
            f"key file {path} cannot be read ({exc.strerror}). Restore it from a backup, or ask your supervisor"
            " to re-enrol this kiosk.",
            code="key_unreadable",
        ) from exc


def missing_key_error(path: Path) -> KeyFileError:
    return KeyFileError(
        f"本机的签发密钥 {path} 不见了。没有它，本机签发过的通行证和上报都无法核对；不会自动生成新密钥。"
        "请从备份恢复这个文件；没有备份时请联系街道办：注销本机后重新登记，再补发本机签发的通行证。",
        f"this kiosk's signing key {path} is missing. Without it nothing this kiosk issued or sent can be checked;"
        " a new key is NOT made automatically. Restore the file from a backup; without one, ask the street office"
        " to revoke this kiosk, enrol it again, and reissue the passes it issued.",
        code="key_missing",
    )


def load_or_create_secret(data_dir: Path, name: str, size: int = 32, *, create: bool = True) -> bytes:
    """A random secret kept in `data_dir/keys/name` (hex), made on first use when `create`; a
    missing file is refused in words when not (a key must never be silently replaced)."""
    path = Path(data_dir) / KEY_DIR / name
    if not path.exists():
        if not create:
            raise missing_key_error(path)
        write_private(path, os.urandom(size).hex().encode("ascii"))
    raw = read_private(path).strip()
    try:
        secret = bytes.fromhex(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        secret = b""
    if len(secret) != size:
        raise KeyFileError(
            f"密钥文件 {path} 已损坏。请联系管理员重新登记本机。",
            f"key file {path} is damaged. Ask your supervisor to re-enrol this kiosk.",
        )
    return secret


def load_signing_key(data_dir: Path, *, create: bool = False) -> SigningKey:
    """This kiosk's Ed25519 issuing key. Made only with the kiosk's file (`create`, a new data
    dir): later a missing key is an error, never a new key that no gate trusts."""
    from nacl.signing import SigningKey

    return SigningKey(load_or_create_secret(data_dir, KIOSK_SIGNING_KEY, create=create))
