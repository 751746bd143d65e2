"""The office's administrators and their bearer tokens.

A token is 32 random bytes (URL-safe text with a recognisable prefix, so one pasted into a chat
is easy to spot and revoke). Only its sha256 is stored: a token has 256 bits of entropy, so a
fast hash is enough (a slow one like argon2 protects guessable PINs, not random keys), and the
database never holds anything that works as a credential.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import unicodedata
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from models.errors import KakouError
from sync.office import audit
from sync.office import tables as t

if TYPE_CHECKING:
    from models.policy import Policy

TOKEN_PREFIX = "kakou-admin-"
MAX_TOKEN_LENGTH = 128
MAX_NAME_LENGTH = 64


class AdminError(KakouError):
    code = "admin"


def normalise_name(name: str) -> str:
    name = unicodedata.normalize("NFKC", name or "").strip()
    if not name or len(name) > MAX_NAME_LENGTH or any(unicodedata.category(c).startswith("C") for c in name):
        raise AdminError(
            f"管理员名字须为 1-{MAX_NAME_LENGTH} 个字，不含控制字符",
            f"an admin name is 1-{MAX_NAME_LENGTH} characters, no control characters",
            code="usage",
        )
    return name


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_admin(engine: Engine, name: str, *, by: str | None = None) -> str:
    """Make an admin and return their token (shown once; only its hash is kept)."""
    name = normalise_name(name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = time.time()
    with engine.begin() as conn:
        row = conn.execute(select(t.admin.c.removed_at).where(t.admin.c.name == name)).first()
        if row is not None and row.removed_at is None:
            raise AdminError(
                f"管理员 {name} 已存在。要换新令牌，请先 kakou office remove-admin {name}",
                f"admin {name} already exists. For a new token run kakou office remove-admin {name} first",
                code="admin_exists",
            )
        if row is None:
            conn.execute(t.admin.insert().values(name=name, token_hash=token_hash(token), created_at=now))
        else:  # re-added after removal: same row, so the old audit rows still point at this name
            conn.execute(
                t.admin.update()
                .where(t.admin.c.name == name)
                .values(token_hash=token_hash(token), created_at=now, removed_at=None)
            )
        audit.record(conn, by or audit.cli_actor(), "add_admin", subject=name)
    return token


def remove_admin(engine: Engine, name: str, *, by: str | None = None) -> None:
    """Revoke an admin's token at once (their past actions stay in the audit trail)."""
    name = normalise_name(name)
    with engine.begin() as conn:
        removed = conn.execute(
            t.admin.update()
            .where(t.admin.c.name == name, t.admin.c.removed_at.is_(None))
            .values(removed_at=time.time())
        ).rowcount
        if not removed:
            raise AdminError(f"没有在用的管理员 {name}", f"no active admin named {name}", code="no_admin")
        audit.record(conn, by or audit.cli_actor(), "remove_admin", subject=name)


def admin_for_token(engine: Engine, token: str) -> str | None:
    """The active admin holding this token, or None."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return None
    with engine.execution_options(immediate=False).connect() as conn:
        name = conn.execute(
            select(t.admin.c.name).where(t.admin.c.token_hash == token_hash(token), t.admin.c.removed_at.is_(None))
        ).scalar()
        conn.rollback()
    return name


def require_active(engine: Engine, name: str) -> str:
    """The clerk named an admin on the command line: it must be a current one."""
    name = normalise_name(name)
    with engine.execution_options(immediate=False).connect() as conn:
        found = conn.execute(
            select(t.admin.c.name).where(t.admin.c.name == name, t.admin.c.removed_at.is_(None))
        ).scalar()
        conn.rollback()
    if found is None:
        raise AdminError(
            f"没有在用的管理员 {name}。先用 kakou office add-admin {name} 添加",
            f"no active admin named {name}. Add one with kakou office add-admin {name}",
            code="no_admin",
        )
    return str(found)


def list_admins(engine: Engine) -> list[dict[str, Any]]:
    with engine.execution_options(immediate=False).connect() as conn:
        rows = conn.execute(
            select(t.admin.c.name, t.admin.c.created_at, t.admin.c.removed_at).order_by(t.admin.c.name)
        ).all()
        conn.rollback()
    return [{"name": r.name, "created_at": r.created_at, "removed_at": r.removed_at} for r in rows]


# -- the office's actions on lists, shared by the clerk's commands and the admin API; each is
# -- audited in the transaction that makes the change -------------------------------------------


def revoke_pass(engine: Engine, pass_id: str, reason: str, *, by: str | None = None, via: str = "cli") -> int:
    """Revoke a pass at every checkpoint; returns the revoked list's new version. See `revoke_known_pass`."""
    return revoke_known_pass(engine, pass_id, reason, by=by, via=via)[0]


