"""The kiosk's side of sync: enrolment, push (outbox -> office), pull (office lists -> kiosk).

Push follows the design: a handshake first (what the office holds of this kiosk), then the
outbox in `seq` order in signed, gzipped batches; the kiosk moves its acknowledged mark only to
the contiguous mark the office reported after its COMMIT. Nothing in flight is kept on disk:
after any crash the handshake says where to resume, and a record sent twice is a harmless
duplicate. When the office holds seqs this kiosk no longer has (its file was restored from a
backup, or the power cut took its last commits), the kiosk moves its unconfirmed records to a
new epoch instead of reusing seq numbers.

Every answer the kiosk acts on is the office's, for this very request: `SyncService._send`
checks the office's signature over the request, status and body (sync/signing.py) with the root
key pinned at enrolment and refuses anything else ("unsigned_answer", retried). So the marks
move, the epoch changes and a list looks fresh only on the office's signed word.

Pull applies every changed list in one local transaction after checking the office's
signature with the root key pinned at enrolment; an older version than the one held is
refused (no rollback).

When rounds run is `SyncLoop`'s business (timer, new records, backoff), the one loop for the
duty desk, `kakou sync` and the tests; what a round leaves is a `SyncStatus` (no words here:
tui/sync_words.py says it).
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import text

from models import keys as key_files
from models.errors import KakouError
from models.tables import STATE_ROW_ID
from sync import signing
from sync.schemas import LIST_NAMES, MAX_LOST_CLAIMS, MAX_LOST_SPAN, EnrollResponse, KnownResult, PushResult, SyncState

if TYPE_CHECKING:  # httpx is imported when the network is first used; the store only for its type
    import httpx
    from pydantic import BaseModel
    from sqlalchemy.engine import Connection

    from models.hwm import LostRange
    from models.store import KioskStore

_log = logging.getLogger("kakou.sync")

OFFICE_ROOT_PUBLIC = "office-root.pub"
BATCH_RECORDS = 500
BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 300.0
CLOCK_WARN_S = 300.0
HTTP_TIMEOUT_S = 30.0


class SyncError(KakouError):
    """A failure the user should see; `retryable` ones are retried with backoff."""

    code = "sync"

    def __init__(
        self, zh: str, en: str, *, code: str | None = None, retryable: bool = True, retry_after: float | None = None
    ):
        super().__init__(zh, en, code=code)
        self.retryable = retryable
        self.retry_after = retry_after


def offline_error(exc: Exception) -> SyncError:
    import httpx

    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        # Connected, but the office (or something in front of it) never answered.
        return SyncError(
            "街道服务器没有应答，记录已保存在本机，稍后自动重试。",
            f"the office did not answer in time ({type(exc).__name__}); records are kept here and sent later.",
            code="offline",
        )
    if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "WRONG_VERSION_NUMBER" in str(exc):
        # Reached something, but not an office this kiosk can trust (an unknown certificate,
        # or http spoken to an https port): a person has to fix the address or the CA file.
        return SyncError(
            "街道服务器的证书不受信任（或地址的 http/https 写错了）。记录已保存在本机；"
            "请技术人员检查地址和证书（SSL_CERT_FILE）。",
            "the office's certificate is not trusted (or http/https is wrong in the address). "
            "Records are kept here; a technician should check the address and the CA file "
            "(SSL_CERT_FILE); retrying later.",
            code="tls_untrusted",
        )
    return SyncError(
        "连不上街道服务器，记录已保存在本机，联网后自动上传。",
        f"cannot reach the office ({type(exc).__name__}); records are kept here and sent when online.",
        code="offline",
    )


def enrol_offline_error(exc: Exception) -> SyncError:
    """`offline_error` for an enrolment: the kiosk is not enrolled, so nothing it records will be
    sent until someone enrols it again; the words must not promise an upload or a retry."""
    why = offline_error(exc)
    if why.code == "tls_untrusted":
        return SyncError(
            "街道服务器的证书不受信任（或地址的 http/https 写错了），本机没有登记。"
            "请技术人员检查地址和证书（SSL_CERT_FILE）后再登记一次。",
            "the office's certificate is not trusted (or http/https is wrong in the address): this kiosk is NOT"
            " enrolled. A technician should check the address and the CA file (SSL_CERT_FILE), then enrol again.",
            code="tls_untrusted",
            retryable=False,
        )
    return SyncError(
        "连不上街道服务器，本机没有登记。请检查地址和网络后再登记一次；在登记之前，记录只保存在本机，不会上报。",
        f"cannot reach the office ({type(exc).__name__}): this kiosk is NOT enrolled. Check the address and the"
        " network, then enrol again; until it is enrolled its records stay on this kiosk and are not sent.",
        code="offline",
        retryable=False,
    )


@dataclass
class SyncResult:
    pushed: int = 0  # records the office newly stored
    duplicates: int = 0
    conflicts: int = 0  # copies the office quarantined (same id, other content)
    remaining: int = 0  # records still waiting here
    lists_updated: list[str] = field(default_factory=list)
    epoch_bumped: bool = False
    damaged: int = 0  # records held back: their payload no longer matches its hash (the office is told)
    lost_reported: int = 0  # seqs the office took as lost from this round's claims
    clock_skew: float | None = None  # kiosk clock minus office clock, seconds
    error: SyncError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


# -- enrolment --------------------------------------------------------------------------------


def office_root_key(store: KioskStore) -> bytes | None:
    path = Path(store.data_dir) / key_files.KEY_DIR / OFFICE_ROOT_PUBLIC
    if not path.exists():
        return None
    try:
        key = bytes.fromhex(path.read_text("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        return None
    return key if len(key) == 32 else None


def _write_public(path: Path, key_hex: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(key_hex + "\n", encoding="ascii")
    tmp.replace(path)


def _write_lookup_key(path: Path, key_hex: str) -> None:
    """Replace this kiosk's own lookup key with the community key the office handed out, so
    the hashes it computes match the office's quarantine and watch lists.

    Records registered before enrolment keep the hashes made with the kiosk's own key: they
    no longer match a look-up of the same person (the kiosk cannot rehash them, it never kept
    the number). Enrolment normally comes before the first registration."""
    import os

    try:
        key = bytes.fromhex(key_hex)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise SyncError(
            "街道办发来的查询密钥格式不对，登记未完成。请联系街道办。",
            "the office sent a malformed lookup key; enrolment not finished. Call the street office.",
            code="bad_lookup_key",
            retryable=False,
        )
    tmp = path.with_name(path.name + ".new")
    tmp.unlink(missing_ok=True)
    key_files.write_private(tmp, key.hex().encode("ascii"))  # owner-only from the start
    os.replace(tmp, path)


def _http(base_url: str, client: httpx.Client | None = None, timeout: float = HTTP_TIMEOUT_S) -> httpx.Client:
    import httpx

    if client is not None:
        return client
    return httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)


def _problem_text(response: httpx.Response) -> tuple[str, str, str]:
    try:
        body = response.json()
    except ValueError:  # not JSON: a proxy's HTML error page, say
        return "", "", ""
    if not isinstance(body, dict):
        return "", "", ""
    return str(body.get("code", "")), str(body.get("zh", "")), str(body.get("en", ""))


def bad_answer(response: httpx.Response, why: str) -> SyncError:
    return SyncError(
        "街道服务器的回答看不懂（可能是中间的网络设备或服务器出了问题），记录已保存在本机，稍后自动重试；"
        "一直如此请联系街道办。",
        f"the office's answer could not be read ({response.status_code}, {why}; a proxy or server fault?);"
        " records are kept here and sent later. If this keeps happening, call the street office.",
        code="bad_answer",
    )


def unsigned_answer(response: httpx.Response) -> SyncError:
    """An answer the office did not sign for this request: refused, whatever it says."""
    return SyncError(
        "街道服务器的回答没有街道办的签名，已拒绝（可能有人在网络中间冒充街道服务器）。"
        "记录都保存在本机，稍后自动重试；一直如此请联系街道办。",
        f"the office's answer ({response.status_code}) is not signed by the office for this request"
        " (someone on the network may be posing as the office); refused. Records are kept here and"
        " retried later. If this keeps happening, call the street office.",
        code="unsigned_answer",
    )


def _answer(response: httpx.Response, model: type[BaseModel] | None = None) -> dict[str, Any]:
    """The office's JSON answer, checked against the protocol's shape (`model`) or at least
    to be a JSON object. A proxy's error page, a captive portal's login page, a half-started
    office can all answer 200 with something else: that must be a plain, retryable SyncError,
    never a crash of the sync worker (and never a mark moved on a wrong answer)."""
    try:
        data = response.json()
    except ValueError:  # JSONDecodeError, or bytes that are not UTF-8
        raise bad_answer(response, "not JSON") from None
    if model is not None:
        try:
            model.model_validate(data)
        except ValueError as exc:  # pydantic's ValidationError
            raise bad_answer(response, f"not a {model.__name__}") from exc
    elif not isinstance(data, dict):
        raise bad_answer(response, "not a JSON object")
    # A JSON object either way: every protocol model is one (model_validate refuses anything else).
    return cast("dict[str, Any]", data)


def enroll(store: KioskStore, office_url: str, code: str, *, client: httpx.Client | None = None) -> dict[str, Any]:
    """Enrol this kiosk with the street office using a one-time code.

    Three steps, so a caller with one database thread (the desk) can run the two that touch
    the store there and the network exchange elsewhere: `enrolment_request` (store),
    `enrolment_exchange` (network only), `apply_enrolment` (store)."""
    body = enrolment_request(store, code)
    answer = enrolment_exchange(office_url, body, client=client)
    apply_enrolment(store, office_url, answer)
    return answer


def enrolment_request(store: KioskStore, code: str) -> bytes:
    """The enrolment request's body; refuses a kiosk that is already enrolled."""
    state = store.kiosk_state()
    if state.enrolled_at:
        raise SyncError(
            f"本机已登记到 {state.office_url}，无需再次登记。",
            f"this kiosk is already enrolled with {state.office_url}.",
            code="already_enrolled",
            retryable=False,
        )
    body = {"code": code, "public_key": bytes(store.signing_key.verify_key).hex(), "kiosk_uuid": state.kiosk_id}
    handover = store.handover_key()
    if handover is not None:
        body["handover_key"] = handover.hex()  # the office opens pre-enrolment registrations with it
    return json.dumps(body).encode()


