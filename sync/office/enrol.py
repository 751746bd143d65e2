"""Checkpoints and their one-time enrolment codes.

A code is 8 characters from an alphabet without look-alikes (no 0/O, 1/I/L), shown as
XXXX-XXXX: short enough to type on a kiosk keyboard with gloves. Only its hash is stored; it
works once, and expires.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import IntegrityError

from models.errors import KakouError
from sync.office import lists as office_lists
from sync.office import tables as t
from sync.office import vouch
from sync.office.tries import half_hashes

if TYPE_CHECKING:
    from sync.office.keys import OfficeKeys

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
CODE_TTL_S = 72 * 3600


class EnrolError(KakouError):
    code = "enrol"


def normalise_code(code: str) -> str:
    return "".join(c for c in code.upper() if c.isalnum())


def code_hash(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode("ascii", "replace")).hexdigest()


def format_code(raw: str) -> str:
    return f"{raw[:4]}-{raw[4:]}"


def _refuse_duplicate(conn: Connection, name: str, community: str) -> None:
    """Two checkpoints of one name in one community cannot be told apart in the report (a clerk
    who typed add-checkpoint twice). A revoked one's name may be used again: its replacement."""
    row = conn.execute(
        select(t.kiosk.c.checkpoint_number).where(
            t.kiosk.c.name == name, t.kiosk.c.community == community, t.kiosk.c.status != "revoked"
        )
    ).first()
    if row is not None:
        raise EnrolError(
            f"{community} 已有卡口「{name}」（编号 {row.checkpoint_number}）。换一个名称；要给它新的登记码，"
            f"请先注销旧的（kakou office revoke-kiosk）",
            f"{community} already has a checkpoint {name!r} (number {row.checkpoint_number}). Choose another name;"
            " to give it a new enrolment code, revoke the old one first (kakou office revoke-kiosk)",
            code="duplicate",
        )


def add_checkpoint(engine: Engine, name: str, community: str, ttl_s: float = CODE_TTL_S) -> dict[str, Any]:
    """A new checkpoint of `community` (made when first named) with the next checkpoint number,
    unique office-wide and never reused, and its one-use enrolment code."""
    name, community = name.strip(), community.strip()
    if not name or not community:
        raise EnrolError("请填写卡口名称和所属社区", "give the checkpoint's name and its community", code="usage")
    kiosk_id = str(uuid.uuid4())
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    now = time.time()
    for attempt in range(NUMBER_TRIES):
        try:
            with engine.begin() as conn:
                _refuse_duplicate(conn, name, community)
                community_id, new_community = _community(conn, community, now)
                number = _next_number(conn)
                conn.execute(
                    t.kiosk.insert().values(
                        kiosk_id=kiosk_id,
                        name=name,
                        community=community,
                        community_id=community_id,
                        checkpoint_number=number,
                        status="pending",
                        created_at=now,
                        backlog=0,
                        list_versions="{}",
                        max_epoch=1,
                    )
                )
                head, tail = half_hashes(raw)  # near misses count against this code (`tries`)
                conn.execute(
                    t.enrol_code.insert().values(
                        code_hash=code_hash(raw),
                        kiosk_id=kiosk_id,
                        expires_at=now + ttl_s,
                        head_hash=head,
                        tail_hash=tail,
                    )
                )
            break
        except IntegrityError:
            # Another clerk took the same number (or made the same community) at the same moment.
            if attempt == NUMBER_TRIES - 1:
                raise
    return {
        "kiosk_id": kiosk_id,
        "name": name,
        "community": community,
        "community_id": community_id,
        "new_community": new_community,
        "checkpoint_number": number,
        "code": format_code(raw),
        "expires_at": now + ttl_s,
    }


NUMBER_TRIES = 5
MAX_CHECKPOINT_NUMBER = 0xFFFF  # a pass's scope is a u16; 0 means "any checkpoint"


def _community(conn: Connection, name: str, now: float) -> tuple[int, bool]:
    """The id of the community of this name, made when first named; and whether it is new."""
    found = conn.execute(select(t.community.c.community_id).where(t.community.c.name == name)).scalar()
    if found is not None:
        return int(found), False
    conn.execute(t.community.insert().values(name=name, created_at=now))
    return int(conn.execute(select(t.community.c.community_id).where(t.community.c.name == name)).scalar_one()), True


def _next_number(conn: Connection) -> int:
    highest = conn.execute(select(func.max(t.kiosk.c.checkpoint_number))).scalar()
    number = int(highest or 0) + 1
    if number > MAX_CHECKPOINT_NUMBER:
        raise EnrolError(
            f"卡口编号已用完（最多 {MAX_CHECKPOINT_NUMBER} 个）",
            f"no checkpoint numbers left (at most {MAX_CHECKPOINT_NUMBER})",
            code="numbers_used",
        )
    return number


