"""Signatures that cross the network, each with its own context string.

A pass signature (models.passtoken, b"kakou/pass/v1\\x00") can never be replayed as a sync
request or a list, and the other way round, because every message is prefixed by the context
of what it is before it is signed.

- Sync requests: the kiosk's Ed25519 key signs ``kiosk_id|epoch|request_id|sha256(body)``.
  The request id is ``STAMP.NONCE``: STAMP strictly increases per kiosk and the office takes
  each stamp once (sync/office/replay.py), so a captured request replayed later changes
  nothing. No clock window on the kiosk's own clock: a kiosk whose clock reads 1970 must
  still be able to push. Its stamp follows its estimate of the office's time (learnt from the
  office's signed answers), and an office that refuses a stamp says, signed, which one it
  would take.
- Answers: the office's root key signs every answer to a signed request (200, 304 and every
  problem alike) over the request it answers (that request's signature, which covers the
  kiosk, epoch, request id and body hash; its method and target), the status, the office's
  time, Retry-After and sha256(answer body): header ``X-Kakou-Answer: <office ms>.<signature>``.
  A man in the middle can stop the kiosk's answers, never change or invent one.
- Lists: the office's root key signs the canonical JSON of the list document.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nacl.signing import SigningKey

SYNC_CONTEXT = b"kakou/sync/v1\x00"
LIST_CONTEXT = b"kakou/list/v1\x00"
ANSWER_CONTEXT = b"kakou/answer/v1\x00"

# Request headers carrying the kiosk's signature.
H_KIOSK = "X-Kakou-Kiosk"
H_EPOCH = "X-Kakou-Epoch"
H_REQUEST = "X-Kakou-Request"
H_SIGNATURE = "X-Kakou-Signature"
# Answer header carrying the office's signature (see `answer_message`).
H_ANSWER = "X-Kakou-Answer"

# A stamp is a non-negative integer below 2**63 (the office keeps it in a BIGINT).
MAX_STAMP = 2**63 - 1


def canonical_json(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def request_message(kiosk_id: str, epoch: int, request_id: str, body_hash: str) -> bytes:
    return SYNC_CONTEXT + f"{kiosk_id}|{epoch}|{request_id}|{body_hash}".encode()


def get_body(method: str, path_and_query: str) -> bytes:
    """What a bodiless request signs in place of a body: its method and target."""
    return f"{method.upper()} {path_and_query}".encode()


def sign_request(signing_key: SigningKey, kiosk_id: str, epoch: int, request_id: str, body: bytes) -> dict[str, str]:
    message = request_message(kiosk_id, epoch, request_id, sha256_hex(body))
    signature = signing_key.sign(message).signature
    return {H_KIOSK: kiosk_id, H_EPOCH: str(epoch), H_REQUEST: request_id, H_SIGNATURE: signature.hex()}


def verify_request(
    public_key: bytes, kiosk_id: str, epoch: int, request_id: str, body: bytes, signature_hex: str
) -> bool:
    from nacl.exceptions import BadSignatureError
    from nacl.signing import VerifyKey

    try:
        signature = bytes.fromhex(signature_hex)
        VerifyKey(public_key).verify(request_message(kiosk_id, epoch, request_id, sha256_hex(body)), signature)
    except (ValueError, BadSignatureError, TypeError):
        return False
    return True


def request_id_for(stamp: int) -> str:
    """A fresh request id carrying `stamp` (the office takes each kiosk's stamps once, rising)."""
    import uuid

    return f"{int(stamp)}.{uuid.uuid4().hex}"


def stamp_of(request_id: str) -> int | None:
    """The stamp a request id carries; None for an id without one (a kiosk older than stamps),
    -1 for a malformed stamp."""
    head, dot, _nonce = request_id.partition(".")
    if not dot:
        return None
    if not head.isdigit() or not head.isascii() or len(head) > 19 or int(head) > MAX_STAMP:
        return -1
    return int(head)


def answer_message(
    request_signature: str, method: str, target: str, status: int, office_ms: int, retry_after: str, body: bytes
) -> bytes:
    return (
        ANSWER_CONTEXT
        + (
            f"{request_signature}|{method.upper()}|{target}|{status}|{office_ms}|{retry_after}|{sha256_hex(body)}"
        ).encode()
    )


def sign_answer(
    signing_key: SigningKey,
    request_signature: str,
    method: str,
    target: str,
    status: int,
    office_ms: int,
    retry_after: str,
    body: bytes,
) -> str:
    """The X-Kakou-Answer header's value: the office's time (ms) and its signature."""
    message = answer_message(request_signature, method, target, status, office_ms, retry_after, body)
    signature: bytes = signing_key.sign(message).signature
    return f"{office_ms}.{signature.hex()}"


def verify_answer(
    public_key: bytes,
    header: str,
    request_signature: str,
    method: str,
    target: str,
    status: int,
    retry_after: str,
    body: bytes,
) -> int | None:
    """The office's time (ms) the answer carries when `header` is the office's signature of
    this answer to this request; None when it is missing, malformed or does not match."""
    from nacl.exceptions import BadSignatureError
    from nacl.signing import VerifyKey

    ms_text, dot, signature_hex = header.partition(".")
    if not dot or not ms_text.isdigit() or not ms_text.isascii() or len(ms_text) > 19:
        return None
    office_ms = int(ms_text)
    message = answer_message(request_signature, method, target, status, office_ms, retry_after, body)
    try:
        VerifyKey(public_key).verify(message, bytes.fromhex(signature_hex))
    except (ValueError, BadSignatureError, TypeError):
        return None
    return office_ms


def sign_list(signing_key: SigningKey, doc: Mapping[str, Any]) -> str:
    """The hex signature of a list document (everything but its `signature` field)."""
    unsigned = {k: v for k, v in doc.items() if k != "signature"}
    signature: bytes = signing_key.sign(LIST_CONTEXT + canonical_json(unsigned)).signature
    return signature.hex()


def verify_list(public_key: bytes, doc: Mapping[str, Any]) -> bool:
    from nacl.exceptions import BadSignatureError
    from nacl.signing import VerifyKey

    unsigned = {k: v for k, v in doc.items() if k != "signature"}
    try:
        VerifyKey(public_key).verify(
            LIST_CONTEXT + canonical_json(unsigned), bytes.fromhex(str(doc.get("signature", "")))
        )
    except (ValueError, BadSignatureError, TypeError):
        return False
    return True


def items_hash(items: Sequence[Mapping[str, Any]]) -> str:
    """The hash of a list document's items, checked by the kiosk before it applies them."""
    return sha256_hex(canonical_json({"items": list(items)}))