def enrolment_exchange(office_url: str, body: bytes, *, client: httpx.Client | None = None) -> dict[str, Any]:
    """Send the request, check the answer and its lists' signatures; touches no store."""
    import httpx

    http = _http(office_url, client)
    try:
        response = http.post("/v1/enroll", content=body, headers={"Content-Type": "application/json"})
    except httpx.HTTPError as exc:
        raise enrol_offline_error(exc) from exc
    if response.status_code != 200:
        code_, zh, en = _problem_text(response)
        raise SyncError(
            zh or f"登记失败（{response.status_code}）",
            en or f"enrolment failed ({response.status_code})",
            code=code_ or "enrol_failed",
            retryable=False,
        )
    answer = _answer(response, EnrollResponse)
    try:
        root = bytes.fromhex(answer["office_root_key"])
    except ValueError:
        raise bad_answer(response, "office root key is not hex") from None
    for doc in answer["lists"]:
        _check_document(doc, root)
    return answer


def apply_enrolment(store: KioskStore, office_url: str, answer: dict[str, Any]) -> None:
    """Pin the office's keys and apply its first lists (an answer `enrolment_exchange` checked)."""
    root = bytes.fromhex(answer["office_root_key"])
    keys_dir = Path(store.data_dir) / key_files.KEY_DIR
    _write_public(keys_dir / OFFICE_ROOT_PUBLIC, answer["office_root_key"])
    _write_public(keys_dir / key_files.OFFICE_SEALING_PUBLIC, answer["office_sealing_key"])
    handover = store.handover_key()
    rekeyed: dict[str, tuple[str | None, str | None]] = {}
    if answer.get("lookup_key"):
        _write_lookup_key(keys_dir / key_files.LOOKUP_KEY, answer["lookup_key"])
        store.reset_keys()
        if handover is not None:
            # The slow hashes first, outside the write transaction (tens of ms each).
            rekeyed = _rekeyed_registrations(store, handover, answer, {})
    with store.writer.begin() as conn:
        conn.execute(
            text("UPDATE kiosk_state SET kiosk_id = :k, office_url = :u, enrolled_at = :t WHERE id = :id"),
            {"k": answer["kiosk_id"], "u": office_url.rstrip("/"), "t": time.time(), "id": STATE_ROW_ID},
        )
        _trust_office_root(conn, root)
        if conn.execute(text("SELECT count(*) FROM checkpoint")).scalar() == 0:
            # Enrolled before it was set up: the office's name for it.
            conn.execute(
                text("INSERT INTO checkpoint (name, community, street, number) VALUES (:n, :c, '', 1)"),
                {"n": answer.get("name") or "", "c": answer.get("community") or ""},
            )
        own = bytes(store.signing_key.verify_key).hex()
        _apply_own_identity(
            conn,
            own,
            {
                "community_id": answer.get("community_id"),
                "community": answer.get("community"),
                "checkpoint": answer.get("checkpoint_number"),
            },
        )
        _apply_documents(conn, store, answer["lists"])
        if handover is not None and answer.get("lookup_key"):
            # Registrations made since the hashes above (the desk stays open) are done here.
            rekeyed = _rekeyed_registrations(store, handover, answer, rekeyed, conn)
            for record_id, (id_hash, phone_hash) in rekeyed.items():
                conn.execute(
                    text("UPDATE registration SET id_hash = :i, phone_hash = :p WHERE record_id = :r"),
                    {"i": id_hash, "p": phone_hash, "r": record_id},
                )
    store.invalidate()
    store.destroy_spent_handover_key()  # given to the office: it must not stay on the kiosk


