"""Pass tokens: a fixed binary record signed with Ed25519, written as digits only.

A pass is printed as a QR code and read back by a USB scanner that *types* what it
reads into the kiosk, so the token has to survive being typed by a keyboard wedge.

Binary layout v1 (big-endian)::

    version u8 | kid u8 | pass_id 16 B | kind u8 | scope u16 |
    valid_from u32 | valid_to u32 | hour_from u8 | hour_to u8 |
    unit (len u8 + utf8) | name (len u8 + utf8) | plate (len u8 + utf8) |
    signature 64 B                                   (nothing after it)

The signature is Ed25519 over ``PASS_CONTEXT + body``; the context string keeps a
pass signature from ever being valid for anything else the same key signs (trust
lists, revocation lists, sync messages each use their own context).

Decoding is strict on purpose (lenient decoders of signed health passes accepted
trailing garbage and alternate encodings): NFKC, digits only, prefix, bounded length,
exact field lengths, no trailing bytes, and the canonical re-encoding must equal the
input. Every failure is a :class:`TokenError` with a stable ``code`` and a bilingual
message for the duty screen.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import SupportsBytes

import nacl.exceptions
import nacl.signing

from models.kinds import PassKind
from models.reasons import REASONS

__all__ = [
    "FORMAT_VERSION",
    "MAX_BODY_BYTES",
    "MAX_TOKEN_DIGITS",
    "NAME_MAX_BYTES",
    "PASS_CONTEXT",
    "PLATE_MAX_BYTES",
    "SIGNATURE_BYTES",
    "TOKEN_PREFIX",
    "UNIT_MAX_BYTES",
    "DecodedPass",
    "PassBody",
    "PassKind",
    "TokenError",
    "bytes_to_digits",
    "decode_token",
    "digits_to_bytes",
    "kid_for",
    "new_pass_id",
    "sign_pass",
    "verify_pass",
]

TOKEN_PREFIX = "88"
PASS_CONTEXT = b"kakou/pass/v1\x00"
FORMAT_VERSION = 1
SIGNATURE_BYTES = 64
PASS_ID_BYTES = 16

UNIT_MAX_BYTES = 24
NAME_MAX_BYTES = 48
PLATE_MAX_BYTES = 16

# version, kid, pass_id, kind, scope, valid_from, valid_to, hour_from, hour_to
_FIXED = struct.Struct(">BB16sBHIIBB")
_STRING_FIELDS = (("unit", UNIT_MAX_BYTES), ("name", NAME_MAX_BYTES), ("plate", PLATE_MAX_BYTES))

MAX_BODY_BYTES = _FIXED.size + sum(1 + limit for _, limit in _STRING_FIELDS)

# --- digit encoding ---------------------------------------------------------------
#
# Why digits: a keyboard-wedge scanner types the token. Letters and punctuation are
# remapped by non-US layouts, flipped by Caps Lock, swallowed or converted by a Chinese
# IME; digits survive all of these (an IME's full-width digits are folded back by NFKC).
# Digits are also the densest QR mode (numeric: 10 bits per 3 digits), so the whole
# token is one numeric segment and a pass with a name stays around QR version 9 at ECC Q.
#
# 7 bytes (< 2**56 < 10**17) are written as exactly 17 digits; a final partial chunk of
# k bytes uses the fewest digits that can hold 256**k - 1. Fixed widths plus the
# "value < 256**k" check make the mapping a bijection, so there is exactly one digit
# string for each byte string.
_CHUNK_BYTES = 7
_CHUNK_DIGITS = 17
_PARTIAL_DIGITS = {1: 3, 2: 5, 3: 8, 4: 10, 5: 13, 6: 15}
_PARTIAL_BYTES = {digits: k for k, digits in _PARTIAL_DIGITS.items()}
_ASCII_DIGITS = re.compile(r"[0-9]*")


def _digit_count(n_bytes: int) -> int:
    full, rest = divmod(n_bytes, _CHUNK_BYTES)
    return full * _CHUNK_DIGITS + (_PARTIAL_DIGITS[rest] if rest else 0)


MAX_TOKEN_DIGITS = len(TOKEN_PREFIX) + _digit_count(MAX_BODY_BYTES + SIGNATURE_BYTES)


_KIND_VALUES = frozenset(int(k) for k in PassKind)
# The scan-is-not-a-pass codes, whose words are those of the verdict's reasons (models/reasons.py).
_TOKEN_CODES = frozenset({"empty", "not_kakou", "damaged", "too_long", "version"})


class TokenError(ValueError):
    """A scanned text is not a well-formed kakou pass.

    ``code`` is stable (for logs, tests and verdict reasons: the verdict's reason of the same
    code); ``zh``/``en`` are its words. ``detail`` says which check failed, for logs only.
    """

    def __init__(self, code: str, detail: str = "") -> None:
        if code not in _TOKEN_CODES:
            raise KeyError(f"unknown TokenError code {code!r}")
        self.code = code
        words = REASONS[code].sentence
        self.zh, self.en = words.zh, words.en
        self.detail = detail
        super().__init__(f"{self.zh} / {self.en}")

    def __repr__(self) -> str:
        return f"TokenError({self.code!r}, {self.detail!r})"


def _check_text(field: str, value: object, limit: int) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{field} must be str")
    # Control characters would reach the terminal UI and the printer; a pass never needs them.
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValueError(f"{field} contains control characters")
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{field} is not encodable as UTF-8") from None
    if len(raw) > limit:
        raise ValueError(f"{field} is {len(raw)} bytes in UTF-8, at most {limit} allowed")
    return raw


def _check_int(field: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{field} must be int")
    if not low <= value <= high:
        raise ValueError(f"{field}={value} out of range {low}..{high}")
    return value


@dataclass(frozen=True)
class PassBody:
    """The signed content of a pass.

    Daily hours: ``hour_from``..``hour_to``, end exclusive; ``hour_to`` 0 and 24 both mean
    midnight, so 0..24 (or 0..0) is all day. A window whose start is after its end wraps
    past midnight (night shift 22..6). Verdict code should use :meth:`hour_allowed`.
    """

    kid: int
    pass_id: bytes
    kind: PassKind
    scope: int
    valid_from: int
    valid_to: int
    unit: str
    name: str = ""
    plate: str = ""
    hour_from: int = 0
    hour_to: int = 24
    version: int = FORMAT_VERSION

    @property
    def pass_id_hex(self) -> str:
        return bytes(self.pass_id).hex()

    @property
    def all_day(self) -> bool:
        return self.hour_from == 0 and self.hour_to in (0, 24)

    def hour_allowed(self, hour: int) -> bool:
        """Whether local hour ``hour`` (0..23) falls in the pass's daily window."""
        end = self.hour_to or 24
        if self.hour_from < end:
            return self.hour_from <= hour < end
        return hour >= self.hour_from or hour < end

    def to_bytes(self) -> bytes:
        """Canonical v1 body encoding; ValueError if any field is out of range."""
        if self.version != FORMAT_VERSION:
            raise ValueError(f"cannot encode pass version {self.version!r}")
        _check_int("kid", self.kid, 0, 0xFF)
        if not isinstance(self.pass_id, (bytes, bytearray)) or len(self.pass_id) != PASS_ID_BYTES:
            raise ValueError(f"pass_id must be {PASS_ID_BYTES} bytes")
        if isinstance(self.kind, bool) or not isinstance(self.kind, int) or self.kind not in _KIND_VALUES:
            raise ValueError(f"unknown pass kind {self.kind!r}")
        _check_int("scope", self.scope, 0, 0xFFFF)
        _check_int("valid_from", self.valid_from, 0, 0xFFFFFFFF)
        _check_int("valid_to", self.valid_to, 0, 0xFFFFFFFF)
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        _check_int("hour_from", self.hour_from, 0, 23)
        _check_int("hour_to", self.hour_to, 0, 24)
        if self.hour_from == (self.hour_to or 24):
            raise ValueError("empty daily window (hour_from == hour_to)")
        parts = [
            _FIXED.pack(
                self.version,
                self.kid,
                bytes(self.pass_id),
                int(self.kind),
                self.scope,
                self.valid_from,
                self.valid_to,
                self.hour_from,
                self.hour_to,
            )
        ]
        for field, limit in _STRING_FIELDS:
            raw = _check_text(field, getattr(self, field), limit)
            parts.append(bytes((len(raw),)) + raw)
        return b"".join(parts)


