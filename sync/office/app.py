"""The street office's HTTP API (FastAPI), under /v1.

Every request but enrolment and health is signed by the kiosk (see `sync.signing`); every
error is a JSON `Problem` with a code and the same words in Chinese and English. Pushes are
answered only after their transaction committed. When too many pushes are in flight the
office answers 429 with Retry-After instead of queueing without bound (thousands of kiosks
reconnect at once after a street-wide power cut).
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import threading
import zlib
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from models.errors import KakouError
from sync import signing
from sync.office import admin as office_admin
from sync.office import ingest as office_ingest
from sync.office import lists as office_lists
from sync.office import tables as t
from sync.office.db import open_office_engine
from sync.office.enrol import enrol
from sync.office.keys import OfficeKeys
from sync.office.sealed import LookupResult
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

log = logging.getLogger("kakou.office")
KEY_CACHE_SIZE = 10_000


class ApiProblem(Exception):
    def __init__(self, status: int, code: str, zh: str, en: str, headers: dict[str, str] | None = None):
        super().__init__(en)
        self.status, self.code, self.zh, self.en, self.headers = status, code, zh, en, headers or {}


def _problem(status: int, code: str, zh: str, en: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "zh": zh, "en": en}, status_code=status, headers=headers)


class Office:
    """What the routes share: the engine, the keys, and the in-flight guard."""

    def __init__(
        self,
        office_dir: Path,
        database_url: str | None,
        *,
        max_inflight: int,
        retry_after: int,
        migrate: bool,
        engine=None,
    ):
        self.office_dir = Path(office_dir)
        self.keys = OfficeKeys(self.office_dir)
        self.engine = engine or open_office_engine(self.office_dir, database_url, migrate=migrate)
        if migrate:
            with self.engine.begin() as conn:
                office_lists.ensure_lists(conn)
        self.inflight = threading.BoundedSemaphore(max_inflight)
        self.retry_after = retry_after
        # kiosk id -> public key, for pushes (see `authenticate`); per worker process.
        self._keys: dict[str, bytes] = {}
        self._keys_lock = threading.Lock()
        self.commit_delay = float(os.environ.get(ENV_COMMIT_DELAY) or 0)

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
            raise ApiProblem(
                403,
                "unknown_kiosk",
                "街道办不认识这台设备，请先登记。",
                "the office does not know this kiosk; enrol it first.",
            )
        if row.status == "revoked":
            self.forget(kiosk_id)
            raise ApiProblem(
                403,
                "kiosk_revoked",
                "这台设备已被街道办注销，不能再上传。请联系街道办。",
                "this kiosk was revoked by the street office and may not push. Call the office.",
            )
        public = bytes.fromhex(row.public_key)
        with self._keys_lock:
            if len(self._keys) >= KEY_CACHE_SIZE:
                self._keys.clear()  # a few thousand kiosks at most: start over rather than track use
            self._keys[kiosk_id] = public
        return public

    def forget(self, kiosk_id: str) -> None:
        with self._keys_lock:
            self._keys.pop(kiosk_id, None)

    async def authenticate(self, request: Request, body: bytes, *, cached: bool = False) -> tuple[str, int, bytes]:
        """Check the request's signature; (kiosk id, epoch, the public key it was checked with).

        `cached`: the key may come from memory, no database read. Only for pushes, whose
        transaction checks that the kiosk's row still holds that key and is not revoked
        (`ingest`'s public_key), so a revocation by any process is refused at once. Every
        other route reads the kiosk's row (in a worker thread, never on the event loop)."""
        h = request.headers
        kiosk_id, epoch_text = h.get(signing.H_KIOSK, ""), h.get(signing.H_EPOCH, "")
        request_id, signature = h.get(signing.H_REQUEST, ""), h.get(signing.H_SIGNATURE, "")
        if not (kiosk_id and epoch_text and request_id and signature) or len(kiosk_id) > 64 or len(request_id) > 64:
            raise ApiProblem(401, "unsigned", "请求没有签名。", "the request is not signed.")
        try:
            epoch = int(epoch_text)
        except ValueError:
            raise ApiProblem(
                401, "unsigned", "请求签名信息不完整。", "the request's signature headers are malformed."
            ) from None
        public = self._keys.get(kiosk_id) if cached else None
        if public is not None and not signing.verify_request(public, kiosk_id, epoch, request_id, body, signature):
            public = None  # not with the remembered key: decide on the database's
        if public is None:
            public = await run_in_threadpool(self.kiosk_key, kiosk_id)
            if not signing.verify_request(public, kiosk_id, epoch, request_id, body, signature):
                raise ApiProblem(
                    401,
                    "bad_signature",
                    "签名不符：请求被改动或不是这台设备发的。",
                    "signature does not match: the request was altered or not sent by this kiosk.",
                )
        return kiosk_id, epoch, public

    def acquire(self) -> None:
        if not self.inflight.acquire(blocking=False):
            raise ApiProblem(
                429,
                "busy",
                "街道服务器正忙，稍后自动重试。",
                "the office is busy; the kiosk will retry.",
                {"Retry-After": str(self.retry_after)},
            )


async def read_body(request: Request) -> bytes:
    """The raw body as sent (what the signature covers), capped before it is all read."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise ApiProblem(
            413,
            "too_large",
            "一次上传的数据太多，本机会自动分小批。",
            "the batch is too large; the kiosk will send smaller ones.",
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiProblem(
                413,
                "too_large",
                "一次上传的数据太多，本机会自动分小批。",
                "the batch is too large; the kiosk will send smaller ones.",
            )
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
        raise ApiProblem(
            400,
            "malformed",
            "上传的数据不完整或已损坏，本机会重新发送。",
            "the body is truncated or damaged; the kiosk will send it again.",
        ) from None
    return out


def parse(model, data: bytes):
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))[:80]
        raise ApiProblem(
            422,
            "malformed",
            f"数据格式不对（{where}）。请升级本机软件。",
            f"malformed message ({where}: {first.get('msg', '')[:80]}). Update the kiosk's software.",
        ) from None


def create_app(
    office_dir: Path | str,
    database_url: str | None = None,
    *,
    max_inflight: int = 16,
    retry_after: int = 2,
    migrate: bool = True,
    engine=None,
) -> FastAPI:
    office = Office(
        Path(office_dir),
        database_url,
        max_inflight=max_inflight,
        retry_after=retry_after,
        migrate=migrate,
        engine=engine,
    )
    app = FastAPI(
        title="kakou street office",
        version="1",
        openapi_url="/v1/openapi.json",
        docs_url="/v1/docs",
        redoc_url=None,
        responses={
            400: {"model": Problem},
            401: {"model": Problem},
            403: {"model": Problem},
            413: {"model": Problem},
            422: {"model": Problem},
            429: {"model": Problem},
            503: {"model": Problem},
        },
    )
    app.state.office = office

    @app.exception_handler(ApiProblem)
    async def _api_problem(_request, exc: ApiProblem):
        return _problem(exc.status, exc.code, exc.zh, exc.en, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request, exc: StarletteHTTPException):
        # Unknown paths and wrong methods answer in the same words-in-two-languages shape.
        words = {
            404: ("没有这个地址。", "no such address."),
            405: ("这个地址不接受这种请求方法。", "this address does not accept this method."),
        }
        zh, en = words.get(exc.status_code, ("请求不对。", "bad request."))
        return _problem(
            exc.status_code,
            {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request"),
            zh,
            en,
            dict(exc.headers or {}),
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_request, exc: RequestValidationError):
        return _problem(422, "malformed", "请求格式不对。", f"malformed request: {str(exc.errors()[:1])[:200]}")

    @app.exception_handler(KakouError)
    async def _kakou(_request, exc: KakouError):
        status = {"bad_code": 403, "already_enrolled": 403, "not_listed": 404}.get(exc.code, 400)
        return _problem(status, exc.code, exc.zh, exc.en)

    @app.exception_handler(OperationalError)
    async def _db_busy(_request, exc):
        return _problem(
            503,
            "db_unavailable",
            "街道数据库暂时不可用，稍后自动重试。",
            "the office database is unavailable; the kiosk will retry.",
            {"Retry-After": str(retry_after)},
        )

    @app.exception_handler(DBAPIError)
    async def _db_error(_request, exc):
        log.warning("office database error: %s", exc)
        return _problem(
            503,
            "db_error",
            "街道数据库出错，稍后自动重试。",
            "office database error; the kiosk will retry.",
            {"Retry-After": str(retry_after)},
        )

    @app.get("/v1/health")
    def health() -> dict[str, Any]:
        import time

        return {"status": "ok", "server_time": time.time()}

    @app.post("/v1/enroll", response_model=EnrollResponse, openapi_extra=_json_body(EnrollRequest))
    async def enroll(request: Request):
        body = await read_body(request)
        req = parse(EnrollRequest, body)

        def work():
            import time

            info = enrol(office.engine, req.code, req.public_key)
            with office.engine.begin() as conn:
                docs = [office_lists.document(conn, office.keys, name, 0) for name in LIST_NAMES]
            return {
                **info,
                "office_root_key": office.keys.root_public.hex(),
                "office_sealing_key": office.keys.sealing_public.hex(),
                "lookup_key": office.keys.lookup.hex(),
                "server_time": time.time(),
                "lists": docs,
            }

        return await run_in_threadpool(work)

    @app.get("/v1/sync-state", response_model=SyncState)
    async def sync_state(
        request: Request,
        wall: float | None = None,
        lists: str = Query(default="", max_length=1024),
        tip: str = Query(default="", max_length=128),
    ):
        kiosk_id, _epoch, _key = await office.authenticate(request, signing.get_body("GET", _target(request)))
        if wall is not None and not math.isfinite(wall):
            wall = None  # "nan" and "inf" parse as floats but are no clock reading
        versions = {}
        for part in lists.split(",")[:16]:
            name, _, version = part.partition(":")
            if name in LIST_NAMES and version.isdigit():
                versions[name] = int(version)
        return await run_in_threadpool(
            office_ingest.sync_state,
            office.engine,
            kiosk_id,
            wall=wall,
            list_versions=versions if lists else None,
            tip=tip,
            epoch=_epoch,
        )

    @app.post("/v1/push", response_model=PushResult, openapi_extra=_json_body(PushBatch))
    async def push(request: Request):
        office.acquire()
        try:
            body = await read_body(request)
            kiosk_id, epoch, public = await office.authenticate(request, body, cached=True)
            batch = parse(PushBatch, inflate(request, body))
            if batch.epoch != epoch:
                raise ApiProblem(
                    400, "epoch_mismatch", "批次与签名的轮次不一致。", "the batch's epoch differs from the signed one."
                )
            hook = (lambda: __import__("time").sleep(office.commit_delay)) if office.commit_delay else None
            try:
                return await run_in_threadpool(
                    office_ingest.ingest, office.engine, kiosk_id, batch, before_commit=hook, public_key=public.hex()
                )
            except office_ingest.KioskRefused:
                # Revoked since its key was remembered (here or by another process): the
                # database's words, and the key is forgotten.
                office.forget(kiosk_id)
                await office.authenticate(request, body)  # answers 403 kiosk_revoked / 401 bad_signature
                raise ApiProblem(
                    503,
                    "kiosk_changed",
                    "这台设备的登记刚刚变了，稍后自动重试。",
                    "this kiosk's enrolment changed just now; the kiosk will retry.",
                    {"Retry-After": str(office.retry_after)},
                ) from None
        finally:
            office.inflight.release()

    @app.post("/v1/known", response_model=KnownResult, openapi_extra=_json_body(KnownQuery))
    async def known(request: Request):
        body = await read_body(request)
        kiosk_id, _epoch, _key = await office.authenticate(request, body)
        query = parse(KnownQuery, inflate(request, body))
        return {"known": await run_in_threadpool(office_ingest.known, office.engine, kiosk_id, query.record_ids)}

    @app.get(
        "/v1/lists/{name}",
        response_model=ListDocument,
        responses={304: {"description": "not modified"}, 404: {"model": Problem}},
    )
    async def list_document(name: str, request: Request, since: int = Query(default=0, ge=0, le=2**31 - 1)):
        await office.authenticate(request, signing.get_body("GET", _target(request)))
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

    # -- admin API: a bearer token from `kakou office add-admin`; every change is audited -------

    admin_bearer = HTTPBearer(
        auto_error=False,
        scheme_name="AdminToken",
        description="an admin token printed once by `kakou office add-admin NAME`",
    )

    def require_admin(credentials: HTTPAuthorizationCredentials | None = Depends(admin_bearer)) -> str:  # noqa: B008
        name = office_admin.admin_for_token(office.engine, credentials.credentials) if credentials else None
        if name is None:
            raise ApiProblem(
                401,
                "admin_token",
                "需要有效的管理员令牌（Authorization: Bearer ...）。请向街道办负责人要一个。",
                "a valid admin token is needed (Authorization: Bearer ...). Ask the office's head for one.",
                {"WWW-Authenticate": "Bearer"},
            )
        return name

    async def admin_body(request: Request, model):
        return parse_admin(model, await read_body(request))

    @app.get("/v1/admin/report", response_model=dict[str, Any], tags=["admin"])
    async def admin_report(
        date: str | None = Query(default=None, max_length=32, description="YYYY-MM-DD, default today"),
        admin: str = Depends(require_admin),
    ):
        from models.report import parse_day
        from sync.office import report as office_report

        day = parse_day(date)
        return await run_in_threadpool(office_report.day_report, office.engine, day)

    @app.get("/v1/admin/status", response_model=dict[str, Any], tags=["admin"])
    async def admin_status(admin: str = Depends(require_admin)):
        from sync.office.status import kiosk_status

        return await run_in_threadpool(kiosk_status, office.engine)

    @app.post(
        "/v1/admin/revoke",
        response_model=office_admin.ListChange,
        tags=["admin"],
        openapi_extra=_json_body(office_admin.RevokeRequest),
    )
    async def admin_revoke(request: Request, admin: str = Depends(require_admin)):
        req = await admin_body(request, office_admin.RevokeRequest)
        version = await run_in_threadpool(
            office_admin.revoke_pass, office.engine, req.pass_id, req.reason, by=admin, via="http"
        )
        return {"list": "revoked", "version": version, "who": req.pass_id.strip().lower()}

    def _list_route(list_name: str, action: str):
        async def change(request: Request, admin: str = Depends(require_admin)):
            req = await admin_body(request, office_admin.ListEntryRequest)
            until = _until_day(req.until) if action == "add" else None
            version, who = await run_in_threadpool(
                lambda: office_admin.list_entry(
                    office.engine,
                    list_name,
                    action,
                    unit=req.unit,
                    id_number=req.id_number,
                    until=until,
                    note=req.note,
                    by=admin,
                    via="http",
                    lookup_key=office.keys.lookup,
                )
            )
            return {"list": list_name, "version": version, "who": who}

        app.post(
            f"/v1/admin/{list_name}/{action}",
            response_model=office_admin.ListChange,
            tags=["admin"],
            name=f"admin_{list_name}_{action}",
            responses={404: {"model": Problem}},
            openapi_extra=_json_body(office_admin.ListEntryRequest),
        )(change)

    for _list_name in ("quarantine", "watch"):
        for _action in ("add", "remove"):
            _list_route(_list_name, _action)

    @app.post(
        "/v1/admin/policy",
        response_model=office_admin.PolicyChange,
        tags=["admin"],
        openapi_extra=_json_body(office_admin.PolicyRequest),
    )
    async def admin_policy(request: Request, admin: str = Depends(require_admin)):
        req = await admin_body(request, office_admin.PolicyRequest)
        version, values = await run_in_threadpool(
            office_admin.set_policy, office.engine, req.settings, by=admin, via="http"
        )
        return {"version": version, "settings": values}

    @app.post(
        "/v1/admin/lookup",
        response_model=LookupResult,
        tags=["admin"],
        responses={404: {"model": Problem}, 409: {"model": Problem}, 410: {"model": Problem}},
        openapi_extra=_json_body(office_admin.LookupRequest),
    )
    async def admin_lookup(request: Request, admin: str = Depends(require_admin)):
        from sync.office import sealed

        req = await admin_body(request, office_admin.LookupRequest)
        try:
            result = await run_in_threadpool(
                lambda: sealed.lookup(
                    office.engine, office.keys, req.record_id, admin=admin, reason=req.reason, via="http"
                )
            )
        except sealed.SealedLookupError as exc:
            raise ApiProblem(exc.status, exc.code, exc.zh, exc.en) from None
        # Full numbers must not linger in caches or proxies between the office and the clerk.
        return JSONResponse(result.as_dict(), headers={"Cache-Control": "no-store"})

    @app.get("/v1/admin/audit", response_model=list[office_admin.AuditRow], tags=["admin"])
    async def admin_audit(
        limit: int = Query(default=100, ge=1, le=1000),
        action: str | None = Query(default=None, max_length=32),
        admin: str = Depends(require_admin),
    ):
        from sync.office import audit as office_audit

        return await run_in_threadpool(lambda: office_audit.recent(office.engine, limit=limit, action=action))

    @app.post(
        "/v1/admin/purge",
        response_model=office_admin.PurgeAnswer,
        tags=["admin"],
        openapi_extra=_json_body(office_admin.PurgeRequest),
    )
    async def admin_purge(request: Request, admin: str = Depends(require_admin)):
        from sync.office import sealed

        req = await admin_body(request, office_admin.PurgeRequest)
        result = await run_in_threadpool(
            lambda: sealed.purge(office.engine, older_than_days=req.older_than_days, admin=admin, via="http")
        )
        return result.as_dict()

    _document_bodies(app)
    return app


# Bodies read by hand (signed bytes, capped size) are declared here so the OpenAPI schema
# documents them: the body's schema inline, the models it nests in components/schemas (added
# by `_document_bodies`, since FastAPI only registers the models it parses itself).
_NESTED_SCHEMAS: dict[str, Any] = {}


def _json_body(model) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    _NESTED_SCHEMAS.update(schema.pop("$defs", {}))
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _document_bodies(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, sub in _NESTED_SCHEMAS.items():
            components.setdefault(name, sub)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi


def _until_day(value: str | None) -> float | None:
    """The end of the last day of a list entry (local time), from YYYY-MM-DD."""
    if not value:
        return None
    import datetime as dt
    import time

    from models.report import parse_day

    day = parse_day(value)
    if not 2000 <= day.year <= 2999:  # also keeps `day + 1` and mktime in range
        raise KakouError(f"日期不合理：{value}", f"implausible date: {value}", code="date")
    return time.mktime(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min).timetuple())


def parse_admin(model, data: bytes):
    try:
        return model.model_validate_json(data or b"{}")
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))[:80] or "body"
        raise ApiProblem(
            422,
            "malformed",
            f"请求内容不对（{where}）。请对照 /v1/docs 检查。",
            f"malformed request ({where}: {first.get('msg', '')[:80]}). See /v1/docs.",
        ) from None


def _target(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


class NoDelayHTTP(AutoHTTPProtocol):
    """uvicorn's HTTP protocol (httptools when installed, else h11) with TCP_NODELAY on every
    connection, for `kakou office serve` (uvicorn's `http=`). asyncio sets TCP_NODELAY only on
    sockets accepted from a listener made with proto=IPPROTO_TCP; with --workers N uvicorn makes
    the listener itself with proto 0, so every answer (status line and body are two writes) sat
    in Nagle's buffer until the client's delayed ACK: ~40 ms per push, whatever its size."""

    def connection_made(self, transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover - a transport without a real socket
                pass
        super().connection_made(transport)


def app_from_env() -> FastAPI:
    """The uvicorn factory for `kakou office serve --workers N` (migrations ran before)."""
    return create_app(
        Path(os.environ[ENV_OFFICE_DIR]),
        os.environ.get(ENV_DATABASE_URL) or None,
        migrate=False,
        max_inflight=int(os.environ.get("KAKOU_OFFICE_MAX_INFLIGHT", "16")),
    )


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)