def _rekeyed_registrations(
    store: KioskStore,
    handover: bytes,
    answer: Mapping[str, Any],
    done: dict[str, tuple[str | None, str | None]],
    conn: Connection | None = None,
) -> dict[str, tuple[str | None, str | None]]:
    """The look-up hashes of the registrations made before enrolment, remade under the
    community key the office handed over (and its policy's parameters), from their sealed copies
    opened with the hand-over key: so a returning person is still "登记过 N 次" and matches the
    office's lists. Records already in `done` are skipped; a copy that does not open is left as
    it was (its old hash matches nothing any more, as before this existed)."""
    from nacl.exceptions import CryptoError

    from models.policy import Policy
    from models.privacy import LookupCost, lookup_hash, payload_sealed, unseal

    policy_doc = next((d for d in answer["lists"] if d.get("name") == "policy"), None)
    values = {it["key"]: it["value"] for it in (policy_doc or {}).get("items", []) if not it.get("deleted")}
    try:
        cost = LookupCost.from_policy(Policy.from_settings(values))
    except (ValueError, TypeError):
        cost = LookupCost()
    key = store.lookup_key
    query = text("SELECT record_id, payload FROM outbox WHERE kind = 'registration'")
    if conn is None:
        with store.engine.connect() as reader:
            rows = reader.execute(query).all()
            reader.rollback()
    else:
        rows = conn.execute(query).all()
    out = dict(done)
    for record_id, payload in rows:
        if record_id in out:
            continue
        try:
            sealed = payload_sealed(json.loads(payload))
            opened = {kind: unseal(handover, box) for kind, box in sealed.items()}
        except (CryptoError, ValueError, TypeError, AttributeError):  # damaged or not ours: nothing to rehash from
            continue
        if opened:
            out[record_id] = (
                lookup_hash(key, "id", opened["id"], cost) if "id" in opened else None,
                lookup_hash(key, "phone", opened["phone"], cost) if "phone" in opened else None,
            )
    return out


def is_enrolled(store: KioskStore) -> bool:
    state = store.kiosk_state()
    return bool(state is not None and state.enrolled_at)


def not_enrolled_error() -> SyncError:
    return SyncError(
        "本机未登记到街道办，记录只保存在本机。",
        "not enrolled: records stay on this kiosk.",
        code="not_enrolled",
        retryable=False,
    )


def _trust_office_root(conn: Connection, root: bytes) -> None:
    from models.passtoken import kid_for

    conn.execute(
        text(
            "INSERT INTO trusted_key (public_key, kid, label, issuer, source) VALUES (:p, :k, :l, 'office', 'office')"
            " ON CONFLICT(public_key) DO NOTHING"
        ),
        {"p": root.hex(), "k": kid_for(root), "l": "街道办 street office"},
    )


# -- lists ------------------------------------------------------------------------------------


def _check_document(doc: dict[str, Any], root: bytes) -> None:
    if doc.get("name") not in LIST_NAMES:
        raise SyncError("收到不认识的名单，已忽略。", f"unknown list {doc.get('name')!r} refused.", code="list_unknown")
    if not signing.verify_list(root, doc):
        raise SyncError(
            "名单签名不符，已拒绝（可能被篡改）。请联系街道办。",
            "list signature does not match (tampered?); refused. Call the street office.",
            code="list_signature",
            retryable=False,
        )
    if signing.items_hash(doc.get("items", [])) != doc.get("items_hash"):
        raise SyncError(
            "名单内容不完整，已拒绝，稍后重试。", "list content incomplete; refused, will retry.", code="list_hash"
        )


def _community_of(value: Mapping[str, Any]) -> dict[str, Any]:
    """The community a trust item names (None for the office's key and an office without them)."""
    cid = value.get("community_id")
    ok = isinstance(cid, int) and not isinstance(cid, bool)
    number = value.get("checkpoint")
    number_ok = ok and isinstance(number, int) and not isinstance(number, bool) and 0 < number <= 0xFFFF
    return {
        "ci": cid if ok else None,
        "cn": str(value.get("community") or "") if ok else None,
        "cp": number if number_ok else None,
    }


def _apply_own_identity(conn: Connection, own: str, value: Mapping[str, Any]) -> None:
    """This kiosk's community and checkpoint number, as the office assigned them (enrolment, or
    the trust list of an office that assigned them after this kiosk enrolled)."""
    community = _community_of(value)
    if community["ci"] is None:
        return  # an office that does not assign communities: keep what this kiosk has
    conn.execute(
        text("UPDATE trusted_key SET community_id = :ci, community = :cn, checkpoint = :cp WHERE public_key = :p"),
        {**community, "p": own},
    )
    values = {**community, "n": community["cp"]}
    cp = conn.execute(text("SELECT id FROM checkpoint ORDER BY id LIMIT 1")).scalar()
    if cp is None:
        return
    conn.execute(
        text(
            "UPDATE checkpoint SET community_id = :ci, community = CASE WHEN :cn = '' THEN community ELSE :cn END,"
            " number = COALESCE(:n, number) WHERE id = :id"
        ),
        {**values, "id": cp},
    )


def _local_versions(conn: Connection) -> dict[str, int]:
    return {n: int(v) for n, v in conn.execute(text("SELECT name, version FROM list_version")).all()}


def _vouched_json(item: Mapping[str, Any]) -> str | None:
    """A revoked key's vouched pass ids as the kiosk keeps them (JSON list); None when the office
    sent none. Something that is not a list of ids vouches for nothing."""
    vouched = item.get("vouched")
    if vouched is None:
        return None
    if not isinstance(vouched, list):
        return "[]"
    return json.dumps(sorted(str(p) for p in vouched))