def revoke_known_pass(
    engine: Engine, pass_id: str, reason: str, *, by: str | None = None, via: str = "cli"
) -> tuple[int, str]:
    """Revoke a pass the office knows (`known_passes.find_known_pass`: its full id, the 编号
    printed on it, a unique prefix, or the scanned pass) at every checkpoint; returns the revoked
    list's new version and the full pass id. An id the office never saw, or a prefix of several,
    is refused in words: nothing is published for a typo."""
    from sync.office import lists as office_lists
    from sync.office.known_passes import find_known_pass

    reason = " ".join((reason or "").split())[:200]
    if not reason:
        raise AdminError("请写明作废原因", "give a reason", code="usage")
    with engine.begin() as conn:
        known = find_known_pass(conn, pass_id)
        listed = conn.execute(
            select(t.list_item.c.value).where(
                t.list_item.c.list_name == "revoked",
                t.list_item.c.item_key == known.pass_id,
                t.list_item.c.deleted.is_(False),
            )
        ).scalar()
        if listed is not None:
            was = json.loads(listed).get("reason") or "-"
            raise AdminError(
                f"通行证 {known.pass_id} 已经作废（{was}）",
                f"pass {known.pass_id} is already revoked ({was})",
                code="already_revoked",
            )
        version = office_lists.revoke_pass(conn, known.pass_id, reason, known.valid_to)
        audit.record(
            conn,
            by or audit.cli_actor(),
            "revoke_pass",
            reason=reason,
            via=via,
            pass_id=known.pass_id,
            version=version,
            issuer=known.issuer,
        )
    return version, known.pass_id


def until_day(value: str | None) -> float | None:
    """The end of the last day of a list entry (local time), from YYYY-MM-DD (the API's and the
    command line's `until`)."""
    if not value:
        return None
    import datetime as dt

    from models.report import parse_day

    day = parse_day(value)
    if not 2000 <= day.year <= 2999:  # also keeps `day + 1` and mktime in range
        raise KakouError(f"日期不合理：{value}", f"implausible date: {value}", code="date")
    return time.mktime(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min).timetuple())


def list_entry(
    engine: Engine,
    list_name: str,
    action: str,
    *,
    unit: str | None = None,
    id_number: str | None = None,
    until: float | None = None,
    note: str = "",
    by: str | None = None,
    via: str = "cli",
    lookup_key: bytes | None = None,
    community: str | None = None,
    place_street_wide: bool = True,
) -> tuple[int, str]:
    """Add a unit or a person to the quarantine or watch list, or remove them; returns
    (new version, who in words). An ID number is checked (GB 11643) and shown masked; the list
    keeps only its keyed hash under the community `lookup_key` (sync.office.keys).

    A unit is listed in its `community` (a name), which only that community's gates take; it
    may be left out when the street has one community (that one) or none (street-wide). A
    person is the same person in every community: their entries are street-wide. Adding a unit
    in its community replaces a street-wide entry of the same code, unless `place_street_wide`
    is off (a community's clerk: refused in words)."""
    from models.values import ValueRejected, mask_id, parse_id_number, parse_unit
    from sync.office import lists as office_lists

    if list_name not in ("quarantine", "watch") or action not in ("add", "remove"):
        raise AdminError(
            "只能加入或移出隔离名单、关注名单", "only add to or remove from the quarantine or watch list", code="usage"
        )
    if bool(unit) == bool(id_number):
        raise AdminError("请给出单元或身份证号（二选一）", "give either a unit or an ID number", code="usage")
    try:
        unit = str(parse_unit(unit)) if unit else None
        id_number = parse_id_number(id_number) if id_number else None
    except ValueRejected as exc:
        raise AdminError(exc.zh, exc.en, code=exc.code) from None
    note = (note or "")[:200]
    who = unit or mask_id(id_number or "")  # one of the two, checked above
    community = (community or "").strip() or None
    with engine.begin() as conn:
        place: tuple[int, str] | None = None
        if unit:
            place = unit_community(conn, list_name, unit, community, removing=action == "remove")
            who = f"{unit}（{place[1]}）" if place else unit
        elif community:
            raise AdminError(
                "按身份证号列入的人在全街道有效，不需要社区",
                "a person listed by ID number is listed street-wide: give no community",
                code="usage",
            )
        cid = place[0] if place else None
        if action == "add":
            version = office_lists.add_entry(
                conn,
                list_name,
                unit=unit,
                id_number=id_number,
                until=until,
                note=note,
                lookup_key=lookup_key,
                community_id=cid,
                place_street_wide=place_street_wide,
            )
        else:
            version = office_lists.remove_entry(
                conn, list_name, unit=unit, id_number=id_number, lookup_key=lookup_key, community_id=cid
            )
        # The audit row names the unit (and its community) or the masked number, never the full one.
        audit.record(
            conn, by or audit.cli_actor(), f"{list_name}_{action}", via=via, who=who, until=until, version=version
        )
    return version, who


