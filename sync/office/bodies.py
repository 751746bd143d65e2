"""Request bodies read by hand: the raw bytes as sent (what the signature covers), capped before
they are all read, inflated within a limit, and parsed into a message or a clean 4xx problem."""

from __future__ import annotations

import asyncio
import zlib
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request

from sync.office import problems
from sync.office.problems import ApiProblem, ProblemType
from sync.schemas import MAX_BODY_BYTES, MAX_INFLATED_BYTES

M = TypeVar("M", bound=BaseModel)


async def read_body(request: Request, *, timeout: float | None = None) -> bytes:
    """The body as sent, at most MAX_BODY_BYTES (413), all of it within `timeout` seconds (408,
    and the connection is closed): a client that sends a few bytes and then nothing, or one byte
    a second, is let go instead of being waited for."""
    length = request.headers.get("content-length")
    if length and length.isascii() and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise ApiProblem(problems.TOO_LARGE)
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise ApiProblem(problems.TOO_LARGE)
                chunks.append(chunk)
    except TimeoutError:
        raise ApiProblem(problems.BODY_TIMEOUT, headers={"Connection": "close"}, seconds=f"{timeout:g}") from None
    except ClientDisconnect:  # hung up mid-body: an answer nobody reads, and no traceback in the log
        raise ApiProblem(problems.DAMAGED) from None
    return b"".join(chunks)


def inflate(request: Request, body: bytes) -> bytes:
    if request.headers.get("content-encoding", "").lower() != "gzip":
        return body
    d = zlib.decompressobj(wbits=31)
    try:
        out = d.decompress(body, MAX_INFLATED_BYTES)
        if d.unconsumed_tail:
            raise ApiProblem(problems.INFLATES_TOO_LARGE)
        if not d.eof:
            raise zlib.error("truncated")
    except zlib.error:
        raise ApiProblem(problems.DAMAGED) from None
    return out


def _parse(model: type[M], data: bytes, problem: ProblemType, nowhere: str) -> M:
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        errors = exc.errors()
        loc, msg = (errors[0]["loc"], errors[0]["msg"]) if errors else ((), "")
        where = ".".join(str(p) for p in loc)[:80] or nowhere
        raise ApiProblem(problem, where=where, detail=msg[:80]) from None


def parse(model: type[M], data: bytes) -> M:
    """A kiosk's message (its software is out of date when this fails)."""
    return _parse(model, data, problems.MALFORMED_MESSAGE, "")


def parse_admin(model: type[M], data: bytes) -> M:
    """An admin's request; an empty body is an empty object (requests whose fields all have defaults)."""
    return _parse(model, data or b"{}", problems.MALFORMED_ADMIN, "body")


def signed_target(request: Request) -> str:
    """The path and query a GET's signature covers."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")