def _apply_documents(conn: Connection, store: KioskStore, docs: list[dict[str, Any]]) -> list[str]:
    """Apply verified list documents inside the caller's write transaction."""
    held = _local_versions(conn)
    applied = []
    now = time.time()
    for doc in docs:
        name, version = doc["name"], int(doc["version"])
        have = held.get(name, 0)
        if version < have:
            raise SyncError(
                f"街道下发的名单“{name}”比本机的旧（{version} < {have}），已拒绝。请联系街道办。",
                f"the office sent an older {name} list ({version} < {have}); refused. Call the office.",
                code="list_older",
                retryable=False,
            )
        if doc["mode"] == "delta" and int(doc["since"]) != have:
            raise SyncError(
                "名单增量与本机版本不符，将重新下载。",
                "list delta does not fit this kiosk's version; refetching.",
                code="list_gap",
            )
        snapshot = doc["mode"] == "snapshot"
        items = doc["items"]
        if name == "revoked":
            if snapshot:
                conn.execute(text("DELETE FROM revocation WHERE source = 'office'"))
            for it in items:
                v = it["value"]
                conn.execute(text("DELETE FROM revocation WHERE pass_id = :p AND source = 'office'"), {"p": it["key"]})
                if not it["deleted"]:
                    conn.execute(
                        text(
                            "INSERT INTO revocation (pass_id, reason, source, revoked_at, expires) VALUES (:p, :r, 'office', :t, :e)"
                            " ON CONFLICT(pass_id) DO NOTHING"
                        ),
                        {"p": it["key"], "r": str(v.get("reason", "")), "t": now, "e": v.get("expires")},
                    )
        elif name in ("quarantine", "watch"):
            if snapshot:
                conn.execute(text("DELETE FROM list_entry WHERE list_name = :n AND source = 'office'"), {"n": name})
            for it in items:
                v = it["value"]
                unit = v.get("unit")
                # The office names a person by the look-up hash under the community lookup key
                # this kiosk got at enrolment: applied as sent, the kiosk never sees the number.
                # An old office's plain HMAC is not kept: with the key at rest beside it, it
                # gives the number back in seconds (and it would match no look-up here anyway).
                person = str(v["person_hash"]) if v.get("person_hash") else None
                if person is not None:
                    from models.privacy import cost_of

                    person = person if cost_of(person) is not None else None
                if unit is None and person is None:
                    continue  # nothing this kiosk can match (an item from an older office)
                conn.execute(
                    text(
                        "DELETE FROM list_entry WHERE list_name = :n AND source = 'office'"
                        " AND ((:u IS NOT NULL AND unit_code = :u) OR (:h IS NOT NULL AND person_hash = :h))"
                    ),
                    {"n": name, "u": unit, "h": person},
                )
                if not it["deleted"]:
                    conn.execute(
                        text(
                            "INSERT INTO list_entry (list_name, unit_code, person_hash, until, note, source)"
                            " VALUES (:n, :u, :h, :until, :note, 'office')"
                        ),
                        {"n": name, "u": unit, "h": person, "until": v.get("until"), "note": str(v.get("note") or "")},
                    )
        elif name == "trust":
            own = bytes(store.signing_key.verify_key).hex()
            if snapshot:
                conn.execute(text("DELETE FROM trusted_key WHERE source = 'office' AND issuer = 'kiosk'"))
            for it in items:
                v = it["value"]
                if it["deleted"]:
                    conn.execute(
                        text("DELETE FROM trusted_key WHERE public_key = :p AND source = 'office'"), {"p": it["key"]}
                    )
                elif it["key"] == own:
                    conn.execute(
                        text("UPDATE trusted_key SET revoked_after = :r, vouched = :vp WHERE public_key = :p"),
                        {"r": v.get("revoked_after"), "vp": _vouched_json(v), "p": own},
                    )
                    _apply_own_identity(conn, own, v)
                else:
                    conn.execute(
                        text(
                            "INSERT INTO trusted_key (public_key, kid, label, issuer, not_after, revoked_after, source,"
                            " community_id, community, checkpoint, vouched)"
                            " VALUES (:p, :k, :l, :i, :na, :ra, 'office', :ci, :cn, :cp, :vp) ON CONFLICT(public_key)"
                            " DO UPDATE SET kid = :k, label = :l, issuer = :i, not_after = :na, revoked_after = :ra,"
                            " community_id = :ci, community = :cn, checkpoint = :cp, vouched = :vp"
                        ),
                        {
                            "p": it["key"],
                            "k": int(v["kid"]),
                            "l": str(v.get("label", "")),
                            "i": str(v.get("issuer", "kiosk")),
                            "na": v.get("not_after"),
                            "ra": v.get("revoked_after"),
                            **_community_of(v),
                            "vp": _vouched_json(v),
                        },
                    )
        elif name == "policy":
            from models.policy import Policy, coerce

            known = set(Policy().as_dict())
            if snapshot:
                conn.execute(text("DELETE FROM policy"))
            for it in items:
                conn.execute(text("DELETE FROM policy WHERE key = :k"), {"k": it["key"]})
                if not it["deleted"] and it["key"] in known:
                    conn.execute(
                        text("INSERT INTO policy (key, value) VALUES (:k, :v)"),
                        {"k": it["key"], "v": json.dumps(coerce(it["key"], it["value"]))},
                    )
        conn.execute(
            text(
                "INSERT INTO list_version (name, version, content_hash, updated_at) VALUES (:n, :v, :h, :t)"
                " ON CONFLICT(name) DO UPDATE SET version = :v, content_hash = :h, updated_at = :t"
            ),
            {"n": name, "v": version, "h": doc["items_hash"], "t": now},
        )
        applied.append(name)
    return applied


# -- backoff ------------------------------------------------------------------------------------


class Backoff:
    """Full-jitter exponential backoff (2 s .. 5 min), never giving up; honours Retry-After."""

    def __init__(self, base: float = BACKOFF_BASE_S, cap: float = BACKOFF_CAP_S, rng: random.Random | None = None):
        self.base, self.cap = base, cap
        self.attempt = 0
        self.rng = rng or random.Random()

    def next_delay(self, retry_after: float | None = None) -> float:
        ceiling = min(self.cap, self.base * (2**self.attempt))
        self.attempt += 1
        delay = self.rng.uniform(0, ceiling)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.cap))
        return delay

    def reset(self) -> None:
        self.attempt = 0


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


# -- the sync service -------------------------------------------------------------------------------


