"""The office's lists: trust, revoked passes, quarantine, watch, policy.

Each change bumps its list's version in the same transaction (so a kiosk that saw version N
has seen every change up to N). A removed item stays as a tombstone, so a delta from any
older version can still say "remove this". Documents are signed with the office root key.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, text
from sqlalchemy.engine import Connection

from models.errors import KakouError
from sync.office import tables as t
from sync.schemas import LIST_NAMES
from sync.signing import items_hash, sign_list

if TYPE_CHECKING:
    from models.privacy import LookupCost
    from sync.office.keys import OfficeKeys


class ListError(KakouError):
    code = "list"


def ensure_lists(conn: Connection) -> None:
    have = set(conn.execute(select(t.office_list.c.name)).scalars())
    for name in LIST_NAMES:
        if name not in have:
            conn.execute(t.office_list.insert().values(name=name, version=0, updated_at=time.time()))


def bump(conn: Connection, name: str) -> int:
    """The list's next version; on PostgreSQL this also locks the list row until commit."""
    row = conn.execute(
        text("UPDATE office_list SET version = version + 1, updated_at = :now WHERE name = :name RETURNING version"),
        {"now": time.time(), "name": name},
    ).first()
    if row is None:
        ensure_lists(conn)
        return bump(conn, name)
    return int(row[0])


def _put(
    conn: Connection,
    name: str,
    key: str,
    value: Any,
    version: int,
    deleted: bool = False,
    community_id: int | None = None,
) -> None:
    values = {
        "value": json.dumps(value, ensure_ascii=False, sort_keys=True),
        "version": version,
        "deleted": deleted,
        "community_id": community_id,
    }
    updated = conn.execute(
        t.list_item.update().where(t.list_item.c.list_name == name, t.list_item.c.item_key == key).values(**values)
    ).rowcount
    if not updated:
        conn.execute(t.list_item.insert().values(list_name=name, item_key=key, **values))


def set_items(conn: Connection, name: str, items: dict[str, Any], community_id: int | None = None) -> int:
    version = bump(conn, name)
    for key, value in items.items():
        _put(conn, name, key, value, version, community_id=community_id)
    return version


def remove_items(conn: Connection, name: str, keys: list[str]) -> tuple[int, int]:
    """Tombstone the given keys; returns (new version, how many were live)."""
    live = conn.execute(
        select(t.list_item.c.item_key, t.list_item.c.value, t.list_item.c.community_id).where(
            t.list_item.c.list_name == name, t.list_item.c.item_key.in_(keys), t.list_item.c.deleted.is_(False)
        )
    ).all()
    if not live:
        return current_version(conn, name), 0
    version = bump(conn, name)
    for key, value, community_id in live:
        # The tombstone keeps the last value and community: the kiosks that hold it need it to
        # find what to remove, and only they are sent it.
        _put(conn, name, key, json.loads(value), version, deleted=True, community_id=community_id)
    return version, len(live)


def kiosk_community(conn: Connection, kiosk_id: str) -> int | None:
    """The community whose unit entries this kiosk takes (None: street-wide entries only)."""
    cid = conn.execute(select(t.kiosk.c.community_id).where(t.kiosk.c.kiosk_id == kiosk_id)).scalar()
    return None if cid is None else int(cid)


def current_version(conn: Connection, name: str) -> int:
    return int(conn.execute(select(t.office_list.c.version).where(t.office_list.c.name == name)).scalar() or 0)


def versions(conn: Connection) -> dict[str, int]:
    return {n: int(v) for n, v in conn.execute(select(t.office_list.c.name, t.office_list.c.version))}


