"""What the office's routes share (`app.state.office`): the engine, the keys, the kiosks' keys in
memory, and the upload slots."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from sync import signing
from sync.office import lists as office_lists
from sync.office import problems
from sync.office import tables as t
from sync.office.db import open_office_engine
from sync.office.keys import OfficeKeys
from sync.office.problems import ApiProblem
from sync.office.settings import OfficeSettings

KEY_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class SignedKiosk:
    """A request whose signature checked out: who sent it, in which epoch, with which key."""

    kiosk_id: str
    epoch: int
    public_key: bytes
    body: bytes  # the bytes the signature covers (a POST's body as sent, still gzipped)


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
        self.inflight = threading.BoundedSemaphore(settings.max_inflight)
        self.retry_after = settings.retry_after
        self.commit_delay = settings.test_commit_delay
        # kiosk id -> public key, for pushes (see `authenticate`); per worker process.
        self._keys: dict[str, bytes] = {}
        self._keys_lock = threading.Lock()

    def close(self) -> None:
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
        h = request.headers
        kiosk_id, epoch_text = h.get(signing.H_KIOSK, ""), h.get(signing.H_EPOCH, "")
        request_id, signature = h.get(signing.H_REQUEST, ""), h.get(signing.H_SIGNATURE, "")
        if not (kiosk_id and epoch_text and request_id and signature) or len(kiosk_id) > 64 or len(request_id) > 64:
            raise ApiProblem(problems.UNSIGNED)
        try:
            epoch = int(epoch_text)
        except ValueError:
            raise ApiProblem(problems.SIGNATURE_HEADERS) from None
        public = self._keys.get(kiosk_id) if cached else None
        if public is not None and not signing.verify_request(public, kiosk_id, epoch, request_id, body, signature):
            public = None  # not with the remembered key: decide on the database's
        if public is None:
            public = await run_in_threadpool(self.kiosk_key, kiosk_id)
            if not signing.verify_request(public, kiosk_id, epoch, request_id, body, signature):
                raise ApiProblem(problems.BAD_SIGNATURE)
        return SignedKiosk(kiosk_id, epoch, public, body)

    def acquire(self) -> None:
        """Take an upload slot or answer 429 at once (never queue: see the app's docstring)."""
        if not self.inflight.acquire(blocking=False):
            raise ApiProblem(problems.BUSY)

    def release(self) -> None:
        self.inflight.release()
