"""The street office's HTTP API (FastAPI), under /v1.

Every request but enrolment and health is signed by the kiosk (see `sync.signing`); every
error is a JSON `Problem` with a code and the same words in Chinese and English. Pushes are
answered only after their transaction committed. When too many pushes are in flight the
office answers 429 with Retry-After instead of queueing without bound (thousands of kiosks
reconnect at once after a street-wide power cut).
"""

from __future__ import annotations

import json
import os
import threading
import zlib
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.concurrency import run_in_threadpool

from models.errors import KakouError
from sync import signing
from sync.office import ingest as office_ingest
from sync.office import lists as office_lists
from sync.office import tables as t
from sync.office.db import open_office_engine
from sync.office.enrol import enrol
from sync.office.keys import OfficeKeys
from sync.schemas import (
    LIST_NAMES,
    MAX_BODY_BYTES,
    MAX_INFLATED_BYTES,
    EnrollRequest,
    EnrollResponse,
    KnownQuery,
    KnownResult,
    ListDocument,
    Problem,
    PushBatch,
    PushResult,
    SyncState,
)

ENV_OFFICE_DIR = "KAKOU_OFFICE_DIR"
ENV_DATABASE_URL = "KAKOU_OFFICE_DATABASE_URL"
# Test hook: seconds to wait inside the push transaction, before COMMIT, so a fault test can
# kill the server mid-transaction. Unset in real use.
ENV_COMMIT_DELAY = "KAKOU_OFFICE_TEST_COMMIT_DELAY"


class ApiProblem(Exception):
    def __init__(self, status: int, code: str, zh: str, en: str, headers: dict[str, str] | None = None):
        super().__init__(en)
        self.status, self.code, self.zh, self.en, self.headers = status, code, zh, en, headers or {}


def _problem(status: int, code: str, zh: str, en: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "zh": zh, "en": en}, status_code=status, headers=headers)


class Office:
    """What the routes share: the engine, the keys, and the in-flight guard."""

    def __init__(self, office_dir: Path, database_url: str | None, *, max_inflight: int, retry_after: int,
                 migrate: bool, engine=None):
        self.office_dir = Path(office_dir)
        self.keys = OfficeKeys(self.office_dir)
        self.engine = engine or open_office_engine(self.office_dir, database_url, migrate=migrate)
        if migrate:
            with self.engine.begin() as conn:
                office_lists.ensure_lists(conn)
        self.inflight = threading.BoundedSemaphore(max_inflight)
        self.retry_after = retry_after
        self.commit_delay = float(os.environ.get(ENV_COMMIT_DELAY) or 0)

    def kiosk_key(self, kiosk_id: str) -> tuple[bytes, str]:
        with self.engine.execution_options(immediate=False).connect() as conn:
            row = conn.execute(select(t.kiosk.c.public_key, t.kiosk.c.status).where(t.kiosk.c.kiosk_id == kiosk_id)).first()
            conn.rollback()
        if row is None or not row.public_key:
            raise ApiProblem(403, "unknown_kiosk", "街道办不认识这台设备，请先登记。",
                             "the office does not know this kiosk; enrol it first.")
        if row.status == "revoked":
            raise ApiProblem(403, "kiosk_revoked", "这台设备已被街道办注销，不能再上传。请联系街道办。",
                             "this kiosk was revoked by the street office and may not push. Call the office.")
        return bytes.fromhex(row.public_key), row.status

    def authenticate(self, request: Request, body: bytes) -> tuple[str, int]:
        h = request.headers
        kiosk_id, epoch_text = h.get(signing.H_KIOSK, ""), h.get(signing.H_EPOCH, "")
        request_id, signature = h.get(signing.H_REQUEST, ""), h.get(signing.H_SIGNATURE, "")
        if not (kiosk_id and epoch_text and request_id and signature) or len(kiosk_id) > 64 or len(request_id) > 64:
            raise ApiProblem(401, "unsigned", "请求没有签名。", "the request is not signed.")
        try:
            epoch = int(epoch_text)
        except ValueError:
            raise ApiProblem(401, "unsigned", "请求签名信息不完整。", "the request's signature headers are malformed.") from None
        public, _status = self.kiosk_key(kiosk_id)
        if not signing.verify_request(public, kiosk_id, epoch, request_id, body, signature):
            raise ApiProblem(401, "bad_signature", "签名不符：请求被改动或不是这台设备发的。",
                             "signature does not match: the request was altered or not sent by this kiosk.")
        return kiosk_id, epoch

    def acquire(self) -> None:
        if not self.inflight.acquire(blocking=False):
            raise ApiProblem(429, "busy", "街道服务器正忙，稍后自动重试。", "the office is busy; the kiosk will retry.",
                             {"Retry-After": str(self.retry_after)})