def document(
    conn: Connection, office_keys: OfficeKeys, name: str, since: int, community_id: int | None = None
) -> dict[str, Any]:
    """The signed list document for a kiosk of `community_id`: the changes after `since`, or a
    full snapshot, of the street-wide items and that community's unit entries.

    A snapshot when the kiosk has nothing (since=0) or claims a version the office never
    reached (the office was restored from an older backup).

    The version is the list's one street-wide number: a change to another community's entries
    moves it too and this kiosk takes an empty delta, so "has version N" still means "has every
    change up to N that is for this kiosk", and the Lists page's count of gates at the newest
    version stays true for every community. A kiosk with no community takes street-wide items
    only (it cannot tell one community's 3-2-501 from another's)."""
    if name not in LIST_NAMES:
        raise ListError(f"没有这个名单：{name}", f"no such list: {name}", code="unknown_list")
    version = current_version(conn, name)
    mode = "delta" if 0 < since <= version else "snapshot"
    q = select(t.list_item.c.item_key, t.list_item.c.value, t.list_item.c.deleted).where(
        t.list_item.c.list_name == name,
        or_(t.list_item.c.community_id.is_(None), t.list_item.c.community_id == community_id)
        if community_id is not None
        else t.list_item.c.community_id.is_(None),
    )
    if mode == "delta":
        q = q.where(t.list_item.c.version > since)
    else:
        q = q.where(t.list_item.c.deleted.is_(False))
    items = [
        {"key": k, "value": json.loads(v), "deleted": bool(d)}
        for k, v, d in conn.execute(q.order_by(t.list_item.c.item_key))
    ]
    doc = {
        "name": name,
        "version": version,
        "since": since if mode == "delta" else 0,
        "mode": mode,
        "items": items,
        "items_hash": items_hash(items),
        "issued_at": time.time(),
    }
    doc["signature"] = sign_list(office_keys.root, doc)
    return doc


# -- the office's actions on lists ------------------------------------------------------------


def lookup_cost(conn: Connection) -> LookupCost:
    """The look-up hash parameters this office publishes in its policy list (defaults if unset)."""
    from models.policy import Policy
    from models.privacy import LookupCost

    rows = conn.execute(
        select(t.list_item.c.item_key, t.list_item.c.value).where(
            t.list_item.c.list_name == "policy",
            t.list_item.c.item_key.in_(["lookup_time_cost", "lookup_memory_mib"]),
            t.list_item.c.deleted.is_(False),
        )
    ).all()
    values: dict[str, Any] = {}
    for key, value in rows:
        try:
            values[key] = json.loads(value)
        except ValueError:
            continue
    try:
        policy = Policy.from_settings(values)
    except (ValueError, TypeError):
        policy = Policy()
    return LookupCost.from_policy(policy)


def person_hash(lookup_key: bytes, id_number: str, cost: LookupCost | None = None) -> str:
    """The look-up hash a kiosk enrolled with this office computes from the same ID number
    (argon2id over HMAC, models/privacy.py), under this office's policy parameters."""
    from models.privacy import lookup_hash

    return lookup_hash(lookup_key, "id", id_number, cost)


def unit_key(unit: str, community_id: int | None) -> str:
    """A unit entry's item key: the same code in two communities is two entries."""
    return f"unit:{unit}" if community_id is None else f"unit:{unit}@{community_id}"


def person_key(hashed: str) -> str:
    # Derived from the look-up hash, never from the number itself: a plain sha256 of an ID
    # number is undone by trying every birth date and serial (about 10^11 guesses).
    return "person:" + hashed


def revoke_pass(conn: Connection, pass_id: str, reason: str, expires: int | None = None) -> int:
    return set_items(conn, "revoked", {pass_id: {"pass_id": pass_id, "reason": reason, "expires": expires}})


def _need_lookup_key(lookup_key: bytes | None) -> bytes:
    if not lookup_key:
        raise ListError(
            "街道办缺少查询密钥，不能按身份证号管理名单。请联系管理员。",
            "the office's lookup key is missing; cannot list people by ID number. Call the administrator.",
            code="no_lookup_key",
        )
    return lookup_key


