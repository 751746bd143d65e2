"""What the office's routes share (`app.state.office`): the engine, the read engines (a replica's,
`reads`), the keys, the kiosks' keys in memory, and the upload slots."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from sync import signing
from sync.office import lists as office_lists
from sync.office import problems, replay
from sync.office import tables as t
from sync.office.db import open_office_engine
from sync.office.keys import OfficeKeys
from sync.office.problems import ApiProblem
from sync.office.replica import ReadEngines
from sync.office.settings import OfficeSettings
from sync.office.tries import AddressBuckets

KEY_CACHE_SIZE = 10_000
EPOCH_MAX = 2**31 - 1  # the office stores epochs as INTEGER (schemas.PushBatch.epoch has the same bound)
SIGNATURE_HEX = 128  # an Ed25519 signature, in hex


@dataclass(frozen=True)
class Claim:
    """A request's signature headers, checked for form before the body is read; `public_key`
    once the kiosk is known (`Office.claim`), `from_memory` when it came from the key cache."""

    kiosk_id: str
    epoch: int
    request_id: str
    signature: str
    public_key: bytes = b""
    from_memory: bool = False


def signature_headers(request: Request) -> Claim:
    """The four signature headers, well formed, or a 401 problem. The epoch is a decimal number
    the office can store (1 ... 2^31-1): a larger one is refused here, never reaches the database."""
    h = request.headers
    kiosk_id, epoch_text = h.get(signing.H_KIOSK, ""), h.get(signing.H_EPOCH, "")
    request_id, signature = h.get(signing.H_REQUEST, ""), h.get(signing.H_SIGNATURE, "")
    if not (kiosk_id and epoch_text and request_id and signature) or len(kiosk_id) > 64 or len(request_id) > 64:
        raise ApiProblem(problems.UNSIGNED)
    if not (
        epoch_text.isascii() and epoch_text.isdigit() and len(epoch_text) <= 10 and 1 <= int(epoch_text) <= EPOCH_MAX
    ):
        raise ApiProblem(problems.SIGNATURE_HEADERS)
    if len(signature) != SIGNATURE_HEX or not all(c in "0123456789abcdefABCDEF" for c in signature):
        raise ApiProblem(problems.SIGNATURE_HEADERS)
    return Claim(kiosk_id, int(epoch_text), request_id, signature)


@dataclass(frozen=True)
class SignedKiosk:
    """A request whose signature checked out: who sent it, in which epoch, with which key."""

    kiosk_id: str
    epoch: int
    public_key: bytes
    body: bytes  # the bytes the signature covers (a POST's body as sent, still gzipped)
    stamp: int | None = None  # the request id's stamp, taken once by the route's work (replay.claim)


class Office:
    def __init__(self, settings: OfficeSettings, engine: Engine | None = None):
        self.settings = settings
        self.office_dir = settings.office_dir
        self.keys = OfficeKeys(self.office_dir)
        self.owns_engine = engine is None
        self.engine = engine or open_office_engine(self.office_dir, settings.database_url, migrate=settings.migrate)
        if settings.migrate:
            with self.engine.begin() as conn:
                office_lists.ensure_lists(conn)
        # Reads that need not see the newest commit (reports, status, the console, exports):
        # on the replica when one is set and answers (`sync.office.replica`), else the primary.
        try:
            self.reads = ReadEngines(
                self.engine,
                settings.read_database_url,
                retry=settings.read_retry,
                retry_max=settings.read_retry_max,
                connect_timeout=settings.read_connect_timeout,
                max_lag=settings.read_max_lag,
            )
        except Exception:
            if self.owns_engine:
                self.engine.dispose()
            raise
        self.inflight = threading.BoundedSemaphore(settings.max_inflight)
        self.retry_after = settings.retry_after
        self.commit_delay = settings.test_commit_delay
        # kiosk id -> public key, for pushes (see `authenticate`); per worker process.
        self._keys: dict[str, bytes] = {}
        self._keys_lock = threading.Lock()
        # kiosk id -> upload slots it holds now (see `acquire`)
        self._kiosk_slots: dict[str, int] = {}
        self._slots_lock = threading.Lock()
        # failed tries of enrolment codes and admin tokens per client address (`tries`)
        self.tries = AddressBuckets(settings.tries_per_address, settings.tries_window)

    def close(self) -> None:
        self.reads.close()
        if self.owns_engine:
            self.engine.dispose()

    def kiosk_key(self, kiosk_id: str) -> bytes:
        """The kiosk's public key, read from the database (blocking: call it in a worker
        thread); ApiProblem when the kiosk is unknown or revoked. Remembered for pushes."""
        with self.engine.execution_options(immediate=False).connect() as conn:
            row = conn.execute(
                select(t.kiosk.c.public_key, t.kiosk.c.status).where(t.kiosk.c.kiosk_id == kiosk_id)
            ).first()
            conn.rollback()
        if row is None or not row.public_key:
            self.forget(kiosk_id)
            raise ApiProblem(problems.UNKNOWN_KIOSK)
        if row.status == "revoked":
            self.forget(kiosk_id)
            raise ApiProblem(problems.KIOSK_REVOKED)
        public = bytes.fromhex(row.public_key)
        with self._keys_lock:
            if len(self._keys) >= KEY_CACHE_SIZE:
                self._keys.clear()  # a few thousand kiosks at most: start over rather than track use
            self._keys[kiosk_id] = public
        return public

    def forget(self, kiosk_id: str) -> None:
        with self._keys_lock:
            self._keys.pop(kiosk_id, None)

    async def authenticate(self, request: Request, body: bytes, *, cached: bool = False) -> SignedKiosk:
        """Check the request's signature over `body` (what the kiosk signed).

        `cached`: the key may come from memory, no database read. Only for pushes, whose
        transaction checks that the kiosk's row still holds that key and is not revoked
        (`ingest`'s public_key), so a revocation by any process is refused at once. Every
        other route reads the kiosk's row (in a worker thread, never on the event loop)."""
        claim = await self.claim(request, cached=cached)
        return await self.verify(claim, body)

    async def claim(self, request: Request, *, cached: bool = False) -> Claim:
        """The signature headers, well formed, of a known kiosk that is not revoked: what can be
        checked before the body is read (a push reads its body only after this)."""
        claim = signature_headers(request)
        public = self._keys.get(claim.kiosk_id) if cached else None
        if public is None:
            public = await run_in_threadpool(self.kiosk_key, claim.kiosk_id)
            return replace(claim, public_key=public)
        return replace(claim, public_key=public, from_memory=True)

    async def verify(self, claim: Claim, body: bytes) -> SignedKiosk:
        """The claim's signature over `body`; a key from memory that does not verify is read again."""
        public = claim.public_key
        if not signing.verify_request(public, claim.kiosk_id, claim.epoch, claim.request_id, body, claim.signature):
            if not claim.from_memory:
                raise ApiProblem(problems.BAD_SIGNATURE)
            public = await run_in_threadpool(self.kiosk_key, claim.kiosk_id)  # decide on the database's key
            if not signing.verify_request(public, claim.kiosk_id, claim.epoch, claim.request_id, body, claim.signature):
                raise ApiProblem(problems.BAD_SIGNATURE)
        return SignedKiosk(claim.kiosk_id, claim.epoch, public, body, replay.stamp_of(claim.request_id))

    def acquire(self, kiosk_id: str) -> None:
        """Take an upload slot or answer 429 at once (never queue: see the app's docstring): one
        of the office's, and one of the few a single kiosk may hold, so one kiosk (a rogue one)
        cannot take them all."""
        with self._slots_lock:
            held = self._kiosk_slots.get(kiosk_id, 0)
            if held >= self.settings.max_inflight_per_kiosk:
                raise ApiProblem(problems.BUSY_KIOSK)
            if not self.inflight.acquire(blocking=False):
                raise ApiProblem(problems.BUSY)
            self._kiosk_slots[kiosk_id] = held + 1

    def release(self, kiosk_id: str) -> None:
        with self._slots_lock:
            held = self._kiosk_slots.pop(kiosk_id, 0) - 1
            if held > 0:
                self._kiosk_slots[kiosk_id] = held
            self.inflight.release()
