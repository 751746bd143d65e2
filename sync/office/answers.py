"""Every answer to a signed kiosk request is signed with the office's root key.

One pure ASGI layer (`install`, from `create_app`): for a request that carries a kiosk's
signature it holds the answer back until its body is complete, then adds
``X-Kakou-Answer: <office ms>.<signature>`` over that request's signature, method and target,
the status, the office's time, Retry-After and sha256(body) (`sync.signing.answer_message`).
200, 304 and every problem alike: a kiosk acts on no answer without it (sync/kiosk.py
`SyncService._send`), so a man in the middle can no longer answer 304 to every list pull, fake
a push acknowledgement or a handshake.

Answers to anything else (enrolment, health, the admin API, the docs) pass through untouched;
answers to signed requests are small JSON documents, so holding one back costs nothing.
"""

from __future__ import annotations

import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sync import signing
from sync.office.bodies import signed_target
from sync.office.replay import StaleRequest

_SIGNATURE = signing.H_SIGNATURE.lower().encode("latin-1")
_ANSWER = signing.H_ANSWER.lower().encode("latin-1")
MAX_SIGNATURE_CHARS = 256  # an Ed25519 signature is 128 hex digits


class AnswerSigner:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_signature = ""
        for name, value in scope["headers"]:
            if name == _SIGNATURE:
                request_signature = value.decode("latin-1")
                break
        if not request_signature or len(request_signature) > MAX_SIGNATURE_CHARS:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        target = signed_target(Request(scope))
        start: Message | None = None
        chunks: list[bytes] = []

        async def signed_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            headers = list(start.get("headers", []))
            retry_after = next((v.decode("latin-1") for k, v in headers if k == b"retry-after"), "")
            key = scope["app"].state.office.keys.root
            value = signing.sign_answer(
                key, request_signature, method, target, int(start["status"]), int(time.time() * 1000), retry_after, body
            )
            headers = [(k, v) for k, v in headers if k != _ANSWER] + [(_ANSWER, value.encode("latin-1"))]
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, signed_send)


def _stale(request: Request, exc: Exception) -> JSONResponse:
    # The problem's words and the lowest stamp the office would take (the kiosk retries once with it).
    assert isinstance(exc, StaleRequest)
    return JSONResponse(
        {"code": exc.code, "zh": exc.zh, "en": exc.en, "next_stamp": exc.next_stamp}, status_code=exc.status
    )


def install(app: FastAPI) -> None:
    """Sign every answer to a signed request (and say which stamp a refused one should carry)."""
    app.add_exception_handler(StaleRequest, _stale)
    app.add_middleware(AnswerSigner)
