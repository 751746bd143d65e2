"""Volunteers and their PINs (argon2id), with a kiosk-wide lockout that grows.

A PIN is typed without a name (one field, fewest keystrokes), so the lockout counts failures
for the whole kiosk and is kept in the database: pulling the plug does not reset it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, overload

from sqlalchemy import insert, update
from sqlmodel import col, select

from models.errors import KakouError
from models.tables import STATE_ROW_ID, KioskState, Volunteer

if TYPE_CHECKING:
    from argon2 import PasswordHasher

    from models.store import KioskStore

MIN_PIN, MAX_PIN = 4, 8
FREE_ATTEMPTS = 3  # wrong PINs before the first lockout
BASE_LOCK_SECONDS = 30  # then 30 s, 60 s, 120 s ... up to MAX_LOCK_SECONDS
MAX_LOCK_SECONDS = 15 * 60


def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher, Type

    # OWASP's minimum argon2id setting (19 MiB, t=2, p=1): a login on a Raspberry Pi stays
    # well under a second even when every volunteer's hash must be tried.
    return PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID)


class PinError(KakouError):
    code = "pin"


@dataclass(frozen=True)
class VolunteerInfo:
    id: int
    name: str
    role: str

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"


def validate_pin(pin: str) -> str:
    pin = pin.strip()
    if not pin.isdigit() or not (MIN_PIN <= len(pin) <= MAX_PIN) or not pin.isascii():
        raise PinError(
            f"PIN 须为 {MIN_PIN}-{MAX_PIN} 位数字", f"a PIN is {MIN_PIN}-{MAX_PIN} digits", code="pin_format"
        )
    return pin


def add_volunteer(store: KioskStore, name: str, pin: str, role: str = "volunteer") -> VolunteerInfo:
    if role not in ("volunteer", "supervisor"):
        raise PinError("角色只能是志愿者或管理员", "role must be volunteer or supervisor", code="role")
    pin = validate_pin(pin)
    name = name.strip()
    if not name:
        raise PinError("请填写姓名", "a name is needed", code="name")
    hasher = _hasher()
    for existing in list_volunteers(store, with_hash=True):
        if _matches(hasher, existing[1], pin):
            raise PinError(
                "这个 PIN 已被他人使用，请换一个", "that PIN is already used, choose another", code="pin_taken"
            )
    with store.writer.begin() as conn:
        result = conn.execute(
            insert(Volunteer).values(
                name=name, role=role, pin_hash=hasher.hash(pin), active=True, failed_attempts=0, locked_until=0.0
            )
        )
        key = result.inserted_primary_key
        assert key is not None  # an INSERT of one row has one
        vid = int(key[0])
    return VolunteerInfo(vid, name, role)


@overload
def list_volunteers(store: KioskStore, with_hash: Literal[False] = False) -> list[VolunteerInfo]: ...
@overload
def list_volunteers(store: KioskStore, with_hash: Literal[True]) -> list[tuple[VolunteerInfo, str]]: ...
def list_volunteers(
    store: KioskStore, with_hash: bool = False
) -> list[VolunteerInfo] | list[tuple[VolunteerInfo, str]]:
    with store.session() as s:
        rows = s.exec(select(Volunteer).where(col(Volunteer.active) == True)).all()  # noqa: E712
    infos = [VolunteerInfo(v.id or 0, v.name, v.role) for v in rows]  # rows read back: id is set
    if with_hash:
        return [(info, v.pin_hash) for info, v in zip(infos, rows, strict=True)]
    return infos


def _matches(hasher: PasswordHasher, pin_hash: str, pin: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return hasher.verify(pin_hash, pin)
    except (VerificationError, InvalidHashError):
        return False


def lock_seconds(failures: int) -> float:
    if failures < FREE_ATTEMPTS:
        return 0
    return float(min(MAX_LOCK_SECONDS, BASE_LOCK_SECONDS * 2 ** (failures - FREE_ATTEMPTS)))


def locked_for(store: KioskStore, now: float | None = None) -> float:
    """Seconds left before another PIN may be tried (0 when not locked), never more than the
    longest lockout: a lock set before the clock fell back to 1970 (a power cut without an RTC)
    must not read "56 years". `now` is the trusted time, not the bare wall clock."""
    now = store.trusted_now() if now is None else now
    state = store.kiosk_state()
    return max(0.0, min(float(MAX_LOCK_SECONDS), state.pin_locked_until - now))


def login(store: KioskStore, pin: str, now: float | None = None) -> VolunteerInfo:
    """The volunteer whose PIN this is; raises PinError (wrong, or locked with seconds left)."""
    now = store.trusted_now() if now is None else now
    left = locked_for(store, now)
    if left > 0:
        raise PinError(
            f"PIN 错误次数过多，请 {int(left) + 1} 秒后再试",
            f"too many wrong PINs, try again in {int(left) + 1} s",
            code="pin_locked",
        )
    hasher = _hasher()
    for info, pin_hash in list_volunteers(store, with_hash=True):
        if _matches(hasher, pin_hash, pin.strip()):
            with store.writer.begin() as conn:
                conn.execute(
                    update(KioskState)
                    .where(col(KioskState.id) == STATE_ROW_ID)
                    .values(pin_failures=0, pin_locked_until=0.0)
                )
            return info
    with store.writer.begin() as conn:
        failures = int(conn.exec_driver_sql("SELECT pin_failures FROM kiosk_state WHERE id = 1").scalar_one()) + 1
        wait = lock_seconds(failures)
        conn.execute(
            update(KioskState)
            .where(col(KioskState.id) == STATE_ROW_ID)
            .values(pin_failures=failures, pin_locked_until=now + wait if wait else 0.0)
        )
    if wait:
        raise PinError(f"PIN 不对，已锁定 {int(wait)} 秒", f"wrong PIN, locked for {int(wait)} s", code="pin_locked")
    left_tries = FREE_ATTEMPTS - failures
    raise PinError(f"PIN 不对，还可再试 {left_tries} 次", f"wrong PIN, {left_tries} tries left", code="pin_wrong")
