"""Volunteers and their PINs (argon2id), with a kiosk-wide lockout that grows.

A PIN is typed without a name (one field, fewest keystrokes), so the lockout counts failures
for the whole kiosk and is kept in the database: pulling the plug does not reset it.
"""

from __future__ import annotations

import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, overload

from sqlalchemy import insert, update
from sqlmodel import col, select

from models.errors import KakouError
from models.tables import STATE_ROW_ID, KioskState, Volunteer

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from argon2 import PasswordHasher
    from sqlalchemy.engine import Connection

    from models.store import KioskStore

MIN_PIN, MAX_PIN = 4, 8
MIN_SUPERVISOR_PIN = 6  # a supervisor's PIN issues passes and purges data: longer than a volunteer's
ROLES = ("volunteer", "supervisor")
FREE_ATTEMPTS = 3  # wrong PINs before the first lockout
BASE_LOCK_SECONDS = 30  # then 30 s, 60 s, 120 s ... up to MAX_LOCK_SECONDS
MAX_LOCK_SECONDS = 15 * 60


# OWASP's minimum argon2id setting (19 MiB, t=2, p=1). A PIN is typed without a name, so a login
# must find whose PIN it is: every volunteer's hash is made with this kiosk's one salt
# (`_kiosk_salt`), the typed PIN is hashed ONCE and compared with each stored hash, so a login
# costs one argon2 call (~25 ms here, ~80 ms at 30 % of a core: tests/bench kiosk.pi_desk_*)
# however many volunteers there are. Before, every hash was tried in turn: N calls.
# What the parameters buy: offline, with the kiosk's file, a 4-digit PIN falls in ~4 CPU-minutes
# (10^4 guesses x 25 ms) and an 8-digit one in ~29 CPU-days; a PIN's real guard is the lockout,
# and a stolen kiosk is revoked at the office (README "A stolen kiosk"). One salt per kiosk costs
# nothing here: PINs on a kiosk are unique anyway (a login could not tell two apart).
PIN_TIME_COST, PIN_MEMORY_KIB, PIN_HASH_LEN = 2, 19456, 32


def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher, Type

    return PasswordHasher(
        time_cost=PIN_TIME_COST, memory_cost=PIN_MEMORY_KIB, parallelism=1, hash_len=PIN_HASH_LEN, type=Type.ID
    )


def _kiosk_salt(conn: Connection) -> bytes:
    """This kiosk's PIN salt: from its id, which is random per kiosk (a salt need not be secret)."""
    import hashlib

    kiosk_id = conn.execute(select(KioskState.kiosk_id).where(col(KioskState.id) == STATE_ROW_ID)).scalar_one()
    return hashlib.sha256(b"kakou-pin-salt:" + str(kiosk_id).encode()).digest()[:16]


def _pin_hash(salt: bytes, pin: str) -> str:
    """The PIN's argon2id hash as a PHC string ($argon2id$v=19$m=...,t=...,p=1$salt$hash)."""
    from argon2.low_level import Type, hash_secret

    return hash_secret(pin.encode(), salt, PIN_TIME_COST, PIN_MEMORY_KIB, 1, PIN_HASH_LEN, Type.ID).decode()


class _PinProbe:
    """One typed PIN against many stored hashes with one argon2 call: a hash made with this
    kiosk's salt and parameters is compared as text (constant time); any other (a hash from
    before the one-salt rule, or another kiosk's copied in) is verified on its own, as before."""

    def __init__(self, salt: bytes, pin: str):
        self.pin = pin
        self.digest = _pin_hash(salt, pin)
        self.prefix = self.digest.rsplit("$", 1)[0] + "$"  # parameters and salt

    def matches(self, pin_hash: str) -> bool:
        import hmac

        if pin_hash.startswith(self.prefix):
            return hmac.compare_digest(pin_hash, self.digest)
        return _matches(_hasher(), pin_hash, self.pin)

    def is_current(self, pin_hash: str) -> bool:
        return pin_hash.startswith(self.prefix)


class PinError(KakouError):
    code = "pin"


@dataclass(frozen=True)
class VolunteerInfo:
    id: int
    name: str
    role: str
    active: bool = True
    # From a login only: a supervisor whose PIN is shorter than MIN_SUPERVISOR_PIN (set before
    # the rule). It still logs in, but authorises nothing until it is changed.
    weak_pin: bool = False

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"


def min_pin(role: str) -> int:
    return MIN_SUPERVISOR_PIN if role == "supervisor" else MIN_PIN


def validate_pin(pin: str, role: str = "volunteer") -> str:
    """The PIN as stored: ASCII digits, MIN_PIN (MIN_SUPERVISOR_PIN for a supervisor) to MAX_PIN."""
    pin = pin.strip()
    low = min_pin(role)
    if not pin.isdigit() or not (low <= len(pin) <= MAX_PIN) or not pin.isascii():
        if role == "supervisor":
            raise PinError(
                f"管理员 PIN 须为 {low}-{MAX_PIN} 位数字",
                f"a supervisor's PIN is {low}-{MAX_PIN} digits",
                code="pin_format",
            )
        raise PinError(f"PIN 须为 {low}-{MAX_PIN} 位数字", f"a PIN is {low}-{MAX_PIN} digits", code="pin_format")
    return pin