def unit_community(
    conn: Connection, list_name: str, unit: str, community: str | None, *, removing: bool = False
) -> tuple[int, str] | None:
    """The community (id, name) a unit entry is for, from its name; None: street-wide.

    Without a name: the street's one community, street-wide when it has none, and words naming
    them when it has several (a unit code means a household only inside its community). Removing
    without a name takes the street-wide entry from before communities, if there is one."""
    rows = conn.execute(select(t.community.c.community_id, t.community.c.name).order_by(t.community.c.name)).all()
    names = "、".join(r.name for r in rows)
    if community:
        for row in rows:
            if row.name == community:
                return int(row.community_id), str(row.name)
        raise AdminError(
            f"没有这个社区：{community}（本街道的社区：{names or '无'}）",
            f"no such community: {community} (this street's: {names or 'none'})",
            code="unknown_community",
        )
    if not rows:
        return None
    if removing:
        street_wide = conn.execute(
            select(t.list_item.c.item_key).where(
                t.list_item.c.list_name == list_name,
                t.list_item.c.item_key == f"unit:{unit}",
                t.list_item.c.deleted.is_(False),
            )
        ).first()
        if street_wide is not None:
            return None
    if len(rows) == 1:
        return int(rows[0].community_id), str(rows[0].name)
    raise AdminError(
        f"请指明单元 {unit} 所属的社区（--community，本街道有：{names}）",
        f"say which community unit {unit} is in (--community; this street has: {names})",
        code="community_needed",
    )


def set_policy(
    engine: Engine, settings: dict[str, object], *, by: str | None = None, via: str = "cli"
) -> tuple[int, dict[str, Any]]:
    """Set policy fields kiosks apply (values as typed: `37.5`, `true`, `3`); returns (version, values)."""
    import math

    from models.policy import STRUCTURED, Policy, coerce, coerce_structured, in_range
    from sync.office import lists as office_lists

    known = Policy().as_dict()
    if not settings:
        raise AdminError("请给出至少一项设置 KEY=VALUE", "give at least one setting KEY=VALUE", code="usage")
    values = {}
    # max_days.visitor=1, health_checks.in.visitor=health_code, health_rules.health_code.yellow=deny:
    # one entry of a structured setting, over what is set
    entries: dict[str, dict[str, object]] = {}
    for raw_key, raw_value in settings.items():
        head, dot, rest = str(raw_key).strip().partition(".")
        key = head.replace("-", "_")
        if dot and key in STRUCTURED:
            entries.setdefault(key, {})[rest] = raw_value
            continue
        key = str(raw_key).strip().replace("-", "_")
        if key not in known:
            raise AdminError(
                f"不认识的设置：{str(raw_key)[:40]}（可用：{', '.join(known)}）",
                f"unknown setting {str(raw_key)[:40]} (one of: {', '.join(known)})",
                code="usage",
            )
        try:
            value = coerce(key, raw_value)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{key}: expected a finite number")
            value = in_range(key, value)
        except (ValueError, TypeError, OverflowError) as exc:
            raise AdminError(f"设置值不对：{str(exc)[:100]}", f"bad value: {str(exc)[:100]}", code="usage") from None
        values[key] = value
    with engine.begin() as conn:
        for head, typed in entries.items():
            base = values[head] if head in values else getattr(office_policy(conn), head)
            try:
                values[head] = coerce_structured(head, typed, base)
            except ValueError as exc:
                raise AdminError(
                    f"设置值不对：{str(exc)[:100]}", f"bad value: {str(exc)[:100]}", code="usage"
                ) from None
        version = office_lists.set_items(conn, "policy", values)
        audit.record(conn, by or audit.cli_actor(), "policy_set", via=via, values=values, version=version)
    return version, values


def office_policy(conn: Connection) -> Policy:
    """The policy the office publishes (what its kiosks apply), read in the caller's transaction."""
    import json

    from models.policy import Policy

    rows = conn.execute(
        select(t.list_item.c.item_key, t.list_item.c.value).where(
            t.list_item.c.list_name == "policy", t.list_item.c.deleted.is_(False)
        )
    ).all()
    return Policy.from_settings({key: json.loads(value) for key, value in rows})


# -- admin API messages --------------------------------------------------------------------------


class AdminMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=1000)


class RevokeRequest(AdminMessage):
    pass_id: str = Field(max_length=64)
    reason: str = Field(max_length=200)


class ListEntryRequest(AdminMessage):
    unit: str | None = Field(default=None, max_length=32)
    id_number: str | None = Field(default=None, max_length=32)
    until: str | None = Field(default=None, max_length=10, description="last day, YYYY-MM-DD")
    note: str = Field(default="", max_length=200)
    community: str | None = Field(default=None, max_length=100, description="a unit entry's community (by name)")


class PolicyRequest(AdminMessage):
    settings: dict[str, Any] = Field(max_length=32)


class LookupRequest(AdminMessage):
    record_id: str = Field(max_length=64)
    reason: str = Field(max_length=500)


class PurgeRequest(AdminMessage):
    older_than_days: int | None = Field(default=None, ge=1, le=3650)


class ListChange(BaseModel):
    list: str
    version: int
    who: str = ""


class PolicyChange(BaseModel):
    version: int
    settings: dict[str, Any]


class AuditRow(BaseModel):
    id: int
    at: float
    admin: str
    action: str
    record_id: str | None
    reason: str
    outcome: str
    via: str
    detail: dict[str, Any]


class PurgeAnswer(BaseModel):
    records: int
    conflicts: int
    cutoff: float
    days: int
    dropped_days: list[str] = []
    dropped_records: int = 0