def add_entry(
    conn: Connection,
    list_name: str,
    *,
    unit: str | None = None,
    id_number: str | None = None,
    until: float | None = None,
    note: str = "",
    lookup_key: bytes | None = None,
    community_id: int | None = None,
    place_street_wide: bool = True,
) -> int:
    """A person is listed by look-up hash only: the list goes to every kiosk and its tombstones
    stay forever, so neither the number nor any masked form of it is in it (each digit shown
    would divide the work of recovering it from the hash and the kiosk's key).

    A unit is listed in its community (`community_id`; None: street-wide, for a street without
    communities). Placing a unit in a community also removes a street-wide entry of the same
    code in the same version: that is how a clerk places an entry from before communities (its
    tombstone's key sorts before the placed one's, so a kiosk deletes, then adds). Without
    `place_street_wide` (a community's clerk) such a unit is refused in words instead."""
    if bool(unit) == bool(id_number):
        raise ListError("请给出单元或身份证号（二选一）", "give either a unit or an ID number", code="entry")
    if unit:
        value = {"unit": unit, "until": until, "note": note}
        street_wide = None
        if community_id is not None:
            street_wide = conn.execute(
                select(t.list_item.c.value).where(
                    t.list_item.c.list_name == list_name,
                    t.list_item.c.item_key == unit_key(unit, None),
                    t.list_item.c.deleted.is_(False),
                )
            ).scalar()
        if street_wide is not None and not place_street_wide:
            # It stops this unit at every community's gates: which household it meant is the
            # street's to say, not one community's (placing it lifts it elsewhere).
            raise ListError(
                f"单元 {unit} 已有全街道的条目：请街道账号把它归入所属社区",
                f"unit {unit} has a street-wide entry: a street account places it in its community",
                code="street_wide_entry",
            )
        version = set_items(conn, list_name, {unit_key(unit, community_id): value}, community_id=community_id)
        if street_wide is not None:
            _put(conn, list_name, unit_key(unit, None), json.loads(street_wide), version, deleted=True)
        return version
    assert id_number  # one of the two, checked above
    hashed = person_hash(_need_lookup_key(lookup_key), id_number, lookup_cost(conn))
    return set_items(conn, list_name, {person_key(hashed): {"person_hash": hashed, "until": until, "note": note}})


def remove_entry(
    conn: Connection,
    list_name: str,
    *,
    unit: str | None = None,
    id_number: str | None = None,
    lookup_key: bytes | None = None,
    community_id: int | None = None,
) -> int:
    if unit:
        keys = [unit_key(unit, community_id)]
    else:
        keys = _person_keys(conn, list_name, _need_lookup_key(lookup_key), id_number or "")
    version, removed = remove_items(conn, list_name, keys)
    if not removed:
        raise ListError(
            f"名单里没有这一项：{unit or '该身份证号'}",
            f"not on the list: {unit or 'that ID number'}",
            code="not_listed",
        )
    return version


def _person_keys(conn: Connection, list_name: str, lookup_key: bytes, id_number: str) -> list[str]:
    """The item keys this number may be listed under: its hash under the current parameters and
    under each other parameter set among the list's live entries (added before a policy change)."""
    from models.privacy import costs_in, lookup_hashes

    live = conn.execute(
        select(t.list_item.c.item_key).where(
            t.list_item.c.list_name == list_name,
            t.list_item.c.item_key.like("person:%"),
            t.list_item.c.deleted.is_(False),
        )
    ).scalars()
    costs = [lookup_cost(conn), *sorted(costs_in(k.removeprefix("person:") for k in live))]
    return [person_key(h) for h in lookup_hashes(lookup_key, "id", id_number, costs)]


def trust_key(
    conn: Connection,
    public_key_hex: str,
    label: str,
    issuer: str,
    revoked_after: int | None = None,
    vouched: list[str] | None = None,
) -> int:
    """`vouched`: a revoked kiosk's key - the pass ids it issued that stay valid (sync/office/vouch.py)."""
    from models.passtoken import kid_for

    value: dict[str, Any] = {
        "public_key": public_key_hex,
        "kid": kid_for(bytes.fromhex(public_key_hex)),
        "label": label,
        "issuer": issuer,
        "not_after": None,
        "revoked_after": revoked_after,
        **(kiosk_identity(conn, public_key_hex) if issuer == "kiosk" else {}),
    }
    if vouched is not None:
        value["vouched"] = vouched
    return set_items(conn, "trust", {public_key_hex: value})


def kiosk_identity(conn: Connection, public_key_hex: str) -> dict[str, Any]:
    """What a kiosk key's trust entry says of where its passes are valid: its community (id and
    name) and its checkpoint number. Every entry for that key carries them (enrolment, revocation)."""
    row = conn.execute(
        select(t.kiosk.c.community_id, t.community.c.name, t.kiosk.c.checkpoint_number)
        .select_from(t.kiosk.outerjoin(t.community, t.community.c.community_id == t.kiosk.c.community_id))
        .where(t.kiosk.c.public_key == public_key_hex)
    ).first()
    if row is None or row.community_id is None:
        return {}
    return {"community_id": int(row.community_id), "community": row.name, "checkpoint": row.checkpoint_number}