async def read_body(request: Request) -> bytes:
    """The raw body as sent (what the signature covers), capped before it is all read."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise ApiProblem(413, "too_large", "一次上传的数据太多，本机会自动分小批。",
                         "the batch is too large; the kiosk will send smaller ones.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiProblem(413, "too_large", "一次上传的数据太多，本机会自动分小批。",
                             "the batch is too large; the kiosk will send smaller ones.")
        chunks.append(chunk)
    return b"".join(chunks)


def inflate(request: Request, body: bytes) -> bytes:
    if request.headers.get("content-encoding", "").lower() != "gzip":
        return body
    d = zlib.decompressobj(wbits=31)
    try:
        out = d.decompress(body, MAX_INFLATED_BYTES)
        if d.unconsumed_tail:
            raise ApiProblem(413, "too_large", "解压后的数据太大。", "the batch inflates beyond the limit.")
        if not d.eof:
            raise zlib.error("truncated")
    except zlib.error:
        raise ApiProblem(400, "malformed", "上传的数据不完整或已损坏，本机会重新发送。",
                         "the body is truncated or damaged; the kiosk will send it again.") from None
    return out


def parse(model, data: bytes):
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))[:80]
        raise ApiProblem(422, "malformed", f"数据格式不对（{where}）。请升级本机软件。",
                         f"malformed message ({where}: {first.get('msg', '')[:80]}). Update the kiosk's software.") from None


def create_app(office_dir: Path | str, database_url: str | None = None, *, max_inflight: int = 16,
               retry_after: int = 2, migrate: bool = True, engine=None) -> FastAPI:
    office = Office(Path(office_dir), database_url, max_inflight=max_inflight, retry_after=retry_after,
                    migrate=migrate, engine=engine)
    app = FastAPI(title="kakou street office", version="1", openapi_url="/v1/openapi.json", docs_url="/v1/docs",
                  redoc_url=None,
                  responses={400: {"model": Problem}, 401: {"model": Problem}, 403: {"model": Problem},
                             413: {"model": Problem}, 422: {"model": Problem}, 429: {"model": Problem},
                             503: {"model": Problem}})
    app.state.office = office

    @app.exception_handler(ApiProblem)
    async def _api_problem(_request, exc: ApiProblem):
        return _problem(exc.status, exc.code, exc.zh, exc.en, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request, exc: RequestValidationError):
        return _problem(422, "malformed", "请求格式不对。", f"malformed request: {str(exc.errors()[:1])[:200]}")

    @app.exception_handler(KakouError)
    async def _kakou(_request, exc: KakouError):
        return _problem(403 if exc.code in ("bad_code", "already_enrolled") else 400, exc.code, exc.zh, exc.en)

    @app.exception_handler(OperationalError)
    async def _db_busy(_request, exc):
        return _problem(503, "db_unavailable", "街道数据库暂时不可用，稍后自动重试。",
                        "the office database is unavailable; the kiosk will retry.", {"Retry-After": str(retry_after)})

    @app.exception_handler(DBAPIError)
    async def _db_error(_request, exc):
        return _problem(503, "db_error", "街道数据库出错，稍后自动重试。", "office database error; the kiosk will retry.",
                        {"Retry-After": str(retry_after)})

    @app.get("/v1/health")
    def health() -> dict[str, Any]:
        import time

        return {"status": "ok", "server_time": time.time()}

    @app.post("/v1/enroll", response_model=EnrollResponse)
    async def enroll(request: Request):
        body = await read_body(request)
        req = parse(EnrollRequest, body)

        def work():
            import time

            info = enrol(office.engine, req.code, req.public_key)
            with office.engine.begin() as conn:
                docs = [office_lists.document(conn, office.keys, name, 0) for name in LIST_NAMES]
            return {**info, "office_root_key": office.keys.root_public.hex(),
                    "office_sealing_key": office.keys.sealing_public.hex(), "server_time": time.time(), "lists": docs}

        return await run_in_threadpool(work)

    @app.get("/v1/sync-state", response_model=SyncState)
    async def sync_state(request: Request, wall: float | None = None, lists: str = "", tip: str = ""):
        kiosk_id, _epoch = office.authenticate(request, signing.get_body("GET", _target(request)))
        versions = {}
        for part in lists.split(",")[:16]:
            name, _, version = part.partition(":")
            if name in LIST_NAMES and version.isdigit():
                versions[name] = int(version)
        return await run_in_threadpool(office_ingest.sync_state, office.engine, kiosk_id, wall=wall,
                                       list_versions=versions if lists else None, tip=tip, epoch=_epoch)

    @app.post("/v1/push", response_model=PushResult,
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": PushBatch.model_json_schema(ref_template="#/components/schemas/{model}")}}}})
    async def push(request: Request):
        office.acquire()
        try:
            body = await read_body(request)
            kiosk_id, epoch = office.authenticate(request, body)
            batch = parse(PushBatch, inflate(request, body))
            if batch.epoch != epoch:
                raise ApiProblem(400, "epoch_mismatch", "批次与签名的轮次不一致。", "the batch's epoch differs from the signed one.")
            hook = (lambda: __import__("time").sleep(office.commit_delay)) if office.commit_delay else None
            return await run_in_threadpool(office_ingest.ingest, office.engine, kiosk_id, batch, before_commit=hook)
        finally:
            office.inflight.release()

    @app.post("/v1/known", response_model=KnownResult)
    async def known(request: Request):
        body = await read_body(request)
        kiosk_id, _ = office.authenticate(request, body)
        query = parse(KnownQuery, inflate(request, body))
        return {"known": await run_in_threadpool(office_ingest.known, office.engine, kiosk_id, query.record_ids)}

    @app.get("/v1/lists/{name}", response_model=ListDocument, responses={304: {"description": "not modified"}})
    async def list_document(name: str, request: Request, since: int = 0):
        office.authenticate(request, signing.get_body("GET", _target(request)))
        if name not in LIST_NAMES:
            raise ApiProblem(404, "unknown_list", f"没有这个名单：{name}", f"no such list: {name}")

        def work():
            with office.engine.begin() as conn:
                version = office_lists.current_version(conn, name)
                if since == version and since > 0:
                    return None, version
                return office_lists.document(conn, office.keys, name, since), version

        doc, version = await run_in_threadpool(work)
        etag = f'"{name}-{version}"'
        if doc is None:
            return Response(status_code=304, headers={"ETag": etag})
        return JSONResponse(doc, headers={"ETag": etag})

    return app


def _target(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def app_from_env() -> FastAPI:
    """The uvicorn factory for `kakou office serve --workers N` (migrations ran before)."""
    return create_app(Path(os.environ[ENV_OFFICE_DIR]), os.environ.get(ENV_DATABASE_URL) or None, migrate=False,
                      max_inflight=int(os.environ.get("KAKOU_OFFICE_MAX_INFLIGHT", "16")))


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)