@dataclass(frozen=True)
class DecodedPass:
    """A structurally valid pass. Not yet trusted: call :func:`verify_pass`."""

    body: PassBody
    signature: bytes
    signed_message: bytes
    token: str


def new_pass_id() -> bytes:
    return os.urandom(PASS_ID_BYTES)


def _public_key_bytes(public_key: bytes | SupportsBytes) -> bytes:
    if isinstance(public_key, int):  # bytes(32) would silently be an all-zero key
        raise TypeError("public key must be bytes")
    raw = bytes(public_key)  # bytes, or a nacl VerifyKey
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return raw


def kid_for(public_key: bytes) -> int:
    """Issuer key id carried in the pass: first byte of sha256(public key).

    Only a hint to narrow the search; several keys may share a kid, so verifiers try
    every candidate.
    """
    return hashlib.sha256(_public_key_bytes(public_key)).digest()[0]


def bytes_to_digits(data: bytes) -> str:
    out = []
    for start in range(0, len(data), _CHUNK_BYTES):
        chunk = data[start : start + _CHUNK_BYTES]
        width = _CHUNK_DIGITS if len(chunk) == _CHUNK_BYTES else _PARTIAL_DIGITS[len(chunk)]
        out.append(str(int.from_bytes(chunk, "big")).zfill(width))
    return "".join(out)


