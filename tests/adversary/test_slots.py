"""An attacker who tries to silence the office (issue 12): connections that send a push's headers
and then (almost) nothing, a rogue kiosk that keeps every slot busy, numbers too big to store.

The slow-connection cases run a REAL `kakou office serve` process (its own event loop, its
uvicorn), reached over raw sockets, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from contextlib import contextmanager

import httpx
import pytest

from models.store import KioskStore
from sync import signing
from sync.kiosk import SyncService, enroll
from tests.sync.conftest import BACKENDS
from tests.sync.helpers import (
    PgSchema,
    ThreadedServer,
    check_invariant,
    free_port,
    serve_office,
    sync_until_quiet,
    write_passages,
)

SLOW_UNSIGNED = 100  # push headers with no signature, one byte of body, then silence
SLOW_KNOWN = 50  # a real kiosk's id (seen on the wire), a made-up signature, one byte, then silence
IDLE = 50  # connected, nothing sent
ANSWER_WAIT_S = 15  # how long a refusal may take to come back (a bound on the wait, not a timing)


@contextmanager
def real_office(tmp_path, backend: str, **env: str):
    """`kakou office serve` on a free port, its engine (for checkpoints and checks) and URL."""
    from sync.office.db import open_office_engine

    schema = PgSchema(pg_url()) if backend == "postgres" else None
    office_dir = tmp_path / "office"
    extra = {f"KAKOU_OFFICE_{k.upper()}": v for k, v in env.items()}
    if schema:
        extra["KAKOU_OFFICE_DATABASE_URL"] = schema.url
    port = free_port()
    engine = open_office_engine(office_dir, schema.url if schema else None)
    proc = serve_office(office_dir, port, extra)
    try:
        yield engine, f"http://127.0.0.1:{port}", port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            _out, err = proc.communicate(timeout=15)  # read stderr: a full pipe would block its logging
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _out, err = proc.communicate(timeout=15)
        assert b"Traceback" not in err, err.decode(errors="replace")[-3000:]  # every refusal was a clean one
        engine.dispose()
        if schema:
            schema.drop()


def pg_url() -> str:
    from tests.postgres import postgres_url

    return postgres_url()


def enrolled(tmp_path, engine, url: str, name: str):
    from sync.office.enrol import add_checkpoint

    store = KioskStore.open(tmp_path / name)
    store.set_up(name, "幸福里社区")
    enroll(store, url, add_checkpoint(engine, name, "幸福里社区")["code"])
    return store, SyncService(store, client=httpx.Client(base_url=url, timeout=30))


def half_sent_push(port: int, headers: dict[str, str]) -> socket.socket:
    """A push whose headers arrive complete, with one byte of its 1000-byte body, then nothing."""
    sock = socket.create_connection(("127.0.0.1", port))
    lines = ["POST /v1/push HTTP/1.1", "Host: office", "Content-Type: application/json", "Content-Length: 1000"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + b"{")
    return sock


def read_answer(sock: socket.socket, wait_s: float = ANSWER_WAIT_S) -> tuple[int, dict]:
    """The status and JSON body of the answer on this socket (AssertionError if none comes)."""
    sock.settimeout(wait_s)
    data = b""
    try:
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        raise AssertionError(f"no answer within {wait_s} s (the office is waiting for the body)") from None
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body[: _length(data)])


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def still_waiting(sock: socket.socket) -> bool:
    """Open, and nothing answered on it yet."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b"" and False
    except BlockingIOError:
        return True
    finally:
        sock.setblocking(True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_honest_kiosk_pushes_while_200_slow_or_idle_connections_are_open(tmp_path, backend):
    """Sixteen half-sent pushes used to hold every upload slot (429 for every honest push for as
    long as they stayed open). Now a push is authenticated before it takes a slot: the unsigned
    ones are refused at once without their body, those naming a real kiosk wait for their body
    outside any slot (within the body deadline), idle connections hold nothing."""
    with real_office(tmp_path, backend, body_timeout="300") as (engine, url, port):
        victim, _ = enrolled(tmp_path, engine, url, "西门卡口")
        store, service = enrolled(tmp_path, engine, url, "东门卡口")
        write_passages(store, 120)
        victim_id = victim.kiosk_state().kiosk_id
        unsigned = [half_sent_push(port, {}) for _ in range(SLOW_UNSIGNED)]
        known = [
            half_sent_push(
                port,
                {
                    signing.H_KIOSK: victim_id,
                    signing.H_EPOCH: "1",
                    signing.H_REQUEST: uuid.uuid4().hex,
                    signing.H_SIGNATURE: "ab" * 64,
                },
            )
            for _ in range(SLOW_KNOWN)
        ]
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(IDLE)]
        try:
            for sock in unsigned:  # refused from the headers alone, the body never waited for
                status, problem = read_answer(sock)
                assert status == 401 and problem["code"] == "unsigned" and problem["zh"] and problem["en"]
            result = sync_until_quiet(service)
            assert result.ok and result.remaining == 0
            check_invariant(store, engine)
            # ... and all the while the slow pushes naming a real kiosk were still open, unanswered.
            assert all(still_waiting(sock) for sock in known)
        finally:
            for sock in unsigned + known + idle:
                sock.close()
            victim.engine.dispose()
            store.engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_body_that_does_not_arrive_in_time_is_a_408_problem_and_the_connection_closes(tmp_path, backend):
    with real_office(tmp_path, backend, body_timeout="1") as (engine, url, port):
        victim, _ = enrolled(tmp_path, engine, url, "西门卡口")
        headers = {
            signing.H_KIOSK: victim.kiosk_state().kiosk_id,
            signing.H_EPOCH: "1",
            signing.H_REQUEST: uuid.uuid4().hex,
            signing.H_SIGNATURE: "ab" * 64,
        }
        sock = half_sent_push(port, headers)
        try:
            status, problem = read_answer(sock)
            assert status == 408 and problem["code"] == "body_timeout" and problem["zh"] and problem["en"]
            sock.settimeout(ANSWER_WAIT_S)
            assert sock.recv(1) == b""  # the office hung up: the connection holds nothing any more
        finally:
            sock.close()
            victim.engine.dispose()


