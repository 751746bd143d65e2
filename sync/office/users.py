"""The console's accounts and their sessions: who may see and change what in the browser.

An account is a clerk of the whole street (`street`: sees and changes everything), of one
community (`community`: only its community's gates, records and lists) or one who only reads
(`viewer`). Passwords are kept as argon2id hashes (the same setting as the kiosk's PINs,
models/volunteers.py); the console's login asks `check_login`, which costs one hash whether the
name exists or not, so a guesser cannot tell names from the time it takes.

A session is a random 256-bit token in an HttpOnly cookie; the office keeps only its sha256
(a stolen database opens no session), the account's name, a CSRF token for its forms, and when
it was last used. `session_account` ends a session idle for longer than the timeout, one of a
disabled account, and one begun before the account's password was changed: disabling an
account or changing its password logs it out everywhere at once (every office process reads
the same table). Every change of an account is an audit row.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from models.errors import KakouError
from sync.office import audit
from sync.office import tables as t

if TYPE_CHECKING:
    from argon2 import PasswordHasher

ROLES = ("street", "community", "viewer")
ROLE_WORDS = {
    "street": ("街道", "street"),
    "community": ("社区", "community"),
    "viewer": ("只读", "viewer"),
}
MAX_NAME_LENGTH = 64
MIN_PASSWORD, MAX_PASSWORD = 8, 256
DEFAULT_IDLE_S = 30 * 60.0


class UserError(KakouError):
    code = "user"


@dataclass(frozen=True)
class Account:
    """Who is logged in: the name, the role, and for a `community` account its community."""

    name: str
    role: str
    community: str | None = None

    @property
    def can_change(self) -> bool:
        return self.role in ("street", "community")

    def sees(self, community: str | None) -> bool:
        """May this account see (and, if it can change, change) what belongs to `community`?"""
        return self.role != "community" or (community is not None and community == self.community)


@dataclass(frozen=True)
class Session:
    account: Account
    csrf: str


def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher, Type

    return PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID)


# What a login for an unknown name is checked against, so it costs what a real one does.
_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hasher().hash(secrets.token_hex(16))
    return _DUMMY_HASH


def normalise_name(name: str) -> str:
    name = unicodedata.normalize("NFKC", name or "").strip()
    if not name or len(name) > MAX_NAME_LENGTH or any(unicodedata.category(c)[0] in "CZ" and c != " " for c in name):
        raise UserError(
            f"账号名须为 1-{MAX_NAME_LENGTH} 个字，不含控制字符",
            f"an account name is 1-{MAX_NAME_LENGTH} characters, no control characters",
            code="usage",
        )
    return name


def check_password(password: str) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise UserError(
            f"密码须为 {MIN_PASSWORD}-{MAX_PASSWORD} 个字符",
            f"a password is {MIN_PASSWORD}-{MAX_PASSWORD} characters",
            code="usage",
        )
    if password.strip() != password or any(unicodedata.category(c).startswith("C") for c in password):
        raise UserError(
            "密码的开头和结尾不能是空格，也不能有控制字符",
            "a password may not begin or end with a space, nor hold control characters",
            code="usage",
        )
    return password


def _check_role(engine: Engine, role: str, community: str | None) -> str | None:
    if role not in ROLES:
        raise UserError(
            f"角色须为 {' / '.join(ROLES)} 之一：{role}", f"the role is one of {', '.join(ROLES)}: {role}", code="usage"
        )
    community = (community or "").strip() or None
    if role != "community":
        if community is not None:
            raise UserError(
                "只有 community 角色的账号属于一个社区（--community）",
                "only a community account belongs to a community (--community)",
                code="usage",
            )
        return None
    if community is None:
        raise UserError(
            "community 角色要指明社区：--community 社区名",
            "a community account needs its community: --community NAME",
            code="usage",
        )
    with engine.execution_options(immediate=False).connect() as conn:
        known = [r.name for r in conn.execute(select(t.community.c.name).order_by(t.community.c.name))]
        conn.rollback()
    if community not in known:
        # A typo would make an account that sees nothing: refuse it and say which ones exist.
        raise UserError(
            f"没有这个社区：{community}。已有：{'、'.join(known) or '（还没有，先 kakou office add-checkpoint）'}",
            f"no such community: {community}. Known: {', '.join(known) or '(none yet: kakou office add-checkpoint)'}",
            code="not_found",
        )
    return community


def add_user(
    engine: Engine, name: str, role: str, password: str, *, community: str | None = None, by: str | None = None
) -> Account:
    """A new console account (a disabled one's name may be used again: its row is taken over)."""
    name = normalise_name(name)
    community = _check_role(engine, role, community)
    hashed = _hasher().hash(check_password(password))
    now = time.time()
    with engine.begin() as conn:
        row = conn.execute(select(t.user.c.disabled_at).where(t.user.c.name == name)).first()
        if row is not None and row.disabled_at is None:
            raise UserError(
                f"账号 {name} 已存在（改密码：kakou office user password {name}）",
                f"account {name} already exists (new password: kakou office user password {name})",
                code="user_exists",
            )
        values = dict(role=role, community=community, password_hash=hashed, password_at=now, disabled_at=None)
        if row is None:
            conn.execute(t.user.insert().values(name=name, created_at=now, **values))
        else:
            conn.execute(t.user.update().where(t.user.c.name == name).values(created_at=now, **values))
        audit.record(conn, by or audit.cli_actor(), "add_user", subject=name, role=role, community=community)
    return Account(name, role, community)


def _active_row(conn: Any, name: str) -> Any:
    row = conn.execute(select(t.user).where(t.user.c.name == name)).first()
    if row is None or row.disabled_at is not None:
        raise UserError(f"没有在用的账号 {name}", f"no active account {name}", code="not_found")
    return row


def disable_user(engine: Engine, name: str, *, by: str | None = None) -> None:
    """The account can no longer log in, and its open sessions end at once."""
    name = normalise_name(name)
    with engine.begin() as conn:
        _active_row(conn, name)
        conn.execute(t.user.update().where(t.user.c.name == name).values(disabled_at=time.time()))
        conn.execute(t.session.delete().where(t.session.c.user_name == name))
        audit.record(conn, by or audit.cli_actor(), "disable_user", subject=name)


def set_password(engine: Engine, name: str, password: str, *, by: str | None = None) -> None:
    """A new password; every session begun with the old one ends."""
    name = normalise_name(name)
    hashed = _hasher().hash(check_password(password))
    with engine.begin() as conn:
        _active_row(conn, name)
        conn.execute(t.user.update().where(t.user.c.name == name).values(password_hash=hashed, password_at=time.time()))
        conn.execute(t.session.delete().where(t.session.c.user_name == name))
        audit.record(conn, by or audit.cli_actor(), "user_password", subject=name)


def list_users(engine: Engine) -> list[dict[str, Any]]:
    with engine.execution_options(immediate=False).connect() as conn:
        rows = conn.execute(
            select(
                t.user.c.name, t.user.c.role, t.user.c.community, t.user.c.created_at, t.user.c.disabled_at
            ).order_by(t.user.c.name)
        ).all()
        conn.rollback()
    return [dict(r._mapping) for r in rows]


def check_login(engine: Engine, name: str, password: str) -> Account | None:
    """The account for a right name and password, else None (one argon2 verify either way)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        name = normalise_name(name)
    except UserError:
        name = ""
    with engine.execution_options(immediate=False).connect() as conn:
        row = conn.execute(select(t.user).where(t.user.c.name == name)).first() if name else None
        conn.rollback()
    usable = row is not None and row.disabled_at is None
    hasher = _hasher()
    try:
        hasher.verify(row.password_hash if usable and row is not None else _dummy_hash(), password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return None
    if not usable or row is None:
        return None
    return Account(row.name, row.role, row.community)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def start_session(engine: Engine, account: Account) -> tuple[str, Session]:
    """A new session for a logged-in account: the cookie's token (returned once) and its CSRF token."""
    token, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), time.time()
    with engine.begin() as conn:
        conn.execute(
            t.session.insert().values(
                token_hash=token_hash(token), user_name=account.name, csrf=csrf, created_at=now, last_seen=now
            )
        )
        # Sessions of every account that timed out long ago: the table does not grow without bound.
        conn.execute(t.session.delete().where(t.session.c.last_seen < now - 7 * 24 * 3600))
    return token, Session(account, csrf)