def enrol(
    engine: Engine, code: str, public_key_hex: str, *, handover_key_hex: str = "", office_keys: OfficeKeys | None = None
) -> dict[str, Any]:
    """Bind a kiosk's public key to the checkpoint the code was made for. `handover_key_hex`:
    the key the kiosk sealed its pre-enrolment registrations to, kept sealed to the office's own
    key (`office_keys`) so `sealed.lookup` can open those registrations."""
    from models.passtoken import kid_for

    try:
        public = bytes.fromhex(public_key_hex)
        if len(public) != 32:
            raise ValueError
    except ValueError:
        raise EnrolError("本机公钥格式不对", "the kiosk's public key is malformed", code="bad_key") from None
    handover_sealed = None
    if handover_key_hex:
        try:
            handover = bytes.fromhex(handover_key_hex)
            if len(handover) != 32 or office_keys is None:
                raise ValueError
        except ValueError:
            raise EnrolError(
                "本机的交接密钥格式不对", "the kiosk's hand-over key is malformed", code="bad_key"
            ) from None
        handover_sealed = office_keys.seal_to_office(handover).hex()
    now = time.time()
    with engine.begin() as conn:
        row = conn.execute(
            select(t.enrol_code).where(t.enrol_code.c.code_hash == code_hash(code)).with_for_update()
        ).first()
        if row is None or row.used_at is not None or row.expires_at < now:
            raise EnrolError(
                "登记码不对、已用过或已过期。请向街道办要一个新的登记码。",
                "the enrolment code is wrong, used or expired. Ask the street office for a new one.",
                code="bad_code",
            )
        if row.locked_at is not None:
            raise EnrolError(
                "这个登记码因多次输错已锁定。请向街道办要一个新的登记码。",
                "this enrolment code is locked after too many wrong tries. Ask the street office for a new one.",
                code="code_locked",
            )
        taken = conn.execute(select(t.kiosk.c.kiosk_id).where(t.kiosk.c.public_key == public_key_hex)).first()
        if taken is not None:
            raise EnrolError("这台设备已经登记过了。", "this kiosk is already enrolled.", code="already_enrolled")
        conn.execute(t.enrol_code.update().where(t.enrol_code.c.code_hash == row.code_hash).values(used_at=now))
        conn.execute(
            t.kiosk.update()
            .where(t.kiosk.c.kiosk_id == row.kiosk_id)
            .values(
                public_key=public_key_hex,
                kid=kid_for(public),
                status="active",
                enrolled_at=now,
                last_seen=now,
                handover_sealed=handover_sealed,
            )
        )
        info = conn.execute(
            select(t.kiosk.c.name, t.kiosk.c.community, t.kiosk.c.community_id, t.kiosk.c.checkpoint_number).where(
                t.kiosk.c.kiosk_id == row.kiosk_id
            )
        ).one()
        office_lists.trust_key(conn, public_key_hex, f"{info.community} {info.name}", "kiosk")
    return {
        "kiosk_id": row.kiosk_id,
        "name": info.name,
        "community": info.community,
        "community_id": info.community_id,
        "checkpoint_number": info.checkpoint_number,
    }


def find_kiosk(engine: Engine, name_or_id: str) -> Row[Any]:
    with engine.execution_options(immediate=False).connect() as conn:
        rows = conn.execute(
            select(t.kiosk).where((t.kiosk.c.kiosk_id == name_or_id) | (t.kiosk.c.name == name_or_id))
        ).all()
        conn.rollback()
    if len(rows) != 1:
        raise EnrolError(
            f"找不到卡口 {name_or_id}（或重名，请用编号）",
            f"no single checkpoint {name_or_id} (use its id)",
            code="not_found",
        )
    return rows[0]


def revoke_kiosk(engine: Engine, name_or_id: str, *, since: float | None = None, by: str | None = None) -> str:
    """A stolen or retired kiosk: its pushes are refused, and of the passes its key signed only
    those the office received from it before `since` stay valid; what it revoked from `since`
    on is withdrawn (sync/office/vouch.py; default: the moment of the revocation)."""
    return revoke_kiosk_detail(engine, name_or_id, since=since, by=by).kiosk_id


def revoke_kiosk_detail(
    engine: Engine, name_or_id: str, *, since: float | None = None, by: str | None = None
) -> vouch.KioskRevocation:
    from sync.office import audit

    row = find_kiosk(engine, name_or_id)
    with engine.begin() as conn:
        # Locks in the ingest's order (the revoked list, then the kiosk's row), so a push of this
        # kiosk's revocations at the same moment waits instead of deadlocking (PostgreSQL). The row
        # is read again under its lock: a push committed meanwhile may add passes to vouch for.
        conn.execute(select(t.office_list.c.version).where(t.office_list.c.name == "revoked").with_for_update())
        row = conn.execute(select(t.kiosk).where(t.kiosk.c.kiosk_id == row.kiosk_id).with_for_update()).one()
        return vouch.revoke_kiosk(conn, row, since, by or audit.cli_actor())