def _signed_push(store: KioskStore, url: str) -> httpx.Response:
    """One signed push of an empty batch, as the kiosk would send it."""
    state = store.kiosk_state()
    batch = {
        "batch_id": uuid.uuid4().hex,
        "epoch": state.epoch,
        "anchor": {"boot_id": "b", "mono_ns": 1, "wall": time.time()},
        "backlog": 0,
        "records": [],
    }
    body = json.dumps(batch).encode()
    headers = signing.sign_request(store.signing_key, state.kiosk_id, state.epoch, uuid.uuid4().hex, body)
    return httpx.post(f"{url}/v1/push", content=body, headers={**headers, "Content-Type": "application/json"})


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_kiosk_cannot_take_every_upload_slot(tmp_path, backend):
    """A rogue kiosk (real key) with pushes in flight gets 429 beyond its own few slots; another
    kiosk's push still gets one of the office's."""
    from tests.sync.conftest import make_office

    handle, schema = make_office(tmp_path, backend, max_inflight=16, max_inflight_per_kiosk=2, test_commit_delay=1.5)
    try:
        rogue, _ = handle.add_kiosk(tmp_path / "rogue", "流氓卡口")
        honest, _ = handle.add_kiosk(tmp_path / "honest", "东门卡口")
        with ThreadedServer(handle.app) as server:
            office = handle.app.state.office
            answers: list[int] = []

            def push_and_note() -> None:
                answers.append(_signed_push(rogue, server.url).status_code)

            held = [threading.Thread(target=push_and_note) for _ in range(2)]
            for thread in held:
                thread.start()
            deadline = time.monotonic() + 10
            while office.inflight._value > 16 - 2:  # both of the rogue's pushes hold their slot
                assert time.monotonic() < deadline, "the rogue's two pushes never took their slots"
                time.sleep(0.01)
            third = _signed_push(rogue, server.url)
            assert third.status_code == 429 and third.json()["code"] == "busy" and third.headers["Retry-After"]
            assert _signed_push(honest, server.url).status_code == 200
            for thread in held:
                thread.join(timeout=30)
            assert answers == [200, 200]
    finally:
        handle.client.close()
        for store in handle.kiosks:
            store.engine.dispose()
        handle.engine.dispose()
        if schema:
            schema.drop()
