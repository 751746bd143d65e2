"""The passes the office knows, found by what a clerk has in hand: the full pass id, the 编号 printed
on the pass (the id's first 8 hex digits, `tui/printing/render.py` `short_id`), a longer prefix, or
the scanned pass itself (its digits).

The office knows a pass it issued itself (the audit row of `kakou office issue-pass`, which keeps
its id) and a pass a kiosk issued and synced (`office_pass`, from its `pass_issued` record). A pass
a kiosk has not synced yet is not known here: it is revoked at that kiosk (`kakou pass revoke`),
which sends the revocation with its next sync.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection

from models.errors import KakouError
from sync.office import tables as t

PREFIX_MIN = 8  # what the pass prints as its 编号; the kiosk's `kakou pass revoke` asks the same
PASS_ID_HEX = 32
CANDIDATES_SHOWN = 10
_HEX = frozenset("0123456789abcdef")


class UnknownPass(KakouError):
    code = "unknown_pass"


@dataclass(frozen=True)
class KnownPass:
    pass_id: str
    issuer: str  # "街道办 office", or the checkpoint that issued it
    unit: str
    valid_to: int | None


def pass_id_text(text: str) -> str:
    """What the clerk typed, as a (partial) pass id in lower-case hex: a scanned pass gives its
    own id; spaces, dashes and a leading 编号 are dropped. Anything else is refused in words."""
    cleaned = unicodedata.normalize("NFKC", text or "").strip()
    if cleaned.startswith("编号"):
        cleaned = cleaned[2:]
    cleaned = "".join(cleaned.split()).replace("-", "").lower()
    if len(cleaned) > PASS_ID_HEX and cleaned.isdigit():  # the pass's QR code, scanned into the terminal
        from models.passtoken import TokenError, decode_token

        try:
            return decode_token(cleaned).body.pass_id_hex
        except TokenError:
            pass  # words below
    if not cleaned or len(cleaned) > PASS_ID_HEX or not set(cleaned) <= _HEX:
        raise UnknownPass(
            f"这不是通行证编号：{text[:40]}（通行证上印的「编号」8 位，或完整的 32 位编号，或扫描通行证）",
            f"not a pass id: {text[:40]} (give the 8 characters printed as 编号 on the pass, the full 32 hex"
            " digits, or scan the pass)",
            code="usage",
        )
    if len(cleaned) < PREFIX_MIN:
        raise UnknownPass(
            f"编号太短：{cleaned}（至少 {PREFIX_MIN} 位，即通行证上印的「编号」）",
            f"too short: {cleaned} (give at least the {PREFIX_MIN} characters printed as 编号 on the pass)",
            code="usage",
        )
    return cleaned


def _office_issued(conn: Connection, prefix: str) -> list[KnownPass]:
    # The audit detail is JSON written with sort_keys (sync/office/audit.py): the LIKE narrows the
    # rows, the parsed detail decides.
    rows = conn.execute(
        select(t.audit.c.detail).where(
            t.audit.c.action == "issue_pass", t.audit.c.detail.like(f'%"pass_id": "{prefix}%')
        )
    ).all()
    found = []
    for (detail,) in rows:
        try:
            d = json.loads(detail or "{}")
        except ValueError:
            continue
        pass_id = str(d.get("pass_id", ""))
        if pass_id.startswith(prefix):
            valid_to = d.get("valid_to")
            found.append(
                KnownPass(
                    pass_id, "街道办 office", str(d.get("unit", "")), int(valid_to) if valid_to is not None else None
                )
            )
    return found


def _kiosk_issued(conn: Connection, prefix: str) -> list[KnownPass]:
    where = (
        t.office_pass.c.pass_id == prefix if len(prefix) == PASS_ID_HEX else t.office_pass.c.pass_id.startswith(prefix)
    )
    rows = conn.execute(
        select(t.office_pass.c.pass_id, t.office_pass.c.valid_to, t.kiosk.c.name, t.kiosk.c.community)
        .outerjoin(t.kiosk, t.kiosk.c.kiosk_id == t.office_pass.c.kiosk_id)
        .where(where)
        .limit(CANDIDATES_SHOWN + 1)
    ).all()
    return [KnownPass(r.pass_id, f"{r.community or ''} {r.name or ''}".strip() or "?", "", r.valid_to) for r in rows]


def find_known_pass(conn: Connection, text: str) -> KnownPass:
    """The one pass the office knows that `text` names; `UnknownPass` in words when none or more
    than one does (the candidates listed, so the clerk can give more of the id)."""
    prefix = pass_id_text(text)
    found = {p.pass_id: p for p in (*_office_issued(conn, prefix), *_kiosk_issued(conn, prefix))}
    if len(found) == 1:
        return next(iter(found.values()))
    if not found:
        raise UnknownPass(
            f"街道办不知道编号为 {prefix} 的通行证：请核对编号。卡口签发、尚未同步到街道的通行证，请在该卡口作废"
            "（kakou pass revoke），它会在下次同步时送到街道。",
            f"the office knows no pass {prefix}: check the number. A pass a kiosk issued and has not synced yet is"
            " revoked at that kiosk (kakou pass revoke); its next sync brings the revocation here.",
            code="unknown_pass",
        )
    shown = sorted(found.values(), key=lambda p: p.pass_id)[:CANDIDATES_SHOWN]
    listing = "; ".join(f"{p.pass_id} ({p.issuer}{' ' + p.unit if p.unit else ''})" for p in shown)
    more = "…" if len(found) > CANDIDATES_SHOWN else ""
    raise UnknownPass(
        f"编号 {prefix} 对应多张通行证，请多写几位：{listing}{more}",
        f"{prefix} names more than one pass, give more of its id: {listing}{more}",
        code="ambiguous_pass",
    )
