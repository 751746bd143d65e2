"""Signatures that cross the network, each with its own context string.

A pass signature (models.passtoken, b"kakou/pass/v1\\x00") can never be replayed as a sync
request or a list, and the other way round, because every message is prefixed by the context
of what it is before it is signed.

- Sync requests: the kiosk's Ed25519 key signs ``kiosk_id|epoch|request_id|sha256(body)``.
  No clock window: a replayed request is harmless (inserts are idempotent), and a kiosk whose
  clock reads 1970 must still be able to push.
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

# Request headers carrying the kiosk's signature.
H_KIOSK = "X-Kakou-Kiosk"
H_EPOCH = "X-Kakou-Epoch"
H_REQUEST = "X-Kakou-Request"
H_SIGNATURE = "X-Kakou-Signature"


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