def check_role(role: str) -> str:
    if role not in ROLES:
        raise PinError(
            "角色只能是 volunteer（志愿者）或 supervisor（管理员）",
            "the role is volunteer or supervisor",
            code="role_unknown",
        )
    return role


def clean_name(name: str) -> str:
    """A volunteer's name as stored (parse_name's rules), never empty."""
    from models.values import ValueRejected, parse_name

    try:
        cleaned = parse_name(name)
    except ValueRejected as exc:
        raise PinError(exc.zh, exc.en, code=exc.code) from None
    if not cleaned:
        raise PinError("请填写姓名", "a name is needed", code="name")
    return cleaned


def _name_key(name: str) -> str:
    # "张三", "张三 " and a full-width or differently-cased spelling are one person.
    return unicodedata.normalize("NFKC", name).casefold().replace(" ", "")


def name_taken_error(zh_name: str) -> PinError:
    return PinError(
        f"已有名叫「{zh_name}」的值守人员，请换一个名字（可加编号，如 {zh_name}2）",
        f"there is already a volunteer called {zh_name}: choose another name (add a number, e.g. {zh_name}2)",
        code="name_taken",
    )


PIN_TAKEN = (
    "这个 PIN 已被他人使用，请换一个",
    "that PIN is already used, choose another",
)


def _all_hashes(conn: Connection) -> dict[int, str]:
    return {int(r[0]): str(r[1]) for r in conn.execute(select(Volunteer.id, Volunteer.pin_hash))}


def _pin_used(probe: _PinProbe, hashes: dict[int, str], skip: int | None) -> bool:
    return any(probe.matches(h) for vid, h in hashes.items() if vid != skip)


def _new_pin_hash(store: KioskStore, pin: str, skip: int | None) -> tuple[str, Callable[[Connection], None]]:
    """The new PIN's hash, and a check to run in the writing transaction.

    A PIN is never shared: it is tried against every volunteer's hash, disabled ones too (so
    enabling someone again can never give two people one PIN). The slow part (one argon2 try
    per volunteer) runs before the transaction; inside it only rows that changed meanwhile
    (another process added someone) are tried again, so two adds at once cannot share a PIN."""
    with store.engine.connect() as conn:
        seen = _all_hashes(conn)
        probe = _PinProbe(_kiosk_salt(conn), pin)
    if _pin_used(probe, seen, skip):
        raise PinError(*PIN_TAKEN, code="pin_taken")

    def recheck(conn: Connection) -> None:
        changed = {vid: h for vid, h in _all_hashes(conn).items() if seen.get(vid) != h}
        if _pin_used(probe, changed, skip):
            raise PinError(*PIN_TAKEN, code="pin_taken")

    return probe.digest, recheck


@contextmanager
def _taken_pins_audited(store: KioskStore, by: int | None, via: str, name: str) -> Iterator[None]:
    """ "That PIN is already used" tells whoever typed it that the PIN is someone's: each such
    refusal is an audit record under the supervisor who tried, so trying PINs one after another
    to learn other people's shows in the audit (and at the office)."""
    try:
        yield
    except PinError as exc:
        if exc.code == "pin_taken":
            from models.facts import record_audit

            record_audit(store, "pin_taken_refused", by, via=via, name=name)
        raise


def _row(conn: Connection, name: str) -> Volunteer | None:
    key = _name_key(name)
    for row in conn.execute(select(Volunteer)).mappings():
        if _name_key(row["name"]) == key:
            return Volunteer(**row)
    return None


def _info(v: Volunteer) -> VolunteerInfo:
    return VolunteerInfo(v.id or 0, v.name, v.role, bool(v.active))


def find_volunteer(store: KioskStore, name: str) -> VolunteerInfo:
    """The volunteer of this name (disabled ones too); PinError "no_volunteer" if none."""
    with store.engine.connect() as conn:
        row = _row(conn, name)
    if row is None:
        shown = name.strip()[:20]
        raise PinError(
            f"没有名叫「{shown}」的值守人员（kakou volunteer list 列出全部）",
            f"no volunteer called {shown} (kakou volunteer list shows them all)",
            code="no_volunteer",
        )
    return _info(row)