def digits_to_bytes(digits: str) -> bytes:
    if not isinstance(digits, str) or not _ASCII_DIGITS.fullmatch(digits):
        raise TokenError("damaged", "not ASCII digits")
    full, rest = divmod(len(digits), _CHUNK_DIGITS)
    if rest and rest not in _PARTIAL_BYTES:
        raise TokenError("damaged", f"{rest} trailing digits is not a valid chunk")
    out = bytearray()
    for i in range(full):
        value = int(digits[i * _CHUNK_DIGITS : (i + 1) * _CHUNK_DIGITS])
        if value >= 1 << (8 * _CHUNK_BYTES):
            raise TokenError("damaged", f"chunk {i} overflows {_CHUNK_BYTES} bytes")
        out += value.to_bytes(_CHUNK_BYTES, "big")
    if rest:
        k = _PARTIAL_BYTES[rest]
        value = int(digits[full * _CHUNK_DIGITS :])
        if value >= 1 << (8 * k):
            raise TokenError("damaged", f"final chunk overflows {k} bytes")
        out += value.to_bytes(k, "big")
    return bytes(out)


def sign_pass(body: PassBody, signing_key: nacl.signing.SigningKey) -> str:
    """Sign ``body`` and return the digit token (prefix included).

    ``body.kid`` must be ``kid_for`` the signing key's public key: a pass naming the
    wrong issuer key would never verify on a kiosk that filters by kid.
    """
    public_key = bytes(signing_key.verify_key)
    if body.kid != kid_for(public_key):
        raise ValueError("body.kid must be kid_for(signing_key.verify_key)")
    body_bytes = body.to_bytes()
    signature = signing_key.sign(PASS_CONTEXT + body_bytes).signature
    return TOKEN_PREFIX + bytes_to_digits(body_bytes + signature)