def session_account(engine: Engine, token: str, *, idle_s: float = DEFAULT_IDLE_S) -> Session | None:
    """The live session of this cookie token (and it was used just now), else None: an unknown
    token, one idle for longer than `idle_s` (then it is ended), a disabled account's, one begun
    before the account's password changed."""
    if not token or len(token) > 128:
        return None
    now = time.time()
    key = token_hash(token)
    with engine.begin() as conn:
        row = conn.execute(
            select(
                t.session.c.csrf,
                t.session.c.created_at,
                t.session.c.last_seen,
                t.user.c.name,
                t.user.c.role,
                t.user.c.community,
                t.user.c.disabled_at,
                t.user.c.password_at,
            )
            .join(t.user, t.user.c.name == t.session.c.user_name)
            .where(t.session.c.token_hash == key)
        ).first()
        if row is None:
            return None
        if row.disabled_at is not None or row.created_at < row.password_at or now - row.last_seen > idle_s:
            conn.execute(t.session.delete().where(t.session.c.token_hash == key))
            return None
        if now - row.last_seen > 5:  # one write per few seconds, not one per request
            conn.execute(t.session.update().where(t.session.c.token_hash == key).values(last_seen=now))
    return Session(Account(row.name, row.role, row.community), row.csrf)


def end_session(engine: Engine, token: str) -> None:
    with engine.begin() as conn:
        conn.execute(t.session.delete().where(t.session.c.token_hash == token_hash(token)))