def add_volunteer(
    store: KioskStore, name: str, pin: str, role: str = "volunteer", *, by: int | None = None, via: str = "desk"
) -> VolunteerInfo:
    """A new volunteer (or supervisor) with their own PIN; one audit record by `by`."""
    role = check_role(role)
    name = clean_name(name)
    pin = validate_pin(pin, role)
    with _taken_pins_audited(store, by, via, name):
        pin_hash, recheck = _new_pin_hash(store, pin, skip=None)
    added: list[int] = []

    def insert_row(conn: Connection) -> None:
        recheck(conn)
        if _row(conn, name) is not None:
            raise name_taken_error(name)
        result = conn.execute(
            insert(Volunteer).values(
                name=name, role=role, pin_hash=pin_hash, active=True, failed_attempts=0, locked_until=0.0
            )
        )
        key = result.inserted_primary_key
        assert key is not None  # an INSERT of one row has one
        added.append(int(key[0]))

    from models.facts import record_audit

    # The new id is not known before the insert: the record names the volunteer by name and role.
    with _taken_pins_audited(store, by, via, name):
        record_audit(store, "volunteer_added", by, inside=insert_row, via=via, name=name, role=role)
    return VolunteerInfo(added[0], name, role)


def set_pin(store: KioskStore, name: str, pin: str, *, by: int | None, via: str = "desk") -> VolunteerInfo:
    """A new PIN for the volunteer of this name (the rules of their role); one audit record."""
    who = find_volunteer(store, name)
    pin = validate_pin(pin, who.role)
    with _taken_pins_audited(store, by, via, who.name):
        pin_hash, recheck = _new_pin_hash(store, pin, skip=who.id)

    def change(conn: Connection) -> None:
        recheck(conn)
        conn.execute(update(Volunteer).where(col(Volunteer.id) == who.id).values(pin_hash=pin_hash))

    from models.facts import record_audit

    with _taken_pins_audited(store, by, via, who.name):
        record_audit(store, "volunteer_pin", by, inside=change, via=via, volunteer=who.id, name=who.name)
    return who


def _active_supervisors(conn: Connection) -> int:
    query = select(Volunteer.id).where(col(Volunteer.active) == True, col(Volunteer.role) == "supervisor")  # noqa: E712
    return len(conn.execute(query).all())


def set_active(store: KioskStore, name: str, active: bool, *, by: int | None, via: str = "desk") -> VolunteerInfo:
    """Disable (they can no longer log in) or enable a volunteer; one audit record. The last
    active supervisor is never disabled: the kiosk would have nobody to run it."""
    who = find_volunteer(store, name)

    def change(conn: Connection) -> None:
        if not active and who.is_supervisor:
            row = _row(conn, who.name)
            if row is not None and row.active and _active_supervisors(conn) <= 1:
                raise PinError(
                    f"{who.name} 是本机最后一位管理员，不能停用：请先添加另一位管理员",
                    f"{who.name} is this kiosk's last supervisor and cannot be disabled: add another supervisor first",
                    code="last_supervisor",
                )
        conn.execute(update(Volunteer).where(col(Volunteer.id) == who.id).values(active=active))

    from models.facts import record_audit

    action = "volunteer_enabled" if active else "volunteer_disabled"
    record_audit(store, action, by, inside=change, via=via, volunteer=who.id, name=who.name)
    return VolunteerInfo(who.id, who.name, who.role, active)


def is_active(store: KioskStore, volunteer_id: int) -> bool:
    with store.engine.connect() as conn:
        row = conn.execute(select(Volunteer.active).where(col(Volunteer.id) == volunteer_id)).first()
    return bool(row and row[0])


@overload
def list_volunteers(
    store: KioskStore, with_hash: Literal[False] = False, *, include_disabled: bool = False
) -> list[VolunteerInfo]: ...
@overload
def list_volunteers(
    store: KioskStore, with_hash: Literal[True], *, include_disabled: bool = False
) -> list[tuple[VolunteerInfo, str]]: ...
def list_volunteers(
    store: KioskStore, with_hash: bool = False, *, include_disabled: bool = False
) -> list[VolunteerInfo] | list[tuple[VolunteerInfo, str]]:
    query = select(Volunteer).order_by(col(Volunteer.id))
    if not include_disabled:
        query = query.where(col(Volunteer.active) == True)  # noqa: E712
    with store.session() as s:
        rows = s.exec(query).all()
    infos = [_info(v) for v in rows]  # rows read back: id is set
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
    pin = pin.strip()
    with store.engine.connect() as conn:
        probe = _PinProbe(_kiosk_salt(conn), pin)  # the one argon2 call of a login
    for info, pin_hash in list_volunteers(store, with_hash=True):  # active ones only: disabled cannot log in
        if probe.matches(pin_hash):
            with store.writer.begin() as conn:
                conn.execute(
                    update(KioskState)
                    .where(col(KioskState.id) == STATE_ROW_ID)
                    .values(pin_failures=0, pin_locked_until=0.0)
                )
                if not probe.is_current(pin_hash):
                    # A hash from before the one-salt rule: made anew now that the PIN is known,
                    # so the next login of anyone costs one argon2 call again.
                    conn.execute(update(Volunteer).where(col(Volunteer.id) == info.id).values(pin_hash=probe.digest))
            return replace(info, weak_pin=info.is_supervisor and len(pin) < MIN_SUPERVISOR_PIN)
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