class _Reader:
    """Bounds-checked cursor over the decoded bytes; running short means damaged."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise TokenError("damaged", "record shorter than its fields")
        piece = self.data[self.pos : self.pos + n]
        self.pos += n
        return piece

    def text(self, field: str, limit: int) -> str:
        length = self.take(1)[0]
        if length > limit:
            raise TokenError("damaged", f"{field} length {length} > {limit}")
        try:
            return self.take(length).decode("utf-8")
        except UnicodeDecodeError:
            raise TokenError("damaged", f"{field} is not UTF-8") from None


def decode_token(text: str) -> DecodedPass:
    """Parse a scanned token strictly. Raises :class:`TokenError` and nothing else."""
    if not isinstance(text, str):
        raise TokenError("not_kakou", "not text")
    # A Chinese IME types full-width digits; NFKC folds them to ASCII. Scanners end with
    # CR, LF or Tab, and people paste with spaces.
    cleaned = unicodedata.normalize("NFKC", text).strip()
    if not cleaned:
        raise TokenError("empty")
    if not _ASCII_DIGITS.fullmatch(cleaned):
        raise TokenError("not_kakou", "non-digit characters")
    if not cleaned.startswith(TOKEN_PREFIX):
        raise TokenError("not_kakou", "missing prefix")
    # Bound the work before converting anything.
    if len(cleaned) > MAX_TOKEN_DIGITS:
        raise TokenError("too_long", f"{len(cleaned)} digits > {MAX_TOKEN_DIGITS}")

    data = digits_to_bytes(cleaned[len(TOKEN_PREFIX) :])
    if not data:
        raise TokenError("damaged", "no content after prefix")
    if data[0] != FORMAT_VERSION:
        raise TokenError("version", f"version byte {data[0]}")

    reader = _Reader(data)
    version, kid, pass_id, kind_raw, scope, valid_from, valid_to, hour_from, hour_to = _FIXED.unpack(
        reader.take(_FIXED.size)
    )
    try:
        kind = PassKind(kind_raw)
    except ValueError:
        raise TokenError("damaged", f"unknown kind {kind_raw}") from None
    strings = {field: reader.text(field, limit) for field, limit in _STRING_FIELDS}
    body_end = reader.pos
    signature = reader.take(SIGNATURE_BYTES)
    if reader.pos != len(data):
        raise TokenError("damaged", f"{len(data) - reader.pos} bytes after the signature")

    body = PassBody(
        kid=kid,
        pass_id=pass_id,
        kind=kind,
        scope=scope,
        valid_from=valid_from,
        valid_to=valid_to,
        hour_from=hour_from,
        hour_to=hour_to,
        version=version,
        **strings,
    )
    body_bytes = data[:body_end]
    try:
        canonical_body = body.to_bytes()
    except ValueError as exc:  # field values the encoder would never produce
        raise TokenError("damaged", str(exc)) from None
    if canonical_body != body_bytes:
        raise TokenError("damaged", "body not in canonical form")
    canonical = TOKEN_PREFIX + bytes_to_digits(canonical_body + signature)
    if canonical != cleaned:
        raise TokenError("damaged", "digits not in canonical form")

    return DecodedPass(
        body=body,
        signature=signature,
        signed_message=PASS_CONTEXT + body_bytes,
        token=canonical,
    )


def verify_pass(decoded: DecodedPass, public_keys: Iterable[bytes]) -> bytes | None:
    """Return the public key whose signature verifies, or None.

    Every given key is tried (kids are one byte and can collide). A key only counts if
    the pass names it (``body.kid == kid_for(key)``); malformed keys are skipped.
    """
    for key in public_keys:
        try:
            raw = _public_key_bytes(key)
        except (TypeError, ValueError):
            continue
        if kid_for(raw) != decoded.body.kid:
            continue
        try:
            nacl.signing.VerifyKey(raw).verify(decoded.signed_message, decoded.signature)
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError):
            continue
        return raw
    return None