class SyncService:
    """One round of push then pull (`run_once`); `SyncLoop` decides when rounds run.

    `run_once()` never raises for network or office trouble: it returns a SyncResult with the
    error. `status()` is what the last round left, as a SyncStatus (words: tui/sync_words.py).
    """

    def __init__(
        self,
        store: KioskStore,
        *,
        client: httpx.Client | None = None,
        batch_records: int = BATCH_RECORDS,
        progress: Callable[[int, int], None] | None = None,
        timeout: float = HTTP_TIMEOUT_S,
    ):
        self.store = store
        self._client = client
        self.timeout = timeout  # seconds per connect/read/write (an office that never answers)
        self.batch_records = batch_records
        self.progress = progress
        self._lock = threading.Lock()
        self.last_result: SyncResult | None = None
        self.last_success: float | None = None
        self.offline_since: float | None = None
        self.clock_skew: float | None = None
        # Request stamps (sync/office/replay.py): the last one sent, the lowest the office said it
        # would take, and the office's time from its last signed answer (ms, time.monotonic()).
        self._stamp = 0
        self._stamp_floor = 0
        self._office_clock: tuple[int, float] | None = None
        self._root: bytes | None = None

    # -- http ----------------------------------------------------------------------------------
    def _http(self) -> httpx.Client:
        if self._client is None:
            state = self.store.kiosk_state()
            if state.office_url is None:  # enrolment sets it with enrolled_at, and rounds run only enrolled
                raise not_enrolled_error()
            self._client = _http(state.office_url, timeout=self.timeout)
        return self._client

    def _next_stamp(self) -> int:
        """Above every stamp sent, and at the office's time as this kiosk estimates it: from the
        office's last signed answer on the monotonic clock, else this kiosk's own wall clock
        (wrong after a boot without RTC: the office then says which stamp it takes)."""
        if self._office_clock is not None:
            office_ms, at = self._office_clock
            estimate = office_ms + int((time.monotonic() - at) * 1000)
        else:
            estimate = int(time.time() * 1000)
        self._stamp = max(self._stamp + 1, self._stamp_floor, estimate, 0)
        return self._stamp

    def new_request_id(self) -> str:
        """A request id with this kiosk's next stamp (for a request made by hand: tools, tests)."""
        return signing.request_id_for(self._next_stamp())

    def _office_root(self) -> bytes:
        if self._root is None:
            self._root = office_root_key(self.store)
        if self._root is None:
            raise SyncError(
                "本机没有街道办的公钥，请重新登记。",
                "the office's root key is missing; enrol again.",
                code="no_root_key",
                retryable=False,
            )
        return self._root

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        params: Mapping[str, object] | None = None,
        gzip_body: bool = False,
        epoch: int | None = None,
    ) -> httpx.Response:
        """One signed request and the office's answer to it, signed for it with the pinned root
        key (`signing.verify_answer`), or a SyncError: nothing unsigned is ever acted on. A
        request the office refuses as stale (a stamp it took a newer one of: see
        sync/office/replay.py) goes once more with the stamp the office named."""
        import httpx

        state = self.store.kiosk_state()
        epoch = state.epoch if epoch is None else epoch
        root = self._office_root()
        base: dict[str, str] = {}
        if method == "GET":
            target = path + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")
            signed = signing.get_body("GET", target)
        else:
            target = path
            if gzip_body:
                body = gzip.compress(body or b"", compresslevel=1, mtime=0)  # CPU matters more than bytes on a Pi
                base["Content-Encoding"] = "gzip"
            base["Content-Type"] = "application/json"
            signed = body or b""
        for attempt in range(2):
            request_id = self.new_request_id()
            headers = dict(base)
            headers.update(signing.sign_request(self.store.signing_key, state.kiosk_id, epoch, request_id, signed))
            try:
                if method == "GET":
                    response = self._http().get(target, headers=headers)
                else:
                    response = self._http().post(path, content=body, headers=headers)
            except httpx.HTTPError as exc:
                raise offline_error(exc) from exc
            office_ms = signing.verify_answer(
                root,
                response.headers.get(signing.H_ANSWER, ""),
                headers[signing.H_SIGNATURE],
                method,
                target,
                response.status_code,
                response.headers.get("Retry-After", ""),
                response.content,
            )
            if office_ms is None:
                return self._unsigned(response)
            self._office_clock = (office_ms, time.monotonic())
            if response.status_code == 409 and attempt == 0:
                code, _zh, _en = _problem_text(response)
                if code == "stale_request":
                    # The office did not take that stamp and says (signed) which it would: go by
                    # that and its time, not by the stamp it refused (too far ahead, perhaps).
                    try:
                        self._stamp_floor = max(self._stamp_floor, int(response.json().get("next_stamp", 0)))
                    except (ValueError, TypeError, AttributeError):
                        pass
                    self._stamp = 0
                    continue
            break
        return self._signed(response)

    def _unsigned(self, response: httpx.Response) -> httpx.Response:
        """An answer without the office's signature for this request. What an overloaded or
        fallen-over office (or a proxy in front of it) says is only "not now": retried as
        before, in sync's own words (never the answer's), with nothing done. Anything else is
        refused: a "304", a "hwm", a "revoked" from someone in the middle is not acted on."""
        if response.status_code == 429 or response.status_code >= 500:
            if response.status_code in (429, 503):
                raise SyncError(
                    "街道服务器正忙，稍后自动重试。",
                    "the office is busy; retrying later.",
                    code="busy",
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                )
            raise SyncError(
                f"街道服务器暂时出错（{response.status_code}），记录已保存在本机，稍后自动重试。",
                f"the office (or a proxy on the way) failed ({response.status_code}); records are kept here and retried later.",
                code=f"http_{response.status_code}",
            )
        raise unsigned_answer(response)

    def _signed(self, response: httpx.Response) -> httpx.Response:
        """The office's own answer (its signature checked): a problem becomes its words."""
        if response.status_code in (429, 503):
            raise SyncError(
                "街道服务器正忙，稍后自动重试。",
                "the office is busy; retrying later.",
                code="busy",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if response.status_code == 413:
            return response
        if response.status_code >= 400 and response.status_code != 304:
            code, zh, en = _problem_text(response)
            permanent = response.status_code in (401, 403)
            if response.status_code >= 500 and not (zh and en):
                zh = f"街道服务器暂时出错（{response.status_code}），记录已保存在本机，稍后自动重试。"
                en = f"the office failed ({response.status_code}); records are kept here and retried later."
            raise SyncError(
                zh or f"街道服务器拒绝了请求（{response.status_code}）",
                en or f"the office refused the request ({response.status_code})",
                code=code or f"http_{response.status_code}",
                retryable=not permanent,
            )
        return response

    # -- the steps -----------------------------------------------------------------------------
    def handshake(self) -> dict[str, Any]:
        versions = self.store.gate_state().versions
        # The list versions in use travel with every handshake, for `kakou office status`.
        params = {"wall": f"{time.time():.3f}", "lists": ",".join(f"{n}:{int(v)}" for n, v in sorted(versions.items()))}
        tip = self._tip()
        if tip:
            # The newest record here: if the office holds another record at that seq, this
            # kiosk lost commits (restored file) even when the seq counts happen to agree.
            params["tip"] = f"{tip[0]}:{tip[1]}"
        response = self._send("GET", "/v1/sync-state", params=params)
        state = _answer(response, SyncState)
        self.clock_skew = time.time() - float(state["server_time"])
        return state

    def _tip(self) -> tuple[int, str] | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT o.seq, o.record_id FROM outbox o, kiosk_state s WHERE s.id = 1"
                    " AND o.epoch = s.epoch ORDER BY o.seq DESC LIMIT 1"
                )
            ).first()
            conn.rollback()
        return (int(row[0]), row[1]) if row else None

    def _local(self) -> tuple[int, int, int]:
        with self.store.engine.connect() as conn:
            row = conn.execute(text("SELECT epoch, last_seq, acked_seq FROM kiosk_state WHERE id = 1")).one()
            conn.rollback()
        return int(row[0]), int(row[1]), int(row[2])

    def _set_acked(self, epoch: int, hwm: int) -> None:
        # One local transaction; it only ever concerns the current epoch, and never passes
        # last_seq (the office cannot confirm what this kiosk has not written).
        with self.store.writer.begin() as conn:
            conn.execute(
                text("UPDATE kiosk_state SET acked_seq = min(:h, last_seq) WHERE id = 1 AND epoch = :e"),
                {"h": hwm, "e": epoch},
            )

    def new_epoch(self, server_max_epoch: int) -> int:
        """Move every record the office has not confirmed into a fresh epoch, renumbered 1..n.

        Records the office already holds (same id and hash) stay where they are; the others
        would collide with seqs the office holds from before this kiosk lost its commits."""
        epoch, _last, acked = self._local()
        with self.store.engine.connect() as conn:
            unconfirmed = conn.execute(
                text("SELECT record_id, payload_hash FROM outbox WHERE epoch = :e AND seq > :a"),
                {"e": epoch, "a": acked},
            ).all()
            conn.rollback()
        known: dict[str, str] = {}
        ids = [r[0] for r in unconfirmed]
        for i in range(0, len(ids), 10000):
            body = json.dumps({"record_ids": ids[i : i + 10000]}).encode()
            known.update(_answer(self._send("POST", "/v1/known", body=body, gzip_body=True), KnownResult)["known"])
        new = max(server_max_epoch, epoch) + 1
        with self.store.writer.begin() as conn:
            current = conn.execute(text("SELECT epoch, acked_seq FROM kiosk_state WHERE id = 1")).one()
            if int(current[0]) != epoch:
                return int(current[0])  # someone else moved it meanwhile
            rows = conn.execute(
                text("SELECT record_id, payload_hash FROM outbox WHERE epoch = :e AND seq > :a ORDER BY seq"),
                {"e": epoch, "a": acked},
            ).all()
            moving = [rid for rid, h in rows if known.get(rid) != h]
            for n, rid in enumerate(moving, start=1):
                conn.execute(
                    text("UPDATE outbox SET epoch = :e, seq = :s WHERE record_id = :r"), {"e": new, "s": n, "r": rid}
                )
            conn.execute(
                text("UPDATE kiosk_state SET epoch = :e, last_seq = :n, acked_seq = 0 WHERE id = 1"),
                {"e": new, "n": len(moving)},
            )
        return new

    def _batch(self, epoch: int, after: int, limit: int) -> list[dict[str, Any]]:
        """The records of the next batch that are fit to send (see `_read_batch`)."""
        return self._read_batch(epoch, after, limit)[0]

    def _read_batch(self, epoch: int, after: int, limit: int) -> tuple[list[dict[str, Any]], int, list[int]]:
        """Up to `limit` outbox records after seq `after`: (those fit to send, the last seq read,
        the seqs held back). Each payload is checked against its hash just before it goes: a
        record that no longer matches (a damaged SD card) is not sent as if it were fine; it is
        kept as a damaged lost record (outbox_lost) and the office is told instead. The payload is
        read as bytes: damaged text may no longer be UTF-8."""
        from models.outbox import hash_matches, note_lost

        with self.store.engine.connect() as conn:
            rows = (
                conn.execute(
                    text(
                        "SELECT record_id, seq, kind, CAST(payload AS BLOB) AS payload, payload_hash, wall_time, hlc,"
                        " boot_id, mono_ns, clock_flag, versions"
                        " FROM outbox WHERE epoch = :e AND seq > :a ORDER BY seq LIMIT :n"
                    ),
                    {"e": epoch, "a": after, "n": limit},
                )
                .mappings()
                .all()
            )
            conn.rollback()
        records, damaged = [], []
        for r in rows:
            raw = r["payload"]
            payload = raw.decode("utf-8") if hash_matches(raw, r["payload_hash"]) else None
            if payload is None:
                damaged.append(int(r["seq"]))
                continue
            records.append(dict(r, payload=payload))
        if damaged:
            now = time.time()
            with self.store.writer.begin() as conn:
                for seq in damaged:
                    note_lost(conn, epoch, seq, seq, "damaged", now)
            _log.error("outbox records no longer match their hash, held back: epoch %s seqs %s", epoch, damaged)
        return records, (int(rows[-1]["seq"]) if rows else after), damaged

    def _claims(self) -> list[LostRange]:
        from models.outbox import lost_ranges

        with self.store.engine.connect() as conn:
            ranges = lost_ranges(conn, unreported=True)
            conn.rollback()
        claims, span = [], 0
        for r in ranges[:MAX_LOST_CLAIMS]:  # what one batch may carry (sync/schemas.py); the rest go next
            span += r.count
            if span > MAX_LOST_SPAN:
                break
            claims.append(r)
        return claims

    def _claims_taken(self, claims: list[LostRange], epoch: int, hwm: int) -> None:
        """The office's signed answer took the batch's claims: those of an earlier epoch are
        told; one of this epoch once the office's mark has walked past it (until then it goes
        with every batch, so the batch that fills the seqs below it also steps over it)."""
        from models.outbox import note_reported

        done = [c for c in claims if c.epoch != epoch or hwm >= c.last]
        if done:
            with self.store.writer.begin() as conn:
                note_reported(conn, done, time.time())

    def push(self, result: SyncResult, server: dict[str, Any]) -> None:
        from models.clock import now as clock_now

        epochs = {int(e): int(h) for e, h in server["epochs"].items()}
        epoch, last, acked = self._local()
        if epochs.get(epoch, 0) > last or server["max_epoch"] > epoch or server.get("tip_ok") is False:
            # The office holds seqs (or a newer epoch) this kiosk no longer has: never reuse them.
            self.new_epoch(int(server["max_epoch"]))
            result.epoch_bumped = True
            epoch, last, acked = self._local()
            epochs.setdefault(epoch, 0)
        server_hwm = epochs.get(epoch, 0)
        if server_hwm != acked:
            # Resume from what the office holds: below our mark if it was restored from a
            # backup, above it if our own ack was lost to a power cut.
            self._set_acked(epoch, server_hwm)
        cursor = min(server_hwm, last)
        total = max(0, last - cursor)
        sent = 0
        limit = self.batch_records
        pending, _oldest = self.store.pending()
        claims = self._claims()
        for _round in range(1_000_000):
            records, read_to, damaged = self._read_batch(epoch, cursor, limit)
            result.damaged += len(damaged)
            if damaged:
                claims = self._claims()
            if not records and not claims:
                break
            reading = clock_now()
            doc = {
                "batch_id": uuid.uuid4().hex,
                "epoch": epoch,
                "anchor": {"boot_id": reading.boot_id, "mono_ns": reading.mono_ns, "wall": reading.wall},
                # Counted once per round (a count over a 100k outbox is not free); records in
                # seq order, so the batch's first is the oldest still waiting.
                "backlog": max(0, pending - sent - len(records)),
                "oldest_pending": records[0]["wall_time"] if records else None,
                "list_versions": dict(self.store.gate_state().versions),
                "records": records,
                "lost": [{"epoch": c.epoch, "first": c.first, "last": c.last, "reason": c.reason} for c in claims],
            }
            body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            response = self._send("POST", "/v1/push", body=body, gzip_body=True, epoch=epoch)
            if response.status_code == 413:
                if limit == 1:
                    raise SyncError(
                        "有一条记录太大，街道服务器拒收。请联系管理员。",
                        "one record is too large for the office. Call your supervisor.",
                        code="too_large",
                        retryable=False,
                    )
                limit = max(1, limit // 2)
                continue
            answer = _answer(response, PushResult)
            statuses = answer["statuses"]
            result.pushed += statuses.count("stored")
            result.duplicates += statuses.count("duplicate")
            result.conflicts += statuses.count("conflict")
            if "seq_taken" in statuses:
                self.new_epoch(int(answer["epoch"]))
                result.epoch_bumped = True
                return self.push(result, self.handshake())
            self._set_acked(epoch, int(answer["hwm"]))
            if claims:
                self._claims_taken(claims, epoch, int(answer["hwm"]))
                result.lost_reported += int(answer.get("lost", 0))
                claims = self._claims()
            # The push itself may change lists (a pass this kiosk revoked joins the office's
            # list): the pull after it goes by the versions after this batch, not the handshake's.
            server["list_versions"] = dict(answer["list_versions"])
            cursor = read_to
            sent += len(records) + len(damaged)
            if self.progress:
                self.progress(min(sent, total), total)
            if len(records) + len(damaged) < limit:
                break
        # Records written while we pushed are sent on the next round (timer / new records).

    def pull(self, result: SyncResult, server: dict[str, Any]) -> None:
        """Fetch the lists whose version changed. A list's age is the age of the office's last
        signed word that this kiosk holds its newest version: a signed document applied, a signed
        304, or the signed handshake (or push answer) naming the version held. Nothing else -
        an answered round, an unsigned 304 - makes a list look fresh."""
        root = self._office_root()
        with self.store.engine.connect() as conn:
            held = _local_versions(conn)
            conn.rollback()
        docs = []
        current = []  # lists the office said (signed) are at the version held here
        for name in LIST_NAMES:
            if int(server["list_versions"].get(name, 0)) == held.get(name, 0) and name in held:
                current.append(name)
                continue
            response = self._send("GET", f"/v1/lists/{name}", params={"since": held.get(name, 0)})
            if response.status_code == 304:
                if name in held:
                    current.append(name)
                continue
            doc = _answer(response)  # its shape is vouched for by the office's signature
            _check_document(doc, root)
            docs.append(doc)
        with self.store.writer.begin() as conn:
            if docs:
                result.lists_updated = _apply_documents(conn, self.store, docs)
            for name in current:
                conn.execute(
                    text("UPDATE list_version SET updated_at = :t WHERE name = :n"), {"t": time.time(), "n": name}
                )
        self.store.invalidate()
        if docs:
            self.handshake()  # tell the office which versions are now in use

    def run_once(self) -> SyncResult:
        """One full round: handshake, push, pull. Thread-safe; never raises for sync trouble."""
        with self._lock:
            result = SyncResult()
            if not is_enrolled(self.store):
                result.error = not_enrolled_error()
            else:
                try:
                    server = self.handshake()
                    self.push(result, server)
                    self.pull(result, server)
                    self.last_success = time.time()
                    self.offline_since = None
                except SyncError as exc:
                    result.error = exc
                    if exc.code == "offline" and self.offline_since is None:
                        self.offline_since = time.time()
                except KakouError as exc:
                    # The kiosk's own file (busy past its timeout, disk full): the round is
                    # retried later; the background loop must not die of it.
                    result.error = SyncError(
                        f"上报暂停：{exc.zh}；稍后自动重试，记录都保存在本机。",
                        f"sync paused: {exc.en}; retrying later, records are kept here.",
                        code=f"local_{exc.code}",
                    )
                except Exception as exc:
                    _log.exception("sync round failed")
                    result.error = SyncError(
                        "上报出错，稍后自动重试；记录都保存在本机。",
                        f"sync failed ({type(exc).__name__}); retrying later, records are kept here.",
                        code="internal",
                    )
            try:
                result.remaining = self.store.pending()[0]
            except KakouError as exc:
                result.remaining = -1  # unknown just now; the next round counts again
                result.error = result.error or SyncError(
                    f"上报暂停：{exc.zh}；稍后自动重试。",
                    f"sync paused: {exc.en}; retrying later.",
                    code=f"local_{exc.code}",
                )
            result.clock_skew = self.clock_skew
            self.last_result = result
            return result

    def status(self) -> SyncStatus:
        """The sync state now: what the last round left, and the kiosk's own counts read now
        (not under the round's lock, so it never waits for a round stuck on the network)."""
        return read_status(self.store, self)


# -- the sync state -------------------------------------------------------------------------------

# What `SyncStatus.state` can be (its words are the desk's business: tui/sync_words.py).
NOT_ENROLLED = "not_enrolled"  # records stay on this kiosk; no rounds run
NOT_SYNCED = "not_synced"  # enrolled, no round yet since this process started
SYNCED = "synced"  # the last round went through and nothing is waiting
WAITING = "waiting"  # the last round went through; records made since are waiting
OFFLINE = "offline"  # the office could not be reached (since `offline_since`)
TROUBLE = "trouble"  # reached, but the round failed (`trouble` says how); retried with backoff
REFUSED = "refused"  # a failure that needs a person (key revoked, list refused...)
SYNC_STATES = (NOT_ENROLLED, NOT_SYNCED, SYNCED, WAITING, OFFLINE, TROUBLE, REFUSED)
# `trouble` of a round that raised out of the service itself (a bug, logged with its traceback).
CRASHED = "crashed"


@dataclass(frozen=True)
class SyncStatus:
    """The kiosk's side of the office link at one moment: one value for the status bar and
    `kakou sync`, made after each round (and read again when records are saved).

    Times are wall-clock seconds; ages are for the reader to take against its own now."""

    state: str
    waiting: int = 0  # records the office has not confirmed; -1: could not be counted just now
    oldest: float | None = None  # the oldest waiting record's time (None: none, or its clock was unset)
    # The last failed round's error code: "offline", "busy", "bad_answer", "tls_untrusted", "local_busy"...
    trouble: str = ""
    # The last failed round's error, whose own words a person reads for REFUSED (from the office or sync).
    problem: SyncError | None = field(default=None, compare=False)
    offline_since: float | None = None
    last_success: float | None = None
    lists_updated_at: float | None = None  # when the office was last heard from about its lists
    lists_stale: bool = False  # older than the policy's list_stale_hours
    clock_skew: float | None = None  # kiosk minus office at the last handshake, seconds
    office_time: Any = None  # models.clock_health.OfficeTime from the last good round (the desk's clock check)
    lists_changed: tuple[str, ...] = ()  # lists the round that made this status brought
    # Records this kiosk committed and cannot send (missing from its file, or damaged): models/hwm.py.
    lost: tuple[LostRange, ...] = ()
    rounds: int = 0  # rounds run by the loop that made this status
    at: float = 0.0  # when this status was read

    @property
    def clock_wrong(self) -> bool:
        return self.clock_skew is not None and abs(self.clock_skew) > CLOCK_WARN_S


def read_status(
    store: KioskStore,
    service: SyncService | None = None,
    *,
    office_time: Any = None,
    rounds: int = 0,
    lists_changed: Iterable[str] = (),
) -> SyncStatus:
    """The status from the store's counts now and what `service`'s last round left (None: no
    service yet). Reads the store on the calling thread."""
    now = time.time()
    result = getattr(service, "last_result", None)
    error = result.error if result is not None else None
    try:
        waiting, oldest = store.pending()
    except KakouError:
        waiting, oldest = -1, None  # busy just now: the next status counts again
    try:
        lost = tuple(store.lost_ranges())
    except KakouError:
        lost = ()
    lists_at = store.gate_state().lists_updated_at
    stale = lists_at is not None and store.trusted_now() - lists_at > store.policy().list_stale_hours * 3600
    offline_since = getattr(service, "offline_since", None)
    if not is_enrolled(store) or (error is not None and error.code == "not_enrolled"):
        state = NOT_ENROLLED
    elif result is None:
        state = NOT_SYNCED
    elif error is None:
        state = WAITING if waiting else SYNCED
    elif not error.retryable:
        state = REFUSED
    elif offline_since is not None:
        state = OFFLINE
    else:
        state = TROUBLE
    return SyncStatus(
        state=state,
        waiting=waiting,
        oldest=oldest,
        trouble=error.code if error is not None else "",
        problem=error,
        offline_since=offline_since,
        last_success=getattr(service, "last_success", None),
        lists_updated_at=lists_at,
        lists_stale=stale,
        clock_skew=getattr(service, "clock_skew", None),
        office_time=office_time,
        lists_changed=tuple(lists_changed),
        lost=lost,
        rounds=rounds,
        at=now,
    )


# -- the loop -------------------------------------------------------------------------------------------


class SyncLoop:
    """The one sync loop: the desk's sync thread, `kakou sync` and the reliability test run it.

    Rounds run only while the kiosk is enrolled (the service is made at the first one):
    - on the timer, every `interval` seconds;
    - `gather` seconds after `wake()` (new records: the wait lets a burst of scans commit and
      go in one round), and `gather` seconds after a good round that left records waiting;
    - after a failed round with full-jitter backoff, at most `interval * 5` apart; a failure
      that needs a person is tried again on the timer.
    The first round comes `first_delay` seconds after `run()` starts (the desk: not during its
    start-up). After every round, on a wake while not enrolled, and once at the start,
    `on_status(SyncStatus)` is called on the loop's thread.

    The loop uses the store from its own thread (its own connections; SQLite's locking and
    BEGIN IMMEDIATE with a busy timeout let it take turns with the desk's database thread).
    """

    def __init__(
        self,
        store: KioskStore,
        *,
        make_service: Callable[[Any], Any] | None = None,
        interval: float = 60.0,
        gather: float = 0.0,
        first_delay: float = 0.0,
        on_status: Callable[[SyncStatus], Any] | None = None,
        backoff: Backoff | None = None,
    ):
        self.store = store
        self._make_service = make_service or SyncService
        self.service: Any = None
        self.interval = interval
        self.gather = gather
        self.first_delay = first_delay
        self.on_status = on_status
        self.backoff = backoff or Backoff()
        self.rounds = 0
        self.office_time: Any = None  # models.clock_health.OfficeTime from the last good round
        self.status: SyncStatus | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._urgent = threading.Event()
        self._thread: threading.Thread | None = None

    # -- control (any thread) -----------------------------------------------------------------
    def wake(self, urgent: bool = False) -> None:
        """New records: a round soon (after `gather`; `urgent`, an alert-worthy record: at once)."""
        if urgent:
            self._urgent.set()
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._urgent.set()
        self._wake.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def start(self, name: str = "kakou-sync") -> threading.Thread:
        """`run()` forever on a daemon thread of its own."""
        self._thread = threading.Thread(target=self._run_logged, name=name, daemon=True)
        self._thread.start()
        return self._thread

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run_logged(self) -> None:
        try:
            self.run()
        except Exception:  # run() catches round trouble; this is a bug, and must be seen
            _log.exception("the sync loop stopped")

    # -- rounds ----------------------------------------------------------------------------------
    def round(self) -> SyncResult:
        """One round now (none while not enrolled: a result saying so), then the new status."""
        from models import clock
        from models.clock_health import OfficeTime

        try:
            if not is_enrolled(self.store):
                result = SyncResult(error=not_enrolled_error())
            else:
                if self.service is None:
                    self.service = self._make_service(self.store)
                before = clock.now()  # the handshake, the first thing in a round, is about now
                result = self.service.run_once()
                self.rounds += 1
                skew = getattr(self.service, "clock_skew", None)
                if result.ok and isinstance(skew, (int, float)):
                    # Carried on the monotonic clock: a wall-clock jump after this round is
                    # still measured against the office (a failed round may hold an old skew).
                    self.office_time = OfficeTime.from_skew(float(skew), before)
        except Exception as exc:  # run_once should not raise; the loop must not die of it
            _log.exception("sync round failed outside the service")
            result = SyncResult(
                error=SyncError(
                    "上报出错，已记入日志，稍后重试。",
                    f"sync failed ({type(exc).__name__}, logged); retrying later.",
                    code=CRASHED,
                )
            )
        if result.ok:
            self.backoff.reset()
        self.publish(result.lists_updated)
        return result

    def publish(self, lists_changed: Iterable[str] = ()) -> SyncStatus | None:
        """Read the status now and hand it to `on_status`."""
        try:
            status = read_status(
                self.store, self.service, office_time=self.office_time, rounds=self.rounds, lists_changed=lists_changed
            )
        except Exception:  # a status that cannot be read must not stop the rounds
            _log.exception("sync status could not be read")
            return None
        self.status = status
        if self.on_status is not None:
            self.on_status(status)
        return status

    def next_delay(self, result: SyncResult) -> float:
        if result.ok:
            return self.gather if result.remaining else self.interval
        assert result.error is not None
        if not result.error.retryable:
            return self.interval
        return min(self.interval * 5, self.backoff.next_delay(result.error.retry_after))

    def run(
        self,
        *,
        until_sent: bool = False,
        once: bool = False,
        deadline: float | None = None,
        on_retry: Callable[[SyncResult, float], Any] | None = None,
    ) -> SyncResult | None:
        """Rounds until `stop()`; with `until_sent`, until nothing is left to send or a failure
        needs a person; with `once`, one round. `deadline` (time.monotonic()) ends the waiting
        between rounds. `on_retry(result, delay)` is told before waiting after a failed round.
        Returns the last round's result (None if stopped before the first)."""
        result: SyncResult | None = None
        delay = self.first_delay
        self.publish()
        while not self._stop.is_set():
            if deadline is not None:
                delay = min(delay, max(0.0, deadline - time.monotonic()))
            if delay > 0:
                woke = self._wake.wait(delay)
                if self._stop.is_set():
                    break
                # Woken by new records: let the rest of a burst of scans commit first, unless
                # one of them is alert-worthy (or comes during the wait).
                if woke and self.gather:
                    self._urgent.wait(self.gather)
                    if self._stop.is_set():
                        break
                self._wake.clear()
                self._urgent.clear()
            result = self.round()
            if once:
                break
            if until_sent and _nothing_to_retry(result):
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            delay = self.next_delay(result)
            if on_retry is not None and result.error is not None:
                on_retry(result, delay)
        return result


def _nothing_to_retry(result: SyncResult) -> bool:
    """All sent, or a failure only a person can fix: a loop that runs until sent ends here."""
    if result.error is None:
        return result.remaining == 0
    return not result.error.retryable
