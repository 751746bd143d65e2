"""Passes the street office issues itself, signed with its root key.

A kiosk's pass opens the gates of that kiosk's community only; a pass the office's key signs is
valid at every checkpoint of the street (the verdict reads the issuer "office" of the trust
entry), so only the office can make one. The clerk says where it is for: the whole street
(`street_wide`), or one checkpoint (its office-wide number becomes the pass's scope). The
office's own policy bounds the validity as every kiosk's verdict will, and the issue is audited.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from models.errors import KakouError
from models.passes import make_body, parse_kind
from models.passtoken import PassBody, sign_pass
from sync.office import audit
from sync.office import tables as t
from sync.office.admin import office_policy

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from sync.office.keys import OfficeKeys


class OfficePassError(KakouError):
    code = "office_pass"


@dataclass(frozen=True)
class OfficePass:
    token: str
    body: PassBody
    where: str  # "street" or the checkpoint's community and name

    @property
    def pass_id(self) -> str:
        return self.body.pass_id_hex


def _checkpoint_scope(conn: Connection, checkpoint: str) -> tuple[int, str]:
    """The office-wide number of the checkpoint named (its number, name or kiosk id), and its name."""
    word = checkpoint.strip()
    where = (t.kiosk.c.kiosk_id == word) | (t.kiosk.c.name == word)
    if word.isdigit():
        where = where | (t.kiosk.c.checkpoint_number == int(word))
    rows = conn.execute(
        select(t.kiosk.c.checkpoint_number, t.kiosk.c.community, t.kiosk.c.name).where(
            where, t.kiosk.c.checkpoint_number.is_not(None)
        )
    ).all()
    if len(rows) != 1:
        raise OfficePassError(
            f"找不到卡口 {word[:40]}（或重名，请用卡口编号）",
            f"no single checkpoint {word[:40]} (use its number)",
            code="not_found",
        )
    return int(rows[0].checkpoint_number), f"{rows[0].community} {rows[0].name}"


def issue_office_pass(
    engine: Engine,
    keys: OfficeKeys,
    kind: str,
    unit: str,
    *,
    name: str = "",
    valid_days: float | None = None,
    plate: str = "",
    hours: tuple[int, int] = (0, 24),
    street_wide: bool = False,
    checkpoint: str | None = None,
    by: str | None = None,
    via: str = "cli",
) -> OfficePass:
    if street_wide == bool(checkpoint):
        raise OfficePassError(
            "请说明通行证在哪里有效：--street-wide（全街道所有卡口）或 --checkpoint 卡口（只在这一个卡口）",
            "say where the pass is valid: --street-wide (every checkpoint of the street) or --checkpoint NAME "
            "(that checkpoint only)",
            code="usage",
        )
    pass_kind = parse_kind(kind)
    with engine.begin() as conn:
        scope, where = _checkpoint_scope(conn, checkpoint) if checkpoint else (0, "street")
        body = make_body(
            keys.root_public, office_policy(conn), pass_kind, unit, name, valid_days, plate, hours, scope, time.time()
        )
        token = sign_pass(body, keys.root)
        audit.record(
            conn,
            by or audit.cli_actor(),
            "issue_pass",
            via=via,
            pass_id=body.pass_id_hex,
            kind=pass_kind.code,
            unit=body.unit,
            scope=scope,
            valid_from=body.valid_from,
            valid_to=body.valid_to,
        )
    return OfficePass(token, body, where)
